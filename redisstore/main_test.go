package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The tests prove the TokenStore's guarantees against a real redis-server,
// whose address comes from KEFU_REDIS_ADDR (e.g. 127.0.0.1:6399). Without it
// they skip, except under CI (CI non-empty), where they fail. A few tests
// start their own redis-server (found on PATH) to stop it, or to run a
// cluster.
//
//	redis-server --port 6399 --save '' --appendonly no --daemonize yes
//	KEFU_REDIS_ADDR=127.0.0.1:6399 go test -race ./...

func TestMain(m *testing.M) {
	redis.SetLogger(quiet{}) // dial failures are expected where Redis is down
	goleak.VerifyTestMain(m)
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// needRedis returns KEFU_REDIS_ADDR, or skips (fails under CI) without it.
func needRedis(tb testing.TB) string {
	tb.Helper()
	addr := os.Getenv("KEFU_REDIS_ADDR")
	if addr == "" {
		if os.Getenv("CI") != "" {
			tb.Fatal("KEFU_REDIS_ADDR is not set: under CI these tests must run against a real redis-server")
		}
		tb.Skip("KEFU_REDIS_ADDR is not set: start a redis-server and set it (e.g. 127.0.0.1:6399) to run this test")
	}
	return addr
}

// needRedisServer returns the path of redis-server, or skips (fails under
// CI) without it.
func needRedisServer(tb testing.TB) string {
	tb.Helper()
	needRedis(tb)
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal("redis-server is not on PATH: under CI these tests must run against a real redis-server")
		}
		tb.Skip("redis-server is not on PATH")
	}
	return path
}

// newRedis returns a client of the Redis at addr, closed when the test ends.
func newRedis(tb testing.TB, addr string) *redis.Client {
	tb.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}

// realRedis returns a client of the test Redis and a prefix of its own,
// whose keys are deleted when the test ends.
func realRedis(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	rdb := newRedis(tb, needRedis(tb))
	ctx := context.Background()
	require.NoError(tb, rdb.Ping(ctx).Err(), "KEFU_REDIS_ADDR does not answer PING")
	prefix := "kefutest-" + randHex(6)
	tb.Cleanup(func() { deleteKeys(tb, rdb, prefix+":*") })
	return rdb, prefix
}

// deleteKeys deletes the keys matching pattern.
func deleteKeys(tb testing.TB, rdb *redis.Client, pattern string) {
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, pattern).Result()
	if err != nil {
		tb.Logf("deleting %s: %v", pattern, err)
		return
	}
	if len(keys) > 0 {
		rdb.Del(ctx, keys...)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freePort returns a loopback port nobody listens on now.
func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(tb, ln.Close())
	return port
}

// redisProc is a redis-server a test started on its own port.
type redisProc struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedis starts a redis-server on port (a free one if 0) with args
// added, waits until it answers, and kills it when the test ends.
func startRedis(tb testing.TB, port int, args ...string) *redisProc {
	tb.Helper()
	bin := needRedisServer(tb)
	if port == 0 {
		port = freePort(tb)
	}
	dir := tb.TempDir()
	all := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", dir + "/redis.log"}, args...)
	p := &redisProc{addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: exec.Command(bin, all...), done: make(chan struct{})}
	require.NoError(tb, p.cmd.Start())
	go func() { p.cmd.Wait(); close(p.done) }()
	tb.Cleanup(p.kill)
	rdb := redis.NewClient(&redis.Options{Addr: p.addr, MaxRetries: -1})
	defer rdb.Close()
	require.Eventually(tb, func() bool {
		select {
		case <-p.done:
			return true // it died: the check below fails
		default:
		}
		return rdb.Ping(context.Background()).Err() == nil
	}, 10*time.Second, 10*time.Millisecond, "redis-server on %s did not start", p.addr)
	select {
	case <-p.done:
		log, _ := os.ReadFile(dir + "/redis.log")
		tb.Fatalf("redis-server on %s exited: %s", p.addr, log)
	default:
	}
	return p
}

// kill stops the server at once (SIGKILL) and waits for it to be gone.
func (p *redisProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// logs captures log records.
type logs struct {
	mu      sync.Mutex
	records []string
}

func (h *logs) Enabled(context.Context, slog.Level) bool { return true }
func (h *logs) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	h.records = append(h.records, b.String())
	h.mu.Unlock()
	return nil
}
func (h *logs) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logs) WithGroup(string) slog.Handler      { return h }

// matching returns the records that contain every one of parts.
func (h *logs) matching(parts ...string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
next:
	for _, r := range h.records {
		for _, p := range parts {
			if !strings.Contains(r, p) {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}

// commandCounter is a go-redis hook counting what the client sends.
type commandCounter struct {
	cmds, dials atomic.Int64
}

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c.dials.Add(1)
		return next(ctx, network, addr)
	}
}

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.cmds.Add(1)
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// process is one simulated process: its own Redis client, TokenStore, HTTP
// client and kefu Client on a kefutest server.
type process struct {
	rdb    *redis.Client
	client *kefu.Client
}

// newProcess returns a process sharing tokens through the Redis of ropts,
// closed when the test ends.
func newProcess(tb testing.TB, srv *kefutest.Server, ropts *redis.Options, prefix string, opts ...kefu.Option) *process {
	tb.Helper()
	o := *ropts // NewClient keeps and fills in its options: one copy each
	rdb := redis.NewClient(&o)
	tb.Cleanup(func() { rdb.Close() })
	hc := &http.Client{Transport: &http.Transport{}}
	store := NewTokenStore(rdb, WithPrefix(prefix))
	client := srv.Client(append([]kefu.Option{kefu.WithHTTPClient(hc), kefu.WithTokenStore(store)}, opts...)...)
	tb.Cleanup(hc.CloseIdleConnections)
	return &process{rdb: rdb, client: client}
}

// chinaDay is today in UTC+8, the day force_refresh counts.
func chinaDay() string {
	return time.Now().In(time.FixedZone("UTC+8", 8*60*60)).Format(time.DateOnly)
}
