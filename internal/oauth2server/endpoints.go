package oauth2server

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/internal/accesstoken"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// revoke is POST /oauth2/revoke (RFC 7009). The client must authenticate;
// an unknown token, or another client's, is answered 200 all the same
// (§2.2), so the endpoint tells nothing about tokens.
func (srv *Server) revoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := params(r)
	if err != nil {
		srv.writeOAuthError(w, err)
		return
	}
	c, err := srv.authenticateClient(ctx, r, p)
	if err != nil {
		srv.writeOAuthError(w, err)
		return
	}
	tok := p.Get("token")
	if tok == "" {
		srv.writeOAuthError(w, errInvalidRequest("Missing required parameter: token"))
		return
	}
	if id, sec, ok := strings.Cut(tok, "|"); ok {
		t, err := srv.s.GetToken(ctx, id)
		if err == nil && t.ConsumerID == c.id() && secret.Verify(t.SecretHash, sec) == nil {
			if t.Kind == store.RefreshToken && t.FamilyID != "" {
				// §2.1: revoking a refresh token also ends the access
				// tokens of the same grant (JWT ones too).
				_, err = srv.revokeGrant(ctx, t.FamilyID)
			} else {
				var was *store.Token
				if was, err = srv.s.RevokeToken(ctx, t.ID); err == nil && !was.Revoked {
					srv.revoked(1)
				}
			}
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			srv.writeOAuthError(w, err)
			return
		}
	} else if srv.jwtMode {
		claims, err := srv.parseJWT(tok)
		if errors.Is(err, store.ErrUnavailable) {
			srv.writeOAuthError(w, err) // 503: the client must retry, the token may still be live
			return
		}
		if err == nil && claims["client_id"] == c.id() {
			srv.revoked(1)
			if err := srv.denyJWT(ctx, claims); err != nil {
				srv.writeOAuthError(w, err)
				return
			}
		}
	}
	noStore(w)
	w.WriteHeader(http.StatusOK)
}

// denyJWT records a revoked JWT's jti until the token would expire; the
// oauth2 policy refuses denied jtis.
func (srv *Server) denyJWT(ctx context.Context, claims jwt.MapClaims) error {
	jti, _ := claims["jti"].(string)
	exp, _ := claims["exp"].(float64)
	ttl := time.Unix(int64(exp), 0).Sub(srv.now()) + jwtLeeway
	if jti == "" || ttl <= 0 {
		return nil
	}
	return srv.s.PutRecord(ctx, "revoked-jti", jti, true, ttl)
}

// revokeGrant revokes everything one grant issued: the opaque tokens of the
// family in the store and, in JWT mode, the JWT access tokens that carry
// the family as their grant_id claim (they are not in the store, so the
// family is recorded as revoked until its last access token expires).
func (srv *Server) revokeGrant(ctx context.Context, familyID string) (int, error) {
	n, err := srv.s.RevokeFamily(ctx, familyID)
	srv.revoked(n)
	if err != nil || !srv.jwtMode {
		return n, err
	}
	return n, srv.s.PutRecord(ctx, "revoked-grant", familyID, true, srv.life.access+jwtLeeway+time.Minute)
}

// grantRevoked reports whether a JWT's grant was revoked.
func (srv *Server) grantRevoked(ctx context.Context, claims jwt.MapClaims) (bool, error) {
	gid, _ := claims["grant_id"].(string)
	if gid == "" {
		return false, nil
	}
	var v bool
	return srv.s.GetRecord(ctx, "revoked-grant", gid, &v)
}

// JTIRevoked reports whether a JWT access token was revoked.
func (srv *Server) JTIRevoked(ctx context.Context, jti string) (bool, error) {
	var v bool
	return srv.s.GetRecord(ctx, "revoked-jti", jti, &v)
}

// jwtLeeway is the clock skew tolerated on exp and iat.
const jwtLeeway = 5 * time.Second

// errNotAccessToken: a JWT signed by the server's key whose typ is not an
// access token's (RFC 9068 §4).
var errNotAccessToken = errors.New("the JWT is not an access token (typ is not at+jwt)")

// errForeignIssuer: a JWT signed by the server's key whose iss is not a
// name the server trusts (parseJWT).
var errForeignIssuer = errors.New("the JWT's iss is not a name this authorization server trusts")

// parseJWT verifies one of the server's own access tokens: signature (the
// key named by kid, with its algorithm), typ at+jwt, exp (required), iat,
// iss, and aud when accessTokens.audience is configured. iss must be
// accessTokens.issuer when it is configured; without one, the origin of a
// host the server trusts (names.go), so a token obtained on one trusted
// name is accepted on another, and one whose iss came from an untrusted
// Host is not.
func (srv *Server) parseJWT(tok string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	t, err := jwt.ParseWithClaims(tok, claims, srv.keys.Keyfunc, srv.parseOpts...)
	if err != nil {
		return claims, err
	}
	if iss, _ := claims["iss"].(string); srv.o.Issuer == "" && !srv.issuedHere(iss) {
		return claims, errForeignIssuer
	}
	if typ, _ := t.Header["typ"].(string); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return claims, errNotAccessToken
	}
	return claims, nil
}

