package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

// The in-process tests of kefu broadcast: run() against a kefutest server
// in the test. broadcast_process_test.go runs it as a child process, to
// kill and interrupt it.

// broadcastServer is a fake WeChat with n users who wrote to the account
// (5 messages each), named prefix0, prefix1...
func broadcastServer(t *testing.T, prefix string, n int, opts ...kefutest.ServerOption) (*kefutest.Server, []string) {
	t.Helper()
	srv := kefutest.NewServer(opts...)
	t.Cleanup(srv.Close)
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("%s%d", prefix, i)
		srv.Interact(users[i], kefutest.UserMessage)
	}
	return srv, users
}

// usersFile writes ids one a line to a file in dir and returns its path.
func usersFile(t *testing.T, dir string, ids []string) string {
	t.Helper()
	path := filepath.Join(dir, "users.txt")
	require.NoError(t, os.WriteFile(path, []byte("# recipients\n"+strings.Join(ids, "\n")+"\n"), 0o600))
	return path
}

// broadcastIn runs "kefu broadcast --base-url URL args..." in process with
// srv's credentials, and fails the test if any output holds the secret.
func broadcastIn(t *testing.T, srv *kefutest.Server, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr,
		getenv: vars{"KEFU_APPID": srv.AppID, "KEFU_SECRET": srv.AppSecret}.get}
	code := run(context.Background(), append([]string{"broadcast", "--base-url", srv.URL}, args...), e)
	r := result{stdout: stdout.String(), stderr: stderr.String(), code: code}
	assert.NotContains(t, r.stdout+r.stderr, srv.AppSecret, "the app secret was printed")
	return r
}

// readResults reads a --results file, by OpenID.
func readResults(t *testing.T, path string) map[string]resultLine {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	out := map[string]resultLine{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l resultLine
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), sc.Text())
		_, dup := out[l.OpenID]
		require.False(t, dup, "two lines for %s", l.OpenID)
		out[l.OpenID] = l
	}
	require.NoError(t, sc.Err())
	return out
}

// statuses counts the results by status.
func statuses(results map[string]resultLine) map[string]int {
	out := map[string]int{}
	for _, l := range results {
		out[l.Status]++
	}
	return out
}

// lastLine is the last line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestBroadcastText(t *testing.T) {
	t.Parallel()
	srv, users := broadcastServer(t, "o", 20)
	dir := t.TempDir()
	to, res := usersFile(t, dir, append(users, users[3])), filepath.Join(dir, "results.jsonl") // one listed twice
	r := broadcastIn(t, srv, "", "--json", "--to", to, "--text", `您好 <a href="https://example.com/?a=1&b=2">x</a>`, "--results", res)
	require.Equal(t, exitOK, r.code, r)

	for _, u := range users {
		msgs := srv.Messages(u)
		require.Len(t, msgs, 1, u)
		assert.Equal(t, `您好 <a href="https://example.com/?a=1&b=2">x</a>`, msgs[0].Text.Content)
	}
	results := readResults(t, res)
	assert.Len(t, results, 20)
	assert.Equal(t, map[string]int{"sent": 20}, statuses(results))
	assert.Equal(t, resultLine{OpenID: "o7", Status: "sent"}, results["o7"])

	var s summary
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &s), r.stdout)
	assert.Equal(t, summary{Total: 20, Sent: 20}, s)
	assert.Contains(t, r.stderr, "lists 1 OpenID(s) more than once")
	assert.Contains(t, r.stderr, "no --journal")
	assert.Contains(t, r.stderr, "sent 10, failed 0, unknown 0, skipped 0 (10/20)\n", "a line at every tenth")
	assert.Equal(t, "sent 20, failed 0, unknown 0, skipped 0", lastLine(r.stderr))
}

