package gateway

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/urlpath"
)

// This file is the request boundary: what every request goes through before
// the OAuth2 server, the router or any policy sees it. docs/security.md
// describes it for users.

// canonicalPath replaces the request's path with its canonical form
// (internal/urlpath), which routing, conditions, policies and the proxy
// then all read. A path that cannot be made canonical is refused.
func canonicalPath(r *http.Request) (urlpath.Result, error) {
	raw := requestPath(r)
	res, err := urlpath.Canonical(raw, urlpath.AllowEncodedSlash)
	if err != nil {
		return res, pipeline.Reject(http.StatusBadRequest, "invalid_path", err.Error())
	}
	if res.Path != raw || r.URL.EscapedPath() != raw {
		r.URL.RawPath = res.Path
		r.URL.Path = urlpath.Unescape(res.Path)
	}
	return res, nil
}

// requestPath is the path as the client wrote it: from the request target
// (RFC 9112 §3.2), not from url.URL, whose EscapedPath re-encodes a RawPath
// it considers invalid and so can turn "%2F" into "/".
func requestPath(r *http.Request) string {
	u := r.RequestURI
	if u == "" || u == "*" {
		return r.URL.EscapedPath() // not from a server (tests), or OPTIONS *
	}
	if u[0] != '/' {
		// absolute-form (RFC 9112 §3.2.2): skip scheme://authority
		if i := strings.Index(u, "://"); i >= 0 {
			u = u[i+3:]
			if j := strings.IndexAny(u, "/?"); j >= 0 && u[j] == '/' {
				u = u[j:]
			} else {
				return "/"
			}
		}
	}
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i]
	}
	return u
}

// Method override headers (X-HTTP-Method-Override and its relatives) ask
// an upstream framework to act as another method than the request line's.
const (
	headerMethodOverride  = "X-Http-Method-Override"
	headerMethodOverride2 = "X-Http-Method"
	headerMethodOverride3 = "X-Method-Override"
)

// stripForged removes every client-sent header an upstream could read as one
// the gateway sets: any eg-* header and the names the runtime's policies
// declare (pipeline.UpstreamHeaders: the headers policy, claimsToHeaders),
// after folding case and reading '_' and '.' as '-'. The names are the
// whole runtime's, not the matched pipeline's: one upstream often serves
// several routes and trusts a header the gateway sets on any of them. The
// exact Authorization header stays (auth policies read it; a step that sets
// it replaces it). Method override headers are removed unless
// methodOverride is forward, and then only their exact spellings are kept.
// Go's server has joined repeated lines into one map entry, so deleting the
// key removes every line; obs-fold was refused below it (internal/framing,
// RFC 9112 §5.2), so a folded line never becomes a header of its own.
func (rt *Runtime) stripForged(h http.Header) {
	for k := range h {
		var buf [64]byte
		f := fold(buf[:0], k)
		switch {
		case len(f) > 3 && f[0] == 'e' && f[1] == 'g' && f[2] == '-':
		case isOverride(f):
			if rt.methodOverride == config.MethodOverrideForward &&
				(k == headerMethodOverride || k == headerMethodOverride2 || k == headerMethodOverride3) {
				continue
			}
		case rt.upstreamNames != nil && k != "Authorization":
			if _, ok := rt.upstreamNames[string(f)]; !ok {
				continue
			}
		default:
			continue
		}
		delete(h, k)
	}
}

// fold appends k lower-cased with '_' and '.' as '-'.
func fold(dst []byte, k string) []byte {
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '_' || c == '.':
			c = '-'
		}
		dst = append(dst, c)
	}
	return dst
}

func isOverride(f []byte) bool {
	switch string(f) {
	case "x-http-method-override", "x-http-method", "x-method-override":
		return true
	}
	return false
}

// methodOverride applies an override header under methodOverride: forward:
// the pipeline runs as the named method, the proxy sends the original one
// with the header. Two headers naming different methods, or a value that
// is not a method, are refused.
func methodOverride(r *http.Request, st *pipeline.State) error {
	m := ""
	for _, k := range [...]string{headerMethodOverride, headerMethodOverride2, headerMethodOverride3} {
		for _, v := range r.Header[k] {
			v = strings.ToUpper(strings.TrimSpace(v))
			if !isMethod(v) || (m != "" && v != m) {
				return pipeline.Reject(http.StatusBadRequest, "invalid_request",
					"the method override headers must name one HTTP method")
			}
			m = v
		}
	}
	if m != "" && m != r.Method {
		st.OriginalMethod, r.Method = r.Method, m
	}
	return nil
}

func isMethod(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !('A' <= c && c <= 'Z') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// traceRefused reports a TRACE or TRACK request that its route does not
// list by name: they echo the request, credentials included, back to
// whoever can read the response (cross-site tracing), so a route without
// methods does not take them.
func traceRefused(method string, methods []string) bool {
	if method != http.MethodTrace && method != "TRACK" {
		return false
	}
	for _, m := range methods {
		if m == method {
			return false
		}
	}
	return true
}

// upstreamNames collects the folded names of the headers the runtime's
// policies set upstream; nil when they set none.
func upstreamNames(steps []pipeline.Policy) map[string]struct{} {
	var set map[string]struct{}
	for _, p := range steps {
		u, ok := p.(pipeline.UpstreamHeaders)
		if !ok {
			continue
		}
		for _, n := range u.UpstreamHeaders() {
			if set == nil {
				set = map[string]struct{}{}
			}
			set[string(fold(nil, n))] = struct{}{}
		}
	}
	return set
}

// limitBody applies an apiEndpoint's maxBodyBytes, below the listener's
// (internal/app checks that one before routing). A declared length over it
// is refused before anything reads the body, so a client that sent
// Expect: 100-continue gets 413 and never a 100 Continue (RFC 9110
// §10.1.1); a chunked body is cut at the limit, which the proxy answers
// with 413 and an aborted upstream request. r is the gateway's own copy
// of the request (WithState), so net/http's bookkeeping is untouched.
func limitBody(w http.ResponseWriter, r *http.Request, limit int64) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	if r.ContentLength > limit {
		return &pipeline.Rejection{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
			Message: "the request body is larger than " + strconv.FormatInt(limit, 10) + " bytes"}
	}
	if r.ContentLength < 0 {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	return nil
}
