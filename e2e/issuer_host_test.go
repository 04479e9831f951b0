package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse/gatehouse/internal/app"
)

// Names the gateway trusts (issue #10 §5): the authorization server never
// builds its issuer, its endpoint URLs or a token's iss from a Host it was
// not configured with, and answers such a Host with 421 (RFC 9110
// §15.5.20).

// hostCall sends a request to the gateway with the Host header set to
// host (the connection still goes to g.base), and decodes a JSON answer.
func (g *oauthGateway) hostCall(t *testing.T, method, path, host string, form url.Values, basicID, basicSecret, bearer string) (int, http.Header, map[string]any, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, g.base+path, body)
	req.Host = host
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if basicID != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(basicID)+":"+url.QueryEscape(basicSecret))))
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, resp.Header, m, string(b)
}

// misdirected checks a 421 refusal that says nothing of the Host it got.
func misdirected(t *testing.T, what string, st int, h http.Header, m map[string]any, body string) {
	t.Helper()
	if st != http.StatusMisdirectedRequest || m["error"] != "misdirected_request" || h.Get("Cache-Control") != "no-store" ||
		!strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Errorf("%s = %d %v %s, want 421 misdirected_request with no-store", what, st, h, body)
	}
	if strings.Contains(body, "attacker") {
		t.Errorf("%s: the answer repeats the spoofed Host: %s", what, body)
	}
}

