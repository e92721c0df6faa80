package main

// These tests drive the kefu binary as a user would: TestMain builds it once,
// each test starts "kefu fake" as a subprocess, reads its banner, and runs
// kefu commands against it.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
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
	closed := closedURL(t)
	r := kefuRun(t, "", f.env(), []string{f.Secret}, "token", "--classic", "--base-url", closed)
	assert.Equal(t, 1, r.code, r)
	assert.Contains(t, r.stderr, "kefu token: GET "+closed+"/cgi-bin/token: ", r)

	// A base URL with user:password: the password never shows.
	hostPort := strings.TrimPrefix(closedURL(t), "http://")
	for _, tc := range []struct{ flag, request string }{
		{"--classic", "GET http://user:xxxxx@" + hostPort + "/cgi-bin/token"},
		{"--classic=false", "POST http://user:xxxxx@" + hostPort + "/cgi-bin/stable_token"},
	} {
		r := kefuRun(t, "", f.env(), []string{f.Secret}, "token", tc.flag, "--base-url", "http://user:pw@"+hostPort)
		assert.Equal(t, 1, r.code, r)
		assert.Contains(t, r.stderr, "kefu token: "+tc.request+": ", r)
		assert.NotContains(t, r.stdout+r.stderr, "pw@", r)
	}
}

func TestSeedFile(t *testing.T) {
	t.Parallel()
	const secret = "seeded-secret-0123"
	seed := `{"users":["o-user"],"payment_users":["o-payer"],"media":{"image":["m1"],"card":["c1"]},
		"accounts":["kf01@seeded:Seeded"],"appid":"wx-seeded","secret":"` + secret + `"}`
	file := filepath.Join(t.TempDir(), "seed.json")
	require.NoError(t, os.WriteFile(file, []byte(seed), 0o600))
	f := startFake(t, "--seed", file, "--media", "voice:v1", "--account", "kf02@seeded:Flag")
	assert.Equal(t, "wx-seeded", f.AppID)
	assert.Equal(t, secret, f.Secret)
	assert.Contains(t, f.banner, "o-payer (unlimited replies in 48 h)")
	assert.Contains(t, f.banner, "kf01@seeded (Seeded), kf02@seeded (Flag)")
	r := f.kefu(t, "", "accounts")
	assert.Equal(t, result{stdout: "kf01@seeded\tSeeded\t1001\t-\nkf02@seeded\tFlag\t1002\t-\n"}, r)

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
	r = kefuRun(t, "", []string{"KEFU_APPID=wx-other", "KEFU_SECRET=other-secret"}, []string{secret},
		"token", "--base-url", f.URL, "--appid", "wx-seeded", "--secret", secret)
	assert.Equal(t, 0, r.code, r)
}

