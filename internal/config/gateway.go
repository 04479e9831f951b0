package config

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Gateway is gateway.config.yml: listeners, routes and pipelines. It
// hot-reloads.
type Gateway struct {
	HTTP             *Listener              `yaml:"http"`
	HTTPS            *HTTPS                 `yaml:"https"`
	Admin            *Admin                 `yaml:"admin"`
	APIEndpoints     Named[EndpointList]    `yaml:"apiEndpoints"`
	ServiceEndpoints Named[ServiceEndpoint] `yaml:"serviceEndpoints"`
	Policies         []Ref                  `yaml:"policies"`
	Pipelines        Named[Pipeline]        `yaml:"pipelines"`
	// MethodOverride is what happens to a client's X-HTTP-Method-Override
	// (and X-HTTP-Method, X-Method-Override): "strip" (the default) removes
	// them; "forward" routes and checks the request as the method they name
	// and forwards them, so the upstream acts on what was authorized.
	MethodOverride MethodOverride `yaml:"methodOverride"`
	File           string         `yaml:"-"` // the file it was read from
}

// Listener is the http block (and the shape shared by the others).
type Listener struct {
	// Port is where to listen; absent means the listener's default (http
	// 8080, https 8443, admin 9876, as Express Gateway); 0 picks a free port.
	Port     *int   `yaml:"port"`
	Host     string `yaml:"host"`
	Hostname string `yaml:"hostname"` // Express Gateway's name for host
	// Server limits; the zero value means the documented default.
	ReadHeaderTimeout Duration `yaml:"readHeaderTimeout"`
	ReadTimeout       Duration `yaml:"readTimeout"`
	WriteTimeout      Duration `yaml:"writeTimeout"`
	IdleTimeout       Duration `yaml:"idleTimeout"`
	MaxHeaderBytes    int      `yaml:"maxHeaderBytes"`
	// Client limits (docs/configuration.md#client-limits); 0 means the
	// default, -1 no limit where a limit can be turned off.
	MaxBodyBytes            int64    `yaml:"maxBodyBytes"`
	BodyReadTimeout         Duration `yaml:"bodyReadTimeout"`
	MinBodyRate             int64    `yaml:"minBodyRate"` // bytes per second
	SendTimeout             Duration `yaml:"sendTimeout"`
	MaxConnections          int      `yaml:"maxConnections"`
	MaxIdleConnections      int      `yaml:"maxIdleConnections"`
	MaxConnectionsPerClient int      `yaml:"maxConnectionsPerClient"`
	Pos                     Pos
}

// Default ports of the listeners.
const (
	DefaultHTTPPort  = 8080
	DefaultHTTPSPort = 8443
	DefaultAdminPort = 9876
)

// PortOr is the configured port, or def when the key is absent.
func (l *Listener) PortOr(def int) int {
	if l.Port == nil {
		return def
	}
	return *l.Port
}

// HostName is host, or its Express Gateway alias hostname.
func (l *Listener) HostName() string {
	if l.Host != "" {
		return l.Host
	}
	return l.Hostname
}

// Addr is host:port for net.Listen with def as the default port; an empty
// host listens on every address, as Express Gateway does for http.
func (l *Listener) Addr(def int) string {
	return joinHostPort(l.HostName(), l.PortOr(def))
}

// HTTPS is the https block: a port and certificates per SNI host name.
type HTTPS struct {
	Listener `yaml:",inline"`
	TLS      map[string]TLSCert `yaml:"tls"`
	Options  *TLSOptions        `yaml:"options"`
}

// TLSCert is one certificate; the key "default" in HTTPS.TLS is used when no
// SNI name matches.
type TLSCert struct {
	Key  string     `yaml:"key,required"`
	Cert string     `yaml:"cert,required"`
	CA   StringList `yaml:"ca"`
}

// TLSOptions are the parts of Node's https options that Gatehouse honours.
type TLSOptions struct {
	RequestCert        bool `yaml:"requestCert"`
	RejectUnauthorized bool `yaml:"rejectUnauthorized"`
}

