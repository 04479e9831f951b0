package oauth2server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
)

// userinfoCall sends a request to the UserInfo endpoint.
func userinfoCall(t *testing.T, srv *Server, method, header string, form url.Values) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, "http://gw.example"+userinfoPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, "http://gw.example"+userinfoPath, nil)
	}
	if header != "" {
		req.Header.Set("Authorization", header)
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec, m
}

// TestUserinfo: the claims the scopes grant, mapped from the user record,
// with the ID token's sub (Core §5.3), for GET and POST; RFC 6750 §3
// errors for what is not an openid access token of a user, an ID token
// included.
func TestUserinfo(t *testing.T) {
	for _, mode := range []string{"opaque", "jwt"} {
		t.Run(mode, func(t *testing.T) {
			sys := oidcSystem(mode)
			// A deployment's user model keeps the phone in "mobile", and
			// drops the nickname claim.
			sys.OAuth2 = &config.OAuth2Server{OpenID: &config.OpenID{Claims: map[string]string{"phone_number": "mobile", "nickname": ""}}}
			f := newFixture(t, sys)
			ctx := context.Background()
			if _, err := f.s.UpdateUser(ctx, f.user.ID, func(u *store.User) error {
				u.Email = "alice@example.com"
				u.Extra = map[string]any{"mobile": "+1 555 0100", "email_verified": "true", "nickname": "al", "address": "1 Main St"}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			c1 := f.newRP(t)
			b := newBrowser(t, f.srv)
			b.signIn("")
			_, m := exchange(t, f.srv, c1, b.code(c1, url.Values{"scope": {"openid profile email phone"}, "nonce": {"x"}}))
			at, idt := m["access_token"].(string), m["id_token"].(string)
			_, idClaims := verifyIDToken(t, f.srv, idt, c1.id)

			rec, got := userinfoCall(t, f.srv, "GET", "Bearer "+at, nil)
			if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("userinfo = %d %s", rec.Code, rec.Body)
			}
			want := map[string]any{"sub": idClaims["sub"], "name": "Alice A", "given_name": "Alice", "family_name": "A",
				"preferred_username": "alice", "email": "alice@example.com", "email_verified": true, "phone_number": "+1 555 0100"}
			delete(got, "updated_at")
			if !reflect.DeepEqual(got, want) {
				t.Errorf("claims\n got %v\nwant %v", got, want)
			}
			if rec, got2 := userinfoCall(t, f.srv, "POST", "", url.Values{"access_token": {at}}); rec.Code != 200 || got2["sub"] != idClaims["sub"] {
				t.Errorf("POST with access_token in the form = %d %s", rec.Code, rec.Body)
			}

			_, noOpenID := exchange(t, f.srv, c1, b.code(c1, url.Values{"scope": {"read"}}))
			for _, c := range []struct {
				name, method, header string
				form                 url.Values
				status               int
				code                 string
			}{
				{"no token", "GET", "", nil, 401, ""},
				{"another scheme", "GET", "Basic eDp5", nil, 401, ""},
				{"ID token as bearer", "GET", "Bearer " + idt, nil, 401, "invalid_token"},
				{"garbage", "GET", "Bearer x|y", nil, 401, "invalid_token"},
				{"no openid scope", "GET", "Bearer " + noOpenID["access_token"].(string), nil, 403, "insufficient_scope"},
				{"header and form", "POST", "Bearer " + at, url.Values{"access_token": {at}}, 400, "invalid_request"},
				{"PUT", "PUT", "Bearer " + at, nil, 405, "invalid_request"},
			} {
				rec, m := userinfoCall(t, f.srv, c.method, c.header, c.form)
				if rec.Code != c.status {
					t.Errorf("%s: %d %s, want %d", c.name, rec.Code, rec.Body, c.status)
					continue
				}
				ch := rec.Header().Get("WWW-Authenticate")
				switch {
				case c.status == 405:
				case c.code == "":
					if ch != `Bearer realm="gatehouse"` {
						t.Errorf("%s: WWW-Authenticate %q, want a challenge without error (RFC 6750 §3.1)", c.name, ch)
					}
				default:
					if !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, `error="`+c.code+`"`) || m["error"] != c.code {
						t.Errorf("%s: WWW-Authenticate %q body %v, want error %s", c.name, ch, m, c.code)
					}
				}
			}
		})
	}
}

// TestUserinfoAfterCodeReplay: a replayed code revokes its grant, and the
// access token it issued stops working at userinfo (Core §3.1.3.2, RFC
// 6749 §4.1.2).
func TestUserinfoAfterCodeReplay(t *testing.T) {
	for _, mode := range []string{"opaque", "jwt"} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t, oidcSystem(mode))
			c1 := f.newRP(t)
			b := newBrowser(t, f.srv)
			b.signIn("")
			code := b.code(c1, url.Values{"scope": {"openid"}})
			_, m := exchange(t, f.srv, c1, code)
			at := m["access_token"].(string)
			if rec, _ := userinfoCall(t, f.srv, "GET", "Bearer "+at, nil); rec.Code != 200 {
				t.Fatalf("userinfo before the replay = %d", rec.Code)
			}
			if rec, m := exchange(t, f.srv, c1, code); rec.Code != 400 || m["error"] != "invalid_grant" || m["id_token"] != nil {
				t.Fatalf("replayed code = %d %v, want invalid_grant", rec.Code, m)
			}
			if rec, m := userinfoCall(t, f.srv, "GET", "Bearer "+at, nil); rec.Code != 401 || m["error"] != "invalid_token" {
				t.Errorf("userinfo after the replay = %d %v, want 401 invalid_token", rec.Code, m)
			}
		})
	}
}

// TestClaimValue: properties are shaped as their claims' types (Core
// §5.1), empty ones left out.
func TestClaimValue(t *testing.T) {
	for _, c := range []struct {
		claim string
		in    any
		want  any
		ok    bool
	}{
		{"email", "a@b", "a@b", true},
		{"email", "", nil, false},
		{"email", nil, nil, false},
		{"email_verified", "true", true, true},
		{"email_verified", false, false, true},
		{"email_verified", "maybe", false, false},
		{"updated_at", int64(5), int64(5), true},
		{"updated_at", float64(7), int64(7), true},
		{"address", "1 Main St", map[string]any{"formatted": "1 Main St"}, true},
		{"address", map[string]any{"country": "FR"}, map[string]any{"country": "FR"}, true},
		{"locale", float64(3), "3", true},
		{"name", []any{"x"}, nil, false},
	} {
		got, ok := claimValue(c.claim, c.in)
		if ok != c.ok || (ok && !reflect.DeepEqual(got, c.want)) {
			t.Errorf("claimValue(%s, %#v) = %#v %v, want %#v %v", c.claim, c.in, got, ok, c.want, c.ok)
		}
	}
}

// TestClaimMapping: the configured mapping is merged over the defaults;
// an empty property drops the claim.
func TestClaimMapping(t *testing.T) {
	m := claimMapping(map[string]string{"email": "mail", "picture": ""})
	if m["email"] != "mail" || m["given_name"] != "firstname" || m["name"] != "fullname" {
		t.Errorf("mapping %v", m)
	}
	if _, ok := m["picture"]; ok {
		t.Error("an empty property did not drop the claim")
	}
	u := &store.User{ID: "u1", Username: "al", Firstname: "Al", Lastname: "B", UpdatedAt: time.Unix(100, 0)}
	if userProperty(u, "fullname") != "Al B" || userProperty(u, "updatedAt") != int64(100) || userProperty(u, "missing") != nil {
		t.Error("userProperty")
	}
}
