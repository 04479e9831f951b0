package jwtauth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/echo"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/policy/jwtauth"
	"github.com/gatehouse/gatehouse/internal/policy/proxy"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

// TestThroughTheGateway runs the policy in a real Runtime (config parse,
// Build, router, proxy): what the upstream sees, including attempts to
// spoof the identity headers.
func TestThroughTheGateway(t *testing.T) {
	f := setupStore(t)
	up := httptest.NewServer(echo.Handler("up"))
	defer up.Close()
	yml := `http: {port: 1}
apiEndpoints:
  open: {paths: '/open/*'}
  soft: {paths: '/soft/*'}
  scoped: {paths: '/scoped/*', scopes: [admin]}
  own: {paths: '/own/*'}
serviceEndpoints:
  up: {url: '` + up.URL + `'}
policies: [jwt, proxy]
pipelines:
  open:
    apiEndpoints: [open, scoped]
    policies:
      - jwt:
          action:
            secretOrPublicKey: ` + secret + `
            checkCredentialExistence: false
            claimsToHeaders: {email: x-user-email}
      - proxy: {action: {serviceEndpoint: up}}
  soft:
    apiEndpoints: [soft]
    policies:
      - jwt: {action: {secretOrPublicKey: ` + secret + `, checkCredentialExistence: false, passThrough: true}}
      - proxy: {action: {serviceEndpoint: up}}
  own:
    apiEndpoints: [own]
    policies:
      - jwt: {action: {secretOrPublicKey: ` + secret + `}}
      - proxy: {action: {serviceEndpoint: up}}
`
	g, err := config.ParseGateway("gateway.config.yml", []byte(yml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	env := &policyenv.Env{Logger: discard(), Now: func() time.Time { return t0 }, Identity: f.s}
	factories := map[string]policyenv.Factory{"jwt": {New: jwtauth.New}, "proxy": {New: proxy.New, Terminal: true}}
	rt, err := gateway.Build(g, env, factories)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	gw := gateway.New(rt, discard(), nil)

	do := func(path, tok string, hdr map[string]string) (*httptest.ResponseRecorder, echo.Request) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "http://api.test"+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, req)
		var seen echo.Request
		if rec.Code == 200 {
			if err := json.Unmarshal(rec.Body.Bytes(), &seen); err != nil {
				t.Fatalf("%s: %v: %s", path, err, rec.Body.String())
			}
		}
		return rec, seen
	}
	hs := func(kv ...any) string { return mint(t, jose.HS256, []byte(secret), claimsAt(t0, kv...), nil) }
	spoof := map[string]string{"eg-consumer-id": "spoofed", "EG-Token-Scopes": "admin", "x-user-email": "spoofed@evil.test"}
	h := func(e echo.Request, name string) string {
		return strings.Join(e.Headers[http.CanonicalHeaderKey(name)], ",")
	}

	// A token without an id claim: Express Gateway forwards the client's
	// eg-consumer-id; Gatehouse sends none (the token is not a store
	// consumer) and the token's sub and iss as eg-token-sub and -iss.
	rec, seen := do("/open/x", hs("scope", "read", "iss", "https://idp.test/"), spoof)
	if rec.Code != 200 {
		t.Fatalf("valid token: %d %s", rec.Code, rec.Body.String())
	}
	if _, ok := seen.Headers["Eg-Consumer-Id"]; ok || h(seen, "eg-token-sub") != "user-1" || h(seen, "eg-token-iss") != "https://idp.test/" ||
		h(seen, "eg-token-auth-type") != "jwt" || h(seen, "eg-token-scopes") != "read" {
		t.Errorf("identity headers upstream: %v", seen.Headers)
	}
	if h(seen, "x-user-email") != "" {
		t.Errorf("a spoofed claim header reached the upstream: %q", h(seen, "x-user-email"))
	}
	if !strings.HasPrefix(h(seen, "Authorization"), "Bearer ") {
		t.Error("the token is forwarded by default")
	}
	_, seen = do("/open/x", hs("email", "a@example.test"), nil)
	if h(seen, "x-user-email") != "a@example.test" {
		t.Errorf("claimsToHeaders: %v", seen.Headers)
	}

	// Refusals are answered by the gateway; nothing reaches the upstream.
	rec, _ = do("/open/x", "", spoof)
	if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != `Bearer realm="gatehouse"` || !strings.Contains(rec.Body.String(), `"error":"missing_token"`) {
		t.Errorf("missing token: %d %v %s", rec.Code, rec.Header(), rec.Body.String())
	}
	rec, _ = do("/open/x", hs("exp", t0.Add(-time.Minute).Unix()), nil)
	if rec.Code != 401 || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_token", error_description="the token has expired"`) {
		t.Errorf("expired: %d %v", rec.Code, rec.Header())
	}
	rec, _ = do("/scoped/x", hs("scope", "read"), nil)
	if rec.Code != 403 || rec.Header().Get("WWW-Authenticate") != `Bearer realm="gatehouse", error="insufficient_scope", scope="admin"` {
		t.Errorf("insufficient scope: %d %v", rec.Code, rec.Header())
	}
	if rec, _ = do("/scoped/x", hs("scope", "read admin"), nil); rec.Code != 200 {
		t.Errorf("scoped: %d %s", rec.Code, rec.Body.String())
	}

	// passThrough: an invalid token goes on anonymously, and the client's
	// eg-consumer-id still never reaches the upstream.
	rec, seen = do("/soft/x", tamper(hs()), spoof)
	if rec.Code != 200 || strings.Contains(h(seen, "eg-consumer-id"), "spoofed") || h(seen, "eg-token-scopes") != "" {
		t.Errorf("passThrough: %d %v", rec.Code, seen.Headers)
	}

	// Controlled mode: the consumer of the credential named by sub.
	rec, seen = do("/own/x", hs("sub", f.keyID), spoof)
	if rec.Code != 200 || h(seen, "eg-consumer-id") != f.user.ID || h(seen, "eg-consumer-name") != "alice" || h(seen, "eg-token-scopes") != "read" ||
		h(seen, "eg-token-sub") != "" {
		t.Errorf("controlled: %d %v", rec.Code, seen.Headers)
	}
}
