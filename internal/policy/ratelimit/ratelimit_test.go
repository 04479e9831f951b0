package ratelimit_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/config/configtest"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	rl "github.com/gatehouse/gatehouse/internal/policy/ratelimit"
	"github.com/gatehouse/gatehouse/internal/policyenv"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
)

func node(t *testing.T, src string) config.Node {
	t.Helper()
	return configtest.Action(t, src)
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestRateLimit(t *testing.T) {
	c := &clock{t: time.Unix(5000, 0)}
	env := &policyenv.Env{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RateLimiter: ratelimit.NewLocal(c.now)}
	p, err := rl.New(node(t, "{max: 3, windowMs: 3000, rateLimitBy: '${req.headers.x-client}'}"), env)
	if err != nil {
		t.Fatal(err)
	}
	do := func(client string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-Client", client)
		req = pipeline.WithState(req, &pipeline.State{Route: &pipeline.Route{APIEndpoint: "api"}})
		rec := httptest.NewRecorder()
		err := p.Handle(rec, req, pipeline.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error { w.WriteHeader(200); return nil }))
		if err != nil {
			pipeline.WriteError(rec, req, err, slog.New(slog.NewTextHandler(io.Discard, nil)))
		}
		return rec
	}
	for i := 0; i < 3; i++ {
		rec := do("a")
		if rec.Code != 200 || rec.Header().Get("RateLimit-Limit") != "3" || rec.Header().Get("RateLimit-Remaining") != string(rune('2'-i)) {
			t.Fatalf("request %d: %d %v", i, rec.Code, rec.Header())
		}
	}
	rec := do("a")
	var body map[string]string
	json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "1" || body["error"] != "rate_limited" || body["message"] != "Too many requests, please try again later." {
		t.Errorf("4th: %d %v %v", rec.Code, rec.Header(), body)
	}
	if rec := do("b"); rec.Code != 200 {
		t.Errorf("another key was limited: %d", rec.Code)
	}
	c.t = c.t.Add(time.Second)
	if rec := do("a"); rec.Code != 200 {
		t.Errorf("after one interval: %d", rec.Code)
	}
}

func TestRateLimitLoad(t *testing.T) {
	env := &policyenv.Env{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RateLimiter: ratelimit.NewLocal(nil)}
	for src, want := range map[string]string{
		"{max: -1}":                   "gateway.config.yml:1: action.max: must not be negative (0 turns the limit off)",
		"{delayAfter: 1}":             "gateway.config.yml:1: action.delayAfter: delayAfter and delayMs (slowing requests down) are not supported: use max and windowMs to refuse past a rate",
		"{delayMs: 500}":              "gateway.config.yml:1: action.delayMs: delayAfter and delayMs (slowing requests down) are not supported: use max and windowMs to refuse past a rate",
		"{statusCode: 200}":           "gateway.config.yml:1: action.statusCode: must be a 4xx or 5xx status",
		"{rateLimitBy: '${req.x.y}'}": `gateway.config.yml:1: action.rateLimitBy: expression "req.x.y" is not supported: use a property path such as req.headers.host, consumer.id or requestID (JavaScript cannot run in Gatehouse)`,
	} {
		if _, err := rl.New(node(t, src), env); err == nil || err.Error() != want {
			t.Errorf("%s: %v\nwant %s", src, err, want)
		}
	}
	for _, ok := range []string{"{delayAfter: 0, delayMs: 0}", "{max: 0}"} {
		if _, err := rl.New(node(t, ok), env); err != nil {
			t.Errorf("%s must load (EG's way of turning things off): %v", ok, err)
		}
	}
}
