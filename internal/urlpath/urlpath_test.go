package urlpath

import (
	"errors"
	"strings"
	"testing"
)

func TestCanonical(t *testing.T) {
	tests := []struct {
		in, want string
		flags    Flags
		err      error
		slash    bool
		params   bool
	}{
		{in: "/", want: "/"},
		{in: "/a/b", want: "/a/b"},
		{in: "/a/b/", want: "/a/b/"},
		{in: "/a//b", want: "/a/b"},
		{in: "//a///b//", want: "/a/b/"},
		{in: "/a/./b", want: "/a/b"},
		{in: "/a/.", want: "/a/"},
		{in: "/a/..", want: "/"},
		{in: "/a/b/../c", want: "/a/c"},
		{in: "/public/../protected/x", want: "/protected/x"},
		{in: "/public/%2e%2e/protected/x", want: "/protected/x"},
		{in: "/public/%2E%2E/protected/x", want: "/protected/x"},
		{in: "/public/.%2e/protected/x", want: "/protected/x"},
		{in: "/public/%2e./protected", want: "/protected"},
		{in: "/public/a/../../protected", want: "/protected"},
		{in: "/public/%2e/x", want: "/public/x"},
		{in: "/public//..//protected", want: "/protected"},
		{in: "/%7Euser/%41%62c", want: "/~user/Abc"},
		{in: "/a%2db%5fc%2E%7e", want: "/a-b_c.~"},
		{in: "/a%3fb%23c", want: "/a%3Fb%23c"},
		{in: "/a%20b", want: "/a%20b"},
		{in: "/100%25off", want: "/100%25off"},
		{in: "/%252e%252e/x", err: ErrDoubleEncoded},
		{in: "/%25%300", err: ErrDoubleEncoded}, // found by FuzzCanonical: decoding makes %2500
		{in: "/%25%32%65", err: ErrDoubleEncoded},
		{in: "/a%252Fb", flags: AllowEncodedSlash, err: ErrDoubleEncoded},
		{in: "/caf%c3%a9", want: "/caf%C3%A9"},
		{in: "/café", want: "/caf%C3%A9"},
		{in: "/a b", want: "/a%20b"},
		{in: `/a"b{c}`, want: "/a%22b%7Bc%7D"},
		{in: "/a:b@c!$&'()*+,=", want: "/a:b@c!$&'()*+,="},
		{in: "/...", want: "/..."},
		{in: "/a/.../b", want: "/a/.../b"},
		{in: "/.a/..b/b..", want: "/.a/..b/b.."},
		{in: "/a;b=c/d", want: "/a;b=c/d", params: true},
		{in: "/a;x/../b", want: "/b"},
		{in: "/a%2Fb", flags: AllowEncodedSlash, want: "/a%2Fb", slash: true},
		{in: "/a%2fb", flags: AllowEncodedSlash, want: "/a%2Fb", slash: true},
		{in: "/a%2f..%2fb", flags: AllowEncodedSlash, want: "/a%2F..%2Fb", slash: true},
		{in: "/a%2Fb", err: ErrEncodedSlash},
		{in: "/a%2fb", err: ErrEncodedSlash},
		{in: "/a%5cb", err: ErrEncodedDivider},
		{in: "/a%5Cb", flags: AllowEncodedSlash, err: ErrEncodedDivider},
		{in: `/a\b`, err: ErrBackslash},
		{in: `/public\..\protected`, err: ErrBackslash},
		{in: "/a%00b", err: ErrControl},
		{in: "/a\x00b", err: ErrControl},
		{in: "/a%0ab", err: ErrControl},
		{in: "/a%0Db", err: ErrControl},
		{in: "/a\tb", err: ErrControl},
		{in: "/a%7fb", err: ErrControl},
		{in: "/a%zz", err: ErrBadEscape},
		{in: "/a%", err: ErrBadEscape},
		{in: "/a%4", err: ErrBadEscape},
		{in: "/%u002e%u002e/x", err: ErrBadEscape},
		{in: "/..", err: ErrAboveRoot},
		{in: "/../protected", err: ErrAboveRoot},
		{in: "/a/../../b", err: ErrAboveRoot},
		{in: "/%2e%2e/b", err: ErrAboveRoot},
		{in: "/public/..;/protected", err: ErrDotParams},
		{in: "/public/.;x/protected", err: ErrDotParams},
		{in: "/public/%2e%2e;x/protected", err: ErrDotParams},
		{in: "", err: ErrNotAbsolute},
		{in: "a/b", err: ErrNotAbsolute},
		{in: "*", err: ErrNotAbsolute},
	}
	for _, tt := range tests {
		got, err := Canonical(tt.in, tt.flags)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("Canonical(%q) = %q, %v; want error %v", tt.in, got.Path, err, tt.err)
			}
			continue
		}
		if err != nil || got.Path != tt.want || got.EncodedSlash != tt.slash || got.Params != tt.params {
			t.Errorf("Canonical(%q) = %+v, %v; want %q slash=%v params=%v", tt.in, got, err, tt.want, tt.slash, tt.params)
		}
	}
}