func TestUpload(t *testing.T) {
	t.Parallel()
	f := startFake(t, "--user", "o1")
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		t.Helper()
		file := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(file, data, 0o600))
		return file
	}
	png := write("photo.png", append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 1000)...))
	mediaID := regexp.MustCompile(`^\S+\n$`)
	expiry := regexp.MustCompile(`^uploaded \S+ as (image|thumb); WeChat keeps it until \d{4}-\d\d-\d\dT\S+\n$`)

	// The id alone on stdout, as MEDIA=$(kefu upload ...) wants it.
	r := f.kefu(t, "", "upload", "--kind", "image", png)
	require.Equal(t, 0, r.code, r)
	require.Regexp(t, mediaID, r.stdout)
	assert.Regexp(t, expiry, r.stderr)
	id := strings.TrimSuffix(r.stdout, "\n")

	msg := `{"msgtype":"image","image":{"media_id":"` + id + `"}}`
	assert.Equal(t, result{stdout: "ok\n"}, f.kefu(t, msg, "send", "--to", "o1", "--json", "-"))
	status, body := f.admin(t, http.MethodGet, "/kefutest/messages?openid=o1", "")
	require.Equal(t, http.StatusOK, status, body)
	var got []kefu.Message
	require.NoError(t, json.Unmarshal([]byte(body), &got), body)
	require.Len(t, got, 1)
	assert.Equal(t, id, got[0].Image.MediaID)

	t.Run("flags after the file, thumb in a music message", func(t *testing.T) {
		jpg := write("cover.JPG", []byte("\xff\xd8\xff thumbnail"))
		r := f.kefu(t, "", "upload", jpg, "--kind", "thumb")
		require.Equal(t, 0, r.code, r)
		require.Regexp(t, mediaID, r.stdout)
		msg := `{"msgtype":"music","music":{"title":"t","thumb_media_id":"` + strings.TrimSpace(r.stdout) + `"}}`
		assert.Equal(t, result{stdout: "ok\n"}, f.kefu(t, msg, "send", "--to", "o1", "--json", "-"))
	})
	t.Run("stdin with --name", func(t *testing.T) {
		r := f.kefu(t, "GIF89a not really", "upload", "--kind", "image", "--name", "anim.gif", "-")
		require.Equal(t, 0, r.code, r)
		require.Regexp(t, mediaID, r.stdout)
		assert.Regexp(t, `^uploaded stdin \(as anim.gif\) as image; `, r.stderr)
	})
	t.Run("a text file is refused locally", func(t *testing.T) {
		txt := write("notes.txt", []byte("not an image"))
		want := "kefu upload: " + txt + ": file type must be one of .png, .jpeg, .jpg, .gif (by the filename's extension); nothing was uploaded\n"
		r := f.kefu(t, "", "upload", "--kind", "image", txt)
		assert.Equal(t, result{code: 1, stderr: want}, r)
		// Nothing listens there: the refusal never reached the network.
		r = kefuRun(t, "", f.env(), []string{f.Secret}, "upload", "--base-url", closedURL(t), "--kind", "image", txt)
		assert.Equal(t, result{code: 1, stderr: want}, r)
		// --name decides the type.
		r = f.kefu(t, "", "upload", "--kind", "voice", "--name", "song.wav", png)
		assert.Equal(t, 1, r.code, r)
		assert.Contains(t, r.stderr, "kefu upload: "+png+" (as song.wav): file type must be one of .amr, .mp3", r)
	})
	t.Run("too large, empty, missing, directory", func(t *testing.T) {
		big := write("big.jpg", make([]byte, 64<<10+1))
		r := f.kefu(t, "", "upload", "--kind", "thumb", big)
		assert.Equal(t, result{code: 1, stderr: "kefu upload: " + big + ": 65537 bytes: must be at most 64 KB; nothing was uploaded\n"}, r)
		empty := write("empty.png", nil)
		r = f.kefu(t, "", "upload", "--kind", "image", empty)
		assert.Equal(t, result{code: 1, stderr: "kefu upload: " + empty + ": must not be empty; nothing was uploaded\n"}, r)
		r = f.kefu(t, "", "upload", "--kind", "image", filepath.Join(dir, "missing.png"))
		assert.Equal(t, 1, r.code, r)
		assert.Contains(t, r.stderr, "no such file", r)
		r = f.kefu(t, "", "upload", "--kind", "image", dir)
		assert.Equal(t, result{code: 1, stderr: "kefu upload: " + dir + " is a directory, not a file\n"}, r)
	})
	t.Run("refused by WeChat", func(t *testing.T) {
		r := f.kefu(t, "", "upload", "--kind", "image", "--name", "x.png", "-") // empty stdin: size unknown
		assert.Equal(t, 1, r.code, r)
		assert.Empty(t, r.stdout, r)
		assert.Contains(t, r.stderr, "kefu upload: errcode 40009: invalid image size (rid ", r)
		assert.Contains(t, r.stderr, "see kefu help upload", r)
	})
	t.Run("bad secret", func(t *testing.T) {
		const wrong = "a-wrong-upload-secret"
		r := kefuRun(t, "", []string{"KEFU_APPID=" + f.AppID}, []string{wrong, f.Secret},
			"upload", "--base-url", f.URL, "--secret", wrong, "--kind", "image", png)
		assert.Equal(t, 1, r.code, r)
		assert.Contains(t, r.stderr, "kefu upload: errcode 40125", r)
	})
}

