package oauth2server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// client is an authenticated OAuth2 client: a consumer with an active
// oauth2 credential.
type client struct {
	consumer *store.Consumer
	cred     *store.Credential
}

func (c *client) id() string { return c.consumer.ID() }

// authenticateClient implements RFC 6749 §2.3: HTTP Basic or client_id and
// client_secret in the body, never both; public clients send client_id
// alone. Failures are counted per client id and client address
// (internal/lockout): a stranger's wrong secrets delay the stranger, not
// the client.
func (srv *Server) authenticateClient(ctx context.Context, r *http.Request, p url.Values) (*client, error) {
	id, sec, basic, err := basicAuth(r)
	if err != nil {
		return nil, err
	}
	if basic {
		if p.Get("client_secret") != "" {
			return nil, errInvalidRequest("use one client authentication method, not both HTTP Basic and client_secret")
		}
		if bid := p.Get("client_id"); bid != "" && bid != id {
			return nil, errInvalidRequest("client_id does not match the HTTP Basic credentials")
		}
	} else {
		id, sec = p.Get("client_id"), p.Get("client_secret")
	}
	if id == "" {
		return nil, errInvalidClient(false)
	}
	addr := srv.o.ClientAddr(r)
	if v := srv.lockout.ClientAuth.Check(ctx, id, addr); v.Blocked {
		return nil, &rateLimited{v: v}
	}
	fail := func() (*client, error) {
		srv.lockout.ClientAuth.Fail(ctx, id, addr)
		return nil, errInvalidClient(basic)
	}
	// Refused before the secret is checked: spend the work of a check all
	// the same, so an unknown or deactivated client is answered as slowly
	// as a wrong secret (issue #11 §2).
	unchecked := func() (*client, error) {
		if sec != "" {
			if err := srv.s.VerifyDecoy(ctx, sec); err != nil {
				return nil, err // busy, as a real check would be
			}
		}
		return fail()
	}
	consumer, err := srv.s.GetConsumer(ctx, id, true)
	if errors.Is(err, store.ErrNotFound) {
		return unchecked()
	} else if err != nil {
		return nil, err
	}
	if !consumer.Active() {
		return unchecked()
	}
	cred, err := srv.s.GetCredential(ctx, store.OAuth2, consumer.ID())
	if errors.Is(err, store.ErrNotFound) {
		return unchecked()
	} else if err != nil {
		return nil, err
	}
	if !cred.IsActive {
		return unchecked()
	}
	if cred.Public() {
		if sec != "" {
			return unchecked()
		}
		return registeredMethod(consumer, cred, "none", basic)
	}
	if sec == "" {
		return fail()
	}
	cred, err = srv.s.VerifyCredential(ctx, store.OAuth2, consumer.ID(), sec)
	if err != nil {
		if errors.Is(err, store.ErrBadSecret) || errors.Is(err, store.ErrInactive) || errors.Is(err, store.ErrNoSuchCreds) {
			return fail()
		}
		return nil, err
	}
	method := "client_secret_post"
	if basic {
		method = "client_secret_basic"
	}
	return registeredMethod(consumer, cred, method, basic)
}

// registeredMethod refuses a client that authenticated with another method
// than its registered token_endpoint_auth_method (OpenID Connect Dynamic
// Client Registration 1.0 §2; RFC 7591 §2): a client registered for HTTP
// Basic whose secret turns up in a form body was not sent by that client's
// code. It is checked after the secret, so that the answer says nothing of
// the registration to whoever lacks the secret, and it is not counted as a
// failed guess. Without a registered method any is accepted, as in Express
// Gateway.
func registeredMethod(consumer *store.Consumer, cred *store.Credential, method string, basic bool) (*client, error) {
	if !cred.AllowsAuthMethod(method) {
		return nil, errInvalidClient(basic)
	}
	return &client{consumer: consumer, cred: cred}, nil
}

// token is POST /oauth2/token (RFC 6749 §3.2).
func (srv *Server) token(w http.ResponseWriter, r *http.Request) {
	resp, err := srv.tokenRequest(r)
	if err != nil {
		srv.writeOAuthError(w, err) // 429 and 503 with Retry-After too
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, resp)
}

