package authn_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policy/authn"
	"github.com/gatehouse/gatehouse/internal/store"
)

// fixed is an Authenticator that answers what it is told, and records
// what it was given.
type fixed struct {
	id   *pipeline.Identity
	err  error
	seen authn.Presented
}

func (f *fixed) Authenticate(_ *http.Request, c authn.Presented) (*pipeline.Identity, error) {
	f.seen = c
	return f.id, f.err
}

// hook counts the requests it accepted.
type hook struct{ n int }

func (h *hook) Accepted(r *http.Request, id *pipeline.Identity) {
	h.n++
	r.Header.Set("X-Accepted", id.ConsumerID)
}

var (
	basic  = authn.SchemeChallenge(`Basic realm="gatehouse", charset="UTF-8"`)
	bearer = authn.BearerScheme("Bearer")
)

type result struct {
	nextRan   bool
	err       error
	st        *pipeline.State
	r         *http.Request
	accepted  int
	authSeen  authn.Presented
	storeErrs float64
}

// run sends one request with header X-Key: key (none when "") through p,
// built around auth, on an endpoint requiring scopes.
func run(t *testing.T, p authn.Policy, auth *fixed, key string, scopes ...string) result {
	t.Helper()
	h := &hook{}
	m := metrics.New()
	p.Source, p.Auth, p.Accepted, p.Metrics = &authn.Source{Header: "X-Key"}, auth, h, m
	r := httptest.NewRequest(http.MethodGet, "http://api.example/x", nil)
	if key != "" {
		r.Header["X-Key"] = strings.Split(key, "\n")
	}
	st := &pipeline.State{Route: &pipeline.Route{Scopes: scopes}}
	st.Record.Policy = "test-auth"
	r = pipeline.WithState(r, st)
	var res result
	next := pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error { res.nextRan = true; return nil })
	res.err = p.Handle(httptest.NewRecorder(), r, next)
	res.st, res.r, res.accepted, res.authSeen = st, r, h.n, auth.seen
	var d dto.Metric
	if err := m.StoreErrors.Write(&d); err != nil {
		t.Fatal(err)
	}
	res.storeErrs = d.GetCounter().GetValue()
	return res
}

func consumer(scopes ...string) *pipeline.Identity {
	return &pipeline.Identity{ConsumerID: "c1", AuthType: "key-auth", Scopes: scopes}
}

func refusal(status int, code string) error {
	return &pipeline.Rejection{Status: status, Code: code, Message: "m"}
}

