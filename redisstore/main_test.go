package redisstore

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
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

// The tests prove the TokenStore's guarantees against a real redis-server.
// TestMain starts one itself, on a free loopback port, when redis-server is
// on PATH and KEFU_REDIS_ADDR is not set; with KEFU_REDIS_ADDR (e.g.
// 127.0.0.1:6399) they use that Redis instead. Without either, the store's
// semantics tests run on miniredis, the others skip, and one line names them
// (on stderr, and on the terminal when go test would hide stderr: see
// toTerminal); under CI (CI non-empty) they fail instead. A few tests
// start redis-servers of their own, to stop one or to run a cluster.
// KEFU_REDIS_SERVER names the redis-server to run instead of the one on PATH;
// KEFU_REDIS_SERVER=none runs none, as on a machine without it.
//
//	go test -race ./...                                  # starts its own redis-server
//	KEFU_REDIS_ADDR=127.0.0.1:6399 go test -race ./...   # uses that Redis
//	KEFU_REDIS_SERVER=none go test -race ./...           # miniredis only

const (
	envAddr   = "KEFU_REDIS_ADDR"
	envServer = "KEFU_REDIS_SERVER"
)

func TestMain(m *testing.M) {
	redis.SetLogger(quiet{}) // dial failures are expected where Redis is down
	// The redis-server started below dies with the thread that started it
	// (setPdeathsig), should the binary be killed: keep that thread.
	runtime.LockOSThread()
	goleak.VerifyTestMain(withRedis{m})
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// withRedis runs the tests with a real Redis, started and stopped around
// them if need be, before goleak looks for leftover goroutines.
type withRedis struct{ m *testing.M }

func (w withRedis) Run() int {
	if os.Getenv(envHelper) == "1" { // a child of the cross-process tests
		return w.m.Run()
	}
	var why string // why there is no real Redis
	if os.Getenv(envAddr) == "" {
		bin, err := redisServerPath()
		if err != nil {
			why = err.Error()
		} else if p, err := startMainRedis(bin); err != nil {
			why = err.Error()
		} else {
			defer p.stop()
			os.Setenv(envAddr, p.addr)
			defer os.Unsetenv(envAddr)
		}
	}
	code := w.m.Run()
	if why != "" && os.Getenv("CI") != "" {
		fmt.Fprintf(os.Stderr, "redisstore: CI is set and there is no real Redis (%s), which the tests need there: install redis-server or set %s=host:port.\n", why, envAddr)
	}
	reportSkipped(why)
	return code
}

// redisServerPath returns the redis-server to start: KEFU_REDIS_SERVER, or
// the one on PATH.
func redisServerPath() (string, error) {
	switch name := os.Getenv(envServer); name {
	case "none":
		return "", errors.New(envServer + "=none")
	case "":
		path, err := exec.LookPath("redis-server")
		if err != nil {
			return "", errors.New("redis-server is not on PATH")
		}
		return path, nil
	default:
		path, err := exec.LookPath(name)
		if err != nil {
			return "", fmt.Errorf("%s=%s: %w", envServer, name, err)
		}
		return path, nil
	}
}

// mainRedis is the redis-server TestMain started.
type mainRedis struct {
	addr  string
	dir   string
	cmd   *exec.Cmd
	ready chan struct{} // closed when its log says it accepts connections
	done  chan struct{} // closed once it has exited and been waited for

	mu   sync.Mutex
	last string // the last line of its log
}

// startMainRedis starts bin on a free loopback port (trying a few, as
// another process may take a port between freeing and binding it) and waits
// until it answers.
func startMainRedis(bin string) (*mainRedis, error) {
	var err error
	for range 5 {
		var p *mainRedis
		if p, err = tryMainRedis(bin); err == nil {
			return p, nil
		}
	}
	return nil, fmt.Errorf("could not start %s: %w", bin, err)
}

func tryMainRedis(bin string) (*mainRedis, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir, err := os.MkdirTemp("", "kefu-redis-")
	if err != nil {
		return nil, err
	}
	p := &mainRedis{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir,
		ready: make(chan struct{}), done: make(chan struct{})}
	// --logfile "": the log goes to stdout, which says when it is ready.
	p.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", "")
	setPdeathsig(p.cmd)
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	go p.follow(out) // ends in stop, before goleak looks
	if err := p.wait(); err != nil {
		p.stop()
		p.mu.Lock()
		defer p.mu.Unlock()
		return nil, fmt.Errorf("on %s: %w (its log's last line: %q)", p.addr, err, p.last)
	}
	return p, nil
}

// follow reads the server's log until it exits: it closes ready on the line
// that says it accepts connections, then waits for the process and closes
// done.
func (p *mainRedis) follow(out io.Reader) {
	sc := bufio.NewScanner(out)
	isReady := false
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		p.last = line
		p.mu.Unlock()
		if !isReady && strings.Contains(line, "Ready to accept connections") {
			isReady = true
			close(p.ready)
		}
	}
	p.cmd.Wait()
	close(p.done)
}

