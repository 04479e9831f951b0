package oauth2server

import (
	"net/http"
	"strings"
	"time"
)

// The sign-in session cookie. Over HTTPS it carries the __Host- prefix
// (RFC 6265bis §4.1.3.2): the browser then keeps it only if it is Secure,
// has Path=/ and no Domain, so a sibling subdomain (or a plain-http page
// of this host) cannot plant a session of its own in front of ours, the
// login CSRF that a cookie without the prefix allows.
const (
	sessionCookie       = "gatehouse_session"
	secureSessionCookie = "__Host-gatehouse_session"
)

// secureCookies reports whether the browser reaches the server over HTTPS:
// TLS here, or an https issuer (TLS ends at a proxy in front).
func (srv *Server) secureCookies(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(strings.ToLower(srv.o.Issuer), "https://")
}

// sessionCookieName is the cookie the request's sessions use. A session
// is read only under the name it is set with: over HTTPS a plain
// gatehouse_session cookie, which anyone could have planted, is ignored.
func (srv *Server) sessionCookieName(r *http.Request) string {
	if srv.secureCookies(r) {
		return secureSessionCookie
	}
	return sessionCookie
}

// setSessionCookie sets the session cookie: HttpOnly, SameSite=Lax, and
// Secure with the __Host- prefix over HTTPS.
func (srv *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: srv.sessionCookieName(r), Value: value, Path: "/", HttpOnly: true,
		Secure: srv.secureCookies(r), SameSite: http.SameSiteLaxMode, MaxAge: int(maxAge / time.Second)}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}
