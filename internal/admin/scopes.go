package admin

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gatehouse/gatehouse/internal/store"
)

// GET /scopes: Express Gateway's {"scopes": [names]}, and beside it
// {"descriptions": {name: text}} for the scopes that have one.
func (a *server) listScopes(w http.ResponseWriter, r *http.Request) error {
	list, err := a.scopes.ListScopeDetails(r.Context())
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
	body, err := decode(r, true)
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
	if err := a.scopes.RegisterScopes(r.Context(), scopes...); err != nil {
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
	sc, err := a.scopes.GetScope(r.Context(), r.PathValue("scope"))
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
	body, err := decode(r, false)
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
	err = a.scopes.RegisterScopes(r.Context(), store.Scope{Name: name, Description: desc})
	if errors.Is(err, store.ErrExists) && body != nil {
		sc, err := a.scopes.SetScopeDescription(r.Context(), name, desc)
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
	if err := a.scopes.DeleteScope(r.Context(), r.PathValue("scope")); err != nil {
		return err
	}
	return noContent(w, http.StatusNoContent)
}
