package config

import (
	"fmt"
	"net"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse/gatehouse/internal/hostname"
	"github.com/gatehouse/gatehouse/internal/urlpath"
)

// System is system.config.yml: the store, crypto, sessions and token
// lifetimes. It is read at start; changing it needs a restart.
type System struct {
	DB                 *DB            `yaml:"db"`
	Crypto             *Crypto        `yaml:"crypto"`
	Session            map[string]any `yaml:"session"` // express-session options; interpreted by the OAuth2 server
	AccessTokens       *AccessTokens  `yaml:"accessTokens"`
	RefreshTokens      *Expiry        `yaml:"refreshTokens"`
	AuthorizationCodes *Expiry        `yaml:"authorizationCodes"`
	Plugins            map[string]any `yaml:"plugins"` // accepted for compatibility; Gatehouse loads no npm plugins
	CLI                *CLI           `yaml:"cli"`
	OAuth2             *OAuth2Server  `yaml:"oauth2"`
	// TrustedProxies are the peers whose ForwardedHeader is believed
	// when finding a request's client address (internal/clientaddr);
	// with none, the client is the TCP peer.
	TrustedProxies  Prefixes        `yaml:"trustedProxies"`
	ForwardedHeader ForwardedHeader `yaml:"forwardedHeader"`
	// FailureLimits bound failed authentications (limits.go).
	FailureLimits *FailureLimits `yaml:"failureLimits"`
	File          string         `yaml:"-"`
}

// DB selects the store. With no db block the embedded store is used.
type DB struct {
	Redis *Redis `yaml:"redis"`
}

// Redis is Express Gateway's db.redis block (a subset of ioredis options),
// plus Gatehouse's cluster.
type Redis struct {
	Emulate   bool      `yaml:"emulate"`
	Namespace string    `yaml:"namespace"`
	Host      string    `yaml:"host"`
	Port      int       `yaml:"port"`
	Password  string    `yaml:"password"`
	Username  string    `yaml:"username"`
	DB        int       `yaml:"db"`
	TLS       *RedisTLS `yaml:"tls"`
	// Cluster (a Gatehouse extension) lists seed nodes of a Redis Cluster,
	// "host:port" each: a YAML list, or one string of addresses separated
	// by commas (for ${VAR}). The client discovers the other nodes from
	// them. It excludes host, port and a db other than 0; username,
	// password, tls and namespace apply to every node. Decoding splits and
	// checks the entries, so Cluster holds only valid host:port strings.
	Cluster StringList `yaml:"cluster"`
	Pos     Pos
}

// redisFields is Redis without its decodeNode method, for the plain
// struct decoding that decodeNode starts with.
type redisFields Redis

// decodeNode decodes the block as any struct, then checks cluster and the
// keys it excludes, reporting each problem at the line of the key.
func (r *Redis) decodeNode(d *decoder, n *yaml.Node, path string) {
	d.decode(n, path, reflect.ValueOf((*redisFields)(r)).Elem())
	if n.Kind != yaml.MappingNode {
		return
	}
	keys := map[string][2]*yaml.Node{}
	for _, kv := range pairs(n) {
		keys[kv[0].Value] = kv
	}
	kv, ok := keys["cluster"]
	if !ok || isNull(kv[1]) {
		r.Cluster = nil
		return
	}
	cpath := joinPath(path, "cluster")
	// The nodes of the entries, for their lines (a list or one string).
	val := resolve(kv[1])
	items := []*yaml.Node{val}
	if val.Kind == yaml.SequenceNode {
		items = val.Content
	}
	var addrs StringList
	for i, item := range items {
		item = resolve(item)
		if item.Kind != yaml.ScalarNode || isNull(item) {
			continue // reported by StringList
		}
		ipath := cpath
		if val.Kind == yaml.SequenceNode {
			ipath = fmt.Sprintf("%s[%d]", cpath, i)
		}
		for _, a := range strings.Split(item.Value, ",") {
			if a = strings.TrimSpace(a); a == "" {
				continue
			}
			if err := checkNodeAddr(a); err != nil {
				d.errorf(item, ipath, "%v", err)
				continue
			}
			addrs = append(addrs, a)
		}
	}
	r.Cluster = addrs
	if len(addrs) == 0 && !hasErrorUnder(d.errs, cpath) {
		d.errorf(kv[0], cpath, "names no node: list the host:port of at least one node of the cluster, or remove cluster")
	}
	if kv, ok := keys["host"]; ok && r.Host != "" {
		d.errorf(kv[0], joinPath(path, "host"), "cannot be set with cluster: the cluster's nodes are listed in cluster")
	}
	if kv, ok := keys["port"]; ok && r.Port != 0 {
		d.errorf(kv[0], joinPath(path, "port"), "cannot be set with cluster: give each node's port in cluster (host:port)")
	}
	if kv, ok := keys["db"]; ok && r.DB != 0 {
		d.errorf(kv[0], joinPath(path, "db"), "must be 0 with cluster (Redis Cluster has only database 0), got %d", r.DB)
	}
}

