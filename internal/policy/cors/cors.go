// Package cors is the cors policy, with the options of the `cors` npm module
// that Express Gateway wraps (Fetch standard, "CORS protocol").
package cors

import (
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

// Options are the cors npm module's options.
type Options struct {
	// Origin is "*" (default), true (reflect the request's origin), false
	// (no CORS headers), an origin, or a list of origins; an origin may hold
	// '*' as a wildcard within the host (https://*.example.com).
	Origin            any               `yaml:"origin"`
	Methods           config.StringList `yaml:"methods"`
	AllowedHeaders    config.StringList `yaml:"allowedHeaders"`
	Headers           config.StringList `yaml:"headers"` // alias of allowedHeaders
	ExposedHeaders    config.StringList `yaml:"exposedHeaders"`
	Credentials       bool              `yaml:"credentials"`
	MaxAge            *int              `yaml:"maxAge"`
	PreflightContinue bool              `yaml:"preflightContinue"`
	// OptionsSuccessStatus is the preflight answer's status (default 204).
	OptionsSuccessStatus int `yaml:"optionsSuccessStatus"`
}

type policy struct {
	anyOrigin   bool // "*"
	reflect     bool // true
	disabled    bool // false
	origins     []string
	methods     string
	headers     string
	exposed     string
	credentials bool
	maxAge      string
	cont        bool
	status      int
}

// New builds a cors step.
func New(action policyenv.Decoder, _ *policyenv.Env) (pipeline.Policy, error) {
	o := Options{Origin: "*", OptionsSuccessStatus: http.StatusNoContent}
	if err := action.Decode(&o); err != nil {
		return nil, err
	}
	p := &policy{credentials: o.Credentials, cont: o.PreflightContinue, status: o.OptionsSuccessStatus}
	switch v := o.Origin.(type) {
	case bool:
		p.reflect, p.disabled = v, !v
	case string:
		if v == "*" {
			p.anyOrigin = true
		} else {
			p.origins = []string{v}
		}
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, action.Errorf("origin", "list entries must be origins such as https://app.example.com")
			}
			p.origins = append(p.origins, s)
		}
	default:
		return nil, action.Errorf("origin", "must be \"*\", true, false, an origin or a list of origins")
	}
	for _, s := range p.origins {
		if _, err := path.Match(s, ""); err != nil {
			return nil, action.Errorf("origin", "bad origin pattern %q: %v", s, err)
		}
	}
	if p.anyOrigin && p.credentials {
		return nil, action.Errorf("credentials", "credentials: true with origin \"*\" is refused by browsers; list the allowed origins (or origin: true to reflect any)")
	}
	methods := o.Methods
	if len(methods) == 0 {
		methods = config.StringList{"GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"}
	}
	p.methods = strings.ToUpper(strings.Join(methods, ","))
	p.headers = strings.Join(append(o.AllowedHeaders, o.Headers...), ",")
	p.exposed = strings.Join(o.ExposedHeaders, ",")
	if o.MaxAge != nil {
		if *o.MaxAge < 0 {
			return nil, action.Errorf("maxAge", "must not be negative")
		}
		p.maxAge = strconv.Itoa(*o.MaxAge)
	}
	if p.status < 200 || p.status > 299 {
		return nil, action.Errorf("optionsSuccessStatus", "must be a 2xx status, got %d", p.status)
	}
	return p, nil
}

func (p *policy) allowOrigin(origin string) (string, bool) {
	switch {
	case p.disabled:
		return "", false
	case p.anyOrigin:
		return "*", true
	case origin == "":
		return "", false
	case p.reflect:
		return origin, true
	}
	for _, o := range p.origins {
		if o == origin || (strings.Contains(o, "*") && globMatch(o, origin)) {
			return origin, true
		}
	}
	return "", false
}

func globMatch(pattern, origin string) bool {
	ok, _ := path.Match(strings.ToLower(pattern), strings.ToLower(origin))
	return ok
}

func (p *policy) Handle(w http.ResponseWriter, r *http.Request, next pipeline.Handler) error {
	if p.disabled { // origin: false turns CORS off: preflights go on too
		return next.Handle(w, r)
	}
	origin := r.Header.Get("Origin")
	h := w.Header()
	allowed, ok := p.allowOrigin(origin)
	if !p.anyOrigin {
		h.Add("Vary", "Origin")
	}
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if !preflight {
		if !ok {
			return next.Handle(w, r)
		}
		// The gateway's CORS answer replaces whatever the upstream sends:
		// two Access-Control-Allow-Origin values make browsers refuse.
		cw := &corsWriter{ResponseWriter: w, set: [][2]string{{"Access-Control-Allow-Origin", allowed}}}
		if p.credentials {
			cw.set = append(cw.set, [2]string{"Access-Control-Allow-Credentials", "true"})
		}
		if p.exposed != "" {
			cw.set = append(cw.set, [2]string{"Access-Control-Expose-Headers", p.exposed})
		}
		// Set them now too: a refusal from a later step is written by the
		// gateway on w, not through cw, and the browser must be able to
		// read it.
		for _, kv := range cw.set {
			h[kv[0]] = []string{kv[1]}
		}
		return next.Handle(cw, r)
	}
	if ok {
		h.Set("Access-Control-Allow-Origin", allowed)
		if p.credentials {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		h.Set("Access-Control-Allow-Methods", p.methods)
		if p.headers != "" {
			h.Set("Access-Control-Allow-Headers", p.headers)
		} else if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
			h.Add("Vary", "Access-Control-Request-Headers")
		}
		if p.maxAge != "" {
			h.Set("Access-Control-Max-Age", p.maxAge)
		}
	}
	if p.cont {
		return next.Handle(w, r)
	}
	pipeline.StateOf(r).Record.Reason = "cors_preflight"
	h.Set("Content-Length", "0")
	w.WriteHeader(p.status)
	return nil
}

// corsWriter sets the CORS headers when the response starts, over any the
// upstream sent.
type corsWriter struct {
	http.ResponseWriter
	set     [][2]string
	started bool
}

func (c *corsWriter) start() {
	if c.started {
		return
	}
	c.started = true
	h := c.ResponseWriter.Header()
	for _, kv := range c.set {
		h[kv[0]] = []string{kv[1]}
	}
}

func (c *corsWriter) WriteHeader(code int) {
	if code >= 200 {
		c.start()
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *corsWriter) Write(b []byte) (int, error) {
	c.start()
	return c.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (flush,
// WebSocket hijack).
func (c *corsWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// Flush starts the response and flushes it (streaming).
func (c *corsWriter) Flush() {
	c.start()
	_ = http.NewResponseController(c.ResponseWriter).Flush()
}
