package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestSessionCookieHostPrefix: over HTTPS (here an https issuer: TLS ends
// at a proxy in front) the sign-in session cookie is __Host-gatehouse_session,
// Secure, Path=/, without Domain, so a sibling subdomain cannot plant one
// (login CSRF, issue #11 §8); a planted cookie under the plain name is
// ignored. Over plain HTTP the name stays gatehouse_session.
func TestSessionCookieHostPrefix(t *testing.T) {
	loginCookie := func(t *testing.T, g *oauthGateway, cookie string) *http.Cookie {
		t.Helper()
		req, _ := http.NewRequest("GET", g.base+"/login", nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET /login = %d", resp.StatusCode)
		}
		for _, c := range resp.Cookies() {
			if strings.Contains(c.Name, "gatehouse_session") {
				return c
			}
		}
		return nil
	}

	t.Run("https", func(t *testing.T) {
		g := startOAuth(t, "accessTokens:\n  issuer: https://127.0.0.1\n")
		c := loginCookie(t, g, "")
		if c == nil {
			t.Fatal("GET /login set no session cookie")
		}
		if c.Name != "__Host-gatehouse_session" || !c.Secure || c.Path != "/" || c.Domain != "" || !c.HttpOnly {
			t.Fatalf("session cookie %+v, want __Host-gatehouse_session, Secure, HttpOnly, Path=/, no Domain", c)
		}
		// The same session, presented under the prefixed name, is kept.
		if again := loginCookie(t, g, c.Name+"="+c.Value); again != nil && again.Value != c.Value {
			t.Errorf("a valid __Host- session was replaced")
		}
		// Planted under the plain name (what a sibling subdomain can set),
		// it is not a session: the server starts a new one.
		planted := loginCookie(t, g, "gatehouse_session="+c.Value)
		if planted == nil || planted.Value == c.Value || planted.Name != "__Host-gatehouse_session" {
			t.Errorf("a planted gatehouse_session cookie was taken as the session (reply cookie %+v)", planted)
		}
	})
	t.Run("http", func(t *testing.T) {
		g := startOAuth(t, "accessTokens:\n  issuer: http://127.0.0.1\n")
		c := loginCookie(t, g, "")
		if c == nil || c.Name != "gatehouse_session" || c.Secure {
			t.Fatalf("session cookie %+v, want gatehouse_session, not Secure", c)
		}
	})
}
