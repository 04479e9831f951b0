// Package expr is the expression language of the log, headers and
// rate-limit policies: the subset of Express Gateway's egContext JavaScript
// that is a property path (req.headers.host, consumer.id, requestID), and
// templates of them ("${req.method} ${req.originalUrl}"). Go cannot run
// JavaScript, so everything else is refused when the config loads, never
// per request (docs/expressions.md).
//
// An expression reads the request and its *pipeline.State. It lives apart
// from internal/pipeline (which does not import it) so that the contract
// every policy imports holds no language of its own.
package expr

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/headervalue"
	"github.com/gatehouse/gatehouse/internal/pipeline"
)

// Expr is a value read from a request, written in the subset of Express
// Gateway's egContext JavaScript that is a plain property path:
//
//	req.method  req.url  req.originalUrl  req.path  req.ip  req.hostname
//	req.protocol  req.headers.<name>  req.headers['x-name']  req.query.<name>
//	requestID  pipeline  apiEndpoint.name  apiEndpoint.scopes
//	consumer.id  consumer.type  consumer.name  consumer.userId
//	consumer.token.id  consumer.token.scopes  consumer.token.authType
//	consumer.token.expiresAt  consumer.<property or claim>
//
// An optional "egContext." prefix is accepted, and "user" is an alias of
// "consumer". A quoted string is a literal. Anything else (calls, operators)
// is refused at load: Go cannot run Express Gateway's JavaScript.
type Expr func(r *http.Request, st *pipeline.State) string

// Compile parses one expression.
func Compile(src string) (Expr, error) {
	s := strings.TrimSpace(src)
	// A literal holds no quote of its own kind: 'a' + 'b' is JavaScript.
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"' || s[0] == '`') && s[len(s)-1] == s[0] &&
		strings.IndexByte(s[1:len(s)-1], s[0]) < 0 {
		lit := s[1 : len(s)-1]
		if s[0] == '`' && strings.Contains(lit, "${") { // a JavaScript template literal
			t, err := CompileTemplate(lit)
			if err != nil {
				return nil, err
			}
			return t.Render, nil
		}
		return func(*http.Request, *pipeline.State) string { return lit }, nil
	}
	parts, err := splitPath(s)
	if err != nil {
		return nil, fmt.Errorf("expression %q: %v", src, err)
	}
	if parts[0] == "egContext" {
		parts = parts[1:]
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("expression %q names nothing", src)
	}
	if parts[0] == "user" {
		parts[0] = "consumer"
	}
	e := compileParts(parts)
	if e == nil {
		return nil, fmt.Errorf("expression %q is not supported: use a property path such as req.headers.host, consumer.id or requestID (JavaScript cannot run in Gatehouse)", src)
	}
	return e, nil
}

