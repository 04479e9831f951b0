package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/internal/pipeline"
)

// A step's forwards are reused (getForward): the outgoing header map and
// the eg-request-id value of one request must not reach the next, in
// sequence or at once, with or without a body.
func TestForwardReuse(t *testing.T) {
	up := newUpstream(t)
	p := newTestProxy(t, "", up.URL, nil)
	alice := &pipeline.Identity{ConsumerID: "u1", ConsumerType: "user", ConsumerName: "alice", AuthType: "key-auth"}
	bob := &pipeline.Identity{ConsumerID: "u2", ConsumerType: "user", ConsumerName: "bob", AuthType: "basic-auth"}
	steps := []struct {
		name   string
		method string
		body   string
		extra  string // a header only this request has
		id     *pipeline.Identity
	}{
		{"get with identity", "GET", "", "X-First", alice},
		{"get as another", "GET", "", "", bob},
		{"get without", "GET", "", "", nil},
		{"post with body", "POST", "payload", "X-Fourth", alice},
		{"get again", "GET", "", "", bob},
	}
	for i, s := range steps {
		var body *strings.Reader
		r := httptest.NewRequest(s.method, "http://gw.example/x", nil)
		if s.body != "" {
			body = strings.NewReader(s.body)
			r = httptest.NewRequest(s.method, "http://gw.example/x", body)
		}
		if s.extra != "" {
			r.Header.Set(s.extra, "1")
		}
		rid := fmt.Sprintf("request-%02d-xxxxxxxxxxxx", i)
		w := serve(t, p, r, &pipeline.State{RequestID: rid, Identity: s.id})
		if w.Code != http.StatusOK {
			t.Fatalf("%s: status %d", s.name, w.Code)
		}
		got := up.seen()
		if v := got.Header.Values("Eg-Request-Id"); len(v) != 1 || v[0] != rid {
			t.Errorf("%s: eg-request-id %q, want %q", s.name, v, rid)
		}
		for j, o := range steps {
			if o.extra != "" && j != i && got.Header.Get(o.extra) != "" {
				t.Errorf("%s: upstream got %s, a header of %q", s.name, o.extra, o.name)
			}
		}
		if s.id == nil && got.Header.Get("Eg-Consumer-Id") != "" {
			t.Errorf("%s: unauthenticated request sent eg-consumer-id %q", s.name, got.Header.Get("Eg-Consumer-Id"))
		}
		if s.id != nil && got.Header.Get("Eg-Consumer-Id") != s.id.ConsumerID {
			t.Errorf("%s: eg-consumer-id %q", s.name, got.Header.Get("Eg-Consumer-Id"))
		}
		if got.Body != s.body {
			t.Errorf("%s: body %q", s.name, got.Body)
		}
	}

	// At once: each upstream request carries its own id (under -race, a
	// map shared between two requests is a reported race).
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Eg-Request-Id") != r.Header.Get("X-Want") {
			w.WriteHeader(http.StatusConflict)
		}
	}))
	t.Cleanup(echo.Close)
	pe := newTestProxy(t, "", echo.URL, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				rid := fmt.Sprintf("g%d-%03d-xxxxxxxxxxxxxxx", g, i)
				r := httptest.NewRequest("GET", "http://gw.example/x", nil)
				r.Header.Set("X-Want", rid)
				w := httptest.NewRecorder()
				_ = pe.Handle(w, pipeline.WithState(r, &pipeline.State{RequestID: rid, Route: &pipeline.Route{}, Identity: alice}), nil)
				if w.Code != http.StatusOK {
					t.Errorf("%s: status %d: the upstream saw another request's id", rid, w.Code)
					return
				}
			}
		})
	}
	wg.Wait()
}

// moveHeader does what ReverseProxy's copyHeader did (Add each value),
// but Content-Type, which it leaves in src for ReverseProxy.
func TestMoveHeader(t *testing.T) {
	for _, tc := range []struct {
		name                       string
		dst, src, wantDst, wantSrc http.Header
	}{
		{"into empty",
			http.Header{}, http.Header{"X-A": {"1"}, "Set-Cookie": {"a=1", "b=2"}},
			http.Header{"X-A": {"1"}, "Set-Cookie": {"a=1", "b=2"}}, http.Header{}},
		{"appended to what is there",
			http.Header{"Eg-Request-Id": {"gw"}, "Vary": {"Origin"}}, http.Header{"Vary": {"Accept"}, "Eg-Request-Id": {"up"}},
			http.Header{"Eg-Request-Id": {"gw", "up"}, "Vary": {"Origin", "Accept"}}, http.Header{}},
		{"content-type stays for ReverseProxy",
			http.Header{}, http.Header{"Content-Type": {"text/event-stream"}, "Cache-Control": {"no-cache"}},
			http.Header{"Cache-Control": {"no-cache"}}, http.Header{"Content-Type": {"text/event-stream"}}},
		{"no value adds no key",
			http.Header{}, http.Header{"X-Empty": {}},
			http.Header{}, http.Header{}},
		{"canonical key, as Add",
			http.Header{"X-Lower": {"a"}}, http.Header{"x-lower": {"b"}},
			http.Header{"X-Lower": {"a", "b"}}, http.Header{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			moveHeader(tc.dst, tc.src)
			if !reflect.DeepEqual(tc.dst, tc.wantDst) {
				t.Errorf("dst %v, want %v", tc.dst, tc.wantDst)
			}
			if !reflect.DeepEqual(tc.src, tc.wantSrc) {
				t.Errorf("src %v, want %v", tc.src, tc.wantSrc)
			}
		})
	}
}
