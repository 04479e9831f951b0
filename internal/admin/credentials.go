package admin

import (
	"cmp"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/internal/model"
	"github.com/gatehouse/gatehouse/internal/store"
)

// GET /credentials: every consumer's credentials (Express Gateway read
// only the first SCAN page of consumers).
func (a *server) allCredentials(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var ids []string
	var cursor uint64
	for {
		users, next, err := a.consumers.ListUsers(ctx, cursor, maxCount)
		if err != nil {
			return err
		}
		for _, u := range users {
			ids = append(ids, u.ID)
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	for {
		apps, next, err := a.consumers.ListApps(ctx, cursor, maxCount)
		if err != nil {
			return err
		}
		for _, app := range apps {
			ids = append(ids, app.ID)
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	out := []object{}
	for _, id := range ids {
		creds, err := a.creds.ListCredentials(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return err
		}
		for _, c := range sortCredentials(creds) {
			out = append(out, credentialJSON(c, ""))
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"credentials": out})
}

func sortCredentials(cs []*store.Credential) []*store.Credential {
	slices.SortFunc(cs, func(x, y *store.Credential) int {
		return cmp.Or(cmp.Compare(x.Type, y.Type), cmp.Compare(x.ID, y.ID))
	})
	return cs
}

// credentialFields are the properties inside "credential": the store's
// errors name them bare, the API names them credential.<name>.
var credentialFields = []string{"password", "secret", "keyId", "keySecret", "scopes", "autoGeneratePassword", "redirectUris", "passwordKey",
	"post_logout_redirect_uris", "backchannel_logout_uri", "backchannel_logout_session_required", "subject_type",
	"sector_identifier_uri", "id_token_signed_response_alg", "token_endpoint_auth_method", "grant_types", "response_types"}

// POST /credentials {"consumerId", "type", "credential": {...}}
func (a *server) createCredential(w http.ResponseWriter, r *http.Request) error {
	body, err := decode(r, true)
	if err != nil {
		return err
	}
	if err := only(body, "consumerId", "type", "credential"); err != nil {
		return err
	}
	consumerID, ok := body["consumerId"].(string)
	if !ok || consumerID == "" {
		return badRequest("consumerId", "consumerId is required: a user id or username, or an application id or name")
	}
	typ, ok := body["type"].(string)
	if !ok || typ == "" {
		return badRequest("type", "type is required: one of %s", strings.Join(a.m.CredentialTypes(), ", "))
	}
	var props map[string]any
	switch c := body["credential"].(type) {
	case nil:
	case map[string]any:
		props = c
	default:
		return badRequest("credential", "credential must be a JSON object")
	}
	in, err := a.m.NewCredential(typ, props)
	if err != nil {
		return err
	}
	consumer, err := findConsumer(r.Context(), a.consumers, consumerID)
	if errors.Is(err, store.ErrNotFound) {
		return unknownConsumer(consumerID)
	}
	if err != nil {
		return err
	}
	in.ConsumerID = consumer.ID()
	c, plain, err := a.creds.CreateCredential(r.Context(), in)
	var se *store.Error
	if errors.As(err, &se) {
		if se.Field == "consumerId" && errors.Is(err, store.ErrInvalid) {
			return unknownConsumer(consumerID) // deleted in between
		}
		e := storeError(se)
		if slices.Contains(credentialFields, e.Field) {
			e.Field = "credential." + e.Field
		}
		return e
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, credentialJSON(c, generated(plain, in.Secret+in.KeySecret)))
}

// generated is the plain secret to show in a creation or rotation answer:
// a secret Gatehouse generated, this once; never one the caller chose
// (issue #11 §2, as Express Gateway), which the caller has and which must
// not travel back through logs, proxies and terminals.
func generated(plain, chosen string) string {
	if chosen != "" {
		return ""
	}
	return plain
}

func unknownConsumer(id string) error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "unknown_consumer", Field: "consumerId",
		Message: "No consumer found with id: " + id}
}

// GET /credentials/{consumerId}
func (a *server) consumerCredentials(w http.ResponseWriter, r *http.Request) error {
	consumer, err := findConsumer(r.Context(), a.consumers, r.PathValue("consumerId"))
	if err != nil {
		return err
	}
	creds, err := a.creds.ListCredentials(r.Context(), consumer.ID())
	if err != nil {
		return err
	}
	out := make([]object, 0, len(creds))
	for _, c := range sortCredentials(creds) {
		out = append(out, credentialJSON(c, ""))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"credentials": out})
}

// GET /credentials/{type}/{id}
func (a *server) getCredential(w http.ResponseWriter, r *http.Request) error {
	c, err := a.creds.GetCredential(r.Context(), r.PathValue("type"), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, credentialJSON(c, ""))
}

// DELETE /credentials/{type}/{id} (new: EG issue #383)
func (a *server) deleteCredential(w http.ResponseWriter, r *http.Request) error {
	if err := a.creds.DeleteCredential(r.Context(), r.PathValue("type"), r.PathValue("id")); err != nil {
		return err
	}
	return noContent(w, http.StatusNoContent)
}

// PUT /credentials/{type}/{id}/status {"status": bool}
func (a *server) credentialStatus(w http.ResponseWriter, r *http.Request) error {
	body, err := decode(r, true)
	if err != nil {
		return err
	}
	active, err := statusBody(body)
	if err != nil {
		return err
	}
	changed, err := a.creds.SetCredentialActive(r.Context(), r.PathValue("type"), r.PathValue("id"), active)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, statusText(active, changed))
}

