package oauth2server

import (
	"net/http"
	"net/url"
	"testing"
)

// TestAuthorizeRefusesRequestObjects: request and request_uri are refused
// at the client's redirect URI with the OpenID Connect Core 1.0 §3.1.2.6
// codes (the state echoed), while an unknown parameter is ignored and the
// request goes on to sign-in.
func TestAuthorizeRefusesRequestObjects(t *testing.T) {
	f := newFixture(t, nil)
	for _, c := range []struct {
		param, value, code string
	}{
		{"request", "eyJhbGciOiJub25lIn0.e30.", "request_not_supported"},
		{"request_uri", "https://client.example/req.jwt", "request_uri_not_supported"},
		{"x_unknown", "1", ""},
	} {
		t.Run(c.param, func(t *testing.T) {
			q := url.Values{"response_type": {"code"}, "client_id": {f.web.ID}, "redirect_uri": {"https://client.example/cb"},
				"scope": {"read"}, "state": {"st"}, c.param: {c.value}}
			resp, _ := newBrowser(t, f.srv).get("/oauth2/authorize?" + q.Encode())
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("status = %d, want 302", resp.StatusCode)
			}
			loc := resp.Header.Get("Location")
			if c.code == "" {
				if loc != "/login" {
					t.Fatalf("an unknown parameter: Location = %q, want /login", loc)
				}
				return
			}
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatal(err)
			}
			v := u.Query()
			if u.Host != "client.example" || v.Get("error") != c.code || v.Get("state") != "st" {
				t.Fatalf("Location = %q, want the redirect URI with error=%s and state=st", loc, c.code)
			}
		})
	}
}
