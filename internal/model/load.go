package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/store"
)

// File names, relative to the config directory.
const (
	UsersFile        = "models/users.json"
	ApplicationsFile = "models/applications.json"
	CredentialsFile  = "models/credentials.json"
)

// Models is the models configuration of users, applications and
// credentials.
type Models struct {
	Users *Schema
	Apps  *Schema
	// credentials holds the schema of each enabled credential type.
	credentials map[string]*Schema
}

// Credential returns the schema of a credential type; ok is false when the
// type is unknown or not enabled in models/credentials.json.
func (m *Models) Credential(typ string) (*Schema, bool) {
	s, ok := m.credentials[typ]
	return s, ok
}

// CredentialTypes lists the enabled credential types, in store order.
func (m *Models) CredentialTypes() []string {
	var out []string
	for _, t := range store.CredentialTypes {
		if _, ok := m.credentials[t]; ok {
			out = append(out, t)
		}
	}
	return out
}

// Default returns the models Express Gateway ships.
func Default() *Models {
	m := &Models{Users: defaultUsers(), Apps: defaultApps(), credentials: map[string]*Schema{}}
	for _, t := range store.CredentialTypes {
		m.credentials[t] = builtinCredential(t)
	}
	return m
}

func str(name, format string) *Property {
	return &Property{Name: name, Types: []string{TypeString}, Format: format, Mutable: true}
}

func defaultUsers() *Schema {
	s := newSchema()
	s.file = UsersFile
	for _, p := range []*Property{str("username", ""), str("firstname", ""), str("lastname", ""), str("email", FormatEmail), str("redirectUri", FormatURI)} {
		s.props[p.Name] = p
	}
	s.props["username"].Mutable = false
	s.required = []string{"firstname", "lastname", "username"}
	return s
}

func defaultApps() *Schema {
	s := newSchema()
	s.file = ApplicationsFile
	s.props["name"] = str("name", "")
	s.props["redirectUri"] = str("redirectUri", FormatURI)
	s.required = []string{"name"}
	return s
}

// builtinCredential is what Gatehouse accepts in POST /credentials'
// "credential" object for a type. models/credentials.json may change the
// defaults, not add properties: a credential has no free-form fields.
func builtinCredential(typ string) *Schema {
	s := newSchema()
	s.file = CredentialsFile
	s.credType = typ
	add := func(p *Property) { s.props[p.Name] = p }
	scopes := &Property{Name: "scopes", Types: []string{TypeString, TypeArray}, Mutable: true}
	switch typ {
	case store.BasicAuth, store.OAuth2:
		key := passwordKey(typ)
		add(&Property{Name: "autoGeneratePassword", Types: []string{TypeBoolean}, Default: true, Mutable: true})
		add(&Property{Name: "passwordKey", Types: []string{TypeString}, Default: key, Mutable: false})
		add(str(key, ""))
		add(scopes)
		if typ == store.OAuth2 {
			add(&Property{Name: "redirectUris", Types: []string{TypeArray, TypeString}, Mutable: true})
			// OpenID Connect client registration (Dynamic Client
			// Registration 1.0 §2 names), checked by store.CheckClientMetadata.
			for _, name := range []string{"post_logout_redirect_uris", "grant_types", "response_types"} {
				add(&Property{Name: name, Types: []string{TypeArray, TypeString}, Mutable: true})
			}
			for _, name := range []string{"backchannel_logout_uri", "subject_type", "sector_identifier_uri", "id_token_signed_response_alg", "token_endpoint_auth_method"} {
				add(str(name, ""))
			}
			add(&Property{Name: "backchannel_logout_session_required", Types: []string{TypeBoolean}, Mutable: true})
		}
	case store.KeyAuth, store.JWT:
		add(str("keyId", ""))
		add(str("keySecret", ""))
		add(scopes)
	}
	return s
}

// passwordKey is the field holding a basic-auth or oauth2 secret.
func passwordKey(typ string) string {
	if typ == store.OAuth2 {
		return "secret"
	}
	return "password"
}

