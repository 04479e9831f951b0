package authn

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/pipeline"
)

func req(rawQuery string, header ...string) *http.Request {
	r := &http.Request{Header: http.Header{}, URL: &url.URL{Path: "/x", RawQuery: rawQuery}}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	return r
}

var (
	bearerSrc = Source{Header: "Authorization", Scheme: "Bearer", Query: "access_token", Challenge: "Bearer"}
	// jwt's authBearer: the header only, ?access_token= watched.
	headerOnly = Source{Header: "Authorization", Scheme: "Bearer", WatchQuery: "access_token", Challenge: "Bearer"}
	// jwt's query extractor on access_token: the Bearer header watched.
	queryOnly = Source{Query: "access_token", WatchHeader: "Authorization", WatchScheme: "Bearer", Challenge: "Bearer"}
	keySrc    = Source{Header: "Authorization", Scheme: "apiKey", Query: "apiKey"}
	basicSrc  = Source{Header: "Authorization", Scheme: "Basic"}
	noScheme  = Source{Header: "X-Api-Key", Query: "key"}
)

func TestFind(t *testing.T) {
	for _, c := range []struct {
		name    string
		src     Source
		r       *http.Request
		value   string
		inQuery bool
		foreign string
		refused string // part of the 400's message
	}{
		{name: "nothing", src: bearerSrc, r: req("")},
		{name: "header", src: bearerSrc, r: req("", "Authorization", "Bearer abc"), value: "abc"},
		{name: "header, tab-separated", src: bearerSrc, r: req("", "Authorization", "Bearer\tabc"), value: "abc"},
		{name: "scheme in any case, spaces trimmed", src: bearerSrc, r: req("", "Authorization", "  bEaReR   abc  "), value: "abc"},
		{name: "query", src: bearerSrc, r: req("a=1&access_token=abc&b=2"), value: "abc", inQuery: true},
		{name: "query, escaped value", src: bearerSrc, r: req("access_token=a%7Cb%2Bc+d"), value: "a|b+c d", inQuery: true},
		{name: "query, escaped key", src: bearerSrc, r: req("access%5Ftoken=abc"), value: "abc", inQuery: true},
		{name: "query behind a ';'", src: bearerSrc, r: req("a=1;access_token=abc"), value: "abc", inQuery: true},
		{name: "another scheme is foreign", src: bearerSrc, r: req("", "Authorization", "Basic dTpw"), foreign: "Basic dTpw"},
		{name: "the scheme alone is foreign", src: bearerSrc, r: req("", "Authorization", "Bearer"), foreign: "Bearer"},
		{name: "foreign header and a query token", src: keySrc, r: req("apiKey=k:s", "Authorization", "Bearer t"), value: "k:s", inQuery: true, foreign: "Bearer t"},
		{name: "no scheme: the whole value", src: noScheme, r: req("", "x-api-key", " k:s "), value: "k:s"},
		{name: "empty query values carry nothing", src: bearerSrc, r: req("access_token=&access_token", "Authorization", "Bearer abc"), value: "abc"},
		{name: "similar names", src: bearerSrc, r: req("xaccess_token=1&access_tokens=2&access_token_=3", "Authorization", "Bearer abc"), value: "abc"},
		{name: "case matters in query names", src: bearerSrc, r: req("ACCESS_TOKEN=1", "Authorization", "Bearer abc"), value: "abc"},
		{name: "a key secret with a comma", src: keySrc, r: req("", "Authorization", "apiKey k:se,cret"), value: "k:se,cret"},
		{name: "watched query, absent", src: headerOnly, r: req("a=1", "Authorization", "Bearer abc"), value: "abc"},
		{name: "watched query alone is not read", src: headerOnly, r: req("access_token=abc")},
		{name: "watched header alone is not read", src: queryOnly, r: req("", "Authorization", "Bearer abc")},
		{name: "watched header with another scheme", src: queryOnly, r: req("access_token=abc", "Authorization", "Basic dTpw"), value: "abc", inQuery: true},

		{name: "two header lines", src: bearerSrc, r: req("", "Authorization", "Bearer a", "Authorization", "Bearer b"), refused: "the Authorization header, 2 times"},
		{name: "two header lines, one foreign", src: keySrc, r: req("", "Authorization", "apiKey a", "Authorization", "Bearer b"), refused: "the Authorization header, 2 times"},
		{name: "an empty and a full line", src: basicSrc, r: req("", "Authorization", "", "Authorization", "Basic dTpw"), refused: "2 times"},
		{name: "comma-joined", src: bearerSrc, r: req("", "Authorization", "Bearer a, Bearer b"), refused: "comma-joined"},
		{name: "comma-joined, no space", src: bearerSrc, r: req("", "Authorization", "Bearer a,Bearer b"), refused: "comma-joined"},
		{name: "comma-joined, other scheme", src: basicSrc, r: req("", "Authorization", "Basic dTpw, Bearer b"), refused: "comma-joined"},
		{name: "comma-joined, no scheme", src: noScheme, r: req("", "X-Api-Key", "k:s, k2:s2"), refused: "comma-joined"},
		{name: "header and query", src: bearerSrc, r: req("access_token=b", "Authorization", "Bearer a"), refused: "the Authorization header and the access_token query parameter"},
		{name: "header and query, the same token", src: bearerSrc, r: req("access_token=a", "Authorization", "Bearer a"), refused: "the Authorization header and the access_token query parameter"},
		{name: "a tab after the scheme still counts", src: bearerSrc, r: req("access_token=good", "Authorization", "Bearer\tother"), refused: "the Authorization header and the access_token query parameter"},
		{name: "header and an escaped query key", src: bearerSrc, r: req("access%5ftoken=b", "Authorization", "Bearer a"), refused: "and the access_token query parameter"},
		{name: "header and a query behind ';'", src: bearerSrc, r: req("x=1;access_token=b", "Authorization", "Bearer a"), refused: "and the access_token query parameter"},
		{name: "query twice", src: bearerSrc, r: req("access_token=a&access_token=b"), refused: "the access_token query parameter, 2 times"},
		{name: "query twice, the same value", src: keySrc, r: req("apiKey=a&apiKey=a"), refused: "the apiKey query parameter, 2 times"},
		{name: "query three times, ';' and '&'", src: bearerSrc, r: req("access_token=a;access_token=b&access_token=c"), refused: "3 times"},
		{name: "key-auth header and query", src: keySrc, r: req("apiKey=k2:s2", "Authorization", "apiKey k:s"), refused: "the Authorization header and the apiKey query parameter"},
		{name: "header and watched query", src: headerOnly, r: req("access_token=b", "Authorization", "Bearer a"), refused: "the Authorization header and the access_token query parameter"},
		{name: "watched query twice", src: headerOnly, r: req("access_token=b&access_token=c"), refused: "the access_token query parameter, 2 times"},
		{name: "query and watched header", src: queryOnly, r: req("access_token=b", "Authorization", "Bearer a"), refused: "the Authorization header and the access_token query parameter"},
		{name: "watched header twice", src: queryOnly, r: req("access_token=b", "Authorization", "Bearer a", "Authorization", "Bearer c"), refused: "2 times"},
		{name: "bad escape in the value", src: bearerSrc, r: req("access_token=a%zz"), refused: "not valid percent-encoding"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := c.src.Find(c.r)
			if c.refused != "" {
				var rej *pipeline.Rejection
				if !errors.As(err, &rej) || rej.Status != 400 || rej.Code != "invalid_request" || !strings.Contains(rej.Message, c.refused) {
					t.Fatalf("got %+v, %v; want 400 invalid_request %q", p, err, c.refused)
				}
				wantChallenge := ""
				if c.src.Challenge != "" {
					wantChallenge = c.src.Challenge + ` realm="gatehouse", error="invalid_request", error_description="` + rej.Message + `"`
				}
				if rej.Challenge != wantChallenge {
					t.Errorf("challenge %q, want %q", rej.Challenge, wantChallenge)
				}
				return
			}
			if err != nil || p.Value != c.value || p.InQuery != c.inQuery || p.Foreign != c.foreign {
				t.Errorf("got %+v, %v; want value %q inQuery %v foreign %q", p, err, c.value, c.inQuery, c.foreign)
			}
		})
	}
}