func TestAccounts(t *testing.T) {
	t.Parallel()
	f := startFake(t, "--account", "kf01@shop:Alice", "--account", "kf02@shop:小 王")
	assert.Contains(t, f.banner, "accounts:  kf01@shop (Alice), kf02@shop (小 王)")

	r := f.kefu(t, "", "accounts")
	assert.Equal(t, result{stdout: "kf01@shop\tAlice\t1001\t-\nkf02@shop\t小 王\t1002\t-\n"}, r)
	// No worker is online.
	r = f.kefu(t, "", "accounts", "--online")
	assert.Equal(t, result{stderr: "no customer-service account has a worker online\n"}, r)

	empty := startFake(t)
	assert.Contains(t, empty.banner, "accounts:  none")
	r = empty.kefu(t, "", "accounts")
	assert.Equal(t, result{stderr: "no customer-service accounts\n"}, r)

	const wrong = "a-wrong-accounts-secret"
	r = kefuRun(t, "", []string{"KEFU_APPID=" + f.AppID}, []string{wrong, f.Secret},
		"accounts", "--base-url", f.URL, "--secret", wrong)
	assert.Equal(t, 1, r.code, r)
	assert.Empty(t, r.stdout, r)
	assert.Contains(t, r.stderr, "kefu accounts: errcode 40125", r)
}

// TestAdminAPI scripts the fake over HTTP, as a test in another language
// would.
func TestAdminAPI(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	assert.Contains(t, f.banner, "admin:     POST "+f.URL+"/kefutest/interact")
	assert.Contains(t, f.banner, "/kefutest/advance")

	// Unknown until the user acts.
	r := f.kefu(t, "", "send", "--to", "o-new", "--text", "hi")
	assert.Equal(t, 1, r.code, r)
	assert.Contains(t, r.stderr, "errcode 40003", r)

	status, body := f.admin(t, http.MethodPost, "/kefutest/interact", `{"openid":"o-new","action":"UserMessage"}`)
	assert.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, okAnswer, body)
	assert.Equal(t, result{stdout: "ok\n"}, f.kefu(t, "", "send", "--to", "o-new", "--text", "您好 & <b>"))

	status, body = f.admin(t, http.MethodGet, "/kefutest/messages?openid=o-new", "")
	assert.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `[{"touser":"o-new","msgtype":"text","text":{"content":"您好 & <b>"}}]`, body)

	// Rotation kills the token every caller shares.
	before := f.kefu(t, "", "token", "--show")
	require.Equal(t, 0, before.code, before)
	status, body = f.admin(t, http.MethodPost, "/kefutest/rotate_tokens", "")
	assert.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, okAnswer, body)
	after := f.kefu(t, "", "token", "--show")
	require.Equal(t, 0, after.code, after)
	assert.NotEqual(t, before.stdout, after.stdout)

	// 49 hours later the window is closed.
	status, body = f.admin(t, http.MethodPost, "/kefutest/advance", `{"seconds":176400}`)
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `"errcode":0,"errmsg":"ok","now":`)
	r = f.kefu(t, "", "send", "--to", "o-new", "--text", "still there?")
	assert.Equal(t, 1, r.code, r)
	assert.Contains(t, r.stderr, "errcode 45015", r)
	assert.Contains(t, r.stderr, "wait for the user to act", r)

	status, body = f.admin(t, http.MethodPost, "/kefutest/interact", `{"openid":"o-new","action":"Wave"}`)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, `"errcode":47001`)
	assert.Contains(t, body, `unknown action \"Wave\"`)
}

