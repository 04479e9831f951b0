package admin

// The config-editing routes (Express Gateway's api-endpoints.js,
// service-endpoints.js, pipelines.js, policies.js and schemas.js): read
// the serving gateway.config.yml, change one entry of the file, list the
// JSON Schemas of what the file may hold. The editing itself is the
// ConfigEditor's (internal/app), so that this package does not depend on
// the composition root.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// ConfigEditor is gateway.config.yml as the config routes see it. Its
// errors are *Error values (400 bad entity, 404, 409 conflict, 422 a
// config that would not load, with its file:line: path: message text);
// any other error is a 500.
type ConfigEditor interface {
	// Section is one section (apiEndpoints, serviceEndpoints, pipelines)
	// of the serving config as a JSON object, entries in file order.
	Section(section string) (json.RawMessage, error)
	// Entry is one entry of a section of the serving config; found is
	// false when there is none.
	Entry(section, name string) (v json.RawMessage, found bool, err error)
	// Set writes entity (one JSON value) as section.name in the file and
	// makes it live; created reports a new entry.
	Set(ctx context.Context, section, name string, entity []byte) (created bool, err error)
	// Delete removes section.name from the file and makes that live.
	Delete(ctx context.Context, section, name string) error
	// Policies lists the enabled policies of the serving config.
	Policies() ([]string, error)
	// EnablePolicy adds name to the policies list of the file.
	EnablePolicy(ctx context.Context, name string) error
	// DisablePolicy removes name from the policies list of the file.
	DisablePolicy(ctx context.Context, name string) error
	// Schemas are the JSON Schemas of the policies, conditions and config
	// this gateway accepts.
	Schemas() []Schema
}

// Schema is one JSON Schema as GET /schemas lists it (Express Gateway's
// {type, schema}).
type Schema struct {
	Type   string          `json:"type"` // policy, condition or config
	Schema json.RawMessage `json:"schema"`
}

// id is the schema's $id.
func (s Schema) id() string {
	var v struct {
		ID string `json:"$id"`
	}
	_ = json.Unmarshal(s.Schema, &v)
	return v.ID
}

// configRoutes are the config-editing routes; the collection is the
// path's first segment.
var configRoutes = []string{
	"GET /api-endpoints", "GET /api-endpoints/{name}", "PUT /api-endpoints/{name}", "DELETE /api-endpoints/{name}",
	"GET /service-endpoints", "GET /service-endpoints/{name}", "PUT /service-endpoints/{name}", "DELETE /service-endpoints/{name}",
	"GET /pipelines", "GET /pipelines/{name}", "PUT /pipelines/{name}", "DELETE /pipelines/{name}",
	"GET /policies", "PUT /policies/{name}", "DELETE /policies/{name}",
	"GET /schemas", "GET /schemas/{param}",
}

// sections maps a route's collection to the section of the file.
var sections = map[string]struct{ section, what string }{
	"api-endpoints":     {"apiEndpoints", "apiEndpoint"},
	"service-endpoints": {"serviceEndpoints", "serviceEndpoint"},
	"pipelines":         {"pipelines", "pipeline"},
}

