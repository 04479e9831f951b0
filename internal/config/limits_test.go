package config

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTrustedProxiesAndLimitsLoad(t *testing.T) {
	yaml := `trustedProxies:
  - 10.0.0.0/8
  - 127.0.0.1
  - ::1
  - 2001:db8:1::5/48
  - ::ffff:192.168.0.0/112
forwardedHeader: forwarded
failureLimits:
  signIn:
    perAccountAndAddress: {failures: 3, window: 30s}
    perAddress: {failures: -1}
    perAccount: {window: 2h}
  keyAuth:
    perAddress: {failures: 50, window: 600000}
  passwordChecks:
    concurrency: 2
    maxWait: 250ms
`
	s, err := ParseSystem("system.config.yml", []byte(yaml), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "127.0.0.1/32", "::1/128", "2001:db8:1::/48", "192.168.0.0/16"}
	var got []string
	for _, p := range s.TrustedProxies {
		got = append(got, p.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("trustedProxies = %q, want %q", got, want)
	}
	if s.ForwardedHeader != "Forwarded" {
		t.Errorf("forwardedHeader = %q", s.ForwardedHeader)
	}
	f := s.FailureLimits
	if f.SignIn.PerAccountAndAddress.Failures != 3 || time.Duration(f.SignIn.PerAccountAndAddress.Window) != 30*time.Second ||
		f.SignIn.PerAddress.Failures != -1 || time.Duration(f.SignIn.PerAccount.Window) != 2*time.Hour ||
		f.KeyAuth.PerAddress.Failures != 50 || time.Duration(f.KeyAuth.PerAddress.Window) != 10*time.Minute ||
		f.ClientAuth != nil || f.PasswordChecks.Concurrency != 2 || time.Duration(f.PasswordChecks.MaxWait) != 250*time.Millisecond {
		t.Errorf("failureLimits decoded as %+v", f)
	}

	s, err = ParseSystem("system.config.yml", []byte("trustedProxies: ${PROXIES}\n"), env(map[string]string{"PROXIES": "10.0.0.1, 192.168.0.0/24"}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.TrustedProxies, Prefixes{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("192.168.0.0/24")}) {
		t.Errorf("trustedProxies from a variable = %v", s.TrustedProxies)
	}
}

func TestTrustedProxiesAndLimitsRefused(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		want       []string
	}{
		{"host name", "trustedProxies:\n  - 10.0.0.0/8\n  - lb.internal\n", []string{
			`system.config.yml:3: trustedProxies[1]: "lb.internal" is not an IP address or network (such as 10.0.0.1 or 10.0.0.0/8; host names are not accepted)`}},
		{"bad prefix", "trustedProxies: 10.0.0.0/33\n", []string{
			`system.config.yml:1: trustedProxies: "10.0.0.0/33" is not an IP network: write it as an address and a prefix length, such as 10.0.0.0/8 or 2001:db8::/32`}},
		{"mapping", "trustedProxies: {a: 1}\n", []string{
			`system.config.yml:1: trustedProxies: expected a string or a list of strings, got a mapping`}},
		{"header", "forwardedHeader: X-Real-IP\n", []string{
			`system.config.yml:1: forwardedHeader: must be X-Forwarded-For or Forwarded (RFC 7239), got "X-Real-IP"`}},
		{"failures", "failureLimits:\n  basicAuth:\n    perAddress:\n      failures: -2\n", []string{
			`system.config.yml:4: failureLimits.basicAuth.perAddress.failures: must be -1 (no limit), 0 (the default) or a positive number, got -2`}},
		{"window", "failureLimits:\n  signIn:\n    perAccount: {failures: 5, window: 10ms}\n", []string{
			`system.config.yml:3: failureLimits.signIn.perAccount.window: must be between 1s and 720h (30 days), got 10ms`}},
		{"unknown limit", "failureLimits:\n  signIn:\n    perUser: {failures: 5}\n", []string{
			`system.config.yml:3: failureLimits.signIn.perUser: unknown key (expected one of: perAccountAndAddress, perAddress, perAccount)`}},
		{"unknown guard", "failureLimits:\n  login: {}\n", []string{
			`system.config.yml:2: failureLimits.login: unknown key (expected one of: signIn, clientAuth, basicAuth, keyAuth, passwordChecks)`}},
		{"concurrency", "failureLimits:\n  passwordChecks:\n    concurrency: -1\n    maxWait: 1m\n", []string{
			`system.config.yml:3: failureLimits.passwordChecks.concurrency: must be between 0 (half the CPUs) and 1024, got -1`,
			`system.config.yml:4: failureLimits.passwordChecks.maxWait: must be at most 10s (a check that cannot start sooner is refused with 503), got 1m0s`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSystem("system.config.yml", []byte(tt.yaml), env(nil))
			if err == nil {
				t.Fatalf("loaded; want %q", tt.want)
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tt.want) {
				t.Errorf("errors:\n got: %q\nwant: %q", got, tt.want)
			}
		})
	}
}
