package oauth2server

import "testing"

// TestRedirectRegistered: exact matching, except the port of a plain-http
// loopback URI (RFC 8252 §7.3).
func TestRedirectRegistered(t *testing.T) {
	for _, tt := range []struct {
		registered, requested string
		want                  bool
	}{
		{"https://app.example/cb", "https://app.example/cb", true},
		{"https://app.example/cb", "https://app.example:8443/cb", false},
		{"https://app.example/cb", "https://app.example/cb/", false},
		{"https://app.example/cb", "https://APP.example/cb", false},
		{"https://app.example/cb", "https://app.example/cb?x=1", false},
		{"com.example.app:/cb", "com.example.app:/cb", true},
		{"http://127.0.0.1/cb", "http://127.0.0.1:51000/cb", true},
		{"http://127.0.0.1:8080/cb", "http://127.0.0.1:51000/cb", true},
		{"http://127.0.0.1:8080/cb", "http://127.0.0.1/cb", true},
		{"http://[::1]/cb", "http://[::1]:51000/cb", true},
		{"http://localhost/cb", "http://localhost:51000/cb", true},
		{"http://127.0.0.1/cb?a=1", "http://127.0.0.1:51000/cb?a=1", true},
		// Only the port is loose: path, query, host and scheme are not.
		{"http://127.0.0.1/cb", "http://127.0.0.1:51000/cb2", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1:51000/cb?x=1", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1:51000/CB", false},
		{"http://localhost/cb", "http://127.0.0.1:51000/cb", false},
		{"http://127.0.0.1/cb", "http://[::1]:51000/cb", false},
		{"http://127.0.0.1/cb", "https://127.0.0.1:51000/cb", false},
		{"https://127.0.0.1/cb", "https://127.0.0.1:51000/cb", false},
		{"http://127.0.0.1/cb", "http://127.0.0.2:51000/cb", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1.evil.example:51000/cb", false},
		{"http://127.0.0.1/cb", "http://evil@127.0.0.1:51000/cb", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1:+51/cb", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1:99999/cb", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1:x/cb", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1:51000#/cb", false},
		// Not loopback: exact only.
		{"http://app.example/cb", "http://app.example:8080/cb", false},
	} {
		if got := redirectRegistered([]string{"https://other.example/x", tt.registered}, tt.requested); got != tt.want {
			t.Errorf("registered %q, requested %q: %v, want %v", tt.registered, tt.requested, got, tt.want)
		}
	}
	if redirectRegistered(nil, "http://127.0.0.1/cb") {
		t.Error("matched with nothing registered")
	}
}
