package oauth2server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/internal/config"
)

// hostRequest sends a request with the given Host to srv's Handle.
func hostRequest(t *testing.T, srv *Server, method, host, path string, form url.Values) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, "http://x"+path, strings.NewReader(form.Encode()))
	req.Host = host
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	rec := httptest.NewRecorder()
	if !srv.Handle(rec, req) {
		t.Fatalf("%s %s: not handled", method, path)
	}
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec, m
}

func misdirected(t *testing.T, rec *httptest.ResponseRecorder, m map[string]any, what string) {
	t.Helper()
	if rec.Code != http.StatusMisdirectedRequest || m["error"] != "misdirected_request" || rec.Header().Get("Cache-Control") != "no-store" ||
		!strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Errorf("%s = %d %v %s, want 421 misdirected_request, not cacheable", what, rec.Code, rec.Header(), rec.Body)
	}
	if strings.Contains(rec.Body.String(), "attacker") {
		t.Errorf("%s: the refusal repeats the Host: %s", what, rec.Body)
	}
}

// TestUntrustedHostWithoutIssuer: without accessTokens.issuer, a spoofed
// Host neither becomes the issuer nor gets an answer from any endpoint;
// loopback names (development) do.
func TestUntrustedHostWithoutIssuer(t *testing.T) {
	f := newFixture(t, jwtSystem(), func(o *Options) { o.Hostnames = nil })
	for _, tc := range []struct{ method, path string }{
		{"GET", "/.well-known/oauth-authorization-server"}, {"GET", "/.well-known/jwks.json"},
		{"POST", "/oauth2/token"}, {"GET", "/oauth2/authorize"}, {"POST", "/oauth2/authorize/decision"},
		{"POST", "/oauth2/introspect"}, {"POST", "/oauth2/revoke"}, {"GET", "/login"}, {"POST", "/login"},
		{"GET", "/logout"}, {"POST", "/logout"}, {"GET", "/oauth2/static/style.css"}, {"GET", "/oauth2/nope"},
	} {
		for _, host := range []string{"attacker.example", "attacker.example:8080", "", "127.0.0.1.attacker.example", "localhost.attacker.example"} {
			rec, m := hostRequest(t, f.srv, tc.method, host, tc.path, url.Values{"grant_type": {"client_credentials"}})
			misdirected(t, rec, m, tc.method+" "+tc.path+" Host "+host)
		}
	}
	for _, host := range []string{"127.0.0.1:8080", "localhost:8080", "[::1]:8080", "LOCALHOST", "127.0.0.2"} {
		rec, m := hostRequest(t, f.srv, "GET", host, "/.well-known/oauth-authorization-server", nil)
		want := "http://" + host
		if rec.Code != 200 || m["issuer"] != want || m["token_endpoint"] != want+"/oauth2/token" || m["jwks_uri"] != want+"/.well-known/jwks.json" {
			t.Errorf("metadata on %s = %d %v", host, rec.Code, m)
		}
	}
	rec := httptest.NewRecorder()
	if f.srv.Handle(rec, httptest.NewRequest("GET", "http://attacker.example/api", nil)) {
		t.Error("a path of the gateway's own was claimed (and refused) by the authorization server")
	}
}

