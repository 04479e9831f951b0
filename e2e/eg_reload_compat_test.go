package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestReloadRemovingAPipelinesPolicies is Express Gateway's hot-reload
// test: a reload that removes a pipeline's last policy is accepted (with a
// warning naming the pipeline) and the pipeline's routes answer 404;
// putting the policies back serves again.
func TestReloadRemovingAPipelinesPolicies(t *testing.T) {
	up := echoServer(t, "up")
	conf := func(policies string) string {
		return fmt.Sprintf("http: {port: 0, host: 127.0.0.1}\napiEndpoints:\n  api: {paths: '/api/*'}\n"+
			"serviceEndpoints: {s: {url: '%s'}}\npolicies: [proxy]\npipelines:\n  p:\n    apiEndpoints: [api]\n    policies:%s\n", up.URL, policies)
	}
	withProxy := conf("\n      - proxy: {action: {serviceEndpoint: s}}")
	g := startGateway(t, withProxy, func(o *appOptions) { o.ReloadInterval = -1 })
	status := func() (int, string) {
		resp := get(t, g.base+"/api/x")
		return resp.StatusCode, readBody(t, resp)
	}
	if code, body := status(); code != 200 {
		t.Fatalf("before the edit: %d %s", code, body)
	}

	warning := `gateway.config.yml:7: pipelines.p.policies: pipeline \"p\" has no policies; the requests routed to it answer 404`
	for i, empty := range []string{" []", "", " null"} {
		writeConfig(t, g.dir, conf(empty))
		if err := g.app.Reload(); err != nil {
			t.Fatalf("policies:%q: reload refused: %v", empty, err)
		}
		code, body := status()
		var reason struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &reason); code != 404 || err != nil || reason.Error != "not_found" {
			t.Errorf("policies:%q: got %d %s, want 404 with the JSON reason not_found", empty, code, body)
		}
		if n := strings.Count(g.logs.String(), warning); n != i+1 {
			t.Errorf("policies:%q: %d warnings naming the pipeline, want %d (one per reload without policies); want %s in:\n%s", empty, n, i+1, warning, indent(g.logs.String()))
		}

		writeConfig(t, g.dir, withProxy)
		if err := g.app.Reload(); err != nil {
			t.Fatalf("putting the policy back: %v", err)
		}
		if code, body := status(); code != 200 {
			t.Errorf("after putting the policy back: %d %s", code, body)
		}
	}

	// At start too: a file whose pipeline has no policies loads.
	g2 := startGateway(t, conf(" []"), func(o *appOptions) { o.ReloadInterval = 20 * time.Millisecond })
	resp := get(t, g2.base+"/api/x")
	if body := readBody(t, resp); resp.StatusCode != 404 {
		t.Errorf("started without policies: %d %s, want 404", resp.StatusCode, body)
	}
	if !strings.Contains(g2.logs.String(), warning) {
		t.Errorf("no warning at start; logs:\n%s", indent(g2.logs.String()))
	}
}
