package main

import (
	"flag"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

// TestFlagUsageErrors checks the flag parsing and the WeChat flags that
// the commands share, through the commands.
func TestFlagUsageErrors(t *testing.T) {
	t.Parallel()
	creds := usageCreds()
	testUsageErrors(t, []usageCase{
		{args: []string{"send", "--bogus"}, env: creds, want: "flag provided but not defined: -bogus"},
		{args: []string{"upload", "a.png", "--kind", "image", "--bogus"}, env: creds, want: "flag provided but not defined: -bogus"},
		{args: []string{"token", "--timeout", "soon"}, env: creds, want: `invalid value "soon" for flag -timeout`},
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
	assert.Contains(t, r.stderr, `kefu send: invalid value "5" for flag -timeout: "5" has no unit: use 5s (or ms, m, h)`, r)
	r = kefuRun(t, "", []string{"KEFU_APPID=wxapp"}, []string{"s3cr3t-value"}, "send", "--secret", "s3cr3t-value", "--to", "o1", "--text", "hi", "--timeout", "soon")
	assert.Contains(t, r.stderr, `"soon" is not a duration: use e.g. 5s, 500ms or 2m`, r)
}