// Load reads <configDir>/models/*.json; a missing file means Express
// Gateway's shipped model. Errors name the file and the JSON path:
// `models/users.json: properties.email.type: unknown type "strng"`.
func Load(configDir string) (*Models, error) {
	m := Default()
	var errs []error
	if raw, err := readJSON(configDir, UsersFile); err != nil {
		errs = append(errs, err)
	} else if raw != nil {
		s, err := parseConsumer(UsersFile, raw, userReserved, userCore, "username")
		if err != nil {
			errs = append(errs, err)
		} else {
			m.Users = s
		}
	}
	if raw, err := readJSON(configDir, ApplicationsFile); err != nil {
		errs = append(errs, err)
	} else if raw != nil {
		s, err := parseConsumer(ApplicationsFile, raw, appReserved, appCore, "name")
		if err != nil {
			errs = append(errs, err)
		} else {
			m.Apps = s
		}
	}
	if raw, err := readJSON(configDir, CredentialsFile); err != nil {
		errs = append(errs, err)
	} else if raw != nil {
		c, err := parseCredentials(raw)
		if err != nil {
			errs = append(errs, err)
		} else {
			m.credentials = c
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

// readJSON returns nil, nil when the file does not exist.
func readJSON(dir, name string) (map[string]any, error) {
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%s: %s", name, jsonError(b, err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: unexpected data after the JSON object", name)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: must be a JSON object (a JSON schema)", name)
	}
	return obj, nil
}

// jsonError adds the line and column to a syntax error.
func jsonError(b []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	off := int64(-1)
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "invalid JSON: unexpected end of file"
	}
	if off < 0 {
		return "invalid JSON: " + err.Error()
	}
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	line := 1 + bytes.Count(b[:off], []byte("\n"))
	// The offset counts the offending byte.
	col := max(1, int(off)-1-bytes.LastIndexByte(b[:off], '\n'))
	return fmt.Sprintf("line %d, column %d: invalid JSON: %s", line, col, err.Error())
}

// Reserved property names: Gatehouse sets them, a model may not declare
// them, a body may not give them.
var (
	userReserved = []string{"id", "isActive", "createdAt", "updatedAt"}
	appReserved  = []string{"id", "userId", "isActive", "createdAt", "updatedAt"}
	userCore     = []string{"username", "firstname", "lastname", "email", "redirectUri"}
	appCore      = []string{"name", "redirectUri"}
)

// loader parses one file and collects its errors.
type loader struct {
	file string
	defs map[string]any
	errs []string
}

func (l *loader) errorf(path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	l.errs = append(l.errs, l.file+": "+msg)
}

func (l *loader) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(l.errs, "\n"))
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var (
	annotationKeys = []string{"$id", "$schema", "$comment", "title", "description", "examples"}
	objectKeys     = []string{"type", "properties", "required", "additionalProperties", "definitions", "allOf", "$ref"}
	propertyKeys   = []string{"type", "format", "default", "isMutable", "items"}
)

// object parses an object schema (with allOf and $ref to #/definitions)
// into raw property schemas and the required list.
func (l *loader) object(path string, node any, depth int) (map[string]*rawProp, []string) {
	obj, ok := node.(map[string]any)
	if !ok {
		l.errorf(path, "must be a JSON object (a schema)")
		return nil, nil
	}
	if depth > 16 {
		l.errorf(path, "$ref nesting too deep (a cycle?)")
		return nil, nil
	}
	props := map[string]*rawProp{}
	var required []string
	for _, k := range sortedKeys(obj) {
		v := obj[k]
		p := join(path, k)
		switch k {
		case "type":
			if v != "object" {
				l.errorf(p, `must be "object"`)
			}
		case "additionalProperties":
			if v != false {
				l.errorf(p, "only false is supported: Gatehouse refuses undeclared properties, declare each one under properties")
			}
		case "definitions":
			if _, ok := v.(map[string]any); !ok {
				l.errorf(p, "must be an object")
			}
		case "required":
			required = append(required, l.required(p, v)...)
		case "properties":
			l.properties(props, p, v)
		case "allOf":
			list, ok := v.([]any)
			if !ok {
				l.errorf(p, "must be an array of schemas")
				continue
			}
			for i, e := range list {
				required = append(required, l.include(props, fmt.Sprintf("%s[%d]", p, i), e, depth)...)
			}
		case "$ref":
			ref, _ := v.(string)
			name, ok := strings.CutPrefix(ref, "#/definitions/")
			def, found := l.defs[name]
			if !ok || !found {
				l.errorf(p, "%s: only references to #/definitions/<name> of this file are supported", strconv.Quote(ref))
				continue
			}
			required = append(required, l.include(props, "definitions."+name, def, depth)...)
		default:
			if !slices.Contains(annotationKeys, k) {
				l.errorf(p, "unsupported keyword (supported: %s)", strings.Join(append(slices.Clone(objectKeys), annotationKeys...), ", "))
			}
		}
	}
	return props, required
}

// required reads an object schema's required list.
func (l *loader) required(path string, v any) []string {
	list, ok := v.([]any)
	if !ok {
		l.errorf(path, "must be an array of property names")
		return nil
	}
	var out []string
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			l.errorf(fmt.Sprintf("%s[%d]", path, i), "must be a string")
			continue
		}
		out = append(out, s)
	}
	return out
}

