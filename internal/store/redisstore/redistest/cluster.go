package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The test Redis Cluster is, in order: REDIS_CLUSTER_ADDRS when set
// (comma-separated seed nodes host:port; the cluster must answer with
// cluster_state:ok, or the test fails); otherwise three redis-server
// processes from PATH started in cluster mode on free loopback ports (no
// persistence, no replicas, the 16384 slots split in three), shared by the
// test binary and stopped by Main, or killed by the kernel when the test
// process dies; otherwise the test is skipped (it fails under CI=true).
//
// Starting one takes about 2 s: a Redis Cluster master waits 2 s after its
// start before it declares the cluster ok (CLUSTER_WRITABLE_DELAY).

var (
	clusterAddrs []string  // the cluster to use
	clusterMsg   string    // why there is none (skip)
	clusterErr   error     // why starting one failed (fail)
	clusterSrvs  []*server // the redis-servers this process started
)

// clusterNodes is the number of masters of the cluster Cluster starts.
const clusterNodes = 3

// Cluster returns the seed addresses of the test Redis Cluster, or skips t.
// Tests share it: keep each test's keys under its own namespace
// (Namespace) and delete them with PurgeCluster.
func Cluster(t testing.TB) []string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if clusterAddrs == nil && clusterMsg == "" && clusterErr == nil {
		clusterAddrs, clusterMsg, clusterErr = findCluster()
	}
	if clusterErr != nil {
		t.Fatalf("redistest: %v", clusterErr)
	}
	if clusterAddrs == nil {
		if os.Getenv("CI") == "true" { // .ci/run installs redis-server: never skip there
			t.Fatal(clusterMsg)
		}
		t.Skip(clusterMsg)
	}
	return append([]string(nil), clusterAddrs...)
}

func findCluster() ([]string, string, error) {
	if v := os.Getenv("REDIS_CLUSTER_ADDRS"); v != "" {
		var addrs []string
		for a := range strings.SplitSeq(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				addrs = append(addrs, a)
			}
		}
		if len(addrs) == 0 {
			return nil, "", fmt.Errorf("REDIS_CLUSTER_ADDRS %q names no node", v)
		}
		if err := clusterOK(addrs[0], 3*time.Second); err != nil {
			return nil, "", fmt.Errorf("REDIS_CLUSTER_ADDRS: %w", err)
		}
		return addrs, "", nil
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "redistest: no Redis Cluster for this test: set REDIS_CLUSTER_ADDRS or put redis-server on PATH", nil
	}
	srvs, err := startCluster(bin)
	if err != nil {
		return nil, "", fmt.Errorf("starting a Redis Cluster with %s: %w", bin, err)
	}
	clusterSrvs = srvs
	addrs := make([]string, len(srvs))
	for i, s := range srvs {
		addrs[i] = s.addr
	}
	return addrs, "", nil
}

// clusterOK checks that the node at addr says cluster_state:ok.
func clusterOK(addr string, timeout time.Duration) error {
	c := redis.NewClient(withTimeouts(&redis.Options{Addr: addr}))
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	info, err := c.ClusterInfo(ctx).Result()
	if err != nil {
		return fmt.Errorf("%s: CLUSTER INFO: %w", addr, err)
	}
	if !strings.Contains(info, "cluster_state:ok") {
		return fmt.Errorf("%s: the cluster is not ok:\n%s", addr, info)
	}
	return nil
}

