package oauth2server

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Logout: RP-Initiated Logout 1.0 at the end_session_endpoint, and
// Back-Channel Logout 1.0 to the clients of the sign-in session that ends
// (by that endpoint or by the sign-out button at /logout).

// endSessionPath is the end_session_endpoint (RP-Initiated Logout 1.0 §2),
// under /oauth2/ which the server owns; /logout stays the sign-in UI's own
// sign-out form.
const endSessionPath = "/oauth2/logout"

// logoutTokenLife is a logout token's lifetime (Back-Channel Logout 1.0
// §2.4 recommends a short one: "two minutes or less").
const logoutTokenLife = 2 * time.Minute

// backchannelEvent is the logout token's event (§2.4).
const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// sessionClients is the "oidc-session" record of a sign-in session (by its
// sid): the user and the clients given an ID token in it, in the store so
// that whichever node ends the session tells them all (§2.1).
type sessionClients struct {
	UserID  string   `json:"userId"`
	Clients []string `json:"clients"`
}

// sessionClient records that the sign-in session of tx gave its client an
// ID token (a code with openid: the token endpoint issues the ID token).
func (srv *Server) sessionClient(ctx context.Context, tx *transaction) error {
	if tx.SID == "" || !slices.Contains(tx.Scopes, "openid") {
		return nil
	}
	_, err := store.UpdateRecord(ctx, srv.s, "oidc-session", tx.SID, func(cur *sessionClients) (*sessionClients, time.Duration, error) {
		if cur == nil {
			cur = &sessionClients{UserID: tx.UserID}
		} else if slices.Contains(cur.Clients, tx.ClientID) {
			return nil, 0, nil
		}
		cur.Clients = append(cur.Clients, tx.ClientID)
		return cur, srv.life.session, nil
	})
	return err
}

// hiddenField is a form value the logout confirmation carries over.
type hiddenField struct{ Name, Value string }

// endSession is the end_session_endpoint, GET and POST (RP-Initiated
// Logout 1.0 §2): id_token_hint, client_id, post_logout_redirect_uri
// (exactly one of the client's registered ones, §3, else an error page and
// no redirect), state (echoed, §3). With an id_token_hint naming the
// signed-in user the session ends at once; without one the user confirms
// first (§2: "the OP SHOULD ask the End-User whether to log out"), so
// that a cross-site link cannot sign anyone out (logout CSRF).
func (srv *Server) endSession(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		srv.renderError(w, http.StatusBadRequest, "Invalid request", "The request could not be read.")
		return
	}
	for k, v := range r.Form {
		if len(v) > 1 {
			srv.renderError(w, http.StatusBadRequest, "Invalid request", "The parameter "+k+" is repeated.")
			return
		}
	}
	hint, clientID := r.Form.Get("id_token_hint"), r.Form.Get("client_id")
	redirect, state := r.Form.Get("post_logout_redirect_uri"), r.Form.Get("state")
	var hinted string
	if hint != "" {
		claims, err := srv.parseIDTokenHint(hint)
		if err != nil {
			srv.renderError(w, http.StatusBadRequest, "Invalid request", "The id_token_hint is not an ID token this server issued.")
			return
		}
		hinted, _ = claims["sub"].(string)
		aud, _ := claims.GetAudience()
		azp, _ := claims["azp"].(string)
		switch {
		case clientID != "":
			// §2: "the OP MUST verify that it matches the ID Token's
			// Client Identifier".
			if !slices.Contains(aud, clientID) {
				srv.renderError(w, http.StatusBadRequest, "Invalid request", "The client_id is not the application the id_token_hint was issued to.")
				return
			}
		case azp != "":
			clientID = azp
		case len(aud) == 1:
			clientID = aud[0]
		}
	}
	var cl *client
	if clientID != "" {
		c, err := srv.logoutClient(ctx, clientID)
		if err != nil {
			srv.serverError(w, err)
			return
		}
		if c == nil {
			srv.renderError(w, http.StatusBadRequest, "Unknown application", "The application is not registered or not active.")
			return
		}
		cl = c
	}
	if redirect != "" {
		// §3: the URI must have been registered; compared exactly, as
		// redirect URIs are (RFC 9700 §4.1.3). Never a redirect otherwise.
		if cl == nil {
			srv.renderError(w, http.StatusBadRequest, "Invalid request", "A post_logout_redirect_uri needs a client_id or an id_token_hint.")
			return
		}
		if !slices.Contains(cl.cred.PostLogoutRedirectURIs, redirect) {
			srv.renderError(w, http.StatusBadRequest, "Invalid redirect URI", "The post-logout redirect URI is not registered for this application.")
			return
		}
	}
	sess, sid, err := srv.loadSession(ctx, r)
	if err != nil {
		srv.serverError(w, err)
		return
	}
	if sess != nil && sess.UserID != "" {
		confirmed := false
		if r.Method == http.MethodPost && r.PostForm.Get("confirm") != "" {
			if !csrfOK(sess, r.PostForm.Get("_csrf")) {
				srv.renderError(w, http.StatusForbidden, "Request refused", "The form has expired or did not come from this site.")
				return
			}
			confirmed = true
		} else if hinted != "" && cl != nil {
			sub, err := srv.subject(ctx, cl.consumer, sess.UserID)
			if err != nil {
				srv.serverError(w, err)
				return
			}
			confirmed = subtle.ConstantTimeCompare([]byte(sub), []byte(hinted)) == 1
		}
		if !confirmed {
			d := logoutData{Title: "Sign out", CSRF: sess.CSRF, Action: endSessionPath,
				Fields: []hiddenField{{"confirm", "1"}}}
			for _, k := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state"} {
				if v := r.Form.Get(k); v != "" {
					d.Fields = append(d.Fields, hiddenField{k, v})
				}
			}
			if cl != nil {
				d.ClientName = cl.consumer.Name()
			}
			srv.render(w, http.StatusOK, "logout", d)
			return
		}
		if err := srv.endSignIn(ctx, r, sess, sid); err != nil {
			srv.serverError(w, err)
			return
		}
	}
	srv.clearCookie(w, r)
	if redirect != "" {
		v := url.Values{}
		if state != "" {
			v.Set("state", state)
		}
		redirectTo(w, r, redirect, false, v)
		return
	}
	srv.render(w, http.StatusOK, "logout", logoutData{Title: "Signed out", Done: true})
}