// properties merges an object schema's properties into props.
func (l *loader) properties(props map[string]*rawProp, path string, v any) {
	m, ok := v.(map[string]any)
	if !ok {
		l.errorf(path, "must be an object")
		return
	}
	for _, name := range sortedKeys(m) {
		ps, ok := m[name].(map[string]any)
		if !ok {
			l.errorf(join(path, name), "must be an object (the property's schema)")
			continue
		}
		merge(props, name, &rawProp{join(path, name), ps})
	}
}

// include merges the properties of a schema an allOf branch or a $ref
// names into props, and returns its required list.
func (l *loader) include(props map[string]*rawProp, path string, node any, depth int) []string {
	sub, req := l.object(path, node, depth+1)
	for _, name := range sortedKeys(sub) {
		merge(props, name, sub[name])
	}
	return req
}

// rawProp is a property's schema as written, and where (for errors).
type rawProp struct {
	path   string
	schema map[string]any
}

// merge combines the schemas given to one property by several allOf
// branches; a later keyword wins, and errors name the last branch.
func merge(props map[string]*rawProp, name string, p *rawProp) {
	cur := props[name]
	if cur == nil {
		cur = &rawProp{schema: map[string]any{}}
		props[name] = cur
	}
	cur.path = p.path
	for k, v := range p.schema {
		cur.schema[k] = v
	}
}

// property parses one property schema.
func (l *loader) property(path, name string, raw map[string]any) *Property {
	p := &Property{Name: name, Mutable: true}
	n := len(l.errs)
	for _, k := range sortedKeys(raw) {
		v := raw[k]
		kp := join(path, k)
		switch k {
		case "type":
			p.Types = l.types(kp, v)
		case "format":
			s, _ := v.(string)
			if !slices.Contains(knownFormats, s) {
				l.errorf(kp, "unknown format %s (supported: %s)", quoteAny(v), strings.Join(knownFormats, ", "))
			}
			p.Format = s
		case "isMutable":
			b, ok := v.(bool)
			if !ok {
				l.errorf(kp, "must be true or false")
			}
			p.Mutable = b || !ok
		case "items":
			l.items(kp, v)
		case "default":
		default:
			if !slices.Contains(annotationKeys, k) {
				l.errorf(kp, "unsupported keyword (supported: %s)", strings.Join(append(slices.Clone(propertyKeys), annotationKeys...), ", "))
			}
		}
	}
	if _, ok := raw["type"]; !ok {
		l.errorf(path, "type is required (one of: %s)", strings.Join(knownTypes, ", "))
	}
	if len(l.errs) > n {
		return nil
	}
	if _, ok := raw["items"]; ok && !slices.Contains(p.Types, TypeArray) {
		l.errorf(join(path, "items"), `only allowed with type "array"`)
	}
	if p.Format != "" && !slices.Contains(p.Types, TypeString) {
		l.errorf(join(path, "format"), `only allowed with type "string"`)
	}
	if d, ok := raw["default"]; ok && d != nil {
		if err := p.check(name, d); err != nil {
			l.errorf(join(path, "default"), "%s", strings.Replace(err.Error(), name+" must", "must", 1))
		} else {
			p.Default = d
		}
	}
	if len(l.errs) > n {
		return nil
	}
	return p
}

// types reads a property's type: a name or a list of names, each known.
func (l *loader) types(path string, v any) []string {
	var types []string
	switch t := v.(type) {
	case string:
		types = []string{t}
	case []any:
		for i, e := range t {
			s, ok := e.(string)
			if !ok {
				l.errorf(fmt.Sprintf("%s[%d]", path, i), "must be a string")
				continue
			}
			types = append(types, s)
		}
		if len(t) == 0 {
			l.errorf(path, "must not be empty")
		}
	default:
		l.errorf(path, "must be a type name or an array of them")
	}
	for _, t := range types {
		if !slices.Contains(knownTypes, t) {
			l.errorf(path, "unknown type %q (supported: %s)", t, strings.Join(knownTypes, ", "))
		}
	}
	return types
}

// items checks an array property's items: strings only.
func (l *loader) items(path string, v any) {
	it, ok := v.(map[string]any)
	if !ok || it["type"] != TypeString {
		l.errorf(path, `only {"type": "string"} is supported (arrays are arrays of strings)`)
		return
	}
	for ik := range it {
		if ik != "type" && !slices.Contains(annotationKeys, ik) {
			l.errorf(join(path, ik), `unsupported keyword (items must be {"type": "string"})`)
		}
	}
}