// startCluster starts the nodes, gives each a third of the slots, makes
// them meet and waits until every node says cluster_state:ok.
func startCluster(bin string) (srvs []*server, err error) {
	defer func() {
		if err != nil {
			for _, s := range srvs {
				s.close()
			}
		}
	}()
	type started struct {
		s   *server
		err error
	}
	ch := make(chan started, clusterNodes)
	for range clusterNodes { // in parallel: each waits out its 2 s writable delay from its start
		go func() {
			s, err := startClusterNode(bin)
			ch <- started{s, err}
		}()
	}
	for range clusterNodes {
		r := <-ch
		if r.err != nil {
			err = errors.Join(err, r.err)
		} else {
			srvs = append(srvs, r.s)
		}
	}
	if err != nil {
		return srvs, err
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	clients := make([]*redis.Client, len(srvs))
	for i, s := range srvs {
		clients[i] = redis.NewClient(withTimeouts(&redis.Options{Addr: s.addr}))
		defer clients[i].Close()
	}
	const slots = 16384
	for i, c := range clients {
		lo, hi := i*slots/len(clients), (i+1)*slots/len(clients)-1
		if err := c.ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			return srvs, fmt.Errorf("%s: CLUSTER ADDSLOTS %d-%d: %w", srvs[i].addr, lo, hi, err)
		}
	}
	for i, c := range clients { // every pair meets directly: no wait for gossip
		for _, o := range srvs[i+1:] {
			host, port, _ := net.SplitHostPort(o.addr)
			if err := c.ClusterMeet(ctx, host, port).Err(); err != nil {
				return srvs, fmt.Errorf("%s: CLUSTER MEET %s: %w", srvs[i].addr, o.addr, err)
			}
		}
	}
	for {
		var notOK error
		for i := range srvs {
			select {
			case <-srvs[i].done:
				return srvs, fmt.Errorf("redis-server %s exited%s", srvs[i].addr, srvs[i].log())
			default:
			}
			if notOK = clusterOK(srvs[i].addr, time.Second); notOK != nil {
				break
			}
		}
		if notOK == nil {
			return srvs, nil
		}
		if ctx.Err() != nil {
			return srvs, fmt.Errorf("the cluster did not become ok in time: %w", notOK)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startClusterNode starts one redis-server in cluster mode on a free port
// P whose cluster bus port P+10000 is free too.
func startClusterNode(bin string) (*server, error) {
	var lastErr error
	for range 5 { // either port may be taken before redis-server binds it
		port, err := freeClusterPort()
		if err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp("", "redistest-cluster-")
		if err != nil {
			return nil, err
		}
		s := &server{addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir, stop: make(chan struct{}), done: make(chan struct{})}
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", dir,
			"--loglevel", "warning", "--logfile", filepath.Join(dir, "redis.log"))
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
			case <-s.done: // exited (a port taken?)
				deadline = time.Time{}
			case <-time.After(10 * time.Millisecond):
			}
		}
		lastErr = fmt.Errorf("%v%s", lastErr, s.log())
		s.close()
	}
	return nil, fmt.Errorf("redis-server in cluster mode did not answer: %v", lastErr)
}

// freeClusterPort returns a free loopback port P with P+10000, the cluster
// bus port, free too.
func freeClusterPort() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		if port+10000 > 65535 {
			_ = l.Close()
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		_ = l.Close()
		if err != nil {
			continue
		}
		_ = bus.Close()
		return port, nil
	}
	return 0, errors.New("no free port P with P+10000 free")
}

// log returns the server's log, for error messages.
func (s *server) log() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if err != nil || len(b) == 0 {
		return ""
	}
	return "; redis-server log:\n" + string(b)
}

// stopCluster stops the cluster this process started; mu is held.
func stopCluster() {
	for _, s := range clusterSrvs {
		s.close()
	}
	clusterSrvs, clusterAddrs = nil, nil
}

// PurgeCluster deletes every key of namespace ns (SCAN MATCH "{ns}:*") on
// every master of the cluster at addrs.
func PurgeCluster(addrs []string, ns string) error {
	c := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:       addrs,
		DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
	})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		iter := n.Scan(ctx, 0, "{"+ns+"}:*", 10_000).Iterator()
		for iter.Next(ctx) {
			if err := n.Unlink(ctx, iter.Val()).Err(); err != nil {
				return err
			}
		}
		return iter.Err()
	})
}
