package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// testConsents checks remembered consent (OpenID Connect Core 1.0
// §3.1.2.4): the union of the scopes a user allowed a client, listed by
// user, by client and overall, revoked with the client's tokens for that
// user only, and gone with the user or the application.
func testConsents(t *testing.T, nb NewBackend) {
	s, clk := open(t, nb)
	ctx := context.Background()
	alice, bob := newUser(t, s, "alice"), newUser(t, s, "bob")
	owner := newUser(t, s, "owner")
	web, err := s.CreateApp(ctx, store.App{UserID: owner.ID, Name: "web"})
	must(t, err)
	cli, err := s.CreateApp(ctx, store.App{UserID: owner.ID, Name: "cli"})
	must(t, err)

	if _, err := s.GetConsent(ctx, alice.ID, web.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetConsent before any: %v, want ErrNotFound", err)
	}
	must(t, s.GrantConsent(ctx, alice.ID, web.ID, []string{"openid", "profile"}))
	clk.advance(time.Second)
	must(t, s.GrantConsent(ctx, alice.ID, web.ID, []string{"email", "openid"}))
	c, err := s.GetConsent(ctx, alice.ID, web.ID)
	must(t, err)
	if !slices.Equal(c.Scopes, []string{"email", "openid", "profile"}) || c.UserID != alice.ID || c.ClientID != web.ID {
		t.Errorf("consent after two grants = %+v, want the union email openid profile", c)
	}
	if !c.UpdatedAt.After(c.CreatedAt) {
		t.Errorf("second grant kept updatedAt %v (created %v)", c.UpdatedAt, c.CreatedAt)
	}
	if !c.Covers([]string{"openid", "email"}) || c.Covers([]string{"openid", "phone"}) {
		t.Errorf("Covers: %v", c.Scopes)
	}
	must(t, s.GrantConsent(ctx, alice.ID, cli.ID, []string{"openid"}))
	must(t, s.GrantConsent(ctx, bob.ID, web.ID, []string{"openid"}))

	if err := s.GrantConsent(ctx, "no-such-user", web.ID, []string{"openid"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("consent of an unknown user: %v, want ErrInvalid", err)
	}
	if err := s.GrantConsent(ctx, alice.ID, "no-such-client", []string{"openid"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("consent to an unknown client: %v, want ErrInvalid", err)
	}
	if err := s.GrantConsent(ctx, alice.ID, web.ID, []string{"bad scope"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("consent with a bad scope name: %v, want ErrInvalid", err)
	}

	pairs := func(f store.ConsentFilter) []string {
		t.Helper()
		list, err := s.ListConsents(ctx, f)
		must(t, err)
		var out []string
		for _, c := range list {
			out = append(out, c.UserID+"/"+c.ClientID)
		}
		return out
	}
	wantPairs := func(what string, f store.ConsentFilter, want ...string) {
		t.Helper()
		slices.Sort(want)
		got := pairs(f)
		if !slices.Equal(got, want) {
			t.Errorf("%s: ListConsents = %v, want %v", what, got, want)
		}
	}
	wantPairs("all", store.ConsentFilter{}, alice.ID+"/"+web.ID, alice.ID+"/"+cli.ID, bob.ID+"/"+web.ID)
	wantPairs("by user", store.ConsentFilter{UserID: alice.ID}, alice.ID+"/"+web.ID, alice.ID+"/"+cli.ID)
	wantPairs("by client", store.ConsentFilter{ClientID: web.ID}, alice.ID+"/"+web.ID, bob.ID+"/"+web.ID)
	wantPairs("by both", store.ConsentFilter{UserID: bob.ID, ClientID: web.ID}, bob.ID+"/"+web.ID)
	wantPairs("by both, none", store.ConsentFilter{UserID: bob.ID, ClientID: cli.ID})

	// Tokens: alice's refresh and access tokens for web go with the
	// consent; hers for cli and bob's for web stay.
	save := func(kind, user, client, family string) *store.Token {
		var tok store.Token
		store.NewToken(&tok)
		tok.Kind, tok.ConsumerID, tok.AuthenticatedUserID, tok.FamilyID = kind, client, user, family
		tok.CreatedAt, tok.ExpiresAt = clk.now(), clk.now().Add(time.Hour)
		must(t, s.SaveToken(ctx, &tok))
		return &tok
	}
	aRefresh := save(store.RefreshToken, alice.ID, web.ID, "fa")
	aAccess := save(store.AccessToken, alice.ID, web.ID, "fa")
	aRefresh2 := save(store.RefreshToken, alice.ID, web.ID, "fb")
	aCLI := save(store.RefreshToken, alice.ID, cli.ID, "fc")
	bWeb := save(store.RefreshToken, bob.ID, web.ID, "fd")

	n, err := s.RevokeConsent(ctx, alice.ID, web.ID)
	must(t, err)
	if n != 2 {
		t.Errorf("RevokeConsent revoked %d refresh tokens, want 2", n)
	}
	for _, tok := range []*store.Token{aRefresh, aAccess, aRefresh2} {
		if got, err := s.GetToken(ctx, tok.ID); err != nil || !got.Revoked {
			t.Errorf("%s token of the revoked consent: revoked=%v, %v", tok.Kind, got != nil && got.Revoked, err)
		}
	}
	for _, tok := range []*store.Token{aCLI, bWeb} {
		if got, err := s.GetToken(ctx, tok.ID); err != nil || got.Revoked {
			t.Errorf("token of another consent was revoked: %+v, %v", got, err)
		}
	}
	// A refresh of the revoked grant in flight is refused (the family's
	// tombstone), as after RevokeFamily.
	late := store.Token{Kind: store.AccessToken, ConsumerID: web.ID, AuthenticatedUserID: alice.ID, FamilyID: "fa", ParentID: aRefresh.ID,
		CreatedAt: clk.now(), ExpiresAt: clk.now().Add(time.Hour)}
	store.NewToken(&late)
	if err := s.SaveToken(ctx, &late); !errors.Is(err, store.ErrGrantRevoked) {
		t.Errorf("token saved into the revoked consent's family: %v, want ErrGrantRevoked", err)
	}
	if _, err := s.GetConsent(ctx, alice.ID, web.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetConsent after revocation: %v, want ErrNotFound", err)
	}
	wantPairs("all after revocation", store.ConsentFilter{}, alice.ID+"/"+cli.ID, bob.ID+"/"+web.ID)
	if _, err := s.RevokeConsent(ctx, alice.ID, web.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second RevokeConsent: %v, want ErrNotFound", err)
	}

	// Cascades: deleting the user takes hers, deleting the app takes its.
	must(t, s.GrantConsent(ctx, alice.ID, web.ID, []string{"openid"}))
	must(t, s.DeleteUser(ctx, alice.ID))
	wantPairs("after deleting alice", store.ConsentFilter{}, bob.ID+"/"+web.ID)
	wantPairs("alice's after deleting her", store.ConsentFilter{UserID: alice.ID})
	if _, err := s.GetConsent(ctx, alice.ID, cli.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("consent of a deleted user: %v", err)
	}
	must(t, s.DeleteApp(ctx, web.ID))
	wantPairs("after deleting web", store.ConsentFilter{})
	wantPairs("web's after deleting it", store.ConsentFilter{ClientID: web.ID})
	if _, err := s.GetConsent(ctx, bob.ID, web.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("consent to a deleted app: %v", err)
	}
}

// testClientMetadata checks that an oauth2 credential's OpenID Connect
// registration round-trips through the backend, is replaced by
// SetClientMetadata, and that a bad value writes nothing.
func testClientMetadata(t *testing.T, nb NewBackend) {
	s, _ := open(t, nb)
	ctx := context.Background()
	u := newUser(t, s, "rp-owner")
	a, err := s.CreateApp(ctx, store.App{UserID: u.ID, Name: "rp", RedirectURI: "https://rp.example/cb"})
	must(t, err)
	m := store.ClientMetadata{
		PostLogoutRedirectURIs:           []string{"https://rp.example/bye", "http://127.0.0.1:8080/bye"},
		BackchannelLogoutURI:             "https://rp.example/backchannel",
		BackchannelLogoutSessionRequired: true,
		SubjectType:                      store.SubjectPairwise,
		IDTokenSignedResponseAlg:         "ES256",
		TokenEndpointAuthMethod:          store.AuthClientSecretPost,
		GrantTypes:                       []string{store.GrantAuthorizationCode, store.GrantRefreshToken},
		ResponseTypes:                    []string{"code"},
	}
	c, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: a.ID, Type: store.OAuth2, Client: m})
	must(t, err)
	s2 := s // its writes drop its cache: reads decode what the backend holds
	got, err := s2.GetCredential(ctx, store.OAuth2, a.ID)
	must(t, err)
	if !equalMetadata(got.ClientMetadata, m) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got.ClientMetadata, m)
	}
	if !got.AllowsGrant(store.GrantRefreshToken) || got.AllowsGrant(store.GrantPassword) ||
		!got.AllowsAuthMethod(store.AuthClientSecretPost) || got.AllowsAuthMethod(store.AuthClientSecretBasic) ||
		!got.AllowsResponseType("code") || got.AllowsResponseType("code id_token") || got.IDTokenAlg() != "ES256" || !got.Pairwise() {
		t.Errorf("helpers disagree with the registration %+v", got.ClientMetadata)
	}

	bad := m
	bad.PostLogoutRedirectURIs = []string{"http://rp.example/bye"}
	if _, err := s.SetClientMetadata(ctx, a.ID, bad); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SetClientMetadata with plain http: %v, want ErrInvalid", err)
	}
	if got, _ := s2.GetCredential(ctx, store.OAuth2, a.ID); !equalMetadata(got.ClientMetadata, m) {
		t.Errorf("a refused update changed the record: %+v", got.ClientMetadata)
	}
	next := store.ClientMetadata{ResponseTypes: []string{"id_token code"}}
	upd, err := s.SetClientMetadata(ctx, a.ID, next)
	must(t, err)
	if upd.Rev == c.Rev || !slices.Equal(upd.ResponseTypes, []string{"code id_token"}) || upd.SubjectType != "" || upd.IDTokenAlg() != "RS256" {
		t.Errorf("SetClientMetadata replaces every field and normalises: %+v (rev %d, was %d)", upd.ClientMetadata, upd.Rev, c.Rev)
	}
	if got, _ := s2.GetCredential(ctx, store.OAuth2, a.ID); !slices.Equal(got.ResponseTypes, []string{"code id_token"}) || len(got.GrantTypes) != 0 {
		t.Errorf("update not stored: %+v", got.ClientMetadata)
	}
	if _, err := s.SetClientMetadata(ctx, "nobody", next); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetClientMetadata of an unknown client: %v", err)
	}
	// A public client registered with token_endpoint_auth_method none
	// gets no secret by rotation.
	pub, err := s.CreateApp(ctx, store.App{UserID: u.ID, Name: "spa", RedirectURI: "https://spa.example/cb"})
	must(t, err)
	no := false
	_, _, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: pub.ID, Type: store.OAuth2, AutoGeneratePassword: &no,
		Client: store.ClientMetadata{TokenEndpointAuthMethod: store.AuthNone}})
	must(t, err)
	if _, _, err := s.RotateSecret(ctx, store.OAuth2, pub.ID, ""); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("RotateSecret of a client registered as public: %v, want ErrInvalid", err)
	}
	if got, _ := s.GetCredential(ctx, store.OAuth2, pub.ID); got == nil || !got.Public() {
		t.Errorf("the refused rotation gave the public client a secret")
	}
	// Not for the other types.
	if _, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.BasicAuth,
		Client: store.ClientMetadata{SubjectType: store.SubjectPublic}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("client fields on basic-auth: %v, want ErrInvalid", err)
	}
}

func equalMetadata(x, y store.ClientMetadata) bool {
	return slices.Equal(x.PostLogoutRedirectURIs, y.PostLogoutRedirectURIs) && x.BackchannelLogoutURI == y.BackchannelLogoutURI &&
		x.BackchannelLogoutSessionRequired == y.BackchannelLogoutSessionRequired && x.SubjectType == y.SubjectType &&
		x.SectorIdentifierURI == y.SectorIdentifierURI && x.IDTokenSignedResponseAlg == y.IDTokenSignedResponseAlg &&
		x.TokenEndpointAuthMethod == y.TokenEndpointAuthMethod && slices.Equal(x.GrantTypes, y.GrantTypes) &&
		slices.Equal(x.ResponseTypes, y.ResponseTypes)
}
