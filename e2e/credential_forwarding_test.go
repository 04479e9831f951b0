package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/echo"
	"github.com/gatehouse/gatehouse/internal/store"
)

// What each auth policy sends upstream of the credential it checked
// (issue #12 §2), through the real app. One rule for all five, in
// authn.Stripping: stripCredentials true removes the credential from the
// header and the query, false from neither; unset, a header follows
// Express Gateway (forwarded by jwt, basic-auth, key-auth and
// oauth2-introspect, removed by oauth2) and a query credential is removed
// (URLs are logged).

// forwardingOptions are the variants of each policy: the action suffix
// and its name in the test table.
var forwardingOptions = []struct{ name, action string }{
	{"default", ""},
	{"strip", ", stripCredentials: true"},
	{"keep", ", stripCredentials: false"},
}

// startForwardingGateway serves /<policy>-<option>/ (and /jwtq-<option>/,
// jwt reading the query) for every policy and option.
func startForwardingGateway(t *testing.T) *credGateway {
	t.Helper()
	g := &credGateway{intro: map[string]bool{"intro-good": true}}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.hits.Add(1)
		echo.Handler("upstream").ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		ans := map[string]any{"active": false}
		if tok := r.PostForm.Get("token"); g.intro[tok] {
			ans = map[string]any{"active": true, "sub": tok + "-user", "exp": time.Now().Add(time.Hour).Unix()}
		}
		_ = json.NewEncoder(w).Encode(ans)
	}))
	t.Cleanup(as.Close)

	jwtBase := "secretOrPublicKey: '" + cbJWTSecret + "', checkCredentialExistence: false"
	policies := []struct{ prefix, policy, action string }{
		{"jwt", "jwt", jwtBase},
		{"jwtq", "jwt", jwtBase + ", jwtExtractor: query, jwtExtractorField: access_token"},
		{"basic", "basic-auth", "realm: r"},
		{"key", "key-auth", "apiKeyField: apiKey"},
		{"intro", "oauth2-introspect", "endpoint: '" + as.URL + "'"},
		{"oauth", "oauth2", "passThrough: false"},
	}
	var endpoints, pipelines strings.Builder
	add := func(name, policy, action string) {
		fmt.Fprintf(&endpoints, "  %s: {paths: ['/%s/*']}\n", name, name)
		fmt.Fprintf(&pipelines, "  %s:\n    apiEndpoints: [%s]\n    policies:\n      - %s:\n          - action: {%s}\n      - proxy:\n          - action: {serviceEndpoint: backend}\n",
			name, name, policy, action)
	}
	for _, p := range policies {
		for _, o := range forwardingOptions {
			add(p.prefix+"-"+o.name, p.policy, p.action+o.action)
		}
	}
	add("oauth-legacykeep", "oauth2", "keepAuthorization: true")
	gw := fmt.Sprintf("http: {port: 0, host: 127.0.0.1}\napiEndpoints:\n%sserviceEndpoints:\n  backend: {url: '%s'}\n"+
		"policies: [jwt, oauth2, oauth2-introspect, key-auth, basic-auth, proxy]\npipelines:\n%s", endpoints.String(), up.URL, pipelines.String())
	g.gatewayUnderTest = startJWTServerGateway(t, gw)

	ctx, s := context.Background(), g.app.Store()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	alice, err := s.CreateUser(ctx, store.User{Username: "alice", Firstname: "Alice", Lastname: "A"})
	must(err)
	_, g.password, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: alice.ID, Type: store.BasicAuth})
	must(err)
	c, sec, err := s.CreateCredential(ctx, store.CredentialInput{ConsumerID: alice.ID, Type: store.KeyAuth})
	must(err)
	g.key = c.KeyID + ":" + sec
	g.svc, err = s.CreateApp(ctx, store.App{UserID: alice.ID, Name: "svc"})
	must(err)
	_, g.svcSec, err = s.CreateCredential(ctx, store.CredentialInput{ConsumerID: g.svc.ID, Type: store.OAuth2})
	must(err)
	return g
}

