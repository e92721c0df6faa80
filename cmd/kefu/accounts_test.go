package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAccounts(t *testing.T) {
	t.Parallel()
	f := startFake(t, "--account", "kf01@shop:Alice", "--account", "kf02@shop:小 王")
	assert.Contains(t, f.banner, "accounts:  kf01@shop (Alice), kf02@shop (小 王)")

	r := f.kefu(t, "", "accounts")
	assert.Equal(t, result{stdout: "kf01@shop\tAlice\t1001\t-\nkf02@shop\t小 王\t1002\t-\n"}, r)
	// No worker is online.
	r = f.kefu(t, "", "accounts", "--online")
	assert.Equal(t, result{stderr: "no customer-service account has a worker online\n"}, r)

	// --json: WeChat's list shape, [] for none, nothing on stderr.
	r = f.kefu(t, "", "accounts", "--json")
	assert.Equal(t, 0, r.code, r)
	assert.Empty(t, r.stderr, r)
	assert.JSONEq(t, `[{"kf_account":"kf01@shop","kf_nick":"Alice","kf_id":"1001"},{"kf_account":"kf02@shop","kf_nick":"小 王","kf_id":"1002"}]`, r.stdout)
	assert.Equal(t, result{stdout: "[]\n"}, f.kefu(t, "", "accounts", "--online", "--json"))
	status, body := f.admin(t, http.MethodPost, "/kefutest/set_online", `{"kf_account":"kf02@shop","online":true}`)
	require.Equal(t, http.StatusOK, status, body)
	r = f.kefu(t, "", "accounts", "--online", "--json")
	assert.Equal(t, 0, r.code, r)
	assert.JSONEq(t, `[{"kf_account":"kf02@shop","kf_id":"1002","status":1,"accepted_case":0}]`, r.stdout)

	empty := startFake(t)
	assert.Contains(t, empty.banner, "accounts:  none")
	r = empty.kefu(t, "", "accounts")
	assert.Equal(t, result{stderr: "no customer-service accounts\n"}, r)
	assert.Equal(t, result{stdout: "[]\n"}, empty.kefu(t, "", "accounts", "--json"))

	const wrong = "a-wrong-accounts-secret"
	r = kefuRun(t, "", []string{"KEFU_APPID=" + f.AppID}, []string{wrong, f.Secret},
		"accounts", "--base-url", f.URL, "--secret", wrong)
	assert.Equal(t, 4, r.code, r, "no access token: nothing sent")
	assert.Empty(t, r.stdout, r)
	assert.Contains(t, r.stderr, "kefu accounts: errcode 40125", r)
}

func TestAccountsAddDelete(t *testing.T) {
	t.Parallel()
	f := startFake(t, "--account", "kf01@shop:Alice")

	assert.Equal(t, result{stdout: "ok\n"}, f.kefu(t, "", "accounts", "add", "--account", "kf02@shop", "--nickname", "小 王"))
	assert.Equal(t, result{stdout: `{"ok":true}` + "\n"}, f.kefu(t, "", "accounts", "--json", "add", "--account", "kf03@shop", "--nickname", "Bob"))
	r := f.kefu(t, "", "accounts")
	assert.Equal(t, result{stdout: "kf01@shop\tAlice\t1001\t-\nkf02@shop\t小 王\t1002\t-\nkf03@shop\tBob\t1003\t-\n"}, r)

	r = f.kefu(t, "", "accounts", "add", "--account", "kf02@shop", "--nickname", "again")
	assert.Equal(t, 1, r.code, r)
	assert.Empty(t, r.stdout, r)
	assert.Contains(t, r.stderr, "kefu accounts: errcode 65406", r)
	// Refused locally: nothing sent.
	r = f.kefu(t, "", "accounts", "add", "--account", "no-at-sign", "--nickname", "x")
	assert.Equal(t, result{code: 4, stderr: "kefu accounts: add no-at-sign: kf_account: must be \"prefix@account\"; nothing was sent\n"}, r)

	assert.Equal(t, result{stdout: "ok\n"}, f.kefu(t, "", "accounts", "delete", "--account", "kf02@shop"))
	assert.Equal(t, result{stdout: `{"ok":true}` + "\n"}, f.kefu(t, "", "accounts", "delete", "--account", "kf03@shop", "--json"))
	r = f.kefu(t, "", "accounts", "delete", "--account", "kf02@shop")
	assert.Equal(t, 1, r.code, r)
	assert.Contains(t, r.stderr, "kefu accounts: errcode 65401", r)
	assert.Equal(t, result{stdout: "kf01@shop\tAlice\t1001\t-\n"}, f.kefu(t, "", "accounts"))
}

func TestAccountsUsageErrors(t *testing.T) {
	t.Parallel()
	creds := usageCreds()
	testUsageErrors(t, []usageCase{
		{args: []string{"accounts", "extra"}, env: creds, want: `unknown action "extra": want add or delete`},
		{args: []string{"accounts", "add", "extra"}, env: creds, want: `unexpected argument "extra"`},
		{args: []string{"accounts", "add", "--account", "kf01@shop"}, env: creds, want: "add needs --account KF and --nickname NAME"},
		{args: []string{"accounts", "delete"}, env: creds, want: "delete needs --account KF"},
		{args: []string{"accounts", "delete", "--account", "kf01@shop", "--nickname", "x"}, env: creds, want: "delete takes no --nickname"},
		{args: []string{"accounts", "delete", "--account", "kf01@shop", "--online"}, env: creds, want: "--online goes with listing"},
		{args: []string{"accounts", "--account", "kf01@shop"}, env: creds, want: "--account and --nickname go with add or delete"},
	})
}
