package redisstore

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The cross-process tests re-run the test binary as child processes
// (TestHelperProcess), each with its own Redis client, TokenStore, token
// source and kefu Client (with a window tracker on a WindowStore when the
// test asks), all on one kefutest server that the parent runs
// and inspects. A child reads commands on stdin, one a line, and answers on
// stdout:
//
//	ready                 once set up (the parent waits for every child's)
//	token   -> G goroutines call Token at once: "tok VALUE" or "err MSG" each, then "done"
//	send    -> G goroutines Send at once: "ok" or "err MSG" each, then "tok CURRENT", "done"
//
// The parent writes a command to every child only once all are ready, so
// they really start together. Every call has a deadline: nobody waits forever.

// The child's environment.
const (
	envHelper  = "KEFU_REDISSTORE_HELPER" // "1" in a child
	envURL     = "KEFU_HELPER_URL"
	envAppID   = "KEFU_HELPER_APPID"
	envSecret  = "KEFU_HELPER_SECRET"
	envPrefix  = "KEFU_HELPER_PREFIX"
	envG       = "KEFU_HELPER_G"
	envLockTTL = "KEFU_HELPER_LOCK_TTL"
	envUser    = "KEFU_HELPER_USER"
	envWindows = "KEFU_HELPER_WINDOWS" // "1": the client has a tracker on a WindowStore
)

// callTimeout bounds every call a child makes.
const callTimeout = 20 * time.Second

// TestHelperProcess is a child process of the cross-process tests (of
// TestJournalProcesses with KEFU_JOURNAL_HELPER=1); run directly, it does
// nothing.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(envHelper) != "1" {
		return
	}
	if os.Getenv(envJournalHelper) == "1" {
		os.Exit(journalHelperMain())
	}
	os.Exit(helperMain())
}

func helperMain() int {
	g, _ := strconv.Atoi(os.Getenv(envG))
	opts := []Option{WithPrefix(os.Getenv(envPrefix))}
	if d, err := time.ParseDuration(os.Getenv(envLockTTL)); err == nil {
		opts = append(opts, WithLockTTL(d))
	}
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("KEFU_REDIS_ADDR")})
	defer rdb.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	kopts := []kefu.Option{kefu.WithBaseURL(os.Getenv(envURL)), kefu.WithRetry(kefutest.FastRetry()),
		kefu.WithHTTPClient(hc), kefu.WithLogger(log), kefu.WithTokenStore(NewTokenStore(rdb, opts...))}
	if os.Getenv(envWindows) == "1" {
		store := NewWindowStore(rdb, WithWindowPrefix(os.Getenv(envPrefix)+":windows:"))
		kopts = append(kopts, kefu.WithWindows(kefu.NewWindowTracker(store)))
	}
	ts, err := kefu.NewTokenSource(os.Getenv(envAppID), os.Getenv(envSecret), kopts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	client, err := kefu.NewClient(ts, kopts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(os.Stdout, format+"\n", args...)
	}
	// each runs f in g goroutines that start at once.
	each := func(f func(ctx context.Context)) {
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := 0; i < g; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
				defer cancel()
				f(ctx)
			}()
		}
		close(start)
		wg.Wait()
	}
	// token gets a token and says it: "tok VALUE" or "err MSG".
	token := func(ctx context.Context) {
		tok, err := ts.Token(ctx)
		if err != nil {
			say("err %v", err)
			return
		}
		say("tok %s", tok)
	}
	say("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "token":
			each(token)
		case "send":
			each(func(ctx context.Context) {
				if _, err := client.Send(ctx, kefu.NewText(os.Getenv(envUser), "hello")); err != nil {
					say("err %v", err)
					return
				}
				say("ok")
			})
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			token(ctx)
			cancel()
		default:
			say("err unknown command %q", in.Text())
		}
		say("done")
	}
	hc.CloseIdleConnections()
	return 0
}

// child is a running helper process.
type child struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // stdout, closed at its end
	stderr *syncBuffer
	exited chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// childConfig is what the children of a test share.
type childConfig struct {
	srv     *kefutest.Server
	prefix  string
	g       int
	lockTTL time.Duration // 0: the default
	user    string
	windows bool // a window tracker on a WindowStore with prefix+":windows:"
}

// startChildren starts n children and waits until every one is ready.
func startChildren(t *testing.T, n int, cfg childConfig) []*child {
	t.Helper()
	env := append(os.Environ(), envHelper+"=1", envURL+"="+cfg.srv.URL, envAppID+"="+cfg.srv.AppID,
		envSecret+"="+cfg.srv.AppSecret, envPrefix+"="+cfg.prefix, envG+"="+strconv.Itoa(cfg.g), envUser+"="+cfg.user)
	if cfg.lockTTL > 0 {
		env = append(env, envLockTTL+"="+cfg.lockTTL.String())
	}
	if cfg.windows {
		env = append(env, envWindows+"=1")
	}
	var out []*child
	for i := 0; i < n; i++ {
		out = append(out, spawn(t, fmt.Sprintf("child %d", i), "TestHelperProcess", env))
	}
	for _, c := range out {
		c.expect("ready", 30*time.Second)
	}
	return out
}

