package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// File names, as Express Gateway looks them up in its config directory.
const (
	GatewayBase = "gateway.config"
	SystemBase  = "system.config"
)

// MaxFileSize bounds what is read from a config file.
const MaxFileSize = 4 << 20

// FindFile returns the path of base.yml, base.yaml or base.json in dir.
func FindFile(dir, base string) (string, error) {
	for _, ext := range []string{".yml", ".yaml", ".json"} {
		p := filepath.Join(dir, base+ext)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: no %s.yml (or .yaml, .json) in this directory: %w", dir, base, fs.ErrNotExist)
}

// ReadFile reads a config file, refusing one past MaxFileSize.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxFileSize)
	}
	return data, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parse reads YAML (or JSON, which is YAML) into a node tree with variables
// substituted. name is the file name used in messages.
func parse(name string, data []byte, lookup Lookup) (*yaml.Node, Errors) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, Errors{{File: name, Line: line, Msg: m[2]}}
		}
		return nil, Errors{{File: name, Msg: msg}}
	}
	root := resolve(&doc)
	if root == nil || isNull(root) {
		return nil, nil
	}
	var errs Errors
	expandTree(root, name, "", lookup, &errs)
	return root, errs
}

// ParseGateway decodes and checks gateway.config.yml. name is used in
// messages (normally the file's base name).
func ParseGateway(name string, data []byte, lookup Lookup) (*Gateway, error) {
	root, errs := parse(name, data, lookup)
	expanded := slices.Clone(errs) // unset variables, if any
	g := &Gateway{File: name}
	if root == nil && len(errs) > 0 {
		return nil, errs.Err() // unreadable YAML: nothing else to say
	}
	if root != nil {
		d := &decoder{file: name, errs: errs}
		d.decode(root, "", reflectValue(g))
		errs = d.errs
	}
	errs = append(errs, consequences(g.check(), expanded)...)
	return g, errs.Err()
}

// ParseSystem decodes system.config.yml.
func ParseSystem(name string, data []byte, lookup Lookup) (*System, error) {
	root, errs := parse(name, data, lookup)
	expanded := slices.Clone(errs)
	s := &System{File: name}
	if root != nil {
		d := &decoder{file: name, errs: errs}
		d.decode(root, "", reflectValue(s))
		errs = d.errs
	}
	errs = append(errs, consequences(s.check(), expanded)...)
	return s, errs.Err()
}

// consequences drops the checks that failed only because a variable was
// unset: the value already reported as unset decodes as absent, so a check
// of it, or of the entry holding it ("url "" must start with http://"),
// would report the same problem a second time, falsely. A check of another
// part of the file is kept.
func consequences(checks, unset Errors) Errors {
	if len(unset) == 0 {
		return checks
	}
	out := checks[:0]
	for _, c := range checks {
		if !slices.ContainsFunc(unset, func(u *Error) bool { return within(u.Path, c.Path) }) {
			out = append(out, c)
		}
	}
	return out
}

