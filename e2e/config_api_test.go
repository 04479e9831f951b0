package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/configedit"
)

// The config-editing Admin API (Express Gateway §6.5): /api-endpoints,
// /service-endpoints, /pipelines, /policies and /schemas over the real
// app, its file on disk and its reload path.

const cfgAdminKey = "config-admin-key"

func editableConfig(upstream string) string {
	return `# Gateway config (comments must survive Admin API edits)
http: {port: 0, host: 127.0.0.1}
admin: {port: 0, host: 127.0.0.1, apiKey: '` + cfgAdminKey + `'}

# Routes
apiEndpoints:
  # the public API
  api:
    paths: '/api/*'   # everything under /api

serviceEndpoints:
  up:
    url: ${UP_URL}    # from the environment

policies:
  - proxy
  - terminate

pipelines:
  default:
    apiEndpoints: [api]
    policies:
      - proxy:
          action: {serviceEndpoint: up, stripPath: true}
`
}

type configAPI struct {
	*gatewayUnderTest
	admin string
	file  string
}

// startEditable starts the app on editableConfig with the poller off
// unless poll: what a PUT changes is live because the PUT made it so.
func startEditable(t *testing.T, poll bool) (*configAPI, string) {
	t.Helper()
	up := echoServer(t, "up")
	g := startGateway(t, editableConfig(up.URL), func(o *appOptions) {
		if !poll {
			o.ReloadInterval = -1
		}
		o.Lookup = func(k string) (string, bool) {
			if k == "UP_URL" {
				return up.URL, true
			}
			return "", false
		}
	})
	return &configAPI{gatewayUnderTest: g, admin: "http://" + g.app.Addr("admin").String(), file: filepath.Join(g.dir, "gateway.config.yml")}, up.URL
}

type adminAnswer struct {
	code int
	body string
}

func (a adminAnswer) obj(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(a.body), &m); err != nil {
		t.Fatalf("not a JSON object (%d): %s", a.code, a.body)
	}
	return m
}

func (c *configAPI) call(t *testing.T, method, path, body string, key ...string) adminAnswer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, c.admin+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	k := cfgAdminKey
	if len(key) > 0 {
		k = key[0]
	}
	if k != "" {
		req.Header.Set("Authorization", "Bearer "+k)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return adminAnswer{resp.StatusCode, readBody(t, resp)}
}

func (c *configAPI) want(t *testing.T, a adminAnswer, code int, contains ...string) {
	t.Helper()
	if a.code != code {
		t.Fatalf("status %d, want %d: %s", a.code, code, a.body)
	}
	for _, s := range contains {
		if !strings.Contains(a.body, s) {
			t.Fatalf("body lacks %q: %s", s, a.body)
		}
	}
}

