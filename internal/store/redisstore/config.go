package redisstore

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/config"
)

// FromConfig builds Options from system.config.yml's db.redis block (host
// default localhost, port default 6379, namespace default "EG"). The TLS
// files are read now, relative to configDir unless absolute; a tls block,
// even empty, turns TLS on. emulate is not looked at: the caller picks
// memstore for it.
//
// With cluster (seed nodes of a Redis Cluster), the Options list them in
// Cluster and Addr is empty: New builds a cluster client with the same
// settings as its own single-node client (see clusterOptions).
func FromConfig(r *config.Redis, configDir string) (Options, error) {
	if r == nil {
		r = &config.Redis{}
	}
	if len(r.Cluster) > 0 {
		return clusterFromConfig(r, configDir)
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

// clusterFromConfig is FromConfig for db.redis.cluster.
func clusterFromConfig(r *config.Redis, configDir string) (Options, error) {
	switch {
	case r.Host != "":
		return Options{}, fmt.Errorf("db.redis.host cannot be set with db.redis.cluster")
	case r.Port != 0:
		return Options{}, fmt.Errorf("db.redis.port cannot be set with db.redis.cluster")
	case r.DB != 0:
		return Options{}, fmt.Errorf("db.redis.db must be 0 with db.redis.cluster, got %d", r.DB)
	}
	addrs := make([]string, 0, len(r.Cluster))
	for _, a := range r.Cluster {
		host, port, err := net.SplitHostPort(a)
		if p, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
			return Options{}, fmt.Errorf("db.redis.cluster: %q is not host:port", a)
		}
		addrs = append(addrs, a)
	}
	o := Options{
		Username:  r.Username,
		Password:  r.Password,
		Namespace: r.Namespace,
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if r.TLS != nil {
		// No fixed server name: each node's certificate is checked against
		// the address the client dials, which is the one the cluster
		// announces for it (an IP unless the nodes announce host names).
		cfg, err := tlsConfig(r.TLS, "", configDir)
		if err != nil {
			return Options{}, err
		}
		o.TLS = cfg
	}
	o.Cluster = addrs
	return o, nil
}

// clusterOptions are the go-redis options of a cluster client with New's
// single-node settings: the same timeouts, pool wait, TLS and credentials,
// one dial per attempt, and ContextTimeoutEnabled. Retries are go-redis's
// cluster ones: up to MaxRedirects (3) further attempts, which follow
// MOVED and ASK redirections (a resharding, a failed-over master that came
// back as a replica) and retry a network error.
//
// The slot map is reloaded when it is more than a second old (go-redis's
// default is a minute). go-redis reloads it at once on a MOVED reply, but
// not when a master stops answering: after a failover it would keep
// sending the namespace's commands to the dead master until the reload,
// the cluster's new master unused.
func clusterOptions(addrs []string, o Options) *redis.ClusterOptions {
	return &redis.ClusterOptions{
		Addrs:                 addrs,
		Username:              o.Username,
		Password:              o.Password,
		TLSConfig:             o.TLS,
		DialTimeout:           DialTimeout,
		ReadTimeout:           ReadTimeout,
		WriteTimeout:          WriteTimeout,
		PoolTimeout:           PoolTimeout,
		ContextTimeoutEnabled: true,
		DialerRetries:         1,
		// Checked on use, reloaded in the background: one CLUSTER SLOTS a
		// second at most, only while commands are sent.
		ClusterStateReloadInterval: time.Second,
	}
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
