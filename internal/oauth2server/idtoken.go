package oauth2server

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// The OpenID Connect provider (OpenID Connect Core 1.0): ID tokens on the
// authorization-code grant and on refresh, signed with keys of their own,
// in every access-token mode (opaque, HMAC or asymmetric JWT). The ID
// tokens' keys are never the access tokens': a resource server that
// trusts the access tokens' key cannot be handed an ID token as an access
// token, and the access tokens' HMAC secret is never needed by a relying
// party (Core §10.1 would have it be the client's secret).

// Default lifetime of an ID token: it proves a sign-in to its client, which
// checks it once (Core §3.1.3.7); an hour is what Hydra and Authelia use.
const defaultIDTokenLife = time.Hour

// idTokenType is the typ header of ID tokens: Core 1.0 names none, so it
// is a JWT's own, "JWT" (RFC 7519 §5.1), unlike access tokens' at+jwt (RFC
// 9068 §2.1): parseJWT refuses an ID token presented as an access token.
const idTokenType = "JWT"

// oidcProvider is the OpenID Connect state of a Server.
type oidcProvider struct {
	// keys are the ID tokens' keyrings, by algorithm: RS256 (Discovery
	// 1.0 §3: id_token_signing_alg_values_supported MUST include it),
	// ES256 and EdDSA; oauth2.openid.idTokenAlgorithm is the default.
	keys map[string]*keyring
	algs []string // the keys' algorithms, the default first
	life time.Duration
	// claims maps each standard claim to the user property it comes from
	// (userinfo.go).
	claims map[string]string

	// salt of pairwise subject identifiers (Core §8.1): configured, or
	// generated once and kept in the store.
	saltMu sync.Mutex
	salt   string
}

// newOIDC builds the provider from oauth2.openid. The keys are loaded
// (generated the first time) when first needed, so a gateway whose store
// is down starts all the same, and one that never signs an ID token never
// writes a key.
func newOIDC(o Options, sessionLife time.Duration) *oidcProvider {
	var cfg config.OpenID
	if o.System.OAuth2 != nil && o.System.OAuth2.OpenID != nil {
		cfg = *o.System.OAuth2.OpenID
	}
	p := &oidcProvider{keys: map[string]*keyring{}, life: cfg.IDTokenTimeToExpiry.Or(defaultIDTokenLife),
		claims: claimMapping(cfg.Claims), salt: cfg.PairwiseSalt}
	def := cfg.IDTokenAlgorithm
	if def == "" {
		def = "RS256"
	}
	// Every algorithm a client may register (id_token_signed_response_alg)
	// has its keys, the default first; a keyring writes its first key
	// when it is first needed.
	p.algs = []string{def}
	for _, a := range config.IDTokenAlgorithms() {
		if a != def {
			p.algs = append(p.algs, a)
		}
	}
	// A retired key stays published for as long as an ID token it signed
	// can come back as an id_token_hint (a sign-in session's lifetime), not
	// only until the token expires.
	keep := max(p.life, sessionLife)
	for _, alg := range p.algs {
		p.keys[alg] = &keyring{store: o.Store, now: o.Now, tokenTL: keep, alg: alg, record: "oidc-keys-" + alg}
	}
	return p
}

// idTokenAlg is the algorithm of a client's ID tokens: the one it
// registered (id_token_signed_response_alg), else the default.
func (srv *Server) idTokenAlg(c *client) string {
	if a := c.cred.IDTokenSignedResponseAlg; a != "" && srv.oidc.keys[a] != nil {
		return a
	}
	return srv.oidc.algs[0]
}

// signJWT signs claims as an ID token would be (typ JWT), with the ID
// tokens' current key of alg ("" for the default). It also signs what
// other OpenID Connect messages need (logout.go's logout_token uses
// signJWTType).
func (srv *Server) signJWT(claims jwt.MapClaims, alg string) (string, error) {
	return srv.signJWTType(claims, alg, idTokenType)
}

// signJWTType is signJWT with another typ header (Back-Channel Logout 1.0
// §2.4: "logout+jwt").
func (srv *Server) signJWTType(claims jwt.MapClaims, alg, typ string) (string, error) {
	if alg == "" {
		alg = srv.oidc.algs[0]
	}
	kr := srv.oidc.keys[alg]
	if kr == nil {
		return "", fmt.Errorf("oauth2: no ID token keys for algorithm %s", alg)
	}
	return kr.signTyp(claims, typ)
}

