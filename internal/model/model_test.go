package model

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Express Gateway's shipped models, verbatim (lib/config/models/*.json).
const egUsers = `{
  "$id": "http://express-gateway.io/models/users.json",
  "type": "object",
  "properties": {
    "firstname": {
      "type": "string"
    },
    "lastname": {
      "type": "string"
    },
    "email": {
      "type": "string",
      "format": "email"
    },
    "redirectUri": {
      "type": "string",
      "format": "uri"
    }
  },
  "required": [
    "firstname",
    "lastname"
  ]
}
`

const egApps = `{
  "$id": "http://express-gateway.io/models/applications.json",
  "type": "object",
  "properties": {
    "name": {
      "type": "string"
    },
    "redirectUri": {
      "type": "string",
      "format": "uri"
    }
  },
  "required": [
    "name"
  ]
}
`

const egCredentials = `{
  "$id": "http://express-gateway.io/models/credentials.json",
  "type": "object",
  "definitions": {
    "credentialBase": {
      "type": "object",
      "properties": {
        "autoGeneratePassword": {
          "type": "boolean",
          "default": true
        },
        "scopes": {
          "type": "string"
        }
      },
      "required": [
        "autoGeneratePassword",
        "passwordKey"
      ]
    }
  },
  "properties": {
    "basic-auth": {
      "allOf": [
        {
          "properties": {
            "passwordKey": {
              "type": "string",
              "default": "password"
            }
          }
        },
        {
          "$ref": "#/definitions/credentialBase"
        }
      ]
    },
    "key-auth": {
      "type": "object",
      "properties": {
        "scopes": {
          "type": "string"
        }
      }
    },
    "jwt": {
      "type": "object",
      "properties": {}
    },
    "oauth2": {
      "allOf": [
        {
          "properties": {
            "passwordKey": {
              "type": "string",
              "default": "secret"
            }
          }
        },
        {
          "$ref": "#/definitions/credentialBase"
        }
      ]
    }
  },
  "required": [
    "basic-auth",
    "key-auth",
    "jwt",
    "oauth2"
  ]
}
`

func writeModels(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "models"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, "models", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadMissingFilesAreDefaults(t *testing.T) {
	m, err := Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, Default()) {
		t.Errorf("Load of an empty dir differs from Default()")
	}
	if got, want := m.Users.Names(), []string{"email", "firstname", "lastname", "redirectUri", "username"}; !reflect.DeepEqual(got, want) {
		t.Errorf("users properties = %v, want %v", got, want)
	}
	if got, want := m.Users.Required(), []string{"firstname", "lastname", "username"}; !reflect.DeepEqual(got, want) {
		t.Errorf("users required = %v, want %v", got, want)
	}
	if got, want := m.Apps.Required(), []string{"name"}; !reflect.DeepEqual(got, want) {
		t.Errorf("apps required = %v, want %v", got, want)
	}
	if got := m.CredentialTypes(); !reflect.DeepEqual(got, store.CredentialTypes) {
		t.Errorf("credential types = %v", got)
	}
}

// Express Gateway's own files, copied into a config dir, load to the same
// models as the built-in defaults.
func TestLoadExpressGatewayFiles(t *testing.T) {
	dir := writeModels(t, map[string]string{"users.json": egUsers, "applications.json": egApps, "credentials.json": egCredentials})
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if !reflect.DeepEqual(m.Users, d.Users) {
		t.Errorf("users: got %+v, want %+v", m.Users, d.Users)
	}
	if !reflect.DeepEqual(m.Apps, d.Apps) {
		t.Errorf("apps: got %+v, want %+v", m.Apps, d.Apps)
	}
	for _, typ := range store.CredentialTypes {
		got, _ := m.Credential(typ)
		want, _ := d.Credential(typ)
		// EG's credentialBase requires autoGeneratePassword and passwordKey
		// (both have defaults, so that changes nothing).
		if typ == store.BasicAuth || typ == store.OAuth2 {
			want.required = []string{"autoGeneratePassword", "passwordKey"}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, want %+v", typ, got, want)
		}
	}
}

