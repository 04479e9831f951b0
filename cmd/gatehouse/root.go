package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/accesslog"
	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/gcpace"
	"github.com/gatehouse/gatehouse/internal/pageout"
	"github.com/gatehouse/gatehouse/internal/store/redisstore"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = ""
)

// cliEnv is what main hands every command: where it prints, and how it
// reads the environment (os.LookupEnv from main; a test passes its own, as
// app.Options.Lookup lets it for the config).
type cliEnv struct {
	stdout, stderr io.Writer
	lookup         config.Lookup
}

// getenv is os.Getenv through the lookup: unset reads as empty.
func (e cliEnv) getenv(name string) string {
	v, _ := e.lookup(name)
	return v
}

// envOr is the variable k, or def when it is unset or empty.
func (e cliEnv) envOr(k, def string) string {
	if v := e.getenv(k); v != "" {
		return v
	}
	return def
}

func newRoot(env cliEnv) *cobra.Command {
	root := &cobra.Command{
		Use:           "gatehouse",
		Short:         "API gateway and OAuth 2.0 authorization server, compatible with Express Gateway",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(env.stdout)
	root.SetErr(env.stderr)
	root.AddCommand(newServe(env), newConfig(env), newVersion(env.stdout))
	root.AddCommand(identityCommands(env)...)    // users, apps, credentials, scopes, tokens
	root.AddCommand(configEntryCommands(env)...) // api-endpoints, service-endpoints, pipelines, policies
	return root
}

// configDirFlag adds serve's and config validate's --config-dir.
func configDirFlag(cmd *cobra.Command, env cliEnv, dir *string) {
	cmd.Flags().StringVar(dir, "config-dir", configDirDefault(env), "folder holding gateway.config.yml and system.config.yml (env EG_CONFIG_DIR)")
}

// configDirDefault is EG_CONFIG_DIR, or the working directory.
func configDirDefault(env cliEnv) string { return env.envOr("EG_CONFIG_DIR", ".") }

// serveFlags are the flags of serve.
type serveFlags struct {
	dir, dataDir, logFormat, logLevel, accessLog, echoAddr string
	reload                                                 time.Duration
	sample                                                 float64
	queue                                                  int
	keepStartupPages                                       bool
}

func newServe(env cliEnv) *cobra.Command {
	var sf serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(env, sf)
		},
	}
	configDirFlag(cmd, env, &sf.dir)
	f := cmd.Flags()
	f.StringVar(&sf.dataDir, "data-dir", "", "folder of the embedded store (default: data/ in the config dir)")
	f.StringVar(&sf.logFormat, "log-format", "auto", "log format: text, json, or auto (text on a terminal, JSON otherwise)")
	f.StringVar(&sf.logLevel, "log-level", env.envOr("LOG_LEVEL", "info"), "debug, info, warn or error (env LOG_LEVEL)")
	f.StringVar(&sf.accessLog, "access-log", "stderr", "where access logs go: stderr, stdout, off, or a file path")
	f.Float64Var(&sf.sample, "access-log-sample", 1, "fraction (0-1] of successful requests written to the access log; refusals and errors are always written")
	f.IntVar(&sf.queue, "access-log-queue", accesslog.DefaultQueue, "access-log lines that may wait for the log's writer; beyond it lines are dropped (and counted), never the requests delayed")
	f.StringVar(&sf.echoAddr, "echo-upstream", "", "also serve a demo echo upstream on this address (make run: 127.0.0.1:${EG_ECHO_PORT:-9100}, the port examples/quickstart proxies to)")
	f.BoolVar(&sf.keepStartupPages, "keep-startup-pages", false, "keep resident the code and data only start-up used (by default, on Linux, they are given back to the kernel 2 s and 60 s after the gateway starts serving)")
	f.DurationVar(&sf.reload, "reload-interval", 500*time.Millisecond, "how often gateway.config.yml is checked for changes (0 or less: only on SIGHUP)")
	return cmd
}