// TestIssuerHostSpoofedWithoutIssuer: with no accessTokens.issuer, a
// spoofed Host gets 421 on every endpoint of the authorization server
// (never metadata naming it), loopback names still work (development, the
// tests), the operator is told to set the issuer, and the API itself is
// not affected.
func TestIssuerHostSpoofedWithoutIssuer(t *testing.T) {
	t.Parallel()
	g := startOAuth(t, "accessTokens:\n  tokenType: jwt\n")
	for _, host := range []string{"attacker.example", "attacker.example:" + strings.Split(g.base, ":")[2]} {
		st, h, m, body := g.hostCall(t, "GET", "/.well-known/oauth-authorization-server", host, nil, "", "", "")
		misdirected(t, "metadata on "+host, st, h, m, body)
		st, h, m, body = g.hostCall(t, "POST", "/oauth2/token", host, url.Values{"grant_type": {"client_credentials"}}, g.svc.ID, svcSecret, "")
		misdirected(t, "token on "+host, st, h, m, body)
		for _, p := range []string{"/login", "/logout", "/oauth2/authorize?client_id=" + g.web.ID + "&response_type=code", "/.well-known/jwks.json"} {
			st, h, m, body = g.hostCall(t, "GET", p, host, nil, "", "", "")
			misdirected(t, p+" on "+host, st, h, m, body)
		}
	}
	// Loopback: the metadata is the origin the client used.
	other := strings.Replace(g.base, "127.0.0.1", "localhost", 1)
	for _, base := range []string{g.base, other} {
		var md map[string]any
		resp := get(t, base+"/.well-known/oauth-authorization-server")
		json.NewDecoder(resp.Body).Decode(&md)
		resp.Body.Close()
		if resp.StatusCode != 200 || md["issuer"] != base || md["token_endpoint"] != base+"/oauth2/token" || md["jwks_uri"] != base+"/.well-known/jwks.json" {
			t.Errorf("metadata on %s = %d %v", base, resp.StatusCode, md)
		}
	}
	tok, err := (&clientcredentials.Config{ClientID: g.svc.ID, ClientSecret: svcSecret, TokenURL: g.base + "/oauth2/token"}).Token(clientCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if iss := unverifiedIss(t, tok.AccessToken); iss != g.base {
		t.Errorf("iss = %q, want the loopback origin %s", iss, g.base)
	}
	// The API is routed as configured (any host here): the token works on
	// it whatever the Host, the check is the authorization server's only.
	if st, _, _, body := g.hostCall(t, "GET", "/api", "attacker.example", nil, "", "", tok.AccessToken); st != 200 {
		t.Errorf("API with a valid token and another Host = %d %s", st, body)
	}
	if !strings.Contains(g.logs.String(), "accessTokens.issuer is not set") {
		t.Errorf("no warning that accessTokens.issuer is not set:\n%s", g.logs)
	}
	if !strings.Contains(g.logs.String(), `"host":"attacker.example"`) {
		t.Errorf("the first refused Host is not logged:\n%s", g.logs)
	}
}

// TestIssuerHostConfigured: with accessTokens.issuer, the metadata names
// the issuer whatever the Host, the issuer's host, oauth2.hostnames and
// loopback are answered, any other Host gets 421 on the token endpoint,
// and a JWT's iss is the issuer.
func TestIssuerHostConfigured(t *testing.T) {
	t.Parallel()
	const iss = "https://auth.gatehouse.test"
	g := startOAuth(t, "accessTokens:\n  tokenType: jwt\n  issuer: "+iss+"/\noauth2:\n  hostnames: [gatehouse.internal]\n")
	for _, host := range []string{"auth.gatehouse.test", "auth.gatehouse.test:443", "Gatehouse.Internal:8080", strings.TrimPrefix(g.base, "http://")} {
		st, _, md, body := g.hostCall(t, "GET", "/.well-known/oauth-authorization-server", host, nil, "", "", "")
		if st != 200 || md["issuer"] != iss || md["authorization_endpoint"] != iss+"/oauth2/authorize" || md["token_endpoint"] != iss+"/oauth2/token" ||
			md["introspection_endpoint"] != iss+"/oauth2/introspect" || md["revocation_endpoint"] != iss+"/oauth2/revoke" || md["jwks_uri"] != iss+"/.well-known/jwks.json" {
			t.Errorf("metadata on %s = %d %s", host, st, body)
		}
	}
	for _, host := range []string{"attacker.example", "auth.gatehouse.test.attacker.example", "internal"} {
		st, h, m, body := g.hostCall(t, "GET", "/.well-known/oauth-authorization-server", host, nil, "", "", "")
		misdirected(t, "metadata on "+host, st, h, m, body)
		st, h, m, body = g.hostCall(t, "POST", "/oauth2/token", host, url.Values{"grant_type": {"client_credentials"}}, g.svc.ID, svcSecret, "")
		misdirected(t, "token on "+host, st, h, m, body)
	}
	for _, host := range []string{"auth.gatehouse.test", "gatehouse.internal"} {
		st, _, m, body := g.hostCall(t, "POST", "/oauth2/token", host, url.Values{"grant_type": {"client_credentials"}}, g.svc.ID, svcSecret, "")
		tok, _ := m["access_token"].(string)
		if st != 200 || tok == "" {
			t.Fatalf("token on %s = %d %s", host, st, body)
		}
		if got := unverifiedIss(t, tok); got != iss {
			t.Errorf("token issued on %s: iss %q, want the configured issuer %s", host, got, iss)
		}
		if st, _, _, body := g.hostCall(t, "GET", "/api", "api.gatehouse.test", nil, "", "", tok); st != 200 {
			t.Errorf("API with the token issued on %s = %d %s", host, st, body)
		}
	}
	if strings.Contains(g.logs.String(), "accessTokens.issuer is not set") {
		t.Errorf("warned that the issuer is not set although it is:\n%s", g.logs)
	}
}

// TestIssuerHostBadIssuerRefused: Express Gateway's sample issuer (a bare
// string) cannot name the server: the gateway does not start.
func TestIssuerHostBadIssuerRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeConfig(t, dir, oauthGatewayYAML("http://127.0.0.1:1"))
	if err := os.WriteFile(filepath.Join(dir, "system.config.yml"), []byte("accessTokens:\n  tokenType: jwt\n  issuer: express-gateway\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := app.Start(app.Options{ConfigDir: dir, Logger: slog.New(slog.DiscardHandler), Lookup: func(string) (string, bool) { return "", false }})
	if err == nil {
		_ = a.Shutdown(context.Background())
	}
	want := `system.config.yml:3: accessTokens.issuer: must be the authorization server's URL, such as https://auth.example.com (http or https, a host, no query or fragment; RFC 8414 §2), got "express-gateway"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("start = %v, want %s", err, want)
	}
}

func unverifiedIss(t *testing.T, tok string) string {
	t.Helper()
	parsed, err := josejwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var std josejwt.Claims
	if err := parsed.UnsafeClaimsWithoutVerification(&std); err != nil {
		t.Fatal(err)
	}
	return std.Issuer
}
