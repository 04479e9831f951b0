package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRedisCluster(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string
	}{
		{name: "list", yaml: `db:
  redis:
    cluster:
      - 10.0.0.1:7000
      - redis-2.internal:7000
      - "[::1]:7001"
    password: secret
    namespace: gw
    db: 0
`, want: []string{"10.0.0.1:7000", "redis-2.internal:7000", "[::1]:7001"}},
		{name: "flow list", yaml: "db:\n  redis:\n    cluster: [a:1, b:2]\n", want: []string{"a:1", "b:2"}},
		{name: "one string", yaml: "db:\n  redis:\n    cluster: a:7000\n", want: []string{"a:7000"}},
		{name: "from a variable", yaml: "db:\n  redis:\n    cluster: ${NODES}\n",
			env: map[string]string{"NODES": "a:7000, b:7000,,c:7000 "}, want: []string{"a:7000", "b:7000", "c:7000"}},
		{name: "absent", yaml: "db:\n  redis:\n    host: h\n    port: 6380\n    db: 3\n"},
		{name: "null", yaml: "db:\n  redis:\n    cluster:\n    host: h\n"},
		{name: "empty host and port", yaml: "db:\n  redis:\n    cluster: [a:1]\n    host: ${H:-}\n    port: 0\n", want: []string{"a:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSystem("system.config.yml", []byte(tt.yaml), env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if got := s.DB.Redis.Cluster; !slices.Equal(got, tt.want) {
				t.Errorf("cluster = %q, want %q", got, tt.want)
			}
		})
	}
	s, err := ParseSystem("system.config.yml", []byte("db:\n  redis:\n    cluster: [a:1]\n    username: u\n    password: p\n    namespace: gw\n    tls: {}\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if r := s.DB.Redis; r.Username != "u" || r.Password != "p" || r.Namespace != "gw" || r.TLS == nil || r.Pos.Line != 3 {
		t.Errorf("the other keys decoded wrong with cluster: %+v", r)
	}
}

func TestRedisClusterErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string
	}{
		{name: "host, port and db", yaml: `db:
  redis:
    host: localhost
    port: 6379
    db: 2
    cluster: [a:7000]
`, want: []string{
			"system.config.yml:3: db.redis.host: cannot be set with cluster: the cluster's nodes are listed in cluster",
			"system.config.yml:4: db.redis.port: cannot be set with cluster: give each node's port in cluster (host:port)",
			"system.config.yml:5: db.redis.db: must be 0 with cluster (Redis Cluster has only database 0), got 2",
		}},
		{name: "bad entries", yaml: `db:
  redis:
    cluster:
      - a:7000
      - b
      - c:0
      - :7000
      - d:http
      - [e:1]
`, want: []string{
			`system.config.yml:5: db.redis.cluster[1]: "b" is not host:port`,
			`system.config.yml:6: db.redis.cluster[2]: "c:0": the port must be between 1 and 65535`,
			`system.config.yml:7: db.redis.cluster[3]: ":7000" is not host:port`,
			`system.config.yml:8: db.redis.cluster[4]: "d:http": the port must be between 1 and 65535`,
			`system.config.yml:9: db.redis.cluster[5]: expected a string, got a list`,
		}},
		{name: "bad entry in a variable", yaml: "db:\n  redis:\n    cluster: ${NODES}\n",
			env: map[string]string{"NODES": "a:1,b"}, want: []string{
				`system.config.yml:3: db.redis.cluster: "b" is not host:port`,
			}},
		{name: "empty list", yaml: "db:\n  redis:\n    cluster: []\n", want: []string{
			"system.config.yml:3: db.redis.cluster: names no node: list the host:port of at least one node of the cluster, or remove cluster",
		}},
		{name: "empty variable", yaml: "db:\n  redis:\n    cluster: ${NODES:-}\n", want: []string{
			"system.config.yml:3: db.redis.cluster: names no node: list the host:port of at least one node of the cluster, or remove cluster",
		}},
		{name: "mapping", yaml: "db:\n  redis:\n    cluster: {a: 1}\n", want: []string{
			"system.config.yml:3: db.redis.cluster: expected a string or a list of strings, got a mapping",
		}},
		{name: "unknown key still reported", yaml: "db:\n  redis:\n    cluster: [a:1]\n    clusterz: x\n", want: []string{
			"system.config.yml:4: db.redis.clusterz: unknown key (expected one of: emulate, namespace, host, port, password, username, db, tls, cluster)",
		}},
		{name: "port range still checked", yaml: "db:\n  redis:\n    port: 99999\n", want: []string{
			"system.config.yml:3: db.redis.port: must be between 0 and 65535, got 99999",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSystem("system.config.yml", []byte(tt.yaml), env(tt.env))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tt.want) {
				t.Errorf("errors:\n got: %q\nwant: %q", got, tt.want)
			}
		})
	}
}