func TestBroadcastFile(t *testing.T) {
	t.Parallel()
	srv, users := broadcastServer(t, "f", 3)
	srv.AddMedia(kefutest.MediaImage, "m1")
	dir := t.TempDir()
	r := broadcastIn(t, srv, `{"touser":"someone-else","msgtype":"image","image":{"media_id":"m1"}}`,
		"--to", usersFile(t, dir, users), "--file", "-", "--journal", filepath.Join(dir, "j"))
	require.Equal(t, exitOK, r.code, r)
	for _, u := range users {
		msgs := srv.Messages(u)
		require.Len(t, msgs, 1, u)
		assert.Equal(t, kefu.MsgType("image"), msgs[0].MsgType)
		assert.Equal(t, u, msgs[0].ToUser)
	}
	assert.NotContains(t, r.stderr, "no --journal")
}

// TestBroadcastExitCodes: each class of outcome, and the worst wins:
// unknown (3) over refused (1) over not sent (4).
func TestBroadcastExitCodes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		setup  func(srv *kefutest.Server)
		code   int
		counts map[string]int
		line   string
	}{
		{"refused", func(srv *kefutest.Server) { srv.FailNext(kefutest.PathSend, 2, 40003) },
			exitRefused, map[string]int{"sent": 4, "failed": 2}, "sent 4, failed 2, unknown 0, skipped 0"},
		{"no window", func(srv *kefutest.Server) { srv.AddUser("closed0"); srv.AddUser("closed1") },
			exitRefused, map[string]int{"sent": 6, "failed": 2}, "sent 6, failed 2, unknown 0, skipped 0"},
		{"unknown", func(srv *kefutest.Server) { srv.DropNext(kefutest.PathSend, 1) },
			exitUnknown, map[string]int{"sent": 5, "unknown": 1}, "sent 5, failed 0, unknown 1, skipped 0"},
		{"unknown and refused", func(srv *kefutest.Server) {
			srv.FailNext(kefutest.PathSend, 1, 40003)
			srv.DropNext(kefutest.PathSend, 1)
		}, exitUnknown, map[string]int{"sent": 4, "failed": 1, "unknown": 1}, "sent 4, failed 1, unknown 1, skipped 0"},
		{"day's quota: the rest not attempted", func(srv *kefutest.Server) { srv.FailNext(kefutest.PathSend, 1, 45009) },
			exitNotSent, map[string]int{"not_attempted": 6}, "sent 0, failed 0, unknown 0, skipped 0, not attempted 6"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv, users := broadcastServer(t, "u", 6)
			c.setup(srv)
			if c.name == "no window" {
				users = append(users, "closed0", "closed1")
			}
			dir := t.TempDir()
			res := filepath.Join(dir, "results.jsonl")
			// One at a time, so that the faults meet the first sends.
			r := broadcastIn(t, srv, "", "--to", usersFile(t, dir, users), "--text", "hi", "--concurrency", "1", "--results", res)
			assert.Equal(t, c.code, r.code, r)
			assert.Equal(t, c.line, lastLine(r.stderr), r)
			results := readResults(t, res)
			assert.Equal(t, c.counts, statuses(results))
			for _, l := range results {
				if l.Status != "sent" {
					assert.NotEmpty(t, l.Error, l)
				}
			}
		})
	}
}

func TestBroadcastResultLines(t *testing.T) {
	t.Parallel()
	srv, users := broadcastServer(t, "r", 2)
	srv.AddUser("closed")
	srv.DropNext(kefutest.PathSend, 1)
	dir := t.TempDir()
	res := filepath.Join(dir, "results.jsonl")
	r := broadcastIn(t, srv, "", "--to", usersFile(t, dir, append(users, "closed")), "--text", "hi", "--concurrency", "1", "--results", res)
	require.Equal(t, exitUnknown, r.code, r)
	results := readResults(t, res)
	assert.Equal(t, map[string]int{"sent": 1, "unknown": 1, "failed": 1}, statuses(results))
	for _, u := range users {
		if l := results[u]; l.Status == "unknown" {
			assert.Contains(t, l.Error, "delivery unknown")
			assert.NotContains(t, l.Error, "access_token")
		} else {
			assert.Equal(t, resultLine{OpenID: u, Status: "sent"}, l)
		}
	}
	closed := results["closed"]
	assert.Equal(t, "failed", closed.Status)
	assert.Equal(t, 45015, closed.ErrCode)
	assert.Contains(t, closed.Error, "errcode 45015")
	assert.NotContains(t, closed.Error, "\n")
}

