package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Prefixes is a list of IP networks in CIDR notation ("10.0.0.0/8",
// "2001:db8::/32") or single addresses ("127.0.0.1", a /32 or /128): a
// YAML list, or one string of entries separated by commas (for ${VAR}).
// Decoding checks the entries and stores them masked, IPv4-mapped IPv6
// networks as IPv4.
type Prefixes []netip.Prefix

func (p *Prefixes) decodeNode(d *decoder, n *yaml.Node, path string) {
	*p = decodeEntries(d, n, path, ParsePrefix)
}

// ParsePrefix reads one trustedProxies entry: a CIDR or an address.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP network: write it as an address and a prefix length, such as 10.0.0.0/8 or 2001:db8::/32", s)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or network (such as 10.0.0.1 or 10.0.0.0/8; host names are not accepted)", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ForwardedHeader names the header trusted proxies write the client's
// address in: X-Forwarded-For (the default) or Forwarded (RFC 7239).
// Decoding stores it canonical.
type ForwardedHeader string

func (f *ForwardedHeader) decodeNode(d *decoder, n *yaml.Node, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "expected X-Forwarded-For or Forwarded, got %s", kindName(n))
		return
	}
	switch {
	case strings.EqualFold(n.Value, "X-Forwarded-For"):
		*f = "X-Forwarded-For"
	case strings.EqualFold(n.Value, "Forwarded"):
		*f = "Forwarded"
	default:
		d.errorf(n, path, "must be X-Forwarded-For or Forwarded (RFC 7239), got %q", n.Value)
	}
}

// FailureLimits is Gatehouse's failureLimits block: how many failed
// authentications each guard lets through before it answers 429, and the
// CPU that checking passwords may take. Unset values take the defaults of
// internal/lockout (docs/configuration.md#failure-limits).
type FailureLimits struct {
	// SignIn guards user passwords: the sign-in page and the password
	// grant (account: the user).
	SignIn *FailureGuard `yaml:"signIn"`
	// ClientAuth guards client authentication at the token, revocation
	// and introspection endpoints (account: the client id).
	ClientAuth *FailureGuard `yaml:"clientAuth"`
	// BasicAuth and KeyAuth guard the policies (account: the consumer of
	// the basic-auth credential, the key id).
	BasicAuth *FailureGuard `yaml:"basicAuth"`
	KeyAuth   *FailureGuard `yaml:"keyAuth"`
	// PasswordChecks bounds the bcrypt verifications running at once.
	PasswordChecks *PasswordChecks `yaml:"passwordChecks"`
}

// FailureGuard is one guard's three limits.
type FailureGuard struct {
	// PerAccountAndAddress counts one account's failures from one client
	// address; past it that address waits for that account.
	PerAccountAndAddress *FailureRate `yaml:"perAccountAndAddress"`
	// PerAddress counts one address's failures over every account
	// (spraying); past it the address waits.
	PerAddress *FailureRate `yaml:"perAddress"`
	// PerAccount counts one account's failures from every address; past
	// it, only addresses that failed for the account wait.
	PerAccount *FailureRate `yaml:"perAccount"`
}

// FailureRate is a number of failures per window: past it, one more
// failure is let through per window/failures. Failures 0 takes the
// default, -1 turns the limit off; window 0 takes the default.
type FailureRate struct {
	Failures int      `yaml:"failures"`
	Window   Duration `yaml:"window"`
}

// Bounds of a FailureRate's window.
const (
	MinFailureWindow = time.Second
	MaxFailureWindow = 30 * 24 * time.Hour
)

// failureRateFields is FailureRate without its decodeNode method.
type failureRateFields FailureRate

func (f *FailureRate) decodeNode(d *decoder, n *yaml.Node, path string) {
	decodeChecked(d, n, path, reflect.ValueOf((*failureRateFields)(f)).Elem(), func(key string, v *yaml.Node, kpath string) {
		switch key {
		case "failures":
			if f.Failures < -1 {
				d.errorf(v, kpath, "must be -1 (no limit), 0 (the default) or a positive number, got %d", f.Failures)
			}
		case "window":
			if w := time.Duration(f.Window); w != 0 && (w < MinFailureWindow || w > MaxFailureWindow) {
				d.errorf(v, kpath, "must be between 1s and 720h (30 days), got %v", w)
			}
		}
	})
}

// PasswordChecks bounds the CPU that bcrypt verifications (passwords and
// chosen secrets not yet verified by this node) may take: at most
// Concurrency at once (0: half the CPUs, at least 1); a check that cannot
// start within MaxWait (0: 500ms) is refused with 503 and Retry-After.
type PasswordChecks struct {
	Concurrency int      `yaml:"concurrency"`
	MaxWait     Duration `yaml:"maxWait"`
}

type passwordChecksFields PasswordChecks

func (p *PasswordChecks) decodeNode(d *decoder, n *yaml.Node, path string) {
	decodeChecked(d, n, path, reflect.ValueOf((*passwordChecksFields)(p)).Elem(), func(key string, v *yaml.Node, kpath string) {
		switch key {
		case "concurrency":
			if p.Concurrency < 0 || p.Concurrency > 1024 {
				d.errorf(v, kpath, "must be between 0 (half the CPUs) and 1024, got %d", p.Concurrency)
			}
		case "maxWait":
			if w := time.Duration(p.MaxWait); w > 10*time.Second {
				d.errorf(v, kpath, "must be at most 10s (a check that cannot start sooner is refused with 503), got %v", w)
			}
		}
	})
}
