package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

const testAdminKey = "admin-test-key"

// cli runs the CLI in-process against one Admin API.
type cli struct {
	t        *testing.T
	url, key string
	dir      string
}

type result struct {
	out, errOut string
	err         error
}

// run executes gatehouse with args plus the connection flags; stdin, when
// given, is the command's standard input.
func (c *cli) run(stdin string, args ...string) result {
	c.t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot(cliEnv{stdout: &out, stderr: &errOut, lookup: os.LookupEnv})
	full := append([]string{}, args...)
	full = append(full, "--config-dir", c.dir)
	if c.url != "" {
		full = append(full, "--admin-url", c.url)
	}
	if c.key != "" {
		full = append(full, "--admin-key", c.key)
	}
	root.SetArgs(full)
	root.SetIn(strings.NewReader(stdin))
	err := root.Execute()
	return result{out.String(), errOut.String(), err}
}

// ok runs a command that must succeed and returns its stdout.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	r := c.run("", args...)
	if r.err != nil {
		c.t.Fatalf("gatehouse %s: %v\nstderr: %s", strings.Join(args, " "), r.err, r.errOut)
	}
	return r.out
}

// fails runs a command that must fail with one line containing want.
func (c *cli) fails(want string, args ...string) string {
	c.t.Helper()
	r := c.run("", args...)
	if r.err == nil {
		c.t.Fatalf("gatehouse %s succeeded, want an error with %q; stdout:\n%s", strings.Join(args, " "), want, r.out)
	}
	msg := r.err.Error()
	if strings.Contains(msg, "\n") {
		c.t.Fatalf("gatehouse %s: error is not one line: %q", strings.Join(args, " "), msg)
	}
	if !strings.Contains(msg, want) {
		c.t.Fatalf("gatehouse %s: error %q, want it to contain %q", strings.Join(args, " "), msg, want)
	}
	return msg
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return v
}

func lines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }

// field returns the value of "key:" in a key: value block.
func field(t *testing.T, block, key string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + `: +(.*)$`).FindStringSubmatch(block)
	if m == nil {
		t.Fatalf("no %q in:\n%s", key, block)
	}
	return m[1]
}

// createdID reads the id of "Created <id>" on the first line.
func createdID(t *testing.T, out string) string {
	t.Helper()
	first := lines(out)[0]
	id, ok := strings.CutPrefix(first, "Created ")
	if !ok || id == "" {
		t.Fatalf("first line %q, want Created <id>", first)
	}
	return id
}

func mustContain(t *testing.T, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Fatalf("output lacks %q:\n%s", sub, s)
		}
	}
}

// tableRow finds the row of a table whose first column is first, split in
// columns.
func tableRow(t *testing.T, table, first string) []string {
	t.Helper()
	for _, l := range lines(table) {
		cols := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(l), -1)
		if cols[0] == first {
			return cols
		}
	}
	t.Fatalf("no row %q in:\n%s", first, table)
	return nil
}

