package config

import (
	"strings"
	"testing"
)

// TestSignInRedirect: oauth2.signInRedirect is a path on this server; any
// value a browser would read as another origin is refused at its line.
func TestSignInRedirect(t *testing.T) {
	for _, tt := range []struct {
		value, want, err string
	}{
		{value: "/home", want: "/home"},
		{value: "/app/?welcome=1#top", want: "/app/?welcome=1#top"},
		{value: "", want: ""},
		{value: "//evil.com", err: `system.config.yml:2: oauth2.signInRedirect: must not start with "//" or "/\": browsers read that as another host, got "//evil.com"`},
		{value: `/\evil.com`, err: `system.config.yml:2: oauth2.signInRedirect: must not start with "//" or "/\": browsers read that as another host, got "/\\evil.com"`},
		{value: "https://evil.com", err: `system.config.yml:2: oauth2.signInRedirect: must be a path on this server, starting with "/" (no scheme or host), got "https://evil.com"`},
		{value: "home", err: `system.config.yml:2: oauth2.signInRedirect: must be a path on this server, starting with "/" (no scheme or host), got "home"`},
		{value: "/a\\tb", err: `system.config.yml:2: oauth2.signInRedirect: must not contain "\": browsers read it as "/", got "/a\\tb"`},
	} {
		t.Run(tt.value, func(t *testing.T) {
			yml := "oauth2:\n  signInRedirect: '" + tt.value + "'\n"
			s, err := ParseSystem("system.config.yml", []byte(yml), env(nil))
			if tt.err != "" {
				if err == nil || strings.TrimSpace(err.Error()) != tt.err {
					t.Fatalf("error %v\nwant %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.OAuth2.SignInRedirect != tt.want {
				t.Errorf("signInRedirect = %q, want %q", s.OAuth2.SignInRedirect, tt.want)
			}
		})
	}
	// The other keys of the block still decode, and unknown ones are
	// still reported.
	s, err := ParseSystem("system.config.yml", []byte("oauth2:\n  allowImplicit: true\n  signInRedirect: /x\n"), env(nil))
	if err != nil || !s.OAuth2.AllowImplicit || s.OAuth2.SignInRedirect != "/x" {
		t.Fatalf("block: %+v %v", s.OAuth2, err)
	}
	if _, err := ParseSystem("system.config.yml", []byte("oauth2:\n  signInRedirects: /x\n"), env(nil)); err == nil || !strings.Contains(err.Error(), "oauth2.signInRedirects: unknown key") {
		t.Errorf("unknown key: %v", err)
	}
}
