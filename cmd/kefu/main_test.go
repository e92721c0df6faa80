package main

// These tests drive the kefu binary as a user would: TestMain builds it once,
// each test starts "kefu fake" as a subprocess, reads its banner, and runs
// kefu commands against it.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kefu-go/kefu"
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
	f := &fake{lines: make(chan string, 64)}
	f.cmd = exec.Command(kefuBin, append([]string{"fake", "--addr", "127.0.0.1:0"}, args...)...)
	f.cmd.Env = baseEnv()
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

	field := func(line, name string) string {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":")
		if !ok {
			return ""
		}
		return strings.TrimSpace(v)
	}
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
			if v := field(line, "URL"); v != "" {
				f.URL = v
			}
			if v := field(line, "AppID"); v != "" {
				f.AppID = v
			}
			if v := field(line, "AppSecret"); v != "" {
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
	assert.Contains(t, rest.String(), "kefu fake: stopped")
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

func TestSend(t *testing.T) {
	t.Parallel()
	f := startFake(t, "--user", "o1", "--user", "o2", "--media", "image:m1", "--media", "thumb:t1")
	assert.Contains(t, f.banner, "o1, o2 (5 replies in 48 h)")
	assert.Contains(t, f.banner, "image:m1, thumb:t1")

	ok := func(t *testing.T, r result) {
		t.Helper()
		assert.Equal(t, 0, r.code, r)
		assert.Equal(t, "ok\n", r.stdout, r)
		assert.Empty(t, r.stderr, r)
	}
	failed := func(t *testing.T, r result, want ...string) {
		t.Helper()
		assert.Equal(t, 1, r.code, r)
		assert.Empty(t, r.stdout, r)
		for _, w := range want {
			assert.Contains(t, r.stderr, w, r)
		}
	}

	t.Run("text", func(t *testing.T) {
		ok(t, f.kefu(t, "", "send", "--to", "o1", "--text", `您好 <a href="https://example.com/?a=1&b=2">x</a>`))
	})
	t.Run("json from stdin", func(t *testing.T) {
		ok(t, f.kefu(t, `{"touser":"o1","msgtype":"image","image":{"media_id":"m1"}}`, "send", "--json", "-"))
	})
	t.Run("json file, --to and --from win", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "music.json")
		msg := `{"touser":"o-someone-else","msgtype":"music","music":{"title":"Jingle","musicurl":"https://example.com/a.mp3","thumb_media_id":"t1"}}`
		require.NoError(t, os.WriteFile(file, []byte(msg), 0o600))
		ok(t, f.kefu(t, "", "send", "--json", file, "--to", "o1", "--from", "kf01@account"))
	})
	t.Run("unknown user", func(t *testing.T) {
		failed(t, f.kefu(t, "", "send", "--to", "o-nobody", "--text", "hi"), "kefu send: errcode 40003: invalid openid (rid ")
	})
	t.Run("unknown media", func(t *testing.T) {
		r := f.kefu(t, `{"msgtype":"image","image":{"media_id":"m-nope"}}`, "send", "--to", "o1", "--json", "-")
		failed(t, r, "errcode 40007")
	})
	t.Run("bad json", func(t *testing.T) {
		failed(t, f.kefu(t, "", "send", "--to", "o1", "--json", "-"), "stdin: empty")
		failed(t, f.kefu(t, `{"touser":"o1",`, "send", "--json", "-"), "stdin: not a message")
		failed(t, f.kefu(t, `{"touser":"o1","msgtype":"text","text":{"content":"a"}} {}`, "send", "--json", "-"), "more than one JSON value")
		failed(t, f.kefu(t, `{"touser":"o1","msgtype":"text","txet":{}}`, "send", "--json", "-"), `unknown field "txet"`)
		failed(t, f.kefu(t, "", "send", "--json", filepath.Join(t.TempDir(), "missing.json")), "no such file")
	})
	t.Run("invalid message, not sent", func(t *testing.T) {
		failed(t, f.kefu(t, `{"touser":"o1","msgtype":"text","text":{"content":""}}`, "send", "--json", "-"), "invalid message: text.content")
	})
	t.Run("quota used up", func(t *testing.T) {
		for i := range 5 {
			ok(t, f.kefu(t, "", "send", "--to", "o2", "--text", fmt.Sprint("reply ", i+1)))
		}
		failed(t, f.kefu(t, "", "send", "--to", "o2", "--text", "one too many"),
			"errcode 45047: out of response count limit", "wait for the user to act again")
	})
}

func TestTyping(t *testing.T) {
	t.Parallel()
	f := startFake(t, "--user", "o1")
	r := f.kefu(t, "", "typing", "--to", "o1")
	assert.Equal(t, result{stdout: "ok\n"}, r)
	r = f.kefu(t, "", "typing", "--to", "o1")
	assert.Equal(t, 1, r.code, r)
	assert.Contains(t, r.stderr, "kefu typing: errcode 45081", r)
	r = f.kefu(t, "", "typing", "--to", "o1", "--off")
	assert.Equal(t, result{stdout: "ok\n"}, r)
	r = f.kefu(t, "", "typing", "--to", "o-nobody")
	assert.Equal(t, 1, r.code, r)
	assert.Contains(t, r.stderr, "errcode 40003", r)
}