// spawn starts the test binary again with env, running only the test
// named run (the child's main), and stops it when t ends.
func spawn(t *testing.T, name, run string, env []string) *child {
	t.Helper()
	c := &child{t: t, name: name, lines: make(chan string, 1024), stderr: &syncBuffer{}, exited: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^"+run+"$", "-test.count=1")
	c.cmd.Env = env
	c.cmd.Stderr = c.stderr
	stdout, err := c.cmd.StdoutPipe()
	require.NoError(t, err)
	c.stdin, err = c.cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, c.cmd.Start())
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 4096), 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(c.stop)
	return c
}

// next returns the child's next stdout line, failing after timeout.
func (c *child) next(timeout time.Duration) (string, bool) {
	c.t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case l, ok := <-c.lines:
		if !ok {
			c.t.Fatalf("%s ended its output; stderr:\n%s", c.name, c.stderr.String())
		}
		return l, true
	case <-timer.C:
		c.t.Fatalf("%s said nothing for %v; stderr:\n%s", c.name, timeout, c.stderr.String())
		return "", false
	}
}

func (c *child) expect(line string, timeout time.Duration) {
	c.t.Helper()
	l, _ := c.next(timeout)
	require.Equal(c.t, line, l, "%s; stderr:\n%s", c.name, c.stderr.String())
}

// command writes cmd to the child.
func (c *child) command(cmd string) {
	c.t.Helper()
	_, err := io.WriteString(c.stdin, cmd+"\n")
	require.NoError(c.t, err)
}

// results reads the answer to a command, up to "done".
func (c *child) results(timeout time.Duration) []string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var out []string
	for {
		l, _ := c.next(time.Until(deadline))
		if l == "done" {
			return out
		}
		out = append(out, l)
	}
}

// commandAll writes cmd to every child, back to back, and returns their
// answers.
func commandAll(t *testing.T, children []*child, cmd string) [][]string {
	t.Helper()
	for _, c := range children {
		c.command(cmd)
	}
	out := make([][]string, len(children))
	for i, c := range children {
		out[i] = c.results(30 * time.Second)
	}
	return out
}

// stop closes the child's stdin, which ends it, and kills it if it has not
// ended within 10 s.
func (c *child) stop() {
	c.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
	for range c.lines { // drain: the reader goroutine ends
	}
	if c.t.Failed() {
		c.t.Logf("%s stderr:\n%s", c.name, c.stderr.String())
	}
}

// tokens returns the distinct tokens in answers and fails on any error.
func tokens(t *testing.T, answers [][]string, perChild int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for i, lines := range answers {
		n := 0
		for _, l := range lines {
			switch {
			case strings.HasPrefix(l, "tok "):
				seen[strings.TrimPrefix(l, "tok ")]++
				n++
			case l == "ok":
			default:
				t.Errorf("child %d: %s", i, l)
			}
		}
		assert.Equal(t, perChild, n, "child %d: tokens", i)
	}
	return seen
}

const (
	procs      = 4
	goroutines = 50
)

// TestProcessesColdStart: P processes x G goroutines start cold at once;
// the token endpoint is called once in total and all get the same token
// (guarantee 1).
func TestProcessesColdStart(t *testing.T) {
	rdb, prefix := realRedis(t)
	srv := kefutest.NewServer()
	defer srv.Close()
	children := startChildren(t, procs, childConfig{srv: srv, prefix: prefix, g: goroutines})

	// The fetch takes 300 ms: any process that did not wait for the lock's
	// holder would fetch too.
	srv.DelayNext(kefutest.PathStableToken, procs, 300*time.Millisecond)
	seen := tokens(t, commandAll(t, children, "token"), goroutines)
	require.Len(t, seen, 1, "one token for all")
	assert.Equal(t, 1, srv.Calls(kefutest.PathStableToken), "one fetch for %d processes x %d goroutines", procs, goroutines)
	st, err := NewTokenStore(rdb, WithPrefix(prefix)).Load(context.Background(), srv.AppID+"/stable")
	require.NoError(t, err)
	assert.Contains(t, seen, st.Value, "published in Redis")
}