func TestStrip(t *testing.T) {
	for _, c := range []struct {
		name          string
		src           Source
		r             *http.Request
		header, query bool
		wantHeader    string
		wantQuery     string
	}{
		{"header", bearerSrc, req("a=1", "Authorization", "Bearer x"), true, true, "", "a=1"},
		{"header kept", bearerSrc, req("a=1", "Authorization", "Bearer x"), false, true, "Bearer x", "a=1"},
		{"query, order and encoding kept", bearerSrc, req("b=2&access_token=x&a=%20&c"), true, true, "", "b=2&a=%20&c"},
		{"query kept", bearerSrc, req("b=2&access_token=x"), true, false, "", "b=2&access_token=x"},
		{"empty occurrences go too", bearerSrc, req("access_token=&access_token&b=1&access_token=x"), true, true, "", "b=1"},
		{"escaped key and ';'", bearerSrc, req("a=1;access%5Ftoken=x&b=2"), true, true, "", "a=1&b=2"},
		{"separators of the kept ones", bearerSrc, req("a=1;b=2&access_token=x;c=3"), true, true, "", "a=1;b=2;c=3"},
		{"only the credential", bearerSrc, req("access_token=x"), true, true, "", ""},
		{"a foreign header stays", keySrc, req("apiKey=k:s", "Authorization", "Bearer t"), true, true, "Bearer t", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := c.src.Find(c.r)
			if err != nil {
				t.Fatal(err)
			}
			c.src.Strip(c.r, p, Strip{Header: c.header, Query: c.query})
			if got := c.r.Header.Get("Authorization"); got != c.wantHeader {
				t.Errorf("header %q, want %q", got, c.wantHeader)
			}
			if c.r.URL.RawQuery != c.wantQuery {
				t.Errorf("query %q, want %q", c.r.URL.RawQuery, c.wantQuery)
			}
		})
	}
}

