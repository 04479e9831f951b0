package rewrite

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/config/configtest"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

const actionPath = "pipelines.p.policies[0].rewrite[0].action"

func action(t *testing.T, src string) config.Node {
	t.Helper()
	return configtest.Node(t, actionPath, src)
}

func env() *policyenv.Env {
	return &policyenv.Env{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func TestRewrite(t *testing.T) {
	tests := []struct {
		name    string
		action  string
		target  string
		path    string // the path next sees (decoded)
		rawPath string // and escaped; "" means same as path
		query   string
	}{
		{
			name:   "Express parameter",
			action: "{match: /old/:id, rewrite: /new/:id}",
			target: "/old/42?x=1",
			path:   "/new/42", query: "x=1",
		},
		{
			name:   "Express match is case-insensitive and non-strict",
			action: "{match: /old/:id, rewrite: /new/:id}",
			target: "/OLD/42/",
			path:   "/new/42",
		},
		{
			name:   "parameters in another order, one name a prefix of another",
			action: "{match: '/u/:id/:idx', rewrite: '/v/:idx/:id/:id'}",
			target: "/u/1/2",
			path:   "/v/2/1/1",
		},
		{
			name:   "a value that looks like a parameter is not replaced again",
			action: "{match: '/u/:a/:b', rewrite: '/v/:b/:a'}",
			target: "/u/:b/x",
			path:   "/v/x/:b",
		},
		{
			name:   "an unknown :name in rewrite stays as it is",
			action: "{match: '/u/:a', rewrite: '/v/:a/:other'}",
			target: "/u/1",
			path:   "/v/1/:other",
		},
		{
			name:   "a star before a parameter",
			action: "{match: '/files/*/:name', rewrite: '/blobs/:name'}",
			target: "/files/a/b/c.txt",
			path:   "/blobs/c.txt",
		},
		{
			name:   "an optional parameter that is absent",
			action: "{match: '/items/:id?', rewrite: '/list/:id'}",
			target: "/items",
			path:   "/list/",
		},
		{
			name:   "a parameter with a regexp",
			action: `{match: '/n/:id(\d+)', rewrite: '/num/:id'}`,
			target: "/n/17",
			path:   "/num/17",
		},
		{
			name:   "a percent-encoded slash stays encoded",
			action: "{match: /old/:id, rewrite: /new/:id}",
			target: "/old/a%2Fb",
			path:   "/new/a/b", rawPath: "/new/a%2Fb",
		},
		{
			name:   "an encoded ? stays in the path",
			action: "{match: /old/:id, rewrite: /new/:id}",
			target: "/old/a%3Fb=c?x=1",
			path:   "/new/a?b=c", rawPath: "/new/a%3Fb=c", query: "x=1",
		},
		{
			name:   "an encoded % stays encoded",
			action: "{match: /old/:id, rewrite: /new/:id}",
			target: "/old/100%25",
			path:   "/new/100%", rawPath: "/new/100%25",
		},
		{
			name:   "regexp with groups",
			action: "{match: '^/api/v1/(.*)$', rewrite: '/v1/$1'}",
			target: "/api/v1/users/7?page=2",
			path:   "/v1/users/7", query: "page=2",
		},
		{
			name:   "regexp group followed by letters",
			action: "{match: '^/a/(\\w+)$', rewrite: '/b/$1abc/${1}_x'}",
			target: "/a/z",
			path:   "/b/zabc/z_x",
		},
		{
			name:   "regexp with two groups swapped and a literal dollar",
			action: "{match: '^/(\\w+)/(\\w+)$', rewrite: '/$2/$1/$$1'}",
			target: "/a/b",
			path:   "/b/a/$1",
		},
		{
			name:   "regexp with a named group",
			action: "{match: '^/p/(?P<id>\\d+)$', rewrite: '/q/${id}'}",
			target: "/p/5",
			path:   "/q/5",
		},
		{
			name:   "a rewrite with a query adds it before the request's",
			action: "{match: /old, rewrite: '/new?src=old'}",
			target: "/old?x=1",
			path:   "/new", query: "src=old&x=1",
		},
		{
			name:   "a rewrite with a query on a request without one",
			action: "{match: /old, rewrite: '/new?src=old'}",
			target: "/old",
			path:   "/new", query: "src=old",
		},
		{
			name:   "no match passes through",
			action: "{match: /old/:id, rewrite: /new/:id}",
			target: "/other/42?x=1",
			path:   "/other/42", query: "x=1",
		},
		{
			name:   "regexp no match passes through",
			action: "{match: '^/api/', rewrite: /x}",
			target: "/v1/api/",
			path:   "/v1/api/",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(action(t, tt.action), env())
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			r := pipeline.WithState(httptest.NewRequest("GET", tt.target, nil), &pipeline.State{Route: &pipeline.Route{}})
			w := httptest.NewRecorder()
			called := false
			err = p.Handle(w, r, pipeline.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
				called = true
				raw := tt.rawPath
				if raw == "" {
					raw = tt.path
				}
				if r.URL.Path != tt.path || r.URL.EscapedPath() != raw || r.URL.RawQuery != tt.query {
					t.Errorf("next saw path %q (escaped %q) query %q, want %q (%q) %q",
						r.URL.Path, r.URL.EscapedPath(), r.URL.RawQuery, tt.path, raw, tt.query)
				}
				return nil
			}))
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if !called {
				t.Fatalf("next not called; response %d %v", w.Code, w.Header())
			}
		})
	}
}