func (srv *Server) tokenRequest(r *http.Request) (map[string]any, error) {
	ctx := r.Context()
	p, err := params(r)
	if err != nil {
		return nil, err
	}
	grantType := p.Get("grant_type")
	if grantType == "" {
		return nil, errInvalidRequest("Missing required parameter: grant_type")
	}
	c, err := srv.authenticateClient(ctx, r, p)
	if err != nil {
		return nil, err
	}
	// A client registered with grant_types may use those alone (Dynamic
	// Client Registration 1.0 §2; RFC 6749 §5.2 unauthorized_client).
	// Without grant_types every grant is open to it, as in Express Gateway.
	if known(grantType) && !c.cred.AllowsGrant(grantType) {
		return nil, &oauthError{Status: 400, Code: "unauthorized_client", Description: "this client is not registered for the " + grantType + " grant"}
	}
	switch grantType {
	case "client_credentials":
		return srv.clientCredentials(ctx, r, c, p)
	case "password":
		return srv.passwordGrant(ctx, r, c, p)
	case "authorization_code":
		return srv.codeGrant(ctx, r, c, p)
	case "refresh_token":
		return srv.refreshGrant(ctx, r, c, p)
	}
	// RFC 6749 §5.2: 400 (Express Gateway answered 501).
	return nil, &oauthError{Status: 400, Code: "unsupported_grant_type", Description: "Unsupported grant type: " + grantType}
}

// known reports whether the token endpoint implements grant type g.
func known(g string) bool {
	switch g {
	case "client_credentials", "password", "authorization_code", "refresh_token":
		return true
	}
	return false
}

