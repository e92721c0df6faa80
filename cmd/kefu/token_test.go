package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

	// --json: the expiry, and the token only with --show.
	var info map[string]any
	r := f.kefu(t, "", "token", "--json")
	require.Equal(t, 0, r.code, r)
	assert.Empty(t, r.stderr, r)
	assert.NotContains(t, r.stdout, token)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &info), r)
	assert.Len(t, info, 2, r)
	assert.InDelta(t, 7200, info["expires_in_seconds"], 5, r)
	expires, err := time.Parse(time.RFC3339, info["expires_at"].(string))
	require.NoError(t, err, r)
	assert.WithinDuration(t, time.Now().Add(2*time.Hour), expires, 10*time.Second)
	r = f.kefu(t, "", "token", "--json", "--show")
	require.Equal(t, 0, r.code, r)
	assert.Empty(t, r.stderr, r)
	info = nil
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &info), r)
	assert.Equal(t, token, info["access_token"], r)
	assert.Len(t, info, 3, r)

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
	r = kefuRun(t, "", f.env(), []string{f.Secret}, "token", "--classic", "--base-url", closed)
	assert.Equal(t, 4, r.code, r)
	assert.Contains(t, r.stderr, "kefu token: GET "+closed+"/cgi-bin/token: ", r)

	// A base URL with user:password: the password never shows.
	hostPort := strings.TrimPrefix(closedURL(t), "http://")
	for _, tc := range []struct{ flag, request string }{
		{"--classic", "GET http://user:xxxxx@" + hostPort + "/cgi-bin/token"},
		{"--classic=false", "POST http://user:xxxxx@" + hostPort + "/cgi-bin/stable_token"},
	} {
		r := kefuRun(t, "", f.env(), []string{f.Secret}, "token", tc.flag, "--base-url", "http://user:pw@"+hostPort)
		assert.Equal(t, 4, r.code, r)
		assert.Contains(t, r.stderr, "kefu token: "+tc.request+": ", r)
		assert.NotContains(t, r.stdout+r.stderr, "pw@", r)
	}
}
