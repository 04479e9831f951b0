package jwtauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
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

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/config/configtest"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policy/jwtauth"
	"github.com/gatehouse/gatehouse/internal/policyenv"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

// Tokens are minted with go-jose, a different JOSE library from the one
// that verifies them (golang-jwt), so a bug shared by signer and verifier
// cannot hide.

// secret is long enough for HS512 (go-jose enforces RFC 7518 §3.2).
const secret = "s3cr3t-0123456789abcdef0123456789abcdef0123456789abcdef-0123456789"

// t0 is the tests' fixed "now".
var t0 = time.Unix(1_800_000_000, 0)

type testKeys struct {
	rsa, rsa2, rsaWeak  *rsa.PrivateKey
	ec256, ec384, ec224 *ecdsa.PrivateKey
	ed                  ed25519.PrivateKey
}

var (
	keysOnce sync.Once
	keysVal  testKeys
)

func keys(t testing.TB) testKeys {
	t.Helper()
	keysOnce.Do(func() {
		must := func(err error) {
			if err != nil {
				panic(err)
			}
		}
		var err error
		keysVal.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		keysVal.rsa2, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		keysVal.rsaWeak, err = rsa.GenerateKey(rand.Reader, 1024) //nolint:gosec // a weak key the gateway must refuse
		must(err)
		keysVal.ec256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		keysVal.ec384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		must(err)
		keysVal.ec224, err = ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
		must(err)
		_, keysVal.ed, err = ed25519.GenerateKey(rand.Reader)
		must(err)
	})
	return keysVal
}

// mint signs claims with go-jose; headers are extra protected headers.
func mint(t testing.TB, alg jose.SignatureAlgorithm, key any, claims map[string]any, headers map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	for k, v := range headers {
		opts = opts.WithHeader(jose.HeaderKey(k), v)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatalf("signer %s: %v", alg, err)
	}
	tok, err := josejwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return tok
}

// unsigned builds a token by hand (alg none and other things no JOSE
// library will produce).
func unsigned(header, payload map[string]any, sig string) string {
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(payload)
	return b64(h) + "." + b64(p) + "." + sig
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// claimsAt returns a valid payload at now (sub, iat, exp in an hour), with
// overrides; a nil override removes the claim.
func claimsAt(now time.Time, kv ...any) map[string]any {
	c := map[string]any{"sub": "user-1", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(c, k)
			continue
		}
		c[k] = kv[i+1]
	}
	return c
}

func pemOf(t testing.TB, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkixPEM(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf(t, "PUBLIC KEY", der)
}

func certPEM(t testing.TB, k *rsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp.test"},
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf(t, "CERTIFICATE", der)
}

// keyDir writes every test key as a PEM file and returns the directory.
func keyDir(t testing.TB) string {
	t.Helper()
	k := keys(t)
	dir := t.TempDir()
	files := map[string][]byte{
		"rsa.pem":         pkixPEM(t, &k.rsa.PublicKey),
		"rsa2.pem":        pkixPEM(t, &k.rsa2.PublicKey),
		"rsa-pkcs1.pem":   pemOf(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)),
		"rsa-cert.pem":    certPEM(t, k.rsa),
		"rsa-weak.pem":    pkixPEM(t, &k.rsaWeak.PublicKey),
		"rsa-private.pem": pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k.rsa)),
		"ec256.pem":       pkixPEM(t, &k.ec256.PublicKey),
		"ec384.pem":       pkixPEM(t, &k.ec384.PublicKey),
		"ec224.pem":       pkixPEM(t, &k.ec224.PublicKey),
		"ed.pem":          pkixPEM(t, k.ed.Public()),
		"secret.txt":      []byte(secret),
		"broken.pem":      []byte("-----BEGIN PUBLIC KEY-----\nnot base64 at all\n-----END PUBLIC KEY-----\n"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func node(t testing.TB, src string) config.Node {
	t.Helper()
	return configtest.Action(t, src)
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.set(t); return c }
func (c *clock) now() time.Time   { return time.Unix(0, c.ns.Load()) }
func (c *clock) set(t time.Time)  { c.ns.Store(t.UnixNano()) }
func (c *clock) add(d time.Duration) {
	c.ns.Add(int64(d))
}

type fixture struct {
	s        *store.Store
	user     *store.User
	keyID    string // active jwt credential of alice, scopes read
	wideID   string // active jwt credential of alice, scopes read write
	offID    string // deactivated jwt credential
	bobID    string // active credential of a deactivated user
	appKeyID string // credential of an application
	app      *store.App
}

func setupStore(t testing.TB) fixture {
	t.Helper()
	ctx := context.Background()
	s := store.New(memstore.New(nil), store.Options{BcryptCost: 4})
	t.Cleanup(func() { s.Close() })
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	u, err := s.CreateUser(ctx, store.User{Username: "alice", Firstname: "A", Lastname: "L"})
	check(err)
	bob, err := s.CreateUser(ctx, store.User{Username: "bob", Firstname: "B", Lastname: "L"})
	check(err)
	check(s.CreateScopes(ctx, "read", "write"))
	c, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.JWT, KeyID: "alice-key", Scopes: []string{"read"}})
	check(err)
	w, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.JWT, KeyID: "alice-wide", Scopes: []string{"read", "write"}})
	check(err)
	off, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: u.ID, Type: store.JWT, KeyID: "alice-off"})
	check(err)
	_, err = s.SetCredentialActive(ctx, store.JWT, off.ID, false)
	check(err)
	b, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: bob.ID, Type: store.JWT, KeyID: "bob-key"})
	check(err)
	_, err = s.SetUserActive(ctx, bob.ID, false)
	check(err)
	app, err := s.CreateApp(ctx, store.App{Name: "billing", UserID: u.ID})
	check(err)
	ak, _, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: app.ID, Type: store.JWT, KeyID: "app-key"})
	check(err)
	return fixture{s: s, user: u, keyID: c.KeyID, wideID: w.KeyID, offID: off.KeyID, bobID: b.KeyID, appKeyID: ak.KeyID, app: app}
}

