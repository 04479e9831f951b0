package admin

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestConsents: the operator lists remembered consents (all, by user, by
// client) and revokes one, which revokes that client's refresh tokens for
// the user and says how many (issue #15).
func TestConsents(t *testing.T) {
	e := newEnv(t, nil, Options{APIKey: "k"})
	e.hdr.Set("X-Admin-Key", "k")
	ctx := context.Background()
	ann := e.mustUser("ann")["id"].(string)
	bob := e.mustUser("bob")["id"].(string)
	web := e.mustApp(ann, "web")["id"].(string)
	if err := e.s.GrantConsent(ctx, ann, web, []string{"openid", "email"}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.GrantConsent(ctx, bob, web, []string{"openid"}); err != nil {
		t.Fatal(err)
	}
	var rt store.Token
	store.NewToken(&rt)
	rt.Kind, rt.ConsumerID, rt.AuthenticatedUserID, rt.ExpiresAt = store.RefreshToken, web, ann, time.Now().Add(time.Hour)
	if err := e.s.SaveToken(ctx, &rt); err != nil {
		t.Fatal(err)
	}

	list := func(path string) []map[string]any {
		t.Helper()
		r := e.do("GET", path, nil)
		e.want(r, http.StatusOK, "", "", "")
		var out []map[string]any
		for _, c := range r.obj(t)["consents"].([]any) {
			out = append(out, c.(map[string]any))
		}
		return out
	}
	if got := list("/consents"); len(got) != 2 {
		t.Errorf("GET /consents: %d consents, want 2", len(got))
	}
	got := list("/consents?userId=ann&clientId=" + web)
	if len(got) != 1 || got[0]["userId"] != ann || got[0]["clientId"] != web {
		t.Fatalf("GET /consents by user name and client: %v", got)
	}
	if sc := got[0]["scopes"].([]any); !slices.Equal(sc, []any{"email", "openid"}) {
		t.Errorf("scopes %v", sc)
	}
	r := e.do("GET", "/users/ann/consents", nil)
	if keys := r.keys(t); len(keys) != 1 || keys[0] != "consents" {
		t.Errorf("GET /users/ann/consents keys %v", keys)
	}
	if got := list("/users/" + bob + "/consents"); len(got) != 1 || got[0]["userId"] != bob {
		t.Errorf("GET /users/bob/consents: %v", got)
	}
	if got := list("/consents?clientId=" + web); len(got) != 2 {
		t.Errorf("GET /consents?clientId: %v", got)
	}
	e.want(e.do("GET", "/consents?userId=nobody", nil), http.StatusNotFound, "not_found", "", "")
	e.want(e.do("GET", "/users/nobody/consents", nil), http.StatusNotFound, "not_found", "", "")

	r = e.do("DELETE", "/users/ann/consents/"+web, nil)
	e.want(r, http.StatusOK, "", "", "")
	if m := r.obj(t); m["revokedRefreshTokens"] != float64(1) || m["revoked"] != true || m["clientId"] != web || m["userId"] != ann {
		t.Errorf("DELETE answer %s", r.body)
	}
	if tok, err := e.s.GetToken(ctx, rt.ID); err != nil || !tok.Revoked {
		t.Errorf("refresh token of the revoked consent: %+v %v", tok, err)
	}
	if got := list("/consents"); len(got) != 1 || got[0]["userId"] != bob {
		t.Errorf("after revocation: %v", got)
	}
	e.want(e.do("DELETE", "/users/ann/consents/"+web, nil), http.StatusNotFound, "not_found", "", "")
	e.want(e.do("DELETE", "/users/nobody/consents/"+web, nil), http.StatusNotFound, "not_found", "", "")

	// The same key as every route.
	e.hdr.Del("X-Admin-Key")
	e.want(e.do("GET", "/consents", nil), http.StatusUnauthorized, "unauthorized", "", "")
	e.want(e.do("DELETE", "/users/bob/consents/"+web, nil), http.StatusUnauthorized, "unauthorized", "", "")
}

// TestClientRegistration: POST /credentials and PUT .../client take the
// OpenID Connect registration fields, answer them back, and refuse a bad
// value with a 400 naming the field.
func TestClientRegistration(t *testing.T) {
	e := newEnv(t, nil, Options{})
	ann := e.mustUser("ann")["id"].(string)
	app := e.mustApp(ann, "rp")["id"].(string)
	for _, tt := range []struct {
		name  string
		cred  map[string]any
		field string
	}{
		{"post-logout plain http", map[string]any{"post_logout_redirect_uris": []string{"http://rp.example/bye"}}, "credential.post_logout_redirect_uris"},
		{"back-channel fragment", map[string]any{"backchannel_logout_uri": "https://rp.example/bc#x"}, "credential.backchannel_logout_uri"},
		{"subject type", map[string]any{"subject_type": "secret"}, "credential.subject_type"},
		{"alg none", map[string]any{"id_token_signed_response_alg": "none"}, "credential.id_token_signed_response_alg"},
		{"auth method", map[string]any{"token_endpoint_auth_method": "client_secret_jwt"}, "credential.token_endpoint_auth_method"},
		{"inconsistent", map[string]any{"grant_types": []string{"implicit"}, "response_types": []string{"code"}}, "credential.grant_types"},
		{"wrong JSON type", map[string]any{"backchannel_logout_session_required": "yes"}, "credential.backchannel_logout_session_required"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("POST", "/credentials", map[string]any{"consumerId": app, "type": "oauth2", "credential": tt.cred})
			e.want(r, http.StatusBadRequest, "bad_request", tt.field, "")
		})
	}
	r := e.do("POST", "/credentials", map[string]any{"consumerId": app, "type": "oauth2", "credential": map[string]any{
		"post_logout_redirect_uris": []string{"https://rp.example/bye"}, "backchannel_logout_uri": "https://rp.example/bc",
		"backchannel_logout_session_required": true, "subject_type": "pairwise", "id_token_signed_response_alg": "EdDSA",
		"token_endpoint_auth_method": "client_secret_basic", "grant_types": []string{"authorization_code", "refresh_token"},
		"response_types": []string{"code"},
	}})
	e.want(r, http.StatusOK, "", "", "")
	m := r.obj(t)
	if m["subject_type"] != "pairwise" || m["id_token_signed_response_alg"] != "EdDSA" || m["backchannel_logout_session_required"] != true ||
		!slices.Equal(m["grant_types"].([]any), []any{"authorization_code", "refresh_token"}) {
		t.Errorf("created credential %s", r.body)
	}
	c, err := e.s.GetCredential(context.Background(), store.OAuth2, app)
	if err != nil || c.TokenEndpointAuthMethod != store.AuthClientSecretBasic || !slices.Equal(c.PostLogoutRedirectURIs, []string{"https://rp.example/bye"}) {
		t.Fatalf("stored %+v %v", c, err)
	}

	path := "/credentials/oauth2/" + app + "/client"
	e.want(e.do("PUT", path, map[string]any{"post_logout_redirect_uris": []string{"https://rp.example/bye#f"}}),
		http.StatusBadRequest, "bad_request", "post_logout_redirect_uris", "")
	e.want(e.do("PUT", path, map[string]any{"redirectUris": []string{"https://rp.example/cb"}}), http.StatusBadRequest, "bad_request", "redirectUris", "")
	e.want(e.do("PUT", path, map[string]any{"grant_types": "password", "subject_type": 3}), http.StatusBadRequest, "bad_request", "subject_type", "")
	e.want(e.do("PUT", "/credentials/key-auth/x/client", map[string]any{}), http.StatusBadRequest, "bad_request", "type", "")
	e.want(e.do("PUT", "/credentials/oauth2/nobody/client", map[string]any{}), http.StatusNotFound, "not_found", "", "")
	if c2, _ := e.s.GetCredential(context.Background(), store.OAuth2, app); c2.Rev != c.Rev {
		t.Errorf("a refused PUT changed the credential")
	}
	r = e.do("PUT", path, map[string]any{"grant_types": "client_credentials"})
	e.want(r, http.StatusOK, "", "", "")
	if m := r.obj(t); m["subject_type"] != nil || !slices.Equal(m["grant_types"].([]any), []any{"client_credentials"}) {
		t.Errorf("PUT replaces the whole registration: %s", r.body)
	}
}
