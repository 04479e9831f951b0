package oauth2server

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/gatehouse/gatehouse/internal/store"
)

//go:embed views/*.html
var embeddedViews embed.FS

//go:embed static/*
var embeddedStatic embed.FS

// Page data. A custom view in <config dir>/views/NAME.html receives the
// same values.
type loginData struct {
	Title, CSRF, Username, Error string
	// ClientName is the application that sent the user to sign in (empty
	// for a sign-in at /login).
	ClientName string
}

type consentData struct {
	Title, ClientName, ClientID, TransactionID, CSRF, RedirectHost string
	User                                                           *store.User
	// Scopes are the names asked for; ScopeDetails the same scopes with
	// their descriptions (Admin API), for the page to show both.
	Scopes       []string
	ScopeDetails []store.Scope
}

type logoutData struct {
	Title, CSRF string
	// Action is where the form posts (/logout; the end_session_endpoint
	// for a client's logout request, with its parameters in Fields).
	Action string
	Fields []hiddenField
	// ClientName is the application asking to sign the user out.
	ClientName string
	// Done: the user is signed out (RP-Initiated Logout 1.0 §2 without a
	// post_logout_redirect_uri).
	Done bool
}

type errorData struct {
	Title, Message string
	Status         int
}

var pageNames = []string{"login", "consent", "logout", "error", "account", "consents"}

// loadViews parses the embedded pages, each replaced by <dir>/views/NAME.html
// when that file exists (Express Gateway users customised its views); the
// shared layout can be replaced the same way (layout.html). Static files
// come from <dir>/views/static/ when present.
func loadViews(dir string) (*template.Template, fs.FS, error) {
	t := template.New("pages")
	for _, name := range append([]string{"layout"}, pageNames...) {
		src, err := embeddedViews.ReadFile("views/" + name + ".html")
		if err != nil {
			return nil, nil, err
		}
		if dir != "" {
			custom := filepath.Join(dir, "views", name+".html")
			if b, err := os.ReadFile(custom); err == nil {
				src = b
			} else if !os.IsNotExist(err) {
				return nil, nil, fmt.Errorf("views: %w", err)
			}
		}
		if _, err := t.New(name).Parse(string(src)); err != nil {
			return nil, nil, fmt.Errorf("views/%s.html: %w", name, err)
		}
	}
	static, _ := fs.Sub(embeddedStatic, "static")
	if dir != "" {
		if fi, err := os.Stat(filepath.Join(dir, "views", "static")); err == nil && fi.IsDir() {
			static = os.DirFS(filepath.Join(dir, "views", "static"))
		}
	}
	return t, static, nil
}

// securityHeaders keep the pages out of frames and away from other
// origins' scripts and styles.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

func (srv *Server) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := srv.views.ExecuteTemplate(&buf, name, data); err != nil {
		srv.log.Error("rendering a page failed", "page", name, "error", err)
		http.Error(w, "page could not be rendered", http.StatusInternalServerError)
		return
	}
	securityHeaders(w)
	if status == http.StatusUnauthorized {
		// RFC 9110 §15.5.2: a 401 carries a challenge. The sign-in page's
		// scheme is the form on the page; the Cookie scheme of
		// draft-broyer-http-cookie-auth says so, and browsers, which know
		// no such scheme, show the page instead of a password dialog.
		w.Header().Set("WWW-Authenticate", `Cookie realm="gatehouse", form-action="/login"`)
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (srv *Server) renderError(w http.ResponseWriter, status int, title, msg string) {
	srv.render(w, status, "error", errorData{Title: title, Message: msg, Status: status})
}

func (srv *Server) serverError(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrBusy) { // the password-check bound (lockout.go)
		w.Header().Set("Retry-After", "1")
		srv.renderError(w, http.StatusServiceUnavailable, "Temporarily unavailable", "Too many sign-ins are being checked right now. Try again in a moment.")
		return
	}
	if errors.Is(err, store.ErrUnavailable) {
		srv.storeError()
		w.Header().Set("Retry-After", "1")
		srv.renderError(w, http.StatusServiceUnavailable, "Temporarily unavailable", "The sign-in service cannot reach its data right now. Try again in a moment.")
		return
	}
	srv.log.Error("oauth2 server error", "error", err)
	srv.renderError(w, http.StatusInternalServerError, "Something went wrong", "The server could not handle the request. Try again in a moment.")
}
