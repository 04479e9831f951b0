package clientaddr

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func mustNew(t testing.TB, header string, cidrs ...string) *Resolver {
	t.Helper()
	var ps []netip.Prefix
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	r, err := New(ps, header)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPeer(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:1234":             "192.0.2.1",
		"[2001:db8::1]:80":           "2001:db8::1",
		"[::ffff:192.0.2.7]:80":      "192.0.2.7", // one client, one spelling
		"[fe80::1%eth0]:80":          "fe80::1",
		"192.0.2.9":                  "192.0.2.9",
		"pipe":                       "invalid IP",
		"":                           "invalid IP",
		"203.0.113.5:1, 10.0.0.1:80": "invalid IP",
	} {
		if got := Peer(in).String(); got != want {
			t.Errorf("Peer(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestClientXForwardedFor(t *testing.T) {
	r := mustNew(t, "", "10.0.0.0/8", "127.0.0.1/32", "2001:db8:ffff::/48")
	cases := []struct {
		name  string
		peer  string
		xff   []string
		want  string
		chain string
	}{
		{"no header", "10.0.0.1", nil, "10.0.0.1", ""},
		{"untrusted peer: header ignored", "198.51.100.7", []string{"203.0.113.5"}, "198.51.100.7", ""},
		{"one hop", "10.0.0.1", []string{"203.0.113.5"}, "203.0.113.5", "203.0.113.5"},
		{"forged left part ignored", "10.0.0.1", []string{"1.1.1.1, 203.0.113.5"}, "203.0.113.5", "203.0.113.5"},
		{"trusted hops skipped", "127.0.0.1", []string{"6.6.6.6, 203.0.113.5, 10.1.1.1, 10.2.2.2"}, "203.0.113.5", "203.0.113.5, 10.1.1.1, 10.2.2.2"},
		{"several lines are one list", "10.0.0.1", []string{"6.6.6.6, 203.0.113.5", "10.9.9.9"}, "203.0.113.5", "203.0.113.5, 10.9.9.9"},
		{"all trusted: the leftmost", "10.0.0.1", []string{"10.3.3.3, 10.2.2.2"}, "10.3.3.3", "10.3.3.3, 10.2.2.2"},
		{"garbage stops at the last trusted hop", "10.0.0.1", []string{"203.0.113.5, unknown, 10.2.2.2"}, "10.2.2.2", "10.2.2.2"},
		{"garbage at the right", "10.0.0.1", []string{"203.0.113.5, not-an-ip"}, "10.0.0.1", ""},
		{"ports and brackets", "10.0.0.1", []string{"[2001:db8::5]:4711, 203.0.113.9:80"}, "203.0.113.9", "203.0.113.9"},
		{"ipv6 through a trusted ipv6 hop", "10.0.0.1", []string{"2001:db8::5, 2001:db8:ffff::1"}, "2001:db8::5", "2001:db8::5, 2001:db8:ffff::1"},
		{"mapped ipv4 is unmapped", "10.0.0.1", []string{"::ffff:203.0.113.5"}, "203.0.113.5", "203.0.113.5"},
		{"empty elements", "10.0.0.1", []string{"203.0.113.5,, ", ""}, "203.0.113.5", "203.0.113.5"},
		{"spaces and tabs", "10.0.0.1", []string{" \t203.0.113.5\t "}, "203.0.113.5", "203.0.113.5"},
		{"a port alone is garbage", "10.0.0.1", []string{":80"}, "10.0.0.1", ""},
		{"ipv6 with a port needs brackets", "10.0.0.1", []string{"2001:db8::5:80"}, "2001:db8::5:80", "2001:db8::5:80"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			if c.xff != nil {
				h["X-Forwarded-For"] = c.xff
			}
			peer := netip.MustParseAddr(c.peer)
			if got := r.Client(peer, h).String(); got != c.want {
				t.Errorf("Client = %s, want %s", got, c.want)
			}
			if got := join(r.Chain(peer, h)); got != c.chain {
				t.Errorf("Chain = %q, want %q", got, c.chain)
			}
		})
	}
}

func TestClientForwarded(t *testing.T) {
	r := mustNew(t, "forwarded", "10.0.0.0/8")
	cases := []struct {
		name, fwd, xff, want string
	}{
		{"rfc example", `for=192.0.2.60;proto=http;by=203.0.113.43`, "", "192.0.2.60"},
		{"quoted ipv6 with port", `for="[2001:db8:cafe::17]:4711"`, "", "2001:db8:cafe::17"},
		{"right to left", `for=6.6.6.6, for=192.0.2.60, for=10.0.0.2`, "", "192.0.2.60"},
		{"case-insensitive name", `For=192.0.2.60`, "", "192.0.2.60"},
		{"for after other pairs", `proto=https;for="192.0.2.61:80";host=x`, "", "192.0.2.61"},
		{"unknown stops", `for=192.0.2.60, for=unknown`, "", "10.0.0.1"},
		{"obfuscated stops", `for=192.0.2.60, for=_hidden, for=10.0.0.9`, "", "10.0.0.9"},
		{"element without for stops", `for=192.0.2.60, by=10.0.0.9`, "", "10.0.0.1"},
		{"comma inside quotes", `for="192.0.2.60";x="a,b"`, "", "192.0.2.60"},
		{"unquoted brackets refused", `for=[2001:db8::1]`, "", "10.0.0.1"},
		{"escape refused", `for="192.0.2.\60"`, "", "10.0.0.1"},
		{"X-Forwarded-For not read", "", "203.0.113.5", "10.0.0.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			if c.fwd != "" {
				h.Set("Forwarded", c.fwd)
			}
			if c.xff != "" {
				h.Set("X-Forwarded-For", c.xff)
			}
			if got := r.Client(netip.MustParseAddr("10.0.0.1"), h).String(); got != c.want {
				t.Errorf("Client = %s, want %s", got, c.want)
			}
		})
	}
}

