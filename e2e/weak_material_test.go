package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Issue #11 §3 (weak material refused) and §4 (clients registered safely),
// end to end: through the real Admin API and the real CLI binary, at
// app start, and with golang.org/x/oauth2 as a native app.

// TestWeakSecretsRefusedByCLI: `gatehouse credentials create` and
// `rotate-secret` with a weak chosen secret, and `gatehouse apps create`
// with an unsafe redirect URI, exit non-zero with one readable line that
// names the rule; nothing is created.
func TestWeakSecretsRefusedByCLI(t *testing.T) {
	bin := buildBinary(t)
	g := startGateway(t, "http: {port: 0, host: 127.0.0.1}\nadmin: {port: 0, host: 127.0.0.1}\n",
		func(o *app.Options) { o.BcryptCost = 4 })
	adminURL := "http://" + g.app.Addr("admin").String()
	cli := func(stdin string, args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--admin-url", adminURL, "--config-dir", t.TempDir())...)
		cmd.Env = append(os.Environ(), "GATEHOUSE_ADMIN_KEY=", "EG_ADMIN_URL=")
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	mustOK := func(args ...string) string {
		t.Helper()
		out, errOut, code := cli("", args...)
		if code != 0 {
			t.Fatalf("gatehouse %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
		}
		return strings.TrimSpace(out)
	}
	annID := mustOK("users", "create", "-p", "username=ann", "-p", "firstname=Ann", "-p", "lastname=A", "-q")
	appID := mustOK("apps", "create", "-u", "ann", "-p", "name=shop", "-p", "redirectUri=https://shop.example/cb", "-q")

	for _, tt := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"credentials", "create", "-c", "ann", "-t", "basic-auth", "-p", "password=1"},
			"gatehouse: a basic-auth password must be at least 8 characters (got 1): NIST SP 800-63B §5.1.1.2; the minimum is crypto.minPasswordLength in system.config.yml"},
		{"", []string{"credentials", "create", "-c", "shop", "-t", "oauth2", "-p", "secret=a"},
			"gatehouse: an oauth2 client secret must be at least 32 characters (got 1); leave it out to have a random one generated"},
		{"", []string{"credentials", "create", "-c", "ann", "-t", "key-auth", "-p", "keyId=ann-key", "-p", "keySecret=x"},
			"gatehouse: a key-auth keySecret must be at least 22 characters (got 1); leave it out to have a random one generated"},
		{"", []string{"credentials", "create", "-c", "shop", "-t", "oauth2", "-p", `redirectUris=["https://shop.example/*"]`},
			`gatehouse: redirect URI "https://shop.example/*" must not contain a wildcard (*): every redirect URI is compared exactly, so list each one (RFC 9700 §2.1)`},
		{"", []string{"apps", "create", "-u", "ann", "-p", "name=evil", "-p", "redirectUri=http://evil.example/cb"},
			`gatehouse: redirect URI "http://evil.example/cb" must use https: plain http is accepted only on loopback (http://127.0.0.1, http://[::1], http://localhost), for native apps (RFC 6749 §3.1.2.1, RFC 8252 §7.3)`},
		{"", []string{"apps", "update", appID, "-p", "redirectUri=javascript:alert(1)"},
			`gatehouse: redirect URI "javascript:alert(1)" is refused: a javascript: URI is never a redirect URI (it runs script or reads local files)`},
	} {
		out, errOut, code := cli(tt.stdin, tt.args...)
		if code == 0 {
			t.Errorf("gatehouse %s: exit 0, want an error\n%s", strings.Join(tt.args, " "), out)
			continue
		}
		if got := strings.TrimSuffix(errOut, "\n"); got != tt.want {
			t.Errorf("gatehouse %s: stderr\n got: %q\nwant: %q", strings.Join(tt.args, " "), errOut, tt.want)
		}
	}
	// Nothing was stored by the refusals; generated secrets are fine, and
	// rotation to a weak chosen secret is refused the same way.
	if out := mustOK("credentials", "list", "-c", "ann", "-q"); out != "" {
		t.Errorf("credentials of ann after refusals: %q", out)
	}
	mustOK("credentials", "create", "-c", "shop", "-t", "oauth2", "-q")
	_, errOut, code := cli("b\n", "credentials", "rotate-secret", appID, "-t", "oauth2", "--secret-stdin")
	if want := "gatehouse: an oauth2 client secret must be at least 32 characters (got 1); leave it out to have a random one generated\n"; code == 0 || errOut != want {
		t.Errorf("rotate-secret to b: exit %d, stderr %q, want %q", code, errOut, want)
	}
	if annID == "" {
		t.Fatal("no user id")
	}
}

