package main

import (
	"fmt"
	"io"
	"net"
	"strings"
)

// banner prints one line per bound listener, as a URL that can be pasted
// into curl or a browser, then how to stop. serve prints it when the log is
// text (a terminal, or --log-format text): JSON logs stay one JSON object
// per line for the machines that read them.
func banner(w io.Writer, addr func(name string) net.Addr) {
	// The listeners in order, with what a person calls them. The slog
	// "listening" lines say the same for machines.
	listeners := [...]struct{ name, scheme, what string }{
		{"http", "http", "gateway"},
		{"https", "https", "gateway"},
		{"admin", "http", "Admin API"},
		{"echo", "http", "demo echo upstream"},
	}
	for _, l := range listeners {
		a := addr(l.name)
		if a == nil {
			continue
		}
		fmt.Fprintf(w, "gatehouse: %s listening on %s\n", l.what, listenURL(l.scheme, a.String()))
	}
	fmt.Fprintln(w, "gatehouse: ready (Ctrl-C stops it)")
}

// listenURL turns a bound address into a URL a client can use: a wildcard
// host (every interface) is reached as localhost.
func listenURL(scheme, addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return scheme + "://" + addr
	}
	suffix := ""
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host, suffix = "localhost", " (all interfaces)"
	}
	return scheme + "://" + net.JoinHostPort(strings.Trim(host, "[]"), port) + suffix
}
