package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/echo"
	"github.com/gatehouse/gatehouse/internal/store"
)

// browserArtifacts receives the screenshots of the browser tests (git-ignored).
const browserArtifacts = "artifacts"

// findChromium returns the path of a Chromium or Chrome binary. Without
// one the test is skipped, except under CI=true: .ci/run installs chromium,
// so a missing browser there is a broken CI image, not a reason to skip.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium binary found on PATH (looked for chromium, chromium-browser, google-chrome); install it with `apt-get install -y chromium` to run the browser tests"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: .ci/run installs it, so this is a failure)")
	}
	t.Skip("SKIP browser test: " + msg)
	return ""
}

// browser is one headless Chromium tab with helpers that fail the test.
type chromeTab struct {
	t   *testing.T
	ctx context.Context

	mu   sync.Mutex
	log  []string // console and CSP messages the pages produced
	seen int      // how many of them checkPage has looked at
}

// newBrowser starts headless Chromium (as root: no sandbox) with a fresh
// profile and flags that keep it off the network; only the loopback servers
// of the test are reached.
func newChromeTab(t *testing.T, bin string) *chromeTab {
	t.Helper()
	profile := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	b := &chromeTab{t: t, ctx: ctx}
	// The first Run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	entries := chromedp.Events(ctx, cdplog.EntryAdded)
	go func() {
		for ev, err := range entries {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.log = append(b.log, fmt.Sprintf("%s %s: %s (%s)", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			b.mu.Unlock()
		}
	}()
	b.desktop()
	return b
}

func (b *chromeTab) timeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, 20*time.Second)
}

func (b *chromeTab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.timeout()
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Fatalf("%s: %v (page: %s)", what, err, loc)
	}
}

func tabRun[T any](b *chromeTab, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := b.timeout()
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

func (b *chromeTab) location() *url.URL {
	b.t.Helper()
	u, err := url.Parse(tabRun(b, "location", chromedp.Location()))
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

func (b *chromeTab) text(sel string) string {
	b.t.Helper()
	return tabRun(b, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
}

func (b *chromeTab) eval(js string) string {
	b.t.Helper()
	return tabRun(b, "evaluate", chromedp.Evaluate[string](js))
}

// desktop, phone and dark switch the emulated screen.
func (b *chromeTab) desktop() {
	b.do("desktop viewport", chromedp.EmulateViewport(1280, 800))
	b.scheme("light")
}

func (b *chromeTab) phone() {
	b.do("390px viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch))
}

func (b *chromeTab) scheme(s string) {
	b.t.Helper()
	ctx, cancel := b.timeout()
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		// Reduced motion: no colour transition half-way in a screenshot.
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: s}, {Name: "prefers-reduced-motion", Value: "reduce"}},
	}); err != nil {
		b.t.Fatalf("prefers-color-scheme %s: %v", s, err)
	}
}

