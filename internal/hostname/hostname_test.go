package hostname

import "testing"

func TestFromHeader(t *testing.T) {
	for in, want := range map[string]string{
		"auth.example.com": "auth.example.com", "Auth.Example.COM:8443": "auth.example.com", "auth.example.com.": "auth.example.com",
		"127.0.0.1": "127.0.0.1", "127.0.0.1:80": "127.0.0.1", "[::1]": "::1", "[::1]:8080": "::1", "localhost:0": "localhost",
		// refused
		"": "", ":80": "", "a:": "", "a:b": "", "a:1:2": "", "::1": "", "[::1": "", "[::1]x": "", "[127.0.0.1]": "",
		"a:123456": "", "a b": "", "a/b": "", "user@a": "", "[::1]:": "",
	} {
		got, ok := FromHeader(in)
		if got != want || ok != (want != "") {
			t.Errorf("FromHeader(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
}
