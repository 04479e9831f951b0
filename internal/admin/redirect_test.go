package admin

import (
	"net/http"
	"testing"
)

// TestRedirectURIsRefused: users', applications' and oauth2 credentials'
// redirect URIs are checked on create and update; the 400 names the URI
// (issue #11 §4).
func TestRedirectURIsRefused(t *testing.T) {
	e := newEnv(t, nil, Options{})
	ann := e.mustUser("ann")["id"].(string)
	const httpMsg = `redirect URI "http://shop.example/cb" must use https: plain http is accepted only on loopback (http://127.0.0.1, http://[::1], http://localhost), for native apps (RFC 6749 §3.1.2.1, RFC 8252 §7.3)`
	e.want(e.do("POST", "/apps", map[string]any{"userId": ann, "name": "shop", "redirectUri": "http://shop.example/cb"}),
		http.StatusBadRequest, "bad_request", "redirectUri", httpMsg)
	e.want(e.do("POST", "/apps", map[string]any{"userId": ann, "name": "shop", "redirectUri": "javascript:alert(document.domain)"}),
		http.StatusBadRequest, "bad_request", "redirectUri", `redirect URI "javascript:alert(document.domain)" is refused: a javascript: URI is never a redirect URI (it runs script or reads local files)`)
	r := e.do("POST", "/apps", map[string]any{"userId": ann, "name": "shop", "redirectUri": "https://shop.example/cb"})
	e.want(r, http.StatusOK, "", "", "")
	app := r.obj(t)["id"].(string)
	e.want(e.do("PUT", "/apps/"+app, map[string]any{"redirectUri": "https://*.shop.example/cb"}),
		http.StatusBadRequest, "bad_request", "redirectUri", `redirect URI "https://*.shop.example/cb" must not contain a wildcard (*): every redirect URI is compared exactly, so list each one (RFC 9700 §2.1)`)
	e.want(e.do("PUT", "/apps/"+app, map[string]any{"redirectUri": "com.example.shop:/cb"}), http.StatusOK, "", "", "")
	e.want(e.do("POST", "/users", map[string]any{"username": "bob", "firstname": "B", "lastname": "B", "redirectUri": "http://shop.example/cb"}),
		http.StatusBadRequest, "bad_request", "redirectUri", httpMsg)
	e.want(e.do("PUT", "/users/"+ann, map[string]any{"redirectUri": "https://shop.example/cb#top"}),
		http.StatusBadRequest, "bad_request", "redirectUri", `redirect URI "https://shop.example/cb#top" must not have a fragment (RFC 6749 §3.1.2)`)
	e.want(e.do("PUT", "/users/"+ann, map[string]any{"redirectUri": "http://[::1]/cb"}), http.StatusOK, "", "", "")
	e.want(e.do("POST", "/credentials", map[string]any{"consumerId": app, "type": "oauth2", "credential": map[string]any{"redirectUris": []string{"http://127.0.0.1/cb", "data:text/html,x"}}}),
		http.StatusBadRequest, "bad_request", "credential.redirectUris", `redirect URI "data:text/html,x" is refused: a data: URI is never a redirect URI (it runs script or reads local files)`)
	e.want(e.do("POST", "/credentials", map[string]any{"consumerId": app, "type": "oauth2", "credential": map[string]any{"redirectUris": []string{"http://127.0.0.1/cb", "com.example.shop:/cb"}}}),
		http.StatusOK, "", "", "")
}
