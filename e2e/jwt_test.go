package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// The Auth0 recipe of Express Gateway's docs (seed 004), end to end: an
// identity provider signs RS256 access tokens for the API "http://orders";
// the gateway verifies them with the jwt policy (uncontrolled mode) and
// proxies to the upstream. Tokens are minted with go-jose, a different JOSE
// library from the gateway's.

// stubIdP stands in for Auth0: it serves its JWKS at
// /.well-known/jwks.json and mints access tokens with its current key.
type stubIdP struct {
	srv     *httptest.Server
	issuer  string // https://<tenant>/ in Auth0; the stub's URL here
	mu      sync.Mutex
	keys    map[string]*rsa.PrivateKey
	publish []string // kids in the JWKS
	signKID string
	fetches atomic.Int64
}

func newStubIdP(t *testing.T) *stubIdP {
	t.Helper()
	i := &stubIdP{keys: map[string]*rsa.PrivateKey{}}
	i.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		i.fetches.Add(1)
		i.mu.Lock()
		var set jose.JSONWebKeySet
		for _, kid := range i.publish {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &i.keys[kid].PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"})
		}
		i.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(i.srv.Close)
	i.issuer = i.srv.URL + "/"
	return i
}

// addKey generates a key; it is neither published nor used yet.
func (i *stubIdP) addKey(t *testing.T, kid string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	i.mu.Lock()
	i.keys[kid] = k
	i.mu.Unlock()
}

func (i *stubIdP) setPublished(kids ...string) {
	i.mu.Lock()
	i.publish = kids
	i.mu.Unlock()
}

func (i *stubIdP) signWith(kid string) {
	i.mu.Lock()
	i.signKID = kid
	i.mu.Unlock()
}

