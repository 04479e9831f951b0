package redisstore

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/gatehouse/gatehouse/internal/config"
)

// FromConfig builds Options from system.config.yml's db.redis block (host
// default localhost, port default 6379, namespace default "EG"). The TLS
// files are read now, relative to configDir unless absolute; a tls block,
// even empty, turns TLS on. emulate is not looked at: the caller picks
// memstore for it.
func FromConfig(r *config.Redis, configDir string) (Options, error) {
	if r == nil {
		r = &config.Redis{}
	}
	host, port := r.Host, r.Port
	if host == "" {
		host = "localhost"
	}
	if port == 0 {
		port = 6379
	}
	if port < 0 || port > 65535 {
		return Options{}, fmt.Errorf("db.redis.port %d is not a TCP port", port)
	}
	if r.DB < 0 {
		return Options{}, fmt.Errorf("db.redis.db %d must not be negative", r.DB)
	}
	o := Options{
		Addr:      net.JoinHostPort(host, strconv.Itoa(port)),
		Username:  r.Username,
		Password:  r.Password,
		DB:        r.DB,
		Namespace: r.Namespace,
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if r.TLS != nil {
		cfg, err := tlsConfig(r.TLS, host, configDir)
		if err != nil {
			return Options{}, err
		}
		o.TLS = cfg
	}
	return o, nil
}

func tlsConfig(t *config.RedisTLS, host, dir string) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         host,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // the operator's explicit choice
	}
	path := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(path(t.CAFile))
		if err != nil {
			return nil, fmt.Errorf("db.redis.tls.caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("db.redis.tls.caFile %s: no PEM certificate in it", path(t.CAFile))
		}
		cfg.RootCAs = pool
	}
	switch {
	case t.CertFile != "" && t.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(path(t.CertFile), path(t.KeyFile))
		if err != nil {
			return nil, fmt.Errorf("db.redis.tls certFile/keyFile: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case t.CertFile != "" || t.KeyFile != "":
		return nil, fmt.Errorf("db.redis.tls: certFile and keyFile go together")
	}
	return cfg, nil
}
