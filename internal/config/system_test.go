package config

import (
	"slices"
	"strings"
	"testing"
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