// TestProcessesOneRefreshAfterRejection: every process meets 40001 for the
// same token at once (the secret was reset): one refresh in total, and every
// process moves to the new token (guarantee 2).
func TestProcessesOneRefreshAfterRejection(t *testing.T) {
	rdb, prefix := realRedis(t)
	srv := kefutest.NewServer()
	defer srv.Close()
	srv.Interact("o-user", kefutest.Payment)
	children := startChildren(t, procs, childConfig{srv: srv, prefix: prefix, g: goroutines, user: "o-user"})

	first := tokens(t, commandAll(t, children, "token"), goroutines)
	require.Len(t, first, 1)
	require.Equal(t, 1, srv.Calls(kefutest.PathStableToken))

	srv.RotateTokens() // every token dies: each process's next send meets 40001
	srv.DelayNext(kefutest.PathStableToken, procs, 300*time.Millisecond)
	seen := tokens(t, commandAll(t, children, "send"), 1)
	require.Len(t, seen, 1, "every process moved to the same token")
	for tok := range seen {
		assert.NotContains(t, first, tok, "a new token")
	}
	assert.Equal(t, 2, srv.Calls(kefutest.PathStableToken), "the cold fetch and one refresh")
	assert.Len(t, srv.Messages("o-user"), procs*goroutines, "every send went out")
	assert.GreaterOrEqual(t, srv.Calls(kefutest.PathSend), procs+procs*goroutines, "each process met 40001")
	st, err := NewTokenStore(rdb, WithPrefix(prefix)).Load(context.Background(), srv.AppID+"/stable")
	require.NoError(t, err)
	assert.Contains(t, seen, st.Value)
}

// TestProcessKilledHoldingLock: the process holding the refresh lock is
// killed (SIGKILL) mid-refresh; another process refreshes once the lock's
// TTL is over, and nobody waits forever (guarantee 4).
func TestProcessKilledHoldingLock(t *testing.T) {
	rdb, prefix := realRedis(t)
	srv := kefutest.NewServer()
	defer srv.Close()
	const lockTTL = 3 * time.Second // long enough that a slow machine still kills the holder inside it
	children := startChildren(t, 2, childConfig{srv: srv, prefix: prefix, g: 1, lockTTL: lockTTL})
	holder, other := children[0], children[1]
	store := NewTokenStore(rdb, WithPrefix(prefix))
	lockKey := store.lockKey(srv.AppID + "/stable")
	ctx := context.Background()

	// The holder takes the lock and hangs in the fetch.
	srv.DelayNext(kefutest.PathStableToken, 1, time.Minute)
	holder.command("token")
	require.Eventually(t, func() bool { return srv.Calls(kefutest.PathStableToken) == 1 },
		10*time.Second, time.Millisecond, "the holder's fetch did not arrive")
	require.NoError(t, holder.cmd.Process.Signal(syscall.SIGKILL))
	err := holder.cmd.Wait()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "killed")
	left, err := rdb.PTTL(ctx, lockKey).Result()
	require.NoError(t, err)
	require.Greater(t, left, time.Duration(0), "the dead holder's lock is still there")

	// The other process waits for the lock's TTL, then refreshes.
	start := time.Now()
	other.command("token")
	lines := other.results(15 * time.Second)
	took := time.Since(start)
	seen := tokens(t, [][]string{lines}, 1)
	require.Len(t, seen, 1)
	t.Logf("lock left %v when the holder died; the other process had a token after %v", left, took)
	assert.GreaterOrEqual(t, took, left-100*time.Millisecond, "not before the lock expired")
	assert.Less(t, took, left+5*time.Second, "soon after it expired")
	assert.Equal(t, 2, srv.Calls(kefutest.PathStableToken), "the dead holder's fetch and the other's")
	st, err := store.Load(ctx, srv.AppID+"/stable")
	require.NoError(t, err)
	assert.Contains(t, seen, st.Value)
	n, err := rdb.Exists(ctx, lockKey).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "the lock was released")
}

// TestProcessesShareWindows: P processes, each with its own tracker on one
// WindowStore, send G messages each at once to a user with 3 messages
// left (a scan): 3 sends succeed in total and reach WeChat, the others are
// refused locally, without a call.
func TestProcessesShareWindows(t *testing.T) {
	rdb, prefix := realRedis(t)
	srv := kefutest.NewServer() // on real time, as the children's trackers
	defer srv.Close()
	const user, perChild = "o-scan", 3
	children := startChildren(t, procs, childConfig{srv: srv, prefix: prefix, g: perChild, user: user, windows: true})

	srv.Interact(user, kefutest.Scan)
	tr := kefu.NewWindowTracker(NewWindowStore(rdb, WithWindowPrefix(prefix+":windows:")), kefu.WithTrackerClock(srv.Now))
	require.NoError(t, tr.Observe(context.Background(), user, kefu.ActionScan, srv.Now()))

	sent, refused := 0, 0
	for i, lines := range commandAll(t, children, "send") {
		for _, l := range lines {
			switch {
			case l == "ok":
				sent++
			case strings.HasPrefix(l, "err ") && strings.Contains(l, "refused locally by the window tracker: reply quota used up (45047)"):
				refused++
			case strings.HasPrefix(l, "tok "):
			default:
				t.Errorf("child %d: %s", i, l)
			}
		}
	}
	assert.Equal(t, 3, sent, "sends that succeeded")
	assert.Equal(t, procs*perChild-3, refused, "sends refused locally")
	assert.Equal(t, 3, srv.Calls(kefutest.PathSend), "sends that reached WeChat")
	assert.Len(t, srv.Messages(user), 3)
	st, err := tr.Window(context.Background(), user)
	require.NoError(t, err)
	assert.Equal(t, kefu.WindowState{Known: true, Open: true, Remaining: 0, Closes: st.Closes}, st)
}