// TestCredentialForwarding: the five policies x {default, stripCredentials
// true, false} x {header, query}: what the upstream receives.
func TestCredentialForwarding(t *testing.T) {
	t.Parallel()
	g := startForwardingGateway(t)
	jwtTok := g.userToken(t, "JWT", "user-a")
	at := g.accessToken(t)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:"+g.password))

	type place struct {
		prefix string // the pipeline family
		header string // the Authorization value, "" for a query credential
		query  string // the query parameter name=value, "" for a header credential
	}
	places := map[string][]place{
		"jwt":               {{"jwt", "Bearer " + jwtTok, ""}, {"jwtq", "", "access_token=" + jwtTok}},
		"basic-auth":        {{"basic", basic, ""}}, // Authorization only: no query form
		"key-auth":          {{"key", "apiKey " + g.key, ""}, {"key", "", "apiKey=" + url.QueryEscape(g.key)}},
		"oauth2-introspect": {{"intro", "Bearer intro-good", ""}, {"intro", "", "access_token=intro-good"}},
		"oauth2":            {{"oauth", "Bearer " + at, ""}, {"oauth", "", "access_token=" + url.QueryEscape(at)}},
	}
	// forwarded[option][header?]: what must reach the upstream. The
	// header default is Express Gateway's, per policy (oauth2 removes it).
	forwarded := func(policy, option string, inHeader bool) bool {
		switch option {
		case "strip":
			return false
		case "keep":
			return true
		}
		return inHeader && policy != "oauth2"
	}
	for policy, ps := range places {
		for _, p := range ps {
			for _, o := range forwardingOptions {
				where := "header"
				if p.header == "" {
					where = "query"
				}
				name := fmt.Sprintf("%s/%s/%s", policy, o.name, where)
				t.Run(name, func(t *testing.T) {
					target := "/" + p.prefix + "-" + o.name + "/x?b=2"
					var headers []string
					if p.header != "" {
						headers = append(headers, "Authorization: "+p.header)
					} else {
						target += "&" + p.query + "&a=1"
					}
					r := g.send(t, target, headers...)
					if r.status != 200 || r.echo == nil {
						t.Fatalf("%d %s", r.status, r.reason)
					}
					want := forwarded(policy, o.name, p.header != "")
					gotHeader := http.Header(r.echo.Headers).Get("Authorization")
					if p.header != "" {
						if want && gotHeader != p.header {
							t.Errorf("upstream Authorization %q, want it forwarded as sent", gotHeader)
						} else if !want && gotHeader != "" {
							t.Errorf("upstream Authorization %q, want it removed", gotHeader)
						}
						if r.echo.Query != "b=2" {
							t.Errorf("upstream query %q, want b=2", r.echo.Query)
						}
						return
					}
					if gotHeader != "" {
						t.Errorf("upstream Authorization %q from a query credential", gotHeader)
					}
					if wantQuery := map[bool]string{true: "b=2&" + p.query + "&a=1", false: "b=2&a=1"}[want]; r.echo.Query != wantQuery {
						t.Errorf("upstream query %q, want %q", r.echo.Query, wantQuery)
					}
				})
			}
		}
	}
	// keepAuthorization: true, oauth2's older name of stripCredentials:
	// false, forwards both.
	if r := g.send(t, "/oauth-legacykeep/x", "Authorization: Bearer "+at); r.status != 200 || http.Header(r.echo.Headers).Get("Authorization") != "Bearer "+at {
		t.Errorf("keepAuthorization, header: %d %+v", r.status, r.echo)
	}
	if r := g.send(t, "/oauth-legacykeep/x?access_token="+url.QueryEscape(at)); r.status != 200 || r.echo.Query != "access_token="+url.QueryEscape(at) {
		t.Errorf("keepAuthorization, query: %d %+v", r.status, r.echo)
	}
}
