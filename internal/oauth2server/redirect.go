package oauth2server

import (
	"net"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/store"
)

// redirectRegistered reports whether the redirect URI of an authorization
// request is one of the client's registered ones. The comparison is exact
// (RFC 9700 §2.1, §4.1.3), with one exception: a plain-http loopback URI
// matches on any port (RFC 8252 §7.3), because a native app listens on
// whatever port the operating system gives it at the time of the request.
// Scheme, host, path and query must still be identical.
func redirectRegistered(registered []string, requested string) bool {
	loop, isLoop := withoutLoopbackPort(requested)
	for _, r := range registered {
		if r == requested {
			return true
		}
		if isLoop {
			if l, ok := withoutLoopbackPort(r); ok && l == loop {
				return true
			}
		}
	}
	return false
}

// withoutLoopbackPort returns an http://127.0.0.1, http://[::1] or
// http://localhost URI with its port removed, and ok false for any other
// URI (another scheme or host, user info, a malformed port). The rest of
// the URI is kept byte for byte, so nothing else is compared loosely.
func withoutLoopbackPort(raw string) (string, bool) {
	rest, ok := strings.CutPrefix(raw, "http://")
	if !ok {
		return "", false
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	host := authority
	if h, port, err := net.SplitHostPort(authority); err == nil {
		if port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strings.TrimLeft(port, "0123456789") != "" {
				return "", false
			}
		}
		host = h
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
	}
	bare := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.ContainsAny(bare, "@[]") || !store.LoopbackHost(bare) {
		return "", false
	}
	return "http://" + host + tail, true
}
