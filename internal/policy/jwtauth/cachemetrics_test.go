package jwtauth_test

import (
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/config/configtest"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/metrics/metricstest"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policy/jwtauth"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

// TestCacheSizeSeriesPerStep: each jwt step's cache is its own
// gatehouse_cache_entries series, named by the step's config path; a
// reload's rebuilt step takes the series over from its first stored token
// on, and a step built but never used (a refused reload) never does.
func TestCacheSizeSeriesPerStep(t *testing.T) {
	m := metrics.New()
	env := &policyenv.Env{Logger: discard(), Metrics: m, Now: func() time.Time { return t0 }}
	const action = "{secretOrPublicKey: " + secret + ", checkCredentialExistence: false}"
	build := func(path string) pipeline.Policy {
		t.Helper()
		p, err := jwtauth.New(configtest.Node(t, path+".action", action), env)
		if err != nil {
			t.Fatal(err)
		}
		closeLater(t, p)
		return p
	}
	use := func(p pipeline.Policy, n int) {
		t.Helper()
		for i := range n {
			tok := mint(t, jose.HS256, []byte(secret), claimsAt(t0, "jti", t.Name()+string(rune('a'+i))), nil)
			if r := serve(p, bearer(tok)); r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
		}
	}
	entries := func(cache string) float64 {
		if v, ok := metricstest.CacheValue(m, "gatehouse_cache_entries", cache); ok {
			return v
		}
		return -1 // absent
	}
	const a, b = "pipelines.a.policies[0].jwt[0]", "pipelines.b.policies[1].jwt[0]"
	first := build(a)
	if n := entries("jwt:" + a); n != -1 {
		t.Fatalf("a step that stored nothing exports %g entries, want no series yet", n)
	}
	use(first, 2)
	other := build(b)
	use(other, 3)
	if n, o := entries("jwt:"+a), entries("jwt:"+b); n != 2 || o != 3 {
		t.Fatalf("steps a and b: %g and %g entries, want 2 and 3", n, o)
	}
	build(a) // a reload refused after building the step: never used
	if n := entries("jwt:" + a); n != 2 {
		t.Errorf("after an unused rebuild of step a: %g entries, want the serving step's 2", n)
	}
	use(build(a), 1) // the reload that serves
	if n := entries("jwt:" + a); n != 1 {
		t.Errorf("after the rebuilt step a stored a token: %g entries, want its 1", n)
	}
}
