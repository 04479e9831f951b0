// Command upstream is the benchmark's backend: the fastest plain net/http
// server that answers every request with the same small JSON body, so that
// the benchmark measures what sits in front of it.
//
//	go run ./bench/upstream -addr 127.0.0.1:9101
package main

import (
	"flag"
	"log"
	"net/http"
	"strconv"
	"time"
)

// body is a fixed 100-byte JSON document (a typical small API answer).
var body = []byte(`{"id":"b3a1c2d4","name":"benchmark","status":"ok","items":[1,2,3,4,5],"tags":["a","b"],"v":1.25000}` + "\n")

func main() {
	addr := flag.String("addr", "127.0.0.1:9101", "listen address")
	flag.Parse()

	length := strconv.Itoa(len(body))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd["Content-Type"] = []string{"application/json"}
		hd["Content-Length"] = []string{length}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
	srv := &http.Server{
		Addr:              *addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	log.Printf("upstream: listening on %s (%d-byte body)", *addr, len(body))
	log.Fatal(srv.ListenAndServe())
}