func TestOAuth2Hostnames(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		env        map[string]string
		want       []string
	}{
		{name: "list", yaml: "oauth2:\n  hostnames:\n    - Auth.Example.com.\n    - gatehouse.internal\n    - 10.0.0.5\n    - '[::1]'\n    - fe80::1\n",
			want: []string{"auth.example.com", "gatehouse.internal", "10.0.0.5", "::1", "fe80::1"}},
		{name: "one string", yaml: "oauth2:\n  hostnames: auth.example.com\n", want: []string{"auth.example.com"}},
		{name: "from a variable", yaml: "oauth2:\n  hostnames: ${NAMES}\n",
			env: map[string]string{"NAMES": "a.example, b.example,,"}, want: []string{"a.example", "b.example"}},
		{name: "absent", yaml: "oauth2:\n  allowImplicit: true\n"},
		{name: "null", yaml: "oauth2:\n  hostnames:\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSystem("system.config.yml", []byte(tt.yaml), env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if got := s.OAuth2.Hostnames; !slices.Equal(got, tt.want) {
				t.Errorf("hostnames = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNamesErrors(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		want       []string
	}{
		{name: "bad hostnames", yaml: `oauth2:
  hostnames:
    - https://auth.example.com
    - auth.example.com:8443
    - '*.example.com'
    - a..b
    - ok.example
    - [x]
    - ex ample
`, want: []string{
			`system.config.yml:3: oauth2.hostnames[0]: "https://auth.example.com" is not a host name: give the name alone, without scheme, port or path (the port is not compared)`,
			`system.config.yml:4: oauth2.hostnames[1]: "auth.example.com:8443" is not a host name: give the name alone, without scheme, port or path (the port is not compared)`,
			`system.config.yml:5: oauth2.hostnames[2]: "*.example.com": wildcards are not accepted, list each name`,
			`system.config.yml:6: oauth2.hostnames[3]: "a..b" is not a host name (letters, digits, '-' and '_' in dot-separated labels; an internationalized name in its xn-- form)`,
			`system.config.yml:8: oauth2.hostnames[5]: expected a string, got a list`,
			`system.config.yml:9: oauth2.hostnames[6]: "ex ample" is not a host name (letters, digits, '-' and '_' in dot-separated labels; an internationalized name in its xn-- form)`,
		}},
		{name: "hostnames mapping", yaml: "oauth2:\n  hostnames: {a: 1}\n", want: []string{
			"system.config.yml:2: oauth2.hostnames: expected a string or a list of strings, got a mapping",
		}},
		{name: "Express Gateway's example issuer", yaml: "accessTokens:\n  tokenType: jwt\n  issuer: express-gateway\n", want: []string{
			`system.config.yml:3: accessTokens.issuer: must be the authorization server's URL, such as https://auth.example.com (http or https, a host, no query or fragment; RFC 8414 §2), got "express-gateway"`,
		}},
		{name: "issuer with a query", yaml: "accessTokens:\n  issuer: https://auth.example.com/?x=1\n", want: []string{
			`system.config.yml:2: accessTokens.issuer: must be the authorization server's URL, such as https://auth.example.com (http or https, a host, no query or fragment; RFC 8414 §2), got "https://auth.example.com/?x=1"`,
		}},
		{name: "issuer with a fragment", yaml: "accessTokens:\n  issuer: 'https://auth.example.com#'\n", want: []string{
			`system.config.yml:2: accessTokens.issuer: must be the authorization server's URL, such as https://auth.example.com (http or https, a host, no query or fragment; RFC 8414 §2), got "https://auth.example.com#"`,
		}},
		{name: "issuer with user info", yaml: "accessTokens:\n  issuer: https://u:p@auth.example.com\n", want: []string{
			`system.config.yml:2: accessTokens.issuer: must be the authorization server's URL, such as https://auth.example.com (http or https, a host, no query or fragment; RFC 8414 §2), got "https://u:p@auth.example.com"`,
		}},
		{name: "issuer without a host", yaml: "accessTokens:\n  issuer: https:///x\n", want: []string{
			`system.config.yml:2: accessTokens.issuer: must be the authorization server's URL, such as https://auth.example.com (http or https, a host, no query or fragment; RFC 8414 §2), got "https:///x"`,
		}},
		{name: "unknown key still reported", yaml: "accessTokens:\n  issuer: https://a.example\n  issuers: x\n", want: []string{
			"system.config.yml:3: accessTokens.issuers: unknown key (expected one of: tokenType, timeToExpiry, legacyClaims, issuer, audience, subject, algorithm, secretOrPrivateKey, secretOrPrivateKeyFile)",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSystem("system.config.yml", []byte(tt.yaml), env(nil))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tt.want) {
				t.Errorf("errors:\n got: %q\nwant: %q", got, tt.want)
			}
		})
	}
	for _, iss := range []string{"https://auth.example.com", "https://auth.example.com/", "http://127.0.0.1:8080", "https://[::1]:8443", "https://gw.example/auth"} {
		if _, err := ParseSystem("system.config.yml", []byte("accessTokens:\n  issuer: '"+iss+"'\n"), env(nil)); err != nil {
			t.Errorf("issuer %s: %v", iss, err)
		}
	}
}

