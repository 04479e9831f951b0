package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/model"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

type env struct {
	t *testing.T
	s *store.Store
	h http.Handler
	// hdr is sent with every request (the API key).
	hdr http.Header
}

func newEnv(t *testing.T, m *model.Models, opts Options) *env {
	t.Helper()
	s := store.New(memstore.New(nil), store.Options{BcryptCost: 4})
	t.Cleanup(func() { s.Close() })
	return &env{t: t, s: s, h: New(s, m, opts), hdr: http.Header{}}
}

type resp struct {
	code int
	h    http.Header
	body []byte
}

// obj decodes the body as a JSON object.
func (r resp) obj(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// keys lists the object's keys in the order sent.
func (r resp) keys(t *testing.T) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(r.body))
	var keys []string
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("body %q is not an object", r.body)
	}
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// do sends a request. body is nil, a string (sent raw as JSON) or a value
// to marshal.
func (e *env) do(method, path string, body any, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	// The CLI's default URL (httptest's example.com is not an Admin API
	// host: browser.go).
	req.Host = "localhost:9876"
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range e.hdr {
		req.Header[k] = v
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return resp{rec.Code, rec.Header(), rec.Body.Bytes()}
}

// want checks the status and, for errors, the JSON error body.
func (e *env) want(r resp, code int, errCode, field, msg string) {
	e.t.Helper()
	if r.code != code {
		e.t.Fatalf("status %d, want %d; body %s", r.code, code, r.body)
	}
	if errCode == "" {
		return
	}
	if ct := r.h.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		e.t.Errorf("error Content-Type %q", ct)
	}
	m := r.obj(e.t)
	if m["error"] != errCode {
		e.t.Errorf("error = %v, want %s (body %s)", m["error"], errCode, r.body)
	}
	if f, _ := m["field"].(string); f != field {
		e.t.Errorf("field = %q, want %q (body %s)", f, field, r.body)
	}
	if msg != "" && m["message"] != msg {
		e.t.Errorf("message = %q, want %q", m["message"], msg)
	}
}

func (e *env) mustUser(username string) map[string]any {
	e.t.Helper()
	r := e.do("POST", "/users", map[string]any{"username": username, "firstname": "F", "lastname": "L"})
	e.want(r, 200, "", "", "")
	return r.obj(e.t)
}

func (e *env) mustApp(userID, name string) map[string]any {
	e.t.Helper()
	r := e.do("POST", "/apps", map[string]any{"userId": userID, "name": name})
	e.want(r, 200, "", "", "")
	return r.obj(e.t)
}

// snapshot is everything the Admin API can list: a failed write must
// leave it unchanged.
func (e *env) snapshot() string {
	e.t.Helper()
	var b strings.Builder
	for _, p := range []string{"/users", "/apps", "/credentials", "/scopes"} {
		r := e.do("GET", p, nil)
		if r.code != 200 {
			e.t.Fatalf("GET %s: %d %s", p, r.code, r.body)
		}
		b.Write(r.body)
	}
	return b.String()
}

func parseTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("%v is not an RFC 3339 date: %v", v, err)
	}
	return tm
}

func TestUsers(t *testing.T) {
	e := newEnv(t, nil, Options{})

	r := e.do("GET", "/users", nil)
	e.want(r, 200, "", "", "")
	if string(r.body) != `{"users":[],"nextKey":0}`+"\n" {
		t.Errorf("empty list: %s", r.body)
	}

	r = e.do("POST", "/users", map[string]any{"username": "ann", "firstname": "Ann", "lastname": "Lee", "email": "ann@example.com", "redirectUri": "https://ann.example/cb"})
	e.want(r, 200, "", "", "")
	if got, want := r.keys(t), []string{"id", "username", "firstname", "lastname", "email", "redirectUri", "isActive", "createdAt", "updatedAt"}; !slices.Equal(got, want) {
		t.Errorf("user keys %v, want %v", got, want)
	}
	ann := r.obj(t)
	id := ann["id"].(string)
	if len(id) != 36 || ann["isActive"] != true || ann["username"] != "ann" {
		t.Errorf("created user %v", ann)
	}
	parseTime(t, ann["createdAt"])
	if !strings.HasSuffix(ann["createdAt"].(string), "Z") {
		t.Errorf("createdAt %v is not UTC", ann["createdAt"])
	}

	for _, ref := range []string{id, "ann"} {
		r = e.do("GET", "/users/"+ref, nil)
		e.want(r, 200, "", "", "")
		if !reflect.DeepEqual(r.obj(t), ann) {
			t.Errorf("GET /users/%s = %s", ref, r.body)
		}
	}

	r = e.do("PUT", "/users/ann", map[string]any{"firstname": "Anne", "email": nil})
	e.want(r, 200, "", "", "")
	up := r.obj(t)
	if up["firstname"] != "Anne" || up["email"] != nil || up["lastname"] != "Lee" || up["id"] != id {
		t.Errorf("updated user %v", up)
	}
	// A GET-modify-PUT round trip is accepted.
	up["lastname"] = "Leigh"
	r = e.do("PUT", "/users/"+id, up)
	e.want(r, 200, "", "", "")
	if r.obj(t)["lastname"] != "Leigh" {
		t.Errorf("round trip: %s", r.body)
	}

	for _, step := range []struct {
		status bool
		want   string
	}{{false, "Deactivated"}, {false, "Inactive"}, {true, "Activated"}, {true, "Active"}} {
		r = e.do("PUT", "/users/ann/status", map[string]any{"status": step.status})
		e.want(r, 200, "", "", "")
		if got := r.obj(t)["status"]; got != step.want {
			t.Errorf("status %v: got %v, want %s", step.status, got, step.want)
		}
	}

	e.mustUser("bob")
	e.mustUser("cid")
	r = e.do("GET", "/users?count=2", nil)
	e.want(r, 200, "", "", "")
	page := r.obj(t)
	if n := len(page["users"].([]any)); n != 2 || page["nextKey"] == 0.0 {
		t.Fatalf("first page: %s", r.body)
	}
	r = e.do("GET", fmt.Sprintf("/users?count=2&start=%v", page["nextKey"]), nil)
	page = r.obj(t)
	if n := len(page["users"].([]any)); n != 1 || page["nextKey"] != 0.0 {
		t.Errorf("second page: %s", r.body)
	}

	r = e.do("DELETE", "/users/"+id, nil)
	e.want(r, 204, "", "", "")
	if len(r.body) != 0 {
		t.Errorf("204 with a body: %q", r.body)
	}
	e.want(e.do("GET", "/users/"+id, nil), 404, "not_found", "", "User not found: "+id)
	e.want(e.do("DELETE", "/users/"+id, nil), 404, "not_found", "", "User not found: "+id)
	e.want(e.do("PUT", "/users/ann", map[string]any{"firstname": "X"}), 404, "not_found", "", "User not found: ann")
	e.want(e.do("PUT", "/users/ann/status", map[string]any{"status": true}), 404, "not_found", "", "")
}