// checkNodeAddr checks a cluster node's host:port.
func checkNodeAddr(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" {
		return fmt.Errorf("%q is not host:port", a)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%q: the port must be between 1 and 65535", a)
	}
	return nil
}

func hasErrorUnder(errs Errors, path string) bool {
	for _, e := range errs {
		if e.Path == path || strings.HasPrefix(e.Path, path+"[") {
			return true
		}
	}
	return false
}

// OAuth2Server is Gatehouse's oauth2 block: switches for what the
// authorization server refuses by default (RFC 9700). Express Gateway had
// no such block; its implicit grant was always on and it had no PKCE.
type OAuth2Server struct {
	// AllowImplicit enables response_type=token (RFC 6749 §4.2), for
	// clients that still use it; RFC 9700 §2.1.2 says not to.
	AllowImplicit bool `yaml:"allowImplicit"`
	// AllowPlainPKCE accepts code_challenge_method=plain (RFC 7636 §4.2),
	// for clients that cannot compute SHA-256.
	AllowPlainPKCE bool `yaml:"allowPlainPKCE"`
	// Hostnames are the names, besides accessTokens.issuer's host and the
	// loopback names, on which the authorization server answers (an
	// internal DNS name, the Host a reverse proxy forwards): a request to
	// its endpoints for any other Host gets 421 (RFC 9110 §15.5.20).
	Hostnames Hostnames `yaml:"hostnames"`
	// SignInRedirect is where a sign-in that no application started (the
	// user opened /login) lands: a path on this server, checked at load
	// so that it cannot send the browser to another origin (an open
	// redirect). Empty means the account page, /oauth2/account.
	SignInRedirect string `yaml:"signInRedirect"`
	// OpenID configures the OpenID Connect provider (ID tokens, userinfo,
	// discovery: docs/openid-connect.md); absent, its defaults apply.
	OpenID *OpenID `yaml:"openid"`
}

// OpenID is the oauth2.openid block.
type OpenID struct {
	// IDTokenAlgorithm signs ID tokens whose client names no
	// id_token_signed_response_alg: RS256 (the default; OpenID Connect
	// Discovery 1.0 §3 requires it to be offered), ES256 or EdDSA. The
	// keys are generated and kept in the store, rotated as the access
	// tokens' are, and published in the JWKS; RS256 keys always exist.
	IDTokenAlgorithm string `yaml:"idTokenAlgorithm"`
	// IDTokenTimeToExpiry is the ID tokens' lifetime (default 1h).
	IDTokenTimeToExpiry *Duration `yaml:"idTokenTimeToExpiry"`
	// Claims maps an OpenID Connect standard claim (Core 1.0 §5.1) to the
	// name of the user property that holds it (a models/users.json
	// property, or username, firstname, lastname, email, updatedAt); it
	// is merged over the defaults, and an empty property name drops the
	// claim.
	Claims map[string]string `yaml:"claims"`
	// PairwiseSalt is mixed into pairwise subject identifiers (Core 1.0
	// §8.1); empty, a random one is generated once and kept in the store.
	// Changing it changes every pairwise sub.
	PairwiseSalt string `yaml:"pairwiseSalt"`
}

// IDTokenAlgorithms are the algorithms oauth2.openid.idTokenAlgorithm
// accepts, RS256 first.
func IDTokenAlgorithms() []string { return []string{"RS256", "ES256", "EdDSA"} }

// oauth2ServerFields is OAuth2Server without its decodeNode method.
type oauth2ServerFields OAuth2Server