func TestCanonicalFastPathDoesNotAllocate(t *testing.T) {
	p := "/api/v1/users/42/orders"
	if n := testing.AllocsPerRun(100, func() {
		if r, err := Canonical(p, AllowEncodedSlash); err != nil || r.Path != p {
			t.Fatal(r, err)
		}
	}); n != 0 {
		t.Errorf("a canonical path costs %v allocations, want 0", n)
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{"/a": "/a", "/a%20b": "/a b", "/a%2Fb%C3%A9": "/a/bé"} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

// checkCanonical asserts the properties every canonical path has: it is a
// fixed point, starts with '/', and holds no dot segment, empty segment,
// lower-case escape, encoded unreserved character, control byte or
// backslash.
func checkCanonical(t *testing.T, in string, r Result, f Flags) {
	t.Helper()
	p := r.Path
	again, err := Canonical(p, f)
	if err != nil || again != r {
		t.Fatalf("Canonical(%q) = %q, but Canonical(%q) = %+v, %v (not idempotent)", in, p, p, again, err)
	}
	if !strings.HasPrefix(p, "/") {
		t.Fatalf("Canonical(%q) = %q: not absolute", in, p)
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		if s == "." || s == ".." {
			t.Fatalf("Canonical(%q) = %q: dot segment", in, p)
		}
		if s == "" && i != len(segs)-1 {
			t.Fatalf("Canonical(%q) = %q: empty segment", in, p)
		}
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < 0x20 || c >= 0x7f || c == '\\' {
			t.Fatalf("Canonical(%q) = %q: byte %#x", in, p, c)
		}
		if c == '%' {
			b := unhex(p[i+1])<<4 | unhex(p[i+2])
			if unreserved(b) || isLowerHex(p[i+1]) || isLowerHex(p[i+2]) {
				t.Fatalf("Canonical(%q) = %q: escape %s not normalized", in, p, p[i:i+3])
			}
			i += 2
		}
	}
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "/public/%2e%2e/protected", "//a//b/", "/a%2Fb", "/a;b/..;/c",
		"/%7e", "/a%zz", "/caf\xc3\xa9", "/a/./././", "/..", "/a b", "/%2e%2E/%2e."} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, allowSlash bool) {
		var fl Flags
		if allowSlash {
			fl = AllowEncodedSlash
		}
		r, err := Canonical(in, fl)
		if err != nil {
			return
		}
		checkCanonical(t, in, r, fl)
		if strings.Contains(r.Path, ";") != r.Params {
			t.Fatalf("Canonical(%q) = %+v: Params wrong", in, r)
		}
		if strings.Contains(r.Path, "%2F") != r.EncodedSlash {
			t.Fatalf("Canonical(%q) = %+v: EncodedSlash wrong", in, r)
		}
	})
}
