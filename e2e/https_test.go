package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate for names into dir and returns
// the cert and key file names.
func writeCert(t *testing.T, dir, cn string, names ...string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, cn+".crt"), filepath.Join(dir, cn+".key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// TestHTTPSPerSNICertificates: the https listener picks the certificate by
// SNI name (exact or wildcard) and falls back to "default".
func TestHTTPSPerSNICertificates(t *testing.T) {
	up := echoServer(t, "up")
	certDir := t.TempDir()
	defCert, defKey := writeCert(t, certDir, "default-cert", "localhost")
	wildCert, wildKey := writeCert(t, certDir, "wildcard-cert", "*.example.test")
	g := startGateway(t, fmt.Sprintf(`https:
  port: 0
  host: 127.0.0.1
  tls:
    default: {key: '%s', cert: '%s'}
    '*.example.test': {key: '%s', cert: '%s'}
apiEndpoints: {api: {}}
serviceEndpoints: {s: {url: '%s'}}
policies: [proxy]
pipelines:
  p: {apiEndpoints: [api], policies: [{proxy: {action: {serviceEndpoint: s}}}]}
`, defKey, defCert, wildKey, wildCert, up.URL))
	addr := g.app.Addr("https").String()
	for _, c := range []struct{ sni, wantCN string }{
		{"api.example.test", "wildcard-cert"},
		{"localhost", "default-cert"},
		{"", "default-cert"},
	} {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
			ServerName: c.sni, InsecureSkipVerify: true, // we check the presented certificate ourselves
		}}}
		resp, err := client.Get("https://" + addr + "/x")
		if err != nil {
			t.Fatalf("sni %q: %v", c.sni, err)
		}
		resp.Body.Close()
		if got := resp.TLS.PeerCertificates[0].Subject.CommonName; got != c.wantCN {
			t.Errorf("sni %q got certificate %q, want %q", c.sni, got, c.wantCN)
		}
		if resp.StatusCode != 200 {
			t.Errorf("sni %q status %d", c.sni, resp.StatusCode)
		}
	}
}
