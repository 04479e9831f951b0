package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func reloadConfig(upstream string, extraEndpoint bool) string {
	endpoints := "  api: {paths: '/api/*'}\n"
	pipelines := "  p: {apiEndpoints: [api], policies: [{proxy: {action: {serviceEndpoint: s}}}]}\n"
	if extraEndpoint {
		endpoints += "  fresh: {paths: /fresh}\n"
		pipelines += "  q: {apiEndpoints: [fresh], policies: [{terminate: {action: {statusCode: 201, message: fresh}}}]}\n"
	}
	return fmt.Sprintf("http: {port: 0, host: 127.0.0.1}\napiEndpoints:\n%sserviceEndpoints: {s: {url: '%s'}}\npolicies: [proxy, terminate]\npipelines:\n%s",
		endpoints, upstream, pipelines)
}

// TestHotReloadUnderLoad edits the config while requests run: no request
// fails, the new route is live within 2 s, and a broken edit changes nothing
// and is logged with file:line.
func TestHotReloadUnderLoad(t *testing.T) {
	up := echoServer(t, "up")
	g := startGateway(t, reloadConfig(up.URL, false))

	var ok, failed atomic.Int64
	var failures sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000; i++ { // bounded; normally ended by stop
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(g.base + "/api/load")
				if err != nil {
					failed.Add(1)
					failures.Store(err.Error(), true)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					failures.Store(fmt.Sprint("status ", resp.StatusCode), true)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)

	// 1. A new route goes live within 2 s.
	writeConfig(t, g.dir, reloadConfig(up.URL, true))
	edited := time.Now()
	live := false
	for time.Since(edited) < 2*time.Second {
		resp, err := client.Get(g.base + "/fresh")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 201 {
				live = true
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !live {
		t.Fatalf("new route not live 2s after the edit; logs:\n%s", indent(g.logs.String()))
	}
	t.Logf("new route live after %v", time.Since(edited).Round(time.Millisecond))

	// 2. A broken edit changes nothing and is logged with file:line.
	broken := strings.Replace(reloadConfig(up.URL, true), "serviceEndpoint: s}", "serviceEndpoint: nope}", 1)
	writeConfig(t, g.dir, broken)
	want := `gateway.config.yml:8: pipelines.p.policies[0].proxy.action.serviceEndpoint: service endpoint \"nope\" is not declared under serviceEndpoints`
	deadline := time.Now().Add(3 * time.Second)
	for !strings.Contains(g.logs.String(), want) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	logs := g.logs.String()
	if !strings.Contains(logs, want) {
		t.Errorf("rejected reload not logged with file:line; want %s in:\n%s", want, indent(logs))
	}
	time.Sleep(200 * time.Millisecond)
	for _, path := range []string{"/api/after-broken", "/fresh"} {
		resp := get(t, g.base+path)
		resp.Body.Close()
		if resp.StatusCode != 200 && resp.StatusCode != 201 {
			t.Errorf("%s after a broken edit = %d: the previous config must keep serving", path, resp.StatusCode)
		}
	}

	// 3. Fixing the file again is picked up.
	writeConfig(t, g.dir, reloadConfig(up.URL, false))
	deadline = time.Now().Add(2 * time.Second)
	gone := false
	for !gone && time.Now().Before(deadline) {
		resp := get(t, g.base+"/fresh")
		resp.Body.Close()
		if gone = resp.StatusCode == 404; !gone {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !gone {
		t.Errorf("/fresh still served 2s after the fixed file removed it; logs:\n%s", indent(g.logs.String()))
	}

	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		var reasons []string
		failures.Range(func(k, _ any) bool { reasons = append(reasons, k.(string)); return true })
		t.Errorf("%d of %d requests failed during reloads: %v", failed.Load(), failed.Load()+ok.Load(), reasons)
	}
	if ok.Load() < 100 {
		t.Errorf("only %d requests ran: the load did not overlap the reloads", ok.Load())
	}
	t.Logf("%d requests, none failed, across 3 reloads", ok.Load())
}

// TestReloadOnDemand: Reload (SIGHUP) rereads even when the poller is off.
func TestReloadOnDemand(t *testing.T) {
	up := echoServer(t, "up")
	g := startGateway(t, reloadConfig(up.URL, false), func(o *appOptions) { o.ReloadInterval = -1 })
	writeConfig(t, g.dir, reloadConfig(up.URL, true))
	// Longer than the default poll interval (500ms): a poller left running
	// would have picked the edit up by now.
	time.Sleep(700 * time.Millisecond)
	if resp := get(t, g.base+"/fresh"); resp.StatusCode != 404 {
		t.Fatalf("with polling off the edit must wait for a reload; got %d", resp.StatusCode)
	}
	if err := g.app.Reload(); err != nil {
		t.Fatal(err)
	}
	if resp := get(t, g.base+"/fresh"); resp.StatusCode != 201 {
		t.Errorf("after Reload /fresh = %d, want 201", resp.StatusCode)
	}
}
