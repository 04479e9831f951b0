// Package rewrite is the rewrite policy (Express Gateway's rewrite plugin):
// when the path matches, it is rewritten before proxying, or the client is
// redirected to the new URL.
package rewrite

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policyenv"
	"github.com/gatehouse/gatehouse/internal/router"
	"github.com/gatehouse/gatehouse/internal/urlpath"
)

// Options: match is an Express path ("/old/:id") whose :params may appear in
// rewrite ("/new/:id"), or, when it starts with ^, a regular expression whose
// groups appear as $1, $2... Redirect (301, 302, 303, 307 or 308) answers
// with that redirect instead of rewriting.
type Options struct {
	Match    string `yaml:"match"`
	Rewrite  string `yaml:"rewrite"`
	Redirect int    `yaml:"redirect"`
}

type policy struct {
	re       *regexp.Regexp
	params   []string // nil for a regexp match
	target   string
	parts    []part // the target split at its :params (Express match)
	redirect int
}

// part is a literal piece of the rewrite target, or the capture group of a
// :param (group > 0).
type part struct {
	lit   string
	group int
}

// compileTarget splits target at every :name that is a parameter of the
// match, taking the whole name (so :id never eats into :idx).
func compileTarget(target string, params []string) []part {
	var parts []part
	lit := strings.Builder{}
	for i := 0; i < len(target); i++ {
		if target[i] == ':' {
			j := i + 1
			for j < len(target) && (target[j] == '_' || target[j] >= 'a' && target[j] <= 'z' || target[j] >= 'A' && target[j] <= 'Z' || target[j] >= '0' && target[j] <= '9') {
				j++
			}
			if g := slices.Index(params, target[i+1:j]); j > i+1 && g >= 0 {
				if lit.Len() > 0 {
					parts = append(parts, part{lit: lit.String()})
					lit.Reset()
				}
				parts = append(parts, part{group: g + 1})
				i = j - 1
				continue
			}
		}
		lit.WriteByte(target[i])
	}
	if lit.Len() > 0 {
		parts = append(parts, part{lit: lit.String()})
	}
	return parts
}

// bracedGroups writes $1 as ${1}: in JavaScript $1abc is group 1 then
// "abc", while regexp.Expand would read a group named "1abc".
func bracedGroups(target string) string {
	var b strings.Builder
	for i := 0; i < len(target); i++ {
		c := target[i]
		b.WriteByte(c)
		if c != '$' || i+1 >= len(target) {
			continue
		}
		if target[i+1] == '$' { // $$ is a literal $
			b.WriteByte('$')
			i++
			continue
		}
		j := i + 1
		for j < len(target) && target[j] >= '0' && target[j] <= '9' {
			j++
		}
		if j > i+1 {
			b.WriteString("{" + target[i+1:j] + "}")
			i = j - 1
		}
	}
	return b.String()
}

// New builds a rewrite step.
func New(action policyenv.Decoder, _ *policyenv.Env) (pipeline.Policy, error) {
	var o Options
	if err := action.Decode(&o); err != nil {
		return nil, err
	}
	if o.Match == "" {
		return nil, action.Errorf("match", "is required: an Express path such as /old/:id, or a regular expression starting with ^")
	}
	if o.Rewrite == "" {
		return nil, action.Errorf("rewrite", "is required: the new path, such as /new/:id or /new/$1")
	}
	if !strings.HasPrefix(o.Rewrite, "/") && !strings.Contains(o.Rewrite, "://") {
		return nil, action.Errorf("rewrite", "must be a path starting with / (or an absolute URL for a redirect)")
	}
	if strings.Contains(o.Rewrite, "://") && o.Redirect == 0 {
		return nil, action.Errorf("rewrite", "an absolute URL needs redirect (the proxy only rewrites paths)")
	}
	switch o.Redirect {
	case 0, 301, 302, 303, 307, 308:
	default:
		return nil, action.Errorf("redirect", "must be 301, 302, 303, 307 or 308, got %d", o.Redirect)
	}
	p := &policy{target: o.Rewrite, redirect: o.Redirect}
	if strings.HasPrefix(o.Match, "^") {
		re, err := regexp.Compile(o.Match)
		if err != nil {
			return nil, action.Errorf("match", "invalid regular expression: %v", err)
		}
		p.re, p.target = re, bracedGroups(o.Rewrite)
	} else {
		re, names, err := router.CompileParams(o.Match)
		if err != nil {
			return nil, action.Errorf("match", "%v", err)
		}
		p.re, p.params = re, names
		if p.params == nil {
			p.params = []string{}
		}
		p.parts = compileTarget(o.Rewrite, p.params)
	}
	return p, nil
}

func (p *policy) Handle(w http.ResponseWriter, r *http.Request, next pipeline.Handler) error {
	// Match the path as sent, as Express matches req.url: values stay
	// escaped, so that a decoded %3F or %25 cannot change the new URL.
	path := r.URL.EscapedPath()
	m := p.re.FindStringSubmatchIndex(path)
	if m == nil {
		return next.Handle(w, r)
	}
	var newPath string
	if p.params == nil {
		newPath = string(p.re.ExpandString(nil, p.target, path, m))
	} else {
		var b strings.Builder
		for _, pt := range p.parts {
			if pt.group == 0 {
				b.WriteString(pt.lit)
			} else if 2*pt.group+1 < len(m) && m[2*pt.group] >= 0 {
				b.WriteString(path[m[2*pt.group]:m[2*pt.group+1]])
			}
		}
		newPath = b.String()
	}
	// A result starting with "//" would name another host (a redirect to
	// it, or a different path upstream): keep it a path on this host.
	if strings.HasPrefix(newPath, "//") {
		newPath = "/" + strings.TrimLeft(newPath, "/")
	}
	if p.redirect != 0 {
		loc := newPath
		if r.URL.RawQuery != "" && !strings.Contains(loc, "?") {
			loc += "?" + r.URL.RawQuery
		}
		pipeline.StateOf(r).Record.Reason = "redirect"
		http.Redirect(w, r, loc, p.redirect)
		return nil
	}
	u, err := url.Parse(newPath)
	if err != nil {
		return pipeline.Reject(http.StatusBadRequest, "bad_request", "the rewritten path is not valid")
	}
	// The upstream gets a canonical path, as for requests not rewritten:
	// a template or a captured value cannot bring back a dot segment.
	rawPath, _, _ := strings.Cut(newPath, "?")
	cp, err := urlpath.Canonical(rawPath, urlpath.AllowEncodedSlash)
	if err != nil {
		return pipeline.Reject(http.StatusBadRequest, "invalid_path", "the rewritten path is not valid: "+err.Error())
	}
	r.URL.Path, r.URL.RawPath = urlpath.Unescape(cp.Path), cp.Path
	if u.RawQuery != "" {
		if r.URL.RawQuery != "" {
			r.URL.RawQuery = u.RawQuery + "&" + r.URL.RawQuery
		} else {
			r.URL.RawQuery = u.RawQuery
		}
	}
	return next.Handle(w, r)
}
