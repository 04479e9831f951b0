package admin

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// The store has every role New needs, so internal/app passes it as is.
var _ Store = (*store.Store)(nil)

// TestEGShapes renders a user and an app through the one egShape.render:
// EG's property order, empty optional properties left out, the declared
// extras after them, sorted, never shadowing a built-in property.
func TestEGShapes(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 10e6, time.FixedZone("CEST", 2*3600))
	const ts = `"createdAt":"2024-05-06T05:08:09.010Z","updatedAt":"2024-05-06T05:08:09.010Z"`
	tests := []struct {
		name string
		got  object
		want string
	}{
		{"user, all properties", userShape.render(&store.User{ID: "u1", Username: "jdoe", Firstname: "J", Lastname: "D",
			Email: "j@x.io", RedirectURI: "https://a.example/cb", IsActive: true, CreatedAt: at, UpdatedAt: at,
			Extra: map[string]any{"zz": 1, "age": 3, "id": "shadow"}}),
			`{"id":"u1","username":"jdoe","firstname":"J","lastname":"D","email":"j@x.io","redirectUri":"https://a.example/cb","isActive":true,` + ts + `,"age":3,"zz":1}`},
		{"user, optional properties empty", userShape.render(&store.User{ID: "u1", Username: "jdoe", CreatedAt: at, UpdatedAt: at}),
			`{"id":"u1","username":"jdoe","isActive":false,` + ts + `}`},
		{"app, all properties", appShape.render(&store.App{ID: "a1", UserID: "u1", Name: "web", RedirectURI: "https://a.example/cb",
			IsActive: true, DeactivatedWithUser: true, CreatedAt: at, UpdatedAt: at, Extra: map[string]any{"name": "shadow", "tier": "gold"}}),
			`{"id":"a1","userId":"u1","name":"web","redirectUri":"https://a.example/cb","isActive":true,` + ts + `,"tier":"gold"}`},
		{"app, no redirect URI: name and userId are always sent", appShape.render(&store.App{ID: "a1", CreatedAt: at, UpdatedAt: at}),
			`{"id":"a1","userId":"","name":"","isActive":false,` + ts + `}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.got)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, b, tt.want)
		}
	}
}

// TestConsumerKinds drives users and apps through the same six handlers
// (consumerKind) and checks that each answers with its own EG shape and
// list field, and that the status answers differ only where EG's do.
func TestConsumerKinds(t *testing.T) {
	e := newEnv(t, nil, Options{})
	e.want(e.do("POST", "/users", map[string]any{"username": "owner", "firstname": "O", "lastname": "W"}), 200, "", "", "")
	tests := []struct {
		segment      string
		create       map[string]any
		name         string // what GET /{segment}/{id} finds it by besides its id
		update       map[string]any
		keys         []string
		deactivated  []string // the keys of the deactivation answer
		missingError string
	}{
		{"users", map[string]any{"username": "jdoe", "firstname": "J", "lastname": "D"}, "jdoe",
			map[string]any{"email": "j@x.io"},
			[]string{"id", "username", "firstname", "lastname", "isActive", "createdAt", "updatedAt"},
			[]string{"status", "deactivatedApps"}, "User not found: nope"},
		{"apps", map[string]any{"userId": "owner", "name": "web"}, "web",
			map[string]any{"redirectUri": "https://a.example/cb"},
			[]string{"id", "userId", "name", "isActive", "createdAt", "updatedAt"},
			[]string{"status"}, "Application not found: nope"},
	}
	for _, tt := range tests {
		t.Run(tt.segment, func(t *testing.T) {
			e.t = t
			base := "/" + tt.segment
			r := e.do("POST", base, tt.create)
			e.want(r, 200, "", "", "")
			if got := r.keys(t); !slices.Equal(got, tt.keys) {
				t.Errorf("POST %s keys %v, want %v", base, got, tt.keys)
			}
			id := r.obj(t)["id"].(string)
			for _, ref := range []string{id, tt.name} {
				r := e.do("GET", base+"/"+ref, nil)
				e.want(r, 200, "", "", "")
				if got := r.obj(t)["id"]; got != id {
					t.Errorf("GET %s/%s: id %v, want %s", base, ref, got, id)
				}
			}
			r = e.do("PUT", base+"/"+tt.name, tt.update)
			e.want(r, 200, "", "", "")
			for k, v := range tt.update {
				if got := r.obj(t)[k]; got != v {
					t.Errorf("PUT: %s = %v, want %v", k, got, v)
				}
			}
			r = e.do("GET", base+"?count=1000", nil)
			e.want(r, 200, "", "", "")
			if got := r.keys(t); !slices.Equal(got, []string{tt.segment, "nextKey"}) {
				t.Errorf("GET %s keys %v", base, got)
			}
			r = e.do("PUT", base+"/"+id+"/status", map[string]any{"status": false})
			e.want(r, 200, "", "", "")
			if got := r.keys(t); !slices.Equal(got, tt.deactivated) || r.obj(t)["status"] != "Deactivated" {
				t.Errorf("deactivation answer %s, want keys %v", r.body, tt.deactivated)
			}
			r = e.do("PUT", base+"/"+id+"/status", map[string]any{"status": false})
			if string(r.body) != `{"status":"Inactive"}`+"\n" {
				t.Errorf("second deactivation answer %q", r.body)
			}
			e.want(e.do("GET", base+"/nope", nil), http.StatusNotFound, "not_found", "", tt.missingError)
			e.want(e.do("PUT", base+"/nope/status", map[string]any{"status": 1}), http.StatusBadRequest, "bad_request", "status", "")
			e.want(e.do("DELETE", base+"/"+tt.name, nil), http.StatusNoContent, "", "", "")
			e.want(e.do("GET", base+"/"+id, nil), http.StatusNotFound, "not_found", "", "")
		})
	}
}
