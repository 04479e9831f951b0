package jwtauth_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

// mintTyp signs an HS256 token whose typ header is typ ("" for none: a
// go-jose signer adds no typ unless asked).
func mintTyp(t testing.TB, typ string, claims map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func request(target string, header ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	return r
}

// TestOneCredential: a token sent twice (two header lines, comma-joined
// lines, header and query, the query parameter twice) is refused with 400
// invalid_request, never verified, never passed on, passThrough or not
// (issue #10 §3, RFC 6750 §2 and §3.1).
func TestOneCredential(t *testing.T) {
	env := &policyenv.Env{Logger: discard(), Now: func() time.Time { return t0 }}
	good := hsToken(t)
	other := mintTyp(t, "JWT", claimsAt(t0, "sub", "someone-else"))
	const base = "secretOrPublicKey: '" + secret + "', checkCredentialExistence: false"
	for _, c := range []struct {
		name, action string
		req          *http.Request
		scheme       string // of the challenge
	}{
		{"two Authorization headers", base, request("http://api.test/x", "Authorization", "Bearer "+good, "Authorization", "Bearer "+other), "Bearer"},
		{"the same token in two Authorization headers", base, request("http://api.test/x", "Authorization", "Bearer "+good, "Authorization", "Bearer "+good), "Bearer"},
		{"two tokens in one comma-joined header", base, request("http://api.test/x", "Authorization", "Bearer "+good+", Bearer "+other), "Bearer"},
		{"comma-joined without a space", base, request("http://api.test/x", "Authorization", "Bearer "+good+",Bearer "+other), "Bearer"},
		{"header and ?access_token= (another token)", base, request("http://api.test/x?access_token="+other, "Authorization", "Bearer "+good), "Bearer"},
		{"header and ?access_token= (the same token)", base, request("http://api.test/x?access_token="+good, "Authorization", "Bearer "+good), "Bearer"},
		{"header and an encoded access%5Ftoken", base, request("http://api.test/x?access%5Ftoken="+other, "Authorization", "Bearer "+good), "Bearer"},
		{"header and access_token behind a ';'", base, request("http://api.test/x?a=1;access_token="+other, "Authorization", "Bearer "+good), "Bearer"},
		{"authScheme: two headers", base + ", jwtExtractor: authScheme, jwtExtractorField: JWT",
			request("http://api.test/x", "Authorization", "JWT "+good, "Authorization", "JWT "+other), "JWT"},
		{"header extractor: two lines", base + ", jwtExtractor: header, jwtExtractorField: x-token",
			request("http://api.test/x", "X-Token", good, "X-Token", other), "Bearer"},
		{"header extractor: comma-joined", base + ", jwtExtractor: header, jwtExtractorField: x-token",
			request("http://api.test/x", "X-Token", good+", "+other), "Bearer"},
		{"query extractor: the parameter twice", base + ", jwtExtractor: query, jwtExtractorField: jwt",
			request("http://api.test/x?jwt=" + good + "&jwt=" + other), "Bearer"},
		{"query extractor on access_token and a Bearer header", base + ", jwtExtractor: query, jwtExtractorField: access_token",
			request("http://api.test/x?access_token="+good, "Authorization", "Bearer "+other), "Bearer"},
	} {
		for _, pass := range []string{"", ", passThrough: true"} {
			t.Run(c.name+pass, func(t *testing.T) {
				p := newPolicy(t, "{"+c.action+pass+"}", env)
				r := serve(p, c.req.Clone(c.req.Context()))
				if r.status != 400 || r.reason != "invalid_request" || r.called || r.id != nil {
					t.Fatalf("got %d %q (passed on: %v), want 400 invalid_request, refused: %s", r.status, r.reason, r.called, r.body)
				}
				if !strings.HasPrefix(r.wwwAuth, c.scheme+` realm="gatehouse", error="invalid_request", error_description="send the credential once`) {
					t.Errorf("challenge = %q", r.wwwAuth)
				}
				for _, tok := range []string{good, other} {
					if strings.Contains(r.body, tok) || strings.Contains(r.wwwAuth, tok) {
						t.Error("a token leaked into the refusal")
					}
				}
			})
		}
	}

	// Not a second credential: an empty access_token, another scheme
	// beside a query token for the query extractor, a query parameter of
	// another name.
	for _, c := range []struct {
		name, action string
		req          *http.Request
	}{
		{"empty ?access_token=", base, request("http://api.test/x?access_token=", "Authorization", "Bearer "+good)},
		{"other parameters", base, request("http://api.test/x?token="+other+"&xaccess_token=1", "Authorization", "Bearer "+good)},
		{"query extractor and a Basic header", base + ", jwtExtractor: query, jwtExtractorField: access_token",
			request("http://api.test/x?access_token="+good, "Authorization", "Basic dTpw")},
		{"query extractor on jwt and a Bearer header", base + ", jwtExtractor: query, jwtExtractorField: jwt",
			request("http://api.test/x?jwt="+good, "Authorization", "Bearer "+other)},
	} {
		t.Run(c.name, func(t *testing.T) {
			if r := serve(newPolicy(t, "{"+c.action+"}", env), c.req); r.status != 200 {
				t.Errorf("got %d %s, want 200", r.status, r.body)
			}
		})
	}
}

// TestStripDefaults: a token read from the query never goes upstream
// unless stripCredentials: false; the Authorization header does, unless
// stripCredentials: true.
func TestStripDefaults(t *testing.T) {
	env := &policyenv.Env{Logger: discard(), Now: func() time.Time { return t0 }}
	good := hsToken(t)
	const base = "secretOrPublicKey: '" + secret + "', checkCredentialExistence: false"
	const query = base + ", jwtExtractor: query, jwtExtractorField: access_token"
	for _, c := range []struct {
		name, action    string
		req             *http.Request
		header, inQuery bool // what the upstream still gets
	}{
		{"header, default", base, request("http://api.test/x", "Authorization", "Bearer "+good), true, false},
		{"header, stripCredentials true", base + ", stripCredentials: true", request("http://api.test/x", "Authorization", "Bearer "+good), false, false},
		{"header, stripCredentials false", base + ", stripCredentials: false", request("http://api.test/x", "Authorization", "Bearer "+good), true, false},
		{"query, default", query, request("http://api.test/x?b=2&access_token=" + good + "&a=1"), false, false},
		{"query, stripCredentials true", query + ", stripCredentials: true", request("http://api.test/x?b=2&access_token=" + good + "&a=1"), false, false},
		{"query, stripCredentials false (EG)", query + ", stripCredentials: false", request("http://api.test/x?b=2&access_token=" + good + "&a=1"), false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := serve(newPolicy(t, "{"+c.action+"}", env), c.req)
			if r.status != 200 {
				t.Fatalf("got %d %s", r.status, r.body)
			}
			if got := r.header.Get("Authorization") != ""; got != c.header {
				t.Errorf("Authorization upstream: %v, want %v", got, c.header)
			}
			if got := strings.Contains(r.url, good); got != c.inQuery {
				t.Errorf("token in the upstream URL: %v, want %v (%s)", got, c.inQuery, r.url)
			}
			if strings.Contains(c.req.URL.RawQuery, "b=2") && !strings.Contains(r.url, "?b=2&") && !strings.HasSuffix(r.url, "?b=2&a=1") {
				t.Errorf("the other parameters changed: %s", r.url)
			}
		})
	}
}

