package main

// These tests drive the kefu binary as a user would: TestMain builds it once,
// each test starts "kefu fake" as a subprocess, reads its banner, and runs
// kefu commands against it. The helpers they share are here.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

var kefuBin string // the binary TestMain built

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kefu-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kefuBin = filepath.Join(dir, "kefu")
	// Not -race even under go test -race: a race-enabled binary takes about
	// a second to start here, and the command is mostly one goroutine.
	if out, err := exec.Command("go", "build", "-o", kefuBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building kefu: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	closeBrowser() // the inbox's tests' Chromium, if they started it
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// waitLimit bounds every wait on a subprocess, so a hung one fails the test
// instead of hanging it.
const waitLimit = time.Minute

// result is what one kefu run printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %q\nstderr: %q", r.code, r.stdout, r.stderr)
}

// baseEnv is the test's environment without KEFU_ variables.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEFU_") {
			env = append(env, kv)
		}
	}
	return env
}

// kefuRun runs the binary with args, stdin and extra environment variables.
// It fails the test if any output holds one of the secrets.
func kefuRun(t *testing.T, stdin string, env []string, secrets []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, kefuBin, args...)
	cmd.Env = append(baseEnv(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("kefu %s: %v", strings.Join(args, " "), err)
	}
	for _, s := range secrets {
		if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
			t.Errorf("kefu %s printed the app secret:\n%s", strings.Join(args, " "), r)
		}
	}
	return r
}

// fake is a running "kefu fake" subprocess.
type fake struct {
	URL, AppID, Secret string
	banner             string
	cmd                *exec.Cmd
	lines              chan string // its stdout, line by line; closed at EOF
	stderr             bytes.Buffer
	stopped            bool
}

// startFake starts "kefu fake --addr 127.0.0.1:0 args..." and waits for its
// banner. The fake is stopped with SIGTERM at the end of the test.
func startFake(t *testing.T, args ...string) *fake {
	t.Helper()
	return startFakeEnv(t, nil, args...)
}

// startFakeEnv is startFake with more environment variables.
func startFakeEnv(t *testing.T, env []string, args ...string) *fake {
	t.Helper()
	f := &fake{lines: make(chan string, 64)}
	f.cmd = exec.Command(kefuBin, append([]string{"fake", "--addr", "127.0.0.1:0"}, args...)...)
	f.cmd.Env = append(baseEnv(), env...)
	f.cmd.Stderr = &f.stderr
	out, err := f.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, f.cmd.Start())
	go func() {
		defer close(f.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { f.stop(t, syscall.SIGTERM) })

	var banner strings.Builder
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		select {
		case line, ok := <-f.lines:
			if !ok {
				f.lines = nil
				t.Fatalf("kefu fake exited before its banner:\n%s", banner.String())
			}
			banner.WriteString(line + "\n")
			if strings.HasPrefix(line, "{") { // --json: one line says it all
				var r struct{ URL, AppID, Secret string }
				require.NoError(t, json.Unmarshal([]byte(line), &r), line)
				f.URL, f.AppID, f.Secret, f.banner = r.URL, r.AppID, r.Secret, line
				return f
			}
			if v := bannerField(line, "URL"); v != "" {
				f.URL = v
			}
			if v := bannerField(line, "AppID"); v != "" {
				f.AppID = v
			}
			if v := bannerField(line, "AppSecret"); v != "" {
				f.Secret = v
			}
			if strings.HasPrefix(line, "ready") {
				f.banner = banner.String()
				require.NotEmpty(t, f.URL, f.banner)
				require.NotEmpty(t, f.AppID, f.banner)
				require.NotEmpty(t, f.Secret, f.banner)
				return f
			}
		case <-deadline.C:
			t.Fatalf("no banner from kefu fake within %v:\n%s", waitLimit, banner.String())
		}
	}
}

// bannerField is the value of the "name:" line of kefu fake's banner, or ""
// if line is another.
func bannerField(line, name string) string {
	v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":")
	if !ok {
		return ""
	}
	return strings.TrimSpace(v)
}

// closedURL is an http URL where nothing listens: a port that was free a
// moment ago.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	u := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	return u
}

// stop signals the fake, reads the rest of its output and checks that it
// shut down cleanly, without printing its secret again.
func (f *fake) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if f.stopped {
		return
	}
	f.stopped = true
	if err := f.cmd.Process.Signal(sig); err != nil {
		t.Errorf("signalling kefu fake: %v", err)
	}
	var rest strings.Builder
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for f.lines != nil {
		select {
		case line, ok := <-f.lines:
			if !ok {
				f.lines = nil
				break
			}
			rest.WriteString(line + "\n")
		case <-deadline.C:
			f.cmd.Process.Kill()
			t.Errorf("kefu fake did not stop within %v", waitLimit)
			deadline.Reset(waitLimit)
		}
	}
	err := f.cmd.Wait()
	assert.NoError(t, err, "kefu fake's exit; stderr: %s", f.stderr.String())
	assert.Contains(t, rest.String()+f.stderr.String(), "kefu fake: stopped") // stderr under --json
	assert.NotContains(t, rest.String()+f.stderr.String(), f.Secret, "the fake printed its secret after the banner")
}

// env is the environment that hands the fake's credentials to kefu.
func (f *fake) env() []string {
	return []string{"KEFU_APPID=" + f.AppID, "KEFU_SECRET=" + f.Secret}
}

type vars map[string]string

func (v vars) get(k string) string { return v[k] }

// kefu runs "kefu CMD --base-url URL args..." with the fake's credentials.
func (f *fake) kefu(t *testing.T, stdin, cmd string, args ...string) result {
	t.Helper()
	return kefuRun(t, stdin, f.env(), []string{f.Secret}, append([]string{cmd, "--base-url", f.URL}, args...)...)
}

// admin calls an admin endpoint of the fake and returns the HTTP status and
// the body.
func (f *fake) admin(t *testing.T, method, pathQuery, body string) (int, string) {
	t.Helper()
	return adminCall(t, f.URL, method, pathQuery, body)
}

func adminCall(t *testing.T, base, method, pathQuery, body string) (int, string) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{}, Timeout: waitLimit}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequest(method, base+pathQuery, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

const okAnswer = `{"errcode":0,"errmsg":"ok"}`

// usageCase is a command line that must fail with a usage error: exit 2,
// nothing on stdout, want on stderr.
type usageCase struct {
	args  []string
	env   []string
	stdin string
	want  string
}

// usageSecret is the secret of usageCreds: no usage error may show it.
const usageSecret = "usage-test-secret"

// usageCreds are credentials in the environment, for the cases that must
// get past them.
func usageCreds() []string {
	return []string{"KEFU_APPID=wx-usage", "KEFU_SECRET=" + usageSecret}
}

// testUsageErrors runs each case as a subtest; a usage error of a command
// ends by pointing at its --help.
func testUsageErrors(t *testing.T, cases []usageCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := kefuRun(t, tc.stdin, tc.env, []string{usageSecret}, tc.args...)
			assert.Equal(t, 2, r.code, r)
			assert.Empty(t, r.stdout, r)
			assert.Contains(t, r.stderr, tc.want, r)
			if len(tc.args) > 0 && isCommand(tc.args[0]) {
				assert.Contains(t, r.stderr, "Run 'kefu "+tc.args[0]+" --help' for usage.", r)
			}
		})
	}
}

// isCommand tells whether name is one of kefu's commands.
func isCommand(name string) bool {
	root := newRoot(&env{getenv: func(string) string { return "" }})
	c, _, err := root.Find([]string{name})
	return err == nil && c != root && c.Name() == name
}