func TestLoadCustomModels(t *testing.T) {
	dir := writeModels(t, map[string]string{
		"users.json": `{
  "properties": {
    "firstname": {"type": "string", "description": "given name"},
    "lastname": {"type": "string"},
    "age": {"type": "integer"},
    "tags": {"type": "array", "items": {"type": "string"}, "default": ["new"]},
    "vip": {"type": "boolean", "default": false},
    "employeeNo": {"type": "string", "isMutable": false},
    "homepage": {"type": ["string", "null"]}
  },
  "required": ["firstname"]
}`,
		"credentials.json": `{
  "properties": {
    "basic-auth": {"properties": {"autoGeneratePassword": {"type": "boolean", "default": false}}},
    "key-auth": {"properties": {"scopes": {"type": "array", "default": ["read"]}}}
  }
}`,
	})
	_, err := Load(dir)
	want := `models/users.json: properties.homepage.type: unknown type "null" (supported: string, boolean, number, integer, array)`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	dir = writeModels(t, map[string]string{
		"users.json": strings.Replace(`{
  "properties": {
    "firstname": {"type": "string", "description": "given name"},
    "lastname": {"type": "string"},
    "age": {"type": "integer"},
    "tags": {"type": "array", "items": {"type": "string"}, "default": ["new"]},
    "vip": {"type": "boolean", "default": false},
    "employeeNo": {"type": "string", "isMutable": false}
  },
  "required": ["firstname"]
}`, "\n", "\r\n", -1),
		"credentials.json": `{
  "properties": {
    "basic-auth": {"properties": {"autoGeneratePassword": {"type": "boolean", "default": false}}},
    "key-auth": {"properties": {"scopes": {"type": "array", "default": ["read"]}}}
  }
}`,
	})
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Users.Required(), []string{"firstname", "username"}; !reflect.DeepEqual(got, want) {
		t.Errorf("required = %v, want %v", got, want)
	}
	if p, _ := m.Users.Property("employeeNo"); p.Mutable {
		t.Error("employeeNo should be immutable")
	}
	if _, ok := m.Users.Property("email"); ok {
		t.Error("email is not declared by this users.json")
	}
	if got := m.CredentialTypes(); !reflect.DeepEqual(got, []string{store.BasicAuth, store.KeyAuth}) {
		t.Errorf("enabled types = %v (types left out of credentials.json are disabled)", got)
	}
	u, err := m.NewUser(Body{"username": "ann", "firstname": "Ann", "age": float64(41)})
	if err != nil {
		t.Fatal(err)
	}
	wantExtra := map[string]any{"age": float64(41), "tags": []any{"new"}, "vip": false}
	if !reflect.DeepEqual(u.Extra, wantExtra) {
		t.Errorf("extra = %#v, want %#v", u.Extra, wantExtra)
	}
	in, err := m.NewCredential(store.BasicAuth, nil)
	if err != nil || in.AutoGeneratePassword == nil || *in.AutoGeneratePassword {
		t.Errorf("basic-auth default autoGeneratePassword: %+v, %v", in, err)
	}
	in, err = m.NewCredential(store.KeyAuth, nil)
	if err != nil || !reflect.DeepEqual(in.Scopes, []string{"read"}) {
		t.Errorf("key-auth default scopes: %+v, %v", in, err)
	}
	_, err = m.NewCredential(store.JWT, nil)
	wantErr(t, err, "type", `credential type "jwt" is not enabled in models/credentials.json (enabled: basic-auth, key-auth)`)
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"unknown type", map[string]string{"users.json": `{"properties": {"email": {"type": "strng"}}}`},
			`models/users.json: properties.email.type: unknown type "strng" (supported: string, boolean, number, integer, array)`},
		{"bad JSON", map[string]string{"users.json": "{\n  \"properties\": {\n    \"a\": {\"type\": \"string\",}\n  }\n}"},
			`models/users.json: line 3, column 28: invalid JSON: invalid character '}' looking for beginning of object key string`},
		{"truncated", map[string]string{"applications.json": `{"properties": {`},
			`models/applications.json: invalid JSON: unexpected end of file`},
		{"not an object", map[string]string{"users.json": `[]`},
			`models/users.json: must be a JSON object (a JSON schema)`},
		{"trailing data", map[string]string{"users.json": `{} {}`},
			`models/users.json: unexpected data after the JSON object`},
		{"unknown format", map[string]string{"users.json": `{"properties": {"email": {"type": "string", "format": "e-mail"}}}`},
			`models/users.json: properties.email.format: unknown format "e-mail" (supported: email, uri)`},
		{"format on a number", map[string]string{"users.json": `{"properties": {"n": {"type": "number", "format": "uri"}}}`},
			`models/users.json: properties.n.format: only allowed with type "string"`},
		{"unsupported keyword", map[string]string{"users.json": `{"properties": {"age": {"type": "integer", "minimum": 0}}}`},
			`models/users.json: properties.age.minimum: unsupported keyword (supported: type, format, default, isMutable, items, $id, $schema, $comment, title, description, examples)`},
		{"missing type", map[string]string{"users.json": `{"properties": {"age": {}}}`},
			`models/users.json: properties.age: type is required (one of: string, boolean, number, integer, array)`},
		{"bad default", map[string]string{"users.json": `{"properties": {"age": {"type": "integer", "default": "x"}}}`},
			`models/users.json: properties.age.default: must be an integer`},
		{"bad isMutable", map[string]string{"users.json": `{"properties": {"age": {"type": "integer", "isMutable": "no"}}}`},
			`models/users.json: properties.age.isMutable: must be true or false`},
		{"array items", map[string]string{"users.json": `{"properties": {"l": {"type": "array", "items": {"type": "number"}}}}`},
			`models/users.json: properties.l.items: only {"type": "string"} is supported (arrays are arrays of strings)`},
		{"reserved", map[string]string{"users.json": `{"properties": {"isActive": {"type": "boolean"}}}`},
			`models/users.json: properties.isActive: isActive is set by Gatehouse and cannot be declared`},
		{"reserved userId", map[string]string{"applications.json": `{"properties": {"userId": {"type": "string"}}}`},
			`models/applications.json: properties.userId: userId is set by Gatehouse and cannot be declared`},
		{"core type", map[string]string{"users.json": `{"properties": {"email": {"type": "number"}}}`},
			`models/users.json: properties.email.type: must be "string"`},
		{"required undeclared", map[string]string{"users.json": `{"properties": {}, "required": ["phone"]}`},
			`models/users.json: required: "phone" is not a declared property`},
		{"additionalProperties true", map[string]string{"users.json": `{"additionalProperties": true}`},
			`models/users.json: additionalProperties: only false is supported: Gatehouse refuses undeclared properties, declare each one under properties`},
		{"root type", map[string]string{"users.json": `{"type": "array"}`},
			`models/users.json: type: must be "object"`},
		{"several errors", map[string]string{"users.json": `{"properties": {"a": {"type": "x"}}}`, "applications.json": `{"properties": {"b": {"type": "y"}}}`},
			"models/users.json: properties.a.type: unknown type \"x\" (supported: string, boolean, number, integer, array)\n" +
				"models/applications.json: properties.b.type: unknown type \"y\" (supported: string, boolean, number, integer, array)"},
		{"credential type", map[string]string{"credentials.json": `{"properties": {"hmac": {}}}`},
			`models/credentials.json: properties.hmac: unknown credential type (known: basic-auth, key-auth, oauth2, jwt)`},
		{"credential custom property", map[string]string{"credentials.json": `{"properties": {"key-auth": {"properties": {"note": {"type": "string"}}}}}`},
			`models/credentials.json: properties.key-auth.properties.note: Gatehouse credentials cannot have custom properties (a key-auth credential accepts: keyId, keySecret, scopes)`},
		{"passwordKey renamed", map[string]string{"credentials.json": `{"properties": {"basic-auth": {"allOf": [{"properties": {"passwordKey": {"type": "string", "default": "pwd"}}}]}}}`},
			`models/credentials.json: properties.basic-auth.allOf[0].properties.passwordKey.default: must be "password": Gatehouse does not support renaming the basic-auth field`},
		{"credential property type", map[string]string{"credentials.json": `{"properties": {"oauth2": {"properties": {"autoGeneratePassword": {"type": "string"}}}}}`},
			`models/credentials.json: properties.oauth2.properties.autoGeneratePassword.type: autoGeneratePassword must be a boolean (true or false)`},
		{"bad $ref", map[string]string{"credentials.json": `{"properties": {"jwt": {"$ref": "#/definitions/nope"}}}`},
			`models/credentials.json: properties.jwt.$ref: "#/definitions/nope": only references to #/definitions/<name> of this file are supported`},
		{"$ref cycle", map[string]string{"credentials.json": `{"definitions": {"a": {"$ref": "#/definitions/a"}}, "properties": {"jwt": {"$ref": "#/definitions/a"}}}`},
			`models/credentials.json: definitions.a: $ref nesting too deep (a cycle?)`},
		{"credential required", map[string]string{"credentials.json": `{"properties": {"jwt": {"required": ["password"]}}}`},
			`models/credentials.json: properties.jwt.required: "password" is not a property of jwt credentials`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Load(writeModels(t, tt.files))
			if err == nil {
				t.Fatalf("no error, models %+v", m)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestLoadUnreadable(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "models", "users.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.HasPrefix(err.Error(), "models/users.json: ") {
		t.Errorf("err = %v", err)
	}
}

func wantErr(t *testing.T, err error, field, msg string) {
	t.Helper()
	var se *store.Error
	if !errors.As(err, &se) {
		t.Fatalf("err = %v (%T), want a store.Error about %s", err, err, field)
	}
	if !errors.Is(err, store.ErrInvalid) || se.Field != field || (msg != "" && se.Msg != msg) {
		t.Errorf("err = {%v %q %q}, want {invalid %q %q}", se.Kind, se.Field, se.Msg, field, msg)
	}
}

func TestNewUser(t *testing.T) {
	m := Default()
	tests := []struct {
		name  string
		body  Body
		want  store.User
		field string // error expected about this field
		msg   string
	}{
		{name: "minimal", body: Body{"username": "ann", "firstname": "Ann", "lastname": "Lee"},
			want: store.User{Username: "ann", Firstname: "Ann", Lastname: "Lee"}},
		{name: "all", body: Body{"username": "ann", "firstname": "Ann", "lastname": "Lee", "email": "ann@example.com", "redirectUri": "https://app.example/cb"},
			want: store.User{Username: "ann", Firstname: "Ann", Lastname: "Lee", Email: "ann@example.com", RedirectURI: "https://app.example/cb"}},
		{name: "null is absent", body: Body{"username": "ann", "firstname": "Ann", "lastname": "Lee", "email": nil},
			want: store.User{Username: "ann", Firstname: "Ann", Lastname: "Lee"}},
		{name: "missing firstname", body: Body{"username": "ann", "lastname": "Lee"}, field: "firstname", msg: "firstname is required"},
		{name: "missing username", body: Body{"firstname": "Ann", "lastname": "Lee"}, field: "username", msg: "username is required"},
		{name: "empty lastname", body: Body{"username": "ann", "firstname": "Ann", "lastname": ""}, field: "lastname", msg: "lastname must not be empty"},
		{name: "wrong type", body: Body{"username": "ann", "firstname": 5.0, "lastname": "Lee"}, field: "firstname", msg: "firstname must be a string"},
		{name: "bad email", body: Body{"username": "ann", "firstname": "Ann", "lastname": "Lee", "email": "ann.example.com"}, field: "email", msg: "email must be an email address"},
		{name: "relative uri", body: Body{"username": "ann", "firstname": "Ann", "lastname": "Lee", "redirectUri": "/cb"}, field: "redirectUri",
			msg: "redirectUri must be an absolute URI (with a scheme, such as https://)"},
		{name: "undeclared", body: Body{"username": "ann", "firstname": "Ann", "lastname": "Lee", "phone": "1"}, field: "phone",
			msg: `unknown property "phone" (models/users.json declares: email, firstname, lastname, redirectUri, username)`},
		{name: "id (EG B-25)", body: Body{"username": "ann", "firstname": "Ann", "lastname": "Lee", "id": "mine"}, field: "id",
			msg: "id is generated by Gatehouse and cannot be given"},
		{name: "isActive (EG B-25)", body: Body{"username": "ann", "firstname": "Ann", "lastname": "Lee", "isActive": false}, field: "isActive"},
		{name: "createdAt", body: Body{"username": "ann", "firstname": "Ann", "lastname": "Lee", "createdAt": "x"}, field: "createdAt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := m.NewUser(tt.body)
			if tt.field != "" {
				wantErr(t, err, tt.field, tt.msg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(u, tt.want) {
				t.Errorf("got %+v\nwant %+v", u, tt.want)
			}
		})
	}
}

func customModels(t *testing.T) *Models {
	t.Helper()
	m, err := Load(writeModels(t, map[string]string{
		"users.json": `{"properties": {
  "firstname": {"type": "string"}, "lastname": {"type": "string"}, "email": {"type": "string", "format": "email"},
  "age": {"type": "integer"}, "score": {"type": "number"}, "vip": {"type": "boolean", "default": false},
  "tags": {"type": "array"}, "employeeNo": {"type": "string", "isMutable": false}, "site": {"type": "string", "format": "uri"}
}, "required": ["firstname"]}`,
		"applications.json": `{"properties": {"name": {"type": "string"}, "redirectUri": {"type": "string", "format": "uri"},
  "tier": {"type": "string", "default": "free"}, "team": {"type": "string", "isMutable": false}}, "required": ["name"]}`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNewUserExtraTypes(t *testing.T) {
	m := customModels(t)
	tests := []struct {
		name  string
		extra Body
		want  map[string]any // Extra; nil with field set means an error
		field string
	}{
		{"defaults", Body{}, map[string]any{"vip": false}, ""},
		{"integer", Body{"age": 41.0}, map[string]any{"age": 41.0, "vip": false}, ""},
		{"not an integer", Body{"age": 41.5}, nil, "age"},
		{"number", Body{"score": 4.5}, map[string]any{"score": 4.5, "vip": false}, ""},
		{"number as string", Body{"score": "4.5"}, nil, "score"},
		{"boolean overrides default", Body{"vip": true}, map[string]any{"vip": true}, ""},
		{"boolean as string", Body{"vip": "true"}, nil, "vip"},
		{"array", Body{"tags": []any{"a", "b"}}, map[string]any{"tags": []any{"a", "b"}, "vip": false}, ""},
		{"array of numbers", Body{"tags": []any{"a", 1.0}}, nil, "tags"},
		{"string for array", Body{"tags": "a"}, nil, "tags"},
		{"object", Body{"employeeNo": map[string]any{}}, nil, "employeeNo"},
		{"uri", Body{"site": "mailto:x@example.com"}, map[string]any{"site": "mailto:x@example.com", "vip": false}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := Body{"username": "u", "firstname": "F"}
			for k, v := range tt.extra {
				body[k] = v
			}
			u, err := m.NewUser(body)
			if tt.field != "" {
				wantErr(t, err, tt.field, "")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(u.Extra, tt.want) {
				t.Errorf("extra = %#v, want %#v", u.Extra, tt.want)
			}
		})
	}
}

func TestUpdateUser(t *testing.T) {
	m := customModels(t)
	base := store.User{ID: "u1", Username: "ann", Firstname: "Ann", Lastname: "Lee", Email: "ann@example.com", IsActive: true,
		Extra: map[string]any{"employeeNo": "E1", "vip": false}}
	tests := []struct {
		name  string
		body  Body
		check func(u store.User) bool
		field string
	}{
		{"firstname", Body{"firstname": "Anne"}, func(u store.User) bool { return u.Firstname == "Anne" }, ""},
		{"extra", Body{"age": 42.0, "vip": true}, func(u store.User) bool { return u.Extra["age"] == 42.0 && u.Extra["vip"] == true }, ""},
		{"null removes optional", Body{"email": nil, "vip": nil}, func(u store.User) bool { _, ok := u.Extra["vip"]; return u.Email == "" && !ok }, ""},
		{"null on required", Body{"firstname": nil}, nil, "firstname"},
		{"empty required", Body{"firstname": ""}, nil, "firstname"},
		{"same username is fine", Body{"username": "ann", "id": "u1", "isActive": true, "createdAt": "whatever"}, func(u store.User) bool { return u.Username == "ann" }, ""},
		{"username never changes", Body{"username": "bob"}, nil, "username"},
		{"id", Body{"id": "u2"}, nil, "id"},
		{"isActive", Body{"isActive": false}, nil, "isActive"},
		{"immutable unchanged", Body{"employeeNo": "E1"}, func(u store.User) bool { return u.Extra["employeeNo"] == "E1" }, ""},
		{"immutable changed", Body{"employeeNo": "E2"}, nil, "employeeNo"},
		{"immutable removed", Body{"employeeNo": nil}, nil, "employeeNo"},
		{"undeclared", Body{"phone": "1"}, nil, "phone"},
		{"wrong type", Body{"age": "old"}, nil, "age"},
		{"bad email", Body{"email": "nope"}, nil, "email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := base
			u.Extra = map[string]any{"employeeNo": "E1", "vip": false}
			err := m.UpdateUser(&u, tt.body)
			if tt.field != "" {
				wantErr(t, err, tt.field, "")
				if !reflect.DeepEqual(u, base) {
					t.Errorf("a refused update changed the user: %+v", u)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(u) {
				t.Errorf("unexpected result %+v", u)
			}
		})
	}
	// The update does not alias the caller's Extra map.
	u := base
	orig := map[string]any{"employeeNo": "E1"}
	u.Extra = orig
	if err := m.UpdateUser(&u, Body{"age": 1.0}); err != nil {
		t.Fatal(err)
	}
	if _, ok := orig["age"]; ok {
		t.Error("UpdateUser wrote into the original Extra map")
	}
}

func TestApps(t *testing.T) {
	m := customModels(t)
	a, err := m.NewApp(Body{"userId": "ann", "name": "shop", "redirectUri": "https://shop.example/cb", "team": "t1"})
	if err != nil {
		t.Fatal(err)
	}
	want := store.App{UserID: "ann", Name: "shop", RedirectURI: "https://shop.example/cb", Extra: map[string]any{"tier": "free", "team": "t1"}}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("got %+v\nwant %+v", a, want)
	}
	bad := []struct {
		body  Body
		field string
	}{
		{Body{"name": "x"}, "userId"},
		{Body{"userId": 5.0, "name": "x"}, "userId"},
		{Body{"userId": "ann"}, "name"},
		{Body{"userId": "ann", "name": "  "}, ""},
		{Body{"userId": "ann", "name": "x", "redirectUri": "nope"}, "redirectUri"},
		{Body{"userId": "ann", "name": "x", "id": "a1"}, "id"},
		{Body{"userId": "ann", "name": "x", "owner": "a1"}, "owner"},
	}
	for _, b := range bad {
		_, err := m.NewApp(b.body)
		if b.field == "" {
			if err != nil {
				t.Errorf("%v: %v (blank names are the store's to refuse)", b.body, err)
			}
			continue
		}
		wantErr(t, err, b.field, "")
	}

	a.ID, a.UserID = "a1", "u1"
	up := a
	if err := m.UpdateApp(&up, Body{"name": "shop2", "tier": "pro", "userId": "u1", "team": "t1"}); err != nil {
		t.Fatal(err)
	}
	if up.Name != "shop2" || up.Extra["tier"] != "pro" {
		t.Errorf("update: %+v", up)
	}
	for _, b := range []struct {
		body  Body
		field string
	}{
		{Body{"userId": "u2"}, "userId"},
		{Body{"team": "t2"}, "team"},
		{Body{"name": nil}, "name"},
		{Body{"isActive": true}, "isActive"},
		{Body{"secret": "x"}, "secret"},
	} {
		cp := a
		wantErr(t, m.UpdateApp(&cp, b.body), b.field, "")
	}
}

func TestNewCredential(t *testing.T) {
	m := Default()
	tru, fls := true, false
	tests := []struct {
		typ   string
		body  Body
		want  store.CredentialInput
		field string
	}{
		{store.BasicAuth, nil, store.CredentialInput{Type: store.BasicAuth, AutoGeneratePassword: &tru}, ""},
		{store.BasicAuth, Body{"password": "pw", "scopes": []any{"a", "b"}, "passwordKey": "password"},
			store.CredentialInput{Type: store.BasicAuth, Secret: "pw", AutoGeneratePassword: &tru, Scopes: []string{"a", "b"}}, ""},
		{store.BasicAuth, Body{"autoGeneratePassword": false, "scopes": "a"},
			store.CredentialInput{Type: store.BasicAuth, AutoGeneratePassword: &fls, Scopes: []string{"a"}}, ""},
		{store.BasicAuth, Body{"secret": "pw"}, store.CredentialInput{}, "credential.secret"},
		{store.BasicAuth, Body{"keyId": "k"}, store.CredentialInput{}, "credential.keyId"},
		{store.BasicAuth, Body{"passwordKey": "secret"}, store.CredentialInput{}, "credential.passwordKey"},
		{store.BasicAuth, Body{"autoGeneratePassword": "yes"}, store.CredentialInput{}, "credential.autoGeneratePassword"},
		{store.BasicAuth, Body{"scopes": 3.0}, store.CredentialInput{}, "credential.scopes"},
		{store.OAuth2, Body{"secret": "s", "redirectUris": []any{"https://a.example/cb"}},
			store.CredentialInput{Type: store.OAuth2, Secret: "s", AutoGeneratePassword: &tru, RedirectURIs: []string{"https://a.example/cb"}}, ""},
		{store.OAuth2, Body{"password": "s"}, store.CredentialInput{}, "credential.password"},
		{store.KeyAuth, Body{"keyId": "k", "keySecret": "s", "scopes": []any{"a"}},
			store.CredentialInput{Type: store.KeyAuth, KeyID: "k", KeySecret: "s", Scopes: []string{"a"}}, ""},
		{store.KeyAuth, Body{"password": "s"}, store.CredentialInput{}, "credential.password"},
		{store.KeyAuth, Body{"autoGeneratePassword": true}, store.CredentialInput{}, "credential.autoGeneratePassword"},
		{store.JWT, Body{"scopes": []any{"a"}}, store.CredentialInput{Type: store.JWT, Scopes: []string{"a"}}, ""},
		{"hmac", nil, store.CredentialInput{}, "type"},
	}
	for _, tt := range tests {
		in, err := m.NewCredential(tt.typ, tt.body)
		if tt.field != "" {
			wantErr(t, err, tt.field, "")
			continue
		}
		if err != nil {
			t.Errorf("%s %v: %v", tt.typ, tt.body, err)
			continue
		}
		if !reflect.DeepEqual(in, tt.want) {
			t.Errorf("%s %v:\n got %+v\nwant %+v", tt.typ, tt.body, in, tt.want)
		}
	}
	_, err := m.NewCredential(store.KeyAuth, Body{"note": "x"})
	wantErr(t, err, "credential.note", `unknown property "credential.note" (key-auth credentials accept: keyId, keySecret, scopes)`)
	if f := CredentialField(store.JWT); f != "keySecret" {
		t.Errorf("CredentialField(jwt) = %q", f)
	}
}

func TestApplyDefaultsCopies(t *testing.T) {
	m := customModels(t)
	in := Body{"username": "x"}
	out := m.Users.ApplyDefaults(in)
	if _, ok := in["vip"]; ok {
		t.Error("ApplyDefaults changed its argument")
	}
	if out["vip"] != false || out["username"] != "x" {
		t.Errorf("out = %v", out)
	}
}