// TestUntrustedHostWithIssuer: with accessTokens.issuer, the metadata is
// the issuer's whatever the Host; the issuer's host (any port), the extra
// names and loopback are answered, any other Host gets 421.
func TestUntrustedHostWithIssuer(t *testing.T) {
	sys := jwtSystem()
	sys.AccessTokens.Issuer = "https://auth.example/"
	sys.OAuth2 = &config.OAuth2Server{Hostnames: config.Hostnames{"gatehouse.internal"}}
	f := newFixture(t, sys, func(o *Options) { o.Hostnames = nil })
	for _, host := range []string{"auth.example", "AUTH.example:443", "auth.example:8443", "gatehouse.internal:8080", "gatehouse.internal.", "127.0.0.1:8080", "localhost"} {
		rec, m := hostRequest(t, f.srv, "GET", host, "/.well-known/oauth-authorization-server", nil)
		if rec.Code != 200 || m["issuer"] != "https://auth.example" || m["authorization_endpoint"] != "https://auth.example/oauth2/authorize" ||
			m["token_endpoint"] != "https://auth.example/oauth2/token" || m["jwks_uri"] != "https://auth.example/.well-known/jwks.json" {
			t.Errorf("metadata on %s = %d %v", host, rec.Code, m)
		}
	}
	for _, host := range []string{"attacker.example", "auth.example.attacker.example", "internal"} {
		rec, m := hostRequest(t, f.srv, "POST", host, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}})
		misdirected(t, rec, m, "token on "+host)
		rec, m = hostRequest(t, f.srv, "GET", host, "/.well-known/oauth-authorization-server", nil)
		misdirected(t, rec, m, "metadata on "+host)
	}
	req := httptest.NewRequest("POST", "http://gatehouse.internal/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", basicHeader(f.web.ID, f.webSecret))
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	tok, _ := m["access_token"].(string)
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil || claims["iss"] != "https://auth.example" {
		t.Errorf("token issued on an extra name: %v iss %v, want the configured issuer", err, claims["iss"])
	}
}

// TestJWTIssuerWithoutConfiguredIssuer: without accessTokens.issuer, iss
// is the origin of the (trusted) token request, and a token is accepted
// only when its iss is the origin of a trusted name, on whatever host it
// is presented.
func TestJWTIssuerWithoutConfiguredIssuer(t *testing.T) {
	f := newFixture(t, jwtSystem(), func(o *Options) { o.Hostnames = []string{"gw.example"} })
	req := httptest.NewRequest("POST", "http://localhost:8080/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", basicHeader(f.web.ID, f.webSecret))
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	tok, _ := m["access_token"].(string)
	at, err := f.srv.VerifyAccessToken(httptest.NewRequest("GET", "http://api.example/x", nil), tok)
	if err != nil || at.Claims["iss"] != "http://localhost:8080" || at.Claims["aud"] != "http://localhost:8080" {
		t.Fatalf("token issued on localhost:8080: %v %v", err, at)
	}
	for iss, want := range map[string]error{
		"http://gw.example": nil, "https://gw.example:8443": nil, "http://127.0.0.1:9": nil, "https://[::1]": nil,
		"http://attacker.example": ErrTokenInvalid, "http://gw.example.attacker.example": ErrTokenInvalid,
		"http://gw.example/path": ErrTokenInvalid, "http://u@gw.example": ErrTokenInvalid, "ftp://gw.example": ErrTokenInvalid,
		"gw.example": ErrTokenInvalid, "http://gw.example?x": ErrTokenInvalid, "http://gw.example:x": ErrTokenInvalid, "": ErrTokenInvalid,
	} {
		claims := jwt.MapClaims{"iss": iss, "client_id": f.web.ID, "sub": f.web.ID}
		if iss == "" {
			claims["iss"] = nil
		}
		forged := forge(t, f.srv, claims, nil)
		if err := verify(f.srv, forged); err != want {
			t.Errorf("iss %q: %v, want %v", iss, err, want)
		}
		_, m := post(t, f.srv, "/oauth2/introspect", url.Values{"token": {forged}}, f.web.ID, f.webSecret)
		if m["active"] != (want == nil) {
			t.Errorf("introspection of iss %q: %v", iss, m)
		}
	}
}

func TestNamesOptionsChecked(t *testing.T) {
	f := newFixture(t, nil)
	for name, o := range map[string]Options{
		"issuer":   {Store: f.s, Issuer: "express-gateway"},
		"hostname": {Store: f.s, Hostnames: []string{"https://auth.example"}},
	} {
		if _, err := New(t.Context(), o); err == nil {
			t.Errorf("%s: a bad name was accepted", name)
		}
	}
}
