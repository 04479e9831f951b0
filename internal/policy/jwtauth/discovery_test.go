package jwtauth_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/policy/jwtauth"
)

// Tokens here are minted with go-jose (helpers_test.go) and verified with
// golang-jwt, as everywhere in this package.

// discoveryAction is a jwt action that discovers issuer's keys, in
// uncontrolled mode.
func discoveryAction(issuer, extra string) string {
	return "{issuer: '" + issuer + "', discover: true, checkCredentialExistence: false" + extra + "}"
}

// TestDiscoveryVerifies: with discover, the policy reads the issuer's
// OpenID configuration (Discovery 1.0 §4, at the issuer less its
// terminating "/" plus /.well-known/openid-configuration), fetches its
// jwks_uri, and checks iss on every token against the issuer.
func TestDiscoveryVerifies(t *testing.T) {
	k := keys(t)
	for _, tc := range []struct {
		name, path string // the issuer's path, and where its document is
	}{
		{"host only, Auth0's trailing slash", "/"},
		{"a path (Keycloak's realms), no slash", "/realms/shop"},
		{"a path with a trailing slash", "/tenant/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := newIDP(t, jwksOf(t, jwk(&k.rsa.PublicKey, "k1", "RS256")))
			issuer := i.URL + tc.path
			i.setDiscovery(providerConfig(t, issuer, i.URL+"/keys/jwks.json"))
			p := newPolicy(t, discoveryAction(issuer, ""), jwksEnv())
			now := time.Now()
			for _, c := range []struct {
				name   string
				claims map[string]any
				status int
				reason string
			}{
				{"the issuer's token", claimsAt(now, "iss", issuer), 200, ""},
				{"another issuer", claimsAt(now, "iss", "https://evil.example/"), 401, "issuer_mismatch"},
				{"the issuer less its slash, or plus one", claimsAt(now, "iss", flipSlash(issuer)), 401, "issuer_mismatch"},
				{"no iss", claimsAt(now), 401, "issuer_mismatch"},
			} {
				tok := mint(t, jose.RS256, k.rsa, c.claims, map[string]any{"kid": "k1"})
				if r := serve(p, bearer(tok)); r.status != c.status || r.reason != c.reason {
					t.Errorf("%s: %d %q, want %d %q (%s)", c.name, r.status, r.reason, c.status, c.reason, r.body)
				}
			}
			want := strings.TrimSuffix(tc.path, "/") + "/.well-known/openid-configuration"
			if _, ok := i.discoveryPaths.Load(want); !ok || i.discoveries.Load() != 1 {
				var got []any
				i.discoveryPaths.Range(func(k, _ any) bool { got = append(got, k); return true })
				t.Errorf("discovery read %d times at %v, want once at %s", i.discoveries.Load(), got, want)
			}
			if n := i.fetches.Load(); n != 1 {
				t.Errorf("JWKS fetched %d times, want once", n)
			}
		})
	}
}

func flipSlash(s string) string {
	if strings.HasSuffix(s, "/") {
		return strings.TrimSuffix(s, "/")
	}
	return s + "/"
}

