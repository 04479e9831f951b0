package admin

import (
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse/internal/hostname"
)

// The Admin API cannot be driven from a browser (issue #11 §5). Its
// clients are the CLI, scripts and automation; no page of any origin has a
// reason to call it, so a request a browser made on a page's behalf is
// refused before the API key is checked (a key is not ambient, but the
// checks cost nothing and also hold when a key from the environment is
// empty by mistake). Three independent checks, each closing one way in:
//
//   - Host allow-list, 421 Misdirected Request (RFC 9110 §15.5.20). DNS
//     rebinding: a page on attacker.example re-resolves its own name to
//     127.0.0.1 and calls the loopback API same-origin, so Origin and
//     Fetch Metadata look legitimate and a JSON body needs no preflight.
//     What gives it away is Host, which names the attacker's domain. A
//     Host is accepted when it is a loopback name (localhost, 127.0.0.0/8,
//     ::1: a browser sends them only to the user's own machine, and they
//     are what a port published on 127.0.0.1 by a container runtime
//     receives), the IP address the connection arrived on (the listener's
//     bound address, or the interface it was reached on when it listens
//     on every address), or one of Options.Hostnames (the configured
//     host, admin.hostnames); the port is not compared (a published port
//     may differ from the listener's).
//   - Cross-site requests, 403. Login-less CSRF: a page on any origin can
//     make the browser POST a form, or fetch in no-cors mode, to
//     http://127.0.0.1:9876 (a Host the first check accepts). Browsers
//     label those requests: Origin names the page's origin, and Fetch
//     Metadata (Sec-Fetch-Site) says cross-site or same-site. A request is
//     refused when Origin is present and is not the origin of its Host
//     ("null" included), or when Sec-Fetch-Site is anything other than
//     same-origin or none. same-site is refused too: every other port of
//     localhost or 127.0.0.1 (a development server, the gateway's own
//     data plane) is the same site.
//   - Content types, 415. For browsers that send neither header: a
//     state-changing request (any method but GET, HEAD, OPTIONS, TRACE)
//     must carry its body as JSON (application/json or application/*+json),
//     which a page can send to another origin only after a CORS preflight
//     that this API never grants. The types a form or a no-cors fetch can
//     send (application/x-www-form-urlencoded, multipart/form-data,
//     text/plain) and a body without a Content-Type are refused; a
//     request with no body and no Content-Type (the CLI's DELETE) passes.
//
// No response of the Admin API carries Access-Control-* headers, so a
// preflight (OPTIONS, which carries a foreign Origin) is refused and no
// page can read an answer.

// hostnames canonicalizes the configured names (hostname.Canonical);
// an address that listens everywhere names no host, and an entry that is
// not a host name cannot match a valid Host, so both are left out.
func hostnames(names []string) map[string]bool {
	out := map[string]bool{}
	for _, n := range names {
		h, err := hostname.Canonical(n)
		if err != nil {
			continue
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
			continue
		}
		out[h] = true
	}
	return out
}

// fromBrowser refuses a request a browser made on a page's behalf and
// reports whether it did.
func (a *server) fromBrowser(w http.ResponseWriter, r *http.Request) bool {
	var e *Error
	var why string
	switch {
	case !a.hostAllowed(r):
		why = "host"
		e = &Error{Status: http.StatusMisdirectedRequest, Code: "misdirected_request",
			Message: "this Admin API does not answer for the host in the request: use localhost, a loopback address, the address it listens on, or a name listed in admin.hostnames"}
	case crossSite(r):
		why = "cross-site"
		e = &Error{Status: http.StatusForbidden, Code: "cross_site_request",
			Message: "the Admin API does not accept requests made by a web page (Origin or Sec-Fetch-Site names another origin); use the CLI or an HTTP client"}
	case !jsonOrNoBody(r):
		why = "content-type"
		e = &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
			Message: "a change must send its body as JSON, with Content-Type: application/json (a request without a body needs no Content-Type)"}
	default:
		return false
	}
	a.log.LogAttrs(r.Context(), slog.LevelWarn, "admin request refused: it looks like a browser's (DNS rebinding or cross-site request)",
		slog.String("check", why), slog.Int("status", e.Status), slog.String("method", r.Method),
		slog.String("host", clip(r.Host)), slog.String("origin", clip(r.Header.Get("Origin"))),
		slog.String("secFetchSite", clip(r.Header.Get("Sec-Fetch-Site"))),
		slog.String("contentType", clip(r.Header.Get("Content-Type"))), slog.String("remote", r.RemoteAddr))
	writeError(w, e)
	return true
}

// clip bounds what a client chose before it is logged.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// hostAllowed checks r.Host (the Host header, or the authority of an
// absolute request target) against the allow-list.
func (a *server) hostAllowed(r *http.Request) bool {
	h, ok := hostname.FromHeader(r.Host)
	if !ok {
		return false
	}
	if hostname.IsLoopback(h) || a.hosts[h] {
		return true
	}
	ip := net.ParseIP(h)
	if ip == nil || ip.IsUnspecified() {
		return false
	}
	// The address this connection was accepted on: the bound address, or
	// with a listener on every address the one the client dialled. Absent
	// when the handler runs outside an http.Server.
	la, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	tcp, _ := la.(*net.TCPAddr)
	return tcp != nil && tcp.IP.Equal(ip)
}

// crossSite reports whether the browser says the request comes from a page
// of another origin.
func crossSite(r *http.Request) bool {
	// Fetch Metadata (W3C Fetch Metadata Request Headers §2.4): only a
	// request the page's own origin made (same-origin) or the user made
	// (none: the address bar, a bookmark) is accepted; cross-site,
	// same-site and any value a future browser may add are not.
	switch sfs := r.Header.Values("Sec-Fetch-Site"); {
	case len(sfs) > 1:
		return true
	case len(sfs) == 1 && sfs[0] != "same-origin" && sfs[0] != "none":
		return true
	}
	origins := r.Header.Values("Origin")
	switch {
	case len(origins) == 0:
		return false // not a browser, or a same-origin GET
	case len(origins) > 1:
		return true
	}
	// RFC 6454 §7: scheme "://" host [":" port], or "null" for an opaque
	// origin (a sandboxed frame, a file: page, a redirect across origins):
	// refused, since it can be anyone.
	u, err := url.Parse(origins[0])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return true
	}
	// Same origin: the same host and port as the request's Host, which
	// browsers serialize alike (no default port in either). The scheme is
	// not compared: the listener speaks plain HTTP, and behind the TLS
	// proxy operations.md suggests the page's origin is https.
	return !strings.EqualFold(u.Host, r.Host)
}

// safeMethod reports the methods that change nothing (RFC 9110 §9.2.1).
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

// jsonOrNoBody reports whether a request is safe, or sends its body as
// JSON, or has no body and no Content-Type.
func jsonOrNoBody(r *http.Request) bool {
	if safeMethod(r.Method) {
		return true
	}
	cts := r.Header.Values("Content-Type")
	switch len(cts) {
	case 0:
		// ContentLength is -1 for a chunked body, of unknown length.
		return r.ContentLength == 0
	case 1:
		mt, _, err := mime.ParseMediaType(cts[0])
		return err == nil && jsonType(mt)
	default:
		return false
	}
}

// jsonType reports application/json and the structured syntax suffix +json
// (RFC 6839 §3.1) under application/.
func jsonType(mt string) bool {
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}
