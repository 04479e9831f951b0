package oauth2server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Remembered consent (OpenID Connect Core 1.0 §3.1.2.4: the server may
// rely on "prior consent"): once the user allows a client some scopes, a
// later request of that client for scopes within them is answered without
// the consent page, unless prompt=consent. Only OpenID Connect requests
// (scope openid) are answered so: a plain OAuth 2.0 request shows the
// consent page every time, as Express Gateway's did, so that its users'
// flows and tests see the page they always saw. The user sees and revokes
// them on the consents page of the sign-in UI; the operator with the Admin
// API and `gatehouse consents`.

const (
	consentsPath       = "/oauth2/account/consents"
	consentsRevokePath = "/oauth2/account/consents/revoke"
)

// consentRemembered reports whether the user allowed the client the
// request's scopes before. A public client whose redirect URI is not https
// (a native app's loopback or private-use scheme, which any app on the
// device can claim) is always asked (RFC 8252 §8.6: no automatic
// approval unless the client's identity can be assured).
func (srv *Server) consentRemembered(ctx context.Context, ar *authRequest, userID string) (bool, error) {
	if !slices.Contains(ar.scopes, "openid") {
		return false, nil
	}
	if ar.cred.Public() && !strings.HasPrefix(ar.redirectURI, "https://") {
		return false, nil
	}
	c, err := srv.s.GetConsent(ctx, userID, ar.client.ID())
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return c.Covers(ar.scopes), nil
}

// rememberConsent records the user's consent to the transaction's scopes,
// for an OpenID Connect request (consentRemembered).
func (srv *Server) rememberConsent(ctx context.Context, tx *transaction) error {
	if !slices.Contains(tx.Scopes, "openid") {
		return nil
	}
	return srv.s.GrantConsent(ctx, tx.UserID, tx.ClientID, tx.Scopes)
}

type consentsData struct {
	Title, CSRF string
	User        *store.User
	Consents    []consentItem
	// Revoked names the application whose consent was just revoked.
	Revoked string
}

// consentItem is one remembered consent, with its client's name and its
// scopes' descriptions.
type consentItem struct {
	ClientID, ClientName string
	Scopes               []store.Scope
	Since                time.Time
}

// consentsPage is GET /oauth2/account/consents: the user's remembered
// consents, each with a revoke button.
func (srv *Server) consentsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess, user, ok := srv.pageUser(w, r, consentsPath)
	if !ok {
		return
	}
	list, err := srv.s.ListConsents(ctx, store.ConsentFilter{UserID: user.ID})
	if err != nil {
		srv.serverError(w, err)
		return
	}
	data := consentsData{Title: "Remembered consents", CSRF: sess.CSRF, User: user}
	for _, c := range list {
		consumer, err := srv.s.GetConsumer(ctx, c.ClientID, false)
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			srv.serverError(w, err)
			return
		}
		scopes := slices.Sorted(slices.Values(c.Scopes))
		details, err := srv.s.ScopeDetails(ctx, scopes)
		if err != nil {
			srv.serverError(w, err)
			return
		}
		data.Consents = append(data.Consents, consentItem{ClientID: c.ClientID, ClientName: consumer.Name(), Scopes: details, Since: c.CreatedAt})
	}
	slices.SortFunc(data.Consents, func(a, b consentItem) int {
		return strings.Compare(strings.ToLower(a.ClientName), strings.ToLower(b.ClientName))
	})
	data.Revoked = srv.revokedName(r)
	srv.render(w, http.StatusOK, "consents", data)
}

// consentsRevoke is POST /oauth2/account/consents/revoke: the consent is
// forgotten, so the client has to ask again, and the client's tokens for
// the user are revoked with it; back to the consents page.
func (srv *Server) consentsRevoke(w http.ResponseWriter, r *http.Request) {
	srv.revokeFromPage(w, r, consentsPath)
}

// revokeConsent takes back what the user allowed a client: its tokens for
// the user (whole grants, JWT access tokens' grants marked revoked, as
// revocation does) and the remembered consent.
func (srv *Server) revokeConsent(ctx context.Context, userID, clientID string) error {
	if err := srv.revokeUserClient(ctx, userID, clientID, false); err != nil {
		return err
	}
	if _, err := srv.s.RevokeConsent(ctx, userID, clientID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}