// within reports whether path is at or below parent (a.b is within a, and
// so are a[0] and a.b.c; ab is not).
func within(path, parent string) bool {
	if parent == "" || !strings.HasPrefix(path, parent) {
		return false
	}
	rest := path[len(parent):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}

// LoadGateway reads gateway.config.yml from dir.
func LoadGateway(dir string, lookup Lookup) (*Gateway, error) {
	p, err := FindFile(dir, GatewayBase)
	if err != nil {
		return nil, err
	}
	data, err := ReadFile(p)
	if err != nil {
		return nil, err
	}
	return ParseGateway(filepath.Base(p), data, lookup)
}

// LoadSystem reads system.config.yml from dir; a missing file means all
// defaults (the embedded store).
func LoadSystem(dir string, lookup Lookup) (*System, error) {
	p, err := FindFile(dir, SystemBase)
	if errors.Is(err, fs.ErrNotExist) {
		return &System{}, nil
	}
	if err != nil {
		return nil, err
	}
	data, err := ReadFile(p)
	if err != nil {
		return nil, err
	}
	return ParseSystem(filepath.Base(p), data, lookup)
}

func (g *Gateway) errAt(line int, path, format string, args ...any) *Error {
	return &Error{File: g.File, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// checkClientLimits refuses client limits below -1 (-1 turns a limit off, 0 is
// the default).
func (g *Gateway) checkClientLimits(l *Listener, path string) Errors {
	var errs Errors
	for _, f := range []struct {
		key string
		v   int64
	}{
		{"maxBodyBytes", l.MaxBodyBytes},
		{"minBodyRate", l.MinBodyRate},
		{"maxConnections", int64(l.MaxConnections)},
		{"maxIdleConnections", int64(l.MaxIdleConnections)},
		{"maxConnectionsPerClient", int64(l.MaxConnectionsPerClient)},
	} {
		if f.v < -1 {
			errs = append(errs, g.errAt(l.Pos.Line, path+"."+f.key, "must be -1 (no limit), 0 (the default) or a positive number, got %d", f.v))
		}
	}
	return errs
}

// check verifies what can be checked without knowing the policies: ports,
// upstream URLs, and that names refer to things declared in the file.
func (g *Gateway) check() Errors {
	var errs Errors
	errs = append(errs, g.checkListeners()...)
	errs = append(errs, g.checkAPIEndpoints()...)
	errs = append(errs, g.checkServiceEndpoints()...)
	errs = append(errs, g.checkPipelines()...)
	return errs
}

// checkListeners checks the ports and client limits of the listeners, and
// that the gateway listens somewhere.
func (g *Gateway) checkListeners() Errors {
	var errs Errors
	checkPort := func(l *Listener, path string) {
		if l != nil && l.Port != nil && (*l.Port < 0 || *l.Port > 65535) {
			errs = append(errs, g.errAt(l.Pos.Line, path+".port", "must be between 0 and 65535, got %d", *l.Port))
		}
		if l != nil {
			errs = append(errs, g.checkClientLimits(l, path)...)
		}
	}
	checkPort(g.HTTP, "http")
	if g.HTTPS != nil {
		checkPort(&g.HTTPS.Listener, "https")
		if len(g.HTTPS.TLS) == 0 {
			errs = append(errs, g.errAt(g.HTTPS.Pos.Line, "https.tls", "needs at least one certificate (key and cert)"))
		}
	}
	if g.Admin != nil {
		checkPort(&g.Admin.Listener, "admin")
	}
	if g.HTTP == nil && g.HTTPS == nil {
		errs = append(errs, g.errAt(0, "http", "neither http nor https is configured: the gateway would not listen anywhere"))
	}
	return errs
}

// checkAPIEndpoints checks that each apiEndpoint names its hosts and paths
// one way.
func (g *Gateway) checkAPIEndpoints() Errors {
	var errs Errors
	for _, e := range g.APIEndpoints {
		for i, ep := range e.Value {
			path := "apiEndpoints." + e.Name
			if len(e.Value) > 1 {
				path = fmt.Sprintf("%s[%d]", path, i)
			}
			if ep.Host != "" && ep.HostRegex != "" {
				errs = append(errs, g.errAt(ep.Pos.Line, path, "host and hostRegex cannot both be set"))
			}
			if len(ep.AllPaths()) > 0 && ep.PathRegex != "" {
				errs = append(errs, g.errAt(ep.Pos.Line, path, "paths and pathRegex cannot both be set"))
			}
		}
	}
	return errs
}

// checkServiceEndpoints checks the upstream URLs and outbound proxies.
func (g *Gateway) checkServiceEndpoints() Errors {
	var errs Errors
	for _, e := range g.ServiceEndpoints {
		path := "serviceEndpoints." + e.Name
		se := e.Value
		urls := se.URLs
		switch {
		case se.URL != "" && len(se.URLs) > 0:
			errs = append(errs, g.errAt(e.Line, path, "set url or urls, not both"))
		case se.URL != "":
			urls = []string{se.URL}
		case len(se.URLs) == 0:
			errs = append(errs, g.errAt(e.Line, path, "needs url or urls"))
		}
		for _, raw := range urls {
			if err := checkUpstreamURL(raw); err != nil {
				errs = append(errs, g.errAt(e.Line, path, "%v", err))
			}
		}
		if se.Proxy != "" {
			if _, err := ParseForwardProxy(se.Proxy); err != nil {
				errs = append(errs, g.errAt(e.Line, path+".proxy", "%v", err))
			}
		}
	}
	return errs
}

// checkPipelines checks that pipelines name declared apiEndpoints (each
// served by one pipeline) and declared policies.
func (g *Gateway) checkPipelines() Errors {
	var errs Errors
	declared := map[string]bool{}
	for _, p := range g.Policies {
		declared[p.Name] = true
	}
	usedBy := map[string]string{}
	for _, e := range g.Pipelines {
		path := "pipelines." + e.Name
		p := e.Value
		refs := p.Endpoints()
		if len(refs) == 0 {
			errs = append(errs, g.errAt(e.Line, path+".apiEndpoints", "is required: name at least one apiEndpoint"))
		}
		for _, r := range refs {
			if _, ok := g.APIEndpoints.Get(r.Name); !ok {
				errs = append(errs, g.errAt(r.Line, path+".apiEndpoints", "apiEndpoint %q is not declared under apiEndpoints", r.Name))
				continue
			}
			if other, dup := usedBy[r.Name]; dup && other != e.Name {
				errs = append(errs, g.errAt(r.Line, path+".apiEndpoints", "apiEndpoint %q is already served by pipeline %q", r.Name, other))
				continue
			}
			usedBy[r.Name] = e.Name
		}
		// A pipeline without policies is not an error (gateway.Build warns
		// of it): Express Gateway loads it, and its routes answer 404, so
		// that a reload removing a pipeline's last policy is accepted.
		for _, use := range p.Policies {
			if use.Name != "" && !declared[use.Name] {
				errs = append(errs, g.errAt(use.Line, use.Path, "policy %q is not declared in the top-level policies list", use.Name))
			}
		}
	}
	return errs
}

func checkUpstreamURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid url %q: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("url %q must start with http:// or https://", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("url %q has no host", raw)
	}
	return nil
}

func (s *System) check() Errors {
	var errs Errors
	if s.DB != nil && s.DB.Redis != nil {
		r := s.DB.Redis
		if r.Port < 0 || r.Port > 65535 {
			errs = append(errs, &Error{File: s.File, Line: r.Pos.Line, Path: "db.redis.port", Msg: fmt.Sprintf("must be between 0 and 65535, got %d", r.Port)})
		}
	}
	if a := s.AccessTokens; a != nil && a.TokenType != "" && a.TokenType != "opaque" && a.TokenType != "jwt" {
		errs = append(errs, &Error{File: s.File, Path: "accessTokens.tokenType", Msg: fmt.Sprintf("must be opaque or jwt, got %q", a.TokenType)})
	}
	return errs
}