// token is what Auth0's client-credentials grant returns for the API.
func (i *stubIdP) token(t *testing.T, lifetime time.Duration, extra map[string]any) string {
	t.Helper()
	i.mu.Lock()
	kid, key := i.signKID, i.keys[i.signKID]
	i.mu.Unlock()
	now := time.Now()
	claims := map[string]any{
		"iss": i.issuer, "sub": "tGbc4k@clients", "aud": "http://orders",
		"iat": now.Unix(), "exp": now.Add(lifetime).Unix(), "azp": "tGbc4k",
		"scope": "read:orders", "gty": "client-credentials",
	}
	for k, v := range extra {
		claims[k] = v
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func getWithToken(t *testing.T, client *http.Client, url, tok string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return client.Do(req)
}

// TestJWTAuth0RecipeWithPublicKeyFile is the recipe as Express Gateway
// documents it: the tenant's public key downloaded to ./key/pubKey.pem.
func TestJWTAuth0RecipeWithPublicKeyFile(t *testing.T) {
	idp := newStubIdP(t)
	idp.addKey(t, "k1")
	idp.signWith("k1")
	up := echoServer(t, "orders")
	g := startGateway(t, fmt.Sprintf(`http:
  port: 0
  host: 127.0.0.1
apiEndpoints:
  api:
    host: '*'
    paths: '/api/*'
serviceEndpoints:
  example:
    url: '%s'
policies: [jwt, proxy]
pipelines:
  default:
    apiEndpoints: [api]
    policies:
      - jwt:
          - action:
              secretOrPublicKeyFile: ./key/pubKey.pem
              checkCredentialExistence: false
      - proxy:
          - action:
              serviceEndpoint: example
`, up.URL), func(o *appOptions) {
		der, err := x509.MarshalPKIXPublicKey(&idp.keys["k1"].PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(o.ConfigDir, "key"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(o.ConfigDir, "key", "pubKey.pem"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
			t.Fatal(err)
		}
	})

	// "curl http://localhost:8080 → Unauthorized"
	resp := get(t, g.base+"/api/orders")
	body := readBody(t, resp)
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="gatehouse"` || !strings.Contains(body, `"error":"missing_token"`) {
		t.Fatalf("no token: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	// "curl -H "Authorization: Bearer $JWT" http://localhost:8080 → 200"
	tok := idp.token(t, time.Hour, nil)
	resp, err := getWithToken(t, http.DefaultClient, g.base+"/api/orders", tok)
	if err != nil {
		t.Fatal(err)
	}
	seen := decodeEcho(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("with the token: %d", resp.StatusCode)
	}
	// Without the store the token's subject is not a consumer id (issue
	// #10 §3): it arrives as eg-token-sub, and there is no eg-consumer-id.
	if got := seen.Headers["Eg-Token-Sub"]; len(got) != 1 || got[0] != "tGbc4k@clients" {
		t.Errorf("eg-token-sub upstream = %v, want the token's sub", got)
	}
	if got := seen.Headers["Eg-Consumer-Id"]; len(got) != 0 {
		t.Errorf("eg-consumer-id upstream = %v, want none for a token the store does not know", got)
	}
	if got := seen.Headers["Authorization"]; len(got) != 1 || got[0] != "Bearer "+tok {
		t.Error("the token is forwarded upstream unchanged (Express Gateway does the same)")
	}
	// A token for another API is refused, with a reason.
	resp, err = getWithToken(t, http.DefaultClient, g.base+"/api/orders", idp.token(t, time.Hour, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}))
	if err != nil {
		t.Fatal(err)
	}
	body = readBody(t, resp)
	if resp.StatusCode != 401 || !strings.Contains(body, `"error":"token_expired"`) ||
		!strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm="gatehouse", error="invalid_token", error_description="the token has expired"`) {
		t.Errorf("expired: %d %v %s", resp.StatusCode, resp.Header, body)
	}
}

// TestJWTAuth0RecipeWithJWKSRotation: the same recipe with jwksUri, the
// way Auth0, Okta and Keycloak are used today. While requests run, the IdP
// rotates its signing key (publishing old+new, signing with new, then
// withdrawing old once old tokens have expired): no request fails.
func TestJWTAuth0RecipeWithJWKSRotation(t *testing.T) {
	idp := newStubIdP(t)
	idp.addKey(t, "k1")
	idp.addKey(t, "k2")
	idp.setPublished("k1")
	idp.signWith("k1")
	up := echoServer(t, "orders")
	g := startGateway(t, fmt.Sprintf(`http: {port: 0, host: 127.0.0.1}
apiEndpoints:
  api: {host: '*', paths: '/api/*', scopes: ['read:orders']}
serviceEndpoints:
  orders: {url: '%s'}
policies: [jwt, proxy]
pipelines:
  default:
    apiEndpoints: [api]
    policies:
      - jwt:
          action:
            jwksUri: '%s.well-known/jwks.json'
            issuer: '%s'
            audience: http://orders
            checkCredentialExistence: false
            claimsToHeaders: {azp: x-client-id}
      - proxy:
          action: {serviceEndpoint: orders}
`, up.URL, idp.issuer, idp.issuer))

	// Clients always use the IdP's latest token, renewed every 50ms.
	const lifetime = 2 * time.Second
	var current atomic.Pointer[string]
	renew := func() { tok := idp.token(t, lifetime, nil); current.Store(&tok) }
	renew()
	stopMint := make(chan struct{})
	var mintWG sync.WaitGroup
	mintWG.Add(1)
	go func() {
		defer mintWG.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopMint:
				return
			case <-tick.C:
				renew()
			}
		}
	}()

	var ok, failed atomic.Int64
	var failures sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200000; i++ { // bounded; normally ended by stop
				select {
				case <-stop:
					return
				default:
				}
				resp, err := getWithToken(t, client, g.base+"/api/orders", *current.Load())
				if err != nil {
					failed.Add(1)
					failures.Store(err.Error(), true)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(b), `"X-Client-Id":["tGbc4k"]`) {
					failed.Add(1)
					failures.Store(fmt.Sprintf("%d %s", resp.StatusCode, b), true)
					continue
				}
				ok.Add(1)
			}
		}()
	}

	time.Sleep(300 * time.Millisecond)
	// Rotation, as an IdP does it: publish the new key first...
	idp.setPublished("k1", "k2")
	time.Sleep(100 * time.Millisecond)
	// ...then sign with it: the gateway meets kid k2 and refetches at once.
	idp.signWith("k2")
	renew()
	switched := time.Now()
	// Once every k1 token has expired, withdraw k1.
	time.Sleep(time.Until(switched.Add(lifetime + time.Second)))
	idp.setPublished("k2")
	time.Sleep(300 * time.Millisecond)

	close(stop)
	wg.Wait()
	close(stopMint)
	mintWG.Wait()

	if failed.Load() > 0 {
		var msgs []string
		failures.Range(func(k, _ any) bool { msgs = append(msgs, k.(string)); return true })
		t.Fatalf("%d of %d requests failed during the key rotation:\n%s", failed.Load(), failed.Load()+ok.Load(), indent(strings.Join(msgs, "\n")))
	}
	if ok.Load() < 50 {
		t.Errorf("only %d requests ran", ok.Load())
	}
	if n := idp.fetches.Load(); n > 4 {
		t.Errorf("the JWKS was fetched %d times for one rotation; keys should be cached", n)
	}
	t.Logf("%d requests, no failure; JWKS fetched %d times", ok.Load(), idp.fetches.Load())

	// After the rotation: a token for another audience, or without the
	// endpoint's scope, is refused with its reason (and never echoed).
	for _, c := range []struct{ tok, reason string }{
		{idp.token(t, time.Hour, map[string]any{"aud": "http://billing"}), "audience_mismatch"},
		{idp.token(t, time.Hour, map[string]any{"scope": "write:orders"}), "insufficient_scope"},
	} {
		resp, err := getWithToken(t, http.DefaultClient, g.base+"/api/orders", c.tok)
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		if !strings.Contains(body, `"error":"`+c.reason+`"`) || strings.Contains(body, c.tok) {
			t.Errorf("%s: %d %s", c.reason, resp.StatusCode, body)
		}
	}
	if strings.Contains(g.logs.String(), *current.Load()) || strings.Contains(g.acc.String(), *current.Load()) {
		t.Error("a token appeared in the logs")
	}
}
