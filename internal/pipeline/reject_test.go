package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func logTo(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// logLines decodes the JSON log lines written to buf.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("bad log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestWriteError(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		requestID string
		status    int
		header    map[string]string // "" value: must be absent
		body      string
		log       map[string]any // nil: nothing logged
	}{
		{
			name:      "rejection with a challenge",
			err:       &Rejection{Status: 401, Code: "invalid_token", Message: "the access token expired", Challenge: `Bearer error="invalid_token"`},
			requestID: "rid1",
			status:    401,
			header: map[string]string{
				"WWW-Authenticate":       `Bearer error="invalid_token"`,
				"Content-Type":           "application/json; charset=utf-8",
				"X-Content-Type-Options": "nosniff",
				"Cache-Control":          "no-store",
			},
			body: `{"error":"invalid_token","message":"the access token expired","request_id":"rid1"}` + "\n",
		},
		{
			name:   "Reject without message nor request id",
			err:    Reject(http.StatusForbidden, "insufficient_scope", ""),
			status: 403,
			header: map[string]string{"WWW-Authenticate": ""},
			body:   `{"error":"insufficient_scope"}` + "\n",
		},
		{
			name: "extra headers",
			err: &Rejection{Status: 429, Code: "rate_limited", Message: "slow down",
				Header: http.Header{"Retry-After": {"30"}, "X-Ratelimit-Remaining": {"0"}}},
			requestID: "r",
			status:    429,
			header:    map[string]string{"Retry-After": "30", "X-Ratelimit-Remaining": "0"},
			body:      `{"error":"rate_limited","message":"slow down","request_id":"r"}` + "\n",
		},
		{
			name:      "the cause of a rejection is logged, not sent",
			err:       &Rejection{Status: 502, Code: "bad_gateway", Message: "upstream failed", Err: errors.New("dial tcp 10.0.0.7:80: connection refused")},
			requestID: "rid2",
			status:    502,
			body:      `{"error":"bad_gateway","message":"upstream failed","request_id":"rid2"}` + "\n",
			log: map[string]any{"level": "WARN", "msg": "request refused", "request_id": "rid2", "status": 502.0,
				"reason": "bad_gateway", "error": "dial tcp 10.0.0.7:80: connection refused"},
		},
		{
			name:      "a wrapped rejection is still a rejection",
			err:       fmt.Errorf("key-auth: %w", Reject(401, "unauthorized", "no key")),
			requestID: "rid3",
			status:    401,
			body:      `{"error":"unauthorized","message":"no key","request_id":"rid3"}` + "\n",
		},
		{
			name:      "any other error is a 500 that says nothing of its cause",
			err:       errors.New("redis: password=hunter2 connection reset"),
			requestID: "rid4",
			status:    500,
			header:    map[string]string{"Content-Type": "application/json; charset=utf-8", "WWW-Authenticate": ""},
			body:      `{"error":"internal_error","message":"the gateway failed to handle the request","request_id":"rid4"}` + "\n",
			log:       map[string]any{"level": "ERROR", "msg": "request failed", "request_id": "rid4", "error": "redis: password=hunter2 connection reset"},
		},
		{
			name:   "JSON escaping",
			err:    Reject(400, `bad"code\`, "line1\nline2\t<script>&amp;</script> é \x01"),
			status: 400,
			body:   `{"error":"bad\"code\\","message":"line1\u000aline2\u0009\u003cscript\u003e\u0026amp;\u003c/script\u003e é \u0001"}` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			st := &State{RequestID: tt.requestID}
			r := WithState(httptest.NewRequest("GET", "/x", nil), st)
			w := httptest.NewRecorder()
			WriteError(w, r, tt.err, logTo(&logs))
			if w.Code != tt.status {
				t.Errorf("status %d, want %d", w.Code, tt.status)
			}
			for k, v := range tt.header {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if w.Body.String() != tt.body {
				t.Errorf("body:\n%s\nwant:\n%s", w.Body, tt.body)
			}
			var decoded map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &decoded); err != nil {
				t.Errorf("body is not JSON: %v", err)
			}
			var rej *Rejection
			if errors.As(tt.err, &rej) {
				if decoded["error"] != rej.Code || decoded["message"] != rej.Message {
					t.Errorf("decoded body %q does not round-trip %q / %q", decoded, rej.Code, rej.Message)
				}
			}
			lines := logLines(t, &logs)
			if tt.log == nil {
				if len(lines) != 0 {
					t.Errorf("logged %v, want nothing", lines)
				}
			} else {
				if len(lines) != 1 {
					t.Fatalf("logged %d lines, want 1: %s", len(lines), logs.String())
				}
				for k, v := range tt.log {
					if lines[0][k] != v {
						t.Errorf("log %s = %v, want %v", k, lines[0][k], v)
					}
				}
			}
			want := "internal_error"
			if rej != nil {
				want = rej.Code
			}
			if st.Record.Reason != want {
				t.Errorf("state reason %q, want %q", st.Record.Reason, want)
			}
		})
	}
}

// writtenRecorder is a response that has already started, as the gateway's
// response writer reports it.
type writtenRecorder struct {
	*httptest.ResponseRecorder
	headerCalls, writes int
}

func (w *writtenRecorder) Written() bool { return true }
func (w *writtenRecorder) WriteHeader(code int) {
	w.headerCalls++
	w.ResponseRecorder.WriteHeader(code)
}
func (w *writtenRecorder) Write(b []byte) (int, error) {
	w.writes++
	return w.ResponseRecorder.Write(b)
}

func TestWriteErrorAfterResponseStarted(t *testing.T) {
	for _, err := range []error{
		Reject(401, "unauthorized", "no"),
		&Rejection{Status: 502, Code: "bad_gateway", Err: errors.New("reset")},
		errors.New("boom"),
	} {
		var logs bytes.Buffer
		w := &writtenRecorder{ResponseRecorder: httptest.NewRecorder()}
		w.Header().Set("Content-Type", "text/plain")
		st := &State{RequestID: "rid"}
		r := WithState(httptest.NewRequest("GET", "/", nil), st)
		WriteError(w, r, err, logTo(&logs))
		if w.headerCalls != 0 || w.writes != 0 {
			t.Errorf("%v: wrote to a started response (%d WriteHeader, %d Write)", err, w.headerCalls, w.writes)
		}
		if got := w.Header().Get("Content-Type"); got != "text/plain" {
			t.Errorf("%v: changed the headers of a started response: %q", err, got)
		}
		var rej *Rejection
		if !errors.As(err, &rej) || rej.Err != nil {
			// the error is still logged
			if !strings.Contains(logs.String(), "rid") {
				t.Errorf("%v: not logged: %q", err, logs.String())
			}
		}
		if st.Record.Reason == "" {
			t.Errorf("%v: no reason recorded", err)
		}
	}
}

// TestWriteErrorRecordsTheLastDecision: a refusal after an earlier
// decision (authentication passed, then rate-limited) is what the client saw,
// so it is the reason logged.
func TestWriteErrorRecordsTheLastDecision(t *testing.T) {
	st := &State{Record: Record{Reason: "authenticated:key-auth"}}
	r := WithState(httptest.NewRequest("GET", "/", nil), st)
	WriteError(httptest.NewRecorder(), r, Reject(429, "rate_limited", ""), slog.New(slog.DiscardHandler))
	if st.Record.Reason != "rate_limited" {
		t.Errorf("reason %q, want rate_limited", st.Record.Reason)
	}
}

func TestWriteErrorWithoutState(t *testing.T) {
	w := httptest.NewRecorder()
	WriteError(w, httptest.NewRequest("GET", "/", nil), Reject(404, "not_found", "nothing here"), slog.New(slog.DiscardHandler))
	if w.Code != 404 || w.Body.String() != `{"error":"not_found","message":"nothing here"}`+"\n" {
		t.Errorf("got %d %q", w.Code, w.Body)
	}
}

func TestRejectionError(t *testing.T) {
	cause := errors.New("cause")
	tests := []struct {
		r    *Rejection
		want string
	}{
		{Reject(401, "unauthorized", ""), "401 unauthorized"},
		{Reject(401, "unauthorized", "no key"), "401 unauthorized: no key"},
		{&Rejection{Status: 502, Code: "bad_gateway", Message: "upstream", Err: cause}, "502 bad_gateway: upstream: cause"},
		{&Rejection{Status: 500, Code: "x", Err: cause}, "500 x: cause"},
	}
	for _, tt := range tests {
		if got := tt.r.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	if !errors.Is(tests[2].r, cause) {
		t.Error("Unwrap does not reach the cause")
	}
	if r := Reject(418, "teapot", "short and stout"); r.Status != 418 || r.Code != "teapot" || r.Message != "short and stout" || r.Err != nil {
		t.Errorf("Reject = %+v", r)
	}
}
