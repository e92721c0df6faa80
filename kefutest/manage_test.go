package kefutest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

func TestAccountChecks(t *testing.T) {
	t.Parallel()
	_, m := newMgmt(t)
	add := func(body string) int { t.Helper(); return errcode(m.json(kefutest.PathAccountAdd, body)) }
	assert.Equal(t, 65404, add(`{"kf_account":"toolongprefix@test","nickname":"x"}`))
	assert.Equal(t, 65404, add(`{"kf_account":"kf-1@test","nickname":"x"}`))
	assert.Equal(t, 65404, add(`{"kf_account":"kf1","nickname":"x"}`))
	assert.Equal(t, 65403, add(`{"kf_account":"kf1@test","nickname":""}`))
	assert.Equal(t, 65403, add(`{"kf_account":"kf1@test","nickname":"12345678901234567"}`))
	assert.Equal(t, 0, add(`{"kf_account":"kf1@test","nickname":"一二三四五六七八九十一二三四五六"}`))
	assert.Equal(t, 65406, add(`{"kf_account":"kf1@test","nickname":"x"}`))
	assert.Equal(t, 47001, add(`not json`))
	assert.Equal(t, 40033, add(`{"kf_account":"kf2@test","nickname":"\u003cb\u003e"}`))
	assert.Equal(t, 65401, errcode(m.json(kefutest.PathAccountUpdate, `{"kf_account":"kf9@test","nickname":"x"}`)))
	assert.Equal(t, 65403, errcode(m.json(kefutest.PathAccountUpdate, `{"kf_account":"kf1@test","nickname":""}`)))
	assert.Equal(t, 65401, errcode(m.json(kefutest.PathAccountDelete, `{"kf_account":"kf9@test"}`)))

	a := m.json(kefutest.PathAccountAdd, `{"kf_account":"kf1@test","nickname":"x"}`)
	msg, _ := a["errmsg"].(string)
	assert.Regexp(t, `^custom service account exists rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`, msg)

	assert.Equal(t, 65409, errcode(m.json(kefutest.PathInviteWorker, `{"kf_account":"kf1@test","invite_wx":"ab"}`)))
	assert.Equal(t, 0, errcode(m.json(kefutest.PathInviteWorker, `{"kf_account":"kf1@test","invite_wx":"alice_wx"}`)))
	assert.Equal(t, 65411, errcode(m.json(kefutest.PathInviteWorker, `{"kf_account":"kf1@test","invite_wx":"bob_wx1"}`)))
}

func TestAccountShapes(t *testing.T) {
	t.Parallel()
	srv, m := newMgmt(t)
	for kf, want := range map[string]int{
		"kf1@test": 0, "a@b": 0, "Kf_0123456@gh_abc": 0, // a prefix of up to 10
		"@test": 65404, "kf1@": 65404, "kf1@te st": 65404, "kf1@a@b": 65404, "kf1@a\\u0001b": 65404, "kf1.x@test": 65404,
	} {
		assert.Equal(t, want, errcode(m.json(kefutest.PathAccountAdd, `{"kf_account":"`+kf+`","nickname":"x"}`)), kf)
	}
	invite := func(kf, wx string) int {
		t.Helper()
		return errcode(m.json(kefutest.PathInviteWorker, `{"kf_account":"`+kf+`","invite_wx":"`+wx+`"}`))
	}
	for _, wx := range []string{"", "abcde", "abcdefghij0123456789x", "1abcdef", "_abcdef", "abc def", "abcdé12", "abc@def"} {
		assert.Equal(t, 65409, invite("kf1@test", wx), wx)
	}
	assert.Equal(t, 65401, invite("kf9@test", "ab"), "the account first")
	assert.Zero(t, invite("kf1@test", "abcdef"), "6 characters")
	assert.Zero(t, invite("a@b", "Z-_09abcdefghij01234"), "20 characters")
	assert.Panics(t, func() { srv.AddAccount("kf1@te st", "x") })
}

func TestSessionChecks(t *testing.T) {
	t.Parallel()
	srv, m := newMgmt(t)
	srv.AddAccount("kf1@test", "one")
	srv.AddAccount("kf2@test", "two")
	srv.AddUser("o-1")
	srv.AddUser("o-2")
	create := func(kf, id string) int {
		t.Helper()
		return errcode(m.json(kefutest.PathSessionCreate, `{"kf_account":"`+kf+`","openid":"`+id+`"}`))
	}
	closeS := func(kf, id string) int {
		t.Helper()
		return errcode(m.json(kefutest.PathSessionClose, `{"kf_account":"`+kf+`","openid":"`+id+`"}`))
	}
	assert.Equal(t, 65401, create("kf9@test", "o-1"))
	assert.Equal(t, 65402, create("kf1@test", "o-1"), "no worker bound")
	srv.SetOnline("kf1@test", true)
	srv.SetOnline("kf2@test", true)
	srv.SetOnline("kf2@test", false)
	assert.Equal(t, 65415, create("kf2@test", "o-1"), "worker offline")
	assert.Equal(t, 40003, create("kf1@test", "o-9"))
	assert.Equal(t, 0, create("kf1@test", "o-1"))
	assert.Equal(t, 0, create("kf1@test", "o-1"), "again: ok")
	srv.SetOnline("kf2@test", true)
	assert.Equal(t, 65414, create("kf2@test", "o-1"))

	assert.Equal(t, 65401, closeS("kf9@test", "o-1"))
	assert.Equal(t, 40003, closeS("kf1@test", "o-9"))
	assert.Equal(t, 65413, closeS("kf1@test", "o-2"))
	assert.Equal(t, 65414, closeS("kf2@test", "o-1"))
	assert.Equal(t, 65401, errcode(m.get(kefutest.PathSessions, "kf_account=kf9@test")))
	assert.Equal(t, 0, closeS("kf1@test", "o-1"))
	assert.Equal(t, 1, srv.Calls(kefutest.PathSessions))
}