// TestBroadcastResume: the journal makes a second run skip what the first
// did, counting each recipient as the journal has it; another message with
// the same journal stops at once with exit 2.
func TestBroadcastResume(t *testing.T) {
	t.Parallel()
	srv, users := broadcastServer(t, "j", 5)
	srv.AddUser("closed")
	dir := t.TempDir()
	to, journal := usersFile(t, dir, append(users, "closed")), filepath.Join(dir, "run.journal")
	r := broadcastIn(t, srv, "", "--to", to, "--text", "hi", "--journal", journal)
	require.Equal(t, exitRefused, r.code, r)

	res := filepath.Join(dir, "results.jsonl")
	r = broadcastIn(t, srv, "", "--json", "--to", to, "--text", "hi", "--journal", journal, "--results", res)
	assert.Equal(t, exitRefused, r.code, "the refusal in the journal still counts: %s", r)
	assert.Equal(t, "sent 0, failed 0, unknown 0, skipped 6 (in the journal already: sent 5, failed 1)", lastLine(r.stderr))
	var s summary
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &s), r.stdout)
	assert.Equal(t, summary{Total: 6, Skipped: 6, Journal: map[string]int{"sent": 5, "failed": 1}}, s)
	assert.Equal(t, resultLine{OpenID: "j2", Status: "skipped", Reason: "journal: sent"}, readResults(t, res)["j2"])
	for _, u := range users {
		assert.Len(t, srv.Messages(u), 1, u)
	}

	r = broadcastIn(t, srv, "", "--to", to, "--text", "another message", "--journal", journal)
	assert.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, "kefu broadcast: --journal "+journal+" was written for another message")
	assert.Contains(t, r.stderr, "give a new --journal")
	assert.Equal(t, 6, srv.Calls(kefutest.PathSend), "nothing sent but the first run's 6")
}

func TestBroadcastUsageErrors(t *testing.T) {
	t.Parallel()
	creds := usageCreds()
	users := "o1\no2\n"
	testUsageErrors(t, []usageCase{
		{args: []string{"broadcast", "--text", "hi"}, env: creds, want: "--to is required"},
		{args: []string{"broadcast", "--to", "-"}, env: creds, want: "nothing to send: give --text or --file"},
		{args: []string{"broadcast", "--to", "-", "--text", "hi", "--file", "m.json"}, env: creds, want: "give --text or --file, not both"},
		{args: []string{"broadcast", "--to", "-", "--file", "-"}, env: creds, want: "--to and --file cannot both read stdin"},
		{args: []string{"broadcast", "--to", "-", "--json", "m.json"}, env: creds, want: "use --file m.json"},
		{args: []string{"broadcast", "--to", "-", "--text", "hi", "--concurrency", "0"}, env: creds, want: "--concurrency must be 1 to 64"},
		{args: []string{"broadcast", "--to", "-", "--text", "hi", "--rate", "-1"}, env: creds, want: "--rate must not be negative"},
		{args: []string{"broadcast", "--to", "-", "--text", "hi", "--keep-quota", "-1"}, env: creds, want: "--keep-quota must not be negative"},
		{args: []string{"broadcast", "--to", "-", "--text", "hi", "--redis", "127.0.0.1:6379"}, env: creds, want: "--redis needs --run-id"},
		{args: []string{"broadcast", "--to", "-", "--text", "hi", "--run-id", "r1"}, env: creds, want: "--run-id goes with --redis"},
		{args: []string{"broadcast", "--to", "-", "--text", "hi", "--redis", "h:1", "--run-id", "r1", "--journal", "j"}, env: creds,
			want: "give --journal or --redis, not both"},
		{args: []string{"broadcast", "--to", "-", "--text", "hi"}, want: "no credentials"},
		{args: []string{"broadcast", "--to", "-", "--text", "hi", "--fallback-template", "T1"}, env: creds, stdin: users,
			want: "--fallback-template needs --fallback-data"},
		{args: []string{"broadcast", "--to", "-", "--text", "hi", "--fallback-data", `{"a":"b"}`}, env: creds, stdin: users,
			want: "--fallback-data goes with --fallback-template"},
		{args: []string{"broadcast", "--to", "-", "--text", "hi", "--fallback-template", "T1", "--fallback-data", `{"a":""}`}, env: creds,
			stdin: users, want: `--fallback-data: "a": the value must not be empty`},
		{args: []string{"broadcast", "--to", "-", "--text", "hi", "--fallback-template", "T1", "--fallback-data", `[1]`}, env: creds,
			stdin: users, want: "--fallback-data: want a JSON object"},
	})
}

