package kefu_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAccountLifecycle(t *testing.T) {
	t.Parallel()
	srv, c := newKefu(t)
	ctx := context.Background()

	require.NoError(t, c.AddAccount(ctx, kefu.Account{KfAccount: "kf1@test", Nickname: "客服一"}))
	require.NoError(t, c.AddAccount(ctx, kefu.Account{KfAccount: "kf_2@test", Nickname: "Two"}))
	err := c.AddAccount(ctx, kefu.Account{KfAccount: "kf1@test", Nickname: "again"})
	assert.ErrorIs(t, err, kefu.ErrAccountExists)
	assert.Equal(t, 65406, codeOf(t, err))

	require.NoError(t, c.UpdateAccount(ctx, kefu.Account{KfAccount: "kf_2@test", Nickname: "二号"}))
	assert.ErrorIs(t, c.UpdateAccount(ctx, kefu.Account{KfAccount: "kf9@test", Nickname: "x"}), kefu.ErrAccountNotFound)

	require.NoError(t, c.InviteWorker(ctx, "kf1@test", "alice_wx"))
	assert.ErrorIs(t, c.InviteWorker(ctx, "kf1@test", "alice_wx"), kefu.ErrAlreadyInvited, "a pending invitation")
	assert.ErrorIs(t, c.InviteWorker(ctx, "kf_2@test", "alice_wx"), kefu.ErrAlreadyInvited, "invited by another account")

	list, err := c.Accounts(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, kefu.Account{KfAccount: "kf1@test", Nickname: "客服一", ID: "1001", InviteWeChatID: "alice_wx",
		InviteExpires: day0.Add(7 * 24 * time.Hour), InviteStatus: "waiting"}, utcAccount(list[0]))
	assert.Equal(t, kefu.Account{KfAccount: "kf_2@test", Nickname: "二号", ID: "1002"}, list[1])

	online, err := c.OnlineAccounts(ctx)
	require.NoError(t, err)
	assert.Empty(t, online)
	assert.NotNil(t, online, "an empty list, not nil")

	srv.AcceptInvite("kf1@test")
	list, err = c.Accounts(ctx)
	require.NoError(t, err)
	assert.Equal(t, "alice_wx", list[0].WeChatID)
	assert.Empty(t, list[0].InviteStatus)
	assert.ErrorIs(t, c.InviteWorker(ctx, "kf1@test", "bob_wx1"), kefu.ErrAlreadyInvited, "a bound account")
	assert.ErrorIs(t, c.InviteWorker(ctx, "kf_2@test", "alice_wx"), kefu.ErrAlreadyInvited, "already a worker")

	srv.SetOnline("kf1@test", true)
	online, err = c.OnlineAccounts(ctx)
	require.NoError(t, err)
	assert.Equal(t, []kefu.OnlineAccount{{KfAccount: "kf1@test", Status: 1, ID: "1001"}}, online)

	require.NoError(t, c.DeleteAccount(ctx, "kf1@test"))
	assert.ErrorIs(t, c.DeleteAccount(ctx, "kf1@test"), kefu.ErrAccountNotFound)
	list, err = c.Accounts(ctx)
	require.NoError(t, err)
	assert.Len(t, list, 1)
}

func utcAccount(a kefu.Account) kefu.Account {
	a.InviteExpires = a.InviteExpires.UTC()
	return a
}

func TestInvitationExpires(t *testing.T) {
	t.Parallel()
	srv, c := newKefu(t)
	ctx := context.Background()
	srv.AddAccount("kf1@test", "one")
	require.NoError(t, c.InviteWorker(ctx, "kf1@test", "alice_wx"))
	srv.Advance(7 * 24 * time.Hour)
	list, err := c.Accounts(ctx)
	require.NoError(t, err)
	assert.Equal(t, "expired", list[0].InviteStatus)
	require.NoError(t, c.InviteWorker(ctx, "kf1@test", "alice_wx"), "an expired invitation can be renewed")
}