func TestGetSessionOfAUserWithout(t *testing.T) {
	t.Parallel()
	srv, m := newMgmt(t)
	srv.AddUser("o-1")
	a := m.get(kefutest.PathSession, "openid=o-1")
	assert.Equal(t, map[string]any{"createtime": 0.0, "kf_account": ""}, a)
	assert.Equal(t, 40003, errcode(m.get(kefutest.PathSession, "openid=o-2")))
}

func TestMsgRecordChecks(t *testing.T) {
	t.Parallel()
	srv, m := newMgmt(t)
	srv.AddRecord(kefu.Record{OpenID: "o-1", OperCode: kefu.OperReceived, Text: "hi"})
	srv.AddRecord(kefu.Record{OpenID: "o-1", Text: "later", Time: start.Add(time.Hour)})
	q := func(s, e, id, n int64) map[string]any {
		t.Helper()
		b, _ := json.Marshal(map[string]int64{"starttime": s, "endtime": e, "msgid": id, "number": n})
		return m.json(kefutest.PathMsgRecords, string(b))
	}
	s := start.Unix()
	assert.Equal(t, 65417, errcode(q(s, s+86401, 1, 10)))
	assert.Equal(t, 65416, errcode(q(s, s-1, 1, 10)))
	assert.Equal(t, 65416, errcode(q(0, s, 1, 10)))
	assert.Equal(t, 65416, errcode(q(s, s+10, 0, 10)))
	assert.Equal(t, 65416, errcode(q(s, s+10, 1, 10001)))
	assert.Equal(t, 65416, errcode(q(s, s+10, 1, 0)))

	a := q(s, s+86400, 1, 10000)
	assert.Equal(t, 0, errcode(a))
	assert.EqualValues(t, 2, a["number"])
	assert.EqualValues(t, 3, a["msgid"], "the msgid to ask for next")
	assert.Equal(t, []any{
		map[string]any{"openid": "o-1", "opercode": 2001.0, "text": "hi", "time": float64(s), "worker": ""},
		map[string]any{"openid": "o-1", "opercode": 0.0, "text": "later", "time": float64(s + 3600), "worker": ""},
	}, a["recordlist"])

	a = q(s, s+10, 2, 10)
	assert.EqualValues(t, 0, a["number"], "msgid 2 lies outside the span")
	assert.EqualValues(t, 2, a["msgid"])
	assert.Equal(t, []any{}, a["recordlist"])
}

func TestManagementPathsTakeFaults(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	c := srv.Client()
	t.Cleanup(c.CloseIdleConnections)
	ctx := context.Background()
	srv.FailNext(kefutest.PathAccountAdd, 1, 45009)
	err := c.AddAccount(ctx, kefu.Account{KfAccount: "kf1@test", Nickname: "one"})
	assert.ErrorIs(t, err, kefu.ErrRateLimited)
	list, err := c.Accounts(ctx)
	require.NoError(t, err)
	assert.Empty(t, list, "a failed call does not act")

	srv.StatusNext(kefutest.PathMediaUpload, 1, http.StatusServiceUnavailable)
	_, err = c.UploadMedia(ctx, kefu.MediaImage, "a.png", strings.NewReader("png"))
	require.NoError(t, err, "503 is retried and the reader rewound")
	assert.Equal(t, 2, srv.Calls(kefutest.PathMediaUpload))
	assert.Equal(t, 1, srv.Calls(kefutest.PathAccountAdd))
	assert.Equal(t, 1, srv.Calls(kefutest.PathAccounts))
}

func TestManagementHelpersPanic(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	assert.Panics(t, func() { srv.AddAccount("bad", "x") })
	assert.Panics(t, func() { srv.AddAccount("kf1@test", "") })
	assert.Panics(t, func() { srv.SetOnline("kf1@test", true) })
	srv.AddAccount("kf1@test", "one")
	assert.Panics(t, func() { srv.AcceptInvite("kf1@test") }, "no invitation")
	srv.SetOnline("kf1@test", true)
	srv.AddRecord(kefu.Record{})
}
