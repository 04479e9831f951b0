// Package rewrite is the rewrite policy (Express Gateway's rewrite plugin):
// when the path matches, it is rewritten before proxying, or the client is
// redirected to the new URL.
package rewrite

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/router"
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
	redirect int
}

// New builds a rewrite step.
func New(action pipeline.Decoder, _ *pipeline.Env) (pipeline.Policy, error) {
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
		p.re = re
	} else {
		re, names, err := router.CompileParams(o.Match)
		if err != nil {
			return nil, action.Errorf("match", "%v", err)
		}
		p.re, p.params = re, names
		if p.params == nil {
			p.params = []string{}
		}
	}
	return p, nil
}

func (p *policy) Handle(w http.ResponseWriter, r *http.Request, next pipeline.Handler) error {
	m := p.re.FindStringSubmatchIndex(r.URL.Path)
	if m == nil {
		return next.Handle(w, r)
	}
	var newPath string
	if p.params == nil {
		newPath = string(p.re.ExpandString(nil, p.target, r.URL.Path, m))
	} else {
		newPath = p.target
		for i, name := range p.params {
			if name == "" || 2*(i+1)+1 >= len(m) || m[2*(i+1)] < 0 {
				continue
			}
			newPath = strings.ReplaceAll(newPath, ":"+name, r.URL.Path[m[2*(i+1)]:m[2*(i+1)+1]])
		}
	}
	if p.redirect != 0 {
		loc := newPath
		if r.URL.RawQuery != "" && !strings.Contains(loc, "?") {
			loc += "?" + r.URL.RawQuery
		}
		pipeline.StateOf(r).Reason = "redirect"
		http.Redirect(w, r, loc, p.redirect)
		return nil
	}
	u, err := url.Parse(newPath)
	if err != nil {
		return pipeline.Reject(http.StatusBadRequest, "bad_request", "the rewritten path is not valid")
	}
	r.URL.Path, r.URL.RawPath = u.Path, u.RawPath
	if u.RawQuery != "" {
		if r.URL.RawQuery != "" {
			r.URL.RawQuery = u.RawQuery + "&" + r.URL.RawQuery
		} else {
			r.URL.RawQuery = u.RawQuery
		}
	}
	return next.Handle(w, r)
}
