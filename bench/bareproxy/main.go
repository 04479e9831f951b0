// Command bareproxy is the floor of any Go reverse proxy: a bare
// httputil.ReverseProxy (Rewrite with SetURL) in front of one upstream, with
// the same connection-pool settings and copy-buffer pool as Gatehouse's
// proxy policy, so that what a comparison with it shows is the gateway's own
// per-request cost (routing, pipeline, request id, header handling).
//
//	go run ./bench/bareproxy -addr 127.0.0.1:9102 -upstream http://127.0.0.1:9101
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9102", "listen address")
	upstream := flag.String("upstream", "http://127.0.0.1:9101", "upstream URL")
	flag.Parse()

	target, err := url.Parse(*upstream)
	if err != nil {
		log.Fatalf("bareproxy: -upstream: %v", err)
	}
	// The same pool and timeouts as internal/policy/proxy (transport()):
	// the default transport keeps only 2 idle connections per host, which
	// would make the floor artificially low.
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = "" // the upstream's host, like Gatehouse's default changeOrigin: true
		},
		Transport:  tr,
		BufferPool: &bufferPool{}, // Gatehouse pools its 32 KiB copy buffers too
	}
	srv := &http.Server{
		Addr:              *addr,
		Handler:           rp,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	log.Printf("bareproxy: listening on %s -> %s", *addr, target)
	log.Fatal(srv.ListenAndServe())
}

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32*1024)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
