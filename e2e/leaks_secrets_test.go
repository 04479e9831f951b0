package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Issue #11 §2, secrets shown once, end to end: through the Admin API and
// the real CLI binary (the fixture is leaks_test.go's).

func (f *lkFixture) adminDo(t *testing.T, method, path string, body any) (int, map[string]any, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.admin+path, rd)
	req.Header.Set("Authorization", "Bearer "+lkAdminKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	st, _, raw := f.send(t, req)
	var m map[string]any
	_ = json.Unmarshal([]byte(raw), &m)
	return st, m, raw
}

// TestSecretsShownOnce: through the Admin API, for every credential type, a
// secret the caller chose is never echoed, a generated one is in the
// creation (or rotation) answer only, and GET and list never show a
// secret or its hash (issue #11 §2).
func TestSecretsShownOnce(t *testing.T) {
	f := startLeaks(t)
	st, _, raw := f.adminDo(t, "POST", "/users", map[string]any{"username": "sam", "firstname": "S", "lastname": "S"})
	if st != 201 && st != 200 {
		t.Fatalf("POST /users: %d %s", st, raw)
	}
	var sam map[string]any
	_ = json.Unmarshal([]byte(raw), &sam)
	samID, _ := sam["id"].(string)
	st, appObj, raw := f.adminDo(t, "POST", "/apps", map[string]any{"userId": samID, "name": "sam-app"})
	if st != 201 && st != 200 {
		t.Fatalf("POST /apps: %d %s", st, raw)
	}
	appID, _ := appObj["id"].(string)
	_, user2, _ := f.adminDo(t, "POST", "/users", map[string]any{"username": "tia", "firstname": "T", "lastname": "T"})
	_, app2, _ := f.adminDo(t, "POST", "/apps", map[string]any{"userId": samID, "name": "tia-app"})

	var secrets []string // every plain value, chosen or generated
	for _, tc := range []struct {
		name, consumer, typ, field, id string
		cred                           map[string]any
		generated                      bool
	}{
		{"basic-auth, chosen password", samID, "basic-auth", "password", samID, map[string]any{"password": "sam-chosen-password"}, false},
		{"basic-auth, generated password", user2["id"].(string), "basic-auth", "password", user2["id"].(string), nil, true},
		{"oauth2, chosen secret", appID, "oauth2", "secret", appID, map[string]any{"secret": "sam-chosen-client-secret-0123456789"}, false},
		{"oauth2, generated secret", app2["id"].(string), "oauth2", "secret", app2["id"].(string), nil, true},
		{"key-auth, chosen key secret", samID, "key-auth", "keySecret", "sam-key", map[string]any{"keyId": "sam-key", "keySecret": "sam-chosen-key-secret-0123"}, false},
		{"key-auth, generated key secret", samID, "key-auth", "keySecret", "sam-key-2", map[string]any{"keyId": "sam-key-2"}, true},
		{"jwt, chosen key secret", samID, "jwt", "keySecret", "sam-jwt", map[string]any{"keyId": "sam-jwt", "keySecret": "sam-chosen-jwt-secret-01234"}, false},
		{"jwt, generated key secret", samID, "jwt", "keySecret", "sam-jwt-2", map[string]any{"keyId": "sam-jwt-2"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"consumerId": tc.consumer, "type": tc.typ}
			if tc.cred != nil {
				body["credential"] = tc.cred
			}
			st, obj, raw := f.adminDo(t, "POST", "/credentials", body)
			if st != 200 && st != 201 {
				t.Fatalf("create: %d %s", st, raw)
			}
			got, shown := obj[tc.field].(string)
			switch {
			case tc.generated && (!shown || len(got) < 20):
				t.Errorf("the generated %s is not in the creation answer: %s", tc.field, raw)
			case !tc.generated && shown:
				t.Errorf("the chosen %s is echoed: %s", tc.field, raw)
			}
			if tc.generated {
				secrets = append(secrets, got)
			} else {
				secrets = append(secrets, tc.cred[tc.field].(string))
			}
			// Rotation: a chosen value is not echoed, a generated one is, once.
			chosen := "rotated-chosen-secret-" + strings.ReplaceAll(tc.name, " ", "-") + "-0123456789abcdef"
			st, _, raw = f.adminDo(t, "PUT", "/credentials/"+tc.typ+"/"+tc.id+"/secret", map[string]any{"secret": chosen})
			if st != 200 {
				t.Fatalf("rotate to a chosen secret: %d %s", st, raw)
			}
			secrets = append(secrets, chosen)
			if strings.Contains(raw, chosen) {
				t.Errorf("rotation echoes the chosen secret: %s", raw)
			}
			st, obj, raw = f.adminDo(t, "PUT", "/credentials/"+tc.typ+"/"+tc.id+"/secret", map[string]any{})
			if st != 200 {
				t.Fatalf("rotate to a generated secret: %d %s", st, raw)
			}
			fresh, _ := obj[tc.field].(string)
			if len(fresh) < 20 {
				t.Errorf("rotation does not show the generated %s: %s", tc.field, raw)
			}
			secrets = append(secrets, fresh)
			// GET never shows one.
			st, _, raw = f.adminDo(t, "GET", "/credentials/"+tc.typ+"/"+tc.id, nil)
			if st != 200 {
				t.Fatalf("GET: %d %s", st, raw)
			}
			for _, k := range []string{`"password":`, `"secret":`, `"keySecret":`, "secretHash", "$2a$", "sha256:"} {
				if strings.Contains(raw, k) {
					t.Errorf("GET shows %s: %s", k, raw)
				}
			}
		})
	}
	// Lists never show one either.
	for _, path := range []string{"/credentials", "/credentials/" + samID, "/credentials/" + appID, "/users/" + samID, "/apps/" + appID} {
		st, _, raw := f.adminDo(t, "GET", path, nil)
		if st != 200 {
			t.Fatalf("GET %s: %d %s", path, st, raw)
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(raw, s) {
				t.Errorf("GET %s shows a secret: %s", path, raw)
			}
		}
		for _, k := range []string{`"password":`, `"secret":`, `"keySecret":`, "secretHash", "$2a$", "sha256:"} {
			if strings.Contains(raw, k) {
				t.Errorf("GET %s shows %s: %s", path, k, raw)
			}
		}
	}
}

