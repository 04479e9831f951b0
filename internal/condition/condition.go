// Package condition compiles Express Gateway's step conditions
// ({name: pathExact, path: /x}, allOf, oneOf, not, ...) into
// pipeline.Condition values, once per config load.
package condition

import (
	"net/http"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/pipeline"
)

type compiler func(n config.Node) (pipeline.Condition, error)

// compilers is the fixed table of predefined conditions (spec section 8.1).
func compilers() map[string]compiler {
	return map[string]compiler{
		"always":                 noParams(func(*http.Request) bool { return true }),
		"never":                  noParams(func(*http.Request) bool { return false }),
		"authenticated":          noParams(authenticated),
		"anonymous":              noParams(func(r *http.Request) bool { return !authenticated(r) }),
		"tlsClientAuthenticated": noParams(func(r *http.Request) bool { return r.TLS != nil && len(r.TLS.VerifiedChains) > 0 }),
		"allOf":                  compileList(true),
		"oneOf":                  compileList(false),
		"not":                    compileNot,
		"pathExact":              compilePathExact,
		"pathMatch":              compilePathMatch,
		"method":                 compileMethod,
		"hostMatch":              compileHostMatch,
		"expression":             refuseExpression,
		"json-schema":            refuseJSONSchema,
	}
}

// Func adapts a function to pipeline.Condition.
type Func func(r *http.Request) bool

// Match calls f.
func (f Func) Match(r *http.Request) bool { return f(r) }

func authenticated(r *http.Request) bool { return pipeline.StateOf(r).Identity != nil }

// Compile turns a condition node into a Condition.
func Compile(n config.Node) (pipeline.Condition, error) {
	if n.IsZero() {
		return nil, n.Errorf("", "a condition needs a name")
	}
	// decode the mapping rather than look up its "name" key, so that YAML
	// merge keys (<<: *base) are followed as they are for the parameters.
	var keys map[string]config.Node
	if err := n.Decode(&keys); err != nil {
		return nil, err
	}
	var name string
	if err := keys["name"].Decode(&name); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, n.Errorf("name", "a condition needs a name (one of: %s)", strings.Join(Names(), ", "))
	}
	c, ok := compilers()[name]
	if !ok {
		return nil, n.Errorf("name", "unknown condition %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return c(n)
}

// Names lists the predefined conditions.
func Names() []string {
	var out []string
	for k := range compilers() {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func noParams(f Func) compiler {
	return func(n config.Node) (pipeline.Condition, error) {
		var p struct {
			Name string `yaml:"name"`
		}
		if err := n.Decode(&p); err != nil {
			return nil, err
		}
		return f, nil
	}
}

func compileList(all bool) compiler {
	return func(n config.Node) (pipeline.Condition, error) {
		var p struct {
			Name       string        `yaml:"name"`
			Conditions []config.Node `yaml:"conditions,required"`
		}
		if err := n.Decode(&p); err != nil {
			return nil, err
		}
		if len(p.Conditions) == 0 {
			return nil, n.Errorf("conditions", "needs at least one condition")
		}
		var subs []pipeline.Condition
		var errs config.Errors
		for _, c := range p.Conditions {
			sub, err := Compile(c)
			if err != nil {
				errs = append(errs, config.AsErrors(err)...)
				continue
			}
			subs = append(subs, sub)
		}
		if len(errs) > 0 {
			return nil, errs
		}
		if all {
			return Func(func(r *http.Request) bool {
				for _, c := range subs {
					if !c.Match(r) {
						return false
					}
				}
				return true
			}), nil
		}
		return Func(func(r *http.Request) bool {
			for _, c := range subs {
				if c.Match(r) {
					return true
				}
			}
			return false
		}), nil
	}
}

func compileNot(n config.Node) (pipeline.Condition, error) {
	var p struct {
		Name      string      `yaml:"name"`
		Condition config.Node `yaml:"condition,required"`
	}
	if err := n.Decode(&p); err != nil {
		return nil, err
	}
	sub, err := Compile(p.Condition)
	if err != nil {
		return nil, err
	}
	return Func(func(r *http.Request) bool { return !sub.Match(r) }), nil
}

func compilePathExact(n config.Node) (pipeline.Condition, error) {
	var p struct {
		Name string `yaml:"name"`
		Path string `yaml:"path,required"`
	}
	if err := n.Decode(&p); err != nil {
		return nil, err
	}
	want := p.Path
	return Func(func(r *http.Request) bool { return r.URL.Path == want }), nil
}

// pathMatch is a regular expression on the URL with its query string, as
// Express Gateway matches req.url. Go's RE2 syntax is a subset of
// JavaScript's without backreferences and lookarounds.
func compilePathMatch(n config.Node) (pipeline.Condition, error) {
	var p struct {
		Name    string `yaml:"name"`
		Pattern string `yaml:"pattern,required"`
	}
	if err := n.Decode(&p); err != nil {
		return nil, err
	}
	re, err := regexp.Compile(p.Pattern)
	if err != nil {
		return nil, n.Errorf("pattern", "invalid regular expression: %v", err)
	}
	return Func(func(r *http.Request) bool { return re.MatchString(r.URL.RequestURI()) }), nil
}

func compileMethod(n config.Node) (pipeline.Condition, error) {
	var p struct {
		Name    string         `yaml:"name"`
		Methods config.Methods `yaml:"methods,required"`
	}
	if err := n.Decode(&p); err != nil {
		return nil, err
	}
	methods := p.Methods
	return Func(func(r *http.Request) bool {
		for _, m := range methods {
			if m == r.Method {
				return true
			}
		}
		return false
	}), nil
}

// hostMatch is a glob (minimatch in Express Gateway) on the Host header; it
// is tried on the header as sent and on the host without its port.
func compileHostMatch(n config.Node) (pipeline.Condition, error) {
	var p struct {
		Name    string `yaml:"name"`
		Pattern string `yaml:"pattern,required"`
	}
	if err := n.Decode(&p); err != nil {
		return nil, err
	}
	pattern := strings.ToLower(p.Pattern)
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, n.Errorf("pattern", "invalid pattern: %v", err)
	}
	return Func(func(r *http.Request) bool {
		host := strings.ToLower(r.Host)
		if ok, _ := path.Match(pattern, host); ok {
			return true
		}
		if i := strings.LastIndexByte(host, ':'); i > 0 && !strings.HasSuffix(host, "]") {
			ok, _ := path.Match(pattern, host[:i])
			return ok
		}
		return false
	}), nil
}

func refuseExpression(n config.Node) (pipeline.Condition, error) {
	return nil, n.Errorf("name", "the expression condition runs JavaScript, which Gatehouse cannot run: use pathExact, pathMatch, method, hostMatch, authenticated or anonymous, combined with allOf, oneOf and not")
}

func refuseJSONSchema(n config.Node) (pipeline.Condition, error) {
	return nil, n.Errorf("name", "the json-schema condition is not supported yet: validate request bodies in the upstream service")
}
