package redisstore

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestClientLogRepeats: during an outage go-redis reports the same dial
// failure several times a second; the log gets it once, then one summary
// line per SummaryEvery, and a different message is written at once.
func TestClientLogRepeats(t *testing.T) {
	var buf bytes.Buffer
	c := NewClientLog(slog.New(slog.NewJSONHandler(&buf, nil)))
	now := time.Unix(1_000_000, 0)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	dial := "connection pool: failed to dial after %d attempts: %s"

	// Two failed dials every half second for 65 seconds.
	for i := 0; i < 260; i++ {
		c.Printf(ctx, dial, 1, "dial tcp 127.0.0.1:6379: connect: connection refused")
		if i%2 == 1 {
			now = now.Add(500 * time.Millisecond)
		}
	}
	c.Printf(ctx, "discarding bad PubSub connection: %s", "EOF")

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("bad line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	// The first line, a summary at 30 s and at 60 s, then the remaining
	// repeats as one line before the new message, and the new message.
	want := []struct {
		msg      string
		repeated float64 // 0: no repeated attribute
	}{
		{"redis: connection pool: failed to dial after 1 attempts", 0},
		{"redis: connection pool: failed to dial after 1 attempts", 120},
		{"redis: connection pool: failed to dial after 1 attempts", 120},
		{"redis: connection pool: failed to dial after 1 attempts", 19},
		{"redis: discarding bad PubSub connection: EOF", 0},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		msg, _ := lines[i]["msg"].(string)
		rep, _ := lines[i]["repeated"].(float64)
		if !strings.HasPrefix(msg, w.msg) || rep != w.repeated {
			t.Errorf("line %d = %q repeated %v, want %q repeated %v", i, msg, rep, w.msg, w.repeated)
		}
	}
}