// decodeNode decodes the block, then checks signInRedirect at its line.
func (o *OAuth2Server) decodeNode(d *decoder, n *yaml.Node, path string) {
	decodeChecked(d, n, path, reflect.ValueOf((*oauth2ServerFields)(o)).Elem(), func(key string, v *yaml.Node, kpath string) {
		if key == "signInRedirect" && o.SignInRedirect != "" { // empty: the default
			if err := urlpath.LocalReference(o.SignInRedirect); err != nil {
				d.errorf(v, kpath, "%v, got %q", err, o.SignInRedirect)
			}
		}
		if key == "openid" && o.OpenID != nil && v.Kind == yaml.MappingNode {
			for _, kv := range pairs(v) {
				if a := o.OpenID.IDTokenAlgorithm; kv[0].Value == "idTokenAlgorithm" && a != "" && !slices.Contains(IDTokenAlgorithms(), a) {
					// HS* would need the client's secret, which is stored
					// hashed; none proves nothing (Core §3.1.3.7).
					d.errorf(kv[1], kpath+".idTokenAlgorithm", "must be one of %s, got %q", strings.Join(IDTokenAlgorithms(), ", "), a)
				}
			}
		}
	})
}

// Hostnames is a list of host names (or IP addresses) without scheme,
// port or path: a YAML list, or one string of names separated by commas
// (for ${VAR}). Decoding checks the entries and stores them canonical:
// lower case, without a trailing dot or the brackets of an IPv6 address.
type Hostnames []string

func (h *Hostnames) decodeNode(d *decoder, n *yaml.Node, path string) {
	*h = decodeEntries(d, n, path, hostname.Canonical)
}

// RedisTLS enables TLS to Redis, with optional client certificate and CA.
type RedisTLS struct {
	KeyFile            string `yaml:"keyFile"`
	CertFile           string `yaml:"certFile"`
	CAFile             string `yaml:"caFile"`
	InsecureSkipVerify bool   `yaml:"insecureSkipVerify"`
}

// Crypto is Express Gateway's crypto block, plus Gatehouse's
// minPasswordLength.
type Crypto struct {
	CipherKey  string `yaml:"cipherKey"`
	Algorithm  string `yaml:"algorithm"`
	SaltRounds int    `yaml:"saltRounds"`
	// MinPasswordLength is the fewest characters of a basic-auth password
	// a person chooses (default 8).
	MinPasswordLength int `yaml:"minPasswordLength"`
}

// Bounds of the crypto settings, checked at load.
const (
	// MinSaltRounds is the lowest bcrypt cost accepted (Express Gateway's
	// and bcrypt's default; OWASP's floor): each step down halves the
	// work of guessing a stolen hash.
	MinSaltRounds = 10
	// MaxSaltRounds is bcrypt's largest cost.
	MaxSaltRounds = 31
	// MinPasswordLength is the lowest crypto.minPasswordLength (NIST SP
	// 800-63B §5.1.1.2); MaxMinPasswordLength the highest, since NIST asks
	// that passwords of 64 characters be accepted.
	MinPasswordLength    = 8
	MaxMinPasswordLength = 64
)

// cryptoFields is Crypto without its decodeNode method.
type cryptoFields Crypto

// decodeNode decodes the block as any struct, then refuses weak settings
// at the line of their key: a bcrypt cost or a password minimum below the
// floor would silently weaken every password stored.
func (c *Crypto) decodeNode(d *decoder, n *yaml.Node, path string) {
	decodeChecked(d, n, path, reflect.ValueOf((*cryptoFields)(c)).Elem(), func(key string, v *yaml.Node, kpath string) {
		switch key {
		case "saltRounds":
			if c.SaltRounds < MinSaltRounds {
				d.errorf(v, kpath, "must be at least %d (the bcrypt cost of passwords and chosen secrets: each step down halves the work of guessing a stolen hash), got %d", MinSaltRounds, c.SaltRounds)
			} else if c.SaltRounds > MaxSaltRounds {
				d.errorf(v, kpath, "must be at most %d (bcrypt's largest cost), got %d", MaxSaltRounds, c.SaltRounds)
			}
		case "minPasswordLength":
			if c.MinPasswordLength < MinPasswordLength {
				d.errorf(v, kpath, "must be at least %d (NIST SP 800-63B §5.1.1.2), got %d", MinPasswordLength, c.MinPasswordLength)
			} else if c.MinPasswordLength > MaxMinPasswordLength {
				d.errorf(v, kpath, "must be at most %d (NIST SP 800-63B §5.1.1.2 asks that passwords of %d characters be accepted), got %d", MaxMinPasswordLength, MaxMinPasswordLength, c.MinPasswordLength)
			}
		}
	})
}

