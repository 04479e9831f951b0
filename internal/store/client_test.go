package store_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestCheckClientMetadata: every rule of the OpenID Connect client
// registration (Dynamic Client Registration 1.0 §2, RP-Initiated Logout
// 1.0 §3.1, Back-Channel Logout 1.0 §2.2, Core §8.1), each tried with a
// value that tries to get around it. field is the field the error names,
// want a part of its message.
func TestCheckClientMetadata(t *testing.T) {
	plo := func(u ...string) store.ClientMetadata { return store.ClientMetadata{PostLogoutRedirectURIs: u} }
	bcl := func(u string) store.ClientMetadata { return store.ClientMetadata{BackchannelLogoutURI: u} }
	for _, tt := range []struct {
		name   string
		m      store.ClientMetadata
		public bool
		field  string
		want   string
	}{
		{"post-logout fragment", plo("https://rp.example/bye#x"), false, "post_logout_redirect_uris", "fragment"},
		{"post-logout empty fragment", plo("https://rp.example/bye#"), false, "post_logout_redirect_uris", "fragment"},
		{"post-logout plain http", plo("http://rp.example/bye"), false, "post_logout_redirect_uris", "must use https://"},
		{"post-logout http on a loopback-looking name", plo("http://127.0.0.1.rp.example/bye"), false, "post_logout_redirect_uris", "must use https://"},
		{"post-logout http with loopback as user", plo("http://localhost@rp.example/bye"), false, "post_logout_redirect_uris", "user name"},
		{"post-logout userinfo on https", plo("https://user:pw@rp.example/bye"), false, "post_logout_redirect_uris", "user name"},
		{"post-logout mixed-case scheme", plo("HTTPS://rp.example/bye"), false, "post_logout_redirect_uris", "in lowercase"},
		{"post-logout mixed-case http", plo("Http://127.0.0.1/bye"), false, "post_logout_redirect_uris", "in lowercase"},
		{"post-logout relative", plo("/bye"), false, "post_logout_redirect_uris", "absolute URI"},
		{"post-logout no host", plo("https:///bye"), false, "post_logout_redirect_uris", "with a host"},
		{"post-logout javascript", plo("javascript:alert(1)"), false, "post_logout_redirect_uris", "absolute URI starting with"},
		{"post-logout private scheme", plo("com.example.app:/bye"), false, "post_logout_redirect_uris", "absolute URI starting with"},
		{"post-logout wildcard", plo("https://*.rp.example/bye"), false, "post_logout_redirect_uris", "wildcard"},
		{"post-logout backslash", plo(`https://rp.example\@evil.example/`), false, "post_logout_redirect_uris", "backslash"},
		{"post-logout space", plo("https://rp.example/b ye"), false, "post_logout_redirect_uris", "spaces"},
		{"post-logout empty", plo(""), false, "post_logout_redirect_uris", "must not be empty"},
		{"post-logout second bad", plo("https://rp.example/ok", "http://rp.example/bye"), false, "post_logout_redirect_uris", "must use https://"},
		{"back-channel fragment", bcl("https://rp.example/bc#f"), false, "backchannel_logout_uri", "fragment"},
		{"back-channel plain http", bcl("http://rp.example/bc"), false, "backchannel_logout_uri", "must use https://"},
		{"back-channel userinfo", bcl("https://a:b@rp.example/bc"), false, "backchannel_logout_uri", "user name"},
		{"back-channel mixed case", bcl("hTTps://rp.example/bc"), false, "backchannel_logout_uri", "in lowercase"},
		{"back-channel session without uri", store.ClientMetadata{BackchannelLogoutSessionRequired: true}, false, "backchannel_logout_session_required", "needs a backchannel_logout_uri"},
		{"sector identifier http on loopback", store.ClientMetadata{SectorIdentifierURI: "http://127.0.0.1/s.json"}, false, "sector_identifier_uri", "must use https://"},
		{"sector identifier fragment", store.ClientMetadata{SectorIdentifierURI: "https://rp.example/s.json#a"}, false, "sector_identifier_uri", "fragment"},
		{"unknown subject_type", store.ClientMetadata{SubjectType: "Pairwise"}, false, "subject_type", "not supported"},
		{"subject_type blank", store.ClientMetadata{SubjectType: " "}, false, "subject_type", "not supported"},
		{"alg none", store.ClientMetadata{IDTokenSignedResponseAlg: "none"}, false, "id_token_signed_response_alg", "not supported"},
		{"alg HS256", store.ClientMetadata{IDTokenSignedResponseAlg: "HS256"}, false, "id_token_signed_response_alg", "not supported"},
		{"alg lowercase", store.ClientMetadata{IDTokenSignedResponseAlg: "rs256"}, false, "id_token_signed_response_alg", "not supported"},
		{"unknown auth method", store.ClientMetadata{TokenEndpointAuthMethod: "private_key_jwt"}, false, "token_endpoint_auth_method", "not supported"},
		{"auth none with a secret", store.ClientMetadata{TokenEndpointAuthMethod: store.AuthNone}, false, "token_endpoint_auth_method", "public clients"},
		{"secret auth on a public client", store.ClientMetadata{TokenEndpointAuthMethod: store.AuthClientSecretBasic}, true, "token_endpoint_auth_method", "needs a client secret"},
		{"unknown grant", store.ClientMetadata{GrantTypes: []string{"authorization_code", "urn:x"}}, false, "grant_types", "not supported"},
		{"unknown response type", store.ClientMetadata{ResponseTypes: []string{"code", "code idtoken"}}, false, "response_types", "unknown response type"},
		{"response type repeated word", store.ClientMetadata{ResponseTypes: []string{"code code"}}, false, "response_types", "unknown response type"},
		{"response type none combined", store.ClientMetadata{ResponseTypes: []string{"none code"}}, false, "response_types", "unknown response type"},
		{"response type empty", store.ClientMetadata{ResponseTypes: []string{""}}, false, "response_types", "unknown response type"},
		{"code without authorization_code", store.ClientMetadata{GrantTypes: []string{"implicit"}, ResponseTypes: []string{"code id_token"}}, false, "grant_types", "needs grant type authorization_code"},
		{"id_token without implicit", store.ClientMetadata{GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code id_token"}}, false, "grant_types", "needs grant type implicit"},
		{"token without implicit", store.ClientMetadata{GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code", "token"}}, false, "grant_types", "needs grant type implicit"},
		{"implicit without its response type", store.ClientMetadata{GrantTypes: []string{"authorization_code", "implicit"}, ResponseTypes: []string{"code"}}, false, "response_types", "grant type implicit"},
		{"authorization_code without code", store.ClientMetadata{GrantTypes: []string{"authorization_code", "implicit"}, ResponseTypes: []string{"id_token"}}, false, "response_types", "grant type authorization_code"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.m
			err := store.CheckClientMetadata(store.OAuth2, &m, tt.public, nil, "https://rp.example/cb")
			var se *store.Error
			if !errors.As(err, &se) || !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("accepted (or not an invalid-field error): %v", err)
			}
			if se.Field != tt.field || !strings.Contains(se.Msg, tt.want) {
				t.Errorf("error field %q %q, want field %q containing %q", se.Field, se.Msg, tt.field, tt.want)
			}
		})
	}
}

// TestCheckClientMetadataAccepts: what the rules must let through, and
// how they normalise it.
func TestCheckClientMetadataAccepts(t *testing.T) {
	for _, tt := range []struct {
		name   string
		m      store.ClientMetadata
		public bool
	}{
		{"absent: Express Gateway's behaviour", store.ClientMetadata{}, false},
		{"post-logout https and loopback http", store.ClientMetadata{PostLogoutRedirectURIs: []string{
			"https://rp.example/bye?x=1", "http://127.0.0.1:9000/bye", "http://[::1]/bye", "http://localhost/bye"}}, false},
		{"back-channel on loopback http", store.ClientMetadata{BackchannelLogoutURI: "http://127.0.0.1:8081/bc", BackchannelLogoutSessionRequired: true}, false},
		{"pairwise on one host", store.ClientMetadata{SubjectType: store.SubjectPairwise}, false},
		{"every alg", store.ClientMetadata{IDTokenSignedResponseAlg: "EdDSA"}, false},
		{"public client with none", store.ClientMetadata{TokenEndpointAuthMethod: store.AuthNone}, true},
		{"confidential client with post", store.ClientMetadata{TokenEndpointAuthMethod: store.AuthClientSecretPost}, false},
		{"hybrid", store.ClientMetadata{GrantTypes: []string{"authorization_code", "implicit", "refresh_token"}, ResponseTypes: []string{"code id_token", "code"}}, false},
		{"response types without grant types", store.ClientMetadata{ResponseTypes: []string{"id_token token"}}, false},
		{"client credentials only", store.ClientMetadata{GrantTypes: []string{"client_credentials"}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.m
			if err := store.CheckClientMetadata(store.OAuth2, &m, tt.public, nil, "https://rp.example/cb"); err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}
	m := store.ClientMetadata{ResponseTypes: []string{"token id_token", "id_token token", "code"}, GrantTypes: []string{"implicit", "implicit", "authorization_code"}}
	if err := store.CheckClientMetadata(store.OAuth2, &m, false, nil, ""); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.ResponseTypes, []string{"id_token token", "code"}) || !slices.Equal(m.GrantTypes, []string{"implicit", "authorization_code"}) {
		t.Errorf("normalised to %q, %q", m.ResponseTypes, m.GrantTypes)
	}
}

// TestPairwiseNeedsSectorIdentifier: Core §8.1: redirect URIs on several
// hosts need a sector_identifier_uri, whose host then is the sector.
func TestPairwiseNeedsSectorIdentifier(t *testing.T) {
	uris := []string{"https://b.example/cb"}
	m := store.ClientMetadata{SubjectType: store.SubjectPairwise}
	err := store.CheckClientMetadata(store.OAuth2, &m, false, uris, "https://a.example/cb")
	if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "sector_identifier_uri") {
		t.Fatalf("pairwise on two hosts without a sector identifier: %v", err)
	}
	m.SectorIdentifierURI = "https://sector.example/uris.json"
	if err := store.CheckClientMetadata(store.OAuth2, &m, false, uris, "https://a.example/cb"); err != nil {
		t.Fatal(err)
	}
	c := store.Credential{Type: store.OAuth2, RedirectURIs: uris, ClientMetadata: m}
	if h, ok := c.SectorIdentifier("https://a.example/cb"); !ok || h != "sector.example" {
		t.Errorf("SectorIdentifier = %q, %v", h, ok)
	}
	c.SectorIdentifierURI = ""
	c.RedirectURIs = []string{"https://a.example/other"}
	if h, ok := c.SectorIdentifier("https://a.example/cb"); !ok || h != "a.example" {
		t.Errorf("SectorIdentifier from the redirect URIs = %q, %v", h, ok)
	}
}

// TestClientHelpers: what the authorization server asks of a
// registration; absent fields allow what Gatehouse allowed before.
func TestClientHelpers(t *testing.T) {
	var legacy store.Credential
	for _, g := range store.GrantTypes {
		if !legacy.AllowsGrant(g) {
			t.Errorf("a client without grant_types refused %s", g)
		}
	}
	for _, m := range store.TokenAuthMethods {
		if !legacy.AllowsAuthMethod(m) {
			t.Errorf("a client without token_endpoint_auth_method refused %s", m)
		}
	}
	for _, rt := range []string{"code", "token", "id_token", "code id_token", "id_token code token", "none"} {
		if !legacy.AllowsResponseType(rt) {
			t.Errorf("a client without response_types refused %q", rt)
		}
	}
	if legacy.AllowsResponseType("code bogus") || legacy.AllowsResponseType("") {
		t.Error("an unknown response type was allowed")
	}
	if legacy.IDTokenAlg() != "RS256" || legacy.Pairwise() {
		t.Errorf("defaults: alg %s pairwise %v", legacy.IDTokenAlg(), legacy.Pairwise())
	}
	codeOnly := store.Credential{ClientMetadata: store.ClientMetadata{GrantTypes: []string{"authorization_code", "refresh_token"}}}
	for rt, want := range map[string]bool{"code": true, "token": false, "id_token": false, "code id_token": false} {
		if got := codeOnly.AllowsResponseType(rt); got != want {
			t.Errorf("grant_types authorization_code: AllowsResponseType(%q) = %v, want %v", rt, got, want)
		}
	}
	hybrid := store.Credential{ClientMetadata: store.ClientMetadata{ResponseTypes: []string{"code id_token"}}}
	if !hybrid.AllowsResponseType("id_token code") || hybrid.AllowsResponseType("code") {
		t.Error("response_types must be compared as sets of words, and only those registered allowed")
	}
}
