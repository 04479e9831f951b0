package e2e

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary compiles cmd/gatehouse once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "gatehouse")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/gatehouse")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

// servedBinary is `gatehouse serve` running on reloadConfig, its stderr
// (JSON log lines) read as they come.
type servedBinary struct {
	cmd      *exec.Cmd
	lines    chan string
	dir      string
	upstream string
}

// serveBinary builds and starts the binary; it is killed when the test ends.
func serveBinary(t *testing.T) *servedBinary {
	t.Helper()
	bin := buildBinary(t)
	b := &servedBinary{dir: t.TempDir(), upstream: echoServer(t, "up").URL, lines: make(chan string, 100)}
	writeConfig(t, b.dir, reloadConfig(b.upstream, false))
	b.cmd = exec.Command(bin, "serve", "--config-dir", b.dir, "--log-format", "json", "--reload-interval", "0", "--access-log", "off")
	stderr, _ := b.cmd.StderrPipe()
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.cmd.Process.Kill() })
	go func() {
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			b.lines <- s.Text()
		}
		close(b.lines)
	}()
	return b
}

var addrRE = regexp.MustCompile(`"listener":"http","addr":"([^"]+)"`)

// waitFor returns the first log line containing want, or fails the test if
// the process exits or 10 s pass first.
func (b *servedBinary) waitFor(t *testing.T, want *regexp.Regexp) []string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-b.lines:
			if !ok {
				t.Fatalf("gatehouse exited (%v) before logging %s", b.cmd.Wait(), want)
			}
			if m := want.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-timeout:
			t.Fatalf("gatehouse did not log %s within 10s", want)
		}
	}
}