// Admin is the Admin API listener. It defaults to localhost:9876.
type Admin struct {
	Listener `yaml:",inline"`
	APIKey   string `yaml:"apiKey"`
	// Hostnames are the names, besides host (hostname), the loopback names
	// and the address a connection arrives on, that clients may send in
	// Host: a DNS name of the admin network, the name a TLS proxy in front
	// forwards. A request for any other Host is refused with 421 (DNS
	// rebinding, issue #11 §5).
	Hostnames Hostnames `yaml:"hostnames"`
}

// EndpointList is an apiEndpoint: one object or a list of them (OR-ed).
type EndpointList []Endpoint

// Endpoint is one way requests reach an apiEndpoint.
type Endpoint struct {
	Host      string     `yaml:"host"`
	HostRegex string     `yaml:"hostRegex"`
	Paths     StringList `yaml:"paths"`
	Path      StringList `yaml:"path"` // Express Gateway alias of paths
	PathRegex string     `yaml:"pathRegex"`
	Methods   Methods    `yaml:"methods"`
	Scopes    Scopes     `yaml:"scopes"`
	// AllowEncodedSlashes accepts %2F in the path (kept encoded upstream,
	// never splitting a route); refused with 400 otherwise.
	AllowEncodedSlashes bool `yaml:"allowEncodedSlashes"`
	// AllowPathParameters accepts ';' in the path (RFC 3986 §3.3 path
	// parameters), which servlet containers strip before matching;
	// refused with 400 otherwise.
	AllowPathParameters bool `yaml:"allowPathParameters"`
	// MaxBodyBytes lowers the listener's maxBodyBytes for this endpoint
	// (0: the listener's limit alone).
	MaxBodyBytes int64 `yaml:"maxBodyBytes"`
	Pos          Pos
}

// AllPaths is paths and its alias path together.
func (e *Endpoint) AllPaths() []string {
	return append(append([]string(nil), e.Paths...), e.Path...)
}

// Methods is a list of HTTP methods, written as a list or a comma-separated
// string; stored upper-case.
type Methods []string

// Scopes is an apiEndpoint's scopes: strings, or Express Gateway's legacy
// {scope, verbs} objects (verbs are ignored, as in Express Gateway).
type Scopes []string

// ServiceEndpoint is an upstream: one url, or several for round-robin.
type ServiceEndpoint struct {
	URL          string        `yaml:"url"`
	URLs         []string      `yaml:"urls"`
	ProxyOptions *ProxyOptions `yaml:"proxyOptions"`
	// Proxy is an http:// forward proxy every request to this endpoint
	// goes through (CONNECT for https upstreams), whatever HTTP_PROXY and
	// NO_PROXY say, loopback upstreams included. Userinfo in it is sent
	// as Proxy-Authorization (RFC 9110 §11.7.2).
	Proxy string `yaml:"proxy"`
	Pos   Pos
}

// ProxyOptions are the parts of Express Gateway's per-endpoint http-proxy
// options that Gatehouse honours: upstream TLS verification and client
// certificates (mTLS to the upstream).
type ProxyOptions struct {
	Secure *bool        `yaml:"secure"`
	Target *ProxyTarget `yaml:"target"`
}

// ProxyTarget holds the client certificate files for mTLS to the upstream.
type ProxyTarget struct {
	KeyFile  string `yaml:"keyFile"`
	CertFile string `yaml:"certFile"`
	CAFile   string `yaml:"caFile"`
}

// Pipeline is a list of policy steps in front of some apiEndpoints.
type Pipeline struct {
	APIEndpoints []Ref       `yaml:"apiEndpoints"`
	APIEndpoint  *Ref        `yaml:"apiEndpoint"` // Express Gateway alias
	Policies     []PolicyUse `yaml:"policies"`
	Pos          Pos
}

// Endpoints is apiEndpoints and its alias together.
func (p *Pipeline) Endpoints() []Ref {
	out := append([]Ref(nil), p.APIEndpoints...)
	if p.APIEndpoint != nil {
		out = append(out, *p.APIEndpoint)
	}
	return out
}

// PolicyUse is one item of a pipeline's policies list: a single-key mapping
// from a policy name to its steps.
type PolicyUse struct {
	Name  string
	Line  int
	Path  string
	Steps []Step
}

