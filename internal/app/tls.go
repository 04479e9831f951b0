package app

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
)

// tlsConfig builds the https listener's certificates: one per SNI name
// (exact, or a glob such as *.example.com as Express Gateway's minimatch),
// "default" for clients that send no or an unknown name.
func tlsConfig(h *config.HTTPS, dir string) (*tls.Config, error) {
	type named struct {
		pattern string
		cert    *tls.Certificate
	}
	var certs []named
	var def *tls.Certificate
	clientCAs := x509.NewCertPool()
	hasCA := false
	for _, name := range sortedNames(h.TLS) {
		c := h.TLS[name]
		kp, err := tls.LoadX509KeyPair(abs(dir, c.Cert), abs(dir, c.Key))
		if err != nil {
			return nil, fmt.Errorf("https.tls.%s: %v", name, err)
		}
		for _, ca := range c.CA {
			pem, err := os.ReadFile(abs(dir, ca))
			if err != nil {
				return nil, fmt.Errorf("https.tls.%s.ca: %v", name, err)
			}
			if !clientCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("https.tls.%s.ca: %s holds no PEM certificate", name, ca)
			}
			hasCA = true
		}
		if name == "default" {
			def = &kp
			continue
		}
		certs = append(certs, named{pattern: strings.ToLower(name), cert: &kp})
	}
	conf := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			sni := strings.ToLower(hello.ServerName)
			for _, c := range certs {
				if c.pattern == sni {
					return c.cert, nil
				}
			}
			for _, c := range certs {
				if ok, _ := path.Match(c.pattern, sni); ok && sni != "" {
					return c.cert, nil
				}
			}
			if def != nil {
				return def, nil
			}
			if len(certs) > 0 {
				return certs[0].cert, nil
			}
			return nil, fmt.Errorf("no certificate for %q", sni)
		},
	}
	if o := h.Options; o != nil && o.RequestCert {
		conf.ClientAuth = tls.VerifyClientCertIfGiven
		if o.RejectUnauthorized {
			conf.ClientAuth = tls.RequireAndVerifyClientCert
		}
		if hasCA {
			conf.ClientCAs = clientCAs
		}
	}
	return conf, nil
}

func sortedNames(m map[string]config.TLSCert) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out) // deterministic selection among overlapping globs
	return out
}

func abs(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

func wrapTLS(ln net.Listener, srv *http.Server, conf *tls.Config) net.Listener {
	if conf == nil {
		return ln
	}
	srv.TLSConfig = conf
	return tls.NewListener(ln, conf)
}

// CheckTLS loads the https certificates named in g, as serve would, so that
// `config validate` reports a missing or broken file.
func CheckTLS(g *config.Gateway, dir string) error {
	if g.HTTPS == nil {
		return nil
	}
	if _, err := tlsConfig(g.HTTPS, dir); err != nil {
		return &config.Error{File: g.File, Line: g.HTTPS.Pos.Line, Path: "https.tls", Msg: err.Error()}
	}
	return nil
}