func TestForwardedManyHops(t *testing.T) {
	r := mustNew(t, "Forwarded", "10.0.0.0/8")
	var parts []string
	parts = append(parts, "for=203.0.113.5")
	for i := 0; i < 3*maxHops; i++ {
		parts = append(parts, "for=10.0.0.7")
	}
	h := http.Header{"Forwarded": {strings.Join(parts, ", ")}}
	// More trusted hops than are kept: the leftmost kept is the client.
	if got := r.Client(netip.MustParseAddr("10.0.0.1"), h).String(); got != "10.0.0.7" {
		t.Errorf("Client = %s", got)
	}
}

func TestNilAndNew(t *testing.T) {
	var r *Resolver
	h := http.Header{"X-Forwarded-For": {"203.0.113.5"}}
	peer := netip.MustParseAddr("127.0.0.1")
	if got := r.Client(peer, h); got != peer {
		t.Errorf("nil resolver: %s", got)
	}
	if r.Chain(peer, h) != nil || r.Trusted(peer) || r.Header() != "" {
		t.Error("nil resolver trusts something")
	}
	if r, err := New(nil, ""); r != nil || err != nil {
		t.Errorf("New(nil) = %v, %v; want nil, nil", r, err)
	}
	if _, err := New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, "X-Real-IP"); err == nil {
		t.Error("X-Real-IP accepted")
	}
	r = mustNew(t, "", "10.1.2.3/8") // host bits are masked
	if !r.Trusted(netip.MustParseAddr("10.200.0.1")) || r.Header() != XForwardedFor {
		t.Error("10.1.2.3/8 does not cover 10.200.0.1")
	}
}

