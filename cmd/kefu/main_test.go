package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
)

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	testUsageErrors(t, []usageCase{
		{args: nil, want: "Usage:\n  kefu COMMAND"},
		{args: []string{"nosuch"}, want: `kefu: unknown command "nosuch"`},
		{args: []string{"help", "nosuch"}, want: `unknown command "nosuch"`},
	})
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
	assert.Equal(t, exitOK, run(ctx, []string{"send", "--base-url", url, "--file", "-"}, e), stderr.String())
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

// TestVersionFlags: kefu --version and -v print what kefu version does.
func TestVersionFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-v"}, {"--version"}, {"version"}} {
		r := kefuRun(t, "", nil, nil, args...)
		assert.Equal(t, result{stdout: "kefu " + kefu.Version + "\n"}, r, args)
	}
}

// TestCompletion: kefu completion prints cobra's scripts.
func TestCompletion(t *testing.T) {
	t.Parallel()
	r := kefuRun(t, "", nil, nil, "completion", "bash")
	assert.Equal(t, 0, r.code, r)
	assert.True(t, strings.HasPrefix(r.stdout, "# bash completion"), r.stdout[:min(len(r.stdout), 80)])
	for _, shell := range []string{"zsh", "fish"} {
		r := kefuRun(t, "", nil, nil, "completion", shell)
		assert.Equal(t, 0, r.code, r)
		assert.Contains(t, r.stdout, "kefu", shell)
	}
	// The script asks kefu itself for the commands and flags.
	r = kefuRun(t, "", nil, nil, "__complete", "se")
	assert.Contains(t, r.stdout, "send\t", r)
	assert.Contains(t, r.stdout, "sessions\t", r)
	r = kefuRun(t, "", nil, nil, "__complete", "send", "--te")
	assert.Contains(t, r.stdout, "--text\t", r)
}

// TestDidYouMean: a mistyped command or flag is a usage error that names
// the closest ones.
func TestDidYouMean(t *testing.T) {
	t.Parallel()
	testUsageErrors(t, []usageCase{
		{args: []string{"sned", "--to", "o1"}, want: "kefu: unknown command \"sned\" for \"kefu\"\n\nDid you mean this?\n\tsend\n"},
		{args: []string{"acounts"}, want: "Did you mean this?\n\taccounts\n"},
		{args: []string{"send", "--to", "o1", "--txt", "hi"}, want: "kefu send: unknown flag: --txt\n\nDid you mean this?\n\t--text\n"},
		{args: []string{"--base-ur", "http://x", "token"}, want: "unknown flag: --base-ur\n\nDid you mean this?\n\t--base-url\n"},
		{args: []string{"send", "-to", "o1"}, want: "Did you mean this?\n\t--to\n"},
		{args: []string{"fake", "--timeout", "3s"}, want: "kefu fake: --timeout goes with the commands that call WeChat"},
	})
	r := kefuRun(t, "", nil, nil, "send", "--xyzzy")
	assert.NotContains(t, r.stderr, "Did you mean", r)
}

// TestWorstExit: a run of many sends exits with its most severe outcome:
// unknown (3) over refused (1) over not sent (4) over done (0).
func TestWorstExit(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		codes []int
		want  int
	}{
		{nil, exitOK},
		{[]int{exitOK, exitOK}, exitOK},
		{[]int{exitOK, exitNotSent}, exitNotSent},
		{[]int{exitNotSent, exitRefused, exitOK}, exitRefused},
		{[]int{exitRefused, exitUnknown, exitNotSent}, exitUnknown},
		{[]int{exitUnknown, exitRefused}, exitUnknown},
		{[]int{exitUnknown, exitUsage}, exitUsage},
		{[]int{exitUsage, exitInterrupted, exitUnknown}, exitInterrupted},
		{[]int{exitInterrupted, 77}, 77}, // unknown to it: the most severe
	} {
		assert.Equal(t, c.want, worstExit(c.codes...), "%v", c.codes)
	}
}
