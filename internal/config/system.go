package config

import (
	"net"
	"strconv"
	"time"
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
	File               string         `yaml:"-"`
}

// DB selects the store. With no db block the embedded store is used.
type DB struct {
	Redis *Redis `yaml:"redis"`
}

// Redis is Express Gateway's db.redis block (a subset of ioredis options).
type Redis struct {
	Emulate   bool      `yaml:"emulate"`
	Namespace string    `yaml:"namespace"`
	Host      string    `yaml:"host"`
	Port      int       `yaml:"port"`
	Password  string    `yaml:"password"`
	Username  string    `yaml:"username"`
	DB        int       `yaml:"db"`
	TLS       *RedisTLS `yaml:"tls"`
	Pos       Pos
}

// RedisTLS enables TLS to Redis, with optional client certificate and CA.
type RedisTLS struct {
	KeyFile            string `yaml:"keyFile"`
	CertFile           string `yaml:"certFile"`
	CAFile             string `yaml:"caFile"`
	InsecureSkipVerify bool   `yaml:"insecureSkipVerify"`
}

// Crypto is Express Gateway's crypto block.
type Crypto struct {
	CipherKey  string `yaml:"cipherKey"`
	Algorithm  string `yaml:"algorithm"`
	SaltRounds int    `yaml:"saltRounds"`
}

// Expiry is a lifetime in milliseconds, as Express Gateway writes it.
type Expiry struct {
	TimeToExpiry Duration `yaml:"timeToExpiry"`
}

// AccessTokens configures the access tokens the OAuth2 server issues.
type AccessTokens struct {
	TokenType              string     `yaml:"tokenType"`
	TimeToExpiry           Duration   `yaml:"timeToExpiry"`
	Issuer                 string     `yaml:"issuer"`
	Audience               StringList `yaml:"audience"`
	Subject                string     `yaml:"subject"`
	Algorithm              string     `yaml:"algorithm"`
	SecretOrPrivateKey     string     `yaml:"secretOrPrivateKey"`
	SecretOrPrivateKeyFile string     `yaml:"secretOrPrivateKeyFile"`
}

// CLI is where the CLI finds the Admin API.
type CLI struct {
	URL     string         `yaml:"url"`
	Verbose bool           `yaml:"verbose"`
	Headers map[string]any `yaml:"headers"`
}

// Lifetime returns e's time to expiry, or def when unset.
func (e *Expiry) Lifetime(def time.Duration) time.Duration {
	if e == nil || e.TimeToExpiry == 0 {
		return def
	}
	return time.Duration(e.TimeToExpiry)
}

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}