// splitPath splits a.b['c-d'].e into its names. Anything else, such as a
// call, an operator or a trailing dot, is an error.
func splitPath(s string) ([]string, error) {
	if s == "" {
		return nil, fmt.Errorf("empty expression")
	}
	var out []string
	for {
		if s[0] == '[' {
			end := strings.IndexByte(s, ']')
			if end < 3 || (s[1] != '\'' && s[1] != '"') || s[end-1] != s[1] ||
				strings.IndexByte(s[2:end-1], s[1]) >= 0 {
				return nil, fmt.Errorf("bad [...] in property path")
			}
			out = append(out, s[2:end-1])
			s = s[end+1:]
			if s != "" && s[0] != '.' && s[0] != '[' {
				return nil, fmt.Errorf("unexpected %q after [...]", s)
			}
		} else {
			i := strings.IndexAny(s, ".[")
			if i < 0 {
				i = len(s)
			}
			if !isIdent(s[:i]) {
				return nil, fmt.Errorf("%q is not a property name", s[:i])
			}
			out = append(out, s[:i])
			s = s[i:]
		}
		if s == "" {
			return out, nil
		}
		if s[0] == '.' {
			s = s[1:]
			if s == "" || s[0] == '[' {
				return nil, fmt.Errorf("%q is not a property name", "")
			}
		}
	}
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c == '$' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (i > 0 && c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

func compileParts(p []string) Expr {
	switch p[0] {
	case "requestID":
		if len(p) == 1 {
			return func(_ *http.Request, st *pipeline.State) string { return st.RequestID }
		}
	case "pipeline":
		if len(p) == 1 {
			return func(_ *http.Request, st *pipeline.State) string { return st.Route.Pipeline }
		}
	case "apiEndpoint":
		if len(p) == 2 {
			switch p[1] {
			case "name", "apiEndpointName":
				return func(_ *http.Request, st *pipeline.State) string { return st.Route.APIEndpoint }
			case "scopes":
				return func(_ *http.Request, st *pipeline.State) string { return strings.Join(st.Route.Scopes, ", ") }
			}
		}
	case "req":
		return compileReq(p[1:])
	case "consumer":
		return compileConsumer(p[1:])
	}
	return nil
}

func compileReq(p []string) Expr {
	if len(p) == 2 {
		name := p[1]
		switch p[0] {
		case "headers":
			if strings.EqualFold(name, "host") {
				// net/http moves the Host header out of r.Header.
				return func(r *http.Request, _ *pipeline.State) string { return r.Host }
			}
			return func(r *http.Request, _ *pipeline.State) string { return strings.Join(r.Header.Values(name), ", ") }
		case "query":
			return func(r *http.Request, _ *pipeline.State) string { return r.URL.Query().Get(name) }
		}
		return nil
	}
	if len(p) != 1 {
		return nil
	}
	switch p[0] {
	case "method":
		return func(r *http.Request, _ *pipeline.State) string { return r.Method }
	case "url", "originalUrl":
		return func(r *http.Request, _ *pipeline.State) string { return r.URL.RequestURI() }
	case "path":
		return func(r *http.Request, _ *pipeline.State) string { return r.URL.Path }
	case "ip":
		// The client address the gateway computed (behind trusted
		// proxies, the one they forwarded), as Express's req.ip with
		// "trust proxy".
		return func(r *http.Request, _ *pipeline.State) string { return ClientIP(r) }
	case "hostname":
		return func(r *http.Request, _ *pipeline.State) string {
			if h, _, err := net.SplitHostPort(r.Host); err == nil {
				return h
			}
			return r.Host
		}
	case "protocol":
		return func(r *http.Request, _ *pipeline.State) string {
			if r.TLS != nil {
				return "https"
			}
			return "http"
		}
	}
	return nil
}

func compileConsumer(p []string) Expr {
	get := func(f func(id *pipeline.Identity) string) Expr {
		return func(_ *http.Request, st *pipeline.State) string {
			if st.Identity == nil {
				return ""
			}
			return f(st.Identity)
		}
	}
	if len(p) == 0 {
		return nil
	}
	if p[0] == "token" && len(p) == 2 {
		switch p[1] {
		case "id":
			return get(func(id *pipeline.Identity) string { return id.TokenID })
		case "scopes":
			return get(func(id *pipeline.Identity) string { return strings.Join(id.Scopes, ", ") })
		case "authType":
			return get(func(id *pipeline.Identity) string { return id.AuthType })
		case "consumerId":
			return get(func(id *pipeline.Identity) string { return id.ConsumerID })
		case "authenticatedUserId":
			return get(func(id *pipeline.Identity) string { return id.AuthenticatedUserID })
		case "expiresAt":
			return get(func(id *pipeline.Identity) string {
				if id.ExpiresAt.IsZero() {
					return ""
				}
				return strconv.FormatInt(id.ExpiresAt.UnixMilli(), 10)
			})
		}
		return nil
	}
	if len(p) != 1 {
		return nil
	}
	name := p[0]
	switch name {
	case "id":
		return get(func(id *pipeline.Identity) string { return id.ConsumerID })
	case "type":
		return get(func(id *pipeline.Identity) string { return id.ConsumerType })
	case "name", "username":
		return get(func(id *pipeline.Identity) string { return id.ConsumerName })
	case "userId":
		return get(func(id *pipeline.Identity) string { return id.UserID })
	case "authorizedScopes", "scopes":
		return get(func(id *pipeline.Identity) string { return strings.Join(id.Scopes, ", ") })
	}
	return get(func(id *pipeline.Identity) string {
		if v, ok := id.Properties[name]; ok {
			return v
		}
		if v, ok := id.Claims[name]; ok {
			return headervalue.FromClaim(v, ", ")
		}
		return ""
	})
}

// ClientIP is req.ip: the client address the gateway computed
// (pipeline.ClientIP) as text, or the connection's remote address as it is
// when that is no IP address (a test's or a pipe's). The rate-limit
// policy keys on it by default, as express-rate-limit keys on req.ip.
func ClientIP(r *http.Request) string {
	if a := pipeline.ClientIP(r); a.IsValid() {
		return a.String()
	}
	return r.RemoteAddr
}

// Template is text with ${expression} parts, as Express Gateway's log
// messages and header values are written.
type Template struct {
	parts []templatePart
}

type templatePart struct {
	lit  string
	expr Expr
}

// CompileTemplate parses text with ${...} expressions.
func CompileTemplate(src string) (*Template, error) {
	t := &Template{}
	s := src
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			if s != "" {
				t.parts = append(t.parts, templatePart{lit: s})
			}
			return t, nil
		}
		if i > 0 {
			t.parts = append(t.parts, templatePart{lit: s[:i]})
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return nil, fmt.Errorf("template %q: unterminated ${", src)
		}
		e, err := Compile(s[i+2 : i+end])
		if err != nil {
			return nil, err
		}
		t.parts = append(t.parts, templatePart{expr: e})
		s = s[i+end+1:]
	}
}

// Render evaluates the template for a request.
func (t *Template) Render(r *http.Request, st *pipeline.State) string {
	if len(t.parts) == 1 && t.parts[0].expr == nil {
		return t.parts[0].lit
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.expr != nil {
			b.WriteString(p.expr(r, st))
		} else {
			b.WriteString(p.lit)
		}
	}
	return b.String()
}