// logoutClient is the active client clientID with its OAuth2 credential,
// or nil.
func (srv *Server) logoutClient(ctx context.Context, clientID string) (*client, error) {
	consumer, err := srv.s.GetConsumer(ctx, clientID, false)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !consumer.Active()) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	cred, err := srv.s.GetCredential(ctx, store.OAuth2, consumer.ID())
	if errors.Is(err, store.ErrNotFound) || (err == nil && !cred.IsActive) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return &client{consumer: consumer, cred: cred}, nil
}

// endSignIn ends a sign-in session: its store record goes (so every node
// sees it end; the caller clears the cookie), then each client given an ID
// token in it loses the user's tokens but those of offline_access (OpenID
// Connect Core 1.0 §11: offline access outlives the sign-in) and, when it
// registered a backchannel_logout_uri, gets a logout token.
func (srv *Server) endSignIn(ctx context.Context, r *http.Request, sess *session, sid string) error {
	if err := srv.s.DeleteRecord(ctx, "session", sid); err != nil {
		return err
	}
	if sess.SID == "" {
		return nil
	}
	var sc sessionClients
	found, err := srv.s.TakeRecord(ctx, "oidc-session", sess.SID, &sc)
	if err != nil || !found {
		return err
	}
	iss := srv.issuer(r)
	for _, id := range sc.Clients {
		cl, err := srv.logoutClient(ctx, id)
		if err != nil {
			return err
		}
		if cl == nil {
			continue
		}
		if err := srv.revokeUserClient(ctx, sc.UserID, id, true); err != nil {
			return err
		}
		if cl.cred.BackchannelLogoutURI == "" {
			continue
		}
		token, err := srv.logoutToken(ctx, iss, cl, sc.UserID, sess.SID)
		if err != nil {
			return err
		}
		srv.backchannel.send(id, cl.cred.BackchannelLogoutURI, token)
	}
	return nil
}

// logoutToken is Back-Channel Logout 1.0 §2.4's token: iss, aud, iat,
// exp, jti, events, sub (the client's subject of the user) and sid, no
// nonce (§2.4: "MUST NOT"), typ logout+jwt (§2.4, RFC 8725 §3.11), signed
// as the client's ID tokens are.
func (srv *Server) logoutToken(ctx context.Context, iss string, cl *client, userID, sid string) (string, error) {
	sub, err := srv.subject(ctx, cl.consumer, userID)
	if err != nil {
		return "", err
	}
	now := srv.now()
	claims := jwt.MapClaims{
		"iss":    iss,
		"aud":    []string{cl.id()},
		"iat":    now.Unix(),
		"exp":    now.Add(logoutTokenLife).Unix(),
		"jti":    secret.Generate(22),
		"sub":    sub,
		"sid":    sid,
		"events": map[string]any{backchannelEvent: map[string]any{}},
	}
	return srv.signJWTType(claims, srv.idTokenAlg(cl), "logout+jwt")
}