// Every refused write leaves the data as it was.
func TestUserErrors(t *testing.T) {
	e := newEnv(t, nil, Options{MaxBodyBytes: 4096})
	e.mustUser("ann")
	ok := map[string]any{"username": "new", "firstname": "F", "lastname": "L"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for k, v := range ok {
			m[k] = v
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name, method, path string
		body               any
		hdr                []string
		code               int
		err, field, msg    string
	}{
		{"missing field", "POST", "/users", with("firstname", nil), nil, 400, "bad_request", "firstname", "firstname is required"},
		{"wrong type", "POST", "/users", with("lastname", 3), nil, 400, "bad_request", "lastname", "lastname must be a string"},
		{"bad email", "POST", "/users", with("email", "nope"), nil, 400, "bad_request", "email", "email must be an email address"},
		{"undeclared field", "POST", "/users", with("phone", "1"), nil, 400, "bad_request", "phone",
			`unknown property "phone" (models/users.json declares: email, firstname, lastname, redirectUri, username)`},
		{"id override (EG B-25)", "POST", "/users", with("id", "mine"), nil, 400, "bad_request", "id", ""},
		{"isActive override (EG B-25)", "POST", "/users", with("isActive", false), nil, 400, "bad_request", "isActive", ""},
		{"duplicate username", "POST", "/users", with("username", "ann"), nil, 409, "already_exists", "username", "username already exists"},
		{"bad JSON", "POST", "/users", `{"username": "x",`, nil, 400, "bad_request", "", "malformed JSON body: unexpected end of the body"},
		{"bad JSON syntax", "POST", "/users", "{\n\"a\" 1}", nil, 400, "bad_request", "", "malformed JSON body: invalid character '1' after object key (line 2, column 5)"},
		{"trailing garbage", "POST", "/users", `{"username":"x","firstname":"F","lastname":"L"} x`, nil, 400, "bad_request", "", "malformed JSON body: unexpected data after the JSON value"},
		{"two objects", "POST", "/users", `{"username":"x","firstname":"F","lastname":"L"}{}`, nil, 400, "bad_request", "", ""},
		{"array body", "POST", "/users", `[]`, nil, 400, "bad_request", "", "the body must be a JSON object"},
		{"empty body", "POST", "/users", ``, nil, 400, "bad_request", "", ""},
		{"wrong content type", "POST", "/users", `{"username":"x","firstname":"F","lastname":"L"}`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", "", ""},
		{"oversized body", "POST", "/users", `{"username":"x","firstname":"F","lastname":"` + strings.Repeat("L", 5000) + `"}`, nil, 413, "body_too_large", "", "the request body is larger than 4096 bytes"},
		{"update undeclared", "PUT", "/users/ann", map[string]any{"phone": "1"}, nil, 400, "bad_request", "phone", ""},
		{"update username", "PUT", "/users/ann", map[string]any{"username": "bob"}, nil, 400, "bad_request", "username", "username cannot be changed"},
		{"update wrong type", "PUT", "/users/ann", map[string]any{"firstname": true}, nil, 400, "bad_request", "firstname", ""},
		{"update remove required", "PUT", "/users/ann", map[string]any{"firstname": nil}, nil, 400, "bad_request", "firstname", ""},
		{"update isActive", "PUT", "/users/ann", map[string]any{"isActive": false}, nil, 400, "bad_request", "isActive", ""},
		{"status not boolean", "PUT", "/users/ann/status", map[string]any{"status": "false"}, nil, 400, "bad_request", "status", ""},
		{"status missing", "PUT", "/users/ann/status", map[string]any{}, nil, 400, "bad_request", "status", ""},
		{"status extra field", "PUT", "/users/ann/status", map[string]any{"status": false, "x": 1}, nil, 400, "bad_request", "x", ""},
		{"bad count", "GET", "/users?count=abc", nil, nil, 400, "bad_request", "count", ""},
		{"zero count", "GET", "/users?count=0", nil, nil, 400, "bad_request", "count", ""},
		{"bad start", "GET", "/users?start=-1", nil, nil, 400, "bad_request", "start", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			before := e.snapshot()
			r := e.do(tt.method, tt.path, tt.body, tt.hdr...)
			e.want(r, tt.code, tt.err, tt.field, tt.msg)
			if after := e.snapshot(); after != before {
				t.Errorf("a refused request changed the data:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func TestApps(t *testing.T) {
	e := newEnv(t, nil, Options{})
	ann := e.mustUser("ann")
	annID := ann["id"].(string)

	r := e.do("POST", "/apps", map[string]any{"userId": "ann", "name": "shop", "redirectUri": "https://shop.example/cb"})
	e.want(r, 200, "", "", "")
	if got, want := r.keys(t), []string{"id", "userId", "name", "redirectUri", "isActive", "createdAt", "updatedAt"}; !slices.Equal(got, want) {
		t.Errorf("app keys %v, want %v", got, want)
	}
	shop := r.obj(t)
	if shop["userId"] != annID || shop["isActive"] != true {
		t.Errorf("app %v (userId must be the user's id even when created by username)", shop)
	}
	shopID := shop["id"].(string)

	before := e.snapshot()
	e.want(e.do("POST", "/apps", map[string]any{"userId": "nobody", "name": "x"}), 409, "unknown_user", "userId", "The specified user does not exist: nobody")
	e.want(e.do("POST", "/apps", map[string]any{"userId": annID, "name": "shop"}), 409, "already_exists", "name", "")
	e.want(e.do("POST", "/apps", map[string]any{"name": "x"}), 400, "bad_request", "userId", "userId is required")
	e.want(e.do("POST", "/apps", map[string]any{"userId": annID}), 400, "bad_request", "name", "name is required")
	e.want(e.do("POST", "/apps", map[string]any{"userId": annID, "name": "x", "secret": "s"}), 400, "bad_request", "secret", "")
	e.want(e.do("POST", "/apps", map[string]any{"userId": annID, "name": "x", "redirectUri": "cb"}), 400, "bad_request", "redirectUri", "")
	e.want(e.do("PUT", "/apps/"+shopID, map[string]any{"userId": "someone"}), 400, "bad_request", "userId", "userId cannot be changed")
	e.want(e.do("PUT", "/apps/"+shopID, map[string]any{"name": 5}), 400, "bad_request", "name", "")
	if after := e.snapshot(); after != before {
		t.Errorf("refused app writes changed the data:\n%s\n%s", before, after)
	}

	for _, ref := range []string{shopID, "shop"} {
		r = e.do("GET", "/apps/"+ref, nil)
		e.want(r, 200, "", "", "")
		if !reflect.DeepEqual(r.obj(t), shop) {
			t.Errorf("GET /apps/%s = %s", ref, r.body)
		}
	}
	e.want(e.do("GET", "/apps/nope", nil), 404, "not_found", "", "Application not found: nope")

	// Same name under another user is fine; the name alone is then ambiguous.
	bob := e.mustUser("bob")
	e.mustApp(bob["id"].(string), "shop")
	e.want(e.do("GET", "/apps/shop", nil), 409, "ambiguous", "", "several applications are named shop: use the application's id")

	r = e.do("PUT", "/apps/"+shopID, map[string]any{"name": "store", "redirectUri": nil})
	e.want(r, 200, "", "", "")
	if up := r.obj(t); up["name"] != "store" || up["redirectUri"] != nil {
		t.Errorf("updated app %s", r.body)
	}

	for _, step := range []struct {
		status bool
		want   string
	}{{false, "Deactivated"}, {false, "Inactive"}, {true, "Activated"}, {true, "Active"}} {
		r = e.do("PUT", "/apps/"+shopID+"/status", map[string]any{"status": step.status})
		e.want(r, 200, "", "", "")
		if got := r.obj(t)["status"]; got != step.want {
			t.Errorf("status %v: got %v, want %s", step.status, got, step.want)
		}
	}
	e.want(e.do("PUT", "/apps/"+shopID+"/status", map[string]any{"status": 1}), 400, "bad_request", "status", "")

	r = e.do("GET", "/apps?count=1", nil)
	page := r.obj(t)
	if len(page["apps"].([]any)) != 1 || page["nextKey"] == 0.0 {
		t.Errorf("apps page: %s", r.body)
	}

	e.want(e.do("DELETE", "/apps/"+shopID, nil), 204, "", "", "")
	e.want(e.do("GET", "/apps/"+shopID, nil), 404, "not_found", "", "")
	e.want(e.do("DELETE", "/apps/"+shopID, nil), 404, "not_found", "", "")
}

func TestCredentials(t *testing.T) {
	e := newEnv(t, nil, Options{})
	ann := e.mustUser("ann")
	annID := ann["id"].(string)
	app := e.mustApp(annID, "shop")
	appID := app["id"].(string)
	e.want(e.do("POST", "/scopes", map[string]any{"scopes": []string{"read", "write"}}), 201, "", "", "")

	// basic-auth, generated password
	r := e.do("POST", "/credentials", map[string]any{"consumerId": "ann", "type": "basic-auth", "credential": map[string]any{"scopes": []string{"read"}}})
	e.want(r, 200, "", "", "")
	if got, want := r.keys(t), []string{"isActive", "createdAt", "updatedAt", "autoGeneratePassword", "passwordKey", "scopes", "id", "consumerId", "type", "password"}; !slices.Equal(got, want) {
		t.Errorf("basic-auth keys %v, want %v", got, want)
	}
	ba := r.obj(t)
	if ba["id"] != annID || ba["consumerId"] != annID || ba["passwordKey"] != "password" || ba["autoGeneratePassword"] != true ||
		!reflect.DeepEqual(ba["scopes"], []any{"read"}) || len(ba["password"].(string)) < 20 {
		t.Errorf("basic-auth credential %v", ba)
	}
	if _, err := e.s.VerifyCredential(context.Background(), store.BasicAuth, annID, ba["password"].(string)); err != nil {
		t.Errorf("the returned password does not verify: %v", err)
	}

	// GET never shows the password (nor the hash or revision)
	r = e.do("GET", "/credentials/basic-auth/"+annID, nil)
	e.want(r, 200, "", "", "")
	got := r.obj(t)
	for _, k := range []string{"password", "secretHash", "rev", "secret", "keySecret"} {
		if _, ok := got[k]; ok {
			t.Errorf("GET credential shows %s: %s", k, r.body)
		}
	}
	if got["passwordKey"] != "password" || got["isActive"] != true {
		t.Errorf("GET credential %s", r.body)
	}

	// oauth2 for the app (by name), chosen secret
	r = e.do("POST", "/credentials", map[string]any{"consumerId": "shop", "type": "oauth2", "credential": map[string]any{"secret": "s3cret-value-0123456789abcdefghij", "redirectUris": []string{"https://shop.example/cb2"}}})
	e.want(r, 200, "", "", "")
	oa := r.obj(t)
	// A chosen secret is not echoed (issue #11 §2): the caller has it.
	if _, echoed := oa["secret"]; oa["id"] != appID || oa["passwordKey"] != "secret" || echoed || !reflect.DeepEqual(oa["scopes"], []any{}) {
		t.Errorf("oauth2 credential %s", r.body)
	}
	if _, ok := oa["password"]; ok {
		t.Errorf("oauth2 credential has a password field: %s", r.body)
	}

	// key-auth, generated key
	r = e.do("POST", "/credentials", map[string]any{"consumerId": annID, "type": "key-auth"})
	e.want(r, 200, "", "", "")
	if got, want := r.keys(t), []string{"isActive", "createdAt", "updatedAt", "keyId", "keySecret", "scopes", "consumerId", "id", "type"}; !slices.Equal(got, want) {
		t.Errorf("key-auth keys %v, want %v", got, want)
	}
	ka := r.obj(t)
	keyID := ka["keyId"].(string)
	if ka["id"] != keyID || ka["consumerId"] != annID || ka["keySecret"] == "" {
		t.Errorf("key-auth credential %s", r.body)
	}

	// jwt with a chosen keyId and scopes (EG ignored scopes here)
	r = e.do("POST", "/credentials", map[string]any{"consumerId": annID, "type": "jwt", "credential": map[string]any{"keyId": "issuer-1", "keySecret": "issuer-1-key-secret-0123", "scopes": "read"}})
	e.want(r, 200, "", "", "")
	if j := r.obj(t); j["id"] != "issuer-1" || j["keySecret"] != nil || !reflect.DeepEqual(j["scopes"], []any{"read"}) {
		t.Errorf("jwt credential %s", r.body)
	}

	// oauth2 without a secret and without generation: a public client
	pub := e.mustApp(annID, "spa")
	r = e.do("POST", "/credentials", map[string]any{"consumerId": pub["id"], "type": "oauth2", "credential": map[string]any{"autoGeneratePassword": false}})
	e.want(r, 200, "", "", "")
	if p := r.obj(t); p["autoGeneratePassword"] != false || p["secret"] != nil {
		t.Errorf("public client: %s", r.body)
	}
	e.want(e.do("DELETE", "/apps/spa", nil), 204, "", "", "")

	// refused creations write nothing
	before := e.snapshot()
	for _, tt := range []struct {
		name            string
		body            any
		code            int
		err, field, msg string
	}{
		{"unknown consumer", map[string]any{"consumerId": "nobody", "type": "key-auth"}, 422, "unknown_consumer", "consumerId", "No consumer found with id: nobody"},
		{"unknown type", map[string]any{"consumerId": annID, "type": "hmac"}, 400, "bad_request", "type", ""},
		{"missing type", map[string]any{"consumerId": annID}, 400, "bad_request", "type", ""},
		{"missing consumer", map[string]any{"type": "key-auth"}, 400, "bad_request", "consumerId", ""},
		{"unknown scope", map[string]any{"consumerId": annID, "type": "key-auth", "credential": map[string]any{"keyId": "k2", "scopes": []string{"read", "admin"}}},
			400, "bad_request", "credential.scopes", `scope "admin" does not exist: create it first`},
		{"existing active", map[string]any{"consumerId": annID, "type": "basic-auth"}, 409, "already_exists", "type", "Credential already exists and is active"},
		{"taken keyId", map[string]any{"consumerId": appID, "type": "jwt", "credential": map[string]any{"keyId": "issuer-1"}}, 409, "already_exists", "credential.keyId", ""},
		{"wrong secret field", map[string]any{"consumerId": annID, "type": "key-auth", "credential": map[string]any{"password": "x"}}, 400, "bad_request", "credential.password", ""},
		{"wrong field type", map[string]any{"consumerId": annID, "type": "oauth2", "credential": map[string]any{"autoGeneratePassword": "no"}}, 400, "bad_request", "credential.autoGeneratePassword", ""},
		{"credential not an object", map[string]any{"consumerId": annID, "type": "oauth2", "credential": "x"}, 400, "bad_request", "credential", ""},
		{"extra top-level field", map[string]any{"consumerId": annID, "type": "oauth2", "scopes": []string{"read"}}, 400, "bad_request", "scopes", ""},
		{"no password and no generation", map[string]any{"consumerId": appID, "type": "basic-auth", "credential": map[string]any{"autoGeneratePassword": false}}, 400, "bad_request", "credential.password", ""},
	} {
		r := e.do("POST", "/credentials", tt.body)
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			e.want(r, tt.code, tt.err, tt.field, tt.msg)
		})
	}
	e.t = t
	if after := e.snapshot(); after != before {
		t.Errorf("refused credential writes changed the data:\n%s\n%s", before, after)
	}

	// status
	for _, step := range []struct {
		status bool
		want   string
	}{{false, "Deactivated"}, {false, "Inactive"}, {true, "Activated"}, {true, "Active"}} {
		r = e.do("PUT", "/credentials/key-auth/"+keyID+"/status", map[string]any{"status": step.status})
		e.want(r, 200, "", "", "")
		if got := r.obj(t)["status"]; got != step.want {
			t.Errorf("status %v: got %v, want %s", step.status, got, step.want)
		}
	}
	e.want(e.do("PUT", "/credentials/key-auth/nope/status", map[string]any{"status": true}), 404, "not_found", "", "No credential found with id: nope")

	// scopes
	e.want(e.do("PUT", "/credentials/key-auth/"+keyID+"/scopes/write", nil), 204, "", "", "")
	e.want(e.do("PUT", "/credentials/key-auth/"+keyID+"/scopes/admin", nil), 400, "bad_request", "scopes", "")
	e.want(e.do("PUT", "/credentials/key-auth/nope/scopes/write", nil), 404, "not_found", "", "")
	scopesOf := func() any {
		return e.do("GET", "/credentials/key-auth/"+keyID, nil).obj(t)["scopes"]
	}
	if s := scopesOf(); !reflect.DeepEqual(s, []any{"write"}) {
		t.Errorf("scopes after add: %v", s)
	}
	e.want(e.do("PUT", "/credentials/key-auth/"+keyID+"/scopes", map[string]any{"scopes": []string{"read", "write"}}), 204, "", "", "")
	if s := scopesOf(); !reflect.DeepEqual(s, []any{"read", "write"}) {
		t.Errorf("scopes after set: %v", s)
	}
	e.want(e.do("PUT", "/credentials/key-auth/"+keyID+"/scopes", map[string]any{"scopes": "read"}), 400, "bad_request", "scopes", "")
	e.want(e.do("PUT", "/credentials/key-auth/"+keyID+"/scopes", map[string]any{"scopes": []string{"nope"}}), 400, "bad_request", "scopes", "")
	e.want(e.do("DELETE", "/credentials/key-auth/"+keyID+"/scopes/read", nil), 204, "", "", "")
	if s := scopesOf(); !reflect.DeepEqual(s, []any{"write"}) {
		t.Errorf("scopes after remove: %v", s)
	}

	// lists
	r = e.do("GET", "/credentials/ann", nil)
	e.want(r, 200, "", "", "")
	list := r.obj(t)["credentials"].([]any)
	var types []string
	for _, c := range list {
		types = append(types, c.(map[string]any)["type"].(string))
	}
	if !slices.Equal(types, []string{"basic-auth", "jwt", "key-auth"}) {
		t.Errorf("ann's credentials: %s", r.body)
	}
	if bytes.Contains(r.body, []byte("keySecret")) || bytes.Contains(r.body, []byte(`"password":`)) || bytes.Contains(r.body, []byte("secretHash")) {
		t.Errorf("a list shows secrets: %s", r.body)
	}
	e.want(e.do("GET", "/credentials/nobody", nil), 404, "not_found", "", "No consumer found with id: nobody")
	r = e.do("GET", "/credentials", nil)
	e.want(r, 200, "", "", "")
	if n := len(r.obj(t)["credentials"].([]any)); n != 4 {
		t.Errorf("all credentials: %d, want 4: %s", n, r.body)
	}

	// missing and bad type
	e.want(e.do("GET", "/credentials/key-auth/nope", nil), 404, "not_found", "", "No credential found with id: nope")
	e.want(e.do("GET", "/credentials/hmac/nope", nil), 400, "bad_request", "type", "")

	// rotate: generated, then chosen (under the credential's own field name)
	r = e.do("PUT", "/credentials/key-auth/"+keyID+"/secret", nil)
	e.want(r, 200, "", "", "")
	fresh := r.obj(t)["keySecret"].(string)
	if fresh == "" || fresh == ka["keySecret"] {
		t.Errorf("rotation: %s", r.body)
	}
	if _, err := e.s.VerifyCredential(context.Background(), store.KeyAuth, keyID, ka["keySecret"].(string)); err == nil {
		t.Error("the old key secret still works after rotation")
	}
	if _, err := e.s.VerifyCredential(context.Background(), store.KeyAuth, keyID, fresh); err != nil {
		t.Errorf("the new key secret does not verify: %v", err)
	}
	r = e.do("PUT", "/credentials/basic-auth/"+annID+"/secret", map[string]any{"password": "chosen-pw"})
	e.want(r, 200, "", "", "")
	if _, echoed := r.obj(t)["password"]; echoed {
		t.Errorf("rotation to a chosen password echoes it: %s", r.body)
	}
	if _, err := e.s.VerifyCredential(context.Background(), store.BasicAuth, annID, "chosen-pw"); err != nil {
		t.Errorf("the chosen password does not verify: %v", err)
	}
	r = e.do("PUT", "/credentials/oauth2/"+appID+"/secret", map[string]any{"secret": "new-secret-0123456789abcdefghijkl"})
	e.want(r, 200, "", "", "")
	if _, echoed := r.obj(t)["secret"]; echoed {
		t.Errorf("rotation to a chosen secret echoes it: %s", r.body)
	}
	e.want(e.do("PUT", "/credentials/oauth2/"+appID+"/secret", map[string]any{"secret": 5}), 400, "bad_request", "secret", "")
	e.want(e.do("PUT", "/credentials/oauth2/"+appID+"/secret", map[string]any{"password": "x"}), 400, "bad_request", "password", "")
	e.want(e.do("PUT", "/credentials/key-auth/nope/secret", nil), 404, "not_found", "", "")

	// delete
	e.want(e.do("DELETE", "/credentials/key-auth/"+keyID, nil), 204, "", "", "")
	e.want(e.do("GET", "/credentials/key-auth/"+keyID, nil), 404, "not_found", "", "")
	e.want(e.do("DELETE", "/credentials/key-auth/"+keyID, nil), 404, "not_found", "", "")
}

func TestScopes(t *testing.T) {
	e := newEnv(t, nil, Options{})
	r := e.do("GET", "/scopes", nil)
	e.want(r, 200, "", "", "")
	if string(r.body) != `{"descriptions":{},"scopes":[]}`+"\n" {
		t.Errorf("no scopes: %s", r.body)
	}
	r = e.do("POST", "/scopes", map[string]any{"scopes": []string{"b", "a"}})
	e.want(r, 201, "", "", "")
	before := e.snapshot()
	e.want(e.do("POST", "/scopes", map[string]any{"scopes": []string{"c", "a"}}), 409, "already_exists", "scopes", "One or more scopes already exist: a (none of the scopes was created)")
	e.want(e.do("POST", "/scopes", map[string]any{"scopes": "c"}), 400, "bad_request", "scopes", `scopes must be an array of scope names or of {"name": ..., "description": ...} objects`)
	e.want(e.do("POST", "/scopes", map[string]any{"scopes": []any{"c", 1}}), 400, "bad_request", "scopes[1]", "")
	e.want(e.do("POST", "/scopes", map[string]any{"scopes": []string{}}), 400, "bad_request", "scopes", "")
	e.want(e.do("POST", "/scopes", map[string]any{"scopes": []string{"has space"}}), 400, "bad_request", "scopes", "")
	e.want(e.do("POST", "/scopes", map[string]any{}), 400, "bad_request", "scopes", "")
	e.want(e.do("PUT", "/scopes/a", nil), 409, "already_exists", "scopes", "One or more scopes already exist: a (none of the scopes was created)")
	if after := e.snapshot(); after != before {
		t.Errorf("refused scope writes changed the data")
	}
	r = e.do("GET", "/scopes", nil)
	if string(r.body) != `{"descriptions":{},"scopes":["a","b"]}`+"\n" {
		t.Errorf("scopes: %s", r.body)
	}
	r = e.do("GET", "/scopes/a", nil)
	e.want(r, 200, "", "", "")
	if string(r.body) != `{"scope":"a"}`+"\n" {
		t.Errorf("scope: %s", r.body)
	}
	e.want(e.do("GET", "/scopes/zz", nil), 404, "not_found", "", "scope not found: zz")
	e.want(e.do("PUT", "/scopes/c", nil), 201, "", "", "")
	// A scope name with a slash, URL-encoded.
	e.want(e.do("PUT", "/scopes/"+url.PathEscape("api/read"), nil), 201, "", "", "")
	r = e.do("GET", "/scopes/api%2Fread", nil)
	e.want(r, 200, "", "", "")
	if r.obj(t)["scope"] != "api/read" {
		t.Errorf("scope with a slash: %s", r.body)
	}
	e.want(e.do("DELETE", "/scopes/c", nil), 204, "", "", "")
	e.want(e.do("DELETE", "/scopes/c", nil), 404, "not_found", "", "scope not found: c")
}

func TestTokens(t *testing.T) {
	e := newEnv(t, nil, Options{})
	ann := e.mustUser("ann")
	app := e.mustApp(ann["id"].(string), "shop")
	ctx := context.Background()
	now := time.Now()
	save := func(kind string) (*store.Token, string) {
		tok := &store.Token{Kind: kind, ConsumerID: app["id"].(string), AuthenticatedUserID: ann["id"].(string),
			Scopes: []string{"read"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		plain := store.NewToken(tok)
		if err := e.s.SaveToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		return tok, plain
	}
	access, accessPlain := save(store.AccessToken)
	refresh, refreshPlain := save(store.RefreshToken)

	r := e.do("GET", "/tokens?consumerId=shop", nil)
	e.want(r, 200, "", "", "")
	list := r.obj(t)["tokens"].([]any)
	if len(list) != 2 {
		t.Fatalf("tokens: %s", r.body)
	}
	first := list[0].(map[string]any)
	if first["consumerId"] != app["id"] || first["authenticatedUserId"] != ann["id"] || first["revoked"] != false ||
		!reflect.DeepEqual(first["scopes"], []any{"read"}) {
		t.Errorf("token %v", first)
	}
	parseTime(t, first["expiresAt"])
	if bytes.Contains(r.body, []byte("ecret")) || bytes.Contains(r.body, []byte(strings.Split(accessPlain, "|")[1])) {
		t.Errorf("the token list shows secrets: %s", r.body)
	}
	e.want(e.do("GET", "/tokens", nil), 400, "bad_request", "consumerId", "")
	e.want(e.do("GET", "/tokens?consumerId=nobody", nil), 404, "not_found", "", "")

	// by id|secret, URL-encoded; a wrong secret is not found
	e.want(e.do("DELETE", "/tokens/"+url.PathEscape(access.ID+"|wrong"), nil), 404, "not_found", "", "Token not found: "+access.ID)
	r = e.do("DELETE", "/tokens/"+url.PathEscape(accessPlain), nil)
	e.want(r, 200, "", "", "")
	if string(r.body) != fmt.Sprintf(`{"id":%q,"revoked":true}`, access.ID)+"\n" {
		t.Errorf("revoke: %s", r.body)
	}
	if _, err := e.s.VerifyToken(ctx, access.ID, strings.Split(accessPlain, "|")[1]); err == nil {
		t.Error("a revoked token still verifies")
	}
	// by id alone; refresh tokens too (EG: access only)
	e.want(e.do("DELETE", "/tokens/"+refresh.ID, nil), 200, "", "", "")
	if _, err := e.s.VerifyToken(ctx, refresh.ID, strings.Split(refreshPlain, "|")[1]); err == nil {
		t.Error("a revoked refresh token still verifies")
	}
	e.want(e.do("DELETE", "/tokens/nope", nil), 404, "not_found", "", "Token not found: nope")

	r = e.do("GET", "/tokens?consumerId="+app["id"].(string), nil)
	for _, x := range r.obj(t)["tokens"].([]any) {
		if x.(map[string]any)["revoked"] != true {
			t.Errorf("token not shown revoked: %v", x)
		}
	}
}

func TestAPIKey(t *testing.T) {
	e := newEnv(t, nil, Options{APIKey: "k3y"})
	tests := []struct {
		name string
		hdr  []string
		path string
		code int
	}{
		{"no key", nil, "/users", 401},
		{"no key, unknown route", nil, "/nope", 401},
		{"wrong bearer", []string{"Authorization", "Bearer nope"}, "/users", 401},
		{"prefix of the key", []string{"Authorization", "Bearer k3"}, "/users", 401},
		{"wrong X-Admin-Key", []string{"X-Admin-Key", "k3yy"}, "/users", 401},
		{"basic scheme", []string{"Authorization", "Basic k3y"}, "/users", 401},
		{"bearer", []string{"Authorization", "Bearer k3y"}, "/users", 200},
		{"bearer, any case", []string{"Authorization", "bearer k3y"}, "/users", 200},
		{"X-Admin-Key", []string{"X-Admin-Key", "k3y"}, "/users", 200},
		{"right key, unknown route", []string{"X-Admin-Key", "k3y"}, "/nope", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			r := e.do("GET", tt.path, nil, tt.hdr...)
			if tt.code == 401 {
				e.want(r, 401, "unauthorized", "", "")
				if r.h.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				return
			}
			e.want(r, tt.code, "", "", "")
		})
	}
	// A write without the key writes nothing.
	e.t = t
	e.want(e.do("POST", "/users", map[string]any{"username": "x", "firstname": "F", "lastname": "L"}), 401, "unauthorized", "", "")
	e.hdr.Set("X-Admin-Key", "k3y")
	if r := e.do("GET", "/users", nil); !bytes.Contains(r.body, []byte(`"users":[]`)) {
		t.Errorf("unauthorized write went through: %s", r.body)
	}
}

func TestRouting(t *testing.T) {
	e := newEnv(t, nil, Options{})
	e.want(e.do("GET", "/nope", nil), 404, "not_found", "", "no Admin API route GET /nope")
	e.want(e.do("GET", "/users/a/b/c", nil), 404, "not_found", "", "")
	r := e.do("PATCH", "/users", nil)
	e.want(r, 405, "method_not_allowed", "", "")
	if allow := r.h.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Errorf("Allow = %q", allow)
	}
	r = e.do("POST", "/credentials/key-auth/x", nil)
	e.want(r, 405, "method_not_allowed", "", "")
	if allow := r.h.Get("Allow"); !strings.Contains(allow, "DELETE") {
		t.Errorf("Allow = %q", allow)
	}
	// A trailing slash is ignored, as Express does.
	e.want(e.do("GET", "/users/", nil), 200, "", "", "")
	e.want(e.do("POST", "/scopes/", map[string]any{"scopes": []string{"a"}}), 201, "", "", "")
	// Every response is uncacheable.
	if cc := r.h.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	// Every documented route exists (answers something else than "no route").
	for _, route := range Routes {
		method, path, _ := strings.Cut(route, " ")
		path = strings.NewReplacer("{id}", "x", "{type}", "key-auth", "{consumerId}", "x", "{scope}", "a", "{token}", "t").Replace(path)
		r := e.do(method, path, nil)
		if r.code == 404 || r.code == 405 {
			if m := r.obj(t); strings.HasPrefix(m["message"].(string), "no Admin API route") || r.code == 405 {
				t.Errorf("%s: not routed: %d %s", route, r.code, r.body)
			}
		}
	}
}

// Over a real connection: URL encoding and a body over the limit.
func TestOverHTTP(t *testing.T) {
	e := newEnv(t, nil, Options{MaxBodyBytes: 100})
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	res, err := http.Post(srv.URL+"/users", "application/json", strings.NewReader(`{"username":"`+strings.Repeat("x", 200)+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 413 || !bytes.Contains(b, []byte(`"body_too_large"`)) {
		t.Errorf("oversized: %d %s", res.StatusCode, b)
	}
	res, err = http.Get(srv.URL + "/users")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if !bytes.Contains(b, []byte(`"users":[]`)) {
		t.Errorf("after a refused body: %s", b)
	}
}

func TestCustomModels(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "models"), 0o755); err != nil {
		t.Fatal(err)
	}
	users := `{"properties": {"firstname": {"type": "string"}, "lastname": {"type": "string"},
  "age": {"type": "integer"}, "vip": {"type": "boolean", "default": false}, "badge": {"type": "string", "isMutable": false}},
  "required": ["firstname"]}`
	if err := os.WriteFile(filepath.Join(dir, "models", "users.json"), []byte(users), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, m, Options{})
	r := e.do("POST", "/users", map[string]any{"username": "ann", "firstname": "Ann", "age": 41, "badge": "B1"})
	e.want(r, 200, "", "", "")
	if got, want := r.keys(t), []string{"id", "username", "firstname", "isActive", "createdAt", "updatedAt", "age", "badge", "vip"}; !slices.Equal(got, want) {
		t.Errorf("keys %v, want %v", got, want)
	}
	u := r.obj(t)
	if u["age"] != 41.0 || u["vip"] != false || u["badge"] != "B1" {
		t.Errorf("user %s", r.body)
	}
	e.want(e.do("POST", "/users", map[string]any{"username": "bob", "firstname": "Bob", "email": "b@example.com"}), 400, "bad_request", "email", "")
	e.want(e.do("POST", "/users", map[string]any{"username": "bob", "firstname": "Bob", "age": 1.5}), 400, "bad_request", "age", "age must be an integer")
	e.want(e.do("PUT", "/users/ann", map[string]any{"badge": "B2"}), 400, "bad_request", "badge", "badge cannot be changed (isMutable is false in models/users.json)")
	r = e.do("PUT", "/users/ann", map[string]any{"age": 42, "badge": "B1", "vip": nil})
	e.want(r, 200, "", "", "")
	if u := r.obj(t); u["age"] != 42.0 || u["vip"] != nil {
		t.Errorf("updated %s", r.body)
	}
}

// failing wraps the memory backend; when down, every call fails as an
// unreachable Redis would, or with an unexpected error.
type failing struct {
	*memstore.Mem
	mode atomic.Int32 // 0 up, 1 unavailable, 2 other error
}

func (f *failing) err() error {
	switch f.mode.Load() {
	case 1:
		return fmt.Errorf("redis: dial tcp 10.0.0.1:6379: connection refused: %w", store.ErrUnavailable)
	case 2:
		return errors.New("disk on fire at /var/lib/secret-path")
	}
	return nil
}

func (f *failing) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := f.err(); err != nil {
		return nil, false, err
	}
	return f.Mem.Get(ctx, key)
}

func (f *failing) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Mem.Update(ctx, fn)
}

func (f *failing) Scan(ctx context.Context, set string, cursor uint64, count int) ([]string, uint64, error) {
	if err := f.err(); err != nil {
		return nil, 0, err
	}
	return f.Mem.Scan(ctx, set, cursor, count)
}

func (f *failing) Members(ctx context.Context, set string) ([]string, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.Mem.Members(ctx, set)
}

func TestStoreFailures(t *testing.T) {
	b := &failing{Mem: memstore.New(nil)}
	s := store.New(b, store.Options{BcryptCost: 4})
	defer s.Close()
	var logs bytes.Buffer
	e := &env{t: t, s: s, hdr: http.Header{}}
	e.h = New(s, nil, Options{Logger: slogTo(&logs)})

	b.mode.Store(1)
	for _, req := range []struct{ method, path string }{{"GET", "/users"}, {"POST", "/apps"}, {"POST", "/credentials"}, {"GET", "/scopes"}} {
		var body any
		switch req.path {
		case "/apps":
			body = map[string]any{"userId": "ann", "name": "x"}
		case "/credentials":
			body = map[string]any{"consumerId": "ann", "type": "key-auth"}
		}
		r := e.do(req.method, req.path, body)
		e.want(r, 503, "unavailable", "", "")
		if r.h.Get("Retry-After") != "1" {
			t.Errorf("%s %s: Retry-After = %q", req.method, req.path, r.h.Get("Retry-After"))
		}
	}
	b.mode.Store(2)
	r := e.do("GET", "/users", nil)
	e.want(r, 500, "internal_error", "", "the Admin API failed to handle the request")
	if bytes.Contains(r.body, []byte("disk")) {
		t.Errorf("the cause leaked: %s", r.body)
	}
	if !strings.Contains(logs.String(), "disk on fire") {
		t.Errorf("the cause was not logged: %s", logs.String())
	}
	b.mode.Store(0)
	e.want(e.do("GET", "/users", nil), 200, "", "", "")
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
