package oauth2server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/store"
)

const loggedOut = "https://rp.example/logged-out"

// newLogoutRP registers a relying party with a post-logout redirect URI
// and, when backchannel is set, a back-channel logout URI.
func (f *fixture) newLogoutRP(t *testing.T, name, backchannel string) rp {
	t.Helper()
	ctx := context.Background()
	if err := f.s.CreateScopes(ctx, "openid", "offline_access"); err != nil && !strings.Contains(err.Error(), "exist") {
		t.Fatal(err)
	}
	app, err := f.s.CreateApp(ctx, store.App{UserID: f.user.ID, Name: name, RedirectURI: "https://rp.example/cb"})
	if err != nil {
		t.Fatal(err)
	}
	_, sec, err := f.s.CreateCredential(ctx, store.CredentialInput{ConsumerID: app.ID, Type: store.OAuth2,
		Scopes: []string{"openid", "offline_access", "read"},
		Client: store.ClientMetadata{PostLogoutRedirectURIs: []string{loggedOut}, BackchannelLogoutURI: backchannel}})
	if err != nil {
		t.Fatal(err)
	}
	return rp{id: app.ID, secret: sec, redirect: "https://rp.example/cb"}
}

// signedInRP signs alice in and runs a code flow for c with scope; it
// returns the token response.
func signedInRP(t *testing.T, f *fixture, b *browser, c rp, scope string) map[string]any {
	t.Helper()
	rec, m := exchange(t, f.srv, c, b.code(c, url.Values{"scope": {scope}}))
	if rec.Code != 200 || m["id_token"] == nil || m["refresh_token"] == nil {
		t.Fatalf("token = %d %s", rec.Code, rec.Body)
	}
	return m
}

// stillSignedIn reports whether the browser's session is signed in (the
// account page answers instead of sending to /login).
func stillSignedIn(b *browser) bool {
	resp, _ := b.get(accountPath)
	return resp.StatusCode == http.StatusOK
}

// TestEndSessionWithHint: RP-Initiated Logout 1.0 with an id_token_hint of
// the signed-in user and a registered post_logout_redirect_uri ends the
// session at once and goes back there with the state.
func TestEndSessionWithHint(t *testing.T) {
	f := newFixture(t, oidcSystem("opaque"))
	b := newBrowser(t, f.srv)
	b.signIn("")
	c := f.newLogoutRP(t, "rp", "")
	m := signedInRP(t, f, b, c, "openid read")
	q := url.Values{"id_token_hint": {m["id_token"].(string)}, "post_logout_redirect_uri": {loggedOut}, "state": {"s t"}}
	resp, _ := b.get(endSessionPath + "?" + q.Encode())
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != loggedOut+"?state=s+t" {
		t.Fatalf("status %d, Location %q, want %s with the state", resp.StatusCode, resp.Header.Get("Location"), loggedOut)
	}
	if stillSignedIn(b) {
		t.Fatal("the session did not end")
	}
	// The refresh token of the session's client is revoked.
	rec, _ := post(t, f.srv, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}}, c.id, c.secret)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("refresh after logout = %d %s, want 400", rec.Code, rec.Body)
	}
}

