package adminclient

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestResolvePrecedence(t *testing.T) {
	const gw = "http:\n  port: 8080\nadmin:\n  host: 127.0.0.2\n  port: 9999\n  apiKey: from-gateway\n"
	const sys = "cli:\n  url: http://sys.example:1234\n  headers:\n    x-team: blue\n"
	cases := []struct {
		name          string
		gateway, sys  string
		env           map[string]string
		flag          string
		want, source  string
		key, xteam    string
		noConfigFiles bool
	}{
		{name: "flag beats all", gateway: gw, sys: sys, env: map[string]string{"EG_ADMIN_URL": "http://env:1"}, flag: "http://flag:2",
			want: "http://flag:2", source: FromFlag, xteam: "blue"},
		{name: "env", gateway: gw, sys: sys, env: map[string]string{"EG_ADMIN_URL": "http://env:1"},
			want: "http://env:1", source: FromEnv, xteam: "blue"},
		{name: "empty env is unset", gateway: gw, sys: sys, env: map[string]string{"EG_ADMIN_URL": ""},
			want: "http://sys.example:1234", source: FromSystem, xteam: "blue"},
		{name: "system cli.url", gateway: gw, sys: sys,
			want: "http://sys.example:1234", source: FromSystem, xteam: "blue"},
		{name: "gateway admin, with its key", gateway: gw, sys: "db: {}\n",
			want: "http://127.0.0.2:9999", source: FromGateway, key: "from-gateway"},
		{name: "gateway admin defaults", gateway: "http:\n  port: 8080\nadmin:\n  port: 7000\n",
			want: "http://localhost:7000", source: FromGateway},
		{name: "admin.hostname alias", gateway: "http:\n  port: 8080\nadmin:\n  hostname: ::1\n  port: 7000\n",
			want: "http://[::1]:7000", source: FromGateway},
		{name: "listening everywhere means localhost", gateway: "http:\n  port: 8080\nadmin:\n  host: 0.0.0.0\n  port: 7000\n",
			want: "http://localhost:7000", source: FromGateway},
		{name: "gateway errors elsewhere do not matter",
			gateway: "http:\n  port: 8080\nadmin:\n  port: 7002\n  apiKey: ${ADMIN_KEY}\nserviceEndpoints:\n  x:\n    url: ${NOPE}\n",
			env:     map[string]string{"ADMIN_KEY": "k3"},
			want:    "http://localhost:7002", source: FromGateway, key: "k3"},
		{name: "no admin block", gateway: "http:\n  port: 8080\n", want: DefaultURL, source: FromDefault},
		{name: "no files", noConfigFiles: true, want: DefaultURL, source: FromDefault},
		{name: "unrelated errors do not matter",
			gateway: "http:\n  port: 8080\nadmin:\n  port: 7001\nserviceEndpoints:\n  x:\n    url: ${NOPE}\n",
			sys:     "db:\n  redis:\n    password: ${UNSET_PASSWORD}\ncli:\n  url: ${CLI_URL:-http://fromdefault:1}\n",
			want:    "http://fromdefault:1", source: FromSystem},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.gateway != "" {
				write(t, dir, "gateway.config.yml", tc.gateway)
			}
			if tc.sys != "" {
				write(t, dir, "system.config.yml", tc.sys)
			}
			got := Resolve(tc.flag, dir, env(tc.env))
			if got.URL != tc.want || got.Source != tc.source || got.APIKey != tc.key {
				t.Fatalf("Resolve = %+v, want URL %s from %s, key %q", got, tc.want, tc.source, tc.key)
			}
			if g := got.Header.Get("X-Team"); g != tc.xteam {
				t.Fatalf("cli.headers X-Team = %q, want %q", g, tc.xteam)
			}
		})
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "localhost:9876", "ftp://x", "http://", "http://h/?q=1"} {
		if _, err := New(Options{URL: u}); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	c, err := New(Options{URL: " http://h:1/ "})
	if err != nil || c.base != "http://h:1" {
		t.Fatalf("New = %v, %v", c, err)
	}
}

