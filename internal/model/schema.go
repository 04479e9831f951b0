// Package model is Express Gateway's models configuration: the properties
// that users, applications and credentials may carry, read from
// <configDir>/models/{users,applications,credentials}.json (a subset of
// JSON Schema draft-07), and the rules that turn an Admin API body into a
// store record.
//
// Unlike Express Gateway, undeclared properties are always refused: EG
// accepts them on POST /users and even lets `id` and `isActive` override
// the generated values (its bug B-25).
package model

import (
	"fmt"
	"maps"
	"math"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Property types (JSON Schema "type" values the models may use).
const (
	TypeString  = "string"
	TypeBoolean = "boolean"
	TypeNumber  = "number"
	TypeInteger = "integer"
	TypeArray   = "array" // of strings
)

var knownTypes = []string{TypeString, TypeBoolean, TypeNumber, TypeInteger, TypeArray}

// Formats a string property may declare.
const (
	FormatEmail = "email"
	FormatURI   = "uri"
)

var knownFormats = []string{FormatEmail, FormatURI}

// Property is one declared property.
type Property struct {
	Name string
	// Types holds the allowed JSON types (one or more of the Type
	// constants); arrays are arrays of strings.
	Types  []string
	Format string // "", FormatEmail or FormatURI
	// Default is applied on create when the property is absent; nil means
	// no default.
	Default any
	// Mutable is false when the model says "isMutable": false: an update
	// may not change the value.
	Mutable bool
}

// Schema is the set of properties of one kind of record.
type Schema struct {
	file     string // for messages: models/users.json
	credType string // for credential schemas
	props    map[string]*Property
	required []string
}

func newSchema() *Schema { return &Schema{props: map[string]*Property{}} }

// Property returns the declared property name.
func (s *Schema) Property(name string) (*Property, bool) {
	p, ok := s.props[name]
	return p, ok
}

// Names lists the declared properties, sorted.
func (s *Schema) Names() []string { return slices.Sorted(maps.Keys(s.props)) }

// Required lists the required properties, sorted.
func (s *Schema) Required() []string { return slices.Clone(s.required) }

// IsRequired reports whether name is required.
func (s *Schema) IsRequired(name string) bool { return slices.Contains(s.required, name) }

// ApplyDefaults returns a copy of body with the default of every declared
// property that body lacks.
func (s *Schema) ApplyDefaults(body map[string]any) map[string]any {
	out := maps.Clone(body)
	if out == nil {
		out = map[string]any{}
	}
	for name, p := range s.props {
		if _, ok := out[name]; !ok && p.Default != nil {
			out[name] = cloneValue(p.Default)
		}
	}
	return out
}

func cloneValue(v any) any {
	if a, ok := v.([]any); ok {
		return slices.Clone(a)
	}
	return v
}

// invalid is the error every validation returns: a store.Error, so the
// Admin API maps model and store errors the same way.
func invalid(field, format string, args ...any) error {
	return &store.Error{Kind: store.ErrInvalid, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// emailRE is Ajv's "fast" email format, the check Express Gateway applied.
var emailRE = regexp.MustCompile("^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$")

// check validates v against p; field names the value in errors.
func (p *Property) check(field string, v any) error {
	if !p.typeMatches(v) {
		return invalid(field, "%s must be %s", field, typeDescription(p.Types))
	}
	s, ok := v.(string)
	if !ok {
		return nil
	}
	switch p.Format {
	case FormatEmail:
		if !emailRE.MatchString(s) {
			return invalid(field, "%s must be an email address", field)
		}
	case FormatURI:
		u, err := url.Parse(s)
		if err != nil || !u.IsAbs() || strings.ContainsAny(s, " \t\r\n") {
			return invalid(field, "%s must be an absolute URI (with a scheme, such as https://)", field)
		}
	}
	return nil
}

func (p *Property) typeMatches(v any) bool {
	for _, t := range p.Types {
		if valueIs(t, v) {
			return true
		}
	}
	return false
}

func valueIs(t string, v any) bool {
	switch t {
	case TypeString:
		_, ok := v.(string)
		return ok
	case TypeBoolean:
		_, ok := v.(bool)
		return ok
	case TypeNumber:
		_, ok := toFloat(v)
		return ok
	case TypeInteger:
		f, ok := toFloat(v)
		return ok && f == math.Trunc(f) && math.Abs(f) <= 1<<53
	case TypeArray:
		switch a := v.(type) {
		case []string:
			return true
		case []any:
			for _, e := range a {
				if _, ok := e.(string); !ok {
					return false
				}
			}
			return true
		}
	}
	return false
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, !math.IsNaN(n) && !math.IsInf(n, 0)
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case interface{ Float64() (float64, error) }: // json.Number
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func typeDescription(types []string) string {
	parts := make([]string, len(types))
	for i, t := range types {
		switch t {
		case TypeString:
			parts[i] = "a string"
		case TypeBoolean:
			parts[i] = "a boolean (true or false)"
		case TypeNumber:
			parts[i] = "a number"
		case TypeInteger:
			parts[i] = "an integer"
		case TypeArray:
			parts[i] = "an array of strings"
		}
	}
	return strings.Join(parts, " or ")
}

// strings converts a validated array (or single string) value.
func stringList(v any) []string {
	switch a := v.(type) {
	case string:
		return []string{a}
	case []string:
		return slices.Clone(a)
	case []any:
		out := make([]string, 0, len(a))
		for _, e := range a {
			out = append(out, e.(string))
		}
		return out
	}
	return nil
}

func equalValues(a, b any) bool {
	if fa, ok := toFloat(a); ok {
		fb, ok := toFloat(b)
		return ok && fa == fb
	}
	if la, ok := a.([]any); ok {
		if lb, ok := b.([]string); ok {
			return slices.Equal(stringList(la), lb)
		}
	}
	return reflect.DeepEqual(a, b)
}