func TestKeyEquals(t *testing.T) {
	for k, want := range map[string]bool{
		"access_token": true, "access%5Ftoken": true, "access%5ftoken": true, "%61ccess_token": true,
		"access_toke": false, "access_tokenn": false, "access%5": false, "access%zztoken": false, "": false,
	} {
		if got := keyEquals(k, "access_token"); got != want {
			t.Errorf("keyEquals(%q) = %v", k, got)
		}
	}
	if !keyEquals("api+key", "api key") || !keyEquals("api%20key", "api key") {
		t.Error("'+' and %20 are spaces in a query key")
	}
}

// TestFindAllocates: the check costs no allocation when the request
// carries one credential: one header line (with or without an unrelated
// query), or one query parameter without escapes.
func TestFindAllocates(t *testing.T) {
	for _, c := range []struct {
		name string
		src  Source
		r    *http.Request
	}{
		{"header, no query", bearerSrc, req("", "Authorization", "Bearer abc.def.ghi")},
		{"header, a query", bearerSrc, req("page=2&q=a%20b", "Authorization", "Bearer abc.def.ghi")},
		{"header, watched query", headerOnly, req("page=2", "Authorization", "Bearer abc.def.ghi")},
		{"query", bearerSrc, req("page=2&access_token=abc.def.ghi")},
		{"key-auth header", keySrc, req("", "Authorization", "apiKey id:secret")},
		{"basic", basicSrc, req("", "Authorization", "Basic dXNlcjpwYXNz")},
	} {
		if n := testing.AllocsPerRun(100, func() {
			if _, err := c.src.Find(c.r); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations", c.name, n)
		}
	}
}

// FuzzFind: Find never panics, returns a value only when nothing was
// refused, and after Strip (both places) finds nothing of its own.
func FuzzFind(f *testing.F) {
	f.Add("Bearer a", "", "access_token=b")
	f.Add("Bearer a, Bearer b", "x", "a=1;access%5Ftoken=b")
	f.Add("apiKey k:s", "Bearer t", "apiKey=k&apiKey=")
	f.Fuzz(func(t *testing.T, h1, h2, rawQuery string) {
		for _, src := range []Source{bearerSrc, headerOnly, queryOnly, keySrc, basicSrc, noScheme} {
			name := src.Header
			if name == "" {
				name = "Authorization"
			}
			r := req(rawQuery, name, h1)
			if h2 != "" {
				r.Header.Add("Authorization", h2)
			}
			p, err := src.Find(r)
			if err != nil {
				if p.Value != "" && p.InQuery {
					t.Fatalf("a query value with a refusal")
				}
				continue
			}
			src.Strip(r, p, Strip{Header: true, Query: true})
			if again, err := src.Find(r); err == nil && again.Value != "" {
				t.Fatalf("%+v: %q still found after Strip (query %q)", src, again.Value, r.URL.RawQuery)
			}
		}
	})
}
