// Package headers is Express Gateway's (deprecated but still used) headers
// policy: it sets request headers, named headersPrefix + key, from
// expressions over the request context before the request is proxied.
package headers

import (
	"net/http"
	"sort"
	"strings"

	"github.com/gatehouse/gatehouse/internal/expr"
	"github.com/gatehouse/gatehouse/internal/headervalue"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

// Options are Express Gateway's headers options.
type Options struct {
	HeadersPrefix  string            `yaml:"headersPrefix"`
	ForwardHeaders map[string]string `yaml:"forwardHeaders"`
}

type header struct {
	name  string
	value expr.Expr
}

// New builds a headers step.
func New(action policyenv.Decoder, _ *policyenv.Env) (pipeline.Policy, error) {
	var o Options
	if err := action.Decode(&o); err != nil {
		return nil, err
	}
	if len(o.ForwardHeaders) == 0 {
		return nil, action.Errorf("forwardHeaders", "is required: a map of header name to expression, e.g. {consumer-id: consumer.id}")
	}
	names := make([]string, 0, len(o.ForwardHeaders))
	for k := range o.ForwardHeaders {
		names = append(names, k)
	}
	sort.Strings(names)
	var hs []header
	for _, k := range names {
		name := o.HeadersPrefix + k
		if !validHeaderName(name) {
			return nil, action.Errorf("forwardHeaders", "%q is not a valid header name", name)
		}
		e, err := expr.Compile(o.ForwardHeaders[k])
		if err != nil {
			return nil, action.Errorf("forwardHeaders", "%s: %v", k, err)
		}
		hs = append(hs, header{name: http.CanonicalHeaderKey(name), value: e})
	}
	return policy(hs), nil
}

// policy is one configured headers step.
type policy []header

func (hs policy) Handle(w http.ResponseWriter, r *http.Request, next pipeline.Handler) error {
	st := pipeline.StateOf(r)
	for _, h := range hs {
		if v := h.value(r, st); v != "" {
			r.Header[h.name] = []string{headervalue.Sanitize(v)}
		} else {
			delete(r.Header, h.name)
		}
	}
	return next.Handle(w, r)
}

// UpstreamHeaders names the headers the step sets, so that the gateway
// strips a client's own copy of them in every spelling before any policy
// runs (pipeline.UpstreamHeaders): a value the step leaves empty must not
// be the client's.
func (hs policy) UpstreamHeaders() []string {
	out := make([]string, 0, len(hs))
	for _, h := range hs {
		out = append(out, h.name)
	}
	return out
}

// validHeaderName reports whether s is a field name (RFC 9110 §5.1: a
// token), as net/http checks before it sends a request upstream.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
