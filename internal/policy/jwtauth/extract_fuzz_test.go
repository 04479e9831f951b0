package jwtauth

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/policy/authn"
)

// FuzzExtract: every extractor, on any header value and query string,
// returns either nothing, a substring of what was sent or a refusal, never
// panics, and finds nothing once the token is stripped.
func FuzzExtract(f *testing.F) {
	for _, s := range []struct {
		kind         uint8
		field, value string
		query        string
	}{
		{0, "", "Bearer eyJ.eyJ.sig", ""},
		{0, "", "bearer   tok  ", ""},
		{0, "", "Bearer a b", ""},
		{0, "", "Basic dXNlcjpwYXNz", "jwt=x"},
		{1, "JWT", "JWT eyJ.eyJ.sig", ""},
		{1, "JWT", "jwt\ttok", ""},
		{2, "X-Token", " tok ", ""},
		{2, "x-token", "", ""},
		{3, "jwt", "", "jwt=eyJ.eyJ.sig&keep=1"},
		{3, "jwt", "", "jwt=a&jwt=b"},
		{3, "access_token", "", "a=%zz&access_token=t%2Bx;b=1"},
		{3, "jwt", "", "xjwt=1&jwtx=2"},
	} {
		f.Add(s.kind, s.field, s.value, s.query)
	}
	kinds := []string{ExtractAuthBearer, ExtractAuthScheme, ExtractHeader, ExtractQuery}
	f.Fuzz(func(t *testing.T, kind uint8, field, value, rawQuery string) {
		k := kinds[int(kind)%len(kinds)]
		if k != ExtractAuthBearer && (field == "" || (k != ExtractQuery && !validToken(field))) {
			return // refused at load
		}
		e := newExtractor(k, field)
		// What the jwt step does with e (authn.Policy finds, the
		// authenticator takes the token).
		extract := func(r *http.Request) (string, authn.Presented, error) {
			c, err := e.src.Find(r)
			if err != nil {
				return "", c, err
			}
			return e.token(c), c, nil
		}
		r := &http.Request{Header: http.Header{}, URL: &url.URL{Path: "/x", RawQuery: rawQuery}}
		r.Header.Set("Authorization", value)
		if k == ExtractHeader {
			r.Header.Set(field, value)
		}
		tok, c, err := extract(r)
		if err != nil {
			if tok != "" {
				t.Fatalf("%s: a token with a refusal", k)
			}
			return
		}
		switch k {
		case ExtractAuthBearer, ExtractAuthScheme:
			if tok != "" && (!strings.Contains(value, tok) || strings.ContainsAny(tok, " \t")) {
				t.Fatalf("%s extracted %q from %q", k, tok, value)
			}
		case ExtractHeader:
			if tok != strings.TrimSpace(value) {
				t.Fatalf("header extracted %q from %q", tok, value)
			}
		}
		_ = e.scheme()
		e.src.Strip(r, c, authn.Strip{Header: true, Query: true})
		if after, _, _ := extract(r); after != "" && k != ExtractQuery {
			t.Fatalf("%s: %q still extracted after strip", k, after)
		} else if k == ExtractQuery && after != "" {
			t.Fatalf("query: %q still extracted after strip (query now %q)", after, r.URL.RawQuery)
		}
	})
}
