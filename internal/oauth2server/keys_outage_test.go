package oauth2server

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

// downable is a backend that can be made unreachable, as Redis stopped.
type downable struct {
	store.Backend
	down atomic.Bool
}

func (d *downable) err() error {
	if d.down.Load() {
		return fmt.Errorf("dial tcp 127.0.0.1:6379: connection refused: %w", store.ErrUnavailable)
	}
	return nil
}

func (d *downable) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := d.err(); err != nil {
		return nil, false, err
	}
	return d.Backend.Get(ctx, key)
}

func (d *downable) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := d.err(); err != nil {
		return err
	}
	return d.Backend.Update(ctx, fn)
}

func (d *downable) Members(ctx context.Context, set string) ([]string, error) {
	if err := d.err(); err != nil {
		return nil, err
	}
	return d.Backend.Members(ctx, set)
}

// TestGeneratedKeysStoreDownAtStart: a node whose store is unreachable when
// it starts still starts; until it can load the generated signing keys,
// token requests, the JWKS and introspection answer 503 (never a token
// signed by a key other nodes do not know, never an empty key set), and it
// loads them on first need once the store is back.
func TestGeneratedKeysStoreDownAtStart(t *testing.T) {
	clk := newClock()
	b := &downable{Backend: memstore.New(clk.Now)}
	s := store.New(b, store.Options{Now: clk.Now, BcryptCost: 4})
	f := &fixture{s: s, clk: clk}
	t.Cleanup(func() { s.Close() })
	f.seed(t)
	b.down.Store(true)
	f.srv = f.server(t, jwtSystem()) // no error: the node starts
	b.down.Store(false)

	rec, m := post(t, f.srv, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, f.web.ID, f.webSecret)
	if rec.Code != 503 || m["error"] != "temporarily_unavailable" || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("token before the keys are loaded = %d %v, want 503 temporarily_unavailable with Retry-After", rec.Code, m)
	}
	jw := httptest.NewRecorder()
	f.srv.ServeHTTP(jw, httptest.NewRequest("GET", "http://gw.example/.well-known/jwks.json", nil))
	if jw.Code != 503 {
		t.Errorf("JWKS before the keys are loaded = %d %s, want 503 (never an empty set)", jw.Code, jw.Body)
	}

	clk.Add(6 * time.Second) // past the reload throttle
	tok := f.clientToken(t, f.srv)
	if err := verify(f.srv, tok); err != nil {
		t.Fatalf("token after the store came back: %v", err)
	}
	jw = httptest.NewRecorder()
	f.srv.ServeHTTP(jw, httptest.NewRequest("GET", "http://gw.example/.well-known/jwks.json", nil))
	if jw.Code != 200 {
		t.Errorf("JWKS after the keys loaded = %d", jw.Code)
	}
	// Another node started while the store was up verifies it: the keys
	// were created in the store, not only in this process.
	if err := verify(f.server(t, jwtSystem()), tok); err != nil {
		t.Errorf("another node: %v", err)
	}
}
