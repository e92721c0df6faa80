package main

import (
	"context"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
)

func TestSessions(t *testing.T) {
	t.Parallel()
	f := startFake(t, "--account", "kf01@shop:Alice", "--user", "o1", "--user", "o2")
	rfc3339 := `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)`

	// Nobody is served or waits yet.
	assert.Equal(t, result{stderr: "kf01@shop serves no user\n"}, f.kefu(t, "", "sessions", "--account", "kf01@shop"))
	assert.Equal(t, result{stdout: "[]\n"}, f.kefu(t, "", "sessions", "--account", "kf01@shop", "--json"))
	assert.Equal(t, result{stderr: "o1 has no session\n"}, f.kefu(t, "", "sessions", "--user", "o1"))
	assert.Equal(t, result{stdout: `{"kf_account":"","openid":"o1"}` + "\n"}, f.kefu(t, "", "sessions", "--user", "o1", "--json"))
	assert.Equal(t, result{stderr: "0 waiting\n"}, f.kefu(t, "", "sessions", "--waiting"))
	assert.Equal(t, result{stdout: `{"count":0,"waiting":[]}` + "\n"}, f.kefu(t, "", "sessions", "--waiting", "--json"))

	// o2 waits; Alice comes online and takes o1.
	for _, call := range [][2]string{
		{"/kefutest/add_waiting", `{"openid":"o2"}`},
		{"/kefutest/set_online", `{"kf_account":"kf01@shop","online":true}`},
	} {
		status, body := f.admin(t, http.MethodPost, call[0], call[1])
		require.Equal(t, http.StatusOK, status, body)
	}
	client, err := kefu.New(f.AppID, f.Secret, kefu.WithBaseURL(f.URL))
	require.NoError(t, err)
	defer client.CloseIdleConnections()
	require.NoError(t, client.OpenSession(context.Background(), "kf01@shop", "o1"))

	r := f.kefu(t, "", "sessions", "--account", "kf01@shop")
	assert.Equal(t, 0, r.code, r)
	assert.Regexp(t, regexp.MustCompile(`^o1\t`+rfc3339+`\n$`), r.stdout)
	r = f.kefu(t, "", "sessions", "--account", "kf01@shop", "--json")
	assert.Regexp(t, `^\[\{"kf_account":"kf01@shop","openid":"o1","created":"`+rfc3339+`"\}\]\n$`, r.stdout, r)
	r = f.kefu(t, "", "sessions", "--user", "o1")
	assert.Regexp(t, `^kf01@shop\to1\t`+rfc3339+`\n$`, r.stdout, r)
	r = f.kefu(t, "", "sessions", "--user", "o1", "--json")
	assert.Regexp(t, `^\{"kf_account":"kf01@shop","openid":"o1","created":"`+rfc3339+`"\}\n$`, r.stdout, r)
	r = f.kefu(t, "", "sessions", "--waiting")
	assert.Equal(t, 0, r.code, r)
	assert.Regexp(t, `^o2\t`+rfc3339+`\n$`, r.stdout)
	assert.Equal(t, "1 waiting\n", r.stderr)
	r = f.kefu(t, "", "sessions", "--waiting", "--json")
	assert.Regexp(t, `^\{"count":1,"waiting":\[\{"openid":"o2","latest_time":"`+rfc3339+`"\}\]\}\n$`, r.stdout, r)

	// An unknown account is WeChat's refusal.
	r = f.kefu(t, "", "sessions", "--account", "kf09@shop", "--json")
	assert.Equal(t, 1, r.code, r)
	assert.Empty(t, r.stdout, r)
	assert.Contains(t, r.stderr, "kefu sessions: errcode ", r)
}

func TestSessionsUsageErrors(t *testing.T) {
	t.Parallel()
	creds := usageCreds()
	testUsageErrors(t, []usageCase{
		{args: []string{"sessions"}, env: creds, want: "give exactly one of --account KF, --user OPENID and --waiting"},
		{args: []string{"sessions", "--account", "kf01@shop", "--waiting"}, env: creds, want: "give exactly one of"},
		{args: []string{"sessions", "--user", "o1", "extra"}, env: creds, want: `unexpected argument "extra"`},
	})
}