func TestAccountValidation(t *testing.T) {
	t.Parallel()
	srv, c := newKefu(t)
	ctx := context.Background()
	for _, a := range []kefu.Account{
		{KfAccount: "", Nickname: "x"},
		{KfAccount: "noat", Nickname: "x"},
		{KfAccount: "elevenchars@test", Nickname: "x"},
		{KfAccount: "kf-1@test", Nickname: "x"},
		{KfAccount: "kf1@", Nickname: "x"},
	} {
		validation(t, c.AddAccount(ctx, a), "kf_account")
		validation(t, c.UpdateAccount(ctx, a), "kf_account")
	}
	validation(t, c.AddAccount(ctx, kefu.Account{KfAccount: "kf1@test"}), "nickname")
	validation(t, c.AddAccount(ctx, kefu.Account{KfAccount: "kf1@test", Nickname: strings.Repeat("客", 17)}), "nickname")
	require.NoError(t, c.AddAccount(ctx, kefu.Account{KfAccount: "kf1@test", Nickname: strings.Repeat("客", 16)}), "16 characters, 48 bytes")
	validation(t, c.DeleteAccount(ctx, "x"), "kf_account")
	validation(t, c.InviteWorker(ctx, "kf1@test", ""), "invite_wx")
	validation(t, c.OpenSession(ctx, "kf1@test", ""), "openid")
	validation(t, c.CloseSession(ctx, "bad", "o-user"), "kf_account")
	_, err := c.Session(ctx, "")
	validation(t, err, "openid")
	_, err = c.Sessions(ctx, "bad")
	validation(t, err, "kf_account")
	for _, p := range []string{kefutest.PathAccountDelete, kefutest.PathInviteWorker, kefutest.PathSessionCreate,
		kefutest.PathSessionClose, kefutest.PathSession, kefutest.PathSessions} {
		assert.Zero(t, srv.Calls(p), p)
	}
	assert.Equal(t, 1, srv.Calls(kefutest.PathAccountAdd))

	//lint:ignore SA1012 a nil context is what this checks
	require.ErrorIs(t, c.AddAccount(nil, kefu.Account{}), kefu.ErrInvalidMessage)
	//lint:ignore SA1012 a nil context is what this checks
	_, err = c.Accounts(nil)
	require.ErrorIs(t, err, kefu.ErrInvalidMessage)
}

func TestServerChecksAccounts(t *testing.T) {
	t.Parallel()
	srv, c := newKefu(t)
	ctx := context.Background()
	for i := range 100 {
		srv.AddAccount(fmt.Sprintf("kf%d@test", i), "n")
	}
	err := c.AddAccount(ctx, kefu.Account{KfAccount: "kf100@test", Nickname: "one too many"})
	assert.ErrorIs(t, err, kefu.ErrAccountLimit)
	assert.Equal(t, 65405, codeOf(t, err))
	assert.Equal(t, 65409, codeOf(t, c.InviteWorker(ctx, "kf1@test", "1nvalid")), "not a WeChat ID")
	assert.Equal(t, 65401, codeOf(t, c.InviteWorker(ctx, "kf1@nowhere", "alice_wx")))
}

