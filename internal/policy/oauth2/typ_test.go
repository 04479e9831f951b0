package oauth2

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func jws(header string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(header)) + ".eyJ4IjoxfQ.c2ln"
}

func TestAccessTokenTypeHeader(t *testing.T) {
	for _, c := range []struct {
		tok  string
		want bool
	}{
		{"0123|abcd", true},    // opaque: the server judges it
		{"not-a-jwt", true},    // not JWS compact: the server refuses it
		{"!!!.e30.sig", false}, // a header that does not decode
		{jws(`{"alg":"ES256","typ":"at+jwt"}`), true},
		{jws(`{"alg":"ES256","kid":"k","typ":"application/AT+JWT"}`), true},
		{jws(` { "typ" : "at+jwt" , "x" : [1, {"y": "}"}], "z": null } `), true},
		{jws(`{"alg":"ES256"}`), false},
		{jws(`{}`), false},
		{jws(`{"typ":"JWT"}`), false},
		{jws(`{"typ":"at+jwt","typ":"JWT"}`), false}, // the last one, as encoding/json
		{jws(`{"typ":"JWT","typ":"at+jwt"}`), true},
		{jws(`{"typ":7}`), false},
		{jws(`{"typ":["at+jwt"]}`), false},
		{jws(`{"x":{"typ":"at+jwt"}}`), false}, // not top level
		{jws(`{"t\u0079p":"at+jwt"}`), true},   // escapes: encoding/json decides
		{jws(`{"typ":"at\u002bjwt"}`), true},
		{jws(`{"Typ":"at+jwt"}`), false}, // names are exact
		{jws(`{"typ":"at+jwt"`), false},  // not JSON
		{jws(`{"typ":"at+jwt"} x`), false},
		{jws(`["typ","at+jwt"]`), false},
		{jws(`{"typ":"at+jwt","pad":"` + strings.Repeat("x", 2000) + `"}`), true}, // beyond the stack buffers
	} {
		if got := accessTokenType(c.tok); got != c.want {
			t.Errorf("%.60q: %v, want %v", c.tok, got, c.want)
		}
	}
}

func TestAccessTokenTypeAllocates(t *testing.T) {
	tok := jws(`{"alg":"ES256","kid":"abcdefghijklmnop","typ":"at+jwt"}`)
	if n := testing.AllocsPerRun(100, func() { accessTokenType(tok) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// FuzzScanTyp: on any header without a backslash that is a JSON object,
// the scanner reads the typ encoding/json reads (or defers to it).
func FuzzScanTyp(f *testing.F) {
	for _, s := range []string{`{"alg":"ES256","typ":"at+jwt"}`, `{"a":[1,{"b":"]"}],"typ":"JWT"}`, `{"typ":null}`, `{}`, ` {"typ" :"at+jwt" }`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, h []byte) {
		if strings.ContainsRune(string(h), '\\') {
			return
		}
		verdict, ok := scanTyp(h)
		var m map[string]any
		if json.Unmarshal(h, &m) != nil {
			return // invalid JSON: golang-jwt refuses the token anyway
		}
		if !ok {
			return // deferred to encoding/json
		}
		if want := slowTyp(h); verdict != want {
			t.Fatalf("%q: scanner %v, encoding/json %v", h, verdict, want)
		}
	})
}
