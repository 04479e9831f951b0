package oauth2server

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/hostname"
)

// Names the server trusts (issue #10 §5). The issuer and the endpoint URLs
// of the metadata (RFC 8414 §3, cacheable for 300 s), the iss of JWT access
// tokens (RFC 9068 §2.2) and of introspection answers are never built from
// a name a client chose:
//
//   - accessTokens.issuer set: they are built on it, whatever the Host.
//   - not set: they are built on the request's origin, but only when its
//     host is trusted, which every request that reaches them is.
//
// The trusted hosts are the issuer's host, oauth2.hostnames and the
// loopback names (localhost, 127.0.0.0/8, ::1), with any port. Loopback
// names are always trusted: a browser sends them only to the user's own
// machine (no attacker's page or DNS name can make it, unlike a rebound
// name), with an issuer nothing is derived from them, and without one
// they are what development and the tests use. A request to the server's
// endpoints for any other host is answered 421 Misdirected Request (RFC
// 9110 §15.5.20) before any handler runs.

// trustedNames builds the set of trusted hosts: the issuer's host and the
// configured names, canonical (hostname.Canonical).
func trustedNames(issuer string, names []string) (map[string]bool, error) {
	out := map[string]bool{}
	if issuer != "" {
		if err := config.CheckIssuer(issuer); err != nil {
			return nil, fmt.Errorf("accessTokens.issuer %w", err)
		}
		u, _ := url.Parse(issuer)
		h, _ := hostname.Canonical(u.Hostname())
		out[h] = true
	}
	for _, n := range names {
		h, err := hostname.Canonical(n)
		if err != nil {
			return nil, fmt.Errorf("oauth2.hostnames: %w", err)
		}
		out[h] = true
	}
	return out, nil
}

// trusted reports whether the server answers for a Host header.
func (srv *Server) trusted(hostport string) bool {
	h, ok := hostname.FromHeader(hostport)
	return ok && (srv.hosts[h] || hostname.IsLoopback(h))
}

// issuer is the configured issuer, or the origin of the request, whose
// Host Handle has checked (trusted) before any endpoint runs.
func (srv *Server) issuer(r *http.Request) string {
	if srv.o.Issuer != "" {
		return strings.TrimSuffix(srv.o.Issuer, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// issuedHere reports whether a JWT's iss is one the server could have
// written: the configured issuer (which jwt.WithIssuer checks), or,
// without one, the origin (http or https, no path) of a trusted host. A
// token minted under a Host the server does not trust (by an older
// version, which took the Host as it came) is not accepted because some
// other Host was used to present it.
func (srv *Server) issuedHere(iss string) bool {
	if srv.o.Issuer != "" {
		return iss == strings.TrimSuffix(srv.o.Issuer, "/")
	}
	u, err := url.Parse(iss)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(iss, "#") {
		return false
	}
	return srv.trusted(u.Host)
}

// misdirected answers a request for a host the server does not answer for
// (RFC 9110 §15.5.20). The first one is logged at warning level, with the
// Host, so that an operator sees a missing name or a proxy that rewrites
// Host; the others at debug level (scanners send many).
func (srv *Server) misdirected(w http.ResponseWriter, r *http.Request) {
	first := false
	srv.refusedOnce.Do(func() { first = true })
	log := srv.log.Debug
	if first {
		log = srv.log.Warn
	}
	log("oauth2: refused with 421 a request for a host the authorization server does not answer for: not accessTokens.issuer's host, one of oauth2.hostnames or a loopback name",
		"host", r.Host, "path", r.URL.Path)
	srv.writeOAuthError(w, &oauthError{Status: http.StatusMisdirectedRequest, Code: "misdirected_request",
		Description: "this authorization server does not answer for the host in the request (its names are accessTokens.issuer's host and oauth2.hostnames)"})
}