func (c *configAPI) read(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(c.file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (c *configAPI) status(t *testing.T, path string) int {
	t.Helper()
	resp := get(t, c.base+path)
	resp.Body.Close()
	return resp.StatusCode
}

// TestConfigAPICreateReplaceDelete: 201 then live on return, 204 keeping
// the file's comments, GETs from the serving config (${VAR} as written),
// DELETE and the 404s.
func TestConfigAPICreateReplaceDelete(t *testing.T) {
	c, _ := startEditable(t, false)
	other := echoServer(t, "other")

	// Reads: the serving config, raw.
	c.want(t, c.call(t, "GET", "/service-endpoints", ""), 200, `{"up":{"url":"${UP_URL}"}}`)
	c.want(t, c.call(t, "GET", "/api-endpoints/api", ""), 200, `{"paths":"/api/*"}`)
	c.want(t, c.call(t, "GET", "/pipelines/nope", ""), 404, `"not_found"`, "pipeline not found: nope")

	// New entries: 201, and the route answers as soon as the PUTs return
	// (the poller is off: nothing else reloads).
	c.want(t, c.call(t, "PUT", "/service-endpoints/other", `{"url":"`+other.URL+`"}`), 201)
	c.want(t, c.call(t, "PUT", "/api-endpoints/fresh", `{"host":"*","paths":["/fresh/*"]}`), 201)
	c.want(t, c.call(t, "PUT", "/pipelines/fresh", `{"apiEndpoints":["fresh"],"policies":[{"proxy":[{"action":{"serviceEndpoint":"other"}}]}]}`), 201)
	if e := decodeEcho(t, get(t, c.base+"/fresh/x")); e.Server != "other" {
		t.Fatalf("/fresh/x reached %q, want the new serviceEndpoint", e.Server)
	}
	c.want(t, c.call(t, "GET", "/pipelines/fresh", ""), 200, `{"apiEndpoints":["fresh"],"policies":[{"proxy":[{"action":{"serviceEndpoint":"other"}}]}]}`)
	c.want(t, c.call(t, "GET", "/service-endpoints", ""), 200, `"up":{"url":"${UP_URL}"}`, `"other":`)

	// Replace: 204, the entry's kept keys keep their comments, every other
	// line of the file stays as it was, ${UP_URL} stays text.
	before := c.read(t)
	c.want(t, c.call(t, "PUT", "/api-endpoints/api", `{"paths":"/api/*","methods":["GET","POST"]}`), 204)
	after := c.read(t)
	wantFile := strings.Replace(before, "    paths: '/api/*'   # everything under /api\n",
		"    paths: '/api/*' # everything under /api\n    methods:\n      - GET\n      - POST\n", 1)
	if after != wantFile {
		t.Fatalf("the file after the replace:\n%s\nwant:\n%s", after, wantFile)
	}
	for _, s := range []string{"# Gateway config (comments must survive Admin API edits)", "  # the public API", "url: ${UP_URL}    # from the environment"} {
		if !strings.Contains(after, s) {
			t.Errorf("lost %q", s)
		}
	}
	req, _ := http.NewRequest("DELETE", c.base+"/api/x", nil)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 404 {
		t.Errorf("DELETE /api/x = %d, want 404: the replaced apiEndpoint takes GET and POST only", r.StatusCode)
	}

	// Delete: 204, gone on return; again 404.
	c.want(t, c.call(t, "DELETE", "/pipelines/fresh", ""), 204)
	if s := c.status(t, "/fresh/x"); s != 404 {
		t.Errorf("/fresh/x after DELETE = %d, want 404", s)
	}
	c.want(t, c.call(t, "DELETE", "/pipelines/fresh", ""), 404, "pipeline not found: fresh")
	c.want(t, c.call(t, "DELETE", "/api-endpoints/fresh", ""), 204)

	// Deleting what a pipeline uses: 422 with the loader's text, file as it was.
	before = c.read(t)
	a := c.call(t, "DELETE", "/api-endpoints/api", "")
	c.want(t, a, 422, `"invalid_config"`)
	if msg := a.obj(t)["message"].(string); !regexp.MustCompile(`^gateway\.config\.yml:\d+: pipelines\.default\.apiEndpoints: apiEndpoint "api" is not declared under apiEndpoints`).MatchString(msg) {
		t.Errorf("422 message %q, want file:line: path: message", msg)
	}
	if c.read(t) != before {
		t.Error("a refused DELETE changed the file")
	}

	// Policies: the enabled list.
	if a := c.call(t, "GET", "/policies", ""); a.code != 200 || strings.TrimSpace(a.body) != `["proxy","terminate"]` {
		t.Fatalf("GET /policies = %d %s", a.code, a.body)
	}
	c.want(t, c.call(t, "PUT", "/policies/cors", ""), 200, `{"status":"ok"}`)
	c.want(t, c.call(t, "GET", "/policies", ""), 200, `["proxy","terminate","cors"]`)
	c.want(t, c.call(t, "DELETE", "/policies/proxy", ""), 422, `policy \"proxy\" is not declared in the top-level policies list`)
	c.want(t, c.call(t, "DELETE", "/policies/cors", ""), 204)
	c.want(t, c.call(t, "DELETE", "/policies/cors", ""), 404)
	c.want(t, c.call(t, "PUT", "/policies/expression", ""), 422, "not available in Gatehouse")

	// Schemas.
	c.want(t, c.call(t, "GET", "/schemas/policy", ""), 200, `"type":"policy"`, configedit.PolicyID("proxy"), `"serviceEndpoint"`)
	c.want(t, c.call(t, "GET", "/schemas/"+url.PathEscape(configedit.PolicyID("jwt")), ""), 200, `"jwksUri"`)
	c.want(t, c.call(t, "GET", "/schemas/condition", ""), 200, configedit.ConditionID("pathExact"))
	c.want(t, c.call(t, "GET", "/schemas/nope", ""), 404)
	if a := c.call(t, "GET", "/schemas", ""); a.code != 200 || !strings.Contains(a.body, configedit.ConfigID) {
		t.Errorf("GET /schemas = %d", a.code)
	}
}

// TestConfigAPIInvalidPut: a PUT that would not load is 422 with the
// loader's file:line text, the file on disk is unchanged and the old
// config keeps serving.
func TestConfigAPIInvalidPut(t *testing.T) {
	c, _ := startEditable(t, true)
	before := c.read(t)
	a := c.call(t, "PUT", "/pipelines/bad", `{"apiEndpoints":["api2"],"policies":[{"proxy":{"action":{"serviceEndpoint":"nope"}}}]}`)
	c.want(t, a, 422, `"invalid_config"`)
	msg := a.obj(t)["message"].(string)
	for _, re := range []string{
		`(?m)^gateway\.config\.yml:\d+: pipelines\.bad\.apiEndpoints: apiEndpoint "api2" is not declared under apiEndpoints$`,
		`(?m)^gateway\.config\.yml:\d+: pipelines\.bad\.policies\[0\]\.proxy\.action\.serviceEndpoint: .*nope`,
	} {
		if !regexp.MustCompile(re).MatchString(msg) {
			t.Errorf("message %q does not match %s", msg, re)
		}
	}
	// A policy action the policy refuses is the same kind of answer.
	c.want(t, c.call(t, "PUT", "/pipelines/default", `{"apiEndpoints":["api"],"policies":[{"proxy":[{"action":{"serviceEndpoint":"up","bogus":1}}]}]}`),
		422, `action.bogus: unknown key`)
	// A body that is not JSON is 400.
	c.want(t, c.call(t, "PUT", "/api-endpoints/x", `{"paths":`), 400, "malformed JSON body")
	time.Sleep(150 * time.Millisecond) // past a poll: nothing was written to pick up
	if c.read(t) != before {
		t.Fatal("a refused PUT changed the file")
	}
	if e := decodeEcho(t, get(t, c.base+"/api/x")); e.Path != "/x" {
		t.Errorf("the old config no longer serves: %+v", e)
	}
	c.want(t, c.call(t, "GET", "/pipelines/bad", ""), 404)
}

// TestConfigAPIConcurrentPuts: PUTs of different entries at the same time
// all land in the file and are all live.
func TestConfigAPIConcurrentPuts(t *testing.T) {
	c, upURL := startEditable(t, true)
	const n = 8
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = c.call(t, "PUT", fmt.Sprintf("/service-endpoints/s%d", i), `{"url":"`+upURL+`"}`).code
		}()
	}
	wg.Wait()
	for i, code := range codes {
		if code != 201 {
			t.Errorf("PUT s%d = %d, want 201", i, code)
		}
	}
	file := c.read(t)
	serving := c.call(t, "GET", "/service-endpoints", "").body
	for i := range n {
		name := fmt.Sprintf("s%d", i)
		if !strings.Contains(file, "  "+name+":\n") {
			t.Errorf("%s is not in the file:\n%s", name, file)
		}
		if !strings.Contains(serving, `"`+name+`"`) {
			t.Errorf("%s is not serving: %s", name, serving)
		}
	}
	if !strings.Contains(file, "# from the environment") {
		t.Error("comments lost")
	}
}