// TestWeakConfigRefusedAtStart: bcrypt saltRounds under 10, a password
// minimum under 8, and HMAC keys shorter than their hash (the jwt policy's
// and the authorization server's own) stop the gateway at start with the
// rule named; they used to start (the jwt key with a warning).
func TestWeakConfigRefusedAtStart(t *testing.T) {
	const gw = "http: {port: 0, host: 127.0.0.1}\n"
	const jwtGW = `http: {port: 0, host: 127.0.0.1}
apiEndpoints: {api: {paths: '/api/*'}}
serviceEndpoints: {up: {url: 'http://127.0.0.1:1'}}
policies: [jwt, proxy]
pipelines:
  p:
    apiEndpoints: [api]
    policies:
      - jwt: {action: {secretOrPublicKey: elevenbytes, checkCredentialExistence: false}}
      - proxy: {action: {serviceEndpoint: up}}
`
	const oauthGW = `http: {port: 0, host: 127.0.0.1}
apiEndpoints: {api: {paths: '/api/*'}}
serviceEndpoints: {up: {url: 'http://127.0.0.1:1'}}
policies: [oauth2, proxy]
pipelines:
  p:
    apiEndpoints: [api]
    policies: [{oauth2: }, {proxy: {action: {serviceEndpoint: up}}}]
`
	for _, tt := range []struct {
		name, gateway, system, want string
	}{
		{"saltRounds 1", gw, "crypto:\n  saltRounds: 1\n",
			"system.config.yml:2: crypto.saltRounds: must be at least 10 (the bcrypt cost of passwords and chosen secrets: each step down halves the work of guessing a stolen hash), got 1"},
		{"minPasswordLength 4", gw, "crypto:\n  minPasswordLength: 4\n",
			"system.config.yml:2: crypto.minPasswordLength: must be at least 8 (NIST SP 800-63B §5.1.1.2), got 4"},
		{"jwt policy HS256 key of 11 bytes", jwtGW, "",
			"gateway.config.yml:9: pipelines.p.policies[0].jwt.action.secretOrPublicKey: HS256 needs a key of at least 32 bytes (RFC 7518 §3.2), got 11"},
		{"authorization server HS512 key of 40 bytes", oauthGW,
			"accessTokens:\n  tokenType: jwt\n  algorithm: HS512\n  secretOrPrivateKey: " + strings.Repeat("k", 40) + "\n",
			"accessTokens: secretOrPrivateKey: HS512 needs a key of at least 64 bytes (RFC 7518 §3.2), got 40"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeConfig(t, dir, tt.gateway)
			if tt.system != "" {
				if err := os.WriteFile(filepath.Join(dir, "system.config.yml"), []byte(tt.system), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			a, err := app.Start(app.Options{ConfigDir: dir, Logger: slog.New(slog.DiscardHandler), ReloadInterval: -1,
				Lookup: func(string) (string, bool) { return "", false }})
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = a.Shutdown(ctx)
				t.Fatalf("started; want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("start error:\n got: %v\nwant it to contain: %s", err, tt.want)
			}
		})
	}
}

// TestLoopbackRedirectAnyPort: a native app registers
// http://127.0.0.1/callback (no port) and, at authorization time, asks to
// be sent to the port its loopback listener got (RFC 8252 §7.3). The whole
// code flow runs with golang.org/x/oauth2 and PKCE; the redirect really
// reaches the app's listener. Any other difference than the port is still
// refused.
func TestLoopbackRedirectAnyPort(t *testing.T) {
	g := startOAuth(t, opaqueSystem)
	native, err := g.s.CreateApp(g.ctx, store.App{UserID: g.alice.ID, Name: "native", RedirectURI: "http://127.0.0.1/callback"})
	if err != nil {
		t.Fatal(err)
	}
	no := false
	if _, _, err := g.s.CreateCredential(g.ctx, store.CredentialInput{ConsumerID: native.ID, Type: store.OAuth2,
		AutoGeneratePassword: &no, Scopes: []string{"read"}, RedirectURIs: []string{"http://[::1]/callback"}}); err != nil {
		t.Fatal(err)
	}

	// The app's loopback listener, on a port the system chose.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var got atomic.Value
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.URL.Query())
		fmt.Fprintln(w, "You can close this window.")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	redirect := "http://" + ln.Addr().String() + "/callback"

	e := g.endpoint()
	e.AuthStyle = oauth2.AuthStyleInParams
	conf := &oauth2.Config{ClientID: native.ID, Endpoint: e, RedirectURL: redirect, Scopes: []string{"read"}}
	verifier := oauth2.GenerateVerifier()
	b := newBrowser(t, g.base)
	state := oauth2.GenerateVerifier()[:16]
	page := b.consent(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), "alice", "alice-password")
	st, loc, body := b.decide(page, true)
	if st != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), redirect+"?") {
		t.Fatalf("decision = %d, Location %v, want a redirect to %s\n%s", st, loc, redirect, body)
	}
	resp, err := http.Get(loc.String()) // the browser follows it to the app
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	q, _ := got.Load().(url.Values)
	if q.Get("state") != state || q.Get("code") == "" {
		t.Fatalf("the app's listener got %v", q)
	}
	tok, err := conf.Exchange(g.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if r := g.call(t, "/read/x", tok.AccessToken); r.StatusCode != http.StatusOK {
		t.Fatalf("token from the loopback flow: %d %s", r.StatusCode, readBody(t, r))
	}

	// The token request must name the redirect URI of the authorization
	// request, port included (RFC 6749 §4.1.3).
	page = b.consent(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), "alice", "alice-password")
	_, loc, _ = b.decide(page, true)
	portless := &oauth2.Config{ClientID: native.ID, Endpoint: e, RedirectURL: "http://127.0.0.1/callback"}
	if _, err := portless.Exchange(g.ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier)); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("exchange with the registered (portless) URI instead of the requested one: %v, want invalid_grant", err)
	}

	// The credential's [::1] URI matches on any port too.
	v6 := *conf
	v6.RedirectURL = "http://[::1]:51000/callback"
	page = b.consent(v6.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), "alice", "alice-password")
	if _, loc, _ := b.decide(page, true); loc == nil || !strings.HasPrefix(loc.String(), "http://[::1]:51000/callback?") {
		t.Errorf("[::1] with a port: redirected to %v", loc)
	}

	// Only the port is free.
	for _, bad := range []string{
		"http://" + ln.Addr().String() + "/callback/other",
		"http://" + ln.Addr().String() + "/callback?x=1",
		"http://localhost:" + fmt.Sprint(ln.Addr().(*net.TCPAddr).Port) + "/callback",
		"https://127.0.0.1:" + fmt.Sprint(ln.Addr().(*net.TCPAddr).Port) + "/callback",
	} {
		c := *conf
		c.RedirectURL = bad
		st, _, page := b.get(c.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
		if st != http.StatusBadRequest || !strings.Contains(page, "The redirect URI is not registered for this application.") {
			t.Errorf("redirect_uri %s: %d, want 400 (not registered)", bad, st)
		}
	}
}
