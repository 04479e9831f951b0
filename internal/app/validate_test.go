package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateAgreesWithServe: `config validate` refuses exactly what serve
// refuses, with the same message, and accepts what serve starts. Each case
// is run through both Validate and Start on the same directory.
func TestValidateAgreesWithServe(t *testing.T) {
	const routes = `
apiEndpoints:
  a: {paths: /a}
serviceEndpoints:
  s: {url: 'http://127.0.0.1:1'}
policies: [proxy]
pipelines:
  p:
    apiEndpoints: [a]
    policies:
      - proxy: {action: {serviceEndpoint: s}}
`
	tests := []struct {
		name    string
		gateway string
		system  string
		env     map[string]string
		want    string // "" when both must accept; else a substring of both errors
	}{
		{
			name:    "admin on loopback without a key",
			gateway: "http: {host: 127.0.0.1, port: 0}\nadmin: {host: 127.0.0.1, port: 0}\n" + routes,
		},
		{
			name:    "admin off loopback without a key",
			gateway: "http: {host: 127.0.0.1, port: 0}\nadmin: {host: 0.0.0.0, port: 0}\n" + routes,
			want:    "gateway.config.yml:2: admin: the Admin API would listen on 0.0.0.0:0 without an API key",
		},
		{
			name:    "admin off loopback with the key in the environment",
			gateway: "http: {host: 127.0.0.1, port: 0}\nadmin: {host: 0.0.0.0, port: 0}\n" + routes,
			env:     map[string]string{"GATEHOUSE_ADMIN_KEY": "k-0123456789abcdef0123456789abcdef"},
		},
		{
			// Checked when serve opens the store, before it connects.
			name:    "redis CA file missing",
			gateway: "http: {host: 127.0.0.1, port: 0}\n" + routes,
			system:  "db:\n  redis: {host: 127.0.0.1, tls: {caFile: nope.pem}}\n",
			want:    "db.redis.tls.caFile: open ",
		},
		{
			name:    "unset variable",
			gateway: "http:\n  host: 127.0.0.1\n  port: ${NOPE_PORT}\n" + routes,
			want:    "gateway.config.yml:3: http.port: environment variable NOPE_PORT is not set",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write := func(name, s string) {
				if s == "" {
					return
				}
				if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			write("gateway.config.yml", tt.gateway)
			write("system.config.yml", tt.system)
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }

			_, verr := Validate(dir, lookup)
			a, serr := Start(Options{ConfigDir: dir, DataDir: t.TempDir(), Lookup: lookup, ReloadInterval: -1, BcryptCost: 4})
			if a != nil {
				a.Shutdown(context.Background())
			}
			if tt.want == "" {
				if verr != nil || serr != nil {
					t.Fatalf("both must accept: validate %v, serve %v", verr, serr)
				}
				return
			}
			if verr == nil || serr == nil {
				t.Fatalf("both must refuse: validate %v, serve %v", verr, serr)
			}
			if !strings.Contains(verr.Error(), tt.want) || !strings.Contains(serr.Error(), tt.want) {
				t.Errorf("want %q in both:\nvalidate: %v\nserve:    %v", tt.want, verr, serr)
			}
			// Reported once: validate's output holds the problem one time.
			if n := strings.Count(verr.Error(), "\n") + 1; n != 1 {
				t.Errorf("validate reported %d problems, want 1:\n%v", n, verr)
			}
		})
	}
}
