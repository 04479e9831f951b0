package oauth2server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/urlpath"
)

// The account page: who is signed in, a sign-out button, and the
// applications holding live tokens for the user, each with a button that
// revokes them. It sits under /oauth2/, which the server owns already, so
// it takes no path from the gateway's routes. A sign-in at /login that no
// application started lands here by default (oauth2.signInRedirect).
const (
	accountPath       = "/oauth2/account"
	accountRevokePath = "/oauth2/account/revoke"
)

type accountData struct {
	Title, CSRF string
	User        *store.User
	Apps        []accountApp
	// Revoked names the application whose access was just revoked.
	Revoked string
}

// accountApp is one application the user authorized: its live tokens
// for the user, summed up.
type accountApp struct {
	ID, Name string
	Scopes   []store.Scope
	// Since is when the oldest live token was issued; Until when the last
	// one expires (zero: never).
	Since, Until time.Time
}

// returnTo is where a successful sign-in goes: where the user was going
// (an authorization request, a return_to), when it is a path on this
// server, else oauth2.signInRedirect.
func (srv *Server) returnTo(p string) string {
	if p != "" && urlpath.LocalReference(p) == nil {
		return p
	}
	return srv.signInRedirect
}

// toLogin sends a browser without a signed-in session to /login, to come
// back to ret afterwards: sess (nil for none) is saved under sid, or, when
// sid is empty, as a new session.
func (srv *Server) toLogin(ctx context.Context, w http.ResponseWriter, r *http.Request, sess *session, sid string, ret string) error {
	if sess == nil {
		sess = &session{}
	}
	sess.ReturnTo = ret
	if sid != "" {
		if err := srv.saveSession(ctx, sid, sess); err != nil {
			return err
		}
	} else if _, err := srv.newSession(ctx, w, r, sess); err != nil {
		return err
	}
	w.Header().Set("Location", "/login")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusFound)
	return nil
}

// signedIn returns the session's active user; for a session whose user is
// gone or inactive it ends the session and renders the page that says so
// (nil user, nil error).
func (srv *Server) signedIn(ctx context.Context, w http.ResponseWriter, r *http.Request, sess *session, sid string) (*store.User, error) {
	user, err := srv.s.GetUser(ctx, sess.UserID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if err != nil || !user.IsActive {
		_ = srv.s.DeleteRecord(ctx, "session", sid)
		srv.clearCookie(w, r)
		srv.renderError(w, http.StatusForbidden, "Signed out", "Your account is no longer active.")
		return nil, nil
	}
	return user, nil
}

// accountPage is GET /oauth2/account.
func (srv *Server) accountPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess, user, ok := srv.pageUser(w, r, accountPath)
	if !ok {
		return
	}
	apps, err := srv.authorizedApps(ctx, user.ID)
	if err != nil {
		srv.serverError(w, err)
		return
	}
	data := accountData{Title: "Your account", CSRF: sess.CSRF, User: user, Apps: apps, Revoked: srv.revokedName(r)}
	srv.render(w, http.StatusOK, "account", data)
}

// pageUser is the signed-in user of a page of the sign-in UI at path, and
// the session: a browser without a signed-in session goes to the sign-in
// page, which brings it back to path; ok is false when the answer has been
// written (that redirect, a signed-out page or an error).
func (srv *Server) pageUser(w http.ResponseWriter, r *http.Request, path string) (*session, *store.User, bool) {
	ctx := r.Context()
	sess, sid, err := srv.loadSession(ctx, r)
	if err != nil {
		srv.serverError(w, err)
		return nil, nil, false
	}
	if sess == nil || sess.UserID == "" {
		if sess != nil {
			sess.Client = "" // no application asks any more
		}
		if err := srv.toLogin(ctx, w, r, sess, sid, path); err != nil {
			srv.serverError(w, err)
		}
		return nil, nil, false
	}
	user, err := srv.signedIn(ctx, w, r, sess, sid)
	if err != nil {
		srv.serverError(w, err)
		return nil, nil, false
	}
	return sess, user, user != nil
}