// oidcKeyfunc finds the ID tokens' key a JWT names by kid, with its
// algorithm; an unknown kid makes each keyring reload once (another node
// may have rotated).
func (srv *Server) oidcKeyfunc(t *jwt.Token) (any, error) {
	alg, _ := t.Header["alg"].(string)
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errors.New("the JWT has no kid")
	}
	for try := 0; try < 2; try++ {
		for _, a := range srv.oidc.algs {
			for _, k := range srv.oidc.keys[a].loaded() {
				if k.KID == kid {
					if alg != k.Alg {
						return nil, fmt.Errorf("unexpected algorithm %q", alg)
					}
					return k.private.Public(), nil
				}
			}
		}
		if try == 0 {
			for _, a := range srv.oidc.algs {
				srv.oidc.keys[a].maybeReload()
			}
		}
	}
	return nil, fmt.Errorf("unknown kid %q", kid)
}

// parseIDTokenHint verifies an ID token this server issued, as
// id_token_hint (Core §3.1.2.1) and RP-Initiated Logout 1.0 §2 take it:
// its signature (an ID token key, with that key's algorithm), typ JWT and
// an iss the server writes. exp is not checked: "the ID Token need not be
// valid (unexpired)" for a hint; the caller checks aud and sub against
// what it knows.
func (srv *Server) parseIDTokenHint(s string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	t, err := jwt.ParseWithClaims(s, claims, srv.oidcKeyfunc,
		jwt.WithValidMethods(srv.oidc.algs), jwt.WithoutClaimsValidation())
	if err != nil {
		return nil, err
	}
	if typ, _ := t.Header["typ"].(string); !strings.EqualFold(typ, idTokenType) {
		return nil, errors.New("the JWT is not an ID token (typ is not JWT)")
	}
	if iss, _ := claims["iss"].(string); !srv.issuedHere(iss) {
		return nil, errForeignIssuer
	}
	if sub, _ := claims["sub"].(string); sub == "" {
		return nil, errors.New("the ID token has no sub")
	}
	return claims, nil
}

// oidcGrant is what an ID token says about the sign-in behind a grant:
// kept with the code (store.Code), then per refresh-token family (the
// "oidc-grant" record) so that an ID token issued on refresh has the
// original auth_time, acr, amr and sid (Core §12.2).
type oidcGrant struct {
	Nonce    string    `json:"-"` // the authorization request's only: never repeated on refresh
	AuthTime time.Time `json:"authTime,omitzero"`
	SID      string    `json:"sid,omitempty"`
	ACR      string    `json:"acr,omitempty"`
	AMR      []string  `json:"amr,omitempty"`
}

// grantOIDC is the code's sign-in, or nil when the code has no openid
// scope.
func grantOIDC(c *store.Code) *oidcGrant {
	if !slices.Contains(c.Scopes, "openid") {
		return nil
	}
	return &oidcGrant{Nonce: c.Nonce, AuthTime: c.AuthTime, SID: c.SID, ACR: c.ACR, AMR: c.AMR}
}

// keepGrantOIDC records a grant's sign-in for the refreshes of its family,
// for as long as its newest refresh token lives.
func (srv *Server) keepGrantOIDC(ctx context.Context, family string, g *oidcGrant) error {
	if srv.life.refresh <= 0 {
		return nil
	}
	return srv.s.PutRecord(ctx, "oidc-grant", family, g, srv.life.refresh)
}

// familyOIDC is the sign-in recorded for a refresh-token family, or nil.
func (srv *Server) familyOIDC(ctx context.Context, family string) (*oidcGrant, error) {
	var g oidcGrant
	found, err := srv.s.GetRecord(ctx, "oidc-grant", family, &g)
	if err != nil || !found {
		return nil, err
	}
	return &g, nil
}

// idToken makes the ID token of a token response (Core §3.1.3.3,
// §3.1.3.6; on refresh §12.2): iss (the configured issuer, exactly), sub
// (public or pairwise, §8), aud [client_id], azp, exp, iat, auth_time,
// nonce (echoed exactly, when the request had one), at_hash (§3.1.3.8:
// the left half of the hash of the access token, the hash of the
// signature's algorithm), sid (Back-Channel Logout 1.0 §2.1), acr, amr.
// The user's other claims are the userinfo endpoint's (§5.4: with an
// access token they are not put in the ID token).
func (srv *Server) idToken(ctx context.Context, r *http.Request, c *client, userID, accessToken string, g *oidcGrant) (string, error) {
	sub, err := srv.subjectFor(ctx, c.consumer, c.cred, userID)
	if err != nil {
		return "", err
	}
	alg := srv.idTokenAlg(c)
	now := srv.now()
	claims := jwt.MapClaims{
		"iss": srv.issuer(r),
		"sub": sub,
		"aud": []string{c.id()},
		"azp": c.id(),
		"iat": now.Unix(),
		"exp": now.Add(srv.oidc.life).Unix(),
	}
	if !g.AuthTime.IsZero() {
		claims["auth_time"] = g.AuthTime.Unix()
	}
	if g.Nonce != "" {
		claims["nonce"] = g.Nonce
	}
	if g.SID != "" {
		claims["sid"] = g.SID
	}
	if g.ACR != "" {
		claims["acr"] = g.ACR
	}
	if len(g.AMR) > 0 {
		claims["amr"] = g.AMR
	}
	if accessToken != "" {
		claims["at_hash"] = leftHash(alg, accessToken)
	}
	return srv.signJWT(claims, alg)
}

