package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFlagsAnywhere: flags go before or after the arguments, and the global
// ones before or after the command; "--" ends the flags.
func TestFlagsAnywhere(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args    []string
		kind    string
		others  []string
		timeout time.Duration
	}{
		{[]string{"t", "--kind", "image", "a.png"}, "image", []string{"a.png"}, 30 * time.Second},
		{[]string{"t", "a.png", "--kind", "image"}, "image", []string{"a.png"}, 30 * time.Second},
		{[]string{"t", "a.png", "-", "--kind=voice", "b"}, "voice", []string{"a.png", "-", "b"}, 30 * time.Second},
		{[]string{"t", "--kind", "video", "--", "--kind", "-x"}, "video", []string{"--kind", "-x"}, 30 * time.Second},
		{[]string{"t", "a", "--", "--kind"}, "", []string{"a", "--kind"}, 30 * time.Second},
		{[]string{"--timeout", "5s", "t", "a"}, "", []string{"a"}, 5 * time.Second},
		{[]string{"--verbose", "t", "--timeout=1m"}, "", []string{}, time.Minute},
		{[]string{"t"}, "", []string{}, 30 * time.Second},
	} {
		e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
		root := newRoot(e)
		var kind string
		var others []string
		var timeout time.Duration
		c := &cobra.Command{Use: "t", RunE: func(c *cobra.Command, args []string) error {
			others = args
			timeout, _ = c.Flags().GetDuration("timeout")
			return nil
		}}
		c.Flags().StringVar(&kind, "kind", "", "")
		root.AddCommand(c)
		root.SetArgs(tc.args)
		require.NoError(t, root.Execute(), tc.args)
		assert.Equal(t, tc.kind, kind, tc.args)
		assert.Equal(t, tc.others, others, tc.args)
		assert.Equal(t, tc.timeout, timeout, tc.args)
	}
}

// TestGlobalFlagsBeforeTheCommand: kefu --base-url URL send ... works as
// kefu send ... --base-url URL.
func TestGlobalFlagsBeforeTheCommand(t *testing.T) {
	t.Parallel()
	f := startFake(t, "--user", "o1")
	r := kefuRun(t, "", nil, []string{f.Secret}, "--base-url", f.URL, "--appid", f.AppID, "--secret", f.Secret, "--verbose",
		"send", "--to", "o1", "--text", "hi")
	assert.Equal(t, result{stdout: "ok\n", stderr: r.stderr}, r)
	assert.Contains(t, r.stderr, "outcome=ok", r)
	r = kefuRun(t, "", append(f.env(), "KEFU_BASE_URL="+f.URL), []string{f.Secret}, "--json", "typing", "--to", "o1")
	assert.Equal(t, result{stdout: "{\"ok\":true}\n"}, r)
	r = kefuRun(t, "", f.env(), []string{f.Secret}, "send", "--to", "o1", "--base-url", f.URL, "--text", "hi", "--json")
	assert.Equal(t, 0, r.code, r)
	assert.Contains(t, r.stdout, `{"msgid":`, r)
}

// TestFlagUsageErrors checks the flag parsing and the WeChat flags that
// the commands share, through the commands.
func TestFlagUsageErrors(t *testing.T) {
	t.Parallel()
	creds := usageCreds()
	testUsageErrors(t, []usageCase{
		{args: []string{"send", "--bogus"}, env: creds, want: "unknown flag: --bogus"},
		{args: []string{"upload", "a.png", "--kind", "image", "--bogus"}, env: creds, want: "unknown flag: --bogus"},
		{args: []string{"token", "--timeout", "soon"}, env: creds, want: `invalid argument "soon" for "--timeout" flag`},
		{args: []string{"send", "--to", "o1", "--text", "hi"}, want: "no credentials: set KEFU_APPID and KEFU_SECRET"},
		{args: []string{"upload", "--kind", "image", "a.png"}, want: "no credentials"},
		{args: []string{"send", "--to", "o1", "--text", "hi"}, env: creds[:1], want: "no app secret"},
		{args: []string{"send", "--to", "o1", "--text", "hi", "--timeout", "0s"}, env: creds, want: "--timeout must be positive"},
		{args: []string{"accounts", "--online", "--timeout", "-1s"}, env: creds, want: "--timeout must be positive"},
		{args: []string{"send", "--to", "o1", "--text", "hi", "--base-url", "ftp://x"}, env: creds, want: "--base-url must be"},
	})
}

// TestVerbose: --verbose logs each attempt to stderr, with no secret.
func TestVerbose(t *testing.T) {
	t.Parallel()
	f := startFake(t, "--user", "o1")
	r := f.kefu(t, "", "send", "--verbose", "--to", "o1", "--text", "hi")
	assert.Equal(t, 0, r.code, r)
	assert.Equal(t, "ok\n", r.stdout, r)
	assert.Contains(t, r.stderr, `msg="kefu: attempt" path=/cgi-bin/stable_token attempt=1 outcome=ok`, r)
	assert.Contains(t, r.stderr, `msg="kefu: attempt" path=/cgi-bin/message/custom/send attempt=1 outcome=ok`, r)
	assert.NotContains(t, r.stderr, f.Secret, r)
	assert.NotContains(t, r.stderr, "access_token", r)
	quiet := f.kefu(t, "", "send", "--to", "o1", "--text", "hi")
	assert.Empty(t, quiet.stderr, "silent without --verbose")
}

// TestDurationSaysTheUnit: a --timeout without a unit says which to add.
func TestDurationSaysTheUnit(t *testing.T) {
	t.Parallel()
	r := kefuRun(t, "", []string{"KEFU_APPID=wxapp"}, []string{"s3cr3t-value"}, "send", "--secret", "s3cr3t-value", "--to", "o1", "--text", "hi", "--timeout", "5")
	assert.Equal(t, 2, r.code, r)
	assert.Contains(t, r.stderr, `kefu send: invalid argument "5" for "--timeout" flag: "5" has no unit: use 5s (or ms, m, h)`, r)
	r = kefuRun(t, "", []string{"KEFU_APPID=wxapp"}, []string{"s3cr3t-value"}, "send", "--secret", "s3cr3t-value", "--to", "o1", "--text", "hi", "--timeout", "soon")
	assert.Contains(t, r.stderr, `"soon" is not a duration: use e.g. 5s, 500ms or 2m`, r)
}
