package main

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/adminclient"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

// TestConsumerTables lays a user and an app out through the one table
// function, each in its kind's columns.
func TestConsumerTables(t *testing.T) {
	obj := adminclient.Object{
		"id": "x1", "username": "jdoe", "firstname": "J", "lastname": "D", "name": "web", "userId": "u1",
		"isActive": false, "createdAt": "2024-05-06T05:08:09.010Z",
	}
	tests := []struct {
		kind    consumerKind
		headers []string
		row     []string
	}{
		{userKind, []string{"ID", "USERNAME", "FIRSTNAME", "LASTNAME", "EMAIL", "ACTIVE", "CREATED"},
			[]string{"x1", "jdoe", "J", "D", "", "no", "2024-05-06 05:08:09 UTC"}},
		{appKind, []string{"ID", "NAME", "USER ID", "REDIRECT URI", "ACTIVE", "CREATED"},
			[]string{"x1", "web", "u1", "", "no", "2024-05-06 05:08:09 UTC"}},
	}
	for _, tt := range tests {
		headers, rows := table(tt.kind.columns, []adminclient.Object{obj})
		if !slices.Equal(headers, tt.headers) || len(rows) != 1 || !slices.Equal(rows[0], tt.row) {
			t.Errorf("%s: table %q %q, want %q %q", tt.kind.many, headers, rows, tt.headers, tt.row)
		}
	}
}

// TestConsumerKindsCLI drives users and apps through the same verbs
// (newConsumerCmd) and checks each kind's own answers: the list table's
// columns, what -q lists, the JSON of info, status and remove.
func TestConsumerKindsCLI(t *testing.T) {
	c := newCLI(t)
	c.ok("users", "create", "-p", "username=owner", "-p", "firstname=O", "-p", "lastname=W")
	tests := []struct {
		group     string
		create    []string
		name      string // besides the id, what info finds it by
		header    []string
		quietName bool // list -q prints the name, not the id (EG's users)
		keys      []string
	}{
		{"users", []string{"-p", "username=jdoe", "-p", "firstname=J", "-p", "lastname=D"}, "jdoe",
			[]string{"ID", "USERNAME", "FIRSTNAME", "LASTNAME", "EMAIL", "ACTIVE", "CREATED"}, true,
			[]string{"id", "username", "firstname", "lastname", "isActive", "createdAt", "updatedAt"}},
		{"apps", []string{"-u", "owner", "-p", "name=web"}, "web",
			[]string{"ID", "NAME", "USER ID", "REDIRECT URI", "ACTIVE", "CREATED"}, false,
			[]string{"id", "name", "userId", "isActive", "createdAt", "updatedAt"}},
	}
	for _, tt := range tests {
		t.Run(tt.group, func(t *testing.T) {
			c.t = t
			id := createdID(t, c.ok(append([]string{tt.group, "create"}, tt.create...)...))
			header := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(lines(c.ok(tt.group, "list"))[0]), -1)
			if !slices.Equal(header, tt.header) {
				t.Errorf("list header %q, want %q", header, tt.header)
			}
			if row := tableRow(t, c.ok(tt.group, "list"), id); row[1] != tt.name {
				t.Errorf("list row %q", row)
			}
			want := id
			if tt.quietName {
				want = tt.name
			}
			if q := lines(c.ok(tt.group, "list", "-q")); !slices.Contains(q, want) {
				t.Errorf("list -q %q lacks %s", q, want)
			}
			for _, ref := range []string{id, tt.name} {
				out := c.ok(tt.group, "info", ref, "--json")
				if keys := jsonKeys(t, out); !slices.Equal(keys, tt.keys) {
					t.Errorf("info %s --json keys %q, want %q", ref, keys, tt.keys)
				}
			}
			if got := c.ok(tt.group, "deactivate", tt.name); !strings.HasPrefix(got, "Deactivated "+tt.name) {
				t.Errorf("deactivate: %q", got)
			}
			if got := c.ok(tt.group, "deactivate", tt.name); got != "Inactive "+tt.name+" (unchanged)\n" {
				t.Errorf("deactivate again: %q", got)
			}
			if got := c.ok(tt.group, "remove", tt.name); got != "Removed "+tt.name+"\n" {
				t.Errorf("remove: %q", got)
			}
			c.fails("not found", tt.group, "info", id)
		})
	}
}

// jsonKeys lists the keys of a JSON object in the order printed.
func jsonKeys(t *testing.T, s string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %s", s)
	}
	var keys []string
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestEnvironmentLookup: the CLI reads its environment through the lookup
// main passes (os.LookupEnv), so a test can set it without touching the
// process's: EG_CONFIG_DIR as --config-dir's default, GATEHOUSE_ADMIN_KEY
// as the key, and the hint when that key is missing.
func TestEnvironmentLookup(t *testing.T) {
	t.Setenv("EG_ADMIN_URL", "")
	t.Setenv("GATEHOUSE_ADMIN_KEY", "")
	st := store.New(memstore.New(nil), store.Options{BcryptCost: 4})
	t.Cleanup(func() { st.Close() })
	srv := httptest.NewServer(admin.New(st, nil, admin.Options{APIKey: testAdminKey}))
	t.Cleanup(srv.Close)
	run := func(env map[string]string, args ...string) (string, error) {
		var out bytes.Buffer
		root := newRoot(cliEnv{stdout: &out, stderr: &out, lookup: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		}})
		root.SetArgs(args)
		err := root.Execute()
		return out.String(), err
	}
	dir := t.TempDir()
	out, err := run(map[string]string{"EG_CONFIG_DIR": dir}, "users", "--help")
	if err != nil || !strings.Contains(out, `(default "`+dir+`")`) {
		t.Errorf("--config-dir default from the lookup: %v\n%s", err, out)
	}
	env := map[string]string{"EG_ADMIN_URL": srv.URL, "GATEHOUSE_ADMIN_KEY": testAdminKey}
	if out, err := run(env, "users", "list"); err != nil || out != "You have no users\n" {
		t.Errorf("users list with the key from the lookup: %v %q", err, out)
	}
	delete(env, "GATEHOUSE_ADMIN_KEY")
	if _, err := run(env, "users", "list"); err == nil || !strings.Contains(err.Error(), "(set GATEHOUSE_ADMIN_KEY or pass --admin-key)") {
		t.Errorf("without a key: %v", err)
	}
}
