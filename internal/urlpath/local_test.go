package urlpath

import "testing"

func TestLocalReference(t *testing.T) {
	for _, tc := range []struct {
		ref string
		ok  bool
	}{
		{"/", true},
		{"/oauth2/account", true},
		{"/oauth2/authorize?client_id=x&redirect_uri=https%3A%2F%2Fapp%2Fcb", true},
		{"/a#frag", true},
		{"/%2F%2Fevil.com", true}, // an encoded slash stays in the path
		{"", false},
		{"//evil.com", false},
		{"///evil.com", false},
		{`/\evil.com`, false},
		{`/a\b`, false},
		{"https://evil.com", false},
		{"http:evil.com", false},
		{"javascript:alert(1)", false},
		{"evil.com", false},
		{"./a", false},
		{"/\t/evil.com", false},
		{"/\n/evil.com", false},
		{"/\r\nSet-Cookie: x", false},
		{"/a b", false},
		{"/\x00", false},
		{"/caf\xc3\xa9", false},
		{"/" + string(make([]byte, MaxLocalReference)), false},
	} {
		if err := LocalReference(tc.ref); (err == nil) != tc.ok {
			t.Errorf("LocalReference(%q) = %v, want ok %v", tc.ref, err, tc.ok)
		}
	}
}
