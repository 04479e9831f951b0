package basicauth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/config/configtest"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policy/basicauth"
	"github.com/gatehouse/gatehouse/internal/policyenv"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

func node(t *testing.T, src string) config.Node {
	t.Helper()
	return configtest.Action(t, src)
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestBasicAuth(t *testing.T) {
	ctx := context.Background()
	s := store.New(memstore.New(nil), store.Options{BcryptCost: 4})
	defer s.Close()
	u, _ := s.CreateUser(ctx, store.User{Username: "bob", Firstname: "B", Lastname: "B"})
	s.CreateScopes(ctx, "read", "admin")
	if _, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.BasicAuth, Secret: "pass:word-1", Scopes: []string{"read"}}); err != nil {
		t.Fatal(err)
	}
	off, _ := s.CreateUser(ctx, store.User{Username: "off", Firstname: "O", Lastname: "F"})
	s.CreateCredential(ctx, store.CredentialInput{ConsumerID: off.ID, Type: store.BasicAuth, Secret: "off-password"})
	s.SetUserActive(ctx, off.ID, false)
	app, _ := s.CreateApp(ctx, store.App{UserID: u.ID, Name: "svc"})
	s.CreateCredential(ctx, store.CredentialInput{ConsumerID: app.ID, Type: store.BasicAuth, Secret: "app-password"})
	nocred, _ := s.CreateUser(ctx, store.User{Username: "nocred", Firstname: "N", Lastname: "C"})
	_ = nocred

	tests := []struct {
		name, action, auth string
		scopes             []string
		status             int
		reason             string
		consumer           string
	}{
		{name: "username and password with a colon", auth: basic("bob", "pass:word-1"), status: 200, consumer: u.ID},
		{name: "user id", auth: basic(u.ID, "pass:word-1"), status: 200, consumer: u.ID},
		{name: "application id", auth: basic(app.ID, "app-password"), status: 200, consumer: app.ID},
		{name: "lower-case scheme", auth: "basic " + base64.StdEncoding.EncodeToString([]byte("bob:pass:word-1")), status: 200, consumer: u.ID},
		{name: "wrong password", auth: basic("bob", "pass:word"), status: 401, reason: "invalid_credentials"},
		{name: "unknown user", auth: basic("nobody", "x"), status: 401, reason: "invalid_credentials"},
		{name: "user without credential", auth: basic("nocred", "x"), status: 401, reason: "invalid_credentials"},
		{name: "deactivated user", auth: basic("off", "off-password"), status: 401, reason: "inactive_consumer"},
		{name: "deactivated user, wrong password: nothing told", auth: basic("off", "guess"), status: 401, reason: "invalid_credentials"},
		{name: "missing", status: 401, reason: "missing_credentials"},
		{name: "not base64", auth: "Basic !!!", status: 401, reason: "malformed_credentials"},
		{name: "no colon", auth: "Basic " + base64.StdEncoding.EncodeToString([]byte("bob")), status: 401, reason: "malformed_credentials"},
		{name: "bearer instead", auth: "Bearer abc", status: 401, reason: "malformed_credentials"},
		{name: "scope granted", auth: basic("bob", "pass:word-1"), scopes: []string{"read"}, status: 200, consumer: u.ID},
		{name: "scope missing", auth: basic("bob", "pass:word-1"), scopes: []string{"admin"}, status: 403, reason: "insufficient_scope"},
		{name: "passThrough", action: "{passThrough: true}", auth: basic("bob", "bad"), status: 200},
		{name: "stripCredentials removes the header", action: "{stripCredentials: true}", auth: basic("bob", "pass:word-1"), status: 200, consumer: u.ID},
		{name: "stripCredentials false forwards it", action: "{stripCredentials: false}", auth: basic("bob", "pass:word-1"), status: 200, consumer: u.ID},
	}
	env := &policyenv.Env{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Identity: s}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := basicauth.New(node(t, tt.action), env)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("GET", "/", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			st := &pipeline.State{Route: &pipeline.Route{Scopes: tt.scopes}}
			req = pipeline.WithState(req, st)
			var fwd http.Header
			rec := httptest.NewRecorder()
			err = p.Handle(rec, req, pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				fwd = r.Header.Clone()
				w.WriteHeader(200)
				return nil
			}))
			if err != nil {
				pipeline.WriteError(rec, req, err, slog.New(slog.NewTextHandler(io.Discard, nil)))
			}
			var body map[string]string
			json.Unmarshal(rec.Body.Bytes(), &body)
			if rec.Code != tt.status || body["error"] != tt.reason {
				t.Fatalf("got %d %q, want %d %q", rec.Code, body["error"], tt.status, tt.reason)
			}
			if rec.Code == 401 && rec.Header().Get("WWW-Authenticate") != `Basic realm="gatehouse", charset="UTF-8"` {
				t.Errorf("challenge %q", rec.Header().Get("WWW-Authenticate"))
			}
			if tt.consumer != "" {
				if st.Identity == nil || st.Identity.ConsumerID != tt.consumer || st.Identity.AuthType != "basic-auth" {
					t.Errorf("identity %+v", st.Identity)
				}
				// Forwarded as Express Gateway does unless stripCredentials.
				strip := strings.Contains(tt.action, "stripCredentials: true")
				if got := fwd.Get("Authorization"); strip && got != "" {
					t.Error("stripCredentials: the password was forwarded upstream")
				} else if !strip && got != tt.auth {
					t.Errorf("Authorization upstream %q, want it forwarded: %q", got, tt.auth)
				}
			}
		})
	}
}

// TestOneCredential: two Authorization lines, or one with two comma-joined
// credentials, are 400 invalid_request, passThrough or not (the password
// the gateway did not check must not reach the upstream).
func TestOneCredential(t *testing.T) {
	ctx := context.Background()
	s := store.New(memstore.New(nil), store.Options{BcryptCost: 4})
	defer s.Close()
	u, _ := s.CreateUser(ctx, store.User{Username: "bob", Firstname: "B", Lastname: "B"})
	s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.BasicAuth, Secret: "bob-password"})
	env := &policyenv.Env{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Identity: s}
	for name, values := range map[string][]string{
		"two headers":             {basic("bob", "bob-password"), basic("eve", "x")},
		"the same header twice":   {basic("bob", "bob-password"), basic("bob", "bob-password")},
		"comma-joined":            {basic("bob", "bob-password") + ", " + basic("eve", "x")},
		"comma-joined, no space":  {basic("bob", "bob-password") + "," + basic("eve", "x")},
		"Basic and Bearer joined": {basic("bob", "bob-password") + ", Bearer abc"},
	} {
		for _, action := range []string{"", "{passThrough: true}"} {
			p, err := basicauth.New(node(t, action), env)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("GET", "/", nil)
			for _, v := range values {
				req.Header.Add("Authorization", v)
			}
			st := &pipeline.State{Route: &pipeline.Route{}}
			req = pipeline.WithState(req, st)
			rec := httptest.NewRecorder()
			called := false
			err = p.Handle(rec, req, pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { called = true; return nil }))
			if err != nil {
				pipeline.WriteError(rec, req, err, slog.New(slog.DiscardHandler))
			}
			var body map[string]string
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			if rec.Code != 400 || body["error"] != "invalid_request" || called || st.Identity != nil || rec.Header().Get("WWW-Authenticate") != "" {
				t.Errorf("%s %s: %d %v (passed on: %v, challenge %q)", name, action, rec.Code, body, called, rec.Header().Get("WWW-Authenticate"))
			}
		}
	}
}
