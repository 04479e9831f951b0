// Command tokens makes the credentials the load benchmark (bench/run.sh)
// sends, and serves what an authorization server would: signing keys, JWTs,
// a JWKS document, an RFC 7662 introspection endpoint, and opaque access
// tokens fetched from a running gateway's /oauth2/token.
//
//	tokens keys   -dir DIR                       HMAC secret, RSA and EC key pairs, jwks.json
//	tokens jwt    -dir DIR -alg RS256 -n 1000 -out FILE [-kid] [-aud] [-iss] [-ttl]
//	tokens random -n 1 -prefix bench- -out FILE  random opaque strings
//	tokens issue  -url URL -client FILE -n 1000 -out FILE [-c 8]
//	tokens serve  -addr 127.0.0.1:9103 -dir DIR   GET /jwks.json, POST /introspect, GET /stats
//
// Secrets and tokens only ever go to files (mode 0600) or over loopback:
// nothing here prints one.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("tokens: ")
	if len(os.Args) < 2 {
		log.Fatal("usage: tokens keys|jwt|random|issue|serve [flags]")
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "keys":
		err = cmdKeys(args)
	case "jwt":
		err = cmdJWT(args)
	case "random":
		err = cmdRandom(args)
	case "issue":
		err = cmdIssue(args)
	case "serve":
		err = cmdServe(args)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// Key ids of the two asymmetric keys in jwks.json.
const (
	kidRSA = "bench-rsa"
	kidEC  = "bench-ec"
)

// cmdKeys writes hs256.key (an HMAC secret: 64 hex characters), rsa.key and
// rsa.pub (RSA 2048), ec.key and ec.pub (P-256), and jwks.json with both
// public keys.
func cmdKeys(args []string) error {
	fs := flag.NewFlagSet("keys", flag.ExitOnError)
	dir := fs.String("dir", ".", "output folder")
	_ = fs.Parse(args)
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	var hs [32]byte
	_, _ = rand.Read(hs[:])
	if err := write(filepath.Join(*dir, "hs256.key"), []byte(hex.EncodeToString(hs[:]))); err != nil {
		return err
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	for name, k := range map[string]any{"rsa": rk, "ec": ek} {
		priv, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return err
		}
		pub, err := x509.MarshalPKIXPublicKey(k.(crypto.Signer).Public())
		if err != nil {
			return err
		}
		if err := write(filepath.Join(*dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv})); err != nil {
			return err
		}
		if err := write(filepath.Join(*dir, name+".pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})); err != nil {
			return err
		}
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &rk.PublicKey, KeyID: kidRSA, Algorithm: "RS256", Use: "sig"},
		{Key: &ek.PublicKey, KeyID: kidEC, Algorithm: "ES256", Use: "sig"},
	}}
	b, err := json.Marshal(set)
	if err != nil {
		return err
	}
	return write(filepath.Join(*dir, "jwks.json"), b)
}

// cmdJWT mints n tokens, each with its own sub and jti, and writes them one
// per line.
func cmdJWT(args []string) error {
	fs := flag.NewFlagSet("jwt", flag.ExitOnError)
	dir := fs.String("dir", ".", "folder written by `tokens keys`")
	alg := fs.String("alg", "HS256", "HS256, RS256 or ES256")
	kid := fs.Bool("kid", false, "put the key's id (as in jwks.json) in the header")
	n := fs.Int("n", 1, "number of tokens")
	out := fs.String("out", "", "output file (one token per line)")
	aud := fs.String("aud", "", "aud claim")
	iss := fs.String("iss", "", "iss claim")
	ttl := fs.Duration("ttl", 2*time.Hour, "lifetime (exp - iat)")
	_ = fs.Parse(args)
	if *out == "" || *n < 1 {
		return errors.New("jwt: -out and a positive -n are required")
	}
	method, key, keyID, err := signingKey(*dir, *alg, *kid)
	if err != nil {
		return err
	}
	toks, err := mintJWTs(*n, method, key, keyID, *aud, *iss, *ttl)
	if err != nil {
		return err
	}
	return writeLines(*out, toks)
}

// signingKey reads the key `tokens keys` wrote for alg; keyID is the
// key's id in jwks.json when withKID (HMAC keys have none).
func signingKey(dir, alg string, withKID bool) (method jwt.SigningMethod, key any, keyID string, err error) {
	switch alg {
	case "HS256":
		b, err := os.ReadFile(filepath.Join(dir, "hs256.key"))
		if err != nil {
			return nil, nil, "", err
		}
		return jwt.SigningMethodHS256, b, "", nil
	case "RS256", "ES256":
		name, kidName := "rsa", kidRSA
		method = jwt.SigningMethodRS256
		if alg == "ES256" {
			name, kidName, method = "ec", kidEC, jwt.SigningMethodES256
		}
		b, err := os.ReadFile(filepath.Join(dir, name+".key"))
		if err != nil {
			return nil, nil, "", err
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, nil, "", fmt.Errorf("%s.key: not PEM", name)
		}
		if key, err = x509.ParsePKCS8PrivateKey(blk.Bytes); err != nil {
			return nil, nil, "", err
		}
		if withKID {
			keyID = kidName
		}
		return method, key, keyID, nil
	}
	return nil, nil, "", fmt.Errorf("jwt: unsupported -alg %s", alg)
}