// TestBroadcastNotSent: input the command cannot send: exit 4, nothing
// sent.
func TestBroadcastNotSent(t *testing.T) {
	t.Parallel()
	srv, _ := broadcastServer(t, "n", 1)
	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"--to", "-", "--text", "hi"}, "stdin: no OpenIDs"},
		{"# only a comment\n\n", []string{"--to", "-", "--text", "hi"}, "stdin: no OpenIDs"},
		{"n0\nn1 n2\n", []string{"--to", "-", "--text", "hi"}, `stdin:2: not an OpenID: want one a line, got "n1 n2"`},
		{"n0\n", []string{"--to", "-", "--text", ""}, "invalid message: text.content"},
		{"", []string{"--to", filepath.Join(t.TempDir(), "missing.txt"), "--text", "hi"}, "no such file"},
	} {
		r := broadcastIn(t, srv, c.stdin, c.args...)
		assert.Equal(t, exitNotSent, r.code, r)
		assert.Contains(t, r.stderr, c.want, r)
	}
	assert.Zero(t, srv.Calls(kefutest.PathSend))
}

func TestReadOpenIDs(t *testing.T) {
	t.Parallel()
	users, dups, err := readOpenIDs("in", strings.NewReader("# header\n o1 \r\n\no2\n#o3\no1\no4"))
	require.NoError(t, err)
	assert.Equal(t, []string{"o1", "o2", "o4"}, users)
	assert.Equal(t, 1, dups)
	_, _, err = readOpenIDs("in", strings.NewReader("o1,Alice\n"))
	assert.EqualError(t, err, `in:1: not an OpenID: want one a line, got "o1,Alice"`)
	_, _, err = readOpenIDs("in", strings.NewReader(strings.Repeat("x", maxOpenID+1)))
	assert.ErrorContains(t, err, "in:1: not an OpenID")
}

func TestParseTemplateData(t *testing.T) {
	t.Parallel()
	data, err := parseTemplateData(`{"thing1":"shipped","time2":{"value":"06-01","color":"#173177"}}`)
	require.NoError(t, err)
	assert.Equal(t, map[string]kefu.TemplateValue{"thing1": {Value: "shipped"}, "time2": {Value: "06-01", Color: "#173177"}}, data)
	for in, want := range map[string]string{
		`{}`:                        "at least one key",
		`null`:                      "want a JSON object",
		`{"a":1}`:                   `"a": want a string or`,
		`{"a":{"value":"x","y":1}}`: `"a": want a string or`,
		`{"a":{"color":"#000000"}}`: `"a": the value must not be empty`,
	} {
		_, err := parseTemplateData(in)
		assert.ErrorContains(t, err, want, in)
	}
}

// TestBroadcastLineProgress: without a terminal, a line every tenth of the
// run and every 2 s between.
func TestBroadcastLineProgress(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	clock := time.Unix(1e9, 0)
	p := &lineProgress{w: &out, total: 100, last: clock}
	p.now = func() time.Time { return clock }
	p.every = 2 * time.Second
	tl := newTally(100)
	for i := range 25 {
		tl.add(kefu.SendResult{Index: i, Status: kefu.StatusSent})
		p.update(tl)
	}
	assert.Equal(t, "sent 10, failed 0, unknown 0, skipped 0 (10/100)\nsent 20, failed 0, unknown 0, skipped 0 (20/100)\n", out.String())
	out.Reset()
	clock = clock.Add(2 * time.Second)
	tl.add(kefu.SendResult{Index: 25, Status: kefu.StatusSkipped, Reason: "journal: sent"})
	p.update(tl)
	assert.Equal(t, "sent 25, failed 0, unknown 0, skipped 1 (26/100)\n", out.String())
}

