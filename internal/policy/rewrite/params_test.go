package rewrite

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

// TestParamNamesDoNotClash: :id must not be replaced inside :idx.
func TestParamNamesDoNotClash(t *testing.T) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("{match: '/a/:id/:idx', rewrite: '/b/:idx/:id/:other'}"), &n); err != nil {
		t.Fatal(err)
	}
	p, err := New(config.Node{File: "f", Path: "action", Y: n.Content[0]}, &policyenv.Env{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	req := httptest.NewRequest("GET", "/a/1/2", nil)
	err = p.Handle(httptest.NewRecorder(), req, pipeline.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
		got = r.URL.Path
		return nil
	}))
	if err != nil || got != "/b/2/1/:other" {
		t.Errorf("rewritten to %q (%v), want /b/2/1/:other", got, err)
	}
}

// TestRewriteNeverLeavesTheHost: a result starting with // stays a path.
func TestRewriteNeverLeavesTheHost(t *testing.T) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("{match: '^/go/(.*)$', rewrite: '/$1', redirect: 302}"), &n); err != nil {
		t.Fatal(err)
	}
	p, err := New(config.Node{File: "f", Path: "action", Y: n.Content[0]}, &policyenv.Env{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if err := p.Handle(rec, httptest.NewRequest("GET", "/go//evil.example/x", nil), nil); err != nil {
		t.Fatal(err)
	}
	if loc := rec.Header().Get("Location"); loc != "/evil.example/x" {
		t.Errorf("Location %q, want /evil.example/x (never another host)", loc)
	}
}