// TestTimeToExpiry: a timeToExpiry of 0 is Express Gateway's "already
// expired", not the default; only an absent (or null) key takes the
// default. The same for the three blocks.
func TestTimeToExpiry(t *testing.T) {
	const def = 2 * time.Hour
	for _, tt := range []struct {
		name, value string // value "" leaves the key out
		want        time.Duration
	}{
		{name: "absent", want: def},
		{name: "null", value: "~", want: def},
		{name: "zero", value: "0", want: 0},
		{name: "zero as a duration", value: "0s", want: 0},
		{name: "milliseconds", value: "60000", want: time.Minute},
		{name: "duration", value: "90s", want: 90 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var y strings.Builder
			for _, block := range []string{"accessTokens", "refreshTokens", "authorizationCodes"} {
				y.WriteString(block + ":\n")
				if tt.value != "" {
					y.WriteString("  timeToExpiry: " + tt.value + "\n")
				} else {
					y.WriteString("  {}\n")
				}
			}
			s, err := ParseSystem("system.config.yml", []byte(y.String()), env(nil))
			if err != nil {
				t.Fatalf("%s\n%v", y.String(), err)
			}
			for name, got := range map[string]time.Duration{
				"accessTokens":       s.AccessTokens.Lifetime(def),
				"refreshTokens":      s.RefreshTokens.Lifetime(def),
				"authorizationCodes": s.AuthorizationCodes.Lifetime(def),
			} {
				if got != tt.want {
					t.Errorf("%s.timeToExpiry %q: lifetime %v, want %v", name, tt.value, got, tt.want)
				}
			}
		})
	}
	// No block at all: the defaults.
	var s System
	if s.AccessTokens.Lifetime(def) != def || s.RefreshTokens.Lifetime(def) != def || s.AuthorizationCodes.Lifetime(def) != def {
		t.Error("without the blocks the lifetimes must be the defaults")
	}
	if _, err := ParseSystem("system.config.yml", []byte("authorizationCodes:\n  timeToExpiry: -1\n"), env(nil)); err == nil ||
		err.Error() != "system.config.yml:2: authorizationCodes.timeToExpiry: must not be negative" {
		t.Errorf("negative: %v", err)
	}
}

// TestLegacyClaims: Express Gateway's JWT claims are on unless
// accessTokens.legacyClaims is false.
func TestLegacyClaims(t *testing.T) {
	for _, tt := range []struct {
		yaml string
		want bool
	}{
		{"accessTokens: {}\n", true},
		{"accessTokens:\n  tokenType: jwt\n", true},
		{"accessTokens:\n  legacyClaims: true\n", true},
		{"accessTokens:\n  legacyClaims: false\n", false},
	} {
		s, err := ParseSystem("system.config.yml", []byte(tt.yaml), env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if got := s.AccessTokens.Legacy(); got != tt.want {
			t.Errorf("%q: Legacy() = %v, want %v", tt.yaml, got, tt.want)
		}
	}
	if _, err := ParseSystem("system.config.yml", []byte("accessTokens:\n  legacyClaims: maybe\n"), env(nil)); err == nil {
		t.Error("legacyClaims: maybe must be refused")
	}
}