// TestTypesOption: types lists the accepted typ values (RFC 8725 §3.11).
func TestTypesOption(t *testing.T) {
	env := &policyenv.Env{Logger: discard(), Now: func() time.Time { return t0 }}
	claims := claimsAt(t0)
	const base = "secretOrPublicKey: '" + secret + "', checkCredentialExistence: false"
	for _, c := range []struct {
		types  string // "" leaves the option out
		typ    string // "" mints no typ
		status int
	}{
		{"", "JWT", 200}, {"", "", 200}, {"", "at+jwt", 200}, {"", "whatever", 200},
		{"[at+jwt]", "at+jwt", 200},
		{"[at+jwt]", "AT+JWT", 200},
		{"[at+jwt]", "application/at+jwt", 200},
		{"[application/at+jwt]", "at+jwt", 200},
		{"[at+jwt]", "JWT", 401}, // an OpenID Connect ID token
		{"[at+jwt]", "", 401},    // no typ: not listed
		{"[at+jwt]", "example/at+jwt", 401},
		{"[JWT]", "", 200},    // a JWT without typ is a JWT (RFC 7519 §5.1)
		{"[JWT]", "jwt", 200}, // case-insensitive
		{"[JWT]", "at+jwt", 401},
		{"['', at+jwt]", "", 200},
		{"['', at+jwt]", "JWT", 401},
	} {
		action := base
		if c.types != "" {
			action += ", types: " + c.types
		}
		t.Run(c.types+" "+c.typ, func(t *testing.T) {
			r := serve(newPolicy(t, "{"+action+"}", env), bearer(mintTyp(t, c.typ, claims)))
			if r.status != c.status {
				t.Fatalf("got %d %s, want %d", r.status, r.body, c.status)
			}
			if c.status == 401 && (r.reason != "token_type_mismatch" || !strings.Contains(r.wwwAuth, `error="invalid_token"`)) {
				t.Errorf("refusal %q %q", r.reason, r.wwwAuth)
			}
		})
	}
	// A typ that is not a string matches nothing.
	tok := mint(t, jose.HS256, []byte(secret), claims, map[string]any{"typ": 7})
	if r := serve(newPolicy(t, "{"+base+", types: [JWT]}", env), bearer(tok)); r.status != 401 || r.reason != "token_type_mismatch" {
		t.Errorf("numeric typ: %d %s", r.status, r.body)
	}
}

func hsToken(t testing.TB) string {
	return mint(t, jose.HS256, []byte(secret), claimsAt(t0), nil)
}

// TestFindAllocations: the duplicate checks cost nothing on the common
// path (one Authorization header, with or without an unrelated query).
func TestFindAllocations(t *testing.T) {
	p := newPolicy(t, "{secretOrPublicKey: '"+secret+"', checkCredentialExistence: false}", &policyenv.Env{Logger: discard(), Now: func() time.Time { return t0 }})
	next := pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	for _, target := range []string{"http://api.test/x", "http://api.test/x?page=2&q=a%20b"} {
		req := request(target, "Authorization", "Bearer "+hsToken(t))
		st := &pipeline.State{Route: &pipeline.Route{}}
		req = pipeline.WithState(req, st)
		_ = p.Handle(nil, req, next) // warm the verified-token cache
		base := testing.AllocsPerRun(200, func() {
			if err := p.Handle(nil, req, next); err != nil {
				t.Fatal(err)
			}
		})
		// The identity is the only allocation (see BenchmarkPolicy).
		if base > 2 {
			t.Errorf("%s: %v allocations per request, want at most 2", target, base)
		}
	}
}
