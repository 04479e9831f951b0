package router

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// pathMatcher matches a request path against one apiEndpoint path pattern
// with Express's rules: case-insensitive and non-strict (one trailing slash is
// optional), anchored at both ends.
type pathMatcher struct {
	pattern string
	kind    pathKind
	lit     string         // kindExact: the path without its trailing slash; kindPrefix: the prefix
	re      *regexp.Regexp // kindRegexp
	// specificity, for ordering: exact paths first, then longer literal
	// prefixes first.
	exact     bool
	litPrefix int
}

type pathKind uint8

const (
	kindAny    pathKind = iota // "*", "/*"
	kindExact                  // "/users"
	kindPrefix                 // "/api/*"
	kindRegexp                 // anything with :params, groups or a star in the middle
)

// special lists what path-to-regexp 0.1.7 (Express 4) does not treat as a
// literal: parameters, groups, stars and regexp operators.
const special = ":*()?+[]^$|{}\\"

// compilePath turns an Express path (path-to-regexp 0.1.7 syntax: "/users",
// "/users/:id", "/files/*", "/:id(\\d+)") into a matcher.
func compilePath(p string) (*pathMatcher, error) {
	if p == "" {
		return nil, fmt.Errorf("empty path")
	}
	m := &pathMatcher{pattern: p}
	if p == "*" || p == "/*" {
		m.kind = kindAny
		return m, nil
	}
	if p[0] != '/' {
		return nil, fmt.Errorf("path %q must start with /", p)
	}
	i := strings.IndexAny(p, special)
	m.litPrefix = len(p)
	if i >= 0 {
		m.litPrefix = i
	}
	switch {
	case i < 0:
		m.kind, m.exact = kindExact, true
		m.lit = trimSlash(p)
	case i == len(p)-1 && p[i] == '*':
		m.kind = kindPrefix
		m.lit = p[:i]
	default:
		re, err := regexp.Compile(expressToRegexp(p))
		if err != nil {
			return nil, patternError(p, err)
		}
		m.kind, m.re = kindRegexp, re
	}
	return m, nil
}

func trimSlash(p string) string {
	if len(p) > 1 && p[len(p)-1] == '/' {
		return p[:len(p)-1]
	}
	return p
}

func (m *pathMatcher) match(path string) bool {
	switch m.kind {
	case kindAny:
		return true
	case kindExact:
		return strings.EqualFold(trimSlash(path), m.lit)
	case kindPrefix:
		return len(path) >= len(m.lit) && strings.EqualFold(path[:len(m.lit)], m.lit)
	default:
		return m.re.MatchString(path)
	}
}

var paramRE = regexp.MustCompile(`(\\/)?(\\\.)?:(\w+)(\(.*?\))?(\*)?(\?)?`)

// expressToRegexp is path-to-regexp 0.1.7's pathtoRegexp with strict=false,
// end=true and sensitive=false, rewritten for RE2.
func expressToRegexp(path string) string {
	suffix := "/?"
	if strings.HasSuffix(path, "/") {
		suffix = "?"
	}
	s := "^" + path + suffix
	s = strings.ReplaceAll(s, "/(", "/(?:")
	s = regexp.MustCompile(`([/.])`).ReplaceAllString(s, `\$1`)
	s = paramRE.ReplaceAllStringFunc(s, func(match string) string {
		g := paramRE.FindStringSubmatch(match)
		slash, format, capture, star, optional := g[1], g[2], g[4], g[5], g[6]
		if capture == "" {
			capture = `([^\/` + format + `]+?)`
		}
		out := ""
		if optional == "" {
			out += slash
		}
		out += "(?:" + format
		if optional != "" {
			out += slash
		}
		out += capture
		if star != "" {
			out += `((?:[\/` + format + `].+?)?)`
		}
		return out + ")" + optional
	})
	// A star not consumed by a parameter matches anything.
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '*' && (i == 0 || (s[i-1] != '(' && s[i-1] != ')' && s[i-1] != '\\' && s[i-1] != ']' && s[i-1] != '?' && s[i-1] != '+')) {
			b.WriteString("(.*)")
			continue
		}
		b.WriteByte(s[i])
	}
	return "(?i)" + b.String() + "$"
}

// CompileParams compiles an Express path pattern to a regexp and the names
// of its :parameters, in the order of their capture groups.
func CompileParams(p string) (*regexp.Regexp, []string, error) {
	re, err := regexp.Compile(expressToRegexp(p))
	if err != nil {
		return nil, nil, patternError(p, err)
	}
	var names []string
	for _, m := range regexp.MustCompile(`:(\w+)(\(.*?\))?(\*)?`).FindAllStringSubmatch(p, -1) {
		names = append(names, m[1])
		if m[3] != "" {
			names = append(names, "") // the star's own group
		}
	}
	return re, names, nil
}

// patternError names what is wrong without showing the generated regexp,
// which the user never wrote.
func patternError(p string, err error) error {
	var se *syntax.Error
	if errors.As(err, &se) {
		return fmt.Errorf("path %q is not a valid pattern: %s", p, se.Code)
	}
	return fmt.Errorf("path %q is not a valid pattern: %v", p, err)
}