// exit waits for the process to end and checks it stopped gracefully: exit
// status 0 after logging "stopped".
func (b *servedBinary) exit(t *testing.T) {
	t.Helper()
	done := make(chan error, 1)
	stopped := make(chan bool, 1)
	go func() {
		seen := false
		for l := range b.lines { // drain so the process never blocks on stderr
			seen = seen || strings.Contains(l, `"msg":"stopped"`)
		}
		stopped <- seen
		done <- b.cmd.Wait()
	}()
	select {
	case err := <-done:
		if seen := <-stopped; err != nil || !seen {
			t.Errorf("exit after SIGTERM: %v, \"stopped\" logged %v; want a graceful exit 0", err, seen)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("gatehouse did not stop on SIGTERM")
	}
}

// TestBinaryServeReloadAndStop runs the real binary: it serves the config,
// reloads on SIGHUP, and exits 0 on SIGTERM after finishing in-flight work.
func TestBinaryServeReloadAndStop(t *testing.T) {
	b := serveBinary(t)
	base := "http://" + b.waitFor(t, addrRE)[1]
	if resp := get(t, base+"/api/x"); resp.StatusCode != 200 {
		t.Fatalf("GET /api/x = %d", resp.StatusCode)
	}

	writeConfig(t, b.dir, reloadConfig(b.upstream, true))
	b.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(3 * time.Second)
	for {
		resp := get(t, base+"/fresh")
		resp.Body.Close()
		if resp.StatusCode == 201 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not load the new route (last status %d)", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}

	b.cmd.Process.Signal(syscall.SIGTERM)
	b.exit(t)
}

// TestBinarySIGHUPRightAfterListening: a SIGHUP sent as soon as the binary
// announces its address (a supervisor reloading right after startup) is a
// reload, not the default action of SIGHUP, which ends the process.
func TestBinarySIGHUPRightAfterListening(t *testing.T) {
	b := serveBinary(t)
	base := "http://" + b.waitFor(t, addrRE)[1]
	b.cmd.Process.Signal(syscall.SIGHUP) // at once: no request first
	b.waitFor(t, regexp.MustCompile(`"msg":"config reloaded"`))
	if resp := get(t, base+"/api/x"); resp.StatusCode != 200 {
		t.Fatalf("GET /api/x = %d after the reload", resp.StatusCode)
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	b.exit(t)
}

// TestBinarySIGTERMRightAfterListening: a stop sent the moment the gateway
// says it listens is a graceful one (exit 0, "stopped" logged), not the
// default action of SIGTERM.
func TestBinarySIGTERMRightAfterListening(t *testing.T) {
	b := serveBinary(t)
	b.waitFor(t, addrRE)
	b.cmd.Process.Signal(syscall.SIGTERM)
	b.exit(t)
}

// TestBinaryConfigValidate: every error at once, non-zero exit; ok otherwise.
func TestBinaryConfigValidate(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	writeConfig(t, dir, "http:\n  port: x\nfoo: 1\npolicies: [proxy]\npipelines:\n  p:\n    apiEndpoints: [nope]\n    policies: [{proxy: }]\n")
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, "config", "validate", "--config-dir", dir)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err == nil {
		t.Fatal("validate of a broken config exited 0")
	}
	want := []string{
		`gateway.config.yml:2: http.port: expected a whole number, got "x"`,
		`gateway.config.yml:3: foo: unknown key (expected one of: http, https, admin, apiEndpoints, serviceEndpoints, policies, pipelines, methodOverride)`,
		`gateway.config.yml:7: pipelines.p.apiEndpoints: apiEndpoint "nope" is not declared under apiEndpoints`,
		`gateway.config.yml:8: pipelines.p.policies[0].proxy.action.serviceEndpoint: is required: name one of serviceEndpoints`,
		`gatehouse: 4 config errors`,
	}
	if got := strings.TrimSpace(errb.String()); got != strings.Join(want, "\n") {
		t.Errorf("stderr:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}

	// Policies that need the store, the authorization server or the
	// limiter validate as serve would build them.
	writeConfig(t, dir, `http: {port: 0}
apiEndpoints: {a: {paths: '/a/*'}, b: {paths: '/b/*'}}
serviceEndpoints: {s: {url: 'http://127.0.0.1:1'}}
policies: [key-auth, basic-auth, oauth2, rate-limit, jwt, proxy, expression]
pipelines:
  p: {apiEndpoints: [a], policies: [{key-auth: }, {rate-limit: {action: {max: 3}}}, {proxy: {action: {serviceEndpoint: s}}}]}
  q: {apiEndpoints: [b], policies: [{oauth2: }, {jwt: {action: {secretOrPublicKey: 'abcdefghijabcdefghijabcdefghij12'}}}, {proxy: {action: {serviceEndpoint: s}}}]}
`)
	out.Reset()
	errb.Reset()
	cmd = exec.Command(bin, "config", "validate", "--config-dir", dir)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil || strings.TrimSpace(out.String()) != "ok" {
		t.Errorf("a config with store-backed policies must validate: %v %s", err, errb.String())
	}
	if !strings.Contains(errb.String(), `warning: gateway.config.yml:4: policies[6]: policy "expression" is not available in Gatehouse; no pipeline uses it, so it is ignored`) {
		t.Errorf("unused unknown policy warning missing: %q", errb.String())
	}

	out.Reset()
	cmd = exec.Command(bin, "config", "validate", "--config-dir", "../examples/quickstart")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil || strings.TrimSpace(out.String()) != "ok" {
		t.Errorf("the quickstart config must validate: %v %s", err, errb.String())
	}
}

// TestQuickstartExample runs the README's quickstart: the example config
// with the built-in echo upstream answers on /api/* and /status.
func TestQuickstartExample(t *testing.T) {
	echoAddr := freeAddr(t)
	httpPort := strings.Split(freeAddr(t), ":")[1]
	adminPort := strings.Split(freeAddr(t), ":")[1]
	src, err := os.ReadFile("../examples/quickstart/gateway.config.yml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The same file, its ports moved by the variables it reads (the echo
	// upstream's too, as make run moves it), so the test never collides.
	cfg := string(src)
	writeConfig(t, dir, cfg)
	g := startGateway(t, cfg, func(o *appOptions) {
		o.ConfigDir = dir
		o.EchoUpstream = echoAddr
		o.Lookup = func(k string) (string, bool) {
			switch k {
			case "EG_HTTP_PORT":
				return httpPort, true
			case "EG_ADMIN_PORT":
				return adminPort, true
			case "EG_ECHO_PORT":
				return port(echoAddr), true
			}
			return "", false
		}
	})
	e := decodeEcho(t, get(t, g.base+"/api/hello?x=1"))
	if e.Path != "/hello" || e.Query != "x=1" {
		t.Errorf("quickstart /api/hello reached the echo as %q ?%q", e.Path, e.Query)
	}
	resp := get(t, g.base+"/status")
	if body := readBody(t, resp); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("/status = %d %q", resp.StatusCode, body)
	}
	// /private needs the API key docs/cli.md's session creates.
	resp = get(t, g.base+"/private/hello")
	if body := readBody(t, resp); resp.StatusCode != 401 || !strings.Contains(body, "missing_credentials") {
		t.Errorf("/private without a key = %d %s", resp.StatusCode, body)
	}
	// The Admin API answers on its loopback port.
	resp = get(t, "http://"+g.app.Addr("admin").String()+"/users")
	if body := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(body, `"users"`) {
		t.Errorf("admin /users = %d %s", resp.StatusCode, body)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