// serve runs the gateway until a signal stops it.
func serve(env cliEnv, sf serveFlags) error {
	stderr := env.stderr
	log, err := newLogger(stderr, sf.logFormat, sf.logLevel)
	if err != nil {
		return err
	}
	// go-redis prints connection failures itself; route them into the
	// structured log (its logger is process-wide by design), each repeated
	// message once per summary period.
	redis.SetLogger(redisstore.NewClientLog(log))
	// A proxy's heap is short-lived garbage: GOGC 200 while the live heap
	// is small, less as the memory store's tokens grow it (gcpace). GOGC
	// in the environment still wins.
	defer gcpace.Start(env.getenv).Stop()
	// In a container, a soft memory limit under the cgroup's (unless
	// GOMEMLIMIT says otherwise): the collector works harder near it
	// instead of the kernel killing the process.
	setMemoryLimit(env.getenv, cgroupRoot, log)
	access, accessFormat, closeAccess, err := accessLogger(stderr, sf.accessLog, sf.logFormat)
	if err != nil {
		return err
	}
	defer closeAccess()
	if sf.sample <= 0 || sf.sample > 1 {
		return fmt.Errorf("--access-log-sample must be greater than 0 and at most 1, not %v", sf.sample)
	}
	if sf.queue <= 0 {
		return fmt.Errorf("--access-log-queue must be at least 1, not %d", sf.queue)
	}
	// Express Gateway turns watching off for any non-empty value.
	reload := sf.reload
	if env.getenv("EG_DISABLE_CONFIG_WATCH") != "" || reload <= 0 {
		reload = -1
	}
	// Signals are caught before Start: Start announces the listeners
	// ("listening" log lines) and serves before it returns, and the
	// default actions end the process at once, so a reload sent as soon
	// as the gateway answers (a supervisor, a deploy script) killed it,
	// and a stop cut the requests already in flight. One sent during
	// startup waits in sig and is acted on once Start returns. Start is
	// bounded (the data file's lock wait and every Redis call have
	// timeouts), so a stop is never held for long.
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	a, err := app.Start(app.Options{
		ConfigDir: sf.dir, DataDir: sf.dataDir, Logger: log, Lookup: env.lookup,
		AccessLog: access, AccessFormat: accessFormat, AccessQueue: sf.queue, AccessSample: sf.sample,
		EchoUpstream: sf.echoAddr, ReloadInterval: reload,
	})
	if err != nil {
		signal.Stop(sig)
		return err
	}
	if textLog(stderr, sf.logFormat) {
		banner(stderr, a.Addr)
	}
	if !sf.keepStartupPages {
		// Start-up (every package's init, the config loader, the store's
		// opening, templates) and the first minute's provisioning through
		// the Admin API or the CLI leave some 10 MB of the binary's pages
		// resident that no request touches again, until memory is short.
		// Give them back once the gateway serves, and once more after the
		// first minute (internal/pageout); what requests run faults back in.
		for _, after := range []time.Duration{2 * time.Second, time.Minute} {
			t := time.AfterFunc(after, func() { releaseStartupPages(log) })
			defer t.Stop()
		}
	}
	waitForStop(a, sig, log)
	if err := a.Shutdown(context.Background()); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// waitForStop reloads on SIGHUP and returns on the first other signal; a
// second one ends the process without waiting for in-flight requests.
func waitForStop(a *app.App, sig chan os.Signal, log *slog.Logger) {
	for s := range sig {
		if s == syscall.SIGHUP {
			log.Info("SIGHUP: reloading gateway config")
			_ = a.Reload()
			continue
		}
		log.Info("shutting down: finishing in-flight requests (signal again to stop at once)", "signal", s.String())
		go func() {
			<-sig
			log.Warn("second signal: stopping without waiting for in-flight requests")
			os.Exit(1)
		}()
		return
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// textLog reports whether the application log is text, for a person:
// --log-format text, or auto on a terminal.
func textLog(w io.Writer, format string) bool {
	return format == "text" || (format == "auto" || format == "") && isTerminal(w)
}

func newHandler(w io.Writer, format string, level slog.Level) (slog.Handler, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "json":
		return slog.NewJSONHandler(w, opts), nil
	case "text":
		return slog.NewTextHandler(w, opts), nil
	case "auto", "":
		if textLog(w, format) {
			return slog.NewTextHandler(w, opts), nil
		}
		return slog.NewJSONHandler(w, opts), nil
	}
	return nil, fmt.Errorf("--log-format must be text, json or auto, not %q", format)
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", level)
	}
	h, err := newHandler(w, format, l)
	if err != nil {
		return nil, err
	}
	return slog.New(h), nil
}

// accessLogger is where the access log goes (nil: off) and in which
// format, as newHandler chooses it for the application log.
func accessLogger(stderr io.Writer, dest, format string) (io.Writer, accesslog.Format, func(), error) {
	var w io.Writer
	closeFn := func() {}
	switch dest {
	case "off", "":
		return nil, accesslog.JSON, closeFn, nil
	case "stderr":
		w = stderr
	case "stdout":
		w = os.Stdout
	default:
		f, err := os.OpenFile(dest, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
		if err != nil {
			return nil, 0, nil, fmt.Errorf("--access-log: %w", err)
		}
		w, closeFn = f, func() { f.Close() }
		if format == "auto" {
			format = "json"
		}
	}
	switch format {
	case "json":
		return w, accesslog.JSON, closeFn, nil
	case "text":
		return w, accesslog.Text, closeFn, nil
	case "auto", "":
		if textLog(w, format) {
			return w, accesslog.Text, closeFn, nil
		}
		return w, accesslog.JSON, closeFn, nil
	}
	closeFn()
	return nil, 0, nil, fmt.Errorf("--log-format must be text, json or auto, not %q", format)
}

func newConfig(env cliEnv) *cobra.Command {
	stdout := env.stdout
	cmd := &cobra.Command{Use: "config", Short: "Work with the config files"}
	var dir string
	validate := &cobra.Command{
		Use:   "validate",
		Short: "Check gateway.config.yml and system.config.yml; print every error, or ok",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			warnings, err := app.Validate(dir, env.lookup)
			for _, w := range warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
			}
			errs := config.AsErrors(err)
			if len(errs) > 0 {
				errs.Sort()
				fmt.Fprintln(cmd.ErrOrStderr(), errs.Error())
				return errors.New(plural(len(errs), "config error"))
			}
			fmt.Fprintln(stdout, "ok")
			return nil
		},
	}
	configDirFlag(validate, env, &dir)
	cmd.AddCommand(validate)
	return cmd
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func newVersion(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and commit",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			v, c := version, commit
			if bi, ok := debug.ReadBuildInfo(); ok {
				if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
					v = bi.Main.Version
				}
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" && c == "" {
						c = s.Value
					}
				}
			}
			if c == "" {
				c = "unknown"
			}
			fmt.Fprintf(stdout, "gatehouse %s (commit %s, %s)\n", v, c, runtime.Version())
		},
	}
}

// releaseStartupPages pages the executable's read-only mappings out.
func releaseStartupPages(log *slog.Logger) {
	res, err := pageout.Executable()
	if err != nil {
		log.Debug("start-up pages kept resident", "error", err)
		return
	}
	log.Debug("start-up pages given back", "mappings", res.Mappings, "mappedBytes", res.Bytes)
}