func TestIdentityCLI(t *testing.T) {
	t.Setenv("EG_ADMIN_URL", "")
	t.Setenv("GATEHOUSE_ADMIN_KEY", "")
	st := store.New(memstore.New(nil), store.Options{BcryptCost: 4})
	defer st.Close()
	srv := httptest.NewServer(admin.New(st, nil, admin.Options{APIKey: testAdminKey}))
	defer srv.Close()
	c := &cli{t: t, url: srv.URL, key: testAdminKey, dir: t.TempDir()}
	ctx := context.Background()

	// Scopes.
	if out := c.ok("scopes", "create", "read", "write", "admin"); out != "Created read,write,admin\n" {
		t.Fatalf("scopes create: %q", out)
	}
	if out := c.ok("scopes", "list"); out != "admin\nread\nwrite\n" {
		t.Fatalf("scopes list: %q", out)
	}
	if got := decodeJSON[[]map[string]string](t, c.ok("scopes", "list", "--json")); len(got) != 3 || got[0]["scope"] != "admin" || got[2]["scope"] != "write" {
		t.Fatalf("scopes list --json: %v", got)
	}
	if out := c.ok("scope", "info", "read"); out != "read\n" {
		t.Fatalf("scope info: %q", out)
	}
	c.fails("scope not found: nope", "scopes", "info", "nope")

	// Users.
	out := c.ok("users", "create", "-p", "username=bob", "-p", "firstname=Bob", "-p", "lastname=Smith", "-p", "email=bob@example.com")
	bobID := createdID(t, out)
	if field(t, out, "id") != bobID || field(t, out, "username") != "bob" || field(t, out, "isActive") != "true" {
		t.Fatalf("users create output:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^createdAt: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$`).MatchString(out) {
		t.Fatalf("dates are not readable:\n%s", out)
	}
	r := c.run("{\"username\":\"alice\",\"firstname\":\"Alice\",\"lastname\":\"A\"}\n\n{\"username\":\"carol\",\"firstname\":\"Carol\",\"lastname\":\"C\"}\n",
		"users", "create", "--stdin", "-q")
	if r.err != nil || len(lines(r.out)) != 2 {
		t.Fatalf("users create --stdin -q: %v %q", r.err, r.out)
	}
	aliceID, carolID := lines(r.out)[0], lines(r.out)[1]
	dave := decodeJSON[map[string]any](t, c.ok("user", "create", "-p", "username=dave", "-p", "firstname=Dave", "-p", "lastname=D", "--json"))
	if dave["username"] != "dave" || dave["id"] == "" {
		t.Fatalf("users create --json: %v", dave)
	}

	list := c.ok("users", "list")
	if !regexp.MustCompile(`^ID +USERNAME +FIRSTNAME +LASTNAME +EMAIL +ACTIVE +CREATED\n`).MatchString(list) || len(lines(list)) != 5 {
		t.Fatalf("users list:\n%s", list)
	}
	if row := tableRow(t, list, bobID); !slices.Equal(row[1:6], []string{"bob", "Bob", "Smith", "bob@example.com", "yes"}) {
		t.Fatalf("bob's row: %q", row)
	}
	if row := tableRow(t, list, aliceID); row[4] != "-" {
		t.Fatalf("an empty cell should read -: %q", row)
	}
	if got := strings.Fields(c.ok("users", "list", "-q")); !slices.Equal(sorted(got), []string{"alice", "bob", "carol", "dave"}) {
		t.Fatalf("users list -q: %v", got)
	}
	if got := decodeJSON[[]map[string]any](t, c.ok("users", "list", "--all", "--json")); len(got) != 4 {
		t.Fatalf("users list --json: %v", got)
	}
	info := c.ok("users", "info", "bob")
	if field(t, info, "id") != bobID || field(t, info, "email") != "bob@example.com" || !strings.HasPrefix(info, "id:") {
		t.Fatalf("users info:\n%s", info)
	}
	if out := c.ok("users", "info", "bob", "-q"); out != bobID+"\n" {
		t.Fatalf("users info -q: %q", out)
	}
	if out := c.ok("users", "update", "bob", "-p", "firstname=Robert"); out != "Updated "+bobID+"\n" {
		t.Fatalf("users update: %q", out)
	}
	if got := decodeJSON[map[string]any](t, c.ok("users", "info", bobID, "--json")); got["firstname"] != "Robert" {
		t.Fatalf("update did not stick: %v", got)
	}
	if out := c.ok("users", "deactivate", "bob", "carol"); out != "Deactivated bob (it has no active applications)\nDeactivated carol (it has no active applications)\n" {
		t.Fatalf("users deactivate: %q", out)
	}
	if out := c.ok("users", "deactivate", "bob"); out != "Inactive bob (unchanged)\n" {
		t.Fatalf("users deactivate again: %q", out)
	}
	if got := tableRow(t, c.ok("users", "list"), bobID)[5]; got != "no" {
		t.Fatalf("bob ACTIVE = %q", got)
	}
	if out := c.ok("users", "activate", "bob", "-q"); out != "bob\n" {
		t.Fatalf("users activate -q: %q", out)
	}
	st2 := decodeJSON[[]map[string]any](t, c.ok("users", "activate", "carol", "--json"))
	if len(st2) != 1 || st2[0]["status"] != "Activated" || st2[0]["id"] != "carol" {
		t.Fatalf("users activate --json: %v", st2)
	}

	// Apps.
	out = c.ok("apps", "create", "-u", "bob", "-p", "name=bob-app", "-p", "redirectUri=https://app.example/cb")
	appID := createdID(t, out)
	if field(t, out, "userId") != bobID || field(t, out, "name") != "bob-app" {
		t.Fatalf("apps create:\n%s", out)
	}
	r = c.run("{\"name\":\"a1\"}\n{\"name\":\"a2\",\"userId\":\"alice\"}\n", "apps", "create", "--stdin", "-u", "carol", "--json")
	if r.err != nil {
		t.Fatalf("apps create --stdin: %v", r.err)
	}
	if apps := decodeJSON[[]map[string]any](t, r.out); len(apps) != 2 || apps[0]["userId"] != carolID || apps[1]["userId"] != carolID {
		t.Fatalf("apps create --stdin: -u should win: %v", apps)
	}
	list = c.ok("app", "list")
	if !strings.HasPrefix(list, "ID") || !slices.Equal(tableRow(t, list, appID)[1:5], []string{"bob-app", bobID, "https://app.example/cb", "yes"}) {
		t.Fatalf("apps list:\n%s", list)
	}
	if out := c.ok("apps", "info", "bob-app", "-q"); out != appID+"\n" {
		t.Fatalf("apps info -q: %q", out)
	}
	if out := c.ok("apps", "update", appID, "-p", "name=bobs-app", "-q"); out != appID+"\n" {
		t.Fatalf("apps update -q: %q", out)
	}
	if out := c.ok("apps", "deactivate", appID); out != "Deactivated "+appID+"\n" {
		t.Fatalf("apps deactivate: %q", out)
	}
	c.ok("apps", "activate", appID)

	// Credentials: one of each type.
	out = c.ok("credentials", "create", "-c", "bob", "-t", "basic-auth", "-p", "password=s3cret-pw", "-p", `scopes=["read"]`)
	if createdID(t, out) != bobID || field(t, out, "type") != "basic-auth" || field(t, out, "scopes") != "read" {
		t.Fatalf("basic-auth create:\n%s", out)
	}
	if strings.Contains(out, "Save the password") {
		t.Fatalf("a password the user chose needs no warning:\n%s", out)
	}
	if out := c.ok("credentials", "create", "-c", "alice", "-t", "basic-auth", "-q"); !regexp.MustCompile(`^` + aliceID + `:\S{16,}\n$`).MatchString(out) {
		t.Fatalf("basic-auth create -q (generated password): %q", out)
	}
	keyOut := c.ok("credentials", "create", "-c", "bob", "-t", "key-auth", "-p", `scopes=["read"]`, "-q")
	keyID, keySecret, ok := strings.Cut(strings.TrimSpace(keyOut), ":")
	if !ok || keyID == "" || keySecret == "" || strings.Count(keyOut, "\n") != 1 {
		t.Fatalf("key-auth create -q: %q", keyOut)
	}
	out = c.ok("credential", "create", "-c", "bobs-app", "-t", "oauth2", "-p", `scopes=["read","write"]`)
	if createdID(t, out) != appID || field(t, out, "secret") == "" || field(t, out, "scopes") != "read, write" {
		t.Fatalf("oauth2 create:\n%s", out)
	}
	mustContain(t, out, "Save the client secret now")
	jwtCred := decodeJSON[map[string]any](t, c.ok("credentials", "create", "-c", bobID, "-t", "jwt", "--json"))
	jwtKeyID, _ := jwtCred["keyId"].(string)
	if jwtKeyID == "" || jwtCred["keySecret"] == "" || jwtCred["type"] != "jwt" {
		t.Fatalf("jwt create --json: %v", jwtCred)
	}

	r = c.run(`{"consumer":"alice","type":"key-auth","scopes":["read"]}`+"\n", "credentials", "create", "--stdin", "--json")
	if r.err != nil {
		t.Fatalf("credentials create --stdin: %v", r.err)
	}
	if got := decodeJSON[[]map[string]any](t, r.out); len(got) != 1 || got[0]["consumerId"] != aliceID || got[0]["keySecret"] == "" {
		t.Fatalf("credentials create --stdin --json is an array: %v", got)
	}
	list = c.ok("credentials", "list", "-c", "bob")
	if !regexp.MustCompile(`^TYPE +ID +ACTIVE +SCOPES +CREATED\n`).MatchString(list) || len(lines(list)) != 4 {
		t.Fatalf("credentials list:\n%s", list)
	}
	if row := tableRow(t, list, "key-auth"); !slices.Equal(row[1:4], []string{keyID, "yes", "read"}) {
		t.Fatalf("key-auth row: %q", row)
	}
	if got := strings.Fields(c.ok("credentials", "list", "-c", "bob", "-q")); !slices.Equal(sorted(got), sorted([]string{bobID, keyID, jwtKeyID})) {
		t.Fatalf("credentials list -q: %v", got)
	}
	info = c.ok("credentials", "info", keyID, "-t", "key-auth")
	if field(t, info, "keyId") != keyID || field(t, info, "consumerId") != bobID || strings.Contains(info, keySecret) || strings.Contains(info, "keySecret") {
		t.Fatalf("credentials info must not show the secret:\n%s", info)
	}
	if out := c.ok("credentials", "deactivate", keyID, "-t", "key-auth"); out != "Deactivated "+keyID+"\n" {
		t.Fatalf("credentials deactivate: %q", out)
	}
	if strings.Contains(c.ok("credentials", "list", "-c", "bob"), keyID) {
		t.Fatal("an inactive credential is listed by default")
	}
	if got := strings.Fields(c.ok("credentials", "list", "-c", "bob", "--filter", "inactive", "-q")); !slices.Equal(got, []string{keyID}) {
		t.Fatalf("--filter inactive: %v", got)
	}
	if got := decodeJSON[[]map[string]any](t, c.ok("credentials", "list", "-c", "bob", "-f", "all", "--json")); len(got) != 3 {
		t.Fatalf("--filter all: %v", got)
	}
	if out := c.ok("credentials", "activate", keyID, "-t", "key-auth"); out != "Activated "+keyID+"\n" {
		t.Fatalf("credentials activate: %q", out)
	}
	// basic-auth and oauth2 credentials are named by their consumer's id; a
	// username or app name works too.
	if out := c.ok("credentials", "deactivate", "bob", "-t", "basic-auth", "-q"); out != bobID+"\n" {
		t.Fatalf("credentials deactivate by username: %q", out)
	}
	if out := c.ok("credentials", "activate", "bob", "-t", "basic-auth"); out != "Activated bob\n" {
		t.Fatalf("credentials activate by username: %q", out)
	}
	if got := field(t, c.ok("credentials", "info", "bobs-app", "-t", "oauth2"), "id"); got != appID {
		t.Fatalf("credentials info by app name: %q", got)
	}

	// Scopes of a credential.
	if out := c.ok("credentials", "add-scopes", "write", "admin", "-t", "key-auth", "--id", keyID); out !=
		"Added scope write to key-auth credential "+keyID+"\nAdded scope admin to key-auth credential "+keyID+"\n" {
		t.Fatalf("add-scopes: %q", out)
	}
	if out := c.ok("credential:scopes", "remove", "admin", "-t", "key-auth", "--id", keyID); out != "Removed scope admin from key-auth credential "+keyID+"\n" {
		t.Fatalf("credential:scopes remove: %q", out)
	}
	if got := field(t, c.ok("credentials", "info", keyID, "-t", "key-auth"), "scopes"); got != "read, write" {
		t.Fatalf("scopes after add/remove: %q", got)
	}
	if out := c.ok("credentials", "set-scopes", "admin", "-t", "key-auth", "--id", keyID); out != "Set the scopes of key-auth credential "+keyID+" to admin\n" {
		t.Fatalf("set-scopes: %q", out)
	}
	if got := field(t, c.ok("credentials", "info", keyID, "-t", "key-auth"), "scopes"); got != "admin" {
		t.Fatalf("scopes after set: %q", got)
	}
	c.fails(`scope "nope" does not exist: create it first`, "credentials", "add-scopes", "nope", "-t", "key-auth", "--id", keyID)

	// Secret rotation.
	rot := c.ok("credentials", "rotate-secret", keyID, "-t", "key-auth", "-q")
	if rk, rs, _ := strings.Cut(strings.TrimSpace(rot), ":"); rk != keyID || rs == "" || rs == keySecret {
		t.Fatalf("rotate-secret -q: %q (old secret %q)", rot, keySecret)
	}
	r = c.run("n3w-s3cret\n", "credentials", "rotate-secret", bobID, "-t", "basic-auth", "--secret-stdin")
	if r.err != nil || !strings.HasPrefix(r.out, "Rotated the secret of basic-auth credential "+bobID+"\n") || strings.Contains(r.out, "n3w-s3cret") {
		t.Fatalf("rotate-secret --secret-stdin: %v\n%s", r.err, r.out)
	}
	if _, err := st.VerifyCredential(ctx, store.BasicAuth, bobID, "n3w-s3cret"); err != nil {
		t.Fatalf("the chosen password does not verify: %v", err)
	}
	rotJSON := decodeJSON[map[string]any](t, c.ok("credentials", "rotate-secret", appID, "-t", "oauth2", "--json"))
	if rotJSON["secret"] == "" || rotJSON["id"] != appID {
		t.Fatalf("rotate-secret --json: %v", rotJSON)
	}

	// Tokens (issued by the OAuth2 server in production; saved directly here).
	if out := c.ok("tokens", "list", "-c", appID); out != "Consumer "+appID+" has no tokens\n" {
		t.Fatalf("tokens list (none): %q", out)
	}
	now := time.Now()
	tok := store.Token{Kind: store.AccessToken, ConsumerID: appID, Scopes: []string{"read"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	whole := store.NewToken(&tok)
	if err := st.SaveToken(ctx, &tok); err != nil {
		t.Fatal(err)
	}
	list = c.ok("tokens", "list", "-c", "bobs-app")
	if row := tableRow(t, list, tok.ID); !slices.Equal(row[1:3], []string{"access", "read"}) || row[len(row)-1] != "no" {
		t.Fatalf("tokens list:\n%s", list)
	}
	if out := c.ok("token", "revoke", whole); out != "Revoked "+tok.ID+"\n" || strings.Contains(out, whole) {
		t.Fatalf("tokens revoke: %q", out)
	}
	if got := tableRow(t, c.ok("tokens", "list", "-c", appID), tok.ID); got[len(got)-1] != "yes" {
		t.Fatalf("revoked token row: %q", got)
	}

	// Removal.
	if out := c.ok("credentials", "remove", keyID, "-t", "key-auth"); out != "Removed "+keyID+"\n" {
		t.Fatalf("credentials remove: %q", out)
	}
	c.fails("No credential found with id: "+keyID, "credentials", "info", keyID, "-t", "key-auth")
	if out := c.ok("scopes", "rm", "admin"); out != "Removed admin\n" {
		t.Fatalf("scopes rm: %q", out)
	}
	if out := c.ok("apps", "rm", appID); out != "Removed "+appID+"\n" {
		t.Fatalf("apps rm: %q", out)
	}
	if got := decodeJSON[[]map[string]any](t, c.ok("users", "remove", "carol", "dave", "--json")); len(got) != 2 || got[1]["id"] != "dave" {
		t.Fatalf("users remove --json: %v", got)
	}
	if out := c.ok("users", "list", "-q"); len(lines(out)) != 2 {
		t.Fatalf("users left: %q", out)
	}

	// Failures: one line, non-zero exit.
	c.fails("User not found: nobody", "users", "info", "nobody")
	c.fails("User not found: nobody", "users", "remove", "nobody")
	// Removal stops at the first failure, after printing what succeeded.
	r = c.run("", "users", "rm", "alice", "nobody")
	if r.err == nil || r.out != "Removed alice\n" {
		t.Fatalf("partial remove: %v %q", r.err, r.out)
	}
	c.fails("No consumer found with id: nobody", "credentials", "create", "-c", "nobody", "-t", "key-auth")
	if msg := c.fails("credentials info: missing -t/--type: one of basic-auth, key-auth, oauth2, jwt", "credentials", "info", bobID); strings.HasPrefix(msg, "gatehouse") {
		t.Fatalf("main adds the gatehouse: prefix, the error should not: %q", msg)
	}
	c.fails("missing -t/--type", "credentials", "create", "-c", "bob")
	c.fails(`-t/--type "ldap": want one of basic-auth, key-auth, oauth2, jwt`, "credentials", "info", bobID, "-t", "ldap")
	c.fails("missing -c/--consumer", "credentials", "create", "-t", "key-auth")
	c.fails("missing -c/--consumer", "credentials", "list")
	c.fails("missing --id", "credentials", "add-scopes", "read", "-t", "jwt")
	c.fails("missing -u/--user", "apps", "create", "-p", "name=x")
	c.fails("give at least one user id or username", "users", "activate")
	c.fails("give one user id or username", "users", "info")
	c.fails(`-p "novalue": want key=value`, "users", "create", "-p", "novalue")
	c.fails(`is not valid JSON`, "credentials", "create", "-c", "bob", "-t", "key-auth", "-p", "scopes=[read]")
	c.fails("--json and -q/--quiet cannot be used together", "users", "list", "--json", "-q")
	c.fails(`-H "oops": want 'Name: value'`, "users", "list", "-H", "oops")
	c.fails("unknown property", "users", "create", "-p", "username=zed", "-p", "firstname=Z", "-p", "lastname=Z", "-p", "shoeSize=44")

	// The API key: required, and checked.
	noKey := &cli{t: t, url: srv.URL, dir: c.dir}
	noKey.fails("this Admin API requires a key", "users", "list")
	noKey.fails("(set GATEHOUSE_ADMIN_KEY or pass --admin-key)", "users", "list")
	wrong := &cli{t: t, url: srv.URL, key: "wrong", dir: c.dir}
	msg := wrong.fails("this Admin API requires a key", "users", "list")
	if strings.Contains(msg, "GATEHOUSE_ADMIN_KEY") {
		t.Fatalf("with a key given, the hint should not suggest setting one: %q", msg)
	}
	t.Setenv("GATEHOUSE_ADMIN_KEY", testAdminKey)
	if out := noKey.ok("users", "list", "-q"); len(lines(out)) != 1 {
		t.Fatalf("GATEHOUSE_ADMIN_KEY: %q", out)
	}
	// A key sent behind the caller's own Authorization header (-H) goes as
	// X-Admin-Key.
	if out := noKey.ok("users", "list", "-q", "-H", "Authorization: apiKey abc:def"); len(lines(out)) != 1 {
		t.Fatalf("-H Authorization + key: %q", out)
	}
	t.Setenv("GATEHOUSE_ADMIN_KEY", "")

	// Nothing listening.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	down := &cli{t: t, url: dead, key: testAdminKey, dir: c.dir}
	down.fails("cannot reach the Admin API at "+dead+": is `gatehouse serve` running?", "scopes", "list")

	// EG_ADMIN_URL is used when --admin-url is not given.
	t.Setenv("EG_ADMIN_URL", srv.URL)
	viaEnv := &cli{t: t, key: testAdminKey, dir: c.dir}
	if out := viaEnv.ok("scopes", "list"); out != "read\nwrite\n" {
		t.Fatalf("EG_ADMIN_URL: %q", out)
	}
}

func TestIdentityEmptyLists(t *testing.T) {
	t.Setenv("EG_ADMIN_URL", "")
	t.Setenv("GATEHOUSE_ADMIN_KEY", "")
	st := store.New(memstore.New(nil), store.Options{BcryptCost: 4})
	defer st.Close()
	srv := httptest.NewServer(admin.New(st, nil, admin.Options{}))
	defer srv.Close()
	c := &cli{t: t, url: srv.URL, dir: t.TempDir()}
	for args, want := range map[string]string{
		"users list":        "You have no users\n",
		"apps list":         "You have no apps\n",
		"scopes list":       "You have no scopes\n",
		"users list -q":     "",
		"users list --json": "[]\n",
		"apps list --json":  "[]\n",
	} {
		if out := c.ok(strings.Fields(args)...); out != want {
			t.Errorf("%s: %q, want %q", args, out, want)
		}
	}
	c.ok("users", "create", "-p", "username=u", "-p", "firstname=U", "-p", "lastname=U")
	if out := c.ok("credentials", "list", "-c", "u"); out != "Consumer u has no active credentials\n" {
		t.Errorf("credentials list: %q", out)
	}
	if out := c.ok("credentials", "list", "-c", "u", "--json"); out != "[]\n" {
		t.Errorf("credentials list --json: %q", out)
	}
}

func TestParseProps(t *testing.T) {
	for _, tc := range []struct {
		in         []string
		jsonValues bool
		want       map[string]any
		err        string
	}{
		{in: []string{"a=b", "c=d=e", "empty="}, want: map[string]any{"a": "b", "c": "d=e", "empty": ""}},
		{in: []string{"a=1", "a=2"}, want: map[string]any{"a": "2"}},
		{in: []string{" k = v"}, want: map[string]any{"k": " v"}},
		{in: []string{`scopes=["a","b"]`}, want: map[string]any{"scopes": `["a","b"]`}},
		{in: []string{`scopes=["a","b"]`, "auto=false", "n=null", `s="[x"`, "num=123", "pw=t{x"}, jsonValues: true,
			want: map[string]any{"scopes": []any{"a", "b"}, "auto": false, "n": nil, "s": "[x", "num": "123", "pw": "t{x"}},
		{in: []string{"age:=42", `tags:=["x"]`, "ok:=true"}, want: map[string]any{"age": json.Number("42"), "tags": []any{"x"}, "ok": true}},
		{in: []string{"novalue"}, err: `-p "novalue": want key=value`},
		{in: []string{"=v"}, err: "want key=value"},
		{in: []string{"age:=forty"}, err: "is not valid JSON"},
		{in: []string{"scopes=[a,b]"}, jsonValues: true, err: `-p scopes: "[a,b]" is not valid JSON`},
		{in: []string{"x:=1 2"}, err: "more than one JSON value"},
	} {
		got, err := parseProps(tc.in, tc.jsonValues)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseProps(%q) err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseProps(%q): %v", tc.in, err)
			continue
		}
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(tc.want)
		if string(gj) != string(wj) {
			t.Errorf("parseProps(%q) = %s, want %s", tc.in, gj, wj)
		}
	}
}

func TestParseHeader(t *testing.T) {
	for raw, want := range map[string][2]string{
		"X-Key: abc":             {"X-Key", "abc"},
		"x-key:abc":              {"X-Key", "abc"},
		"Authorization: a:b c":   {"Authorization", "a:b c"},
		"Authorization:apiKey x": {"Authorization", "apiKey x"},
	} {
		n, v, err := parseHeader(raw)
		if err != nil || n != want[0] || v != want[1] {
			t.Errorf("parseHeader(%q) = %q, %q, %v", raw, n, v, err)
		}
	}
	for _, bad := range []string{"novalue", ": v", "Bad Name: v"} {
		if _, _, err := parseHeader(bad); err == nil {
			t.Errorf("parseHeader(%q) accepted", bad)
		}
	}
}

// TestAdminURLFromConfigDir checks the CLI's use of the config directory:
// the gateway's admin block gives the URL and the key.
func TestAdminURLFromConfigDir(t *testing.T) {
	t.Setenv("EG_ADMIN_URL", "")
	t.Setenv("GATEHOUSE_ADMIN_KEY", "")
	st := store.New(memstore.New(nil), store.Options{BcryptCost: 4})
	defer st.Close()
	srv := httptest.NewServer(admin.New(st, nil, admin.Options{APIKey: "k-from-config"}))
	defer srv.Close()
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	dir := t.TempDir()
	writeTestFile(t, dir+"/gateway.config.yml", "http:\n  port: 8080\nadmin:\n  host: "+host+"\n  port: "+port+"\n  apiKey: k-from-config\n")
	c := &cli{t: t, dir: dir}
	if out := c.ok("scopes", "list"); out != "You have no scopes\n" {
		t.Fatalf("scopes list: %q", out)
	}
	// cli.url in system.config.yml wins over the gateway's admin block (and
	// the gateway's key is then not sent).
	writeTestFile(t, dir+"/system.config.yml", "cli:\n  url: http://127.0.0.1:1\n")
	c.fails("cannot reach the Admin API at http://127.0.0.1:1", "scopes", "list")
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestIdentityPaging(t *testing.T) {
	t.Setenv("EG_ADMIN_URL", "")
	t.Setenv("GATEHOUSE_ADMIN_KEY", "")
	st := store.New(memstore.New(nil), store.Options{BcryptCost: 4})
	defer st.Close()
	srv := httptest.NewServer(admin.New(st, nil, admin.Options{}))
	defer srv.Close()
	c := &cli{t: t, url: srv.URL, dir: t.TempDir()}
	const n = 130
	for i := range n {
		name := "u" + strconv.Itoa(i)
		if _, err := st.CreateUser(context.Background(), store.User{Username: name, Firstname: "F", Lastname: "L"}); err != nil {
			t.Fatal(err)
		}
	}
	r := c.run("", "users", "list", "-q")
	if r.err != nil || len(lines(r.out)) >= n || r.errOut != "" {
		t.Fatalf("users list -q: %v, %d lines, stderr %q", r.err, len(lines(r.out)), r.errOut)
	}
	r = c.run("", "users", "list")
	if r.err != nil || r.errOut != "(more users: add -a/--all to list them all)\n" {
		t.Fatalf("users list: %v, stderr %q", r.err, r.errOut)
	}
	all := strings.Fields(c.ok("users", "list", "--all", "-q"))
	slices.Sort(all)
	if len(slices.Compact(all)) != n {
		t.Fatalf("users list --all: %d distinct users, want %d", len(all), n)
	}
}
