package configedit

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
)

// JSON Schemas (draft 2020-12) of what gateway.config.yml may hold, for
// GET /schemas. They are generated from the very structs the strict
// config decoder fills (a policy's Options, config.Gateway), with the
// decoder's rules for its own types, so a key the decoder refuses is one
// the schema refuses (additionalProperties: false) and the other way
// round. Their $id follow Express Gateway's scheme.

// Schema is one schema with its Admin API type: policy, condition or
// config.
type Schema struct {
	Type   string
	ID     string
	Schema json.RawMessage
}

// Schema $id prefixes, as Express Gateway names its schemas.
const (
	policyIDPrefix    = "http://express-gateway.io/schemas/policies/"
	conditionIDPrefix = "http://express-gateway.io/schemas/conditions/"
	ConfigID          = "http://express-gateway.io/models/gateway.config.json"
)

// PolicyID is the $id of a policy's schema.
func PolicyID(name string) string { return policyIDPrefix + name + ".json" }

// ConditionID is the $id of a condition's schema.
func ConditionID(name string) string { return conditionIDPrefix + name + ".json" }

// PolicySchema is the schema of a policy's action, from a zero value of
// its options struct.
func PolicySchema(name string, options any) (Schema, error) {
	t := reflect.TypeOf(options)
	if t == nil {
		return Schema{}, fmt.Errorf("policy %s has no options type", name)
	}
	s := typeSchema(t, 0)
	s["$id"] = PolicyID(name)
	s["title"] = name
	s["description"] = fmt.Sprintf("the action of a %s step (pipelines.NAME.policies[].%s[].action)", name, name)
	return marshal("policy", PolicyID(name), s)
}

// ConfigSchema is the schema of gateway.config.yml.
func ConfigSchema() (Schema, error) {
	s := typeSchema(reflect.TypeFor[config.Gateway](), 0)
	s["$id"] = ConfigID
	s["title"] = "gateway.config.yml"
	return marshal("config", ConfigID, s)
}

// conditionParams are the parameters of each condition besides name, as
// internal/condition decodes them.
var conditionParams = map[string]struct {
	props    map[string]any
	required []string
}{
	"always":                 {},
	"never":                  {},
	"authenticated":          {},
	"anonymous":              {},
	"tlsClientAuthenticated": {},
	"allOf":                  {map[string]any{"conditions": map[string]any{"type": "array", "items": map[string]any{"$ref": "condition"}}}, []string{"conditions"}},
	"oneOf":                  {map[string]any{"conditions": map[string]any{"type": "array", "items": map[string]any{"$ref": "condition"}}}, []string{"conditions"}},
	"not":                    {map[string]any{"condition": map[string]any{"$ref": "condition"}}, []string{"condition"}},
	"pathExact":              {map[string]any{"path": map[string]any{"type": "string"}}, []string{"path"}},
	"pathMatch":              {map[string]any{"pattern": map[string]any{"type": "string", "description": "a regular expression (RE2) matched against the path"}}, []string{"pattern"}},
	"method":                 {map[string]any{"methods": stringOrList()}, []string{"methods"}},
	"hostMatch":              {map[string]any{"pattern": map[string]any{"type": "string", "description": "a host pattern such as *.example.com"}}, []string{"pattern"}},
}

// ConditionNames lists the conditions that have a schema.
func ConditionNames() []string {
	out := make([]string, 0, len(conditionParams))
	for k := range conditionParams {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ConditionSchema is the schema of one condition.
func ConditionSchema(name string) (Schema, error) {
	p, ok := conditionParams[name]
	if !ok {
		return Schema{}, fmt.Errorf("no schema for condition %q", name)
	}
	props := map[string]any{"name": map[string]any{"const": name}}
	for k, v := range p.props {
		props[k] = relink(v)
	}
	s := map[string]any{
		"$id": ConditionID(name), "title": name, "type": "object",
		"properties": props, "required": append([]string{"name"}, p.required...), "additionalProperties": false,
	}
	return marshal("condition", ConditionID(name), s)
}

// relink points "$ref": "condition" at the condition schemas.
func relink(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			if k == "$ref" && e == "condition" {
				return anyCondition()
			}
			out[k] = relink(e)
		}
		return out
	}
	return v
}

func anyCondition() map[string]any {
	var refs []any
	for _, n := range ConditionNames() {
		refs = append(refs, map[string]any{"$ref": ConditionID(n)})
	}
	return map[string]any{"anyOf": refs}
}

