package oauth2server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Back-Channel Logout 1.0 delivery: the logout token of each client of an
// ended sign-in session is POSTed to its backchannel_logout_uri (§2.5) off
// the request's goroutine, so a slow or dead client never holds up the
// user's sign-out, with a bound on each attempt's time, a few retries with
// backoff, a bound on the deliveries made at once and on those waiting.
const (
	// bclTimeout bounds one attempt (§2.5: the OP waits for the RP's
	// answer, "a reasonable time").
	bclTimeout = 5 * time.Second
	// bclAttempts: the first try and two retries, after 1 s and 2 s.
	bclAttempts = 3
	bclBackoff  = time.Second
	// bclConcurrency deliveries at once; bclPending waiting at most, past
	// which a delivery is dropped (logged): a logout storm does not grow
	// goroutines without bound.
	bclConcurrency = 8
	bclPending     = 1024
	// bclResponseLimit is as much of an answer as is read (the body is
	// ignored: §2.8 only has the status matter).
	bclResponseLimit = 4 << 10
)

// backchannel delivers logout tokens.
type backchannel struct {
	client  *http.Client
	log     *slog.Logger
	backoff time.Duration
	sem     chan struct{}
	pending atomic.Int64
	wg      sync.WaitGroup
}

func newBackchannel(log *slog.Logger) *backchannel {
	return &backchannel{
		// No redirects: the token goes to the registered URI only.
		client: &http.Client{Timeout: bclTimeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		log: log, backoff: bclBackoff, sem: make(chan struct{}, bclConcurrency),
	}
}

// send delivers token to uri in the background.
func (b *backchannel) send(clientID, uri, token string) {
	if b.pending.Add(1) > bclPending {
		b.pending.Add(-1)
		b.log.Warn("oauth2: back-channel logout dropped: too many deliveries waiting", "client", clientID)
		return
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer b.pending.Add(-1)
		b.sem <- struct{}{}
		defer func() { <-b.sem }()
		wait := b.backoff
		for attempt := 1; ; attempt++ {
			err := b.post(uri, token)
			if err == nil {
				return
			}
			var final *finalError
			if errors.As(err, &final) || attempt == bclAttempts {
				b.log.Warn("oauth2: back-channel logout not delivered", "client", clientID, "attempts", attempt, "error", err)
				return
			}
			time.Sleep(wait)
			wait *= 2
		}
	}()
}

// finalError is an answer a retry would not change (a 3xx or 4xx but 429).
type finalError struct{ status int }

func (e *finalError) Error() string {
	return "the client refused the logout token: HTTP " + strconv.Itoa(e.status)
}

// post makes one attempt (§2.5: application/x-www-form-urlencoded with
// logout_token; §2.8: 200 is success, 400 a refusal).
func (b *backchannel) post(uri, token string) error {
	ctx, cancel := context.WithTimeout(context.Background(), bclTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	if err != nil {
		return &finalError{status: http.StatusBadRequest}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, bclResponseLimit)) // lets the connection be reused
	switch {
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNoContent:
		return nil
	case resp.StatusCode >= 300 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests:
		// A refusal, or a redirect (not followed): the same answer again.
		return &finalError{status: resp.StatusCode}
	default:
		return errors.New("HTTP " + resp.Status)
	}
}

// wait returns once every delivery started is done (tests, shutdown).
func (b *backchannel) wait() { b.wg.Wait() }