// Expiry is a lifetime in milliseconds, as Express Gateway writes it.
// TimeToExpiry is nil when the key is absent (or null): the default
// applies. 0 is a lifetime like any other, as in Express Gateway: what is
// issued is already expired.
type Expiry struct {
	TimeToExpiry *Duration `yaml:"timeToExpiry"`
}

// AccessTokens configures the access tokens the OAuth2 server issues.
type AccessTokens struct {
	TokenType string `yaml:"tokenType"`
	// TimeToExpiry is as Expiry's: nil for the default, 0 for tokens
	// issued already expired.
	TimeToExpiry *Duration `yaml:"timeToExpiry"`
	// LegacyClaims adds Express Gateway's claims (consumerId, the client's
	// id, and scopes, a list) to JWT access tokens beside the RFC 9068
	// ones, so upstreams that decode EG's tokens keep working. nil (the
	// default) means on; false leaves only the RFC 9068 claims.
	LegacyClaims *bool `yaml:"legacyClaims"`
	// Issuer is the authorization server's URL: the iss of its JWTs, the
	// metadata's issuer (RFC 8414 §2) and the base of its endpoint URLs;
	// its host is a name the server answers on. Decoding checks that it is
	// an http or https URL with a host and no query or fragment.
	Issuer                 string     `yaml:"issuer"`
	Audience               StringList `yaml:"audience"`
	Subject                string     `yaml:"subject"`
	Algorithm              string     `yaml:"algorithm"`
	SecretOrPrivateKey     string     `yaml:"secretOrPrivateKey"`
	SecretOrPrivateKeyFile string     `yaml:"secretOrPrivateKeyFile"`
}

// accessTokensFields is AccessTokens without its decodeNode method.
type accessTokensFields AccessTokens

// decodeNode decodes the block as any struct, then checks issuer at its
// line: the issuer is the root of every name the authorization server
// publishes, so a value it cannot build URLs on is refused at load
// (Express Gateway's example "express-gateway" was only a JWT claim).
func (a *AccessTokens) decodeNode(d *decoder, n *yaml.Node, path string) {
	d.decode(n, path, reflect.ValueOf((*accessTokensFields)(a)).Elem())
	if n.Kind != yaml.MappingNode || a.Issuer == "" {
		return
	}
	for _, kv := range pairs(n) {
		if kv[0].Value == "issuer" {
			if err := CheckIssuer(a.Issuer); err != nil {
				d.errorf(kv[1], joinPath(path, "issuer"), "%v", err)
			}
		}
	}
}

// CheckIssuer checks an authorization server issuer identifier (RFC 8414
// §2: a URL with a host and no query or fragment; https, or http for
// development).
func CheckIssuer(iss string) error {
	u, err := url.Parse(iss)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Opaque != "" || u.Hostname() == "" ||
		u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(iss, "#") {
		return fmt.Errorf("must be the authorization server's URL, such as https://auth.example.com (http or https, a host, no query or fragment; RFC 8414 §2), got %q", iss)
	}
	if _, err := hostname.Canonical(u.Hostname()); err != nil {
		return fmt.Errorf("must be the authorization server's URL: %v", err)
	}
	return nil
}

// CLI is where the CLI finds the Admin API.
type CLI struct {
	URL     string         `yaml:"url"`
	Verbose bool           `yaml:"verbose"`
	Headers map[string]any `yaml:"headers"`
}

// Lifetime returns e's time to expiry, or def when the key is absent. A
// timeToExpiry of 0 returns 0: Express Gateway's "already expired", not
// the default.
func (e *Expiry) Lifetime(def time.Duration) time.Duration {
	if e == nil {
		return def
	}
	return e.TimeToExpiry.Or(def)
}

// Lifetime returns the access tokens' time to expiry, or def when the key
// is absent (0 as for Expiry.Lifetime).
func (a *AccessTokens) Lifetime(def time.Duration) time.Duration {
	if a == nil {
		return def
	}
	return a.TimeToExpiry.Or(def)
}

// Legacy reports whether JWT access tokens carry Express Gateway's claims
// (accessTokens.legacyClaims, default true).
func (a *AccessTokens) Legacy() bool {
	return a == nil || a.LegacyClaims == nil || *a.LegacyClaims
}

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}
