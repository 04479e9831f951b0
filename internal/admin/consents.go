package admin

import (
	"errors"
	"net/http"

	"github.com/gatehouse/gatehouse/internal/store"
)

// GET /consents?userId=&clientId= (new, issue #15): the remembered
// consents (OpenID Connect Core 1.0 §3.1.2.4), every one or those of a
// user (id or username) and/or a client (application id or name).
func (a *server) listConsents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var f store.ConsentFilter
	if id := q.Get("userId"); id != "" {
		u, err := a.consumers.GetUser(r.Context(), id)
		if err != nil {
			return err
		}
		f.UserID = u.ID
	}
	if id := q.Get("clientId"); id != "" {
		c, err := findConsumer(r.Context(), a.consumers, id)
		if err != nil {
			return err
		}
		f.ClientID = c.ID()
	}
	return a.writeConsents(w, r, f)
}

// GET /users/{id}/consents: what the user allowed, client by client.
func (a *server) userConsents(w http.ResponseWriter, r *http.Request) error {
	u, err := a.consumers.GetUser(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return a.writeConsents(w, r, store.ConsentFilter{UserID: u.ID})
}

func (a *server) writeConsents(w http.ResponseWriter, r *http.Request, f store.ConsentFilter) error {
	list, err := a.consents.ListConsents(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]object, 0, len(list))
	for _, c := range list {
		out = append(out, consentJSON(c))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"consents": out})
}

// DELETE /users/{id}/consents/{clientId}: forget the consent and revoke
// the client's tokens for the user (refresh and access); the answer says
// how many refresh tokens that revoked.
func (a *server) revokeConsent(w http.ResponseWriter, r *http.Request) error {
	u, err := a.consumers.GetUser(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	clientID := r.PathValue("clientId")
	if c, err := findConsumer(r.Context(), a.consumers, clientID); err == nil {
		clientID = c.ID()
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	// A client deleted meanwhile has lost its consents with it: the store
	// answers not found.
	n, err := a.consents.RevokeConsent(r.Context(), u.ID, clientID)
	if err != nil {
		return err
	}
	if a.metrics != nil && n > 0 {
		a.metrics.TokensRevoked.Add(float64(n))
	}
	return writeJSON(w, http.StatusOK, object{{"userId", u.ID}, {"clientId", clientID}, {"revoked", true}, {"revokedRefreshTokens", n}})
}

func consentJSON(c *store.Consent) object {
	scopes := c.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return object{{"userId", c.UserID}, {"clientId", c.ClientID}, {"scopes", scopes},
		{"createdAt", formatTime(c.CreatedAt)}, {"updatedAt", formatTime(c.UpdatedAt)}}
}

// clientFields are the OpenID Connect client registration fields of an
// oauth2 credential, under their Dynamic Client Registration 1.0 §2 names.
var clientFields = []string{"post_logout_redirect_uris", "backchannel_logout_uri", "backchannel_logout_session_required",
	"subject_type", "sector_identifier_uri", "id_token_signed_response_alg", "token_endpoint_auth_method",
	"grant_types", "response_types"}

// PUT /credentials/{type}/{id}/client (new, issue #15): replace an oauth2
// credential's client registration. Every field is optional; one left out
// goes back to its default (Express Gateway's behaviour), so the body is
// the whole registration.
func (a *server) setClient(w http.ResponseWriter, r *http.Request) error {
	if typ := r.PathValue("type"); typ != store.OAuth2 {
		return badRequest("type", "client registration fields belong to oauth2 credentials, not %q", typ)
	}
	body, err := decode(r, true)
	if err != nil {
		return err
	}
	if err := only(body, clientFields...); err != nil {
		return err
	}
	m, err := clientMetadata(body)
	if err != nil {
		return err
	}
	c, err := a.creds.SetClientMetadata(r.Context(), r.PathValue("id"), m)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, credentialJSON(c, ""))
}

// clientMetadata reads the registration fields of body: lists as JSON
// arrays of strings (or one string), URIs and names as strings, the
// session flag as a boolean; null is the default.
func clientMetadata(body map[string]any) (store.ClientMetadata, error) {
	var m store.ClientMetadata
	list := func(k string) ([]string, error) {
		switch v := body[k].(type) {
		case nil:
			return nil, nil
		case string:
			return []string{v}, nil
		case []any:
			out := make([]string, 0, len(v))
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					return nil, badRequest(k, "%s must be an array of strings", k)
				}
				out = append(out, s)
			}
			return out, nil
		}
		return nil, badRequest(k, "%s must be an array of strings", k)
	}
	str := func(k string) (string, error) {
		switch v := body[k].(type) {
		case nil:
			return "", nil
		case string:
			return v, nil
		}
		return "", badRequest(k, "%s must be a string", k)
	}
	var err error
	if m.PostLogoutRedirectURIs, err = list("post_logout_redirect_uris"); err != nil {
		return m, err
	}
	if m.GrantTypes, err = list("grant_types"); err != nil {
		return m, err
	}
	if m.ResponseTypes, err = list("response_types"); err != nil {
		return m, err
	}
	for _, f := range []struct {
		k   string
		dst *string
	}{
		{"backchannel_logout_uri", &m.BackchannelLogoutURI}, {"subject_type", &m.SubjectType},
		{"sector_identifier_uri", &m.SectorIdentifierURI}, {"id_token_signed_response_alg", &m.IDTokenSignedResponseAlg},
		{"token_endpoint_auth_method", &m.TokenEndpointAuthMethod},
	} {
		if *f.dst, err = str(f.k); err != nil {
			return m, err
		}
	}
	switch v := body["backchannel_logout_session_required"].(type) {
	case nil:
	case bool:
		m.BackchannelLogoutSessionRequired = v
	default:
		return m, badRequest("backchannel_logout_session_required", "backchannel_logout_session_required must be true or false")
	}
	return m, nil
}
