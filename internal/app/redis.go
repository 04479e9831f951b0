package app

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store/redisstore"
)

// redisOptions turns system.config.yml's db.redis block into the Redis
// backend's options (host default localhost, port default 6379, namespace
// default "EG"). The backend knows nothing of the config tree; the paths
// in these messages are the config's. The TLS files are read now,
// relative to configDir unless absolute; a tls block, even empty, turns
// TLS on. emulate is not looked at: openBackend picks memstore for it.
// serve and config validate both call it, before anything connects.
//
// With cluster (seed nodes of a Redis Cluster), the options list them in
// Cluster and Addr is empty: redisstore.New builds a cluster client with
// the settings of its single-node client.
func redisOptions(r *config.Redis, configDir string) (redisstore.Options, error) {
	if r == nil {
		r = &config.Redis{}
	}
	if len(r.Cluster) > 0 {
		return redisClusterOptions(r, configDir)
	}
	host, port := r.Host, r.Port
	if host == "" {
		host = "localhost"
	}
	if port == 0 {
		port = 6379
	}
	if port < 0 || port > 65535 {
		return redisstore.Options{}, fmt.Errorf("db.redis.port %d is not a TCP port", port)
	}
	if r.DB < 0 {
		return redisstore.Options{}, fmt.Errorf("db.redis.db %d must not be negative", r.DB)
	}
	o := redisstore.Options{
		Addr:      net.JoinHostPort(host, strconv.Itoa(port)),
		Username:  r.Username,
		Password:  r.Password,
		DB:        r.DB,
		Namespace: r.Namespace,
	}
	if o.Namespace == "" {
		o.Namespace = redisstore.DefaultNamespace
	}
	if r.TLS != nil {
		cfg, err := redisTLS(r.TLS, host, configDir)
		if err != nil {
			return redisstore.Options{}, err
		}
		o.TLS = cfg
	}
	return o, nil
}

// redisClusterOptions is redisOptions for db.redis.cluster.
func redisClusterOptions(r *config.Redis, configDir string) (redisstore.Options, error) {
	switch {
	case r.Host != "":
		return redisstore.Options{}, fmt.Errorf("db.redis.host cannot be set with db.redis.cluster")
	case r.Port != 0:
		return redisstore.Options{}, fmt.Errorf("db.redis.port cannot be set with db.redis.cluster")
	case r.DB != 0:
		return redisstore.Options{}, fmt.Errorf("db.redis.db must be 0 with db.redis.cluster, got %d", r.DB)
	}
	addrs := make([]string, 0, len(r.Cluster))
	for _, a := range r.Cluster {
		host, port, err := net.SplitHostPort(a)
		if p, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
			return redisstore.Options{}, fmt.Errorf("db.redis.cluster: %q is not host:port", a)
		}
		addrs = append(addrs, a)
	}
	o := redisstore.Options{
		Username:  r.Username,
		Password:  r.Password,
		Namespace: r.Namespace,
	}
	if o.Namespace == "" {
		o.Namespace = redisstore.DefaultNamespace
	}
	if r.TLS != nil {
		// No fixed server name: each node's certificate is checked against
		// the address the client dials, which is the one the cluster
		// announces for it (an IP unless the nodes announce host names).
		cfg, err := redisTLS(r.TLS, "", configDir)
		if err != nil {
			return redisstore.Options{}, err
		}
		o.TLS = cfg
	}
	o.Cluster = addrs
	return o, nil
}

// redisTLS is the client TLS configuration of db.redis.tls.
func redisTLS(t *config.RedisTLS, host, dir string) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         host,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // the operator's explicit choice
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(abs(dir, t.CAFile))
		if err != nil {
			return nil, fmt.Errorf("db.redis.tls.caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("db.redis.tls.caFile %s: no PEM certificate in it", abs(dir, t.CAFile))
		}
		cfg.RootCAs = pool
	}
	switch {
	case t.CertFile != "" && t.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(abs(dir, t.CertFile), abs(dir, t.KeyFile))
		if err != nil {
			return nil, fmt.Errorf("db.redis.tls certFile/keyFile: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case t.CertFile != "" || t.KeyFile != "":
		return nil, fmt.Errorf("db.redis.tls: certFile and keyFile go together")
	}
	return cfg, nil
}
