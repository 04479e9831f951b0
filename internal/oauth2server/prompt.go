package oauth2server

import (
	"context"
	"crypto/subtle"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// The authentication request parameters of OpenID Connect Core 1.0
// §3.1.2.1 that decide whether the user sees a page: prompt, max_age,
// login_hint and id_token_hint. ui_locales, claims_locales and display are
// accepted and ignored (the pages have one language and one layout), as
// any other unknown parameter is (RFC 6749 §3.1).

// maxLoginHint bounds the login_hint kept in the session (a user name).
const maxLoginHint = 256

// authParams are a request's OpenID Connect interaction parameters.
type authParams struct {
	// prompt=none: no page at all, an error instead (§3.1.2.6).
	none bool
	// prompt=login (and select_account, which with one account per
	// session means the same: sign in as whom you choose): a fresh
	// sign-in even with a session.
	login bool
	// prompt=consent: the consent page even with a remembered consent.
	consent bool
	// maxAge is max_age in seconds, -1 without one.
	maxAge int64
	// loginHint prefills the sign-in form's user name.
	loginHint string
	// idTokenHint is an ID token this server issued to name the user the
	// client expects signed in.
	idTokenHint string
}

// parseAuthParams reads the parameters; a malformed one is invalid_request
// (§3.1.2.6), sent to the trusted redirect URI.
func parseAuthParams(q url.Values) (authParams, error) {
	p := authParams{maxAge: -1, loginHint: q.Get("login_hint"), idTokenHint: q.Get("id_token_hint")}
	values := strings.Fields(q.Get("prompt"))
	for _, v := range values {
		switch v {
		case "none":
			p.none = true
		case "login", "select_account":
			p.login = true
		case "consent":
			p.consent = true
		default:
			// An unknown value is refused rather than ignored, as Hydra
			// does: the client asked for an interaction this server
			// cannot promise.
			return p, &redirectError{"invalid_request", "unsupported prompt value " + strconv.Quote(v)}
		}
	}
	// §3.1.2.1: "If this parameter contains none with any other value, an
	// error is returned."
	if p.none && len(values) > 1 {
		return p, &redirectError{"invalid_request", "prompt=none cannot be combined with another value"}
	}
	if s := q.Get("max_age"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return p, &redirectError{"invalid_request", "max_age must be a non-negative number of seconds"}
		}
		p.maxAge = n
	}
	if len(p.loginHint) > maxLoginHint {
		p.loginHint = "" // a hint only: a long one is dropped, not an error
	}
	return p, nil
}

// freshSignIn reports whether the session's sign-in was made for this very
// request: login records, in the new session, the hash of the
// authorization request that sent the user to sign in (session.FreshFor).
// A request that forces a sign-in (prompt=login, max_age) is then served
// once by the sign-in it forced, instead of sending the user back to the
// form for ever; the mark is spent by the caller.
func freshSignIn(sess *session, requestURI string) bool {
	return sess.FreshFor != "" && subtle.ConstantTimeCompare([]byte(sess.FreshFor), []byte(hashID(requestURI))) == 1
}

// needsSignIn reports whether the request needs the user to sign in (again)
// although the session has a user: prompt=login, a sign-in older than
// max_age (§3.1.2.1: "the OP MUST attempt to actively re-authenticate"),
// or an id_token_hint naming another user. fresh says the session's
// sign-in was made for this request. A hint that is not an ID token of
// this server is an invalid_request.
func (srv *Server) needsSignIn(ctx context.Context, ar *authRequest, sess *session, fresh bool) (bool, error) {
	if ar.params.idTokenHint != "" {
		same, err := srv.hintNamesUser(ctx, ar, sess.UserID)
		if err != nil {
			return false, err
		}
		if !same {
			return true, nil
		}
	}
	if fresh {
		return false, nil
	}
	if ar.params.login {
		return true, nil
	}
	if ar.params.maxAge >= 0 {
		if sess.AuthTime.IsZero() {
			return true, nil // a session from before auth_time was kept
		}
		if int64(srv.now().Sub(sess.AuthTime)/time.Second) > ar.params.maxAge {
			return true, nil
		}
	}
	return false, nil
}

// hintNamesUser reports whether the id_token_hint's sub is userID's
// subject for the client it was issued to (public or pairwise, §8): the
// requesting client, or the hint's azp when that is another of this
// server's clients.
func (srv *Server) hintNamesUser(ctx context.Context, ar *authRequest, userID string) (bool, error) {
	claims, err := srv.parseIDTokenHint(ar.params.idTokenHint)
	if err != nil {
		return false, &redirectError{"invalid_request", "id_token_hint is not an ID token this server issued"}
	}
	hinted, _ := claims["sub"].(string)
	consumers := []*store.Consumer{ar.client}
	if azp, _ := claims["azp"].(string); azp != "" && azp != ar.client.ID() {
		if c, err := srv.s.GetConsumer(ctx, azp, false); err == nil {
			consumers = append(consumers, c)
		}
	}
	for _, c := range consumers {
		sub, err := srv.subject(ctx, c, userID)
		if err != nil {
			return false, err
		}
		if subtle.ConstantTimeCompare([]byte(sub), []byte(hinted)) == 1 {
			return true, nil
		}
	}
	return false, nil
}

// canonicalRequest is a request URI with its query in canonical order and
// encoding, so that the request a browser comes back with after signing in
// compares equal to the one that sent it, whatever its escaping.
func canonicalRequest(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	return u.Path + "?" + u.Query().Encode()
}
