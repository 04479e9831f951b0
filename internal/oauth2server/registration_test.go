package oauth2server

import (
	"context"
	"net/url"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// A client's registered token_endpoint_auth_method and grant_types bind
// the token endpoint (Dynamic Client Registration 1.0 §2): each row tries
// to get around one of them, or checks that an unregistered client keeps
// Express Gateway's behaviour.
func TestTokenEndpointHonoursRegistration(t *testing.T) {
	cc := url.Values{"grant_type": {"client_credentials"}}
	for _, tc := range []struct {
		name      string
		meta      store.ClientMetadata
		form      url.Values
		basic     bool // HTTP Basic, else client_id and client_secret in the body
		status    int
		errorCode string
	}{
		{"unregistered: Basic", store.ClientMetadata{}, cc, true, 200, ""},
		{"unregistered: body", store.ClientMetadata{}, cc, false, 200, ""},
		{"basic registered, Basic used", store.ClientMetadata{TokenEndpointAuthMethod: "client_secret_basic"}, cc, true, 200, ""},
		{"basic registered, secret in the body", store.ClientMetadata{TokenEndpointAuthMethod: "client_secret_basic"}, cc, false, 401, "invalid_client"},
		{"post registered, Basic used", store.ClientMetadata{TokenEndpointAuthMethod: "client_secret_post"}, cc, true, 401, "invalid_client"},
		{"post registered, body used", store.ClientMetadata{TokenEndpointAuthMethod: "client_secret_post"}, cc, false, 200, ""},
		{"grant registered", store.ClientMetadata{GrantTypes: []string{"client_credentials"}}, cc, true, 200, ""},
		{"grant not registered", store.ClientMetadata{GrantTypes: []string{"authorization_code"}}, cc, true, 400, "unauthorized_client"},
		{"password grant not registered", store.ClientMetadata{GrantTypes: []string{"client_credentials"}},
			url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password"}}, true, 400, "unauthorized_client"},
		{"refresh not registered", store.ClientMetadata{GrantTypes: []string{"authorization_code"}},
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, true, 400, "unauthorized_client"},
		{"unknown grant still unsupported", store.ClientMetadata{GrantTypes: []string{"client_credentials"}},
			url.Values{"grant_type": {"urn:example:nope"}}, true, 400, "unsupported_grant_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			if _, err := f.s.SetClientMetadata(context.Background(), f.web.ID, tc.meta); err != nil {
				t.Fatal(err)
			}
			form := url.Values{}
			for k, v := range tc.form {
				form[k] = v
			}
			id, secret := f.web.ID, f.webSecret
			if !tc.basic {
				form.Set("client_id", id)
				form.Set("client_secret", secret)
				id, secret = "", ""
			}
			rec, m := post(t, f.srv, "/oauth2/token", form, id, secret)
			if rec.Code != tc.status || (tc.errorCode != "" && m["error"] != tc.errorCode) {
				t.Fatalf("token = %d %v, want %d %s", rec.Code, m, tc.status, tc.errorCode)
			}
		})
	}
}

// A public client registered as such (none) authenticates with client_id
// alone; registered for a secret method, it cannot get in without one.
func TestTokenEndpointPublicClientMethod(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	if _, err := f.s.SetClientMetadata(ctx, f.spa.ID, store.ClientMetadata{TokenEndpointAuthMethod: "client_secret_basic"}); err == nil {
		// The store may refuse a secret method for a client without a
		// secret; if it does, there is nothing to get around here.
		rec, m := post(t, f.srv, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {f.spa.ID}}, "", "")
		if rec.Code != 401 || m["error"] != "invalid_client" {
			t.Fatalf("public client registered for client_secret_basic, without a secret = %d %v, want 401 invalid_client", rec.Code, m)
		}
	}
}
