package accesslog

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"
)

// slogLine is what the gateway wrote before this package: the attributes
// built one by one and handed to slog's handler.
func slogLine(t testing.TB, text bool, at time.Time, e *Entry) []byte {
	t.Helper()
	attrs := []slog.Attr{
		slog.String("request_id", e.RequestID),
		slog.String("method", e.Method),
		slog.String("path", e.Path),
		slog.Int("status", e.Status),
	}
	if e.Bytes >= 0 {
		attrs = append(attrs, slog.Int64("bytes", e.Bytes))
	}
	attrs = append(attrs, slog.Duration("duration", e.Duration), slog.String("remote", e.Remote))
	if e.Peer != "" {
		attrs = append(attrs, slog.String("peer", e.Peer))
	}
	if e.APIEndpoint != "" {
		attrs = append(attrs, slog.String("api_endpoint", e.APIEndpoint), slog.String("pipeline", e.Pipeline))
	}
	if e.Identified {
		attrs = append(attrs, slog.String("consumer_id", e.ConsumerID))
	}
	if e.Reason != "" {
		attrs = append(attrs, slog.String("reason", e.Reason))
	}
	if e.Policy != "" {
		attrs = append(attrs, slog.String("policy", e.Policy))
	}
	if e.AuthResult != "" {
		attrs = append(attrs, slog.String("auth", e.AuthPolicy+":"+e.AuthResult))
	}
	if e.Upstream != "" {
		attrs = append(attrs, slog.String("upstream", e.Upstream))
	}
	var buf bytes.Buffer
	var h slog.Handler = slog.NewJSONHandler(&buf, nil)
	if text {
		h = slog.NewTextHandler(&buf, nil)
	}
	r := slog.NewRecord(at, slog.LevelInfo, "request", 0)
	r.AddAttrs(attrs...)
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var formatCases = []Entry{
	{RequestID: "3n34dNBNmxpbiQsOpf0kvL", Method: "GET", Path: "/api/hello", Status: 502, Bytes: 116,
		Duration: 420674 * time.Nanosecond, Remote: "127.0.0.1:53596", APIEndpoint: "api", Pipeline: "api",
		Reason: "bad_gateway", Policy: "proxy", Upstream: "127.0.0.1:9100"},
	{RequestID: "x", Method: "POST", Path: "/a", Status: 429, Bytes: 118, Duration: 100199 * time.Nanosecond,
		Remote: "10.0.0.1", Peer: "127.0.0.1:60968", APIEndpoint: "sec", Pipeline: "sec", Identified: true,
		ConsumerID: "262f9f98-ee75-4778-810e-dbbcc8d0dff2", Reason: "rate_limited", Policy: "rate-limit",
		AuthPolicy: "key-auth", AuthResult: "allowed"},
	// The listener's refusal: no bytes, no route.
	{RequestID: "r", Method: "GET", Path: "/", Status: 400, Bytes: -1, Duration: time.Millisecond,
		Remote: "[::1]:1", Reason: "invalid_framing"},
	// Zero values: status 0 (client left), empty method, path, remote;
	// consumer_id present and empty; a route with no pipeline name.
	{Identified: true, APIEndpoint: "e", AuthResult: "anonymous"},
	// What needs escaping or quoting in either format.
	{RequestID: `"quoted"`, Method: "M E=T", Path: "/a b/\t\n\r\x00\x1f\x7f/\\/<>&/é/\u2028\u2029/\xff\xfe/\u00a0/\u200b",
		Status: 200, Bytes: 1 << 40, Duration: 90 * time.Hour, Remote: "=", Peer: " ", APIEndpoint: "ü",
		Pipeline: "p\"", Identified: true, ConsumerID: "\\", Reason: "r\u0085", Policy: "\U0001F600",
		AuthPolicy: "a\xe2\x80", AuthResult: "\x80b", Upstream: "h:1"},
}

var formatTimes = []time.Time{
	time.Date(2026, 12, 2, 1, 5, 24, 295920598, time.UTC),
	time.Date(2026, 12, 2, 1, 5, 24, 0, time.UTC),                                   // no fraction
	time.Date(2026, 12, 2, 1, 5, 24, 999999999, time.FixedZone("x", -5*3600-30*60)), // rounds in text, offset zone
	time.Date(2026, 1, 2, 3, 4, 5, 100000, time.FixedZone("y", 3600)),
	time.Now(), // with a monotonic reading, which slog strips
	// The same second in other zones, and within one second: the cached
	// stamp must follow the zone and keep the second.
	time.Date(2026, 12, 2, 1, 5, 24, 295920598, time.FixedZone("z", 2*3600)),
	time.Date(2026, 12, 2, 1, 5, 24, 295920598, time.Local),
	time.Date(2026, 12, 2, 1, 5, 24, 1, time.Local),
	time.Date(2026, 12, 2, 1, 5, 24, 120000000, time.Local),
	time.Date(2026, 12, 2, 1, 5, 25, 999000000, time.Local),
	time.Date(2026, 12, 2, 1, 5, 25, 999000000, time.UTC),
	time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC),
}