func TestRedirect(t *testing.T) {
	tests := []struct {
		name     string
		action   string
		target   string
		status   int
		location string // "" : no redirect, next called
	}{
		{
			name:   "302 keeps the query",
			action: "{match: /old/:id, rewrite: /new/:id, redirect: 302}",
			target: "/old/42?x=1&y=2",
			status: 302, location: "/new/42?x=1&y=2",
		},
		{
			name:   "301 to an absolute URL",
			action: "{match: /old/:id, rewrite: 'https://new.example.com:8443/items/:id', redirect: 301}",
			target: "/old/7",
			status: 301, location: "https://new.example.com:8443/items/7",
		},
		{
			name:   "a rewrite with its own query does not take the request's",
			action: "{match: /old, rewrite: '/new?a=b', redirect: 307}",
			target: "/old?x=1",
			status: 307, location: "/new?a=b",
		},
		{
			name:   "regexp redirect",
			action: "{match: '^/docs/(.*)$', rewrite: '/documentation/$1', redirect: 308}",
			target: "/docs/a/b",
			status: 308, location: "/documentation/a/b",
		},
		{
			name:   "encoded characters stay encoded in the Location",
			action: "{match: /old/:id, rewrite: /new/:id, redirect: 303}",
			target: "/old/a%3Fb",
			status: 303, location: "/new/a%3Fb",
		},
		{
			name:   "no match passes through",
			action: "{match: /old/:id, rewrite: /new/:id, redirect: 302}",
			target: "/new/42",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(action(t, tt.action), env())
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			st := &pipeline.State{Route: &pipeline.Route{}}
			r := pipeline.WithState(httptest.NewRequest("GET", tt.target, nil), st)
			w := httptest.NewRecorder()
			called := false
			err = p.Handle(w, r, pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
				called = true
				return nil
			}))
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if tt.location == "" {
				if !called || w.Header().Get("Location") != "" {
					t.Errorf("next called %v, Location %q: want a pass-through", called, w.Header().Get("Location"))
				}
				return
			}
			if called {
				t.Error("next called after a redirect")
			}
			if w.Code != tt.status || w.Header().Get("Location") != tt.location {
				t.Errorf("got %d Location %q, want %d %q", w.Code, w.Header().Get("Location"), tt.status, tt.location)
			}
			if st.Record.Reason != "redirect" {
				t.Errorf("reason %q", st.Record.Reason)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	at := func(line int, key, msg string) string {
		return fmt.Sprintf("gateway.config.yml:%d: %s.%s: %s", line, actionPath, key, msg)
	}
	matchRequired := "is required: an Express path such as /old/:id, or a regular expression starting with ^"
	tests := []struct{ action, want string }{
		{"", "gateway.config.yml: " + actionPath + ".match: " + matchRequired},
		{"rewrite: /x\n", at(1, "match", matchRequired)},
		{"match: /x\n", at(1, "rewrite", "is required: the new path, such as /new/:id or /new/$1")},
		{"match: /x\nrewrite: new\n", at(2, "rewrite", "must be a path starting with / (or an absolute URL for a redirect)")},
		{"match: /x\nrewrite: 'https://a.test/'\n", at(2, "rewrite", "an absolute URL needs redirect (the proxy only rewrites paths)")},
		{"match: /x\nrewrite: /y\nredirect: 200\n", at(3, "redirect", "must be 301, 302, 303, 307 or 308, got 200")},
		{"match: /x\nrewrite: /y\nredirect: 304\n", at(3, "redirect", "must be 301, 302, 303, 307 or 308, got 304")},
		{"match: /x\nrewrite: /y\nredirect: yes\n", at(3, "redirect", `expected a whole number, got "yes"`)},
		{"match: '^/(a'\nrewrite: /y\n", at(1, "match", "invalid regular expression: error parsing regexp: missing closing ): `^/(a`")},
		{"match: '/:id(\\d+'\nrewrite: /y\n", at(1, "match", `path "/:id(\\d+" is not a valid pattern: missing closing )`)},
		{"match: /x\nrewrite: /y\nredirects: 301\n", at(3, "redirects", "unknown key (expected one of: match, rewrite, redirect)")},
	}
	for _, tt := range tests {
		p, err := New(action(t, tt.action), env())
		if err == nil {
			t.Errorf("New(%q) accepted it", tt.action)
			continue
		}
		if p != nil {
			t.Errorf("New(%q) returned a policy with its error", tt.action)
		}
		if err.Error() != tt.want {
			t.Errorf("New(%q):\n got %s\nwant %s", tt.action, err, tt.want)
		}
	}
}