// jwtParseOptions are the checks of parseJWT, built once.
func (srv *Server) jwtParseOptions() []jwt.ParserOption {
	opts := []jwt.ParserOption{jwt.WithValidMethods(srv.keys.Algorithms()),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(jwtLeeway),
		jwt.WithTimeFunc(srv.now)}
	if srv.o.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(strings.TrimSuffix(srv.o.Issuer, "/")))
	}
	if len(srv.audience) > 0 {
		opts = append(opts, jwt.WithAudience(srv.audience...))
	}
	return opts
}

// introspect is POST /oauth2/introspect (RFC 7662). Any authenticated
// client may ask (resource servers introspect tokens issued to others).
func (srv *Server) introspect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := params(r)
	if err != nil {
		srv.writeOAuthError(w, err)
		return
	}
	c, err := srv.authenticateClient(ctx, r, p)
	if err != nil {
		srv.writeOAuthError(w, err)
		return
	}
	if c.cred.Public() {
		// RFC 7662 §2.1: the caller must be authorized; a public client
		// proves nothing (anyone may send its client_id), so it could scan
		// for live tokens.
		srv.writeOAuthError(w, &oauthError{Status: http.StatusUnauthorized, Code: "invalid_client",
			Description: "introspection requires a confidential client (client_secret_basic or client_secret_post)"})
		return
	}
	tok := p.Get("token")
	if tok == "" {
		srv.writeOAuthError(w, errInvalidRequest("Missing required parameter: token"))
		return
	}
	noStore(w)
	resp, err := srv.describe(r, tok)
	if err != nil {
		srv.writeOAuthError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// describe answers an introspection: {"active": false} for anything that
// is not a live token (§2.2).
func (srv *Server) describe(r *http.Request, tok string) (map[string]any, error) {
	ctx := r.Context()
	inactive := map[string]any{"active": false}
	if id, sec, ok := strings.Cut(tok, "|"); ok {
		t, err := srv.s.VerifyToken(ctx, id, sec)
		if errors.Is(err, store.ErrTokenInvalid) {
			return inactive, nil
		} else if err != nil {
			return nil, err
		}
		if ok, err := srv.partiesActive(ctx, t.ConsumerID, t.AuthenticatedUserID); err != nil {
			return nil, err
		} else if !ok {
			return inactive, nil
		}
		resp := map[string]any{
			"active": true, "client_id": t.ConsumerID, "token_type": "Bearer", "token_use": tokenUse(t.Kind),
			"exp": t.ExpiresAt.Unix(), "iat": t.CreatedAt.Unix(), "jti": t.ID, "iss": srv.issuer(r),
			"sub": t.ConsumerID,
		}
		if len(t.Scopes) > 0 {
			resp["scope"] = strings.Join(t.Scopes, " ")
		}
		if t.AuthenticatedUserID != "" {
			resp["sub"] = t.AuthenticatedUserID
			if u, err := srv.s.GetUser(ctx, t.AuthenticatedUserID); err == nil {
				resp["username"] = u.Username
			}
		}
		return resp, nil
	}
	if !srv.jwtMode {
		return inactive, nil
	}
	claims, err := srv.parseJWT(tok)
	if errors.Is(err, store.ErrUnavailable) {
		return nil, err // the keys are not loaded: 503, not a false "inactive"
	} else if err != nil {
		return inactive, nil
	}
	if revoked, err := srv.jwtRevoked(ctx, claims); err != nil {
		return nil, err
	} else if revoked {
		return inactive, nil
	}
	clientID, _ := claims["client_id"].(string)
	userID, _ := claims["sub"].(string)
	if userID == clientID {
		userID = ""
	}
	if ok, err := srv.partiesActive(ctx, clientID, userID); err != nil {
		return nil, err
	} else if !ok {
		return inactive, nil
	}
	resp := map[string]any{}
	for k, v := range claims {
		resp[k] = v
	}
	resp["active"], resp["token_type"], resp["token_use"] = true, "Bearer", "access_token"
	return resp, nil
}

// jwtRevoked reports whether a JWT access token was revoked, alone (its
// jti) or with its grant (grant_id).
func (srv *Server) jwtRevoked(ctx context.Context, claims jwt.MapClaims) (bool, error) {
	if jti, _ := claims["jti"].(string); jti != "" {
		if revoked, err := srv.JTIRevoked(ctx, jti); err != nil || revoked {
			return revoked, err
		}
	}
	return srv.grantRevoked(ctx, claims)
}

// partiesActive reports whether a token's client and end user (if any)
// still exist and are active: introspection then agrees with the oauth2
// policy, which refuses the tokens of deactivated consumers.
func (srv *Server) partiesActive(ctx context.Context, clientID, userID string) (bool, error) {
	for _, id := range []string{clientID, userID} {
		if id == "" {
			continue
		}
		c, err := srv.s.GetConsumer(ctx, id, false)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		if !c.Active() {
			return false, nil
		}
	}
	return true, nil
}

// tokenUse tells an access token from a refresh token in introspection
// answers. token_type is RFC 7662 §2.2's "type of the token" as RFC 6749
// §7.1 defines it (Bearer, for both); a resource server that took a
// refresh_token token_type for an unknown type could accept a refresh
// token as an access token, so the kind goes in its own field, as Ory
// Hydra's token_use does.
func tokenUse(kind string) string {
	if kind == store.RefreshToken {
		return "refresh_token"
	}
	return "access_token"
}

// metadata serves RFC 8414 authorization server metadata at
// /.well-known/oauth-authorization-server and OpenID Connect Discovery 1.0
// provider metadata at /.well-known/openid-configuration: one document
// from one builder, so the two never disagree (RFC 8414 §3 lets the
// OpenID metadata stand in the OAuth one).
func (srv *Server) metadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, srv.serverMetadata(r))
}