// TestBroadcastFallback: recipients whose window is closed get the template
// instead, once across resumed runs; they count as reached (exit 0), and a
// template WeChat refuses as refused (exit 1).
func TestBroadcastFallback(t *testing.T) {
	t.Parallel()
	srv, users := broadcastServer(t, "t", 3)
	srv.AddUser("closed0")
	srv.AddUser("closed1")
	srv.AddTemplate("T1")
	dir := t.TempDir()
	to, journal, res := usersFile(t, dir, append(users, "closed0", "closed1")), filepath.Join(dir, "j"), filepath.Join(dir, "results.jsonl")
	args := []string{"--to", to, "--text", "hi", "--journal", journal, "--results", res,
		"--fallback-template", "T1", "--fallback-data", `{"thing1":"sale","time2":{"value":"06-01","color":"#173177"}}`}
	r := broadcastIn(t, srv, "", args...)
	require.Equal(t, exitOK, r.code, r)
	assert.Equal(t, "sent 3, failed 2, unknown 0, skipped 0; fallback: sent 2", lastLine(r.stderr))
	for _, u := range []string{"closed0", "closed1"} {
		tpl := srv.Templates(u)
		require.Len(t, tpl, 1, u)
		assert.Equal(t, "T1", tpl[0].Message.TemplateID)
		assert.Equal(t, kefu.TemplateValue{Value: "06-01", Color: "#173177"}, tpl[0].Message.Data["time2"])
		assert.Len(t, tpl[0].Message.ClientMsgID, 32, "WeChat's idempotency key")
		assert.Empty(t, srv.Messages(u))
	}
	l := readResults(t, res)["closed0"]
	assert.Equal(t, "failed", l.Status)
	assert.Equal(t, 45015, l.ErrCode)
	require.NotNil(t, l.Fallback)
	assert.Equal(t, "sent", l.Fallback.Status)

	r = broadcastIn(t, srv, "", args...)
	require.Equal(t, exitOK, r.code, r)
	assert.Equal(t, "sent 0, failed 0, unknown 0, skipped 5 (in the journal already: sent 3, failed 2); fallback: skipped 2", lastLine(r.stderr))
	assert.Len(t, srv.Templates("closed0"), 1, "the journal keeps the fallback from going twice")

	srv.AddUser("closed2")
	r = broadcastIn(t, srv, "closed2\n", "--to", "-", "--text", "hi", "--fallback-template", "T-unknown", "--fallback-data", `{"a":"b"}`)
	assert.Equal(t, exitRefused, r.code, r)
	assert.Equal(t, "sent 0, failed 1, unknown 0, skipped 0; fallback: failed 1", lastLine(r.stderr))

	r = broadcastIn(t, srv, "closed2\n", "--to", "-", "--text", "hi", "--fallback-template", "T1", "--fallback-data", `{"a":{"value":"b","color":"red"}}`)
	assert.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, "--fallback-template, --fallback-data: invalid message: data.a.color")
}

// TestBroadcastBar: on a terminal the progress is a bar with the counts,
// the rate and the count done, cleared at the end for the summary.
func TestBroadcastBar(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	p := newBar(&out, 4)
	tl := newTally(4)
	for i, s := range []kefu.SendStatus{kefu.StatusSent, kefu.StatusFailed, kefu.StatusSent, kefu.StatusUnknown} {
		tl.add(kefu.SendResult{Index: i, Status: s})
		p.update(tl)
	}
	p.done()
	assert.Contains(t, out.String(), "sent 2, failed 1, unknown 1, skipped 0")
	assert.Contains(t, out.String(), "(4/4")
	assert.Contains(t, out.String(), "msg/s")
}
