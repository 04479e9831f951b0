package admin

import (
	"reflect"
	"testing"
)

// TestScopeDescriptions: descriptions are set by POST /scopes (objects
// beside plain names) and PUT /scopes/{scope}, and read by GET; a 409
// names every scope that exists.
func TestScopeDescriptions(t *testing.T) {
	e := newEnv(t, nil, Options{})
	e.want(e.do("POST", "/scopes", map[string]any{"scopes": []any{"plain", map[string]any{"name": "profile", "description": "See your profile"}}}), 201, "", "", "")
	r := e.do("GET", "/scopes/profile", nil)
	e.want(r, 200, "", "", "")
	if string(r.body) != `{"scope":"profile","description":"See your profile"}`+"\n" {
		t.Errorf("GET /scopes/profile: %s", r.body)
	}
	r = e.do("GET", "/scopes", nil)
	if string(r.body) != `{"descriptions":{"profile":"See your profile"},"scopes":["plain","profile"]}`+"\n" {
		t.Errorf("GET /scopes: %s", r.body)
	}
	before := e.snapshot()
	for _, tc := range []struct {
		name  string
		body  any
		field string
		msg   string
	}{
		{"object without name", map[string]any{"scopes": []any{map[string]any{"description": "x"}}}, "scopes[0].name", ""},
		{"unknown property", map[string]any{"scopes": []any{"a", map[string]any{"name": "b", "title": "x"}}}, "scopes[1].title", ""},
		{"description not a string", map[string]any{"scopes": []any{map[string]any{"name": "b", "description": 1}}}, "scopes[0].description", ""},
		{"description with a newline", map[string]any{"scopes": []any{map[string]any{"name": "b", "description": "a\nb"}}}, "description", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.want(e.do("POST", "/scopes", tc.body), 400, "bad_request", tc.field, tc.msg)
		})
	}
	e.want(e.do("POST", "/scopes", map[string]any{"scopes": []string{"new", "profile", "plain"}}), 409, "already_exists", "scopes",
		"One or more scopes already exist: plain, profile (none of the scopes was created)")
	e.want(e.do("PUT", "/scopes/plain", nil), 409, "already_exists", "scopes", "")
	e.want(e.do("PUT", "/scopes/plain", map[string]any{"description": 7}), 400, "bad_request", "description", "")
	e.want(e.do("PUT", "/scopes/plain", map[string]any{"title": "x"}), 400, "bad_request", "title", "")
	if e.snapshot() != before {
		t.Error("refused scope writes changed the data")
	}
	// PUT with a description sets it on an existing scope (200 with the
	// scope), or creates the scope with it (201).
	r = e.do("PUT", "/scopes/plain", map[string]any{"description": "Plain access"})
	e.want(r, 200, "", "", "")
	if got := r.obj(t); got["scope"] != "plain" || got["description"] != "Plain access" {
		t.Errorf("PUT description: %s", r.body)
	}
	e.want(e.do("PUT", "/scopes/fresh", map[string]any{"description": "Fresh"}), 201, "", "", "")
	if got := e.do("GET", "/scopes/fresh", nil).obj(t); got["description"] != "Fresh" {
		t.Errorf("created with a description: %v", got)
	}
	e.want(e.do("PUT", "/scopes/ghost", nil), 201, "", "", "")
	r = e.do("PUT", "/scopes/plain", map[string]any{"description": ""})
	e.want(r, 200, "", "", "")
	if string(r.body) != `{"scope":"plain"}`+"\n" {
		t.Errorf("cleared description: %s", r.body)
	}
}

// TestUserStatusApps: PUT /users/{id}/status says what it did to the
// user's applications, and activation brings back exactly those its
// deactivation took down.
func TestUserStatusApps(t *testing.T) {
	e := newEnv(t, nil, Options{})
	e.mustUser("ann")
	web := e.mustApp("ann", "web")["id"].(string)
	off := e.mustApp("ann", "off")["id"].(string)
	e.want(e.do("PUT", "/apps/"+off+"/status", map[string]any{"status": false}), 200, "", "", "")

	r := e.do("PUT", "/users/ann/status", map[string]any{"status": false})
	e.want(r, 200, "", "", "")
	want := map[string]any{"status": "Deactivated", "deactivatedApps": []any{map[string]any{"id": web, "name": "web"}}}
	if got := r.obj(t); !reflect.DeepEqual(got, want) {
		t.Errorf("deactivate: %s, want %v", r.body, want)
	}
	r = e.do("PUT", "/users/ann/status", map[string]any{"status": false})
	if string(r.body) != `{"status":"Inactive"}`+"\n" {
		t.Errorf("unchanged: %s", r.body)
	}
	r = e.do("PUT", "/users/ann/status", map[string]any{"status": true})
	e.want(r, 200, "", "", "")
	want = map[string]any{"status": "Activated",
		"activatedApps": []any{map[string]any{"id": web, "name": "web"}},
		"inactiveApps":  []any{map[string]any{"id": off, "name": "off"}}}
	if got := r.obj(t); !reflect.DeepEqual(got, want) {
		t.Errorf("activate: %s, want %v", r.body, want)
	}
	for id, active := range map[string]bool{web: true, off: false} {
		if got := e.do("GET", "/apps/"+id, nil).obj(t)["isActive"]; got != active {
			t.Errorf("app %s isActive = %v, want %v", id, got, active)
		}
	}
}