// shot saves a PNG of the whole page as artifacts/browser-NAME.png.
func (b *chromeTab) shot(name string) {
	b.t.Helper()
	png := tabRun(b, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.MkdirAll(browserArtifacts, 0o755); err != nil {
		b.t.Fatal(err)
	}
	p := filepath.Join(browserArtifacts, "browser-"+name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: e2e/%s", p)
}

// shots saves the page on a desktop (light and dark) and on a 390px-wide
// phone, checking on the phone that nothing overflows sideways.
func (b *chromeTab) shots(name string) {
	b.t.Helper()
	b.shot(name)
	b.scheme("dark")
	b.shot(name + "-dark")
	b.scheme("light")
	b.phone()
	if w := b.eval(`String(document.documentElement.scrollWidth)`); w != "390" {
		b.t.Errorf("%s: the page is %spx wide on a 390px screen (horizontal scrolling)", name, w)
	}
	b.shot(name + "-390")
	b.desktop()
}

// checkPage asserts what every page must have: a language, a main
// landmark, one h1, labelled form controls, a visible focus style and no
// CSP violation (no inline style, no external asset).
func (b *chromeTab) checkPage(name string) {
	b.t.Helper()
	got := b.eval(`(() => {
  const p = [];
  if (!document.documentElement.lang) p.push("html has no lang");
  if (document.querySelectorAll("main, [role=main]").length !== 1) p.push("not exactly one main landmark");
  if (document.querySelectorAll("h1").length !== 1) p.push("not exactly one h1");
  if (!document.title) p.push("no title");
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    if (!el.labels || el.labels.length === 0) p.push("#" + el.id + " has no label");
  }
  for (const el of document.querySelectorAll("button")) {
    if (!el.textContent.trim() && !el.getAttribute("aria-label")) p.push("a button has no name");
  }
  for (const el of document.querySelectorAll("[aria-describedby]")) {
    for (const id of el.getAttribute("aria-describedby").split(/\s+/)) {
      if (!document.getElementById(id)) p.push("#" + el.id + " is described by missing #" + id);
    }
  }
  for (const s of document.styleSheets) {
    if (s.href && new URL(s.href).origin !== location.origin) p.push("external stylesheet " + s.href);
  }
  return p.join("; ");
})()`)
	if got != "" {
		b.t.Errorf("%s page: %s", name, got)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.log[b.seen:] {
		if strings.Contains(l, "Content Security Policy") || strings.Contains(l, "Refused to") {
			b.t.Errorf("%s page: %s", name, l)
		}
	}
	b.seen = len(b.log)
}

// layoutShift is the page's cumulative layout shift so far.
func (b *chromeTab) layoutShift() string {
	b.t.Helper()
	return tabRun(b, "layout shift", chromedp.Evaluate[string](`new Promise(resolve => {
  let sum = 0;
  new PerformanceObserver(list => {
    for (const e of list.getEntries()) if (!e.hadRecentInput) sum += e.value;
  }).observe({type: "layout-shift", buffered: true});
  setTimeout(() => resolve(sum.toFixed(3)), 200);
})`, chromedp.EvalAwaitPromise))
}

// callback is what the client app saw on its redirect URI.
type uiCallback struct {
	query     url.Values
	err       error
	token     *oauth2.Token
	apiStatus int
	api       echo.Request
}

// clientApp is a web application that uses the gateway to sign its users
// in: authorization code flow with PKCE (S256) and state, then a call to
// the protected API with the access token.
type uiClientApp struct {
	srv     *httptest.Server
	conf    *oauth2.Config
	apiURL  string
	mu      sync.Mutex
	pending map[string]string // state → PKCE verifier
	results chan uiCallback
}

func newUIClientApp(t *testing.T) *uiClientApp {
	c := &uiClientApp{pending: map[string]string{}, results: make(chan uiCallback, 4)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /start", c.start)
	mux.HandleFunc("GET /callback", c.callback)
	c.srv = httptest.NewServer(mux)
	t.Cleanup(c.srv.Close)
	return c
}

func (c *uiClientApp) start(w http.ResponseWriter, r *http.Request) {
	state, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	c.mu.Lock()
	c.pending[state] = verifier
	c.mu.Unlock()
	http.Redirect(w, r, c.conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

func (c *uiClientApp) callback(w http.ResponseWriter, r *http.Request) {
	res := uiCallback{query: r.URL.Query()}
	defer func() {
		status, detail := "ok", fmt.Sprintf("API answered %d", res.apiStatus)
		if res.err != nil {
			status, detail = "error", res.err.Error()
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><html lang=en><title>Client app</title><main><h1 id=result data-status=%s>%s</h1></main></html>",
			status, html.EscapeString(detail))
		c.results <- res
	}()
	state := r.URL.Query().Get("state")
	c.mu.Lock()
	verifier, ok := c.pending[state]
	delete(c.pending, state)
	c.mu.Unlock()
	if !ok {
		res.err = errors.New("unknown state " + state)
		return
	}
	if e := r.URL.Query().Get("error"); e != "" {
		res.err = errors.New("authorization failed: " + e)
		return
	}
	ctx := r.Context()
	tok, err := c.conf.Exchange(ctx, r.URL.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		res.err = fmt.Errorf("code exchange: %w", err)
		return
	}
	res.token = tok
	resp, err := c.conf.Client(ctx, tok).Get(c.apiURL)
	if err != nil {
		res.err = fmt.Errorf("API call: %w", err)
		return
	}
	defer resp.Body.Close()
	res.apiStatus = resp.StatusCode
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		res.err = fmt.Errorf("API call: %d %s", resp.StatusCode, body)
		return
	}
	if err := json.Unmarshal(body, &res.api); err != nil {
		res.err = fmt.Errorf("API answer: %w", err)
	}
}

func (c *uiClientApp) wait(t *testing.T) uiCallback {
	t.Helper()
	select {
	case res := <-c.results:
		return res
	case <-time.After(20 * time.Second):
		t.Fatal("the client app's redirect URI was not called")
		return uiCallback{}
	}
}

// TestBrowserAuthorizationCodeFlow signs a user in through the login and
// consent pages in headless Chromium, as a real client application would
// send them there, and calls the protected API with the token it gets.
// Screenshots of every page land in e2e/artifacts/.
func TestBrowserAuthorizationCodeFlow(t *testing.T) {
	bin := findChromium(t)
	upstream := echoServer(t, "orders")
	// GATEHOUSE_TEST_VIEWS previews a customised views/ folder (docs/ui.md):
	// it is copied into the config dir, so the pages are checked and
	// photographed as an operator would serve them.
	withViews := func(o *appOptions) {
		if dir := os.Getenv("GATEHOUSE_TEST_VIEWS"); dir != "" {
			if err := os.CopyFS(filepath.Join(o.ConfigDir, "views"), os.DirFS(dir)); err != nil {
				t.Fatalf("GATEHOUSE_TEST_VIEWS: %v", err)
			}
			t.Logf("using the views in %s", dir)
		}
	}
	g := startGateway(t, fmt.Sprintf(`http:
  port: 0
  host: 127.0.0.1
apiEndpoints:
  orders:
    host: '*'
    paths: ['/api/*']
    scopes: [orders:read]
serviceEndpoints:
  backend:
    url: '%s'
policies: [oauth2, proxy]
pipelines:
  orders:
    apiEndpoints: [orders]
    policies:
      - oauth2:
      - proxy:
          - action:
              serviceEndpoint: backend
`, upstream.URL), withViews)

	// Seed: the end user, a developer who owns the client application, and
	// the application's confidential OAuth2 client.
	ctx := context.Background()
	st := g.app.Store()
	client := newUIClientApp(t)
	if err := st.CreateScopes(ctx, "orders:read", "profile"); err != nil {
		t.Fatal(err)
	}
	const username, password = "ada", "correct horse battery staple"
	user, err := st.CreateUser(ctx, store.User{Username: username, Firstname: "Ada", Lastname: "Lovelace"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.CreateCredential(ctx, store.CredentialInput{ConsumerID: user.ID, Type: store.BasicAuth, Secret: password}); err != nil {
		t.Fatal(err)
	}
	dev, err := st.CreateUser(ctx, store.User{Username: "acme-dev"})
	if err != nil {
		t.Fatal(err)
	}
	app, err := st.CreateApp(ctx, store.App{UserID: dev.ID, Name: "Acme Dashboard", RedirectURI: client.srv.URL + "/callback"})
	if err != nil {
		t.Fatal(err)
	}
	_, clientSecret, err := st.CreateCredential(ctx, store.CredentialInput{ConsumerID: app.ID, Type: store.OAuth2,
		Scopes: []string{"orders:read", "profile"}})
	if err != nil {
		t.Fatal(err)
	}
	client.apiURL = g.base + "/api/orders/42"
	client.conf = &oauth2.Config{
		ClientID: app.ID, ClientSecret: clientSecret, RedirectURL: client.srv.URL + "/callback",
		Scopes: []string{"orders:read", "profile"},
		Endpoint: oauth2.Endpoint{AuthURL: g.base + "/oauth2/authorize", TokenURL: g.base + "/oauth2/token",
			AuthStyle: oauth2.AuthStyleInHeader},
	}

	b := newChromeTab(t, bin)

	// 1. The client app sends the browser to /oauth2/authorize, which sends
	// it on to /login.
	b.do("open the client app", chromedp.Navigate(client.srv.URL+"/start"), chromedp.WaitVisible(chromedp.ID("username")))
	if p := b.location().Path; p != "/login" {
		t.Fatalf("the authorization request landed on %s, want /login", p)
	}
	b.checkPage("login")
	if cls := b.layoutShift(); cls != "0.000" {
		t.Errorf("login page: cumulative layout shift %s, want 0", cls)
	}
	b.shots("login")

	// 2. A wrong password: the page says so, and the message is tied to
	// the fields.
	b.do("submit a wrong password",
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("password"), "wrong"),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.CSS("[role=alert]")),
	)
	b.checkPage("login error")
	if got := b.eval(`(() => {
  const f = document.getElementById("password");
  const ids = (f.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
  return ids.map(id => document.getElementById(id).textContent.trim()).join(" | ") + " / invalid=" + f.getAttribute("aria-invalid");
})()`); !strings.Contains(got, "incorrect") || !strings.HasSuffix(got, "invalid=true") {
		t.Errorf("login error: #password describedby/invalid = %q, want the error message and aria-invalid=true", got)
	}
	if v := tabRun(b, "username value", chromedp.Value(chromedp.ID("username"))); v != username {
		t.Errorf("login error: the user name field holds %q, want %q kept", v, username)
	}
	b.shots("login-error")

	// 3. The right password leads to the consent page.
	b.do("sign in",
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("allow")),
	)
	if p := b.location().Path; p != "/oauth2/authorize" {
		t.Errorf("after signing in the browser is on %s, want back on /oauth2/authorize", p)
	}
	b.checkPage("consent")
	page := b.text("main")
	for _, want := range []string{"Acme Dashboard", "orders:read", "profile", "Ada", strings.TrimPrefix(client.srv.URL, "http://")} {
		if !strings.Contains(page, want) {
			t.Errorf("the consent page does not show %q:\n%s", want, indent(page))
		}
	}
	if cls := b.layoutShift(); cls != "0.000" {
		t.Errorf("consent page: cumulative layout shift %s, want 0", cls)
	}
	b.shots("consent")

	// 4. Allow: back on the client app with a code and the state; the
	// client exchanges the code (with the PKCE verifier) and calls the API.
	b.do("allow", chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("result")))
	landed := b.location()
	if got := landed.Scheme + "://" + landed.Host + landed.Path; got != client.srv.URL+"/callback" {
		t.Errorf("Allow landed on %s, want the redirect URI %s/callback", got, client.srv.URL)
	}
	q := landed.Query()
	if q.Get("code") == "" || q.Get("state") == "" || q.Get("error") != "" {
		t.Errorf("Allow landed with query %v, want code and state", q)
	}
	res := client.wait(t)
	if res.err != nil {
		t.Fatalf("client app: %v", res.err)
	}
	if res.apiStatus != http.StatusOK {
		t.Fatalf("protected API answered %d", res.apiStatus)
	}
	h := http.Header(res.api.Headers)
	if h.Get("eg-consumer-id") != app.ID || h.Get("eg-token-authenticated-user-id") != user.ID {
		t.Errorf("upstream saw consumer %q user %q, want the app %q acting for the user %q",
			h.Get("eg-consumer-id"), h.Get("eg-token-authenticated-user-id"), app.ID, user.ID)
	}
	if got := h.Get("eg-token-scopes"); got != "orders:read profile" {
		t.Errorf("upstream saw scopes %q, want %q", got, "orders:read profile")
	}
	if h.Get("Authorization") != "" {
		t.Error("the access token was forwarded upstream")
	}
	if res.api.Path != "/api/orders/42" {
		t.Errorf("upstream path %q", res.api.Path)
	}
	if got := b.text("#result"); got != "API answered 200" {
		t.Errorf("client app page says %q", got)
	}

	// 5. Deny: the session is still there, so the consent page comes
	// straight away; Deny sends error=access_denied with the state.
	b.do("start again and deny",
		chromedp.Navigate(client.srv.URL+"/start"),
		chromedp.WaitVisible(chromedp.ID("deny")),
		chromedp.Click(chromedp.ID("deny")),
		chromedp.WaitVisible(chromedp.ID("result")),
	)
	q = b.location().Query()
	if q.Get("error") != "access_denied" || q.Get("state") == "" || q.Get("code") != "" {
		t.Errorf("Deny landed with query %v, want error=access_denied and the state", q)
	}
	if res := client.wait(t); res.err == nil || !strings.Contains(res.err.Error(), "access_denied") {
		t.Errorf("client app after Deny: %v", res.err)
	}

	// 6. An error page: an unknown client is not redirected anywhere.
	b.do("unknown client", chromedp.Navigate(g.base+"/oauth2/authorize?response_type=code&client_id=no-such-app"),
		chromedp.WaitVisible(chromedp.CSS("h1")))
	b.checkPage("error")
	if got := b.text("main"); !strings.Contains(got, "Unknown application") || !strings.Contains(got, "400") {
		t.Errorf("error page:\n%s", indent(got))
	}
	b.shots("error")

	// 7. Sign out asks first, then ends the session.
	b.do("sign out page", chromedp.Navigate(g.base+"/logout"), chromedp.WaitVisible(chromedp.ID("signout")))
	b.checkPage("logout")
	b.shots("logout")
	b.do("sign out", chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("username")))
	if p := b.location().Path; p != "/login" {
		t.Errorf("after signing out the browser is on %s, want /login", p)
	}
}
