// Package hostname is the one home of host-name handling that trust
// decisions share: the canonical form of a configured name, the host of a
// Host header (RFC 9110 §7.2), and loopback names. The authorization
// server (421 for unknown hosts) and the Admin API (DNS rebinding) both
// compare a request's Host with configured names through it.
package hostname

import (
	"fmt"
	"net"
	"strings"
)

// Canonical checks a configured host name (or IP address) and
// returns it as requests are compared with it: lower case, without a
// trailing dot or the brackets of an IPv6 address.
func Canonical(name string) (string, error) {
	c := strings.TrimSuffix(strings.ToLower(name), ".")
	if strings.HasPrefix(c, "[") && strings.HasSuffix(c, "]") {
		c = c[1 : len(c)-1]
		if ip := net.ParseIP(c); ip == nil || ip.To4() != nil {
			return "", fmt.Errorf("%q is not a host name or an IPv6 address", name)
		}
		return c, nil
	}
	if net.ParseIP(c) != nil {
		return c, nil
	}
	switch {
	case strings.Contains(c, "*"):
		return "", fmt.Errorf("%q: wildcards are not accepted, list each name", name)
	case strings.ContainsAny(c, ":/@?#"):
		return "", fmt.Errorf("%q is not a host name: give the name alone, without scheme, port or path (the port is not compared)", name)
	case c == "":
		return "", fmt.Errorf("%q is not a host name", name)
	}
	for _, label := range strings.Split(c, ".") {
		if label == "" || len(label) > 63 || strings.Trim(label, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return "", fmt.Errorf("%q is not a host name (letters, digits, '-' and '_' in dot-separated labels; an internationalized name in its xn-- form)", name)
		}
	}
	return c, nil
}

// FromHeader splits a Host header (RFC 9110 §7.2: uri-host [":" port]) and
// returns its host canonical; ok is false for anything else: an empty Host,
// a port that is not digits, a bare or zoned IPv6 address.
func FromHeader(hostport string) (string, bool) {
	host, port := hostport, ""
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return "", false
		}
		host, port = hostport[1:end], hostport[end+1:]
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil {
			return "", false
		}
		if port != "" {
			if port[0] != ':' || port == ":" {
				return "", false
			}
			port = port[1:]
		}
	} else if i := strings.IndexByte(hostport, ':'); i >= 0 {
		host, port = hostport[:i], hostport[i+1:]
		if port == "" {
			return "", false
		}
	}
	if strings.Trim(port, "0123456789") != "" || len(port) > 5 {
		return "", false
	}
	h, err := Canonical(host)
	if err != nil || strings.Contains(h, ":") != strings.HasPrefix(hostport, "[") {
		return "", false
	}
	return h, true
}

// IsLoopback reports whether a canonical host is localhost or a loopback
// address: names a browser sends only to its own machine.
func IsLoopback(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