type result struct {
	status    int
	reason    string
	body      string
	wwwAuth   string
	called    bool
	header    http.Header // the request as the next step saw it
	url       string
	id        *pipeline.Identity
	anonymous bool
}

// serve runs req through p as the only step before a 200 handler.
func serve(p pipeline.Policy, req *http.Request, scopes ...string) result {
	st := &pipeline.State{RequestID: "req-1", Route: &pipeline.Route{Scopes: scopes}}
	req = pipeline.WithState(req, st)
	var res result
	next := pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		res.called, res.header, res.url = true, r.Header.Clone(), r.URL.String()
		w.WriteHeader(http.StatusOK)
		return nil
	})
	rec := httptest.NewRecorder()
	if err := p.Handle(rec, req, next); err != nil {
		pipeline.WriteError(rec, req, err, discard())
		var body map[string]string
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		res.reason = body["error"]
	}
	res.status, res.body, res.wwwAuth = rec.Code, rec.Body.String(), rec.Header().Get("WWW-Authenticate")
	res.id, res.anonymous = st.Identity, st.Anonymous
	return res
}

func bearer(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://api.test/x", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// jwksOf publishes public keys as a JWKS document.
func jwksOf(t testing.TB, keys ...jose.JSONWebKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jwk(pub any, kid, alg string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"}
}

// idp is a stand-in identity provider serving a JWKS it can change at
// every path but one: its OpenID configuration document, once setDiscovery
// gives it one, at /.well-known/openid-configuration under any prefix.
type idp struct {
	*httptest.Server
	body    atomic.Pointer[[]byte]
	status  atomic.Int32
	fetches atomic.Int64 // JWKS requests

	discovery       atomic.Pointer[[]byte]
	discoveryStatus atomic.Int32
	discoveryDelay  atomic.Int64 // ns
	discoveries     atomic.Int64
	discoveryPaths  sync.Map // path (with query) -> true
}

func newIDP(t testing.TB, doc []byte) *idp {
	t.Helper()
	i := &idp{}
	i.set(doc)
	i.status.Store(http.StatusOK)
	i.discoveryStatus.Store(http.StatusOK)
	i.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := i.discovery.Load(); d != nil && strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration") {
			i.discoveries.Add(1)
			i.discoveryPaths.Store(r.URL.RequestURI(), true)
			if ns := i.discoveryDelay.Load(); ns > 0 {
				select {
				case <-time.After(time.Duration(ns)):
				case <-r.Context().Done():
					return
				}
			}
			if code := int(i.discoveryStatus.Load()); code != http.StatusOK {
				w.WriteHeader(code)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(*d)
			return
		}
		i.fetches.Add(1)
		if code := int(i.status.Load()); code != http.StatusOK {
			w.WriteHeader(code)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*i.body.Load())
	}))
	t.Cleanup(i.Close)
	return i
}

func (i *idp) set(doc []byte) { i.body.Store(&doc) }

// setDiscovery serves doc (an OpenID Provider configuration: see
// providerConfig) as the discovery document.
func (i *idp) setDiscovery(doc []byte) { i.discovery.Store(&doc) }

// providerConfig is an OpenID Provider configuration document (OpenID
// Connect Discovery 1.0 §3) with the members a provider sends besides
// issuer and jwks_uri; extra adds or overrides members (nil removes one).
func providerConfig(t testing.TB, issuer, jwksURI string, extra ...any) []byte {
	t.Helper()
	m := map[string]any{
		"issuer": issuer, "jwks_uri": jwksURI,
		"authorization_endpoint":                issuer + "authorize",
		"token_endpoint":                        issuer + "oauth/token",
		"response_types_supported":              []string{"code", "id_token", "code id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	}
	for k := 0; k+1 < len(extra); k += 2 {
		if extra[k+1] == nil {
			delete(m, extra[k].(string))
			continue
		}
		m[extra[k].(string)] = extra[k+1]
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// closer is what policies holding resources implement.
type closer interface{ Close() }

func closeLater(t testing.TB, p pipeline.Policy) {
	if c, ok := p.(closer); ok {
		t.Cleanup(c.Close)
	}
}

func newPolicy(t testing.TB, action string, env *policyenv.Env) pipeline.Policy {
	t.Helper()
	p, err := jwtauth.New(node(t, action), env)
	if err != nil {
		t.Fatalf("load %q: %v", action, err)
	}
	closeLater(t, p)
	return p
}