// PUT /credentials/{type}/{id}/secret {"secret": optional} (new: EG issue
// #590). The credential's own field name (password, secret, keySecret) is
// accepted too. No value generates one, and the generated value is in the
// answer, once; a chosen value is never echoed.
func (a *server) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	body, err := decode(r, false)
	if err != nil {
		return err
	}
	typ := r.PathValue("type")
	if !store.ValidType(typ) {
		return badRequest("type", "unknown credential type %q (one of: %s)", typ, strings.Join(store.CredentialTypes, ", "))
	}
	own := model.CredentialField(typ)
	if err := only(body, "secret", own); err != nil {
		return err
	}
	var value string
	for _, k := range []string{"secret", own} {
		v, ok := body[k]
		if !ok || v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return badRequest(k, "%s must be a string (or left out to generate one)", k)
		}
		if value != "" && s != value {
			return badRequest(k, "give the new value once, as secret or %s", own)
		}
		value = s
	}
	c, plain, err := a.creds.RotateSecret(r.Context(), typ, r.PathValue("id"), value)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, credentialJSON(c, generated(plain, value)))
}

// PUT /credentials/{type}/{id}/scopes {"scopes": [...]}
func (a *server) setScopes(w http.ResponseWriter, r *http.Request) error {
	body, err := decode(r, true)
	if err != nil {
		return err
	}
	if err := only(body, "scopes"); err != nil {
		return err
	}
	scopes, err := stringArray(body, "scopes")
	if err != nil {
		return err
	}
	if _, err := a.creds.SetScopes(r.Context(), r.PathValue("type"), r.PathValue("id"), scopes); err != nil {
		return err
	}
	return noContent(w, http.StatusNoContent)
}

// PUT /credentials/{type}/{id}/scopes/{scope}
func (a *server) addScope(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.creds.AddScopes(r.Context(), r.PathValue("type"), r.PathValue("id"), r.PathValue("scope")); err != nil {
		return err
	}
	return noContent(w, http.StatusNoContent)
}

// DELETE /credentials/{type}/{id}/scopes/{scope}
func (a *server) removeScope(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.creds.RemoveScopes(r.Context(), r.PathValue("type"), r.PathValue("id"), r.PathValue("scope")); err != nil {
		return err
	}
	return noContent(w, http.StatusNoContent)
}