// mintJWTs signs n tokens on every CPU (RS256 signing is slow), each with
// its own sub and jti.
func mintJWTs(n int, method jwt.SigningMethod, key any, keyID, aud, iss string, ttl time.Duration) ([]string, error) {
	now := time.Now()
	toks := make([]string, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(toks) {
					return
				}
				c := jwt.MapClaims{
					"sub":   fmt.Sprintf("bench-user-%d", i),
					"jti":   fmt.Sprintf("%d-%s", i, randHex(8)),
					"iat":   now.Unix(),
					"exp":   now.Add(ttl).Unix(),
					"scope": "read write",
				}
				if aud != "" {
					c["aud"] = aud
				}
				if iss != "" {
					c["iss"] = iss
				}
				t := jwt.NewWithClaims(method, c)
				if keyID != "" {
					t.Header["kid"] = keyID
				}
				s, err := t.SignedString(key)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				toks[i] = s
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return toks, nil
}

// cmdRandom writes n random opaque tokens.
func cmdRandom(args []string) error {
	fs := flag.NewFlagSet("random", flag.ExitOnError)
	n := fs.Int("n", 1, "number of tokens")
	prefix := fs.String("prefix", "bench-", "prefix (the serve command's introspection answers active for it)")
	out := fs.String("out", "", "output file")
	_ = fs.Parse(args)
	if *out == "" || *n < 1 {
		return errors.New("random: -out and a positive -n are required")
	}
	toks := make([]string, *n)
	for i := range toks {
		toks[i] = *prefix + randHex(16)
	}
	return writeLines(*out, toks)
}

// cmdIssue gets n access tokens from /oauth2/token with the client
// credentials grant (HTTP Basic client authentication), c requests at a
// time, and writes them one per line. The client file holds
// "client_id:client_secret" (what `gatehouse credentials create -t oauth2 -q`
// prints).
func cmdIssue(args []string) error {
	fs := flag.NewFlagSet("issue", flag.ExitOnError)
	tokenURL := fs.String("url", "", "token endpoint URL")
	clientFile := fs.String("client", "", `file holding "client_id:client_secret"`)
	n := fs.Int("n", 1, "number of tokens")
	c := fs.Int("c", 8, "concurrent requests")
	out := fs.String("out", "", "output file")
	_ = fs.Parse(args)
	if *tokenURL == "" || *clientFile == "" || *out == "" || *n < 1 || *c < 1 {
		return errors.New("issue: -url, -client, -out and positive -n and -c are required")
	}
	b, err := os.ReadFile(*clientFile)
	if err != nil {
		return err
	}
	id, sec, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	if !ok {
		return errors.New(`issue: the client file must hold "client_id:client_secret"`)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *c, MaxIdleConns: *c}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	body := []byte("grant_type=client_credentials")
	toks := make([]string, *n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	ctx := context.Background()
	for range *c {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(toks) {
					return
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, *tokenURL, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(sec))
				tok, err := fetchToken(hc, req)
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("issue: token %d: %w", i, err) })
					return
				}
				toks[i] = tok
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return writeLines(*out, toks)
}

func fetchToken(hc *http.Client, req *http.Request) (string, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		return "", fmt.Errorf("status %d %s", resp.StatusCode, e.Error) // never the body: it may hold a token
	}
	var t struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &t); err != nil || t.AccessToken == "" {
		return "", errors.New("no access_token in the answer")
	}
	return t.AccessToken, nil
}

// cmdServe serves DIR/jwks.json at /jwks.json and an RFC 7662 introspection
// endpoint at /introspect that says active for any token starting with
// "bench-" (scope "read write", an hour to live) and inactive otherwise.
// /stats prints how many calls each got, so a run can tell that the
// gateway's caches did their work.
func cmdServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:9103", "listen address")
	dir := fs.String("dir", ".", "folder written by `tokens keys`")
	_ = fs.Parse(args)
	jwks, err := os.ReadFile(filepath.Join(*dir, "jwks.json"))
	if err != nil {
		return err
	}
	var jwksCalls, introCalls atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, r *http.Request) {
		jwksCalls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	})
	mux.HandleFunc("POST /introspect", func(w http.ResponseWriter, r *http.Request) {
		introCalls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		tok := r.PostFormValue("token")
		if !strings.HasPrefix(tok, "bench-") {
			_, _ = w.Write([]byte(`{"active":false}`))
			return
		}
		sum := tok[len(tok)-8:]
		_ = json.NewEncoder(w).Encode(map[string]any{
			"active": true, "scope": "read write", "sub": "bench-user-" + sum, "client_id": "bench-client",
			"username": "bench", "jti": sum, "exp": time.Now().Add(time.Hour).Unix(),
		})
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "jwks %d\nintrospect %d\n", jwksCalls.Load(), introCalls.Load())
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("serving /jwks.json and /introspect on %s", *addr)
	return srv.ListenAndServe()
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func write(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }

func writeLines(path string, lines []string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, l := range lines {
		_, _ = w.WriteString(l)
		_ = w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