// serverMetadata builds the metadata document (RFC 8414 §2, Discovery 1.0
// §3).
func (srv *Server) serverMetadata(r *http.Request) map[string]any {
	iss := srv.issuer(r)
	responseTypes := []string{"code"}
	responseModes := []string{"query"}
	grants := []string{"authorization_code", "client_credentials", "password", "refresh_token"}
	if srv.o.AllowImplicit {
		responseTypes = append(responseTypes, "token")
		responseModes = append(responseModes, "fragment")
		grants = append(grants, "implicit")
	}
	methods := []string{"S256"}
	if srv.o.AllowPlainPKCE {
		methods = append(methods, "plain")
	}
	auth := []string{"client_secret_basic", "client_secret_post", "none"}
	// Discovery 1.0 §3: openid, and the scopes of Core §5.4 that the
	// claims mapping serves, beside the store's scopes.
	scopes := []string{"openid", "profile", "email", "address", "phone", "offline_access"}
	if stored, err := srv.s.ListScopes(r.Context()); err == nil {
		for _, s := range stored {
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	m := map[string]any{
		"issuer":                                        iss,
		"authorization_endpoint":                        iss + "/oauth2/authorize",
		"token_endpoint":                                iss + "/oauth2/token",
		"revocation_endpoint":                           iss + "/oauth2/revoke",
		"introspection_endpoint":                        iss + "/oauth2/introspect",
		"userinfo_endpoint":                             iss + userinfoPath,
		"jwks_uri":                                      iss + "/.well-known/jwks.json",
		"scopes_supported":                              scopes,
		"response_types_supported":                      responseTypes,
		"response_modes_supported":                      responseModes,
		"grant_types_supported":                         grants,
		"token_endpoint_auth_methods_supported":         auth,
		"revocation_endpoint_auth_methods_supported":    auth,
		"introspection_endpoint_auth_methods_supported": auth[:2],
		"code_challenge_methods_supported":              methods,
		// OpenID Connect Discovery 1.0 §3.
		"subject_types_supported":               []string{"public", "pairwise"},
		"id_token_signing_alg_values_supported": srv.oidc.algs,
		"claims_supported":                      srv.claimsSupported(),
		"claim_types_supported":                 []string{"normal"},
		"claims_parameter_supported":            false,
		"request_parameter_supported":           false,
		"request_uri_parameter_supported":       false,
		"require_request_uri_registration":      false,
		// Back-Channel Logout 1.0 §2.1 (logout.go); no front-channel
		// logout.
		"backchannel_logout_supported":          true,
		"backchannel_logout_session_supported":  true,
		"frontchannel_logout_supported":         false,
		"frontchannel_logout_session_supported": false,
		// RP-Initiated Logout 1.0 §2.1.
		"end_session_endpoint": iss + endSessionPath,
	}
	return m
}

// jwks publishes the public keys (RFC 7517): the ID tokens', always, and
// the JWT access tokens' when they are signed with a public key (an HMAC
// secret is never published).
func (srv *Server) jwks(w http.ResponseWriter, r *http.Request) {
	keys, err := srv.oidcJWKS()
	if err != nil {
		// Never published an empty or partial set: a verifier would cache
		// it and refuse tokens for max-age.
		srv.writeOAuthError(w, err)
		return
	}
	if srv.jwtMode && srv.keys.hmac == nil {
		srv.keys.maybeReload() // another node may have rotated the keys (at most one store read per 5s)
		if len(srv.keys.published()) == 0 {
			srv.writeOAuthError(w, errNoKeys)
			return
		}
		keys = append(srv.keys.JWKS(), keys...)
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// Access token verification failures: accesstoken's verdicts, which the
// oauth2 policy tells apart.
var (
	ErrTokenInvalid = accesstoken.ErrInvalid
	ErrTokenExpired = accesstoken.ErrExpired
	ErrTokenRevoked = accesstoken.ErrRevoked
)

// VerifyAccessToken checks a token this server issued, for the oauth2
// policy (Server is its accesstoken.Verifier). Opaque tokens are looked up
// in the store (cached per node; revocation invalidates the cache here at
// once and on other nodes through the store's invalidations); JWTs are
// verified with the keyring (a verified JWT is remembered until it
// expires, so its signature is checked once per node) and checked against
// the revoked jti and grant records on every request.
func (srv *Server) VerifyAccessToken(r *http.Request, tok string) (*accesstoken.Token, error) {
	ctx := r.Context()
	if id, sec, ok := strings.Cut(tok, "|"); ok {
		t, err := srv.s.GetToken(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrTokenInvalid
		} else if err != nil {
			return nil, err
		}
		if t.Kind != store.AccessToken || secret.Verify(t.SecretHash, sec) != nil {
			return nil, ErrTokenInvalid
		}
		if t.Revoked {
			return nil, ErrTokenRevoked
		}
		if t.Expired(srv.now()) {
			return nil, ErrTokenExpired
		}
		return &accesstoken.Token{ID: t.ID, ClientID: t.ConsumerID, UserID: t.AuthenticatedUserID,
			Scopes: t.Scopes, ExpiresAt: t.ExpiresAt}, nil
	}
	if !srv.jwtMode {
		return nil, ErrTokenInvalid
	}
	at, err := srv.verifiedJWT(tok)
	if err != nil {
		return nil, err
	}
	if revoked, err := srv.jwtRevoked(ctx, at.Claims); err != nil {
		return nil, err
	} else if revoked {
		return nil, ErrTokenRevoked
	}
	out := *at // callers get their own copy; Scopes and Claims are shared, read-only
	return &out, nil
}

// The verified-JWT cache is bounded in entries and in estimated bytes
// (issue #14), like the jwt policy's: 10,000 tokens, 8 MiB.
const (
	jwtCacheSize  = 10_000
	jwtCacheBytes = 8 << 20
)

// jwtEntrySize estimates what a cached verified JWT holds besides the
// cache's own per-entry overhead: the 32-byte key, the entry and its Token
// (about 200 bytes of fixed fields), and the decoded claims, which cost
// about as much as the compact token itself (the base64url payload is 4/3
// of the JSON; each claim adds a map slot and an interface header).
func jwtEntrySize(tok string) int { return 32 + 200 + len(tok) }

type jwtEntry struct {
	at    *accesstoken.Token
	until time.Time // exp plus the leeway
	size  int       // jwtEntrySize, for the byte bound
}

// verifiedJWT verifies a JWT access token, or finds it verified before and
// not yet expired.
func (srv *Server) verifiedJWT(tok string) (*accesstoken.Token, error) {
	key := sha256.Sum256([]byte(tok))
	if e, ok := srv.jwtCache.Get(key); ok {
		if srv.now().Before(e.until) {
			srv.jwtLookups.Hit()
			return e.at, nil
		}
		srv.jwtCache.Remove(key)
	}
	srv.jwtLookups.Miss()
	claims, err := srv.parseJWT(tok)
	if errors.Is(err, jwt.ErrTokenExpired) {
		return nil, ErrTokenExpired
	} else if errors.Is(err, store.ErrUnavailable) {
		return nil, err // the keys are not loaded: no verdict (503)
	} else if err != nil {
		return nil, ErrTokenInvalid
	}
	at := &accesstoken.Token{Claims: claims}
	at.ID, _ = claims["jti"].(string)
	at.ClientID, _ = claims["client_id"].(string)
	if sub, _ := claims["sub"].(string); sub != at.ClientID {
		at.UserID = sub
	}
	if s, _ := claims["scope"].(string); s != "" {
		at.Scopes = strings.Fields(s)
	}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		at.ExpiresAt = exp.Time
		srv.jwtCache.Add(key, &jwtEntry{at: at, until: exp.Time.Add(jwtLeeway), size: jwtEntrySize(tok)})
	}
	return at, nil
}

// revoked counts revoked tokens in the metrics.
func (srv *Server) revoked(n int) {
	if srv.o.Metrics != nil && n > 0 {
		srv.o.Metrics.TokensRevoked.Add(float64(n))
	}
}
