// Package redistest finds a Redis for tests and gives each test its own
// namespace on it.
//
// The Redis is, in order: REDIS_URL when set (redis://[user:pass@]host:port/db,
// rediss:// for TLS; it must answer, or the test fails); 127.0.0.1:6379 when
// it answers PING; a redis-server from PATH started on a free port (no
// persistence), shared by the test binary and stopped by Main, or killed by
// the kernel when the test process dies; otherwise the test is skipped with
// a message saying how to provide one. REDISTEST_NO_LOCAL=1 skips the
// 127.0.0.1:6379 probe (to keep tests off a developer's own Redis).
//
// Cluster gives a Redis Cluster the same way: REDIS_CLUSTER_ADDRS, or three
// redis-server processes started in cluster mode (see cluster.go).
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/store/redisstore"
)

var (
	mu      sync.Mutex
	found   *redis.Options // the Redis to use
	skipMsg string         // why there is none
	srv     *server        // the redis-server this process started
)

// Server returns the client options of the test Redis, or skips t.
func Server(t testing.TB) *redis.Options {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if found == nil && skipMsg == "" {
		o, msg, err := find()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		found, skipMsg = o, msg
	}
	if found == nil {
		if os.Getenv("CI") == "true" { // .ci/run installs redis-server: never skip there
			t.Fatal(skipMsg)
		}
		t.Skip(skipMsg)
	}
	o := *found
	return &o
}

func find() (*redis.Options, string, error) {
	if u := os.Getenv("REDIS_URL"); u != "" {
		o, err := redis.ParseURL(u)
		if err != nil {
			return nil, "", fmt.Errorf("REDIS_URL: %w", err)
		}
		if err := ping(o, 3*time.Second); err != nil {
			return nil, "", fmt.Errorf("REDIS_URL %s does not answer: %w", o.Addr, err)
		}
		return o, "", nil
	}
	local := &redis.Options{Addr: "127.0.0.1:6379"}
	if os.Getenv("REDISTEST_NO_LOCAL") == "" {
		if c, err := net.DialTimeout("tcp", local.Addr, 300*time.Millisecond); err == nil {
			_ = c.Close()
			if ping(local, 2*time.Second) == nil {
				return local, "", nil
			}
		}
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "redistest: no Redis for this test: set REDIS_URL, run one on 127.0.0.1:6379 or put redis-server on PATH", nil
	}
	s, err := start(bin)
	if err != nil {
		return nil, "", fmt.Errorf("starting %s: %w", bin, err)
	}
	srv = s
	return &redis.Options{Addr: s.addr}, "", nil
}

func ping(o *redis.Options, timeout time.Duration) error {
	c := redis.NewClient(withTimeouts(o))
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Ping(ctx).Err()
}

func withTimeouts(o *redis.Options) *redis.Options {
	c := *o
	c.DialTimeout, c.ReadTimeout, c.WriteTimeout = 2*time.Second, 5*time.Second, 5*time.Second
	c.MaxRetries = 1
	return &c
}

// server is a redis-server child process.
type server struct {
	addr string
	dir  string
	stop chan struct{}
	done chan struct{}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func start(bin string) (*server, error) {
	var lastErr error
	for range 3 { // the free port may be taken before redis-server binds it
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp("", "redistest-")
		if err != nil {
			return nil, err
		}
		s := &server{addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir, stop: make(chan struct{}), done: make(chan struct{})}
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir, "--loglevel", "warning")
		logFile := filepath.Join(dir, "redis.log")
		cmd.Args = append(cmd.Args, "--logfile", logFile)
		if err := runChild(cmd, s.stop, s.done); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if lastErr = ping(&redis.Options{Addr: s.addr}, 500*time.Millisecond); lastErr == nil {
				return s, nil
			}
			select {
			case <-s.done: // exited (port taken?)
				deadline = time.Time{}
			case <-time.After(20 * time.Millisecond):
			}
		}
		if log, err := os.ReadFile(logFile); err == nil {
			lastErr = fmt.Errorf("%v; redis-server log:\n%s", lastErr, log)
		}
		s.close()
	}
	return nil, fmt.Errorf("redis-server did not answer: %v", lastErr)
}

// runChild starts cmd from a goroutine locked to its OS thread for the
// child's whole life, so that the parent-death signal (Linux), which
// follows the starting thread, fires only when this process dies. Closing
// stop kills the child; done is closed once it has exited.
func runChild(cmd *exec.Cmd, stop, done chan struct{}) error {
	started := make(chan error, 1)
	go func() {
		defer close(done)
		// Never unlocked: the thread goes away with the goroutine, after the
		// child is dead.
		lockThread()
		setParentDeathSignal(cmd)
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		select {
		case <-stop:
			_ = cmd.Process.Kill()
			<-exited
		case <-exited:
		}
	}()
	return <-started
}

func (s *server) close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	_ = os.RemoveAll(s.dir)
}

// Main runs the tests and stops the redis-servers they started, if any
// (the single server and the cluster): call it from TestMain as
// os.Exit(redistest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	if srv != nil {
		srv.close()
		srv = nil
		found = nil
	}
	stopCluster()
	return code
}

// Namespace returns a fresh namespace for one test run.
func Namespace() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "ghtest-" + hex.EncodeToString(b[:])
}

// Open returns backend Options on a fresh namespace of the test Redis, and
// a cleanup that deletes the namespace's keys. The cleanup is also
// registered with t.Cleanup (it runs once); calling it earlier is fine.
func Open(t testing.TB) (redisstore.Options, func()) {
	t.Helper()
	o := Server(t)
	ns := Namespace()
	var once sync.Once
	cleanup := func() {
		once.Do(func() {
			if err := Purge(o, ns); err != nil {
				t.Logf("redistest: deleting namespace %s: %v", ns, err)
			}
		})
	}
	t.Cleanup(cleanup)
	return redisstore.Options{
		Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB, TLS: o.TLSConfig,
		Namespace: ns,
	}, cleanup
}

// New opens a backend on a fresh namespace; it is closed, and its keys
// deleted, when t ends.
func New(t testing.TB) *redisstore.Redis {
	t.Helper()
	opts, _ := Open(t) // registered first, so it runs after Close
	r, err := redisstore.New(context.Background(), opts)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// Purge deletes every key of namespace ns (SCAN MATCH "{ns}:*").
func Purge(o *redis.Options, ns string) error {
	c := redis.NewClient(withTimeouts(o))
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, "{"+ns+"}:*", 10_000).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := c.Unlink(ctx, keys...).Err(); err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}