// wait waits, for at most 10 s, until the server says it is ready, then
// checks that it answers as itself (its process_id is ours: not another
// server that took the port first).
func (p *mainRedis) wait() error {
	limit := time.NewTimer(10 * time.Second)
	defer limit.Stop()
	select {
	case <-p.ready:
	case <-p.done:
		return errors.New("it exited")
	case <-limit.C:
		return errors.New("not ready after 10 s")
	}
	rdb := redis.NewClient(&redis.Options{Addr: p.addr, MaxRetries: -1, DialTimeout: time.Second})
	defer rdb.Close()
	info, err := rdb.Info(context.Background(), "server").Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "process_id:"+strconv.Itoa(p.cmd.Process.Pid)+"\r\n") {
		return errors.New("another server answers on its port")
	}
	return nil
}

// stop kills the server, waits for it to be gone and removes its directory.
func (p *mainRedis) stop() {
	_ = p.cmd.Process.Kill()
	<-p.done
	os.RemoveAll(p.dir)
}

// skipped records the tests that skipped for want of a real Redis (noAddr)
// or of a redis-server to start (noServer).
var skipped struct {
	sync.Mutex
	noAddr, noServer []string
}

func skip(list *[]string, name string) {
	skipped.Lock()
	defer skipped.Unlock()
	if !slices.Contains(*list, name) {
		*list = append(*list, name)
	}
}

// reportSkipped says, in one line on stderr, which tests skipped for want
// of a real Redis (why: why there was none) and how to run them.
func reportSkipped(why string) {
	skipped.Lock()
	defer skipped.Unlock()
	if len(skipped.noAddr) == 0 && len(skipped.noServer) == 0 {
		return
	}
	var parts []string
	if len(skipped.noAddr) > 0 {
		parts = append(parts, fmt.Sprintf("%s that need a real Redis (%s)", tests(len(skipped.noAddr)), why))
	}
	if len(skipped.noServer) > 0 {
		parts = append(parts, tests(len(skipped.noServer))+" that start redis-servers of their own")
	}
	all := append(slices.Clone(skipped.noAddr), skipped.noServer...)
	slices.Sort(all)
	line := fmt.Sprintf("redisstore: SKIPPED %s: %s. To run them, install redis-server (the tests start it) or set %s=host:port.\n",
		strings.Join(parts, " and "), strings.Join(all, ", "), envAddr)
	fmt.Fprint(os.Stderr, line)
	toTerminal(line)
}

func tests(n int) string {
	if n == 1 {
		return "1 test"
	}
	return strconv.Itoa(n) + " tests"
}

// toTerminal writes line to the terminal too when go test would hide
// stderr: without -v, go test ./... shows a passing package's output to no
// one (it reaches the test binary through a pipe), and the skipped tests
// would go unnoticed. Run with -v, in redisstore/ without package arguments
// (go test streams, to the terminal itself), or with no terminal (CI), it
// writes nothing more.
func toTerminal(line string) {
	if testing.Verbose() {
		return
	}
	if fi, err := os.Stderr.Stat(); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return
	}
	tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0)
	if err != nil {
		return
	}
	defer tty.Close()
	fmt.Fprint(tty, line)
}

// needRedis returns KEFU_REDIS_ADDR, or skips (fails under CI) without it.
func needRedis(tb testing.TB) string {
	tb.Helper()
	addr := os.Getenv(envAddr)
	if addr == "" {
		if os.Getenv("CI") != "" {
			tb.Fatal("no real Redis (KEFU_REDIS_ADDR is not set and no redis-server was started): under CI these tests must run against a real redis-server")
		}
		skip(&skipped.noAddr, tb.Name())
		tb.Skip("no real Redis: install redis-server (the tests start it) or set KEFU_REDIS_ADDR (e.g. 127.0.0.1:6399) to run this test")
	}
	return addr
}

// needRedisServer returns the path of redis-server, or skips (fails under
// CI) without it.
func needRedisServer(tb testing.TB) string {
	tb.Helper()
	needRedis(tb)
	path, err := redisServerPath()
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%v: under CI these tests must run against a real redis-server", err)
		}
		skip(&skipped.noServer, tb.Name())
		tb.Skip(err)
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
