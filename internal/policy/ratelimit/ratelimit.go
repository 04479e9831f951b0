// Package ratelimit is the rate-limit policy (Express Gateway's options):
// max requests per windowMs per key (the client address by default, or a
// template such as "${consumer.id}" or "${req.headers.x-api-key}"),
// answered with 429 and the RateLimit-* and Retry-After headers.
package ratelimit

import (
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/expr"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policyenv"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
)

// Options are Express Gateway's rate-limit options.
type Options struct {
	Max         int             `yaml:"max"`
	WindowMs    config.Duration `yaml:"windowMs"`
	RateLimitBy string          `yaml:"rateLimitBy"`
	Message     string          `yaml:"message"`
	StatusCode  int             `yaml:"statusCode"`
	// Headers sends RateLimit-Limit/-Remaining/-Reset (default true).
	Headers *bool `yaml:"headers"`
	// Refused: express-rate-limit's slow-down options.
	DelayAfter *int             `yaml:"delayAfter"`
	DelayMs    *config.Duration `yaml:"delayMs"`
}

type policy struct {
	o       Options
	limiter ratelimit.Limiter
	by      *expr.Template
	window  time.Duration
	headers bool
	prefix  string
	log     *slog.Logger
	limit   string
	metrics *metrics.Metrics // nil: refusals are not counted
	// lastWarn is when an outage was last logged (Unix seconds).
	lastWarn atomic.Int64
}

// New builds a rate-limit step.
func New(action policyenv.Decoder, env *policyenv.Env) (pipeline.Policy, error) {
	o := Options{Max: 5, WindowMs: config.Duration(time.Minute), StatusCode: http.StatusTooManyRequests,
		Message: "Too many requests, please try again later."}
	if err := action.Decode(&o); err != nil {
		return nil, err
	}
	// Slowing requests down is not supported; 0 (EG's "no delay") is fine.
	if o.DelayAfter != nil && *o.DelayAfter != 0 {
		return nil, action.Errorf("delayAfter", "delayAfter and delayMs (slowing requests down) are not supported: use max and windowMs to refuse past a rate")
	}
	if o.DelayMs != nil && *o.DelayMs != 0 {
		return nil, action.Errorf("delayMs", "delayAfter and delayMs (slowing requests down) are not supported: use max and windowMs to refuse past a rate")
	}
	if o.Max < 0 {
		return nil, action.Errorf("max", "must not be negative (0 turns the limit off)")
	}
	if o.WindowMs <= 0 {
		return nil, action.Errorf("windowMs", "must be positive")
	}
	if o.StatusCode < 400 || o.StatusCode > 599 {
		return nil, action.Errorf("statusCode", "must be a 4xx or 5xx status")
	}
	if env.RateLimiter == nil {
		return nil, action.Errorf("", "rate-limit needs a limiter (the gateway provides one)")
	}
	p := &policy{o: o, limiter: env.RateLimiter, metrics: env.Metrics, window: time.Duration(o.WindowMs), headers: o.Headers == nil || *o.Headers,
		log: env.Logger, limit: strconv.Itoa(o.Max)}
	if o.RateLimitBy != "" {
		t, err := expr.CompileTemplate(o.RateLimitBy)
		if err != nil {
			return nil, action.Errorf("rateLimitBy", "%v", err)
		}
		p.by = t
	}
	// Steps with different limits must not share counters.
	p.prefix = strconv.Itoa(o.Max) + "/" + strconv.FormatInt(int64(p.window/time.Millisecond), 10) + ":"
	return p, nil
}

func (p *policy) key(r *http.Request, st *pipeline.State) string {
	if p.by != nil {
		if k := p.by.Render(r, st); k != "" {
			return st.Route.APIEndpoint + ":" + k
		}
	}
	// The address the gateway computed: behind trusted proxies the one
	// they forwarded, so clients behind one load balancer do not share a
	// limit, and a client cannot pick its own key by sending
	// X-Forwarded-For.
	return st.Route.APIEndpoint + ":ip:" + expr.ClientIP(r)
}

func (p *policy) Handle(w http.ResponseWriter, r *http.Request, next pipeline.Handler) error {
	if p.o.Max == 0 { // express-rate-limit: max 0 disables the limit
		return next.Handle(w, r)
	}
	st := pipeline.StateOf(r)
	d, err := p.limiter.Allow(r.Context(), p.prefix+p.key(r, st), p.o.Max, p.window)
	if err != nil {
		// Fail open: a limiter outage must not take the API down with it.
		// Warn once a minute, not once a request.
		if now := time.Now().Unix(); p.lastWarn.Swap(now) < now-60 {
			p.log.Warn("rate limiter unavailable; requests are let through", "request_id", st.RequestID, "error", err)
		}
		return next.Handle(w, r)
	}
	h := w.Header()
	if p.headers { // draft-ietf-httpapi-ratelimit-headers
		h.Set("RateLimit-Limit", p.limit)
		h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
		h.Set("RateLimit-Reset", strconv.Itoa(int((d.ResetAfter+time.Second-1)/time.Second)))
	}
	if d.Allowed {
		return next.Handle(w, r)
	}
	retry := int((d.RetryAfter + time.Second - 1) / time.Second)
	if p.metrics != nil {
		p.metrics.RateLimited.WithLabelValues(st.Route.APIEndpoint).Inc()
	}
	return &pipeline.Rejection{Status: p.o.StatusCode, Code: "rate_limited", Message: p.o.Message,
		Header: http.Header{"Retry-After": {strconv.Itoa(retry)}}}
}
