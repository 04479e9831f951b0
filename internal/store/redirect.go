package store

import (
	"net"
	"net/url"
	"strings"
)

// CheckRedirectURI applies the registration rules for a client's redirect
// URI (RFC 6749 §3.1.2, RFC 9700 §2.1 and §4.1, RFC 8252 §7): an absolute
// URI without fragment or wildcard; https, or plain http on a loopback
// host for native apps (RFC 8252 §7.3); or a private-use scheme in
// reverse-domain form (RFC 8252 §7.1); never a scheme that runs script or
// reads local files. field names the property in the error.
//
// It runs when a URI is written, never when a record is read: records an
// older version or an Express Gateway import stored keep loading.
func CheckRedirectURI(field, raw string) error {
	bad := func(format string, args ...any) error {
		return invalid(field, "redirect URI %q "+format, append([]any{raw}, args...)...)
	}
	if raw == "" {
		return invalid(field, "a redirect URI must not be empty")
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r <= 0x20 || r == 0x7f }) {
		return bad("must not contain spaces or control characters")
	}
	if strings.Contains(raw, "#") {
		return bad("must not have a fragment (RFC 6749 §3.1.2)")
	}
	if strings.Contains(raw, "*") {
		return bad("must not contain a wildcard (*): every redirect URI is compared exactly, so list each one (RFC 9700 §2.1)")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return bad("must be an absolute URI, with a scheme such as https:// (RFC 6749 §3.1.2)")
	}
	switch u.Scheme {
	case "javascript", "data", "vbscript", "file":
		return bad("is refused: a %s: URI is never a redirect URI (it runs script or reads local files)", u.Scheme)
	case "https", "http":
		if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
			return bad("must have a host, such as %s://app.example.com/callback", u.Scheme)
		}
		if u.User != nil {
			return bad("must not contain a user name or password")
		}
		if u.Scheme == "http" && !LoopbackHost(u.Hostname()) {
			return bad("must use https: plain http is accepted only on loopback (http://127.0.0.1, http://[::1], http://localhost), for native apps (RFC 6749 §3.1.2.1, RFC 8252 §7.3)")
		}
	default:
		// RFC 8252 §7.1: a private-use scheme is a reverse domain name the
		// app controls (com.example.app:/callback), so apps do not collide.
		labels := strings.Split(u.Scheme, ".")
		if len(labels) < 2 || strings.Contains(u.Scheme, "..") || labels[0] == "" || labels[len(labels)-1] == "" {
			return bad("must use https, http on loopback, or a private-use scheme in reverse-domain form such as com.example.app:/callback (RFC 8252 §7.1)")
		}
	}
	return nil
}

// LoopbackHost reports whether host (without brackets or port) is one of
// the loopback names accepted for plain-http redirect URIs. RFC 8252 §8.3
// prefers the IP literals; localhost is accepted too, as many native app
// libraries use it.
func LoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.Equal(net.IPv4(127, 0, 0, 1)) || ip.Equal(net.IPv6loopback))
}