// grantScopes checks requested scopes against what is allowed (RFC 6749
// §3.3); none requested means everything allowed.
func grantScopes(requested string, allowed []string) ([]string, error) {
	if strings.TrimSpace(requested) == "" {
		return append([]string(nil), allowed...), nil
	}
	var out []string
	for _, s := range strings.Fields(requested) {
		if !slices.Contains(allowed, s) {
			return nil, errInvalidScope("scope " + s + " is not allowed for this client")
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (srv *Server) clientCredentials(ctx context.Context, r *http.Request, c *client, p url.Values) (map[string]any, error) {
	if c.cred.Public() {
		return nil, &oauthError{Status: 400, Code: "unauthorized_client", Description: "public clients cannot use client_credentials"}
	}
	scopes, err := grantScopes(p.Get("scope"), c.cred.Scopes)
	if err != nil {
		return nil, err
	}
	// RFC 6749 §4.4.3: no refresh token.
	return srv.issue(ctx, r, issueRequest{client: c, scopes: scopes, grant: "client_credentials"})
}

func (srv *Server) passwordGrant(ctx context.Context, r *http.Request, c *client, p url.Values) (map[string]any, error) {
	username, password := p.Get("username"), p.Get("password")
	if username == "" {
		return nil, errInvalidRequest("Missing required parameter: username")
	}
	if password == "" {
		return nil, errInvalidRequest("Missing required parameter: password")
	}
	// The sign-in page's limits: per user and address, per address over
	// every user (spraying), per user (delaying only failing addresses).
	addr, account := srv.o.ClientAddr(r), srv.account(ctx, username)
	if v := srv.lockout.SignIn.Check(ctx, account, addr); v.Blocked {
		return nil, &rateLimited{v: v}
	}
	user, err := srv.checkUserPassword(ctx, username, password)
	if err != nil {
		var oe *oauthError
		if errors.As(err, &oe) {
			srv.lockout.SignIn.Fail(ctx, account, addr)
		}
		return nil, err
	}
	scopes, err := grantScopes(p.Get("scope"), c.cred.Scopes)
	if err != nil {
		return nil, err
	}
	return srv.issue(ctx, r, issueRequest{client: c, userID: user.ID, scopes: scopes, grant: "password", refresh: true})
}

// checkUserPassword authenticates a resource owner against the user's
// basic-auth credential (as Express Gateway). Only users log in, not apps.
func (srv *Server) checkUserPassword(ctx context.Context, username, password string) (*store.User, error) {
	bad := errInvalidGrant("Invalid resource owner credentials")
	consumer, err := srv.s.GetConsumer(ctx, username, true)
	if errors.Is(err, store.ErrNotFound) {
		// As slow as a wrong password (issue #11 §2).
		if err := srv.s.VerifyDecoy(ctx, password); err != nil {
			return nil, err
		}
		return nil, bad
	} else if err != nil {
		return nil, err
	}
	if consumer.User == nil || consumer.App != nil || !consumer.Active() {
		if err := srv.s.VerifyDecoy(ctx, password); err != nil {
			return nil, err
		}
		return nil, bad
	}
	if _, err := srv.s.VerifyCredential(ctx, store.BasicAuth, consumer.User.ID, password); err != nil {
		if errors.Is(err, store.ErrBadSecret) || errors.Is(err, store.ErrInactive) || errors.Is(err, store.ErrNoSuchCreds) {
			return nil, bad
		}
		return nil, err
	}
	return consumer.User, nil
}

func (srv *Server) codeGrant(ctx context.Context, r *http.Request, c *client, p url.Values) (map[string]any, error) {
	codeID := p.Get("code")
	if codeID == "" {
		return nil, errInvalidRequest("Missing required parameter: code")
	}
	code, err := srv.s.ConsumeCode(ctx, codeHash(codeID))
	if errors.Is(err, store.ErrCodeUsed) {
		// RFC 6749 §4.1.2: a code used twice revokes what it issued.
		if code.ConsumerID == c.id() {
			if n, rerr := srv.revokeGrant(ctx, code.ID); rerr == nil {
				srv.log.Warn("authorization code replayed: tokens issued from it revoked", "client_id", c.id(), "revoked", n)
			}
		}
		return nil, errInvalidGrant("Invalid authorization code")
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, errInvalidGrant("Invalid authorization code")
	} else if err != nil {
		return nil, err
	}
	if code.ConsumerID != c.id() {
		return nil, errInvalidGrant("Invalid authorization code")
	}
	ru := p.Get("redirect_uri")
	if (code.RedirectURIGiven || ru != "") && ru != code.RedirectURI {
		return nil, errInvalidGrant("redirect_uri does not match the authorization request")
	}
	if err := checkPKCE(code, p.Get("code_verifier")); err != nil {
		return nil, err
	}
	if c.cred.Public() && code.CodeChallenge == "" {
		return nil, errInvalidGrant("public clients must use PKCE")
	}
	if err := srv.userActive(ctx, code.UserID); err != nil {
		return nil, err
	}
	return srv.issue(ctx, r, issueRequest{client: c, userID: code.UserID, scopes: code.Scopes, grant: "authorization_code",
		refresh: true, family: code.ID, parent: code.ID, redirectURI: code.RedirectURI, oidc: grantOIDC(code)})
}

// saveCode stores an authorization code. With authorizationCodes.
// timeToExpiry: 0 the code is expired when issued (Express Gateway's
// expiresAt = now): the redirect carries it, but it is not stored, so its
// exchange is refused as an invalid code (RFC 6749 §5.2 invalid_grant).
func (srv *Server) saveCode(ctx context.Context, c *store.Code) error {
	if srv.life.code <= 0 {
		return nil
	}
	return srv.s.SaveCode(ctx, c)
}

// codeHash is how codes are stored: a leaked store does not leak usable
// codes.
func codeHash(code string) string {
	sum := sha256.Sum256([]byte(code))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// checkPKCE verifies RFC 7636 §4.6.
func checkPKCE(code *store.Code, verifier string) error {
	if code.CodeChallenge == "" {
		if verifier != "" {
			return errInvalidGrant("code_verifier sent, but the authorization request had no code_challenge")
		}
		return nil
	}
	if verifier == "" {
		return errInvalidGrant("Missing code_verifier")
	}
	if len(verifier) < 43 || len(verifier) > 128 || strings.Trim(verifier, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") != "" {
		return errInvalidGrant("code_verifier must be 43 to 128 unreserved characters")
	}
	computed := verifier
	if code.CodeChallengeMethod == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		computed = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if subtle.ConstantTimeCompare([]byte(computed), []byte(code.CodeChallenge)) != 1 {
		return errInvalidGrant("code_verifier does not match the code_challenge")
	}
	return nil
}

func (srv *Server) userActive(ctx context.Context, userID string) error {
	if userID == "" {
		return nil
	}
	u, err := srv.s.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !u.IsActive) {
		return errInvalidGrant("the resource owner is no longer active")
	}
	return err
}

func (srv *Server) refreshGrant(ctx context.Context, r *http.Request, c *client, p url.Values) (map[string]any, error) {
	raw := p.Get("refresh_token")
	if raw == "" {
		return nil, errInvalidRequest("Missing required parameter: refresh_token")
	}
	bad := errInvalidGrant("Invalid refresh token")
	id, sec, ok := strings.Cut(raw, "|")
	if !ok {
		return nil, bad
	}
	t, err := srv.s.GetToken(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, bad
	} else if err != nil {
		return nil, err
	}
	// The whole value is checked (Express Gateway checked only the id, B-2)
	// and the token is bound to its client.
	if t.Kind != store.RefreshToken || secret.Verify(t.SecretHash, sec) != nil || t.ConsumerID != c.id() {
		return nil, bad
	}
	scopes, err := grantScopes(p.Get("scope"), t.Scopes)
	if err != nil {
		return nil, err
	}
	if err := srv.userActive(ctx, t.AuthenticatedUserID); err != nil {
		return nil, err
	}
	// Rotation (RFC 9700 §4.14.2): the presented token is used up; if it was
	// used before, someone replayed it and the whole family is revoked. A
	// token that was revoked (RFC 7009, the Admin API, its grant's
	// revocation) is not evidence of theft: it is refused as revoked, and
	// nothing more is revoked.
	if _, err := srv.s.ClaimToken(ctx, t.ID); errors.Is(err, store.ErrTokenReused) {
		n, _ := srv.revokeGrant(ctx, t.FamilyID)
		srv.log.Warn("refresh token reused: token family revoked", "client_id", c.id(), "revoked", n)
		return nil, errInvalidGrant("refresh token was already used; every token of its grant is revoked")
	} else if errors.Is(err, store.ErrTokenRevoked) {
		return nil, errInvalidGrant("refresh token was revoked")
	} else if err != nil {
		return nil, err
	}
	// An ID token again when the grant had openid (OpenID Connect Core 1.0
	// §12.2), about the original sign-in, without its nonce.
	var g *oidcGrant
	if slices.Contains(scopes, "openid") && t.AuthenticatedUserID != "" && t.FamilyID != "" {
		if g, err = srv.familyOIDC(ctx, t.FamilyID); err != nil {
			return nil, err
		}
	}
	return srv.issue(ctx, r, issueRequest{client: c, userID: t.AuthenticatedUserID, scopes: scopes, grant: "refresh_token",
		refresh: true, family: t.FamilyID, parent: t.ID, redirectURI: t.RedirectURI, oidc: g})
}

type issueRequest struct {
	client      *client
	userID      string
	scopes      []string
	grant       string
	refresh     bool
	family      string
	parent      string
	redirectURI string
	// oidc is the sign-in of a grant with the openid scope: an ID token is
	// issued beside the access token (idtoken.go). nil: none.
	oidc *oidcGrant
}

// issue creates the access token (opaque or RFC 9068 JWT) and, when asked,
// a refresh token. Each grant gets fresh tokens (Express Gateway reused
// live ones, B-4).
func (srv *Server) issue(ctx context.Context, r *http.Request, q issueRequest) (map[string]any, error) {
	now := srv.now()
	if q.family == "" {
		q.family = secret.GenerateHex(16)
	}
	resp := map[string]any{"token_type": "Bearer", "expires_in": int(srv.life.access / time.Second)}
	if len(q.scopes) > 0 {
		resp["scope"] = strings.Join(q.scopes, " ")
	}
	if srv.jwtMode {
		tok, err := srv.signAccessToken(r, q, now)
		if err != nil {
			return nil, err
		}
		resp["access_token"] = tok
	} else {
		t := store.Token{Kind: store.AccessToken, ConsumerID: q.client.id(), AuthenticatedUserID: q.userID,
			AuthType: "oauth2", Scopes: q.scopes, RedirectURI: q.redirectURI, GrantType: q.grant,
			FamilyID: q.family, ParentID: q.parent, CreatedAt: now, ExpiresAt: now.Add(srv.life.access)}
		plain, err := srv.saveToken(ctx, &t, srv.life.access)
		if err != nil {
			return nil, err
		}
		resp["access_token"] = plain
	}
	if q.oidc != nil && q.userID != "" && slices.Contains(q.scopes, "openid") {
		idt, err := srv.idToken(ctx, r, q.client, q.userID, resp["access_token"].(string), q.oidc)
		if err != nil {
			return nil, err
		}
		resp["id_token"] = idt
		if q.refresh {
			if err := srv.keepGrantOIDC(ctx, q.family, q.oidc); err != nil {
				return nil, err
			}
		}
	}
	if q.refresh {
		t := store.Token{Kind: store.RefreshToken, ConsumerID: q.client.id(), AuthenticatedUserID: q.userID,
			AuthType: "oauth2", Scopes: q.scopes, RedirectURI: q.redirectURI, GrantType: q.grant,
			FamilyID: q.family, ParentID: q.parent, CreatedAt: now, ExpiresAt: now.Add(srv.life.refresh)}
		plain, err := srv.saveToken(ctx, &t, srv.life.refresh)
		if err != nil {
			return nil, err
		}
		resp["refresh_token"] = plain
	}
	if srv.o.Metrics != nil { // counted once the tokens are stored, not when issuing starts
		srv.o.Metrics.TokensIssued.WithLabelValues(q.grant).Inc()
	}
	return resp, nil
}

// saveToken makes t's value and stores it. With a lifetime of 0
// (timeToExpiry: 0, Express Gateway's "already expired") the token is dead
// on arrival: the value is returned but not stored, so every check of it
// (the oauth2 policy, introspection, the refresh grant) finds nothing,
// as Express Gateway's lazy expiry check did.
func (srv *Server) saveToken(ctx context.Context, t *store.Token, life time.Duration) (string, error) {
	plain := store.NewToken(t)
	if life <= 0 {
		return plain, nil
	}
	if err := srv.s.SaveToken(ctx, t); err != nil {
		return "", grantRevoked(err)
	}
	return plain, nil
}

// grantRevoked turns the store's refusal of a token whose grant a
// concurrent replay revoked into the invalid_grant the client must see.
func grantRevoked(err error) error {
	if errors.Is(err, store.ErrGrantRevoked) {
		return errInvalidGrant("the grant was revoked while the tokens were issued: its code or refresh token was used more than once")
	}
	return err
}

// expiredBackdate is how far before its iat the exp of a JWT issued with
// a zero lifetime lies.
const expiredBackdate = 5 * time.Minute

// signAccessToken makes an RFC 9068 §2.2 access token, with Express
// Gateway's claims beside the RFC's unless accessTokens.legacyClaims is
// false.
func (srv *Server) signAccessToken(r *http.Request, q issueRequest, now time.Time) (string, error) {
	sub := q.userID
	if sub == "" {
		sub = q.client.id() // §2.2: the client itself for client_credentials
	}
	aud := srv.audience
	if len(aud) == 0 {
		aud = []string{srv.issuer(r)}
	}
	exp := now.Add(srv.life.access)
	if srv.life.access <= 0 {
		// timeToExpiry: 0 issues an expired token (Express Gateway's exp =
		// iat). An exp of now would still pass a verifier's clock
		// tolerance, the gateway's own 5s included, so it is set before
		// any tolerance reaches (RFC 7519 §4.1.4: "usually no more than a
		// few minutes").
		exp = now.Add(-expiredBackdate)
	}
	claims := jwt.MapClaims{
		"iss":       srv.issuer(r),
		"sub":       sub,
		"aud":       aud,
		"client_id": q.client.id(),
		"jti":       secret.GenerateHex(16),
		"iat":       now.Unix(),
		"exp":       exp.Unix(),
	}
	if len(aud) == 1 {
		claims["aud"] = aud[0]
	}
	if len(q.scopes) > 0 {
		claims["scope"] = strings.Join(q.scopes, " ")
	}
	if srv.legacyClaims {
		// Express Gateway's createJWT({consumerId, scopes}): the client's
		// id and the scopes as a list, which upstreams written for it
		// decode. Always a list here, empty when no scope was granted (EG
		// left the claim out then), so such an upstream need not test for
		// it. The RFC 9068 claims above stay, for RFC resource servers.
		claims["consumerId"] = q.client.id()
		claims["scopes"] = append([]string{}, q.scopes...)
	}
	if q.refresh {
		// The grant (refresh-token family) the token belongs to: revoking
		// the grant (code replay, refresh-token reuse, revocation of the
		// refresh token) revokes its JWTs too.
		claims["grant_id"] = q.family
	}
	return srv.keys.sign(claims)
}
