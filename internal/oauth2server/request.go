package oauth2server

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// maxBody bounds form and JSON bodies of the OAuth2 endpoints.
const maxBody = 64 << 10

// params reads a form or JSON body (Express Gateway accepts both at the
// token endpoint). Repeated parameters are an error (RFC 6749 §3.1, §3.2).
func params(r *http.Request) (url.Values, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, errInvalidRequest("could not read the body")
	}
	if len(body) > maxBody {
		return nil, &oauthError{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Description: "request body too large"}
	}
	var v url.Values
	switch ct {
	case "application/json":
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, errInvalidRequest("body is not valid JSON")
		}
		v = url.Values{}
		for k, x := range m {
			switch y := x.(type) {
			case string:
				v.Set(k, y)
			case float64, bool:
				v.Set(k, fmt.Sprint(y))
			case nil:
			default:
				return nil, errInvalidRequest("Invalid parameter: %s must be a string", k)
			}
		}
	case "application/x-www-form-urlencoded", "":
		if v, err = url.ParseQuery(string(body)); err != nil {
			return nil, errInvalidRequest("body is not a valid form")
		}
	default:
		return nil, errInvalidRequest("Content-Type must be application/x-www-form-urlencoded or application/json")
	}
	for k, vals := range v {
		if len(vals) > 1 {
			return nil, errInvalidRequest("parameter %s is repeated", k)
		}
	}
	return v, nil
}

// basicAuth reads HTTP Basic client credentials; RFC 6749 §2.3.1 says they
// are form-urlencoded before base64.
func basicAuth(r *http.Request) (id, secret string, present bool, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", "", false, nil
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "basic") {
		return "", "", true, errInvalidClient(true)
	}
	raw, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(tok))
	if derr != nil {
		return "", "", true, errInvalidClient(true)
	}
	u, p, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", true, errInvalidClient(true)
	}
	if uu, e := url.QueryUnescape(u); e == nil {
		u = uu
	}
	if pp, e := url.QueryUnescape(p); e == nil {
		p = pp
	}
	return u, p, true, nil
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limiter counts failures per key in fixed windows; a key past its limit is
// refused until its window ends. Bounded: old windows are dropped.
type limiter struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	now    func() time.Time
	counts map[string]*window
}

type window struct {
	start time.Time
	n     int
}

func newLimiter(limit int, w time.Duration, now func() time.Time) *limiter {
	return &limiter{limit: limit, window: w, now: now, counts: map[string]*window{}}
}

// blocked reports whether key is over its limit, and for how long.
func (l *limiter) blocked(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.counts[key]
	if w == nil {
		return false, 0
	}
	left := l.window - l.now().Sub(w.start)
	if left <= 0 {
		delete(l.counts, key)
		return false, 0
	}
	return w.n >= l.limit, left
}

// fail records a failure for key.
func (l *limiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.counts) > 100_000 { // drop expired windows before growing more
		for k, w := range l.counts {
			if now.Sub(w.start) >= l.window {
				delete(l.counts, k)
			}
		}
	}
	w := l.counts[key]
	if w == nil || now.Sub(w.start) >= l.window {
		w = &window{start: now}
		l.counts[key] = w
	}
	w.n++
}

// reset forgets key (after a success).
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.counts, key)
}