func TestSessions(t *testing.T) {
	t.Parallel()
	srv, c := newKefu(t)
	ctx := context.Background()
	srv.AddAccount("kf1@test", "one")
	srv.AddAccount("kf2@test", "two")
	srv.AddWaiting("o-1")
	srv.Advance(time.Minute)
	srv.AddWaiting("o-2")

	w, err := c.WaitingSessions(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, w.Count)
	require.Len(t, w.Cases, 2)
	assert.Equal(t, "o-1", w.Cases[0].OpenID, "longest waiting first")
	assert.Equal(t, day0, w.Cases[0].LatestTime.UTC())

	err = c.OpenSession(ctx, "kf1@test", "o-1")
	assert.ErrorIs(t, err, kefu.ErrWorkerNotBound)
	srv.SetOnline("kf1@test", true)
	srv.SetOnline("kf1@test", false)
	assert.ErrorIs(t, c.OpenSession(ctx, "kf1@test", "o-1"), kefu.ErrWorkerOffline)
	srv.SetOnline("kf1@test", true)
	srv.SetOnline("kf2@test", true)
	assert.ErrorIs(t, c.OpenSession(ctx, "kf9@test", "o-1"), kefu.ErrAccountNotFound)
	assert.ErrorIs(t, c.OpenSession(ctx, "kf1@test", "o-nobody"), kefu.ErrInvalidOpenID)

	require.NoError(t, c.OpenSession(ctx, "kf1@test", "o-1"))
	require.NoError(t, c.OpenSession(ctx, "kf1@test", "o-1"), "the account's own session: ok")
	assert.ErrorIs(t, c.OpenSession(ctx, "kf2@test", "o-1"), kefu.ErrSessionExists)
	kf, ok := srv.SessionOf("o-1")
	assert.True(t, ok)
	assert.Equal(t, "kf1@test", kf)

	s, err := c.Session(ctx, "o-1")
	require.NoError(t, err)
	assert.Equal(t, kefu.Session{KfAccount: "kf1@test", OpenID: "o-1", Created: day0.Add(time.Minute)}, utcSession(*s))
	_, err = c.Session(ctx, "o-2")
	assert.ErrorIs(t, err, kefu.ErrSessionNotFound)
	_, err = c.Session(ctx, "o-nobody")
	assert.ErrorIs(t, err, kefu.ErrInvalidOpenID)

	list, err := c.Sessions(ctx, "kf1@test")
	require.NoError(t, err)
	assert.Equal(t, []kefu.Session{{KfAccount: "kf1@test", OpenID: "o-1", Created: day0.Add(time.Minute)}},
		[]kefu.Session{utcSession(list[0])})
	list, err = c.Sessions(ctx, "kf2@test")
	require.NoError(t, err)
	assert.Empty(t, list)
	_, err = c.Sessions(ctx, "kf9@test")
	assert.ErrorIs(t, err, kefu.ErrAccountNotFound)

	online, err := c.OnlineAccounts(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, online[0].AcceptedCase)

	w, err = c.WaitingSessions(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, w.Count, "a session takes the user out of the queue")

	assert.ErrorIs(t, c.CloseSession(ctx, "kf2@test", "o-1"), kefu.ErrSessionExists)
	require.NoError(t, c.CloseSession(ctx, "kf1@test", "o-1"))
	assert.ErrorIs(t, c.CloseSession(ctx, "kf1@test", "o-1"), kefu.ErrSessionNotFound)
	_, ok = srv.SessionOf("o-1")
	assert.False(t, ok)
}

func utcSession(s kefu.Session) kefu.Session {
	s.Created = s.Created.UTC()
	return s
}

func TestWaitingListsTheEarliest100(t *testing.T) {
	t.Parallel()
	srv, c := newKefu(t)
	for i := range 150 {
		srv.AddWaiting(fmt.Sprintf("o-%03d", i))
		srv.Advance(time.Second)
	}
	w, err := c.WaitingSessions(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 150, w.Count)
	require.Len(t, w.Cases, 100)
	assert.Equal(t, "o-099", w.Cases[99].OpenID)
}

func TestManagementRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("a read is retried after an unknown outcome", func(t *testing.T) {
		t.Parallel()
		srv, c := newKefu(t)
		srv.AddAccount("kf1@test", "one")
		srv.DropNext(kefutest.PathAccounts, 1)
		list, err := c.Accounts(ctx)
		require.NoError(t, err)
		assert.Len(t, list, 1)
		assert.GreaterOrEqual(t, srv.Calls(kefutest.PathAccounts), 2)
	})
	t.Run("a write is not", func(t *testing.T) {
		t.Parallel()
		srv, c := newKefu(t)
		srv.DropNext(kefutest.PathAccountAdd, 1)
		err := c.AddAccount(ctx, kefu.Account{KfAccount: "kf1@test", Nickname: "one"})
		require.ErrorIs(t, err, kefu.ErrDeliveryUnknown)
		assert.Equal(t, 1, srv.Calls(kefutest.PathAccountAdd))
		list, err := c.Accounts(ctx)
		require.NoError(t, err)
		assert.Len(t, list, 1, "it was delivered")
	})
	t.Run("system busy is retried", func(t *testing.T) {
		t.Parallel()
		srv, c := newKefu(t)
		srv.FailNext(kefutest.PathAccountAdd, 2, -1)
		require.NoError(t, c.AddAccount(ctx, kefu.Account{KfAccount: "kf1@test", Nickname: "one"}))
		assert.Equal(t, 3, srv.Calls(kefutest.PathAccountAdd))
	})
	t.Run("a rejected token is refreshed once", func(t *testing.T) {
		t.Parallel()
		srv, c := newKefu(t)
		srv.AddUser("o-1")
		_, err := c.Session(ctx, "o-1")
		require.ErrorIs(t, err, kefu.ErrSessionNotFound)
		srv.RotateTokens()
		_, err = c.Session(ctx, "o-1")
		require.ErrorIs(t, err, kefu.ErrSessionNotFound)
		assert.Equal(t, 3, srv.Calls(kefutest.PathSession))
		srv.FailNext(kefutest.PathSessions, 2, 40001)
		_, err = c.Sessions(ctx, "kf1@test")
		assert.ErrorIs(t, err, kefu.ErrInvalidToken, "only once")
	})
	t.Run("errors carry no token", func(t *testing.T) {
		t.Parallel()
		srv, c := newKefu(t)
		srv.RawNext(kefutest.PathWaitCases, 3, 502, []byte(`<p>GET /customservice/kfsession/getwaitcase?access_token=LEAKED123 failed`))
		_, err := c.WaitingSessions(ctx)
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "LEAKED123")
		assert.Contains(t, err.Error(), "access_token=REDACTED")
	})
}