// Step is one {condition, action} of a policy use.
type Step struct {
	Condition Node `yaml:"condition"`
	Action    Node `yaml:"action"`
	Pos       Pos
	Path      string `yaml:"-"`
}

func (p *PolicyUse) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		d.errorf(n, path, "expected a mapping with one policy name, such as `- proxy: {action: {serviceEndpoint: backend}}`, got %s", kindName(n))
		return
	}
	k, v := n.Content[0], resolve(n.Content[1])
	p.Name, p.Line, p.Path = k.Value, k.Line, joinPath(path, k.Value)
	switch {
	case isNull(v):
		p.Steps = []Step{{Pos: Pos{Line: k.Line}, Path: p.Path}}
	case v.Kind == yaml.MappingNode:
		var s Step
		d.decode(v, p.Path, reflectValue(&s))
		s.Path = p.Path
		p.Steps = []Step{s}
	case v.Kind == yaml.SequenceNode:
		for i, c := range v.Content {
			var s Step
			sp := fmt.Sprintf("%s[%d]", p.Path, i)
			d.decode(c, sp, reflectValue(&s))
			s.Path = sp
			p.Steps = append(p.Steps, s)
		}
	default:
		d.errorf(v, p.Path, "expected {condition, action} or a list of them, got %s", kindName(v))
	}
}

func (l *EndpointList) decodeNode(d *decoder, n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		var e Endpoint
		d.decode(n, path, reflectValue(&e))
		*l = EndpointList{e}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			var e Endpoint
			d.decode(c, fmt.Sprintf("%s[%d]", path, i), reflectValue(&e))
			*l = append(*l, e)
		}
	default:
		if isNull(n) {
			*l = EndpointList{{Pos: Pos{Line: n.Line}}} // an empty endpoint matches everything
			return
		}
		d.errorf(n, path, "expected a mapping or a list of mappings, got %s", kindName(n))
	}
}

// MethodOverride is the methodOverride setting: "strip" or "forward".
type MethodOverride string

// The methodOverride values.
const (
	MethodOverrideStrip   MethodOverride = "strip"
	MethodOverrideForward MethodOverride = "forward"
)

func (m *MethodOverride) decodeNode(d *decoder, n *yaml.Node, path string) {
	var s string
	d.decode(n, path, reflect.ValueOf(&s).Elem())
	switch MethodOverride(s) {
	case MethodOverrideStrip, MethodOverrideForward:
		*m = MethodOverride(s)
	default:
		d.errorf(n, path, "must be strip or forward, got %q", s)
	}
}

func (m *Methods) decodeNode(d *decoder, n *yaml.Node, path string) {
	var l StringList
	l.decodeNode(d, n, path)
	for _, s := range l {
		for _, part := range strings.Split(s, ",") {
			part = strings.ToUpper(strings.TrimSpace(part))
			if part == "" {
				continue
			}
			if !validToken(part) {
				d.errorf(n, path, "%q is not an HTTP method", part)
				continue
			}
			*m = append(*m, part)
		}
	}
}

func (s *Scopes) decodeNode(d *decoder, n *yaml.Node, path string) {
	switch {
	case isNull(n):
	case n.Kind == yaml.ScalarNode:
		*s = Scopes{n.Value}
	case n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			c = resolve(c)
			p := fmt.Sprintf("%s[%d]", path, i)
			switch c.Kind {
			case yaml.ScalarNode:
				*s = append(*s, c.Value)
			case yaml.MappingNode:
				var legacy struct {
					Scope string     `yaml:"scope,required"`
					Verbs StringList `yaml:"verbs"`
				}
				d.decode(c, p, reflectValue(&legacy))
				if legacy.Scope != "" {
					*s = append(*s, legacy.Scope)
				}
			default:
				d.errorf(c, p, "expected a scope name, got %s", kindName(c))
			}
		}
	default:
		d.errorf(n, path, "expected a list of scope names, got %s", kindName(n))
	}
}

// validToken reports whether s is an RFC 9110 token (a method name).
func validToken(s string) bool {
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return s != ""
}
