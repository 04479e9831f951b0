package jwtauth_test

import (
	"context"
	"crypto/ecdsa"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policy/jwtauth"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

// poolSize distinct tokens are cycled through with a cache of half that
// size: in LRU order every lookup misses, so "cold" measures a full
// verification (and the cache insert) per operation.
const poolSize = 1024

var (
	poolsMu sync.Mutex
	pools   = map[string][]string{}
)

func tokenPool(b *testing.B, name string, alg jose.SignatureAlgorithm, key any, hdr map[string]any) []string {
	poolsMu.Lock()
	defer poolsMu.Unlock()
	if p, ok := pools[name]; ok {
		return p
	}
	p := make([]string, poolSize)
	for i := range p {
		p[i] = mint(b, alg, key, claimsAt(t0, "n", i, "aud", "api", "scope", "read write"), hdr)
	}
	pools[name] = p
	return p
}

func BenchmarkVerify(b *testing.B) {
	k := keys(b)
	ctx := context.Background()
	now := func() time.Time { return t0 }
	rsaSet := jwkset.NewMemoryStorage()
	j, _ := jwkset.NewJWKFromKey(&k.rsa.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k1", ALG: jwkset.AlgRS256, USE: jwkset.UseSig}})
	_ = rsaSet.KeyWrite(ctx, j)
	for _, c := range []struct {
		name string
		alg  jose.SignatureAlgorithm
		sign any
		cfg  jwtauth.Config
		hdr  map[string]any
	}{
		{"HS256", jose.HS256, []byte(secret), jwtauth.Config{Key: []byte(secret)}, nil},
		{"RS256", jose.RS256, k.rsa, jwtauth.Config{Key: &k.rsa.PublicKey}, nil},
		{"ES256", jose.ES256, k.ec256, jwtauth.Config{Key: k.ec256.Public().(*ecdsa.PublicKey)}, nil},
		{"RS256-keyset", jose.RS256, k.rsa, jwtauth.Config{KeySet: rsaSet}, map[string]any{"kid": "k1"}},
	} {
		toks := tokenPool(b, c.name, c.alg, c.sign, c.hdr)
		for _, mode := range []string{"cached", "cold"} {
			cfg := c.cfg
			cfg.Now, cfg.Audiences = now, []string{"api"}
			if mode == "cold" {
				cfg.CacheSize = poolSize / 2
			}
			v, err := jwtauth.NewVerifier(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(c.name+"/"+mode, func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					tok := toks[0]
					if mode == "cold" {
						tok = toks[i%poolSize]
						i++
					}
					if _, reason, err := v.Verify(ctx, tok); err != nil {
						b.Fatal(reason, err)
					}
				}
			})
		}
	}
}

// BenchmarkPolicy is the whole step (extraction, cached verification,
// identity) as a pipeline runs it.
func BenchmarkPolicy(b *testing.B) {
	f := setupStore(b)
	env := &policyenv.Env{Logger: discard(), Now: func() time.Time { return t0 }, Identity: f.s}
	next := pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	for _, c := range []struct{ name, action, sub string }{
		{"uncontrolled", "{secretOrPublicKey: '" + secret + "', checkCredentialExistence: false}", "user-1"},
		{"controlled", "{secretOrPublicKey: '" + secret + "'}", f.keyID},
	} {
		p := newPolicy(b, c.action, env)
		tok := mint(b, jose.HS256, []byte(secret), claimsAt(t0, "sub", c.sub, "scope", "read"), nil)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			req, _ := http.NewRequest(http.MethodGet, "http://api.test/x", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			st := &pipeline.State{Route: &pipeline.Route{Scopes: []string{"read"}}}
			req = pipeline.WithState(req, st)
			for b.Loop() {
				if err := p.Handle(nil, req, next); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