func TestPolicy(t *testing.T) {
	strip := authn.Strip{Header: true, Query: true}
	unavailable := authn.StoreError(errStore)
	for _, c := range []struct {
		name   string
		p      authn.Policy
		auth   fixed
		key    string
		scopes []string

		status     int    // of the returned Rejection; 0: next ran, -1: a non-Rejection error
		challenge  string // of the returned Rejection
		result     string // Record.AuthResult
		reason     string // Record.AuthReason
		logged     string // Record.Reason
		anonymous  bool
		stripped   bool // X-Key removed
		storeError bool // counted
	}{
		{name: "success", p: authn.Policy{Strip: strip}, auth: fixed{id: consumer("read")}, key: "k", scopes: []string{"read"},
			result: "allowed", logged: "authenticated:key-auth", stripped: true},
		{name: "success, Strip unset: the credential goes on", auth: fixed{id: consumer()}, key: "k",
			result: "allowed", logged: "authenticated:key-auth"},
		{name: "401 refused", p: authn.Policy{Strip: strip}, auth: fixed{err: basic.Refuse(authn.ReasonInvalid, "")}, key: "k",
			status: 401, challenge: `Basic realm="gatehouse", charset="UTF-8"`, result: "refused", reason: "invalid_credentials"},
		{name: "401 passThrough: anonymous, not stripped", p: authn.Policy{Strip: strip, PassThrough: true}, auth: fixed{err: basic.Refuse(authn.ReasonInvalid, "")}, key: "k",
			result: "anonymous", reason: "invalid_credentials", logged: "invalid_credentials", anonymous: true},
		{name: "403 passThrough: anonymous", p: authn.Policy{PassThrough: true}, auth: fixed{err: refusal(403, "insufficient_scope")}, key: "k",
			result: "anonymous", reason: "insufficient_scope", logged: "insufficient_scope", anonymous: true},
		{name: "400 never passed through", p: authn.Policy{Strip: strip, PassThrough: true}, auth: fixed{id: consumer()}, key: "a\nb",
			status: 400, result: "refused", reason: "invalid_request"},
		{name: "503 never passed through, counted", p: authn.Policy{PassThrough: true}, auth: fixed{err: unavailable}, key: "k",
			status: 503, result: "error", reason: "store_unavailable", storeError: true},
		{name: "429 never passed through", p: authn.Policy{PassThrough: true}, auth: fixed{err: refusal(429, "too_many_failures")}, key: "k",
			status: 429, result: "refused", reason: "too_many_failures"},
		{name: "another error is internal, even with passThrough", p: authn.Policy{PassThrough: true}, auth: fixed{err: errors.New("boom")}, key: "k",
			status: -1, result: "error", reason: "internal_error"},
		{name: "scope missing, no challenge", p: authn.Policy{Strip: strip, Scopes: authn.Scopes{Challenge: basic}}, auth: fixed{id: consumer("read")}, key: "k", scopes: []string{"read", "write"},
			status: 403, result: "refused", reason: "insufficient_scope"},
		{name: "scope missing, bearer challenge with the scope attribute", p: authn.Policy{Scopes: authn.Scopes{Challenge: bearer}}, auth: fixed{id: consumer()}, key: "k", scopes: []string{"read", "write"},
			status: 403, challenge: `Bearer realm="gatehouse", error="insufficient_scope", scope="read write"`, result: "refused", reason: "insufficient_scope"},
		{name: "scope missing, the jwt authScheme's challenge", p: authn.Policy{Scopes: authn.Scopes{Challenge: authn.BearerScheme("JWT")}}, auth: fixed{id: consumer()}, key: "k", scopes: []string{"read"},
			status: 403, challenge: `JWT realm="gatehouse", error="insufficient_scope", scope="read"`, result: "refused", reason: "insufficient_scope"},
		{name: "scope missing, passThrough: anonymous", p: authn.Policy{PassThrough: true, Strip: strip}, auth: fixed{id: consumer()}, key: "k", scopes: []string{"read"},
			result: "anonymous", reason: "insufficient_scope", logged: "insufficient_scope", anonymous: true},
		{name: "scopes not checked (jwt checkScopes: false)", p: authn.Policy{Scopes: authn.Scopes{Skip: true}}, auth: fixed{id: consumer()}, key: "k", scopes: []string{"read"},
			result: "allowed", logged: "authenticated:key-auth"},
	} {
		t.Run(c.name, func(t *testing.T) {
			auth := c.auth
			res := run(t, c.p, &auth, c.key, c.scopes...)
			var rej *pipeline.Rejection
			switch {
			case c.status == 0:
				if res.err != nil || !res.nextRan {
					t.Fatalf("err %v, next ran %v; want next", res.err, res.nextRan)
				}
			case c.status == -1:
				if res.nextRan || res.err == nil || errors.As(res.err, &rej) {
					t.Fatalf("err %v, next ran %v; want the authenticator's own error", res.err, res.nextRan)
				}
			default:
				if res.nextRan || !errors.As(res.err, &rej) || rej.Status != c.status {
					t.Fatalf("err %v, next ran %v; want a %d", res.err, res.nextRan, c.status)
				}
				if rej.Challenge != c.challenge {
					t.Errorf("challenge %q, want %q", rej.Challenge, c.challenge)
				}
			}
			rec := res.st.Record
			if rec.AuthPolicy != "test-auth" || rec.AuthResult != c.result || rec.AuthReason != c.reason || rec.Reason != c.logged {
				t.Errorf("recorded %s:%s reason %q, logged %q; want test-auth:%s %q, %q", rec.AuthPolicy, rec.AuthResult, rec.AuthReason, rec.Reason, c.result, c.reason, c.logged)
			}
			if res.st.Anonymous != c.anonymous {
				t.Errorf("Anonymous %v, want %v", res.st.Anonymous, c.anonymous)
			}
			if ok := c.result == "allowed"; (res.st.Identity != nil) != ok || (res.accepted == 1) != ok {
				t.Errorf("identity %v, Accepted ran %d times; want them only on success", res.st.Identity, res.accepted)
			}
			if got := res.r.Header.Get("X-Accepted"); (got == "c1") != (c.result == "allowed") {
				t.Errorf("X-Accepted %q", got)
			}
			if _, kept := res.r.Header["X-Key"]; kept == c.stripped {
				t.Errorf("X-Key kept %v, want stripped %v", kept, c.stripped)
			}
			if want := map[bool]float64{true: 1}[c.storeError]; res.storeErrs != want {
				t.Errorf("store errors counted %g, want %g", res.storeErrs, want)
			}
		})
	}
}

var errStore = fmt.Errorf("redis: connection refused: %w", store.ErrUnavailable)

// TestPolicyPassesTheCredential: the authenticator gets what the Source
// found, and is not called for a credential sent twice.
func TestPolicyPassesTheCredential(t *testing.T) {
	auth := &fixed{id: consumer()}
	run(t, authn.Policy{}, auth, "secret")
	if auth.seen.Value != "secret" {
		t.Errorf("the authenticator saw %+v", auth.seen)
	}
	auth = &fixed{id: consumer()}
	run(t, authn.Policy{}, auth, "a\nb")
	if auth.seen != (authn.Presented{}) {
		t.Errorf("the authenticator ran on a credential sent twice: %+v", auth.seen)
	}
}
