package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store/redisstore"
)

func TestRedisOptions(t *testing.T) {
	o, err := redisOptions(nil, "")
	if err != nil || o.Addr != "localhost:6379" || o.Namespace != "EG" || o.TLS != nil || o.Cluster != nil {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	o, err = redisOptions(&config.Redis{Host: "::1", Port: 7000, Password: "pw", Username: "u", DB: 2, Namespace: "GW"}, "")
	if err != nil || o.Addr != "[::1]:7000" || o.Password != "pw" || o.Username != "u" || o.DB != 2 || o.Namespace != "GW" {
		t.Fatalf("fields: %+v %v", o, err)
	}
	for rc, want := range map[*config.Redis]string{
		{Port: 70000}: "db.redis.port 70000 is not a TCP port",
		{DB: -1}:      "db.redis.db -1 must not be negative",
	} {
		if _, err := redisOptions(rc, ""); err == nil || err.Error() != want {
			t.Errorf("redisOptions(%+v) = %v, want %q", rc, err, want)
		}
	}

	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	_ = os.WriteFile(filepath.Join(dir, "ca.pem"), certPEM, 0o600)
	_ = os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600)
	_ = os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600)
	o, err = redisOptions(&config.Redis{Host: "redis.example", TLS: &config.RedisTLS{
		CAFile: "ca.pem", CertFile: "cert.pem", KeyFile: filepath.Join(dir, "key.pem"),
	}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if o.TLS == nil || o.TLS.RootCAs == nil || len(o.TLS.Certificates) != 1 || o.TLS.ServerName != "redis.example" || o.TLS.InsecureSkipVerify {
		t.Fatalf("TLS: %+v", o.TLS)
	}
	o, err = redisOptions(&config.Redis{TLS: &config.RedisTLS{InsecureSkipVerify: true}}, dir)
	if err != nil || o.TLS == nil || !o.TLS.InsecureSkipVerify {
		t.Fatalf("empty tls block: %+v %v", o.TLS, err)
	}
	for name, tc := range map[string]struct {
		tls  *config.RedisTLS
		want string
	}{
		"missing CA":       {&config.RedisTLS{CAFile: "nope.pem"}, "db.redis.tls.caFile: open " + filepath.Join(dir, "nope.pem")},
		"CA without PEM":   {&config.RedisTLS{CAFile: "key.pem"}, "db.redis.tls.caFile " + filepath.Join(dir, "key.pem") + ": no PEM certificate in it"},
		"cert without key": {&config.RedisTLS{CertFile: "cert.pem"}, "db.redis.tls: certFile and keyFile go together"},
	} {
		if _, err := redisOptions(&config.Redis{TLS: tc.tls}, dir); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func TestRedisClusterOptions(t *testing.T) {
	for _, tc := range []struct {
		rc   *config.Redis
		want string
	}{
		{&config.Redis{Cluster: []string{"a:7000"}, Host: "h"}, "db.redis.host cannot be set with db.redis.cluster"},
		{&config.Redis{Cluster: []string{"a:7000"}, Port: 6379}, "db.redis.port cannot be set with db.redis.cluster"},
		{&config.Redis{Cluster: []string{"a:7000"}, DB: 1}, "db.redis.db must be 0 with db.redis.cluster, got 1"},
		{&config.Redis{Cluster: []string{"a"}}, `db.redis.cluster: "a" is not host:port`},
		{&config.Redis{Cluster: []string{"a:0"}}, `db.redis.cluster: "a:0" is not host:port`},
		{&config.Redis{Cluster: []string{"a:7000"}, TLS: &config.RedisTLS{CAFile: "missing.pem"}}, "db.redis.tls.caFile: open "},
	} {
		if _, err := redisOptions(tc.rc, t.TempDir()); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("redisOptions(%+v) = %v, want %q", tc.rc, err, tc.want)
		}
	}
	// TLS: no fixed server name, so that each node is checked against its
	// own address.
	o, err := redisOptions(&config.Redis{Cluster: []string{"10.0.0.1:7000"}, TLS: &config.RedisTLS{}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if o.TLS == nil || o.TLS.ServerName != "" || o.Namespace != redisstore.DefaultNamespace || o.Addr != "" {
		t.Errorf("cluster options: TLS %+v, namespace %q, addr %q", o.TLS, o.Namespace, o.Addr)
	}
}

// TestRedisClusterSystemConfig goes from system.config.yml's
// db.redis.cluster, as a list and as one ${VAR} string, to the backend's
// options (redisstore's cluster tests run a backend on such options).
func TestRedisClusterSystemConfig(t *testing.T) {
	addrs := []string{"127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"}
	for _, form := range []string{"list", "variable"} {
		t.Run(form, func(t *testing.T) {
			yaml := fmt.Sprintf("db:\n  redis:\n    cluster: [%s]\n    namespace: NS\n    username: default\n", strings.Join(addrs, ", "))
			vars := map[string]string{}
			if form == "variable" {
				yaml = "db:\n  redis:\n    cluster: ${NODES}\n    namespace: NS\n    username: default\n"
				vars["NODES"] = strings.Join(addrs, ",")
			}
			sys, err := config.ParseSystem("system.config.yml", []byte(yaml), func(k string) (string, bool) {
				v, ok := vars[k]
				return v, ok
			})
			if err != nil {
				t.Fatal(err)
			}
			o, err := redisOptions(sys.DB.Redis, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(o.Cluster, addrs) || o.Addr != "" || o.Namespace != "NS" || o.Username != "default" || o.DB != 0 || o.TLS != nil {
				t.Errorf("options %+v, want the cluster %q in namespace NS", o, addrs)
			}
		})
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redis.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"redis.example"}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}
