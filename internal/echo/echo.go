// Package echo is a tiny upstream that answers every request with a JSON
// description of what it received. The quickstart and the tests put it
// behind the gateway, so the example needs no outside service.
package echo

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
)

// Request is what the echo upstream saw.
type Request struct {
	Server  string              `json:"server"`
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	RawPath string              `json:"rawPath,omitempty"`
	Query   string              `json:"query"`
	Host    string              `json:"host"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body"`
}

// MaxBody bounds the body echoed back.
const MaxBody = 1 << 20

// Handler answers with the Request as JSON; name tells several echo servers
// apart (round-robin tests).
func Handler(name string) http.Handler {
	if name == "" {
		name, _ = os.Hostname()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody))
		if err != nil {
			http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
			return
		}
		out := Request{Server: name, Method: r.Method, Path: r.URL.Path, RawPath: r.URL.RawPath,
			Query: r.URL.RawQuery, Host: r.Host, Headers: r.Header, Body: string(body)}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
}
