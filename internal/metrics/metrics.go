// Package metrics holds the Prometheus metrics of one gateway process
// (client_golang), served at /metrics on the admin listener.
package metrics

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the gateway's instruments. Build one per process with New.
type Metrics struct {
	Registry *prometheus.Registry

	// series caches the children of Requests and Duration per apiEndpoint
	// and pipeline, so that recording a request is two atomic loads, not a
	// hash of the label values.
	mu     sync.RWMutex
	series map[seriesKey]*series
	caches map[string]*CacheCounter
	sizes  map[string]*atomic.Pointer[CacheStats]

	Requests         *prometheus.CounterVec   // api_endpoint, pipeline, code
	Duration         *prometheus.HistogramVec // api_endpoint, pipeline
	UpstreamDuration *prometheus.HistogramVec // upstream
	UpstreamErrors   *prometheus.CounterVec   // upstream, reason
	AuthDecisions    *prometheus.CounterVec   // policy, result, reason
	TokensIssued     *prometheus.CounterVec   // grant
	TokensRevoked    prometheus.Counter
	Reloads          *prometheus.CounterVec // result
	StoreErrors      prometheus.Counter
	RateLimited      *prometheus.CounterVec // api_endpoint
	// AccessLogDropped counts access-log lines dropped because the writer
	// fell behind (internal/accesslog).
	AccessLogDropped prometheus.Counter
}

// New registers every metric in a fresh registry, with the Go runtime and
// process collectors.
func New() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	m := &Metrics{
		Registry: r,
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_requests_total",
			Help: "Requests answered, by apiEndpoint, pipeline and status code."}, []string{"api_endpoint", "pipeline", "code"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gatehouse_request_duration_seconds",
			Help: "Time from the request's arrival to the end of its response.", Buckets: buckets}, []string{"api_endpoint", "pipeline"}),
		UpstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gatehouse_upstream_duration_seconds",
			Help: "Time the upstream took to answer (headers).", Buckets: buckets}, []string{"upstream"}),
		UpstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_upstream_errors_total",
			Help: "Upstream calls that failed, by reason (bad_gateway, upstream_timeout)."}, []string{"upstream", "reason"}),
		AuthDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_auth_decisions_total",
			Help: "Authentication decisions, by policy, result (allowed, refused, anonymous) and reason code."}, []string{"policy", "result", "reason"}),
		TokensIssued: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_tokens_issued_total",
			Help: "Access tokens issued by the authorization server, by grant."}, []string{"grant"}),
		TokensRevoked: prometheus.NewCounter(prometheus.CounterOpts{Name: "gatehouse_tokens_revoked_total",
			Help: "Tokens revoked (revocation endpoint, Admin API, reuse detection)."}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_config_reloads_total",
			Help: "gateway.config.yml reloads by result (success, failure)."}, []string{"result"}),
		StoreErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "gatehouse_store_errors_total",
			Help: "Identity store calls that failed because the store was unavailable."}),
		RateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_rate_limited_total",
			Help: "Requests refused by rate-limit, by apiEndpoint."}, []string{"api_endpoint"}),
		AccessLogDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "gatehouse_access_log_dropped_total",
			Help: "Access-log lines dropped because the log's writer could not keep up."}),
	}
	r.MustRegister(m.Requests, m.Duration, m.UpstreamDuration, m.UpstreamErrors, m.AuthDecisions,
		m.TokensIssued, m.TokensRevoked, m.Reloads, m.StoreErrors, m.RateLimited, m.AccessLogDropped)
	return m
}

// codes holds the label values of common statuses, so that recording a
// request does not format a number.
var codes = func() [600]string {
	var c [600]string
	for i := range c {
		c[i] = strconv.Itoa(i)
	}
	return c
}()

// Code is the label value of an HTTP status.
func Code(status int) string {
	if status >= 0 && status < len(codes) {
		return codes[status]
	}
	return strconv.Itoa(status)
}

type seriesKey struct{ endpoint, pipeline string }

type series struct {
	duration prometheus.Observer
	codes    [600]atomic.Pointer[prometheus.Counter]
	endpoint string
	pipeline string
	m        *Metrics
}