func quoteAny(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// parseConsumer parses users.json or applications.json. key is the
// property the store needs (username, name): it is always declared and
// required, even when the file leaves it out (EG's users.json does).
func parseConsumer(file string, raw map[string]any, reserved, core []string, key string) (*Schema, error) {
	l := &loader{file: file}
	l.defs, _ = raw["definitions"].(map[string]any)
	props, required := l.object("", raw, 0)
	s := newSchema()
	s.file = file
	for _, name := range sortedKeys(props) {
		path := props[name].path
		if slices.Contains(reserved, name) {
			l.errorf(path, "%s is set by Gatehouse and cannot be declared", name)
			continue
		}
		p := l.property(path, name, props[name].schema)
		if p == nil {
			continue
		}
		if slices.Contains(core, name) && !slices.Equal(p.Types, []string{TypeString}) {
			l.errorf(join(path, "type"), `must be "string"`)
			continue
		}
		s.props[name] = p
	}
	if _, ok := s.props[key]; !ok {
		s.props[key] = str(key, "")
	}
	if key == "username" {
		s.props[key].Mutable = false
	}
	for _, r := range required {
		if _, ok := props[r]; !ok && r != key {
			l.errorf("required", "%q is not a declared property", r)
			continue
		}
		if !slices.Contains(s.required, r) {
			s.required = append(s.required, r)
		}
	}
	if !slices.Contains(s.required, key) {
		s.required = append(s.required, key)
	}
	slices.Sort(s.required)
	return s, l.err()
}

// parseCredentials parses credentials.json: one schema per credential
// type under properties, as Express Gateway's (with allOf and $ref to
// #/definitions). A type left out is disabled, as in Express Gateway.
func parseCredentials(raw map[string]any) (map[string]*Schema, error) {
	l := &loader{file: CredentialsFile}
	l.defs, _ = raw["definitions"].(map[string]any)
	out := map[string]*Schema{}
	for _, k := range sortedKeys(raw) {
		v := raw[k]
		switch k {
		case "type":
			if v != "object" {
				l.errorf(k, `must be "object"`)
			}
		case "definitions":
			if _, ok := v.(map[string]any); !ok {
				l.errorf(k, "must be an object")
			}
		case "required":
			list, _ := v.([]any)
			for i, e := range list {
				if s, ok := e.(string); !ok || !store.ValidType(s) {
					l.errorf(fmt.Sprintf("required[%d]", i), "must be a credential type (%s)", strings.Join(store.CredentialTypes, ", "))
				}
			}
		case "properties":
			types, ok := v.(map[string]any)
			if !ok {
				l.errorf(k, "must be an object with one schema per credential type")
				continue
			}
			for _, typ := range sortedKeys(types) {
				path := "properties." + typ
				if !store.ValidType(typ) {
					l.errorf(path, "unknown credential type (known: %s)", strings.Join(store.CredentialTypes, ", "))
					continue
				}
				if s := l.credential(path, typ, types[typ]); s != nil {
					out[typ] = s
				}
			}
		default:
			if !slices.Contains(annotationKeys, k) {
				l.errorf(k, "unsupported keyword (supported: type, definitions, properties, required, %s)", strings.Join(annotationKeys, ", "))
			}
		}
	}
	if err := l.err(); err != nil {
		return nil, err
	}
	return out, nil
}

func (l *loader) credential(path, typ string, node any) *Schema {
	n := len(l.errs)
	props, required := l.object(path, node, 0)
	s := builtinCredential(typ)
	for _, name := range sortedKeys(props) {
		pp := props[name].path
		b, ok := s.props[name]
		if !ok {
			l.errorf(pp, "Gatehouse credentials cannot have custom properties (a %s credential accepts: %s)", typ, strings.Join(s.Names(), ", "))
			continue
		}
		p := l.property(pp, name, props[name].schema)
		if p == nil {
			continue
		}
		for _, t := range p.Types {
			if !slices.Contains(b.Types, t) {
				l.errorf(join(pp, "type"), "%s must be %s", name, typeDescription(b.Types))
			}
		}
		if p.Default == nil {
			continue
		}
		if err := b.check(name, p.Default); err != nil {
			l.errorf(join(pp, "default"), "%s", err.Error())
			continue
		}
		if name == "passwordKey" && p.Default != passwordKey(typ) {
			l.errorf(join(pp, "default"), "must be %q: Gatehouse does not support renaming the %s field", passwordKey(typ), typ)
			continue
		}
		b.Default = p.Default
	}
	for _, r := range required {
		if _, ok := s.props[r]; !ok {
			l.errorf(join(path, "required"), "%q is not a property of %s credentials", r, typ)
			continue
		}
		if !slices.Contains(s.required, r) {
			s.required = append(s.required, r)
		}
	}
	slices.Sort(s.required)
	if len(l.errs) > n {
		return nil
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