func TestToken(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	status := regexp.MustCompile(`^token ok, expires in (2h0m0s|1h59m\d+s) \(at \d{4}-\d\d-\d\dT\S+\)\n$`)

	plain := f.kefu(t, "", "token")
	assert.Equal(t, 0, plain.code, plain)
	assert.Regexp(t, status, plain.stdout)
	assert.Empty(t, plain.stderr)

	// --show: the token alone on stdout, the status on stderr.
	shown := f.kefu(t, "", "token", "--show")
	assert.Equal(t, 0, shown.code, shown)
	assert.Regexp(t, status, shown.stderr)
	token := strings.TrimSuffix(shown.stdout, "\n")
	assert.Regexp(t, `^\S{20,}$`, token)
	// The stable endpoint hands out the same token: the plain run had it too
	// and did not print it.
	assert.NotContains(t, plain.stdout+plain.stderr, token)

	classic := f.kefu(t, "", "token", "--classic")
	assert.Equal(t, 0, classic.code, classic)
	assert.Regexp(t, status, classic.stdout)

	for _, classicFlag := range []string{"--classic=false", "--classic"} {
		const wrong = "a-wrong-secret-value"
		r := f.kefu(t, "", "token", classicFlag, "--secret", wrong)
		assert.Equal(t, 1, r.code, r)
		assert.Contains(t, r.stderr, "kefu token: errcode 40125: invalid appsecret (rid ", r)
		assert.Contains(t, r.stderr, "check KEFU_APPID and KEFU_SECRET", r)
		assert.NotContains(t, r.stderr, wrong, r)

		r = f.kefu(t, "", "token", classicFlag, "--appid", "wx-not-this-app")
		assert.Equal(t, 1, r.code, r)
		assert.Contains(t, r.stderr, "errcode 40013", r)
	}

	// Nothing listening: a transport error, the URL without its query.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	r := kefuRun(t, "", f.env(), []string{f.Secret}, "token", "--classic", "--base-url", closed)
	assert.Equal(t, 1, r.code, r)
	assert.Contains(t, r.stderr, "kefu token: GET "+closed+"/cgi-bin/token: ", r)
}

func TestSeedFile(t *testing.T) {
	t.Parallel()
	const secret = "seeded-secret-0123"
	seed := `{"users":["o-user"],"payment_users":["o-payer"],"media":{"image":["m1"],"card":["c1"]},
		"appid":"wx-seeded","secret":"` + secret + `"}`
	file := filepath.Join(t.TempDir(), "seed.json")
	require.NoError(t, os.WriteFile(file, []byte(seed), 0o600))
	f := startFake(t, "--seed", file, "--media", "voice:v1")
	assert.Equal(t, "wx-seeded", f.AppID)
	assert.Equal(t, secret, f.Secret)
	assert.Contains(t, f.banner, "o-payer (unlimited replies in 48 h)")

	for i := range 7 { // a payment allows any number
		r := f.kefu(t, "", "send", "--to", "o-payer", "--text", fmt.Sprint("thanks ", i))
		require.Equal(t, 0, r.code, r)
	}
	for _, msg := range []string{
		`{"msgtype":"wxcard","wxcard":{"card_id":"c1"}}`,
		`{"msgtype":"voice","voice":{"media_id":"v1"}}`,
		`{"msgtype":"image","image":{"media_id":"m1"}}`,
	} {
		r := f.kefu(t, msg, "send", "--to", "o-user", "--json", "-")
		assert.Equal(t, result{stdout: "ok\n"}, r, msg)
	}
	// Flags win over the environment.
	r := kefuRun(t, "", []string{"KEFU_APPID=wx-other", "KEFU_SECRET=other-secret"}, []string{secret},
		"token", "--base-url", f.URL, "--appid", "wx-seeded", "--secret", secret)
	assert.Equal(t, 0, r.code, r)
}

func TestFakeStopsOnSIGINT(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	f.stop(t, os.Interrupt)
}

func TestFakeAddrInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	r := kefuRun(t, "", nil, nil, "fake", "--addr", ln.Addr().String())
	assert.Equal(t, 1, r.code, r)
	assert.Contains(t, r.stderr, "kefu fake: listen tcp "+ln.Addr().String(), r)
	assert.Contains(t, r.stderr, "address already in use", r)
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	const secret = "usage-test-secret"
	creds := []string{"KEFU_APPID=wx-usage", "KEFU_SECRET=" + secret}
	for _, tc := range []struct {
		args  []string
		env   []string
		stdin string
		want  string
	}{
		{args: nil, want: "Usage:\n  kefu COMMAND"},
		{args: []string{"nosuch"}, want: `kefu: unknown command "nosuch"`},
		{args: []string{"help", "nosuch"}, want: `unknown command "nosuch"`},
		{args: []string{"send", "--to", "o1"}, env: creds, want: "nothing to send: give --text or --json"},
		{args: []string{"send", "--text", "hi"}, env: creds, want: "--to is required with --text"},
		{args: []string{"send", "--to", "o1", "--text", "hi", "--json", "m.json"}, env: creds, want: "not both"},
		{args: []string{"send", "--bogus"}, env: creds, want: "flag provided but not defined: -bogus"},
		{args: []string{"send", "--to", "o1", "--text", "hi", "extra"}, env: creds, want: `unexpected argument "extra"`},
		{args: []string{"send", "--to", "o1", "--text", "hi"}, want: "no credentials: set KEFU_APPID and KEFU_SECRET"},
		{args: []string{"send", "--to", "o1", "--text", "hi"}, env: creds[:1], want: "no app secret"},
		{args: []string{"send", "--to", "o1", "--text", "hi", "--timeout", "0s"}, env: creds, want: "--timeout must be positive"},
		{args: []string{"send", "--to", "o1", "--text", "hi", "--base-url", "ftp://x"}, env: creds, want: "--base-url must be"},
		{args: []string{"send", "--json", "-"}, env: creds, stdin: `{"msgtype":"text","text":{"content":"x"}}`, want: "no recipient"},
		{args: []string{"typing"}, env: creds, want: "--to is required"},
		{args: []string{"token", "--timeout", "soon"}, env: creds, want: `invalid value "soon" for flag -timeout`},
		{args: []string{"fake", "--media", "image"}, want: `--media "image": want kind:id`},
		{args: []string{"fake", "--media", "photo:p1"}, want: `unknown media kind "photo"`},
		{args: []string{"fake", "--appid", "wx1"}, want: "give both an app id and a secret"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := kefuRun(t, tc.stdin, tc.env, []string{secret}, tc.args...)
			assert.Equal(t, 2, r.code, r)
			assert.Empty(t, r.stdout, r)
			assert.Contains(t, r.stderr, tc.want, r)
			if len(tc.args) > 0 && lookup(tc.args[0]) != nil {
				assert.Contains(t, r.stderr, "Run 'kefu "+tc.args[0]+" --help' for usage.", r)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	// The secret in the environment must not show up as a flag default.
	env := []string{"KEFU_APPID=wx-help", "KEFU_SECRET=help-test-secret"}
	for _, args := range [][]string{
		{"help"}, {"--help"}, {"-h"},
		{"help", "send"}, {"send", "--help"}, {"typing", "-h"}, {"token", "--help"}, {"fake", "--help"},
	} {
		r := kefuRun(t, "", env, []string{"help-test-secret"}, args...)
		assert.Equal(t, 0, r.code, r)
		assert.Contains(t, r.stdout, "Usage:", r)
		assert.Empty(t, r.stderr, r)
		if len(args) == 2 {
			name := args[0]
			if name == "help" {
				name = args[1]
			}
			assert.Contains(t, r.stdout, "kefu "+name+": ", r)
			assert.Contains(t, r.stdout, "-", r)
		}
	}
	r := kefuRun(t, "", nil, nil, "version")
	assert.Equal(t, result{stdout: "kefu " + kefu.Version + "\n"}, r)
}

// TestInProcess runs fake and send through run, in this process, so that the
// race detector sees them (the binary above is built without it).
func TestInProcess(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	exited := make(chan int, 1)
	go func() {
		defer pw.Close()
		exited <- run(ctx, []string{"fake", "--addr", "127.0.0.1:0", "--user", "o1", "--appid", "wx-in", "--secret", "in-process-secret"},
			&env{stdin: strings.NewReader(""), stdout: pw, stderr: pw, getenv: func(string) string { return "" }})
	}()
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var url string
	for line := range lines {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "URL:"); ok {
			url = strings.TrimSpace(v)
		}
		if strings.HasPrefix(line, "ready") {
			break
		}
	}
	require.NotEmpty(t, url)

	var stdout, stderr bytes.Buffer
	e := &env{stdin: strings.NewReader(`{"touser":"o1","msgtype":"text","text":{"content":"hi"}}`), stdout: &stdout, stderr: &stderr,
		getenv: vars{"KEFU_APPID": "wx-in", "KEFU_SECRET": "in-process-secret"}.get}
	assert.Equal(t, exitOK, run(ctx, []string{"send", "--base-url", url, "--json", "-"}, e), stderr.String())
	assert.Equal(t, "ok\n", stdout.String())
	stdout.Reset()
	assert.Equal(t, exitOK, run(ctx, []string{"token", "--base-url", url}, e), stderr.String())
	assert.Contains(t, stdout.String(), "token ok, expires in ")

	cancel()
	var rest strings.Builder
	for line := range lines {
		rest.WriteString(line + "\n")
	}
	assert.Equal(t, exitOK, <-exited, rest.String())
	assert.Contains(t, rest.String(), "kefu fake: stopped")
}