func marshal(typ, id string, s map[string]any) (Schema, error) {
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	b, err := json.Marshal(s)
	if err != nil {
		return Schema{}, err
	}
	return Schema{Type: typ, ID: id, Schema: b}, nil
}

func stringOrList() map[string]any {
	return map[string]any{"oneOf": []any{
		map[string]any{"type": "string"},
		map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
	}}
}

// durationSchema is config.Duration: milliseconds, or a Go duration.
func durationSchema() map[string]any {
	return map[string]any{"oneOf": []any{
		map[string]any{"type": "number", "minimum": 0, "description": "milliseconds"},
		map[string]any{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$|^[0-9]+(\.[0-9]+)?$`, "description": "a duration such as 1.5s or 500ms"},
	}}
}

// typeSchema follows internal/config's decoder: what each Go type accepts.
// The schema states the types; the decoder also takes a boolean or a
// number written as text (as Express Gateway's Ajv coerces them), since
// ${VAR} substitution always yields text.
func typeSchema(t reflect.Type, depth int) map[string]any {
	if depth > 20 {
		return map[string]any{}
	}
	switch t {
	case reflect.TypeFor[config.Duration]():
		return durationSchema()
	case reflect.TypeFor[config.StringList](), reflect.TypeFor[config.Methods](), reflect.TypeFor[config.Hostnames]():
		return stringOrList()
	case reflect.TypeFor[config.Node]():
		return map[string]any{"description": "any value (decoded by the code that uses it)"}
	case reflect.TypeFor[config.Ref]():
		return map[string]any{"type": "string", "minLength": 1}
	case reflect.TypeFor[config.MethodOverride]():
		return map[string]any{"enum": []any{"strip", "forward"}}
	case reflect.TypeFor[config.Scopes]():
		return map[string]any{"oneOf": []any{
			map[string]any{"type": "string"},
			map[string]any{"type": "array", "items": map[string]any{"oneOf": []any{
				map[string]any{"type": "string"},
				map[string]any{"type": "object", "properties": map[string]any{"scope": map[string]any{"type": "string"}, "verbs": stringOrList()},
					"required": []any{"scope"}, "additionalProperties": false},
			}}},
		}}
	case reflect.TypeFor[config.EndpointList]():
		one := typeSchema(reflect.TypeFor[config.Endpoint](), depth+1)
		return map[string]any{"oneOf": []any{one, map[string]any{"type": "array", "items": one}, map[string]any{"type": "null"}}}
	case reflect.TypeFor[[]config.PolicyUse]():
		step := map[string]any{"type": "object", "properties": map[string]any{
			"condition": anyCondition(),
			"action":    map[string]any{"description": "the policy's options: see its policy schema"},
		}, "additionalProperties": false}
		return map[string]any{"type": "array", "items": map[string]any{
			"type": "object", "minProperties": 1, "maxProperties": 1,
			"description":          "one policy name mapped to its steps",
			"additionalProperties": map[string]any{"oneOf": []any{map[string]any{"type": "null"}, step, map[string]any{"type": "array", "items": step}}},
		}}
	}
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct && strings.HasPrefix(t.Elem().Name(), "Entry[") && t.Elem().PkgPath() == reflect.TypeFor[config.Pos]().PkgPath() {
		// config.Named[T]: a mapping of names, in file order.
		v, _ := t.Elem().FieldByName("Value")
		return map[string]any{"type": "object", "additionalProperties": typeSchema(v.Type, depth+1)}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeSchema(t.Elem(), depth+1)
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": typeSchema(t.Elem(), depth+1)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": typeSchema(t.Elem(), depth+1)}
	case reflect.Struct:
		props := map[string]any{}
		var required []string
		structProps(t, props, &required, depth)
		s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			sort.Strings(required)
			s["required"] = required
		}
		return s
	}
	return map[string]any{}
}

// structProps lists a struct's YAML keys as the decoder does (inline
// embedded structs flattened, Pos and untagged fields skipped).
func structProps(t reflect.Type, props map[string]any, required *[]string, depth int) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" && opts == "inline" && f.Type.Kind() == reflect.Struct {
			structProps(f.Type, props, required, depth)
			continue
		}
		props[name] = typeSchema(f.Type, depth+1)
		if strings.Contains(opts, "required") {
			*required = append(*required, name)
		}
	}
}
