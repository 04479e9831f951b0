package oauth2server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestBackchannelRetries: a delivery is retried after a network-level
// failure, a 5xx or a 429, up to bclAttempts in all, and not after a 4xx
// refusal, a redirect (never followed) or a success (Back-Channel Logout
// 1.0 §2.8).
func TestBackchannelRetries(t *testing.T) {
	for _, c := range []struct {
		status int
		want   int32
	}{
		{http.StatusOK, 1},
		{http.StatusNoContent, 1},
		{http.StatusBadRequest, 1},
		{http.StatusNotFound, 1},
		{http.StatusTooManyRequests, bclAttempts},
		{http.StatusServiceUnavailable, bclAttempts},
		{http.StatusFound, 1},
	} {
		t.Run(http.StatusText(c.status), func(t *testing.T) {
			var calls, followed atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/elsewhere" {
					followed.Add(1)
					return
				}
				calls.Add(1)
				if c.status == http.StatusFound {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(c.status)
			}))
			defer ts.Close()
			b := newBackchannel(slog.New(slog.NewTextHandler(io.Discard, nil)))
			b.backoff = time.Millisecond
			b.send("client", ts.URL+"/bc", "token")
			b.wait()
			if got := calls.Load(); got != c.want {
				t.Errorf("HTTP %d: %d attempts, want %d", c.status, got, c.want)
			}
			if followed.Load() != 0 {
				t.Error("the redirect was followed")
			}
		})
	}
}