// TestConfigAPIReloadRacesPut: PUTs while SIGHUP reloads run and another
// writer changes the file on disk (through the same compare-and-swap, as
// a second gatehouse on the same directory would): no change is lost.
// A plain editor that truncates and rewrites the file meanwhile makes a
// PUT fail with a clear 409 at worst, never a 5xx nor a broken file.
func TestConfigAPIReloadRacesPut(t *testing.T) {
	c, upURL := startEditable(t, true)
	const n = 12
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // SIGHUP, again and again
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = c.app.Reload()
		}
	}()
	var diskMade []string
	go func() { // the other writer
		defer wg.Done()
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("disk%d", i)
			for {
				src, err := os.ReadFile(c.file)
				if err != nil {
					t.Error(err)
					return
				}
				out, _, err := configedit.Set(src, false, configedit.ServiceEndpoints, name, []byte(`{"url":"`+upURL+`"}`))
				if err != nil {
					t.Error(err)
					return
				}
				if err := configedit.WriteFile(c.file, configedit.Hash(src), out); errors.Is(err, configedit.ErrChanged) {
					continue
				} else if err != nil {
					t.Error(err)
					return
				}
				diskMade = append(diskMade, name)
				break
			}
			time.Sleep(3 * time.Millisecond)
		}
	}()
	for i := 0; i < n; i++ {
		// A 409 says the file kept changing through all of the API's
		// compare-and-swap attempts (the other writer won each race, which
		// a loaded machine makes likely): the client is told to try again,
		// and does, as a client of the API would. What must never happen
		// is a lost change or another status.
		a := c.call(t, "PUT", fmt.Sprintf("/service-endpoints/api%d", i), `{"url":"`+upURL+`"}`)
		for try := 0; a.code == http.StatusConflict && strings.Contains(a.body, "try again") && try < 20; try++ {
			a = c.call(t, "PUT", fmt.Sprintf("/service-endpoints/api%d", i), `{"url":"`+upURL+`"}`)
		}
		if a.code != 201 && a.code != 204 {
			t.Errorf("PUT api%d = %d %s", i, a.code, a.body)
		}
		// Live on return, whatever the reloads did meanwhile.
		if e := c.call(t, "GET", fmt.Sprintf("/service-endpoints/api%d", i), ""); e.code != 200 {
			t.Errorf("api%d not serving right after its PUT: %d", i, e.code)
		}
	}
	close(stop)
	wg.Wait()
	if err := c.app.Reload(); err != nil {
		t.Fatal(err)
	}
	file := c.read(t)
	serving := c.call(t, "GET", "/service-endpoints", "").body
	for _, name := range diskMade {
		if !strings.Contains(file, "  "+name+":\n") || !strings.Contains(serving, `"`+name+`"`) {
			t.Errorf("the disk writer's %s was lost", name)
		}
	}
	for i := 0; i < n; i++ {
		if name := fmt.Sprintf("api%d", i); !strings.Contains(file, "  "+name+":\n") || !strings.Contains(serving, `"`+name+`"`) {
			t.Errorf("the Admin API's %s was lost", name)
		}
	}
	if len(diskMade) != n {
		t.Errorf("the disk writer made %d of %d changes", len(diskMade), n)
	}

	// A truncating editor racing PUTs: each PUT is 201 or a 409, the file
	// always loads in the end.
	var codes sync.Map
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20; i++ {
			src, _ := os.ReadFile(c.file)
			os.WriteFile(c.file, bytes.Replace(src, []byte("# Routes"), []byte(fmt.Sprintf("# Routes %d", i)), 1), 0o644)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	for i := 0; i < 10; i++ {
		a := c.call(t, "PUT", fmt.Sprintf("/service-endpoints/edit%d", i), `{"url":"`+upURL+`"}`)
		codes.Store(a.code, a.body)
		if a.code != 201 && a.code != 409 {
			t.Errorf("PUT racing an editor = %d %s, want 201 or 409", a.code, a.body)
		}
	}
	<-done
	if err := c.app.Reload(); err != nil {
		t.Fatalf("the file does not load after the race: %v", err)
	}
}

