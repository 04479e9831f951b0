package main

import (
	"net"
	"strings"
	"testing"
)

func TestBanner(t *testing.T) {
	tcp := func(s string) net.Addr { a, _ := net.ResolveTCPAddr("tcp", s); return a }
	tests := []struct {
		name  string
		addrs map[string]net.Addr
		want  string
	}{
		{"quickstart", map[string]net.Addr{"http": tcp("127.0.0.1:8080"), "admin": tcp("127.0.0.1:9876"), "echo": tcp("127.0.0.1:9100")},
			"gatehouse: gateway listening on http://127.0.0.1:8080\n" +
				"gatehouse: Admin API listening on http://127.0.0.1:9876\n" +
				"gatehouse: demo echo upstream listening on http://127.0.0.1:9100\n" +
				"gatehouse: ready (Ctrl-C stops it)\n"},
		{"every interface, https only", map[string]net.Addr{"https": tcp("0.0.0.0:8443"), "admin": tcp("[::]:9876")},
			"gatehouse: gateway listening on https://localhost:8443 (all interfaces)\n" +
				"gatehouse: Admin API listening on http://localhost:9876 (all interfaces)\n" +
				"gatehouse: ready (Ctrl-C stops it)\n"},
		{"IPv6 loopback", map[string]net.Addr{"http": tcp("[::1]:8080")},
			"gatehouse: gateway listening on http://[::1]:8080\ngatehouse: ready (Ctrl-C stops it)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			banner(&b, func(n string) net.Addr {
				if a, ok := tt.addrs[n]; ok {
					return a
				}
				return nil
			})
			if b.String() != tt.want {
				t.Errorf("banner:\n%s\nwant:\n%s", b.String(), tt.want)
			}
		})
	}
}