func TestAccountJSON(t *testing.T) {
	t.Parallel()
	var list struct {
		KfList []kefu.Account `json:"kf_list"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"kf_list":[
		{"kf_account":"test1@test","kf_headimgurl":"http://mmbiz.qpic.cn/mmbiz/a/300?wx_fmt=jpeg","kf_id":"1001","kf_nick":"ntest1","kf_wx":"kfwx1"},
		{"kf_account":"test3@test","kf_headimgurl":"","kf_id":1003,"kf_nick":"ntest3","invite_wx":"kfwx3","invite_expire_time":123456789,"invite_status":"waiting"}]}`), &list))
	want := []kefu.Account{
		{KfAccount: "test1@test", HeadImgURL: "http://mmbiz.qpic.cn/mmbiz/a/300?wx_fmt=jpeg", ID: "1001", Nickname: "ntest1", WeChatID: "kfwx1"},
		{KfAccount: "test3@test", ID: "1003", Nickname: "ntest3", InviteWeChatID: "kfwx3", InviteExpires: time.Unix(123456789, 0), InviteStatus: "waiting"},
	}
	assert.Equal(t, want, list.KfList)
	b, err := json.Marshal(want[1])
	require.NoError(t, err)
	assert.JSONEq(t, `{"kf_account":"test3@test","kf_nick":"ntest3","kf_id":"1003","invite_wx":"kfwx3","invite_expire_time":123456789,"invite_status":"waiting"}`, string(b))
	var back kefu.Account
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, want[1], back)
	require.NoError(t, json.Unmarshal([]byte(`{"kf_account":"a@b","nickname":"from an add body"}`), &back))
	assert.Equal(t, kefu.Account{KfAccount: "a@b", Nickname: "from an add body"}, back)

	var o []kefu.OnlineAccount
	require.NoError(t, json.Unmarshal([]byte(`[{"kf_account":"a@b","status":1,"kf_id":1001,"accepted_case":2},{"kf_account":"c@d","status":1,"kf_id":"1002","accepted_case":0}]`), &o))
	assert.Equal(t, []kefu.OnlineAccount{{"a@b", 1, "1001", 2}, {"c@d", 1, "1002", 0}}, o)
}

func TestValidateKfAccount(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"kf01@shop", "a@b", "A_b9012345@wx-id.x", "kf@店铺"} {
		assert.NoError(t, kefu.ValidateKfAccount(ok), ok)
	}
	for in, rule := range map[string]string{
		"":                   "required",
		"kf01":               `must be "prefix@account"`,
		"kf01@":              `must be "prefix@account"`,
		"@shop":              "prefix before @ must be 1 to 10 characters",
		"kf01234567890@shop": "prefix before @ must be 1 to 10 characters",
		"kf-1@shop":          "prefix before @ may only hold A-Z, a-z, 0-9 and _",
		"kf1@sh op":          "account after @ must not hold another @, spaces or control characters",
		"kf1@a@b":            "account after @ must not hold another @, spaces or control characters",
		"kf1@a\x7f":          "account after @ must not hold another @, spaces or control characters",
	} {
		err := kefu.ValidateKfAccount(in)
		var ve *kefu.ValidationError
		if assert.ErrorAs(t, err, &ve, in) {
			assert.Equal(t, kefu.ValidationError{Field: "kf_account", Rule: rule}, *ve, in)
		}
	}
}
