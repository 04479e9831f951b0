package admin

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/adminclient"
)

// send builds a request like e.do, with a chosen Host, headers (name,
// value pairs; Content-Type is set only when listed) and the local address
// the connection arrived on (nil: none, as outside an http.Server).
func (e *env) send(method, path, host, body string, local net.IP, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Host = host
	for k, v := range e.hdr {
		req.Header[k] = v
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	if local != nil {
		req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: local, Port: 9876}))
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	r := resp{rec.Code, rec.Header(), rec.Body.Bytes()}
	noCORS(e.t, r.h)
	return r
}

// noCORS checks that an answer grants no origin anything.
func noCORS(t *testing.T, h http.Header) {
	t.Helper()
	for k := range h {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			t.Errorf("the Admin API sent %s: %s", k, h.Get(k))
		}
	}
}

const newUser = `{"username":"mallory","firstname":"M","lastname":"M"}`

// A Host outside the allow-list is 421 (DNS rebinding), for reads and
// writes, and writes nothing.
func TestBrowserHost(t *testing.T) {
	e := newEnv(t, nil, Options{Hostnames: []string{"Admin.Internal.", "0.0.0.0", "::", "not a name", "[fd00::9]"}})
	local4, local6 := net.ParseIP("10.1.2.3"), net.ParseIP("fd00::5")
	tests := []struct {
		host  string
		local net.IP
		ok    bool
	}{
		{"localhost:9876", nil, true},
		{"localhost", nil, true},
		{"LocalHost:9876", nil, true},
		{"localhost.:9876", nil, true},
		{"127.0.0.1:9876", nil, true},
		{"127.0.0.1", nil, true},
		{"127.0.0.1:19876", nil, true}, // a port published by a container runtime
		{"127.9.9.9:9876", nil, true},
		{"[::1]:9876", nil, true},
		{"[::1]", nil, true},
		{"localhost:9876", local4, true}, // loopback names whatever the bound address
		{"admin.internal:9876", nil, true},
		{"ADMIN.internal", nil, true},
		{"[fd00::9]:9876", nil, true},
		{"10.1.2.3:9876", local4, true}, // the address the connection arrived on
		{"10.1.2.3", local4, true},
		{"[fd00::5]:9876", local6, true},

		{"attacker.example", nil, false},
		{"attacker.example:9876", nil, false},
		{"attacker.example:9876", local4, false},
		{"127.0.0.1.nip.io", nil, false},
		{"127.0.0.1.nip.io:9876", nil, false},
		{"localhost.attacker.example:9876", nil, false},
		{"admin.internal.attacker.example", nil, false},
		{"10.1.2.3:9876", nil, false},         // no local address known
		{"10.1.2.4:9876", local4, false},      // another address
		{"[fd00::6]:9876", local6, false},     // another address
		{"0.0.0.0:9876", net.IPv4zero, false}, // names no host
		{"[::]:9876", net.IPv6unspecified, false},
		{"", nil, false},
		{"::1", nil, false}, // IPv6 without brackets
		{"[127.0.0.1]:9876", nil, false},
		{"localhost:", nil, false},
		{"localhost:98x6", nil, false},
		{"localhost:9876:1", nil, false},
		{"2130706433:9876", nil, false}, // 127.0.0.1 as a number: a name, and not ours
		{"not a name", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			e.t = t
			before := e.snapshot()
			get := e.send("GET", "/users", tt.host, "", tt.local)
			post := e.send("POST", "/users", tt.host, newUser, tt.local, "Content-Type", "application/json")
			if tt.ok {
				e.want(get, 200, "", "", "")
				e.want(post, 200, "", "", "")
				e.want(e.do("DELETE", "/users/mallory", nil), 204, "", "", "")
				return
			}
			e.want(get, 421, "misdirected_request", "", "")
			e.want(post, 421, "misdirected_request", "", "")
			if after := e.snapshot(); after != before {
				t.Errorf("a misdirected request changed the data:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// A request a page of another origin made is 403: Origin is not the
// Host's origin, or Fetch Metadata says it is not same-origin.
func TestBrowserCrossSite(t *testing.T) {
	for _, key := range []string{"", "k3y"} {
		t.Run("key="+key, func(t *testing.T) {
			e := newEnv(t, nil, Options{APIKey: key})
			if key != "" {
				e.hdr.Set("X-Admin-Key", key)
			}
			tests := []struct {
				name string
				hdr  []string
				ok   bool
			}{
				{"no Origin, no Fetch Metadata (the CLI, curl)", nil, true},
				{"same origin", []string{"Origin", "http://localhost:9876"}, true},
				{"same origin, https (a TLS proxy in front)", []string{"Origin", "https://localhost:9876"}, true},
				{"same origin, any case", []string{"Origin", "http://LOCALHOST:9876"}, true},
				{"Sec-Fetch-Site same-origin", []string{"Sec-Fetch-Site", "same-origin", "Origin", "http://localhost:9876"}, true},
				{"Sec-Fetch-Site none", []string{"Sec-Fetch-Site", "none"}, true},

				{"foreign Origin", []string{"Origin", "https://attacker.example"}, false},
				{"foreign Origin, same host name", []string{"Origin", "http://localhost.attacker.example:9876"}, false},
				{"another port of localhost", []string{"Origin", "http://localhost:8080"}, false},
				{"default port", []string{"Origin", "http://localhost"}, false},
				{"loopback address for localhost", []string{"Origin", "http://127.0.0.1:9876"}, false},
				{"opaque origin", []string{"Origin", "null"}, false},
				{"not an origin", []string{"Origin", "http://localhost:9876/users"}, false},
				{"not http", []string{"Origin", "file://localhost:9876"}, false},
				{"garbage", []string{"Origin", "%%%"}, false},
				{"two Origins", []string{"Origin", "http://localhost:9876", "Origin", "https://attacker.example"}, false},
				{"Sec-Fetch-Site cross-site", []string{"Sec-Fetch-Site", "cross-site"}, false},
				{"Sec-Fetch-Site cross-site, same Origin", []string{"Sec-Fetch-Site", "cross-site", "Origin", "http://localhost:9876"}, false},
				{"Sec-Fetch-Site same-site", []string{"Sec-Fetch-Site", "same-site"}, false},
				{"Sec-Fetch-Site unknown", []string{"Sec-Fetch-Site", "elsewhere"}, false},
				{"two Sec-Fetch-Site", []string{"Sec-Fetch-Site", "same-origin", "Sec-Fetch-Site", "cross-site"}, false},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					e.t = t
					before := e.snapshot()
					get := e.send("GET", "/users", "localhost:9876", "", nil, tt.hdr...)
					post := e.send("POST", "/users", "localhost:9876", newUser, nil, append([]string{"Content-Type", "application/json"}, tt.hdr...)...)
					if tt.ok {
						e.want(get, 200, "", "", "")
						e.want(post, 200, "", "", "")
						e.want(e.do("DELETE", "/users/mallory", nil), 204, "", "", "")
						return
					}
					e.want(get, 403, "cross_site_request", "", "")
					e.want(post, 403, "cross_site_request", "", "")
					if after := e.snapshot(); after != before {
						t.Errorf("a cross-site request changed the data:\nbefore %s\nafter  %s", before, after)
					}
				})
			}
			// A CORS preflight is refused without granting anything (send
			// checks every answer for Access-Control-* headers).
			e.t = t
			r := e.send("OPTIONS", "/users", "localhost:9876", "", nil,
				"Origin", "https://attacker.example", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
			e.want(r, 403, "cross_site_request", "", "")
			r = e.send("OPTIONS", "/users", "localhost:9876", "", nil)
			e.want(r, 405, "method_not_allowed", "", "")
		})
	}
}

// A change whose body is not JSON is 415: the types an HTML form or a
// no-cors fetch can send to another origin without a preflight, and a
// body without a type. A request without a body needs no type.
func TestBrowserContentType(t *testing.T) {
	e := newEnv(t, nil, Options{})
	e.mustUser("ann")
	e.want(e.do("POST", "/scopes", map[string]any{"scopes": []string{"read"}}), 201, "", "", "")
	cred := e.do("POST", "/credentials", map[string]any{"consumerId": "ann", "type": "key-auth"})
	e.want(cred, 200, "", "", "")
	keyID := cred.obj(t)["keyId"].(string)

	tests := []struct {
		name, method, path, body string
		ct                       []string // Content-Type values
		code                     int
	}{
		{"form", "POST", "/users", "username=mallory&firstname=M&lastname=M", []string{"application/x-www-form-urlencoded"}, 415},
		{"form carrying JSON", "POST", "/users", newUser, []string{"application/x-www-form-urlencoded"}, 415},
		{"multipart", "POST", "/users", "--x\r\nContent-Disposition: form-data; name=a\r\n\r\nb\r\n--x--\r\n", []string{"multipart/form-data; boundary=x"}, 415},
		{"text/plain carrying JSON", "POST", "/users", newUser, []string{"text/plain"}, 415},
		{"text/plain with charset", "POST", "/credentials", `{"consumerId":"ann","type":"key-auth"}`, []string{"text/plain;charset=UTF-8"}, 415},
		{"no Content-Type with a body", "POST", "/users", newUser, nil, 415},
		{"no Content-Type, chunked", "POST", "/users", "chunked", nil, 415},
		{"bad Content-Type", "POST", "/users", newUser, []string{"application/json, text/plain"}, 415},
		{"two Content-Types", "POST", "/users", newUser, []string{"application/json", "text/plain"}, 415},
		{"json in text", "POST", "/users", newUser, []string{"text/json"}, 415},
		{"form on PUT", "PUT", "/users/ann", `{"firstname":"X"}`, []string{"application/x-www-form-urlencoded"}, 415},
		{"text/plain on DELETE without a body", "DELETE", "/users/ann", "", []string{"text/plain"}, 415},
		{"form on PATCH", "PATCH", "/users", "a=b", []string{"application/x-www-form-urlencoded"}, 415},

		{"GET with any type", "GET", "/users", "", []string{"text/plain"}, 200},
		{"JSON", "POST", "/scopes", `{"scopes":["a"]}`, []string{"application/json"}, 201},
		{"JSON with charset", "POST", "/scopes", `{"scopes":["b"]}`, []string{"Application/JSON; charset=utf-8"}, 201},
		{"+json", "POST", "/scopes", `{"scopes":["c"]}`, []string{"application/merge-patch+json"}, 201},
		{"bodyless PUT without a type", "PUT", "/credentials/key-auth/" + keyID + "/scopes/read", "", nil, 204},
		{"bodyless DELETE without a type", "DELETE", "/credentials/key-auth/" + keyID + "/scopes/read", "", nil, 204},
		{"bodyless DELETE with JSON type", "DELETE", "/scopes/a", "", []string{"application/json"}, 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			before := e.snapshot()
			var hdr []string
			for _, ct := range tt.ct {
				hdr = append(hdr, "Content-Type", ct)
			}
			var r resp
			if tt.body == "chunked" {
				req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(newUser))
				req.Host, req.ContentLength = "localhost", -1
				rec := httptest.NewRecorder()
				e.h.ServeHTTP(rec, req)
				r = resp{rec.Code, rec.Header(), rec.Body.Bytes()}
			} else {
				r = e.send(tt.method, tt.path, "localhost:9876", tt.body, nil, hdr...)
			}
			if tt.code != 415 {
				e.want(r, tt.code, "", "", "")
				return
			}
			e.want(r, 415, "unsupported_media_type", "", "")
			if after := e.snapshot(); after != before {
				t.Errorf("a refused request changed the data:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// The CLI's own requests pass, with and without a key: its client over a
// real connection, every kind of request it makes (JSON bodies, bodyless
// PUT and DELETE).
func TestBrowserCLIRequestsPass(t *testing.T) {
	for _, key := range []string{"", "k3y"} {
		t.Run("key="+key, func(t *testing.T) {
			e := newEnv(t, nil, Options{APIKey: key})
			srv := httptest.NewServer(e.h)
			defer srv.Close()
			for _, base := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
				c, err := adminclient.New(adminclient.Options{URL: base, APIKey: key})
				if err != nil {
					t.Fatal(err)
				}
				ctx := t.Context()
				u, err := c.CreateUser(ctx, map[string]any{"username": "ann", "firstname": "A", "lastname": "L"})
				if err != nil {
					t.Fatalf("%s: create user: %v", base, err)
				}
				if _, err := c.UpdateUser(ctx, "ann", map[string]any{"firstname": "B"}); err != nil {
					t.Fatalf("update user: %v", err)
				}
				if _, err := c.SetUserStatus(ctx, "ann", false); err != nil {
					t.Fatalf("status: %v", err)
				}
				if err := c.CreateScopes(ctx, "read"); err != nil {
					t.Fatalf("scopes: %v", err)
				}
				cr, err := c.CreateCredential(ctx, "ann", "key-auth", nil)
				if err != nil {
					t.Fatalf("credential: %v", err)
				}
				id := cr.Str("keyId")
				if err := c.AddCredentialScope(ctx, "key-auth", id, "read"); err != nil {
					t.Fatalf("add scope (bodyless PUT): %v", err)
				}
				if err := c.RemoveCredentialScope(ctx, "key-auth", id, "read"); err != nil {
					t.Fatalf("remove scope (bodyless DELETE): %v", err)
				}
				if _, err := c.RotateSecret(ctx, "key-auth", id, ""); err != nil {
					t.Fatalf("rotate: %v", err)
				}
				if err := c.DeleteCredential(ctx, "key-auth", id); err != nil {
					t.Fatalf("delete credential: %v", err)
				}
				if err := c.DeleteScope(ctx, "read"); err != nil {
					t.Fatalf("delete scope: %v", err)
				}
				if err := c.DeleteUser(ctx, u.Str("id")); err != nil {
					t.Fatalf("delete user: %v", err)
				}
			}
		})
	}
}

// Over real listeners: the Host is checked against the address the
// connection arrived on (IPv4 and IPv6 loopback, and a non-loopback
// address of this machine when it has one).
func TestBrowserListeners(t *testing.T) {
	e := newEnv(t, nil, Options{})
	addrs := []string{"127.0.0.1:0", "[::1]:0"}
	if ip := nonLoopbackIP(); ip != nil {
		addrs = append(addrs, net.JoinHostPort(ip.String(), "0"))
	}
	for _, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Logf("%s: %v (skipped)", addr, err)
			continue
		}
		srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: e.h}}
		srv.Start()
		bound := ln.Addr().String()
		host, port, _ := net.SplitHostPort(bound)
		for _, tt := range []struct {
			host string
			code int
		}{
			{bound, 200},
			{net.JoinHostPort(host, "1"), 200}, // the port is not compared
			{"localhost:" + port, 200},
			{"attacker.example:" + port, 421},
			{"attacker.example", 421},
			{host + ".nip.io:" + port, 421},
		} {
			code, hdr := rawGET(t, bound, tt.host)
			if code != tt.code {
				t.Errorf("listening on %s, Host %q: %d, want %d", bound, tt.host, code, tt.code)
			}
			noCORS(t, hdr)
		}
		srv.Close()
	}
}

// rawGET sends GET /users with exactly this Host (net/http's client would
// put the dialled address there).
func rawGET(t *testing.T, addr, host string) (int, http.Header) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /users HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header
}

func nonLoopbackIP() net.IP {
	as, _ := net.InterfaceAddrs()
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() && n.IP.To4() != nil {
			return n.IP
		}
	}
	return nil
}
