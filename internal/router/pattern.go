package router

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
)

// pathMatcher matches a request path against one apiEndpoint path pattern
// with Express's rules: case-insensitive and non-strict (one trailing slash is
// optional), anchored at both ends.
type pathMatcher struct {
	pattern string
	kind    pathKind
	lit     string         // kindExact: the path without its trailing slash ("" for "/"); kindPrefix: the prefix
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
		src, _ := expressToRegexp(p)
		re, err := regexp.Compile(src)
		if err != nil {
			return nil, patternError(p, err)
		}
		m.kind, m.re = kindRegexp, re
	}
	return m, nil
}

// trimSlash drops one trailing slash. "/" becomes "", so that the pattern
// "/" matches "/" but not "//", as path-to-regexp's ^\/?$ does.
func trimSlash(p string) string {
	return strings.TrimSuffix(p, "/")
}

func (m *pathMatcher) match(path string) bool {
	switch m.kind {
	case kindAny:
		return true
	case kindExact:
		// the literal, with or without one trailing slash
		n := len(m.lit)
		return strings.EqualFold(path, m.lit) ||
			len(path) == n+1 && path[n] == '/' && strings.EqualFold(path[:n], m.lit)
	case kindPrefix:
		return len(path) >= len(m.lit) && strings.EqualFold(path[:len(m.lit)], m.lit)
	default:
		return m.re.MatchString(path)
	}
}

var paramRE = regexp.MustCompile(`(\\/)?(\\\.)?:(\w+)(\(.*?\))?(\*)?(\?)?`)

// expressToRegexp is path-to-regexp 0.1.7's pathtoRegexp with strict=false,
// end=true and sensitive=false, rewritten for RE2. The capture group of the
// i-th :parameter is named "p<i>" and params[i] is that parameter's name, so
// that CompileParams can map groups to names whatever other groups (a bare
// star, a group inside a custom capture) come between them.
func expressToRegexp(path string) (re string, params []string) {
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
		group := "(?P<p" + strconv.Itoa(len(params)) + ">"
		params = append(params, g[3])
		switch {
		case capture == "":
			capture = group + `[^\/` + format + `]+?)`
		case !strings.HasPrefix(capture, "(?"):
			capture = group + capture[1:]
		default:
			capture = group + capture + ")"
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
	return "(?i)" + b.String() + "$", params
}

// CompileParams compiles an Express path pattern to a regexp and the names
// of its capture groups: names[i] is the :parameter that group i+1 captures,
// or "" for a group that is not a parameter (a star, a group of its own).
func CompileParams(p string) (*regexp.Regexp, []string, error) {
	src, params := expressToRegexp(p)
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, nil, patternError(p, err)
	}
	names := make([]string, re.NumSubexp())
	for i, n := range re.SubexpNames()[1:] {
		if k, ok := strings.CutPrefix(n, "p"); ok {
			if j, err := strconv.Atoi(k); err == nil && j < len(params) {
				names[i] = params[j]
			}
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
