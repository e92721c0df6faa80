package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu/callback"
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

// TestFakeCallback: kefu fake pushes a user's message to a service's
// callback URL (a callback.Handler here, in safe mode) with the Token and
// key from the environment, and the passive reply shows among the messages.
func TestFakeCallback(t *testing.T) {
	t.Parallel()
	const (
		token = "fakeToken42"
		key   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
		appID = "wx-callback"
	)
	h, err := callback.NewHandler(callback.Config{Token: token, AppID: appID, EncodingAESKey: key, RequireEncryption: true},
		func(_ context.Context, m *callback.Message) (callback.Reply, error) {
			return callback.ReplyText("re: " + m.Content), nil
		})
	require.NoError(t, err)
	svc := httptest.NewServer(h)
	defer svc.Close()

	f := startFakeEnv(t, []string{"KEFU_TOKEN=" + token, "KEFU_AES_KEY=" + key},
		"--json", "--callback", svc.URL+"/wx", "--appid", appID, "--secret", "callback-secret", "--callback-timeout", "2s")
	var ready struct {
		Callback struct{ URL, Mode string } `json:"callback"`
	}
	require.NoError(t, json.Unmarshal([]byte(f.banner), &ready))
	assert.Equal(t, svc.URL+"/wx", ready.Callback.URL)
	assert.Equal(t, "safe", ready.Callback.Mode, "a key makes safe the default")
	assert.Regexp(t, `^gh_[0-9a-f]{12}$`, gjson(t, f.banner, "callback", "original_id"))
	assert.NotContains(t, f.banner, token)
	assert.NotContains(t, f.banner, key)

	status, body := f.admin(t, http.MethodPost, "/kefutest/say", `{"openid":"o-cb","text":"hello"}`)
	require.Equal(t, http.StatusOK, status, body)
	var said struct {
		Attempts    []struct{ Status int }   `json:"attempts"`
		Reply       struct{ Encrypted bool } `json:"reply"`
		Unavailable bool                     `json:"unavailable"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &said))
	assert.False(t, said.Unavailable, body)
	assert.True(t, said.Reply.Encrypted, body)
	require.Len(t, said.Attempts, 1)
	assert.Equal(t, 200, said.Attempts[0].Status)

	status, body = f.admin(t, http.MethodGet, "/kefutest/messages?openid=o-cb", "")
	assert.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `[{"touser":"o-cb","msgtype":"text","text":{"content":"re: hello"},"passive":true}]`, body)
	// The passive reply spent nothing: all 5 sends are left.
	for i := range 5 {
		r := f.kefu(t, "", "send", "--to", "o-cb", "--text", fmt.Sprint("reply ", i))
		require.Equal(t, 0, r.code, r)
	}
	f.stop(t, syscall.SIGTERM)
	assert.NotContains(t, f.stderr.String(), token)
	require.NoError(t, h.Close(context.Background()))
}

// gjson reads a string at a path of object keys in a JSON document.
func gjson(t *testing.T, doc string, keys ...string) string {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal([]byte(doc), &v))
	for _, k := range keys {
		m, ok := v.(map[string]any)
		require.True(t, ok, "%s: not an object at %q", doc, k)
		v = m[k]
	}
	s, _ := v.(string)
	return s
}

func TestFakeCallbackUsageErrors(t *testing.T) {
	t.Parallel()
	const cb = "http://127.0.0.1:9/wx"
	tokenEnv := []string{"KEFU_TOKEN=tok123"}
	testUsageErrors(t, []usageCase{
		{args: []string{"fake", "--token", "tok123"}, want: "--token, --aes-key, --mode and --callback-timeout go with --callback URL"},
		{args: []string{"fake", "--mode", "safe"}, want: "go with --callback URL"},
		{args: []string{"fake", "--callback", cb}, want: "--callback needs the Token set in WeChat's console: set KEFU_TOKEN (or pass --token)"},
		{args: []string{"fake", "--callback", cb, "--mode", "safe"}, env: tokenEnv,
			want: "--mode safe encrypts: set KEFU_AES_KEY (or pass --aes-key) to the 43-character EncodingAESKey, or use --mode plain"},
		{args: []string{"fake", "--callback", cb, "--mode", "compatible"}, env: tokenEnv, want: "--mode compatible encrypts"},
		{args: []string{"fake", "--callback", cb, "--mode", "aes"}, env: tokenEnv, want: `--mode "aes": want plain, compatible or safe`},
		{args: []string{"fake", "--callback", cb}, env: append(tokenEnv, "KEFU_AES_KEY="+usageSecret),
			want: "--callback: EncodingAESKey must be 43 characters, got 17"},
		{args: []string{"fake", "--callback", cb, "--token", "a-b"}, want: "--callback: the Token must be 3 to 32 letters and digits"},
		{args: []string{"fake", "--callback", "/wx"}, env: tokenEnv, want: "--callback: the callback URL must be an absolute http or https URL"},
		{args: []string{"fake", "--callback", cb, "--callback-timeout", "-1s"}, env: tokenEnv, want: "--callback-timeout must be positive"},
	})
}

// TestFakeServesTheInbox: the inbox is on by default, on loopback, and
// --inbox=false turns it off.
func TestFakeServesTheInbox(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	assert.Contains(t, f.banner, "  inbox:     "+f.URL+"/ (open it in a browser; loopback only: this machine)")
	status, body := f.admin(t, http.MethodGet, "/", "")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "kefu fake")
	assert.NotContains(t, body, f.Secret)

	off := startFake(t, "--inbox=false")
	assert.NotContains(t, off.banner, "inbox:")
	status, _ = off.admin(t, http.MethodGet, "/", "")
	assert.Equal(t, http.StatusNotFound, status)
}
