package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestShutdownFlushesAccessLog: a graceful stop loses no access-log line,
// though lines are written asynchronously and flushed every 100 ms: the
// lines of answered requests and of the one still in flight when Shutdown
// began are all written when Shutdown returns, the listener's own refusals
// (no bytes field) among them.
func TestShutdownFlushesAccessLog(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			<-release
		}
		io.WriteString(w, "ok")
	}))
	defer up.Close()
	dir := t.TempDir()
	cfg := `http: {host: 127.0.0.1, port: 0, maxBodyBytes: 10}
apiEndpoints: {api: {paths: ['/*']}}
serviceEndpoints: {up: {url: '` + up.URL + `'}}
policies: [proxy]
pipelines:
  p: {apiEndpoints: [api], policies: [{proxy: [{action: {serviceEndpoint: up}}]}]}
`
	if err := os.WriteFile(filepath.Join(dir, "gateway.config.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var acc lockedBuffer
	a, err := Start(Options{ConfigDir: dir, DataDir: t.TempDir(), ReloadInterval: -1, BcryptCost: 4, AccessLog: &acc})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + a.Addr("http").String()
	const fast = 20
	for range fast {
		resp, err := http.Get(base + "/fast")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := http.Post(base+"/big", "text/plain", strings.NewReader(strings.Repeat("x", 11)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("declared body over the limit: %d", resp.StatusCode)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		resp, err := http.Get(base + "/slow")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-arrived
	stopped := make(chan error, 1)
	go func() { stopped <- a.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond) // Shutdown is waiting for /slow
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	counts := map[string]int{}
	var refusal map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(acc.String(), "\n"), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		path, _ := v["path"].(string)
		counts[path]++
		if path == "/big" {
			refusal = v
		}
	}
	if counts["/fast"] != fast || counts["/slow"] != 1 || counts["/big"] != 1 {
		t.Errorf("lines per path after Shutdown: %v, want /fast %d, /slow 1, /big 1:\n%s", counts, fast, acc.String())
	}
	if _, ok := refusal["bytes"]; ok || refusal["reason"] != "body_too_large" || refusal["status"] != 413.0 {
		t.Errorf("the listener's refusal: %v", refusal)
	}
}