// TestFormatIsSlogs: every line is byte for byte the one slog's JSON and
// text handlers write for the same attributes, which is what the gateway
// logged before (the tests and log pipelines that read it keep working).
func TestFormatIsSlogs(t *testing.T) {
	var c stamps // shared: lines of the same second reuse its stamp
	for i := range formatCases {
		e := &formatCases[i]
		for _, at := range formatTimes {
			if got, want := appendJSON(nil, &c, at, e), slogLine(t, false, at, e); !bytes.Equal(got, want) {
				t.Errorf("case %d JSON at %v:\n got %s\nwant %s", i, at, got, want)
			}
			if got, want := appendText(nil, &c, at, e), slogLine(t, true, at, e); !bytes.Equal(got, want) {
				t.Errorf("case %d text at %v:\n got %s\nwant %s", i, at, got, want)
			}
		}
	}
}

// FuzzFormat compares both formats with slog's over arbitrary strings.
func FuzzFormat(f *testing.F) {
	for _, e := range formatCases {
		f.Add(e.Path, e.Method, e.ConsumerID, e.AuthPolicy, int64(e.Duration))
	}
	f.Fuzz(func(t *testing.T, path, method, consumer, auth string, d int64) {
		e := &Entry{RequestID: consumer, Method: method, Path: path, Status: 200, Bytes: d & 0xffff,
			Duration: time.Duration(d), Remote: path, Peer: method, APIEndpoint: auth, Pipeline: path,
			Identified: true, ConsumerID: consumer, Reason: auth, Policy: method, AuthPolicy: auth,
			AuthResult: consumer + "x", Upstream: path}
		at := time.Unix(0, d&(1<<60-1))
		if d < 0 {
			at = at.UTC()
		}
		if at.Year() >= 10000 {
			return
		}
		var c stamps
		for range 2 { // a new stamp, then the cached one
			if got, want := appendJSON(nil, &c, at, e), slogLine(t, false, at, e); !bytes.Equal(got, want) {
				t.Errorf("JSON:\n got %s\nwant %s", got, want)
			}
			if got, want := appendText(nil, &c, at, e), slogLine(t, true, at, e); !bytes.Equal(got, want) {
				t.Errorf("text:\n got %s\nwant %s", got, want)
			}
		}
	})
}

// TestFormatAllocs: formatting a JSON line into a buffer with room
// allocates nothing (no attributes, no reflection).
func TestFormatAllocs(t *testing.T) {
	e := formatCases[1]
	b := make([]byte, 0, 1024)
	at := time.Now()
	var c stamps
	b = appendJSON(b, &c, at, &e) // the second's stamp
	if n := testing.AllocsPerRun(100, func() { b = appendJSON(b[:0], &c, at, &e) }); n != 0 {
		t.Errorf("appendJSON allocates %v times per line", n)
	}
}