// revokedName is the name of the client a revoke button just took back
// (?revoked=<id>, after revokeFromPage), for the page to say so. Only an
// id travels in the URL; the name shown is the store's.
func (srv *Server) revokedName(r *http.Request) string {
	if id := r.URL.Query().Get("revoked"); id != "" {
		if c, err := srv.s.GetConsumer(r.Context(), id, false); err == nil {
			return c.Name()
		}
	}
	return ""
}

// authorizedApps groups the user's live tokens by application.
func (srv *Server) authorizedApps(ctx context.Context, userID string) ([]accountApp, error) {
	tokens, err := srv.s.UserTokens(ctx, userID)
	if err != nil {
		return nil, err
	}
	byClient := map[string]*accountApp{}
	scopes := map[string][]string{}
	for _, t := range tokens {
		a := byClient[t.ConsumerID]
		if a == nil {
			c, err := srv.s.GetConsumer(ctx, t.ConsumerID, false)
			if errors.Is(err, store.ErrNotFound) {
				continue // the application was deleted: its tokens went with it
			} else if err != nil {
				return nil, err
			}
			a = &accountApp{ID: c.ID(), Name: c.Name(), Since: t.CreatedAt, Until: t.ExpiresAt}
			byClient[t.ConsumerID] = a
		}
		if t.CreatedAt.Before(a.Since) {
			a.Since = t.CreatedAt
		}
		if !a.Until.IsZero() && (t.ExpiresAt.IsZero() || t.ExpiresAt.After(a.Until)) {
			a.Until = t.ExpiresAt
		}
		for _, sc := range t.Scopes {
			if !slices.Contains(scopes[t.ConsumerID], sc) {
				scopes[t.ConsumerID] = append(scopes[t.ConsumerID], sc)
			}
		}
	}
	out := make([]accountApp, 0, len(byClient))
	for id, a := range byClient {
		names := scopes[id]
		slices.Sort(names)
		details, err := srv.s.ScopeDetails(ctx, names)
		if err != nil {
			return nil, err
		}
		a.Scopes = details
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b accountApp) int {
		if c := strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// accountRevoke is POST /oauth2/account/revoke: the user takes back an
// application's access, so every live token the application holds for
// the user is revoked, whole grants at a time (RFC 7009 §2.1: with a
// refresh token go the access tokens of its grant, JWTs included).
func (srv *Server) accountRevoke(w http.ResponseWriter, r *http.Request) {
	srv.revokeFromPage(w, r, accountPath)
}

// revokeFromPage is the revoke button of the account and consents pages:
// the signed-in user's consent for the form's client_id is forgotten (the
// pages say the application has to ask again) and its tokens revoked; the
// browser goes back to the page at back with a 303, which it follows with a
// GET (RFC 9110 §15.4.4).
func (srv *Server) revokeFromPage(w http.ResponseWriter, r *http.Request, back string) {
	ctx := r.Context()
	sess, _, ok := srv.signedInForm(w, r)
	if !ok {
		return
	}
	client := r.PostForm.Get("client_id")
	if client == "" {
		srv.renderError(w, http.StatusBadRequest, "Invalid request", "Missing required parameter: client_id")
		return
	}
	if err := srv.revokeConsent(ctx, sess.UserID, client); err != nil {
		srv.serverError(w, err)
		return
	}
	w.Header().Set("Location", back+"?revoked="+url.QueryEscape(client))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusSeeOther)
}

// revokeUserClient revokes the live tokens of one client for one user;
// with keepOffline, not the grants of offline_access (OpenID Connect Core
// 1.0 §11), which a logout leaves alone.
func (srv *Server) revokeUserClient(ctx context.Context, userID, clientID string, keepOffline bool) error {
	tokens, err := srv.s.UserTokens(ctx, userID)
	if err != nil {
		return err
	}
	families := map[string]bool{}
	for _, t := range tokens {
		if t.ConsumerID != clientID || (keepOffline && slices.Contains(t.Scopes, "offline_access")) {
			continue
		}
		if t.FamilyID != "" {
			if families[t.FamilyID] {
				continue
			}
			families[t.FamilyID] = true
			if _, err := srv.revokeGrant(ctx, t.FamilyID); err != nil {
				return err
			}
			continue
		}
		was, err := srv.s.RevokeToken(ctx, t.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue // expired meanwhile
		} else if err != nil {
			return err
		}
		if !was.Revoked {
			srv.revoked(1)
		}
	}
	return nil
}