func (m *Metrics) seriesFor(endpoint, pipeline string) *series {
	k := seriesKey{endpoint, pipeline}
	m.mu.RLock()
	s := m.series[k]
	m.mu.RUnlock()
	if s != nil {
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s = m.series[k]; s == nil {
		if m.series == nil {
			m.series = map[seriesKey]*series{}
		}
		s = &series{duration: m.Duration.WithLabelValues(endpoint, pipeline), endpoint: endpoint, pipeline: pipeline, m: m}
		m.series[k] = s
	}
	return s
}

// Observe records one answered request.
func (m *Metrics) Observe(endpoint, pipeline string, status int, d time.Duration) {
	s := m.seriesFor(endpoint, pipeline)
	s.duration.Observe(d.Seconds())
	if status < 0 || status >= len(s.codes) {
		m.Requests.WithLabelValues(endpoint, pipeline, Code(status)).Inc()
		return
	}
	c := s.codes[status].Load()
	if c == nil {
		counter := m.Requests.WithLabelValues(endpoint, pipeline, Code(status))
		c = &counter
		s.codes[status].Store(c)
	}
	(*c).Inc()
}

// RegisterCache exports a cache's lookups as gatehouse_cache_lookups_total
// {cache=name, result=hit|miss}, read from counters the cache keeps.
func (m *Metrics) RegisterCache(name string, hits, misses func() float64) {
	for result, f := range map[string]func() float64{"hit": hits, "miss": misses} {
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "gatehouse_cache_lookups_total",
			Help:        "Cache lookups by cache (records: decoded identity records; secrets: verified passwords and keys; jwt: verified JWTs of the jwt policy; oauth2-jwt: the authorization server's own JWT access tokens; jwks: signing keys found without a JWKS fetch; introspection: introspection answers) and result (hit, miss).",
			ConstLabels: prometheus.Labels{"cache": name, "result": result},
		}, f))
	}
}

// CacheCounter counts one cache's lookups. A nil *CacheCounter counts
// nothing, so code built without metrics (unit tests, config validate)
// needs no check.
type CacheCounter struct{ hits, misses atomic.Uint64 }

// Hit counts a lookup the cache answered.
func (c *CacheCounter) Hit() {
	if c != nil {
		c.hits.Add(1)
	}
}

// Miss counts a lookup that had to do the work.
func (c *CacheCounter) Miss() {
	if c != nil {
		c.misses.Add(1)
	}
}

// Cache returns the process's counter for the cache called name, exported
// on first use. Policies rebuilt by a reload get the same counter, so the
// series keeps counting across reloads; a nil *Metrics returns nil.
func (m *Metrics) Cache(name string) *CacheCounter {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.caches[name]; c != nil {
		return c
	}
	if m.caches == nil {
		m.caches = map[string]*CacheCounter{}
	}
	c := &CacheCounter{}
	m.caches[name] = c
	m.RegisterCache(name, func() float64 { return float64(c.hits.Load()) }, func() float64 { return float64(c.misses.Load()) })
	return c
}

// Counts reads the counter (for tests and diagnostics).
func (c *CacheCounter) Counts() (hits, misses uint64) {
	if c == nil {
		return 0, 0
	}
	return c.hits.Load(), c.misses.Load()
}

// CacheStats reports a cache's entries, estimated bytes and bound-keeping
// evictions (lrucache.Cache.Stats has this shape).
type CacheStats func() (entries, bytes int, evictions uint64)

// RegisterCacheSize exports a cache's size as gatehouse_cache_entries and
// gatehouse_cache_bytes (estimated bytes, see internal/lrucache) gauges and
// its bound-keeping evictions as gatehouse_cache_evictions_total, all with
// {cache=name}, read from stats at each scrape. Registering a name again
// replaces its stats: a reload builds new caches in place of the old ones,
// and the registry must neither panic on the duplicate nor keep the old
// cache alive through its closure.
func (m *Metrics) RegisterCacheSize(name string, stats CacheStats) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.sizes[name]; p != nil {
		p.Store(&stats)
		return
	}
	p := new(atomic.Pointer[CacheStats])
	p.Store(&stats)
	if m.sizes == nil {
		m.sizes = map[string]*atomic.Pointer[CacheStats]{}
	}
	m.sizes[name] = p
	read := func(pick func(int, int, uint64) float64) func() float64 {
		return func() float64 { return pick((*p.Load())()) }
	}
	l := prometheus.Labels{"cache": name}
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_cache_entries",
			Help: "Entries held by a per-node cache.", ConstLabels: l},
			read(func(n, _ int, _ uint64) float64 { return float64(n) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_cache_bytes",
			Help: "Estimated bytes held by a per-node cache (keys, values and per-entry overhead).", ConstLabels: l},
			read(func(_, b int, _ uint64) float64 { return float64(b) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_cache_evictions_total",
			Help: "Entries a per-node cache evicted to stay within its entry and byte bounds.", ConstLabels: l},
			read(func(_, _ int, e uint64) float64 { return float64(e) })),
	)
}
