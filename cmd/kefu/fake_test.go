package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
		r := f.kefu(t, msg, "send", "--to", "o-user", "--file", "-")
		assert.Equal(t, result{stdout: "ok\n"}, r, msg)
	}
	// Flags win over the environment.
	r = kefuRun(t, "", []string{"KEFU_APPID=wx-other", "KEFU_SECRET=other-secret"}, []string{secret},
		"token", "--base-url", f.URL, "--appid", "wx-seeded", "--secret", secret)
	assert.Equal(t, 0, r.code, r)
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
	assert.Equal(t, 4, r.code, r)
	assert.Contains(t, r.stderr, "kefu fake: listen tcp "+ln.Addr().String(), r)
	assert.Contains(t, r.stderr, "address already in use", r)
	assert.Contains(t, r.stderr, "pass --addr 127.0.0.1:0 for any free port", r)
}

// TestFakePublicURL: --public-url is the URL the banner, --json and
// --ready-file give; the fake still listens on --addr.
func TestFakePublicURL(t *testing.T) {
	t.Parallel()
	listenURL := closedURL(t) // a free port, for --addr
	const public = "http://kefu-fake.internal:8080"
	f := startFake(t, "--addr", strings.TrimPrefix(listenURL, "http://"), "--public-url", public+"/", "--account", "kf01@shop:Alice")
	assert.Equal(t, public, f.URL)
	assert.Contains(t, f.banner, "admin:     POST "+public+"/kefutest/interact", f.banner)
	assert.Contains(t, f.banner, "--base-url "+public+" --to OPENID", f.banner)
	assert.NotContains(t, f.banner, listenURL, f.banner)
	r := kefuRun(t, "", f.env(), []string{f.Secret}, "accounts", "--base-url", listenURL)
	assert.Equal(t, result{stdout: "kf01@shop\tAlice\t1001\t-\n"}, r)

	file := filepath.Join(t.TempDir(), "ready.json")
	j := startFake(t, "--json", "--public-url", public, "--ready-file", file)
	assert.Equal(t, public, j.URL)
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.JSONEq(t, j.banner, string(b))
}

func TestFakeUsageErrors(t *testing.T) {
	t.Parallel()
	testUsageErrors(t, []usageCase{
		{args: []string{"fake", "--media", "image"}, want: `--media "image": want kind:id`},
		{args: []string{"fake", "--media", "photo:p1"}, want: `unknown media kind "photo"`},
		{args: []string{"fake", "--appid", "wx1"}, want: "give both an app id and a secret"},
		{args: []string{"fake", "--account", "kf01@shop"}, want: `account "kf01@shop": want kf_account:nickname`},
		{args: []string{"fake", "--account", "kf01:Alice"}, want: "the kf_account must be prefix@account"},
		{args: []string{"fake", "--account", "prefix_is_long@shop:Alice"}, want: "the kf_account must be prefix@account"},
		{args: []string{"fake", "--account", "kf01@shop:12345678901234567"}, want: "the nickname must be 1 to 16 characters"},
		{args: []string{"fake", "--public-url", "kefu-fake:8080"}, want: `--public-url must be an absolute http or https URL, got "kefu-fake:8080"`},
	})
}

func TestFakeHelp(t *testing.T) {
	t.Parallel()
	r := kefuRun(t, "", nil, nil, "help", "fake")
	for _, want := range []string{"--account", "POST /kefutest/interact", "POST /kefutest/advance", "POST /kefutest/rotate_tokens",
		"GET  /kefutest/messages?openid=o1", "UserMessage", "Payment", `"accounts":["kf01@shop:Alice"]`} {
		assert.Contains(t, r.stdout, want)
	}
}

// TestFakeJSONForHarnesses: --json prints the URL and credentials as one
// JSON line and nothing else on stdout, --ready-file writes the same, and a
// --follower has no window: a send gets 45015.
func TestFakeJSONForHarnesses(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "ready.json")
	f := startFake(t, "--json", "--ready-file", file, "--follower", "o-follower", "--user", "o-writer")
	var got struct{ URL, AppID, Secret string }
	require.NoError(t, json.Unmarshal([]byte(f.banner), &got))
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+$`, got.URL)
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.JSONEq(t, f.banner, string(b))

	r := f.kefu(t, "", "send", "--to", "o-follower", "--text", "hi")
	assert.Equal(t, 1, r.code, r)
	assert.Contains(t, r.stderr, "errcode 45015", r)
	assert.Equal(t, result{stdout: "ok\n"}, f.kefu(t, "", "send", "--to", "o-writer", "--text", "hi"))
}
