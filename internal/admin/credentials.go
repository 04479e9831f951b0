package admin

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/internal/model"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// GET /credentials: every consumer's credentials (Express Gateway read
// only the first SCAN page of consumers).
func (a *server) allCredentials(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var ids []string
	var cursor uint64
	for {
		users, next, err := a.s.ListUsers(ctx, cursor, maxCount)
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
		apps, next, err := a.s.ListApps(ctx, cursor, maxCount)
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
		creds, err := a.s.ListCredentials(ctx, id)
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
var credentialFields = []string{"password", "secret", "keyId", "keySecret", "scopes", "autoGeneratePassword", "redirectUris", "passwordKey"}

// POST /credentials {"consumerId", "type", "credential": {...}}
func (a *server) createCredential(w http.ResponseWriter, r *http.Request) error {
	body, err := a.decode(r, true)
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
	consumer, err := a.findConsumer(r.Context(), consumerID)
	if errors.Is(err, store.ErrNotFound) {
		return unknownConsumer(consumerID)
	}
	if err != nil {
		return err
	}
	in.ConsumerID = consumer.ID()
	c, plain, err := a.s.CreateCredential(r.Context(), in)
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
	consumer, err := a.findConsumer(r.Context(), r.PathValue("consumerId"))
	if err != nil {
		return err
	}
	creds, err := a.s.ListCredentials(r.Context(), consumer.ID())
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
	c, err := a.s.GetCredential(r.Context(), r.PathValue("type"), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, credentialJSON(c, ""))
}

// DELETE /credentials/{type}/{id} (new: EG issue #383)
func (a *server) deleteCredential(w http.ResponseWriter, r *http.Request) error {
	if err := a.s.DeleteCredential(r.Context(), r.PathValue("type"), r.PathValue("id")); err != nil {
		return err
	}
	return noContent(w, http.StatusNoContent)
}

// PUT /credentials/{type}/{id}/status {"status": bool}
func (a *server) credentialStatus(w http.ResponseWriter, r *http.Request) error {
	body, err := a.decode(r, true)
	if err != nil {
		return err
	}
	active, err := statusBody(body)
	if err != nil {
		return err
	}
	changed, err := a.s.SetCredentialActive(r.Context(), r.PathValue("type"), r.PathValue("id"), active)
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
	body, err := a.decode(r, false)
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
	c, plain, err := a.s.RotateSecret(r.Context(), typ, r.PathValue("id"), value)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, credentialJSON(c, generated(plain, value)))
}

// PUT /credentials/{type}/{id}/scopes {"scopes": [...]}
func (a *server) setScopes(w http.ResponseWriter, r *http.Request) error {
	body, err := a.decode(r, true)
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
	if _, err := a.s.SetScopes(r.Context(), r.PathValue("type"), r.PathValue("id"), scopes); err != nil {
		return err
	}
	return noContent(w, http.StatusNoContent)
}

// PUT /credentials/{type}/{id}/scopes/{scope}
func (a *server) addScope(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.s.AddScopes(r.Context(), r.PathValue("type"), r.PathValue("id"), r.PathValue("scope")); err != nil {
		return err
	}
	return noContent(w, http.StatusNoContent)
}

// DELETE /credentials/{type}/{id}/scopes/{scope}
func (a *server) removeScope(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.s.RemoveScopes(r.Context(), r.PathValue("type"), r.PathValue("id"), r.PathValue("scope")); err != nil {
		return err
	}
	return noContent(w, http.StatusNoContent)
}

// GET /scopes: Express Gateway's {"scopes": [names]}, and beside it
// {"descriptions": {name: text}} for the scopes that have one.
func (a *server) listScopes(w http.ResponseWriter, r *http.Request) error {
	list, err := a.s.ListScopeDetails(r.Context())
	if err != nil {
		return err
	}
	names := make([]string, 0, len(list))
	descriptions := map[string]string{}
	for _, sc := range list {
		names = append(names, sc.Name)
		if sc.Description != "" {
			descriptions[sc.Name] = sc.Description
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"scopes": names, "descriptions": descriptions})
}

// POST /scopes {"scopes": [...]}: each entry a name (Express Gateway) or
// {"name": ..., "description": ...}. All are created or none; a 409 names
// the scopes that exist.
func (a *server) createScopes(w http.ResponseWriter, r *http.Request) error {
	body, err := a.decode(r, true)
	if err != nil {
		return err
	}
	if err := only(body, "scopes"); err != nil {
		return err
	}
	scopes, err := scopeEntries(body)
	if err != nil {
		return err
	}
	if err := a.s.RegisterScopes(r.Context(), scopes...); err != nil {
		return err
	}
	return noContent(w, http.StatusCreated)
}

// scopeEntries reads POST /scopes' list.
func scopeEntries(body map[string]any) ([]store.Scope, error) {
	const want = `an array of scope names or of {"name": ..., "description": ...} objects`
	v, ok := body["scopes"]
	if !ok || v == nil {
		return nil, badRequest("scopes", "scopes is required: %s", want)
	}
	list, ok := v.([]any)
	if !ok {
		return nil, badRequest("scopes", "scopes must be %s", want)
	}
	out := make([]store.Scope, 0, len(list))
	for i, e := range list {
		switch e := e.(type) {
		case string:
			out = append(out, store.Scope{Name: e})
		case map[string]any:
			for _, k := range sortedKeys(e) {
				if k != "name" && k != "description" {
					return nil, badRequest(fmt.Sprintf("scopes[%d].%s", i, k), "unknown property %q of a scope (expected: name, description)", k)
				}
			}
			name, ok := e["name"].(string)
			if !ok {
				return nil, badRequest(fmt.Sprintf("scopes[%d].name", i), "name is required: a string")
			}
			desc, err := descriptionValue(e, fmt.Sprintf("scopes[%d].description", i))
			if err != nil {
				return nil, err
			}
			out = append(out, store.Scope{Name: name, Description: desc})
		default:
			return nil, badRequest(fmt.Sprintf("scopes[%d]", i), "scopes must be %s", want)
		}
	}
	return out, nil
}

// descriptionValue reads an optional "description" string.
func descriptionValue(m map[string]any, field string) (string, error) {
	v, ok := m["description"]
	if !ok || v == nil {
		return "", nil
	}
	d, ok := v.(string)
	if !ok {
		return "", badRequest(field, "description must be a string")
	}
	return d, nil
}

// scopeJSON is Express Gateway's {"scope": name}, with the description
// when there is one.
func scopeJSON(sc *store.Scope) object {
	o := object{{"scope", sc.Name}}
	if sc.Description != "" {
		o = append(o, field{"description", sc.Description})
	}
	return o
}

// GET /scopes/{scope}
func (a *server) getScope(w http.ResponseWriter, r *http.Request) error {
	sc, err := a.s.GetScope(r.Context(), r.PathValue("scope"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, scopeJSON(sc))
}

// PUT /scopes/{scope}, optionally with {"description": ...}. Without a
// body it is Express Gateway's: 201 when created, 409 when the scope
// exists. With a description it sets it: 201 for a new scope, 200 with the
// scope when it existed.
func (a *server) putScope(w http.ResponseWriter, r *http.Request) error {
	body, err := a.decode(r, false)
	if err != nil {
		return err
	}
	if err := only(body, "description"); err != nil {
		return err
	}
	desc, err := descriptionValue(body, "description")
	if err != nil {
		return err
	}
	name := r.PathValue("scope")
	err = a.s.RegisterScopes(r.Context(), store.Scope{Name: name, Description: desc})
	if errors.Is(err, store.ErrExists) && body != nil {
		sc, err := a.s.SetScopeDescription(r.Context(), name, desc)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, scopeJSON(sc))
	}
	if err != nil {
		return err
	}
	return noContent(w, http.StatusCreated)
}

// DELETE /scopes/{scope}
func (a *server) deleteScope(w http.ResponseWriter, r *http.Request) error {
	if err := a.s.DeleteScope(r.Context(), r.PathValue("scope")); err != nil {
		return err
	}
	return noContent(w, http.StatusNoContent)
}

// GET /tokens?consumerId=x (new): a consumer's live tokens, revoked ones
// included, never their secrets.
func (a *server) listTokens(w http.ResponseWriter, r *http.Request) error {
	id := r.URL.Query().Get("consumerId")
	if id == "" {
		return badRequest("consumerId", "the consumerId query parameter is required: GET /tokens?consumerId=<id>")
	}
	consumer, err := a.findConsumer(r.Context(), id)
	if err != nil {
		return err
	}
	tokens, err := a.s.ListTokens(r.Context(), consumer.ID())
	if err != nil {
		return err
	}
	slices.SortFunc(tokens, func(x, y *store.Token) int {
		return cmp.Or(x.CreatedAt.Compare(y.CreatedAt), cmp.Compare(x.ID, y.ID))
	})
	out := make([]object, 0, len(tokens))
	for _, t := range tokens {
		out = append(out, tokenJSON(t))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

// DELETE /tokens/{token}: the token id, or the whole "id|secret" value
// (URL-encoded). Access and refresh tokens alike. When the secret half is
// given it must match: a wrong one is "not found", as an unknown token.
func (a *server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	raw := r.PathValue("token")
	id, plain, withSecret := strings.Cut(raw, "|")
	if withSecret {
		t, err := a.s.GetToken(r.Context(), id)
		if err != nil {
			return err
		}
		if secret.Verify(t.SecretHash, plain) != nil {
			return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "Token not found: " + id}
		}
	}
	t, err := a.s.RevokeToken(r.Context(), id)
	if err != nil {
		return err
	}
	if !t.Revoked && a.metrics != nil {
		a.metrics.TokensRevoked.Inc()
	}
	return writeJSON(w, http.StatusOK, object{{"id", t.ID}, {"revoked", true}})
}