// TestDiscoveryDocumentChecked: a document that fails a check of
// Discovery 1.0 (§4.3 issuer identical, §3 jwks_uri present and https) or
// of size, status or time is not used: without keys, tokens get 503
// jwks_unavailable, and the cause says what is wrong.
func TestDiscoveryDocumentChecked(t *testing.T) {
	k := keys(t)
	for _, tc := range []struct {
		name  string
		setup func(i *idp, issuer string)
		want  string
	}{
		{"issuer differs by a trailing slash", func(i *idp, iss string) {
			i.setDiscovery(providerConfig(t, iss+"/", i.URL+"/jwks"))
		}, "is not the configured issuer"},
		{"issuer differs in case", func(i *idp, iss string) {
			i.setDiscovery(providerConfig(t, strings.ToUpper(iss), i.URL+"/jwks"))
		}, "is not the configured issuer"},
		{"no issuer", func(i *idp, iss string) {
			i.setDiscovery(providerConfig(t, iss, i.URL+"/jwks", "issuer", nil))
		}, "has no issuer"},
		{"no jwks_uri", func(i *idp, iss string) {
			i.setDiscovery(providerConfig(t, iss, i.URL+"/jwks", "jwks_uri", nil))
		}, "has no jwks_uri"},
		{"jwks_uri plain http off loopback", func(i *idp, iss string) {
			i.setDiscovery(providerConfig(t, iss, "http://keys.example.com/jwks"))
		}, `jwks_uri "http://keys.example.com/jwks" is not an https URL`},
		{"jwks_uri not a string", func(i *idp, iss string) {
			i.setDiscovery(providerConfig(t, iss, "", "jwks_uri", 7))
		}, "is not a JSON object with string issuer and jwks_uri"},
		{"not JSON", func(i *idp, iss string) { i.setDiscovery([]byte("<html>")) }, "is not a JSON object"},
		{"larger than 256 KiB", func(i *idp, iss string) {
			i.setDiscovery(providerConfig(t, iss, i.URL+"/jwks", "padding", strings.Repeat("x", 256<<10)))
		}, "the OpenID configuration is larger than 262144 bytes"},
		{"404", func(i *idp, iss string) {
			i.setDiscovery(providerConfig(t, iss, i.URL+"/jwks"))
			i.discoveryStatus.Store(http.StatusNotFound)
		}, "the OpenID configuration URI answered 404 Not Found"},
		{"slower than the timeout", func(i *idp, iss string) {
			i.setDiscovery(providerConfig(t, iss, i.URL+"/jwks"))
			i.discoveryDelay.Store(int64(2 * time.Second))
		}, "context deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := newIDP(t, jwksOf(t, jwk(&k.rsa.PublicKey, "k1", "RS256")))
			issuer := i.URL + "/tenant"
			tc.setup(i, issuer)
			ks, err := jwtauth.NewDiscoveredKeySet("", jwtauth.RemoteOptions{Issuer: issuer, Timeout: 200 * time.Millisecond,
				Client: &http.Client{}, Logger: discard()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(ks.Close)
			start := time.Now()
			err = ks.Refresh(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("refresh: %v, want an error containing %q", err, tc.want)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("the refresh took %v: the fetch timeout is 200ms", d)
			}
			if ks.Ready() || i.fetches.Load() != 0 {
				t.Errorf("keys fetched (%d) from a document that failed its checks", i.fetches.Load())
			}
			v, err := jwtauth.NewVerifier(jwtauth.Config{KeySet: ks, Issuers: []string{issuer}})
			if err != nil {
				t.Fatal(err)
			}
			tok := mint(t, jose.RS256, k.rsa, claimsAt(time.Now(), "iss", issuer), map[string]any{"kid": "k1"})
			if _, reason, _ := v.Verify(context.Background(), tok); reason != jwtauth.ReasonJWKSUnavailable {
				t.Errorf("a token without keys: %q, want jwks_unavailable", reason)
			}
		})
	}
}

// TestDiscoveryFollowsTheProvider: the document is read again whenever the
// keys are (on an unknown kid, within the cooldown, and every
// jwksRefreshInterval), so a provider that moves its jwks_uri is
// followed; when the document is unavailable, the last jwks_uri that
// passed the checks is fetched, so a key rotation is still picked up.
func TestDiscoveryFollowsTheProvider(t *testing.T) {
	k := keys(t)
	i := newIDP(t, jwksOf(t, jwk(&k.rsa.PublicKey, "k1", "RS256")))
	moved := newIDP(t, jwksOf(t, jwk(&k.rsa2.PublicKey, "k2", "RS256")))
	issuer := i.URL + "/"
	i.setDiscovery(providerConfig(t, issuer, i.URL+"/jwks"))
	p := newPolicy(t, discoveryAction(issuer, ", jwksCooldown: 1ms"), jwksEnv())
	now := time.Now()
	tok1 := mint(t, jose.RS256, k.rsa, claimsAt(now, "iss", issuer), map[string]any{"kid": "k1"})
	tok2 := mint(t, jose.RS256, k.rsa2, claimsAt(now, "iss", issuer), map[string]any{"kid": "k2"})
	if r := serve(p, bearer(tok1)); r.status != 200 {
		t.Fatalf("k1: %d %s", r.status, r.body)
	}

	// The provider moves its keys: the unknown kid re-reads the document.
	i.setDiscovery(providerConfig(t, issuer, moved.URL+"/jwks"))
	time.Sleep(2 * time.Millisecond) // past the cooldown
	if r := serve(p, bearer(tok2)); r.status != 200 {
		t.Fatalf("k2 at the moved jwks_uri: %d %s", r.status, r.body)
	}
	if i.discoveries.Load() != 2 || moved.fetches.Load() != 1 {
		t.Errorf("%d discoveries and %d fetches of the moved JWKS, want 2 and 1", i.discoveries.Load(), moved.fetches.Load())
	}

	// Discovery down; the keys rotate at the last jwks_uri.
	i.discoveryStatus.Store(http.StatusServiceUnavailable)
	moved.set(jwksOf(t, jwk(&k.rsa2.PublicKey, "k2", "RS256"), jwk(&k.rsa.PublicKey, "k3", "RS256")))
	tok3 := mint(t, jose.RS256, k.rsa, claimsAt(now, "iss", issuer), map[string]any{"kid": "k3"})
	time.Sleep(2 * time.Millisecond)
	if r := serve(p, bearer(tok3)); r.status != 200 {
		t.Fatalf("k3 with discovery down: %d %s", r.status, r.body)
	}

	// A document that names another issuer is not used either: the keys
	// still come from the last good jwks_uri, never from the new one.
	evil := newIDP(t, jwksOf(t, jwk(&k.rsa2.PublicKey, "k4", "RS256")))
	i.discoveryStatus.Store(http.StatusOK)
	i.setDiscovery(providerConfig(t, "https://evil.example/", evil.URL+"/jwks"))
	tok4 := mint(t, jose.RS256, k.rsa2, claimsAt(now, "iss", issuer), map[string]any{"kid": "k4"})
	time.Sleep(2 * time.Millisecond)
	if r := serve(p, bearer(tok4)); r.status != 401 || r.reason != "unknown_kid" {
		t.Errorf("a kid only another issuer's document leads to: %d %q, want 401 unknown_kid", r.status, r.reason)
	}
	if n := evil.fetches.Load(); n != 0 {
		t.Errorf("the JWKS of a document with the wrong issuer was fetched %d times", n)
	}
}

// TestDiscoveryRefreshSchedule: the background refresh (every
// jwksRefreshInterval) reads the document too.
func TestDiscoveryRefreshSchedule(t *testing.T) {
	k := keys(t)
	i := newIDP(t, jwksOf(t, jwk(&k.rsa.PublicKey, "k1", "RS256")))
	issuer := i.URL
	i.setDiscovery(providerConfig(t, issuer, i.URL+"/jwks"))
	newPolicy(t, discoveryAction(issuer, ", jwksRefreshInterval: 20ms"), jwksEnv())
	eventually(t, "three discoveries on the refresh schedule", func() bool { return i.discoveries.Load() >= 3 })
}

// TestOpenIDConfigurationURL: a document elsewhere (Azure AD B2C's policy
// URLs carry a query) is read where configured; its issuer is still
// checked against the configured one.
func TestOpenIDConfigurationURL(t *testing.T) {
	k := keys(t)
	i := newIDP(t, jwksOf(t, jwk(&k.rsa.PublicKey, "k1", "RS256")))
	issuer := "http://127.0.0.1/tenant-id/v2.0/" // not where the document is
	i.setDiscovery(providerConfig(t, issuer, i.URL+"/discovery/keys"))
	p := newPolicy(t, "{issuer: '"+issuer+"', openidConfigurationUrl: '"+i.URL+"/b2c/v2.0/.well-known/openid-configuration?p=b2c_1_signin', checkCredentialExistence: false}", jwksEnv())
	tok := mint(t, jose.RS256, k.rsa, claimsAt(time.Now(), "iss", issuer), map[string]any{"kid": "k1"})
	if r := serve(p, bearer(tok)); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if _, ok := i.discoveryPaths.Load("/b2c/v2.0/.well-known/openid-configuration?p=b2c_1_signin"); !ok {
		t.Error("the configured document URL was not the one read")
	}
}
