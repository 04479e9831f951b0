package oauth2server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/urlpath"
)

// session is a browser session: anonymous (only a CSRF token and where to
// go after login) until the user logs in. It lives in the store, so any
// node can serve the next request.
type session struct {
	UserID   string `json:"userId,omitempty"`
	CSRF     string `json:"csrf"`
	ReturnTo string `json:"returnTo,omitempty"`
	// Client is the application whose authorization request sent the
	// user to sign in: the sign-in page names it.
	Client    string    `json:"client,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	// How and when the user signed in, for ID tokens (OpenID Connect Core
	// 1.0 §2: auth_time, acr, amr) and the sign-in session's id (sid,
	// Back-Channel Logout 1.0 §2.1), set by login.
	AuthTime time.Time `json:"authTime,omitzero"`
	ACR      string    `json:"acr,omitempty"`
	AMR      []string  `json:"amr,omitempty"`
	SID      string    `json:"sid,omitempty"`
	// LoginHint prefills the sign-in form (login_hint, OpenID Connect
	// Core 1.0 §3.1.2.1) of the request that sent the user to sign in.
	LoginHint string `json:"loginHint,omitempty"`
	// FreshFor is the hash of the authorization request a sign-in was
	// made for, until that request is served once (prompt.go:
	// freshSignIn), so that prompt=login and max_age are met by it.
	FreshFor string `json:"freshFor,omitempty"`
}

// transaction is an authorization request waiting for the user's decision.
type transaction struct {
	Session          string   `json:"session"` // hash of the session cookie
	UserID           string   `json:"userId"`
	ClientID         string   `json:"clientId"`
	RedirectURI      string   `json:"redirectUri"`
	RedirectURIGiven bool     `json:"redirectUriGiven"`
	Scopes           []string `json:"scopes"`
	State            string   `json:"state"`
	ResponseType     string   `json:"responseType"`
	CodeChallenge    string   `json:"codeChallenge,omitempty"`
	Method           string   `json:"method,omitempty"`
	// What the code's ID token will say (store.Code): the request's nonce
	// and the session's sign-in.
	Nonce    string    `json:"nonce,omitempty"`
	AuthTime time.Time `json:"authTime,omitzero"`
	SID      string    `json:"sid,omitempty"`
	ACR      string    `json:"acr,omitempty"`
	AMR      []string  `json:"amr,omitempty"`
}

func hashID(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// loadSession returns the session of the request's cookie, or nil.
func (srv *Server) loadSession(ctx context.Context, r *http.Request) (*session, string, error) {
	c, err := r.Cookie(srv.sessionCookieName(r))
	if err != nil || len(c.Value) < 32 || len(c.Value) > 128 {
		return nil, "", nil
	}
	id := hashID(c.Value)
	var s session
	found, err := srv.s.GetRecord(ctx, "session", id, &s)
	if err != nil || !found {
		return nil, "", err
	}
	if srv.now().Sub(s.CreatedAt) > srv.life.session { // the store's TTL may lag in caches
		return nil, "", nil
	}
	return &s, id, nil
}

// newSession starts a session (a fresh id also on login: no fixation) and
// sets its cookie (cookie.go).
func (srv *Server) newSession(ctx context.Context, w http.ResponseWriter, r *http.Request, s *session) (string, error) {
	value := secret.Generate(43)
	id := hashID(value)
	if s.CSRF == "" {
		s.CSRF = secret.Generate(32)
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = srv.now()
	}
	if err := srv.s.PutRecord(ctx, "session", id, s, srv.life.session); err != nil {
		return "", err
	}
	srv.setSessionCookie(w, r, value, srv.life.session)
	return id, nil
}

func (srv *Server) saveSession(ctx context.Context, id string, s *session) error {
	return srv.s.PutRecord(ctx, "session", id, s, srv.life.session)
}

func (srv *Server) clearCookie(w http.ResponseWriter, r *http.Request) {
	srv.setSessionCookie(w, r, "", -1)
}

func csrfOK(s *session, got string) bool {
	return s != nil && got != "" && subtle.ConstantTimeCompare([]byte(s.CSRF), []byte(got)) == 1
}

// authRequest is a validated authorization request.
type authRequest struct {
	client       *store.Consumer
	cred         *store.Credential
	redirectURI  string
	given        bool
	responseType string
	scopes       []string
	state        string
	challenge    string
	method       string
	// nonce is echoed in the ID token (OpenID Connect Core 1.0 §3.1.2.1).
	nonce string
	// params are prompt, max_age and the hints (prompt.go).
	params authParams
}

// errorPage is an authorization error that must not be redirected: the
// client or its redirect URI could not be trusted (RFC 6749 §4.1.2.1).
type errorPage struct {
	status int
	title  string
	msg    string
}

func (e *errorPage) Error() string { return e.msg }

// redirectError is an authorization error sent back to the client's
// validated redirect URI.
type redirectError struct {
	code, desc string
}

func (e *redirectError) Error() string { return e.code + ": " + e.desc }

// validate checks an authorization request (RFC 6749 §4.1.1, §4.2.1,
// RFC 7636 §4.3). Client and redirect URI problems are errorPage; the rest,
// once the redirect URI is trusted, redirectError.
func (srv *Server) validate(ctx context.Context, q url.Values) (*authRequest, error) {
	ar, err := srv.validClient(ctx, q)
	if err != nil {
		return nil, err
	}
	if err := srv.validGrant(ar, q); err != nil {
		return ar, err
	}
	return ar, nil
}

// validClient checks the client and picks the redirect URI: until it is
// trusted, every problem is an errorPage shown here, never a redirect.
func (srv *Server) validClient(ctx context.Context, q url.Values) (*authRequest, error) {
	for k, v := range q {
		if len(v) > 1 {
			return nil, &errorPage{400, "Invalid request", "The parameter " + k + " is repeated."}
		}
	}
	clientID := q.Get("client_id")
	if clientID == "" {
		return nil, &errorPage{400, "Invalid request", "The request has no client_id."}
	}
	consumer, err := srv.s.GetConsumer(ctx, clientID, false)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !consumer.Active()) {
		return nil, &errorPage{400, "Unknown application", "The application asking for access is not registered or not active."}
	} else if err != nil {
		return nil, err
	}
	cred, err := srv.s.GetCredential(ctx, store.OAuth2, consumer.ID())
	if errors.Is(err, store.ErrNotFound) || (err == nil && !cred.IsActive) {
		return nil, &errorPage{400, "Unknown application", "The application has no active OAuth 2.0 credential."}
	} else if err != nil {
		return nil, err
	}
	// Exact matching against the registered URIs (RFC 9700 §4.1.3), but
	// for the port of a loopback URI (RFC 8252 §7.3): redirectRegistered.
	var registered []string
	if consumer.App != nil && consumer.App.RedirectURI != "" {
		registered = append(registered, consumer.App.RedirectURI)
	} else if consumer.User != nil && consumer.User.RedirectURI != "" {
		registered = append(registered, consumer.User.RedirectURI)
	}
	registered = append(registered, cred.RedirectURIs...)
	ar := &authRequest{client: consumer, cred: cred, state: q.Get("state")}
	switch ru := q.Get("redirect_uri"); {
	case ru != "":
		if !redirectRegistered(registered, ru) {
			return nil, &errorPage{400, "Invalid redirect URI", "The redirect URI is not registered for this application."}
		}
		ar.redirectURI, ar.given = ru, true
	case len(registered) == 1:
		ar.redirectURI = registered[0]
	default:
		return nil, &errorPage{400, "Invalid request", "The request must name one of the application's registered redirect URIs."}
	}
	return ar, nil
}

// validGrant checks what the client asks for: the response type, the
// scopes and PKCE. Its errors are redirectError, sent to the trusted
// redirect URI.
func (srv *Server) validGrant(ar *authRequest, q url.Values) error {
	ar.responseType = q.Get("response_type")
	switch ar.responseType {
	case "code":
	case "token":
		if !srv.o.AllowImplicit {
			return &redirectError{"unsupported_response_type", "the implicit grant is disabled"}
		}
	case "":
		return &redirectError{"invalid_request", "Missing required parameter: response_type"}
	default:
		return &redirectError{"unsupported_response_type", "unsupported response_type " + ar.responseType}
	}
	// The client's registration (response_types, grant_types: OpenID
	// Connect Dynamic Client Registration 1.0 §2) may allow fewer; absent,
	// every response type is allowed, as before (RFC 6749 §4.1.2.1:
	// unauthorized_client).
	if !ar.cred.AllowsResponseType(ar.responseType) {
		return &redirectError{"unauthorized_client", "the application is not registered for response_type " + ar.responseType}
	}
	// Request objects are not supported: OpenID Connect Core 1.0 §6.1 and
	// §6.2 have the server answer request_not_supported and
	// request_uri_not_supported (§3.1.2.6) rather than ignore them, since
	// the object may carry parameters that override the query's. Other
	// unknown parameters are ignored (RFC 6749 §3.1).
	if q.Has("request") {
		return &redirectError{"request_not_supported", "request objects (the request parameter) are not supported"}
	}
	if q.Has("request_uri") {
		return &redirectError{"request_uri_not_supported", "request objects by reference (the request_uri parameter) are not supported"}
	}
	ar.nonce = q.Get("nonce")
	var err error
	if ar.params, err = parseAuthParams(q); err != nil {
		return err
	}
	if ar.scopes, err = grantScopes(q.Get("scope"), ar.cred.Scopes); err != nil {
		return &redirectError{"invalid_scope", "a requested scope is not allowed for this application"}
	}
	if ar.responseType == "token" && strings.TrimSpace(q.Get("scope")) == "" {
		// The implicit grant without scope issues a token with none, as
		// Express Gateway does (RFC 6749 §3.3 lets the server choose): a
		// token in a URL fragment gets only what was asked for.
		ar.scopes = nil
	}
	return srv.validPKCE(ar, q)
}

// validPKCE checks the code challenge (RFC 7636 §4.3): S256 (plain only
// when allowed), required of public clients asking for a code, refused
// with the implicit grant.
func (srv *Server) validPKCE(ar *authRequest, q url.Values) error {
	ar.challenge, ar.method = q.Get("code_challenge"), q.Get("code_challenge_method")
	if ar.challenge != "" {
		switch ar.method {
		case "":
			ar.method = "plain"
			fallthrough
		case "plain":
			if !srv.o.AllowPlainPKCE {
				return &redirectError{"invalid_request", "code_challenge_method must be S256"}
			}
		case "S256":
		default:
			return &redirectError{"invalid_request", "unsupported code_challenge_method"}
		}
		if len(ar.challenge) < 43 || len(ar.challenge) > 128 {
			return &redirectError{"invalid_request", "code_challenge must be 43 to 128 characters"}
		}
	} else if ar.cred.Public() && ar.responseType == "code" {
		return &redirectError{"invalid_request", "public clients must send a PKCE code_challenge (S256)"}
	}
	if ar.responseType == "token" && ar.challenge != "" {
		return &redirectError{"invalid_request", "PKCE does not apply to the implicit grant"}
	}
	return nil
}

// redirect sends the client back with parameters in the query (code) or
// the fragment (implicit), keeping the redirect URI's own query.
func redirectTo(w http.ResponseWriter, r *http.Request, base string, fragment bool, v url.Values) {
	u, err := url.Parse(base)
	if err != nil {
		http.Error(w, "bad redirect URI", http.StatusBadRequest)
		return
	}
	if fragment {
		u.Fragment = ""
		u.RawFragment = ""
		loc := u.String() + "#" + v.Encode()
		w.Header().Set("Location", loc)
	} else {
		q := u.Query()
		for k, vals := range v {
			q[k] = vals
		}
		u.RawQuery = q.Encode()
		w.Header().Set("Location", u.String())
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusFound)
}

// authorize is GET /oauth2/authorize.
func (srv *Server) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	ar, err := srv.validate(ctx, q)
	var page *errorPage
	if errors.As(err, &page) {
		srv.renderError(w, page.status, page.title, page.msg)
		return
	}
	var rerr *redirectError
	if errors.As(err, &rerr) {
		v := url.Values{"error": {rerr.code}, "error_description": {rerr.desc}}
		if ar.state != "" {
			v.Set("state", ar.state)
		}
		redirectTo(w, r, ar.redirectURI, ar.responseType == "token", v)
		return
	}
	if err != nil {
		srv.serverError(w, err)
		return
	}
	sess, sid, err := srv.loadSession(ctx, r)
	if err != nil {
		srv.serverError(w, err)
		return
	}
	// fail answers the client at its redirect URI (OpenID Connect Core
	// 1.0 §3.1.2.6), the way prompt=none asks for instead of a page.
	fail := func(code, desc string) {
		v := url.Values{"error": {code}, "error_description": {desc}}
		if ar.state != "" {
			v.Set("state", ar.state)
		}
		redirectTo(w, r, ar.redirectURI, ar.responseType == "token", v)
	}
	toSignIn := func() {
		// Log in first, then come back here (Express Gateway: 302 /login).
		if sess == nil {
			sess, sid = &session{}, ""
		}
		sess.Client, sess.LoginHint = ar.client.ID(), ar.params.loginHint
		if err := srv.toLogin(ctx, w, r, sess, sid, r.URL.RequestURI()); err != nil {
			srv.serverError(w, err)
		}
	}
	if sess == nil || sess.UserID == "" {
		if ar.params.none {
			fail("login_required", "the user is not signed in")
			return
		}
		toSignIn()
		return
	}
	user, err := srv.s.GetUser(ctx, sess.UserID)
	if err != nil || !user.IsActive {
		_ = srv.s.DeleteRecord(ctx, "session", sid)
		srv.clearCookie(w, r)
		if ar.params.none {
			fail("login_required", "the user is not signed in")
			return
		}
		srv.renderError(w, http.StatusForbidden, "Signed out", "Your account is no longer active.")
		return
	}
	fresh := freshSignIn(sess, canonicalRequest(r.URL.RequestURI()))
	again, err := srv.needsSignIn(ctx, ar, sess, fresh)
	if errors.As(err, &rerr) {
		fail(rerr.code, rerr.desc)
		return
	} else if err != nil {
		srv.serverError(w, err)
		return
	}
	if again {
		if ar.params.none {
			fail("login_required", "the request needs the user to sign in again")
			return
		}
		toSignIn()
		return
	}
	if fresh { // spent: a reload of the same request asks again
		sess.FreshFor = ""
		if err := srv.saveSession(ctx, sid, sess); err != nil {
			srv.serverError(w, err)
			return
		}
	}
	tid := secret.Generate(22)
	tx := transaction{Session: sid, UserID: user.ID, ClientID: ar.client.ID(), RedirectURI: ar.redirectURI,
		RedirectURIGiven: ar.given, Scopes: ar.scopes, State: ar.state, ResponseType: ar.responseType,
		CodeChallenge: ar.challenge, Method: ar.method,
		Nonce: ar.nonce, AuthTime: sess.AuthTime, SID: sess.SID, ACR: sess.ACR, AMR: sess.AMR}
	// A consent the user gave this client for these scopes before is not
	// asked again (Core §3.1.2.4), unless prompt=consent.
	if !ar.params.consent {
		remembered, err := srv.consentRemembered(ctx, ar, user.ID)
		if err != nil {
			srv.serverError(w, err)
			return
		}
		if remembered {
			srv.respond(ctx, w, r, &tx)
			return
		}
	}
	if ar.params.none {
		fail("consent_required", "the user has not allowed this application these scopes")
		return
	}
	if err := srv.s.PutRecord(ctx, "authz", tid, &tx, srv.life.transaction); err != nil {
		srv.serverError(w, err)
		return
	}
	details, err := srv.s.ScopeDetails(ctx, ar.scopes)
	if err != nil {
		srv.serverError(w, err)
		return
	}
	w.Header().Set("transaction_id", tid) // Express Gateway's tests read it
	srv.render(w, http.StatusOK, "consent", consentData{
		Title: "Authorize " + ar.client.Name(), User: user, ClientName: ar.client.Name(), ClientID: ar.client.ID(),
		Scopes: ar.scopes, ScopeDetails: details, TransactionID: tid, CSRF: sess.CSRF, RedirectHost: hostOf(ar.redirectURI),
	})
}

func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Host
}

// signedInForm reads the POSTed form of a signed-in user's page (consent,
// account): bounded, from a session with a user, with the session's CSRF
// token. Otherwise it answers (the form error, a redirect to sign in, 403)
// and returns ok false.
func (srv *Server) signedInForm(w http.ResponseWriter, r *http.Request) (sess *session, sid string, ok bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		srv.renderError(w, http.StatusBadRequest, "Invalid request", "The form could not be read.")
		return nil, "", false
	}
	sess, sid, err := srv.loadSession(r.Context(), r)
	if err != nil {
		srv.serverError(w, err)
		return nil, "", false
	}
	if sess == nil || sess.UserID == "" {
		w.Header().Set("Location", "/login")
		w.WriteHeader(http.StatusFound)
		return nil, "", false
	}
	if !csrfOK(sess, r.PostForm.Get("_csrf")) {
		srv.renderError(w, http.StatusForbidden, "Request refused", "The form has expired or did not come from this site. Go back and try again.")
		return nil, "", false
	}
	return sess, sid, true
}

// decision is POST /oauth2/authorize/decision: the user allowed or denied.
func (srv *Server) decision(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess, sid, ok := srv.signedInForm(w, r)
	if !ok {
		return
	}
	tid := r.Form.Get("transaction_id")
	if tid == "" {
		srv.renderError(w, http.StatusBadRequest, "Invalid request", "Missing required parameter: transaction_id")
		return
	}
	var tx transaction
	found, err := srv.s.TakeRecord(ctx, "authz", tid, &tx)
	if err != nil {
		srv.serverError(w, err)
		return
	}
	if !found || tx.Session != sid || tx.UserID != sess.UserID {
		srv.renderError(w, http.StatusForbidden, "Request expired", "Unable to load the authorization request; start again from the application.")
		return
	}
	// Deny when the form says so: the consent page's Deny button is named
	// "cancel" (Express Gateway's had no name, so Cancel approved, B-11).
	if r.PostForm.Get("cancel") != "" || r.PostForm.Get("decision") == "deny" {
		v := url.Values{"error": {"access_denied"}}
		if tx.State != "" {
			v.Set("state", tx.State)
		}
		redirectTo(w, r, tx.RedirectURI, tx.ResponseType == "token", v)
		return
	}
	if err := srv.rememberConsent(ctx, &tx); err != nil {
		srv.serverError(w, err)
		return
	}
	srv.respond(ctx, w, r, &tx)
}

// respond answers an allowed authorization request: a code, or the
// implicit grant's token, at the redirect URI.
func (srv *Server) respond(ctx context.Context, w http.ResponseWriter, r *http.Request, tx *transaction) {
	implicit := tx.ResponseType == "token"
	v := url.Values{}
	if tx.State != "" {
		v.Set("state", tx.State)
	}
	consumer, err := srv.s.GetConsumer(ctx, tx.ClientID, false)
	if err != nil || !consumer.Active() {
		v.Set("error", "unauthorized_client")
		redirectTo(w, r, tx.RedirectURI, implicit, v)
		return
	}
	if implicit {
		cred, err := srv.s.GetCredential(ctx, store.OAuth2, consumer.ID())
		if err != nil {
			srv.serverError(w, err)
			return
		}
		resp, err := srv.issue(ctx, r, issueRequest{client: &client{consumer: consumer, cred: cred}, userID: tx.UserID,
			scopes: tx.Scopes, grant: "implicit", redirectURI: tx.RedirectURI})
		if err != nil {
			srv.serverError(w, err)
			return
		}
		v.Set("access_token", resp["access_token"].(string))
		v.Set("token_type", "Bearer")
		v.Set("expires_in", sprintf("%d", resp["expires_in"]))
		if s, ok := resp["scope"].(string); ok {
			v.Set("scope", s)
		}
		redirectTo(w, r, tx.RedirectURI, true, v)
		return
	}
	code := secret.Generate(43)
	now := srv.now()
	c := &store.Code{ID: codeHash(code), ConsumerID: consumer.ID(), UserID: tx.UserID, RedirectURI: tx.RedirectURI,
		RedirectURIGiven: tx.RedirectURIGiven, Scopes: tx.Scopes, CodeChallenge: tx.CodeChallenge,
		CodeChallengeMethod: tx.Method, CreatedAt: now, ExpiresAt: now.Add(srv.life.code),
		Nonce: tx.Nonce, AuthTime: tx.AuthTime, SID: tx.SID, ACR: tx.ACR, AMR: tx.AMR}
	if err := srv.saveCode(ctx, c); err != nil {
		srv.serverError(w, err)
		return
	}
	if err := srv.sessionClient(ctx, tx); err != nil {
		srv.serverError(w, err)
		return
	}
	v.Set("code", code)
	redirectTo(w, r, tx.RedirectURI, false, v)
}

// loginPage is GET /login. ?return_to=<path> says where to go after
// signing in; only a path on this server is kept (urlpath.LocalReference:
// no open redirect), anything else is ignored.
func (srv *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess, sid, err := srv.loadSession(ctx, r)
	if err != nil {
		srv.serverError(w, err)
		return
	}
	ret := r.URL.Query().Get("return_to")
	if urlpath.LocalReference(ret) != nil {
		ret = ""
	}
	if sess == nil {
		sess = &session{ReturnTo: ret}
		if _, err := srv.newSession(ctx, w, r, sess); err != nil {
			srv.serverError(w, err)
			return
		}
	} else if ret != "" {
		sess.ReturnTo, sess.Client = ret, ""
		if err := srv.saveSession(ctx, sid, sess); err != nil {
			srv.serverError(w, err)
			return
		}
	}
	srv.render(w, http.StatusOK, "login", srv.loginData(ctx, sess, "", ""))
}

// loginData is the sign-in page's data; it names the application that
// sent the user here, if one did.
func (srv *Server) loginData(ctx context.Context, sess *session, username, msg string) loginData {
	if username == "" {
		username = sess.LoginHint // login_hint (OpenID Connect Core 1.0 §3.1.2.1)
	}
	d := loginData{Title: "Sign in", CSRF: sess.CSRF, Username: username, Error: msg}
	if sess.Client != "" {
		if c, err := srv.s.GetConsumer(ctx, sess.Client, false); err == nil && c.Active() {
			d.ClientName = c.Name()
		}
	}
	return d
}

// login is POST /login: check the user's basic-auth credential, start an
// authenticated session with a new id, and go back where the user was.
func (srv *Server) login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		srv.renderError(w, http.StatusBadRequest, "Invalid request", "The form could not be read.")
		return
	}
	sess, sid, err := srv.loadSession(ctx, r)
	if err != nil {
		srv.serverError(w, err)
		return
	}
	if !csrfOK(sess, r.PostForm.Get("_csrf")) {
		// Login CSRF (Express Gateway had none, B-10): start over with a
		// fresh form.
		if sess == nil {
			sess = &session{}
			if _, err := srv.newSession(ctx, w, r, sess); err != nil {
				srv.serverError(w, err)
				return
			}
		}
		srv.render(w, http.StatusForbidden, "login", srv.loginData(ctx, sess, "", "Your sign-in form expired. Please try again."))
		return
	}
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	// Failures count per user and client address, per address, and per
	// user (internal/lockout); the page says which, without blaming the
	// reader for attempts that may be someone else's.
	addr, account := srv.o.ClientAddr(r), srv.account(ctx, username)
	if v := srv.lockout.SignIn.Check(ctx, account, addr); v.Blocked {
		w.Header().Set("Retry-After", strconv.Itoa(v.Seconds()))
		srv.render(w, http.StatusTooManyRequests, "login", srv.loginData(ctx, sess, username, tooManyMessage(v)))
		return
	}
	user, err := srv.checkUserPassword(ctx, username, password)
	if err != nil {
		var oe *oauthError
		if !errors.As(err, &oe) {
			srv.serverError(w, err)
			return
		}
		srv.lockout.SignIn.Fail(ctx, account, addr)
		srv.render(w, http.StatusUnauthorized, "login", srv.loginData(ctx, sess, username, "The user name or password is incorrect."))
		return
	}
	// Back to the authorization request (or return_to), else to
	// oauth2.signInRedirect: a sign-in at /login no longer lands on "/",
	// which is the gateway's (a JSON 404 when no route serves it).
	ret := srv.returnTo(sess.ReturnTo)
	_ = srv.s.DeleteRecord(ctx, "session", sid)
	// amr "pwd": the sign-in form checks a password (RFC 8176 §2).
	signedIn := &session{UserID: user.ID, AuthTime: srv.now(), AMR: []string{"pwd"}, SID: secret.Generate(22)}
	if sess.ReturnTo != "" {
		// The request that sent the user here is served by this sign-in
		// even if it forces one (prompt=login, max_age: prompt.go).
		signedIn.FreshFor = hashID(canonicalRequest(ret))
	}
	if _, err := srv.newSession(ctx, w, r, signedIn); err != nil {
		srv.serverError(w, err)
		return
	}
	w.Header().Set("Location", ret)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusFound)
}

// logoutPage is GET /logout: a form, because a GET cannot carry a CSRF
// token.
func (srv *Server) logoutPage(w http.ResponseWriter, r *http.Request) {
	sess, _, err := srv.loadSession(r.Context(), r)
	if err != nil {
		srv.serverError(w, err)
		return
	}
	if sess == nil || sess.UserID == "" {
		w.Header().Set("Location", "/login")
		w.WriteHeader(http.StatusFound)
		return
	}
	srv.render(w, http.StatusOK, "logout", logoutData{Title: "Sign out", CSRF: sess.CSRF, Action: "/logout"})
}

// logout is POST /logout: the session is deleted from the store, so it
// really ends (Express Gateway's did not, B-12), and its clients are told
// (Back-Channel Logout 1.0, logout.go).
func (srv *Server) logout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	_ = r.ParseForm()
	sess, sid, err := srv.loadSession(ctx, r)
	if err != nil {
		srv.serverError(w, err)
		return
	}
	if sess != nil {
		if !csrfOK(sess, r.PostForm.Get("_csrf")) {
			srv.renderError(w, http.StatusForbidden, "Request refused", "The form has expired or did not come from this site.")
			return
		}
		if sess.UserID != "" {
			err = srv.endSignIn(ctx, r, sess, sid) // back-channel logout too
		} else {
			err = srv.s.DeleteRecord(ctx, "session", sid)
		}
		if err != nil {
			srv.serverError(w, err)
			return
		}
	}
	srv.clearCookie(w, r)
	w.Header().Set("Location", "/login")
	w.WriteHeader(http.StatusFound)
}
