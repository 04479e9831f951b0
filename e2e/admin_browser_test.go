package e2e

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
)

// The Admin API cannot be driven from a browser (issue #11 §5), against the
// real app on its default keyless loopback listener.

const adminBrowserConfig = `
http: {port: 0}
admin: {port: 0}
apiEndpoints: {api: {paths: /x}}
serviceEndpoints: {}
pipelines: {}
`

// adminRequest sends one request to the admin listener with exactly the
// given Host and headers (name, value pairs).
func adminRequest(t *testing.T, addr, method, path, host, body string, hdr ...string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s (Host %s): %v", method, path, host, err)
	}
	var m map[string]any
	raw := readBody(t, resp)
	if strings.TrimSpace(raw) != "" {
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			t.Fatalf("%s %s (Host %s): %d, not JSON: %s", method, path, host, resp.StatusCode, raw)
		}
	}
	for k := range resp.Header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			t.Errorf("%s %s (Host %s): the Admin API sent %s: %s", method, path, host, k, resp.Header.Get(k))
		}
	}
	return resp.StatusCode, m, resp.Header
}

func TestAdminBrowserDNSRebinding(t *testing.T) {
	g := startGateway(t, adminBrowserConfig)
	addr := g.app.Addr("admin").String()
	_, port, _ := net.SplitHostPort(addr)
	st := g.app.Store()
	ctx := t.Context()

	// The legitimate client (the CLI's Host, no browser headers) works.
	code, ann, _ := adminRequest(t, addr, "POST", "/users", "localhost:"+port,
		`{"username":"ann","firstname":"Ann","lastname":"Lee"}`, "Content-Type", "application/json")
	if code != 200 {
		t.Fatalf("POST /users from the CLI's Host: %d %v", code, ann)
	}
	annID, _ := ann["id"].(string)

	// A page on attacker.example rebinds its name to 127.0.0.1: the
	// browser calls the Admin API same-origin, JSON included, no preflight.
	// Only the Host tells.
	for _, host := range []string{"attacker.example:" + port, "attacker.example", "127.0.0.1.nip.io:" + port} {
		origin := "http://" + host
		browser := []string{"Content-Type", "application/json", "Origin", origin, "Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "cors"}
		code, m, _ := adminRequest(t, addr, "POST", "/users", host,
			`{"username":"mallory","firstname":"M","lastname":"M"}`, browser...)
		if code != http.StatusMisdirectedRequest || m["error"] != "misdirected_request" {
			t.Errorf("rebound POST /users (Host %s): %d %v, want 421 misdirected_request", host, code, m)
		}
		code, m, _ = adminRequest(t, addr, "POST", "/credentials", host,
			`{"consumerId":"ann","type":"key-auth"}`, browser...)
		if code != http.StatusMisdirectedRequest {
			t.Errorf("rebound POST /credentials (Host %s): %d %v, want 421", host, code, m)
		}
		code, m, _ = adminRequest(t, addr, "GET", "/credentials/"+annID, host, "", "Sec-Fetch-Site", "same-origin")
		if code != http.StatusMisdirectedRequest {
			t.Errorf("rebound GET /credentials (Host %s): %d %v, want 421 (a rebound page could read the answer)", host, code, m)
		}
	}

	// A page on any origin posts a form (or a no-cors fetch) to the
	// loopback address: Host is fine, the browser's labels are not.
	loop := "127.0.0.1:" + port
	csrf := []struct {
		name string
		hdr  []string
		code int
	}{
		{"form post, Origin and Fetch Metadata", []string{"Content-Type", "text/plain", "Origin", "https://attacker.example", "Sec-Fetch-Site", "cross-site"}, 403},
		{"Fetch Metadata only", []string{"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "cross-site"}, 403},
		{"Origin only", []string{"Content-Type", "text/plain", "Origin", "https://attacker.example"}, 403},
		{"another local site", []string{"Content-Type", "application/json", "Origin", "http://localhost:3000", "Sec-Fetch-Site", "same-site"}, 403},
		{"neither header (an old browser): text/plain", []string{"Content-Type", "text/plain"}, 415},
		{"neither header: no Content-Type", nil, 415},
	}
	for _, tt := range csrf {
		code, m, _ := adminRequest(t, addr, "POST", "/users", loop, `{"username":"mallory","firstname":"M","lastname":"M"}`, tt.hdr...)
		if code != tt.code {
			t.Errorf("%s: POST /users = %d %v, want %d", tt.name, code, m, tt.code)
		}
		code, m, _ = adminRequest(t, addr, "POST", "/credentials", loop, `{"consumerId":"ann","type":"key-auth"}`, tt.hdr...)
		if code != tt.code {
			t.Errorf("%s: POST /credentials = %d %v, want %d", tt.name, code, m, tt.code)
		}
	}
	// A CORS preflight grants nothing (adminRequest checks for
	// Access-Control-* headers).
	if code, m, _ := adminRequest(t, addr, "OPTIONS", "/users", loop, "",
		"Origin", "https://attacker.example", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type"); code != 403 {
		t.Errorf("preflight: %d %v, want 403", code, m)
	}

	// Nothing was written.
	if u, _ := st.GetUser(ctx, "mallory"); u != nil {
		t.Errorf("a browser created the user mallory: %+v", u)
	}
	creds, err := st.ListCredentials(ctx, annID)
	if err != nil {
		t.Fatal(err)
	}
	if len(creds) != 0 {
		t.Errorf("a browser gave ann %d credentials: %+v", len(creds), creds)
	}
	users, _, err := st.ListUsers(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 {
		t.Errorf("users after the attacks: %d, want only ann", len(users))
	}
	// Each refusal is logged.
	if logs := g.logs.String(); !strings.Contains(logs, "admin request refused: it looks like a browser") || !strings.Contains(logs, `"host":"attacker.example:`+port+`"`) {
		t.Errorf("refusals not logged:\n%s", indent(logs))
	}

	// The /metrics, /healthz and /readyz beside it are unchanged.
	resp := get(t, "http://"+addr+"/healthz")
	if body := readBody(t, resp); resp.StatusCode != 200 {
		t.Errorf("/healthz: %d %s", resp.StatusCode, body)
	}
}

// admin.hostnames adds names to the allow-list, and only those.
func TestAdminBrowserHostnames(t *testing.T) {
	g := startGateway(t, `
http: {port: 0}
admin: {port: 0, host: 127.0.0.1, hostnames: [Admin.Internal, gatehouse]}
apiEndpoints: {api: {paths: /x}}
serviceEndpoints: {}
pipelines: {}
`)
	addr := g.app.Addr("admin").String()
	_, port, _ := net.SplitHostPort(addr)
	for host, want := range map[string]int{
		"admin.internal:" + port: 200, "gatehouse": 200, "127.0.0.1:" + port: 200, "localhost:" + port: 200,
		"other.internal:" + port: 421, "admin.internal.attacker.example": 421,
	} {
		if code, m, _ := adminRequest(t, addr, "GET", "/users", host, ""); code != want {
			t.Errorf("Host %s: %d %v, want %d", host, code, m, want)
		}
	}
}