// TestSecretsShownOnceByCLI: the real binary prints a generated secret once,
// on create and rotate-secret, with the note to save it; a chosen one is
// never printed back; info and list never print a secret (issue #11 §2).
func TestSecretsShownOnceByCLI(t *testing.T) {
	bin := buildBinary(t)
	f := startLeaks(t)
	cli := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--admin-url", f.admin, "--config-dir", t.TempDir())...)
		cmd.Env = append(os.Environ(), "GATEHOUSE_ADMIN_KEY="+lkAdminKey, "EG_ADMIN_URL=")
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("gatehouse %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
		}
		return out.String()
	}
	cli("", "users", "create", "-p", "username=cleo", "-p", "firstname=C", "-p", "lastname=C", "-q")

	// A chosen password: not printed back.
	out := cli("", "credentials", "create", "-c", "cleo", "-t", "basic-auth", "-p", "password=cleo-chosen-password")
	if strings.Contains(out, "cleo-chosen-password") || strings.Contains(out, "Save the") {
		t.Errorf("create with a chosen password prints it:\n%s", out)
	}
	// A generated key secret: printed once, with the note.
	out = cli("", "credentials", "create", "-c", "cleo", "-t", "key-auth", "-p", "keyId=cleo-key")
	var generated string
	for line := range strings.SplitSeq(out, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "keySecret" {
			generated = strings.TrimSpace(v)
		}
	}
	if len(generated) < 20 || !strings.Contains(out, "Save the key secret now") {
		t.Fatalf("create does not print the generated key secret once:\n%s", out)
	}
	if q := strings.TrimSpace(cli("", "credentials", "create", "-c", "cleo", "-t", "key-auth", "-p", "keyId=cleo-key-q", "-q")); !strings.HasPrefix(q, "cleo-key-q:") || len(q) < len("cleo-key-q:")+20 {
		t.Errorf("create -q: %q, want keyId:keySecret", q)
	}
	// Rotation to a chosen secret does not print it; to a generated one does.
	out = cli("cleo-rotated-chosen-password\n", "credentials", "rotate-secret", "cleo", "-t", "basic-auth", "--secret-stdin")
	if strings.Contains(out, "cleo-rotated-chosen-password") {
		t.Errorf("rotate-secret --secret-stdin prints the chosen secret:\n%s", out)
	}
	out = cli("", "credentials", "rotate-secret", "cleo-key", "-t", "key-auth")
	if !strings.Contains(out, "Save the key secret now") {
		t.Errorf("rotate-secret does not print the generated secret:\n%s", out)
	}
	// info and list never print one.
	for _, args := range [][]string{
		{"credentials", "info", "cleo-key", "-t", "key-auth"},
		{"credentials", "info", "cleo", "-t", "basic-auth"},
		{"credentials", "info", "cleo-key", "-t", "key-auth", "--json"},
		{"credentials", "list", "-c", "cleo", "--filter", "all"},
		{"credentials", "list", "-c", "cleo", "--filter", "all", "--json"},
	} {
		out := cli("", args...)
		for _, s := range []string{generated, "cleo-chosen-password", "cleo-rotated-chosen-password", "keySecret", `"password":`, "secretHash"} {
			if strings.Contains(out, s) {
				t.Errorf("gatehouse %s prints %q:\n%s", strings.Join(args, " "), s, out)
			}
		}
	}
}