// leftHash is at_hash and c_hash (Core §3.1.3.8, §3.3.2.11): base64url of
// the left-most half of the hash of v, with the hash of the JWS algorithm
// (SHA-256 for RS256 and ES256; SHA-512 for EdDSA with Ed25519, as the
// OpenID Connect errata and every RP library take it).
func leftHash(alg, v string) string {
	var h hash.Hash
	switch alg {
	case "RS384", "ES384", "PS384":
		h = sha512.New384()
	case "RS512", "ES512", "PS512", "EdDSA":
		h = sha512.New()
	default:
		h = sha256.New()
	}
	h.Write([]byte(v))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// subject is the sub the client sees for a user (Core §8): the user's id
// (public, the default) or, for a pairwise client, an identifier derived
// from the client's sector, so that clients of different sectors cannot
// correlate their users. Userinfo uses it too: its sub equals the ID
// token's (§5.3.2).
func (srv *Server) subject(ctx context.Context, consumer *store.Consumer, userID string) (string, error) {
	cred, err := srv.s.GetCredential(ctx, store.OAuth2, consumer.ID())
	if errors.Is(err, store.ErrNotFound) {
		return userID, nil // no client registration: public
	} else if err != nil {
		return "", err
	}
	return srv.subjectFor(ctx, consumer, cred, userID)
}

// subjectFor is subject with the client's oauth2 credential at hand.
func (srv *Server) subjectFor(ctx context.Context, consumer *store.Consumer, cred *store.Credential, userID string) (string, error) {
	if !cred.Pairwise() {
		return userID, nil
	}
	sector, ok := cred.SectorIdentifier(appRedirectURI(consumer))
	if !ok || sector == "" {
		// The registration refuses this (store.ClientMetadata); a
		// redirect URI added since on another host must not silently
		// change every sub.
		return "", &oauthError{Status: 400, Code: "invalid_client",
			Description: "a pairwise client whose redirect URIs are on several hosts needs a sector_identifier_uri (OpenID Connect Core 1.0 §8.1)"}
	}
	salt, err := srv.pairwiseSalt(ctx)
	if err != nil {
		return "", err
	}
	return pairwiseSub(strings.ToLower(sector), userID, salt), nil
}

// appRedirectURI is the redirect URI registered on the consumer itself
// (the application's, or, for a user acting as a client, the user's).
func appRedirectURI(c *store.Consumer) string {
	if c.App != nil {
		return c.App.RedirectURI
	}
	if c.User != nil {
		return c.User.RedirectURI
	}
	return ""
}

// pairwiseSub is Core §8.1's example: sub = SHA-256(sector_identifier ||
// local_account_id || salt), base64url. The parts are separated by a NUL
// byte (which none of them holds), so ("a.example", "bc") and
// ("a.exampleb", "c") do not collide.
func pairwiseSub(sector, localID, salt string) string {
	sum := sha256.Sum256([]byte(sector + "\x00" + localID + "\x00" + salt))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// pairwiseSalt is oauth2.openid.pairwiseSalt, or a random one created
// once in the store (atomically, so every node derives the same subs).
func (srv *Server) pairwiseSalt(ctx context.Context) (string, error) {
	p := srv.oidc
	p.saltMu.Lock()
	defer p.saltMu.Unlock()
	if p.salt != "" {
		return p.salt, nil
	}
	type saltRecord struct {
		Salt string `json:"salt"`
	}
	rec, err := store.UpdateRecord(ctx, srv.s, "oauth2", "pairwise-salt", func(cur *saltRecord) (*saltRecord, time.Duration, error) {
		if cur != nil && cur.Salt != "" {
			return nil, 0, nil
		}
		return &saltRecord{Salt: secret.Generate(43)}, 0, nil
	})
	if err != nil {
		return "", err
	}
	p.salt = rec.Salt
	return p.salt, nil
}

// oidcJWKS is the ID tokens' public keys, loading them the first time.
func (srv *Server) oidcJWKS() ([]jwk, error) {
	var out []jwk
	for _, a := range srv.oidc.algs {
		kr := srv.oidc.keys[a]
		if len(kr.loaded()) == 0 {
			return nil, errNoKeys
		}
		kr.maybeReload() // another node may have rotated them
		out = append(out, kr.JWKS()...)
	}
	return out, nil
}