func TestErrorsAreOneReadableLine(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/users/json":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			io.WriteString(w, `{"error":"not_found","message":"User not found: json"}`)
		case "/users/text":
			w.WriteHeader(500)
			io.WriteString(w, "data should have\nrequired property 'firstname'\n")
		case "/users/html":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			io.WriteString(w, "<html><body>Bad gateway</body></html>")
		case "/users/field":
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"invalid","message":"email must be an email address","field":"email"}`)
		}
	}))
	defer srv.Close()
	c, _ := New(Options{URL: srv.URL})
	for path, want := range map[string]string{
		"json":  "User not found: json",
		"text":  "data should have required property 'firstname'",
		"html":  "the Admin API answered 502 Bad Gateway",
		"field": "email must be an email address",
	} {
		_, err := c.GetUser(context.Background(), path)
		var e *Error
		if !errors.As(err, &e) || err.Error() != want {
			t.Errorf("%s: err = %v, want %q", path, err, want)
		}
		if path == "json" && (!IsNotFound(err) || e.Code != "not_found") {
			t.Errorf("json: %+v", e)
		}
		if path == "field" && e.Field != "email" {
			t.Errorf("field: %+v", e)
		}
	}
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, _ := New(Options{URL: "http://" + addr})
	_, err = c.ListScopeDetails(context.Background())
	want := "cannot reach the Admin API at http://" + addr + ": is `gatehouse serve` running?"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	c, _ := New(Options{URL: srv.URL, HTTPClient: &http.Client{Timeout: 50 * time.Millisecond}})
	_, err := c.ListScopeDetails(context.Background())
	if err == nil || !strings.Contains(err.Error(), "did not answer within 50ms") {
		t.Fatalf("timeout err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c2, _ := New(Options{URL: srv.URL})
	if _, err := c2.ListScopeDetails(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel err = %v", err)
	}
}

func TestRequests(t *testing.T) {
	type call struct{ method, uri, auth, adminKey, team, body string }
	var calls []call
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls = append(calls, call{r.Method, r.URL.RequestURI(), r.Header.Get("Authorization"), r.Header.Get("X-Admin-Key"), r.Header.Get("X-Team"), string(b)})
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/users" && r.URL.Query().Get("start") == "":
			io.WriteString(w, `{"users":[{"id":"u1","username":"a"}],"nextKey":7}`)
		case r.URL.Path == "/users" && r.URL.Query().Get("start") == "7":
			io.WriteString(w, `{"users":[{"id":"u2","username":"b"}],"nextKey":0}`)
		case strings.HasSuffix(r.URL.Path, "/status"):
			io.WriteString(w, `{"status":"Deactivated"}`)
		case r.URL.Path == "/credentials/key-auth/missing":
			io.WriteString(w, `null`)
		case r.URL.Path == "/scopes" && r.Method == "GET":
			io.WriteString(w, `{"scopes":null}`)
		case r.Method == "DELETE" && strings.HasPrefix(r.URL.Path, "/tokens/"):
			io.WriteString(w, `{"id":"tid","revoked":true}`)
		case r.URL.Path == "/tokens":
			io.WriteString(w, `{"tokens":[{"id":"t1","expiresAt":1700000000000}]}`)
		default:
			w.WriteHeader(204)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	c, _ := New(Options{URL: srv.URL + "/", APIKey: "k1", Header: http.Header{"X-Team": {"red"}}})

	users, err := c.AllUsers(ctx)
	if err != nil || len(users) != 2 || users[1].Str("username") != "b" {
		t.Fatalf("AllUsers = %v, %v", users, err)
	}
	if st, err := c.SetUserStatus(ctx, "a b", false); err != nil || st.Status != "Deactivated" {
		t.Fatalf("SetUserStatus = %+v, %v", st, err)
	}
	if _, err := c.GetCredential(ctx, "key-auth", "missing"); !IsNotFound(err) || err.Error() != "No credential found with id: missing" {
		t.Fatalf("GetCredential(null) err = %v", err)
	}
	if s, err := c.ListScopeDetails(ctx); err != nil || len(s) != 0 {
		t.Fatalf("ListScopeDetails = %v, %v", s, err)
	}
	if err := c.SetCredentialScopes(ctx, "jwt", "k", nil); err != nil {
		t.Fatal(err)
	}
	if res, err := c.RevokeToken(ctx, "tid|secret"); err != nil || res.Str("id") != "tid" {
		t.Fatalf("RevokeToken = %v, %v", res, err)
	}
	toks, err := c.ListTokens(ctx, "app 1")
	if err != nil || len(toks) != 1 || toks[0].Str("expiresAt") != "1700000000000" {
		t.Fatalf("ListTokens = %v, %v", toks, err)
	}
	if _, err := c.RotateSecret(ctx, "oauth2", "a/b", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateCredential(ctx, "bob", "basic-auth", nil); err != nil {
		t.Fatal(err)
	}

	want := []call{
		{"GET", "/users?count=100", "Bearer k1", "", "red", ""},
		{"GET", "/users?count=100&start=7", "Bearer k1", "", "red", ""},
		{"PUT", "/users/a%20b/status", "Bearer k1", "", "red", `{"status":false}`},
		{"GET", "/credentials/key-auth/missing", "Bearer k1", "", "red", ""},
		{"GET", "/scopes", "Bearer k1", "", "red", ""},
		{"PUT", "/credentials/jwt/k/scopes", "Bearer k1", "", "red", `{"scopes":[]}`},
		{"DELETE", "/tokens/tid%7Csecret", "Bearer k1", "", "red", ""},
		{"GET", "/tokens?consumerId=app+1", "Bearer k1", "", "red", ""},
		{"PUT", "/credentials/oauth2/a%2Fb/secret", "Bearer k1", "", "red", `{}`},
		{"POST", "/credentials", "Bearer k1", "", "red", `{"consumerId":"bob","credential":{},"type":"basic-auth"}`},
	}
	if len(calls) != len(want) {
		t.Fatalf("%d calls, want %d: %+v", len(calls), len(want), calls)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Errorf("call %d = %+v\n want %+v", i, calls[i], want[i])
		}
	}

	// An Authorization header of the caller's own (a gateway in front of
	// the Admin API) moves the key to X-Admin-Key.
	calls = nil
	c, _ = New(Options{URL: srv.URL, APIKey: "k2", Header: http.Header{"Authorization": {"apiKey id:secret"}}})
	if err := c.DeleteScope(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if calls[0].auth != "apiKey id:secret" || calls[0].adminKey != "k2" {
		t.Fatalf("headers = %+v", calls[0])
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{`null`, ""}, {`"x"`, "x"}, {`true`, "true"}, {`12`, "12"},
		{`["a","b"]`, "a, b"}, {`[{"a":1}]`, `[{"a":1}]`}, {`{"k":"v"}`, `{"k":"v"}`},
	} {
		dec := json.NewDecoder(strings.NewReader(tc.in))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if got := Format(v); got != tc.want {
			t.Errorf("Format(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