// The common paths cost no allocation: no trusted proxy, an untrusted
// peer, a trusted peer without a header, and one forwarded hop.
func TestClientAllocs(t *testing.T) {
	xff := mustNew(t, "", "10.0.0.0/8")
	fwd := mustNew(t, "Forwarded", "10.0.0.0/8")
	peer, proxy := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("10.0.0.1")
	none := http.Header{}
	withXFF := http.Header{"X-Forwarded-For": {"6.6.6.6, 203.0.113.5, 10.0.0.2"}}
	withFwd := http.Header{"Forwarded": {`for=6.6.6.6, for="203.0.113.5:80";proto=https`}}
	var nilR *Resolver
	for name, f := range map[string]func(){
		"nil resolver":   func() { nilR.Client(proxy, withXFF) },
		"untrusted peer": func() { xff.Client(peer, withXFF) },
		"no header":      func() { xff.Client(proxy, none) },
		"x-forwarded-for": func() {
			if xff.Client(proxy, withXFF).String() != "203.0.113.5" {
				panic("wrong client")
			}
		},
		"forwarded": func() { fwd.Client(proxy, withFwd) },
		"peer":      func() { Peer("[2001:db8::1]:4711") },
	} {
		if name == "x-forwarded-for" {
			f() // the check above allocates its String; measure without it
			f = func() { xff.Client(proxy, withXFF) }
		}
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", name, n)
		}
	}
}

func join(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// FuzzClient checks what holds for any header: the answer is the peer or
// an address written in the header; an untrusted peer is the answer; the
// chain ends with the client's vouched-for hops and starts with the
// client; only trusted hops lie to the right of the client.
func FuzzClient(f *testing.F) {
	for _, s := range []string{"", "203.0.113.5", "1.1.1.1, 203.0.113.5, 10.0.0.2", "unknown, 10.0.0.3",
		"[2001:db8::1]:80, 10.0.0.3:1", `for=192.0.2.60;proto=http, for="[2001:db8::1]:1"`, ",,,", "\t, ::ffff:10.1.1.1"} {
		f.Add(s, true, false)
		f.Add(s, false, true)
	}
	f.Fuzz(func(t *testing.T, header string, trustedPeer, forwarded bool) {
		name := "X-Forwarded-For"
		if forwarded {
			name = "Forwarded"
		}
		r := mustNew(t, name, "10.0.0.0/8", "2001:db8:ffff::/48")
		peer := netip.MustParseAddr("198.51.100.7")
		if trustedPeer {
			peer = netip.MustParseAddr("10.0.0.1")
		}
		h := http.Header{name: strings.Split(header, "\n")}
		got := r.Client(peer, h)
		chain := r.Chain(peer, h)
		if !got.IsValid() {
			t.Fatalf("invalid client for %q", header)
		}
		if !trustedPeer {
			if got != peer || chain != nil {
				t.Fatalf("untrusted peer: client %s chain %v", got, chain)
			}
			return
		}
		if len(chain) == 0 {
			if got != peer {
				t.Fatalf("empty chain but client %s, not the peer", got)
			}
			return
		}
		if chain[0] != got {
			t.Fatalf("chain %v does not start with the client %s", chain, got)
		}
		for _, a := range chain[1:] {
			if !r.Trusted(a) {
				t.Fatalf("untrusted %s right of the client in %v", a, chain)
			}
		}
		if !forwarded && !slices.ContainsFunc(strings.FieldsFunc(header, func(c rune) bool { return c == ',' || c == '\n' }), func(e string) bool {
			a, ok := parseNode(trimOWS(e))
			return ok && a == got
		}) {
			t.Fatalf("client %s is not in the header %q", got, header)
		}
	})
}

func BenchmarkClient(b *testing.B) {
	r := mustNew(b, "", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
	proxy := netip.MustParseAddr("10.0.0.1")
	h := http.Header{"X-Forwarded-For": {"203.0.113.5, 10.1.1.1"}}
	b.Run("xff", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.Client(proxy, h)
		}
	})
	b.Run("no-proxy", func(b *testing.B) {
		b.ReportAllocs()
		var nilR *Resolver
		for b.Loop() {
			nilR.Client(Peer("198.51.100.7:4711"), h)
		}
	})
}
