// Command profserve runs the gateway as `gatehouse serve --access-log off
// --log-level warn` does, with a CPU profile and an allocation profile of
// the whole run: gatehouse itself exposes no pprof endpoint (its Admin API
// is not the place for one), and profile-guided optimization needs pprof
// profiles of the code under the benchmark's load. bench/run.sh runs it in
// place of gatehouse when BENCH_PROFILE is set; `make pgo` merges the CPU
// profiles into cmd/gatehouse/default.pgo.
//
//	profserve -config-dir DIR -cpuprofile cpu.pprof -memprofile allocs.pprof
//
// The gateway code is the same packages cmd/gatehouse links (internal/app
// and below), so the profile's function names are the binary's: only
// package main differs, and none of the hot path is in it. The profiles
// are written when SIGINT or SIGTERM stops it, after a graceful shutdown.
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/gcpace"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("profserve: ")
	dir := flag.String("config-dir", ".", "folder holding gateway.config.yml and system.config.yml")
	cpu := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	mem := flag.String("memprofile", "", "write an allocation profile (allocs) of the run to this file")
	flag.Parse()

	// As `gatehouse serve`: the collector paced by gcpace unless GOGC is
	// set in the environment.
	defer gcpace.Start(os.Getenv).Stop()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)

	var cpuFile *os.File
	if *cpu != "" {
		f, err := os.Create(*cpu)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		cpuFile = f
	}
	a, err := app.Start(app.Options{ConfigDir: *dir, Logger: logger, Lookup: os.LookupEnv, ReloadInterval: -1})
	if err != nil {
		log.Fatal(err)
	}
	<-sig
	if err := a.Shutdown(context.Background()); err != nil {
		log.Print(err)
	}
	if cpuFile != nil {
		pprof.StopCPUProfile()
		if err := cpuFile.Close(); err != nil {
			log.Fatal(err)
		}
	}
	if *mem != "" {
		runtime.GC() // the allocs profile is up to date as of the last GC
		f, err := os.Create(*mem)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			log.Fatal(err)
		}
		if err := f.Close(); err != nil {
			log.Fatal(err)
		}
	}
}
