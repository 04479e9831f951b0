package e2e

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestOAuth2CustomViews: pages in <config dir>/views/ replace the built-in
// ones (Express Gateway users edited its views in node_modules, issue
// #1009), with the data docs/oauth2.md lists, and views/static/ replaces
// the static files.
func TestOAuth2CustomViews(t *testing.T) {
	t.Parallel()
	g := startOAuth(t, opaqueSystem, map[string]string{
		"views/login.html": `<!doctype html><title>{{.Title}}</title><h1>ACME sign-in</h1>{{if .Error}}<p id=err>{{.Error}}</p>{{end}}
<form method="post" action="/login"><input type="hidden" value="{{.CSRF}}" name="_csrf"><input name="username" value="{{.Username}}"><input name="password" type="password"></form>`,
		"views/consent.html": `{{template "head" .}}<h1>ACME consent for {{.ClientName}} ({{.ClientID}})</h1><p>user={{.User.Username}} back to={{.RedirectHost}}</p>
<ul>{{range .Scopes}}<li>scope:{{.}}</li>{{end}}</ul>
<form method="post" action="/oauth2/authorize/decision"><input type="hidden" name="transaction_id" value="{{.TransactionID}}"><input type="hidden" name="_csrf" value="{{.CSRF}}"></form>{{template "foot" .}}`,
		"views/layout.html":     `{{define "head"}}<!doctype html><html><head><title>{{.Title}}</title><link rel="stylesheet" href="/oauth2/static/acme.css"></head><body>{{end}}{{define "foot"}}<footer>ACME</footer></body></html>{{end}}`,
		"views/error.html":      `ACME error {{.Status}}: {{.Title}} — {{.Message}}`,
		"views/static/acme.css": `body{color:teal}`,
	})
	b := newBrowser(t, g.base)
	st, _, page := b.get("/login")
	if st != 200 || !strings.Contains(page, "ACME sign-in") || formValue(page, "_csrf") == "" {
		t.Fatalf("custom login page = %d\n%s", st, page)
	}
	if st, _, page := b.login("alice", "wrong"); st != 401 || !strings.Contains(page, `<p id=err>`) || !strings.Contains(page, `value="alice"`) {
		t.Errorf("custom login page with an error = %d\n%s", st, page)
	}
	conf := g.webConfig("read", "write")
	v := oauth2.GenerateVerifier()
	page = b.consent(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), "alice", "alice-password")
	for _, want := range []string{"ACME consent for web (" + g.web.ID + ")", "user=alice", "back to=127.0.0.1:1", "scope:read", "scope:write", "<footer>ACME</footer>", "/oauth2/static/acme.css"} {
		if !strings.Contains(page, want) {
			t.Errorf("consent page lacks %q:\n%s", want, page)
		}
	}
	if st, u, _ := b.decide(page, true); st != http.StatusFound || u.Query().Get("code") == "" {
		t.Errorf("decision from the custom page = %d %v", st, u)
	}
	if st, _, page := b.get("/oauth2/authorize?client_id=nobody&response_type=code"); st != 400 || !strings.HasPrefix(page, "ACME error 400: ") {
		t.Errorf("custom error page = %d %s", st, page)
	}
	resp := get(t, g.base+"/oauth2/static/acme.css")
	if body := readBody(t, resp); resp.StatusCode != 200 || body != "body{color:teal}" {
		t.Errorf("custom static file = %d %q", resp.StatusCode, body)
	}
}
