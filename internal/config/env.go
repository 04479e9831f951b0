package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Lookup finds an environment variable (os.LookupEnv in production, a map in
// tests).
type Lookup func(name string) (string, bool)

// Expand replaces ${NAME} and ${NAME:-default} in s, as Express Gateway does
// (lib/config/config.js envReplace). $${...} stands for a literal ${...}.
//
// Unlike Express Gateway, which substitutes the string "null" for an unset
// variable without a default, an unset variable is an error: a silently
// "null" secret or host is worse than a refusal to start.
func Expand(s string, lookup Lookup) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' { // $${...}: keep ${...} literally
			b.WriteString(s[:i-1])
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String(), nil
			}
			b.WriteString(s[i : i+end+1])
			s = s[i+end+1:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s)
		}
		expr := s[i+2 : i+end]
		s = s[i+end+1:]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validEnvName(name) {
			// Not a variable (e.g. a log template's ${req.method}): keep it,
			// as Express Gateway's envReplace does.
			b.WriteString("${" + expr + "}")
			continue
		}
		if v, ok := lookup(name); ok && (v != "" || !hasDef) {
			b.WriteString(v)
		} else if hasDef {
			b.WriteString(def)
		} else {
			return "", fmt.Errorf("environment variable %s is not set and ${%s} has no default (write ${%s:-value}, or $${%s} for a literal ${%s})", name, name, name, name, name)
		}
	}
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// expandTree substitutes variables in every scalar of the document, keys
// included, keeping line numbers intact (substituting in the raw text, as
// Express Gateway does, could also inject YAML structure from a variable).
func expandTree(n *yaml.Node, file, path string, lookup Lookup, errs *Errors) {
	if n == nil {
		return
	}
	switch n.Kind {
	case yaml.ScalarNode:
		v, err := Expand(n.Value, lookup)
		if err != nil {
			*errs = append(*errs, &Error{File: file, Line: n.Line, Path: path, Msg: err.Error()})
			n.Tag = "!!null" // reported once: the decoder keeps the default
			return
		}
		if v != n.Value {
			n.Value = v
			if n.Tag == "!!null" {
				n.Tag = "!!str"
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			expandTree(k, file, joinPath(path, k.Value), lookup, errs)
			expandTree(n.Content[i+1], file, joinPath(path, k.Value), lookup, errs)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			expandTree(c, file, fmt.Sprintf("%s[%d]", path, i), lookup, errs)
		}
	case yaml.DocumentNode:
		for _, c := range n.Content {
			expandTree(c, file, path, lookup, errs)
		}
	}
}