// TestConfigAPIAuth: the config routes take the Admin API key as the
// identity routes do.
func TestConfigAPIAuth(t *testing.T) {
	c, _ := startEditable(t, false)
	before := c.read(t)
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/api-endpoints", ""},
		{"GET", "/schemas", ""},
		{"PUT", "/api-endpoints/x", `{"paths":"/x"}`},
		{"DELETE", "/pipelines/default", ""},
		{"PUT", "/policies/cors", ""},
	} {
		for _, key := range []string{"", "wrong"} {
			a := c.call(t, r.method, r.path, r.body, key)
			c.want(t, a, 401, `"unauthorized"`)
		}
	}
	if c.read(t) != before {
		t.Fatal("an unauthorized request changed the file")
	}
	c.want(t, c.call(t, "GET", "/api-endpoints", ""), 200)
}

// TestConfigCLI runs the CLI verbs through the real binary against the
// running app.
func TestConfigCLI(t *testing.T) {
	c, upURL := startEditable(t, false)
	bin := buildBinary(t)
	run := func(stdin string, args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--admin-url", c.admin, "--admin-key", cfgAdminKey, "--config-dir", t.TempDir())...)
		cmd.Env = append(os.Environ(), "EG_ADMIN_URL=", "GATEHOUSE_ADMIN_KEY=")
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if err != nil {
			return out.String(), fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
		}
		return out.String(), nil
	}
	ok := func(stdin string, args ...string) string {
		t.Helper()
		out, err := run(stdin, args...)
		if err != nil {
			t.Fatalf("gatehouse %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	if out := ok("", "service-endpoints", "set", "two", "-p", "url="+upURL); out != "Created two\n" {
		t.Errorf("set new: %q", out)
	}
	if out := ok(`{"paths":["/two/*"]}`, "api-endpoints", "set", "two"); out != "Created two\n" {
		t.Errorf("set from stdin: %q", out)
	}
	pf := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(pf, []byte(`{"apiEndpoints":["two"],"policies":[{"terminate":[{"action":{"statusCode":202,"message":"two"}}]}]}`), 0o644)
	if out := ok("", "pipelines", "set", "two", "-f", pf); out != "Created two\n" {
		t.Errorf("set -f: %q", out)
	}
	if s := c.status(t, "/two/x"); s != 202 {
		t.Errorf("/two/x = %d, want the new pipeline's 202", s)
	}
	if out := ok("", "pipelines", "set", "two", "-f", pf); out != "Updated two\n" {
		t.Errorf("set again: %q", out)
	}
	if out := ok("", "service-endpoints", "list", "-q"); out != "up\ntwo\n" {
		t.Errorf("list -q: %q", out)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(ok("", "api-endpoints", "get", "two")), &got); err != nil || fmt.Sprint(got["paths"]) != "[/two/*]" {
		t.Errorf("get: %v %v", got, err)
	}
	if _, err := run("", "api-endpoints", "delete", "two"); err == nil || !strings.Contains(err.Error(), `apiEndpoint "two" is not declared`) {
		t.Errorf("delete of a used apiEndpoint: %v, want the 422 text", err)
	}
	if out := ok("", "policies", "list"); out != "proxy\nterminate\n" {
		t.Errorf("policies list: %q", out)
	}
	if out := ok("", "pipelines", "delete", "two"); out != "Removed two\n" {
		t.Errorf("delete: %q", out)
	}
	if _, err := run("", "pipelines", "get", "two"); err == nil || !strings.Contains(err.Error(), "pipeline not found: two") {
		t.Errorf("get after delete: %v", err)
	}
}