func (a *server) configHandlers(h map[string]handlerFunc) {
	for coll, s := range sections {
		a.sectionHandlers(h, coll, s.section, s.what)
	}
	h["GET /policies"] = a.withConfig(func(w http.ResponseWriter, r *http.Request, c ConfigEditor) error {
		names, err := c.Policies()
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, names)
	})
	h["PUT /policies/{name}"] = a.withConfig(func(w http.ResponseWriter, r *http.Request, c ConfigEditor) error {
		if err := c.EnablePolicy(r.Context(), r.PathValue("name")); err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	h["DELETE /policies/{name}"] = a.withConfig(func(w http.ResponseWriter, r *http.Request, c ConfigEditor) error {
		if err := c.DisablePolicy(r.Context(), r.PathValue("name")); err != nil {
			return err
		}
		return noContent(w, http.StatusNoContent)
	})
	h["GET /schemas"] = a.withConfig(func(w http.ResponseWriter, r *http.Request, c ConfigEditor) error {
		return writeJSON(w, http.StatusOK, c.Schemas())
	})
	h["GET /schemas/{param}"] = a.withConfig(getSchemas)
}

// sectionHandlers are the four routes of one section's collection
// (/api-endpoints, ...) over section; what names one entry in errors.
func (a *server) sectionHandlers(h map[string]handlerFunc, coll, section, what string) {
	h["GET /"+coll] = a.withConfig(func(w http.ResponseWriter, r *http.Request, c ConfigEditor) error {
		v, err := c.Section(section)
		if err != nil {
			return err
		}
		return writeRaw(w, http.StatusOK, v)
	})
	h["GET /"+coll+"/{name}"] = a.withConfig(func(w http.ResponseWriter, r *http.Request, c ConfigEditor) error {
		name := r.PathValue("name")
		v, found, err := c.Entry(section, name)
		if err != nil {
			return err
		}
		if !found {
			return &Error{Status: http.StatusNotFound, Code: "not_found", Message: fmt.Sprintf("%s not found: %s", what, name)}
		}
		return writeRaw(w, http.StatusOK, v)
	})
	h["PUT /"+coll+"/{name}"] = a.withConfig(func(w http.ResponseWriter, r *http.Request, c ConfigEditor) error {
		body, err := rawBody(r)
		if err != nil {
			return err
		}
		created, err := c.Set(r.Context(), section, r.PathValue("name"), body)
		if err != nil {
			return err
		}
		// Express Gateway: 201 for a new entry, 204 for a replaced one.
		if created {
			return noContent(w, http.StatusCreated)
		}
		return noContent(w, http.StatusNoContent)
	})
	h["DELETE /"+coll+"/{name}"] = a.withConfig(func(w http.ResponseWriter, r *http.Request, c ConfigEditor) error {
		if err := c.Delete(r.Context(), section, r.PathValue("name")); err != nil {
			return err
		}
		return noContent(w, http.StatusNoContent)
	})
}

// getSchemas is GET /schemas/{param}: a type lists its schemas; anything
// else is a schema's $id.
func getSchemas(w http.ResponseWriter, r *http.Request, c ConfigEditor) error {
	param := r.PathValue("param")
	all := c.Schemas()
	typed := []Schema{}
	for _, s := range all {
		if s.Type == param {
			typed = append(typed, s)
		}
	}
	if len(typed) > 0 {
		return writeJSON(w, http.StatusOK, typed)
	}
	for _, s := range all {
		if s.id() == param {
			return writeJSON(w, http.StatusOK, s)
		}
	}
	return &Error{Status: http.StatusNotFound, Code: "not_found",
		Message: fmt.Sprintf("no schema of type or $id %q (types: policy, condition, config)", param)}
}

// withConfig answers 404 when this Admin API has no config to edit (an
// Admin API built without one, as in tests of the identity routes).
func (a *server) withConfig(fn func(w http.ResponseWriter, r *http.Request, c ConfigEditor) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if a.config == nil {
			return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "this Admin API does not edit the gateway config"}
		}
		return fn(w, r, a.config)
	}
}

// rawBody reads a PUT's JSON body as sent: the editor keeps its key order.
func rawBody(r *http.Request) ([]byte, error) {
	b, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, badRequest("", "a JSON body is required (Content-Type: application/json): the entity, e.g. {\"url\": \"http://localhost:3000\"}")
	}
	if !json.Valid(b) {
		var v any
		return nil, badRequest("", "malformed JSON body: %s", jsonProblem(b, json.Unmarshal(b, &v)))
	}
	return b, nil
}

func writeRaw(w http.ResponseWriter, status int, v json.RawMessage) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(v, '\n'))
	return nil
}