func TestParseFlagsAnywhere(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args   []string
		kind   string
		others []string
	}{
		{[]string{"--kind", "image", "a.png"}, "image", []string{"a.png"}},
		{[]string{"a.png", "--kind", "image"}, "image", []string{"a.png"}},
		{[]string{"a.png", "-", "--kind=voice", "b"}, "voice", []string{"a.png", "-", "b"}},
		{[]string{"--kind", "video", "--", "--kind", "-x"}, "video", []string{"--kind", "-x"}},
		{[]string{"a", "--", "--kind"}, "", []string{"a", "--kind"}},
		{nil, "", nil},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		kind := fs.String("kind", "", "")
		others, err := parse(fs, tc.args)
		require.NoError(t, err, tc.args)
		assert.Equal(t, tc.kind, *kind, tc.args)
		assert.Equal(t, tc.others, others, tc.args)
	}
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
		{args: []string{"fake", "--account", "kf01@shop"}, want: `account "kf01@shop": want kf_account:nickname`},
		{args: []string{"fake", "--account", "kf01:Alice"}, want: "the kf_account must be prefix@account"},
		{args: []string{"fake", "--account", "prefix_is_long@shop:Alice"}, want: "the kf_account must be prefix@account"},
		{args: []string{"fake", "--account", "kf01@shop:12345678901234567"}, want: "the nickname must be 1 to 16 characters"},
		{args: []string{"upload", "photo.png"}, env: creds, want: "--kind is required: image, voice, video or thumb"},
		{args: []string{"upload", "--kind", "photo", "photo.png"}, env: creds, want: `--kind "photo": want image, voice, video or thumb`},
		{args: []string{"upload", "--kind", "image"}, env: creds, want: "no file to upload: give FILE, or - and --name"},
		{args: []string{"upload", "--kind", "image", "-"}, env: creds, stdin: "x", want: "--name is required with -"},
		{args: []string{"upload", "--kind", "image", "a.png", "b.png"}, env: creds, want: `unexpected argument "b.png"`},
		{args: []string{"upload", "a.png", "--kind", "image", "--bogus"}, env: creds, want: "flag provided but not defined: -bogus"},
		{args: []string{"upload", "--kind", "image", "a.png"}, want: "no credentials"},
		{args: []string{"accounts", "extra"}, env: creds, want: `unexpected argument "extra"`},
		{args: []string{"accounts", "--online", "--timeout", "-1s"}, env: creds, want: "--timeout must be positive"},
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
		{"help", "upload"}, {"upload", "--help"}, {"help", "accounts"}, {"accounts", "-h"},
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
	r := kefuRun(t, "", nil, nil, "help")
	for _, want := range []string{"\n  upload   ", "\n  accounts ", "MEDIA=$(kefu upload --kind image photo.png)"} {
		assert.Contains(t, r.stdout, want)
	}
	r = kefuRun(t, "", nil, nil, "help", "fake")
	for _, want := range []string{"--account", "POST /kefutest/interact", "POST /kefutest/advance", "POST /kefutest/rotate_tokens",
		"GET  /kefutest/messages?openid=o1", "UserMessage", "Payment", `"accounts":["kf01@shop:Alice"]`} {
		assert.Contains(t, r.stdout, want)
	}
	r = kefuRun(t, "", nil, nil, "help", "upload")
	for _, want := range []string{"image  .png .jpeg .jpg .gif   2 MB", "thumb  .jpg .jpeg             64 KB", "--name", "-kind KIND", "kefu upload --kind KIND FILE"} {
		assert.Contains(t, r.stdout, want)
	}
	r = kefuRun(t, "", nil, nil, "version")
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
		exited <- run(ctx, []string{"fake", "--addr", "127.0.0.1:0", "--user", "o1", "--appid", "wx-in", "--secret", "in-process-secret",
			"--account", "kf01@in:Inside"},
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
		if v := bannerField(line, "URL"); v != "" {
			url = v
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

	stdout.Reset()
	e.stdin = strings.NewReader("GIF89a in process")
	assert.Equal(t, exitOK, run(ctx, []string{"upload", "--base-url", url, "--kind", "image", "--name", "in.gif", "-"}, e), stderr.String())
	assert.Regexp(t, `^\S+\n$`, stdout.String())
	stdout.Reset()
	assert.Equal(t, exitOK, run(ctx, []string{"accounts", "--base-url", url}, e), stderr.String())
	assert.Equal(t, "kf01@in\tInside\t1001\t-\n", stdout.String())

	status, body := adminCall(t, url, http.MethodPost, "/kefutest/interact", `{"openid":"o2","action":"Follow"}`)
	assert.Equal(t, http.StatusOK, status, body)
	status, body = adminCall(t, url, http.MethodPost, "/kefutest/advance", `{"seconds":30}`)
	assert.Equal(t, http.StatusOK, status, body)
	stdout.Reset()
	e.stdin = strings.NewReader("")
	assert.Equal(t, exitOK, run(ctx, []string{"send", "--base-url", url, "--to", "o2", "--text", "followed"}, e), stderr.String())
	status, body = adminCall(t, url, http.MethodGet, "/kefutest/messages?openid=o2", "")
	assert.Equal(t, http.StatusOK, status, body)
	assert.JSONEq(t, `[{"touser":"o2","msgtype":"text","text":{"content":"followed"}}]`, body)

	cancel()
	var rest strings.Builder
	for line := range lines {
		rest.WriteString(line + "\n")
	}
	assert.Equal(t, exitOK, <-exited, rest.String())
	assert.Contains(t, rest.String(), "kefu fake: stopped")
}
