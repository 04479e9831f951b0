package oauth2server

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/lrucache"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/metrics/metricstest"
)

// TestJWTCacheSize: the verified-JWT cache counts each token's estimated
// bytes (so its 8 MiB bound means something), exports them on /metrics
// under cache="oauth2-jwt", and a second server on the same metrics (a
// reload) replaces the figures instead of panicking.
func TestJWTCacheSize(t *testing.T) {
	m := metrics.New()
	withMetrics := func(o *Options) { o.Metrics = m }
	f := newFixture(t, jwtSystem(), withMetrics)
	tok := f.clientToken(t, f.srv)
	if err := verify(f.srv, tok); err != nil {
		t.Fatal(err)
	}
	want := lrucache.EntryOverhead + jwtEntrySize(tok)
	if n, b, _ := f.srv.jwtCache.Stats(); n != 1 || b != want || b <= len(tok) {
		t.Fatalf("cache holds %d entries, %d bytes; want 1, %d (more than the token's %d)", n, b, want, len(tok))
	}
	if got := gauge(t, m, "gatehouse_cache_bytes", "oauth2-jwt"); got != float64(want) {
		t.Errorf("gatehouse_cache_bytes{cache=oauth2-jwt} = %v, want %d", got, want)
	}
	f.server(t, jwtSystem(), withMetrics) // a reload: must not panic
	if got := gauge(t, m, "gatehouse_cache_entries", "oauth2-jwt"); got != 0 {
		t.Errorf("after the reload, gatehouse_cache_entries{cache=oauth2-jwt} = %v, want the new server's 0", got)
	}
}

func gauge(t *testing.T, m *metrics.Metrics, name, cache string) float64 {
	t.Helper()
	v, ok := metricstest.CacheValue(m, name, cache)
	if !ok {
		t.Fatalf("%s{cache=%q} not exported", name, cache)
	}
	return v
}