// TestEndSessionRedirectMismatch: a post_logout_redirect_uri that is not
// exactly a registered one is an error page, never a redirect, and the
// session stays.
func TestEndSessionRedirectMismatch(t *testing.T) {
	f := newFixture(t, oidcSystem("opaque"))
	b := newBrowser(t, f.srv)
	b.signIn("")
	c := f.newLogoutRP(t, "rp", "")
	hint := signedInRP(t, f, b, c, "openid read")["id_token"].(string)
	for _, u := range []string{loggedOut + "/", loggedOut + "?x=1", "HTTPS://rp.example/logged-out", "https://rp.example/logged-ou",
		"https://evil.example/logged-out", "https://rp.example/cb"} {
		for _, q := range []url.Values{
			{"id_token_hint": {hint}, "post_logout_redirect_uri": {u}},
			{"client_id": {c.id}, "post_logout_redirect_uri": {u}},
		} {
			resp, _ := b.get(endSessionPath + "?" + q.Encode())
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Errorf("%q: status %d, Location %q, want 400 and no redirect", u, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
	}
	// Without a client the URI cannot be checked: refused too.
	resp, _ := b.get(endSessionPath + "?" + url.Values{"post_logout_redirect_uri": {loggedOut}}.Encode())
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Errorf("no client: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A client_id that is not the hint's audience.
	other := f.newLogoutRP(t, "other", "")
	resp, _ = b.get(endSessionPath + "?" + url.Values{"id_token_hint": {hint}, "client_id": {other.id}}.Encode())
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("client_id not the hint's: status %d", resp.StatusCode)
	}
	if !stillSignedIn(b) {
		t.Fatal("a refused logout request ended the session")
	}
}

// TestEndSessionConfirms: without an id_token_hint (or with one of another
// user) the user confirms first, so a cross-site link signs nobody out; the
// confirmation without the form's CSRF token is refused; the confirmed
// form ends the session and goes back with the state; with nowhere to go
// back the page says the user is signed out.
func TestEndSessionConfirms(t *testing.T) {
	f := newFixture(t, oidcSystem("opaque"))
	b := newBrowser(t, f.srv)
	b.signIn("")
	c := f.newLogoutRP(t, "rp", "")
	q := url.Values{"client_id": {c.id}, "post_logout_redirect_uri": {loggedOut}, "state": {"xyz"}}
	resp, page := b.get(endSessionPath + "?" + q.Encode())
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `action="`+endSessionPath+`"`) || !strings.Contains(page, `name="confirm"`) {
		t.Fatalf("status %d, want the confirmation page:\n%s", resp.StatusCode, page)
	}
	if !stillSignedIn(b) {
		t.Fatal("the session ended without confirmation")
	}
	// Another user's hint is no proof either.
	bob, err := f.s.CreateUser(context.Background(), store.User{Username: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	bobHint, err := f.srv.signJWT(map[string]any{"iss": testIssuer, "sub": bob.ID, "aud": []string{c.id}, "azp": c.id}, "")
	if err != nil {
		t.Fatal(err)
	}
	resp, _ = b.get(endSessionPath + "?" + url.Values{"id_token_hint": {bobHint}}.Encode())
	if resp.StatusCode != http.StatusOK || !stillSignedIn(b) {
		t.Fatalf("another user's hint: status %d, want the confirmation page and the session kept", resp.StatusCode)
	}
	form := url.Values{"confirm": {"1"}}
	for k, v := range q {
		form[k] = v
	}
	resp, _ = b.post(endSessionPath, form)
	if resp.StatusCode != http.StatusForbidden || !stillSignedIn(b) {
		t.Fatalf("confirmation without CSRF: status %d, want 403 and the session kept", resp.StatusCode)
	}
	form.Set("_csrf", csrfOf(t, page))
	resp, _ = b.post(endSessionPath, form)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != loggedOut+"?state=xyz" {
		t.Fatalf("confirmed: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if stillSignedIn(b) {
		t.Fatal("the confirmed logout did not end the session")
	}
	resp, page = b.get(endSessionPath)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="signed-out"`) {
		t.Fatalf("no session, no redirect: status %d, want the signed-out page:\n%s", resp.StatusCode, page)
	}
}

// receiver is a relying party's back-channel logout endpoint.
type receiver struct {
	mu     sync.Mutex
	tokens []string
	// fail answers that many first requests with 503.
	fail int
	url  string
}

func newReceiver(t *testing.T, fail int) *receiver {
	rc := &receiver{fail: fail}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		_ = r.ParseForm()
		rc.tokens = append(rc.tokens, r.PostForm.Get("logout_token"))
		if rc.fail > 0 {
			rc.fail--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(ts.Close)
	rc.url = ts.URL + "/backchannel"
	return rc
}

// TestBackchannelLogout: signing out at /logout POSTs a logout token to
// the back-channel URI of each client given an ID token in the session
// (retried after a 503), which go-jose, another JOSE library, verifies
// with the published keys (Back-Channel Logout 1.0 §2.4, §2.6); the
// client's refresh token then fails, but an offline_access one of the same
// session keeps working (Core §11). A client that got no ID token in the
// session is not told.
func TestBackchannelLogout(t *testing.T) {
	f := newFixture(t, oidcSystem("opaque"))
	f.srv.backchannel.backoff = 10 * time.Millisecond
	told, offline, untold := newReceiver(t, 1), newReceiver(t, 0), newReceiver(t, 0)
	c := f.newLogoutRP(t, "rp", told.url)
	co := f.newLogoutRP(t, "offline", offline.url)
	f.newLogoutRP(t, "untold", untold.url)
	b := newBrowser(t, f.srv)
	b.signIn("")
	m := signedInRP(t, f, b, c, "openid read")
	mo := signedInRP(t, f, b, co, "openid offline_access")
	_, idt := verifyIDToken(t, f.srv, m["id_token"].(string), c.id)
	_, page := b.get("/logout")
	resp, _ := b.post("/logout", url.Values{"_csrf": {csrfOf(t, page)}})
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("POST /logout = %d", resp.StatusCode)
	}
	f.srv.backchannel.wait()
	if len(told.tokens) != 2 || told.tokens[0] != told.tokens[1] {
		t.Fatalf("the receiver got %d deliveries, want the token twice (a 503, then 200)", len(told.tokens))
	}
	if len(untold.tokens) != 0 {
		t.Fatal("a client without an ID token in the session was told")
	}
	if len(offline.tokens) != 1 {
		t.Fatalf("the offline client got %d deliveries, want 1", len(offline.tokens))
	}

	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, httptest.NewRequest("GET", "http://gw.example/.well-known/jwks.json", nil))
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
		t.Fatal(err)
	}
	sig, err := jose.ParseSignedCompact(told.tokens[0], []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	h := sig.Signatures[0].Header
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q: %d keys in the JWKS", h.KeyID, len(keys))
	}
	payload, err := sig.Verify(keys[0].Key)
	if err != nil {
		t.Fatalf("go-jose: %v", err)
	}
	if typ, _ := h.ExtraHeaders["typ"].(string); typ != "logout+jwt" {
		t.Errorf("typ %q, want logout+jwt", typ)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	events, _ := claims["events"].(map[string]any)
	if _, ok := events[backchannelEvent]; !ok {
		t.Errorf("events = %v", claims["events"])
	}
	iat, _ := claims["iat"].(float64)
	exp, _ := claims["exp"].(float64)
	aud, _ := claims["aud"].([]any)
	if claims["iss"] != testIssuer || len(aud) != 1 || aud[0] != c.id || claims["sub"] != f.user.ID ||
		claims["sid"] != idt["sid"] || claims["jti"] == nil || claims["nonce"] != nil || exp <= iat || exp-iat > 120 {
		t.Errorf("claims %v: want iss, aud, sub, the ID token's sid %v, a jti, no nonce, a short exp", claims, idt["sid"])
	}

	rec, _ = post(t, f.srv, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}}, c.id, c.secret)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("the told client's refresh token = %d, want 400", rec.Code)
	}
	rec, _ = post(t, f.srv, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {mo["refresh_token"].(string)}}, co.id, co.secret)
	if rec.Code != http.StatusOK {
		t.Fatalf("the offline_access refresh token = %d %s, want 200", rec.Code, rec.Body)
	}
}

// TestSessionAcrossNodes: two nodes on one store serve one sign-in: signed
// in and allowed on node A, the same request on node B gets its code
// without a page (the session and the consent are in the store), and a
// sign-out on node B tells the client that got its ID token on node A.
func TestSessionAcrossNodes(t *testing.T) {
	f := newFixture(t, oidcSystem("opaque"))
	nodeB := f.server(t, oidcSystem("opaque"))
	nodeB.backchannel.backoff = 10 * time.Millisecond
	rc := newReceiver(t, 0)
	c := f.newLogoutRP(t, "rp", rc.url)
	a := newBrowser(t, f.srv)
	a.signIn("")
	signedInRP(t, f, a, c, "openid read")
	b := newBrowser(t, nodeB)
	b.c.Jar = a.c.Jar // one browser: cookies do not depend on the port
	resp, _ := b.get(authzQuery(c, url.Values{"scope": {"openid read"}}))
	if codeOf(c, resp) == "" {
		t.Fatalf("node B: status %d, Location %q, want a code without a page", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := b.get("/logout")
	if resp, _ := b.post("/logout", url.Values{"_csrf": {csrfOf(t, page)}}); resp.StatusCode != http.StatusFound {
		t.Fatalf("POST /logout on node B = %d", resp.StatusCode)
	}
	nodeB.backchannel.wait()
	if len(rc.tokens) != 1 {
		t.Fatalf("the client got %d logout tokens from node B, want 1", len(rc.tokens))
	}
	if stillSignedIn(a) {
		t.Fatal("node A still sees the session")
	}
}
