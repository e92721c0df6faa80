package kefutest_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

func TestAnswersAreWeChatJSON(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	w := rawClient(t, srv)
	tok := w.token()
	srv.Interact("alice", kefutest.UserMessage)

	ok := w.send(tok, `{"touser":"alice","msgtype":"text","text":{"content":"hi"}}`)
	assert.Equal(t, http.StatusOK, ok.status)
	assert.Equal(t, "application/json; charset=utf-8", ok.contentType)
	assert.Equal(t, answer{ErrCode: 0, ErrMsg: "ok", status: 200, contentType: ok.contentType}, ok)

	bad := w.send(tok, `{"touser":"bob","msgtype":"text","text":{"content":"hi"}}`)
	assert.Equal(t, http.StatusOK, bad.status)
	assert.Equal(t, "application/json; charset=utf-8", bad.contentType)
	assert.Equal(t, 40003, bad.ErrCode)
	m := ridSuffix.FindStringSubmatch(bad.ErrMsg)
	require.NotNil(t, m, bad.ErrMsg)
	assert.Equal(t, "invalid openid", m[1])
	assert.NotEqual(t, bad.ErrMsg, w.send(tok, `{"touser":"bob","msgtype":"text","text":{"content":"hi"}}`).ErrMsg,
		"every answer has its own rid")

	// The kefu client splits the rid off.
	_, err := srv.Client().Send(context.Background(), text("bob", "hi"))
	var ae *kefu.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "invalid openid", ae.Message)
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`, ae.RequestID)
	assert.ErrorIs(t, err, kefu.ErrInvalidOpenID)
}

func TestEscapeCheckOff(t *testing.T) {
	t.Parallel()
	srv := newServer(t, kefutest.WithEscapeCheck(false))
	w := rawClient(t, srv)
	srv.Interact("alice", kefutest.UserMessage)
	a := w.send(w.token(), `{"touser":"alice","msgtype":"text","text":{"content":"a\u003cb\u0026c"}}`)
	require.Zero(t, a.ErrCode, a.ErrMsg)
	assert.Equal(t, "a<b&c", srv.Messages("alice")[0].Text.Content)

	on := newServer(t)
	assert.Equal(t, 40033, rawClient(t, on).post(kefutest.PathStableToken, "",
		`{"grant_type":"client\u0026credential"}`).ErrCode, "the check applies to every JSON endpoint")
}

func TestKefuClientBodiesPassTheEscapeCheck(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Interact("alice", kefutest.UserMessage)
	m := text("alice", `<a href="https://x.example/?a=1&b=2" data-miniprogram-path="p">&gt;</a>`)
	_, err := srv.Client().Send(context.Background(), m)
	require.NoError(t, err)
	assert.Equal(t, *m, srv.Messages("alice")[0])
}

func TestErrmsgs(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	w := rawClient(t, srv)
	for code, want := range map[int]string{
		-1:    "system error",
		40006: "invalid meida size",
		40033: `invalid charset. please check your request, if include \uxxxx will create fail!`,
		45080: "no message exchange with the user in the last 30 seconds",
		61457: "invalid file type",
		65400: "please enable new custom service, or wait for a while if you have enabled",
		65417: "it is too long from the starttime to endtime",
		12345: "unknown error",
	} {
		srv.FailNext(kefutest.PathWaitCases, 1, code)
		a := w.do(http.MethodGet, kefutest.PathWaitCases, "")
		assert.Equal(t, code, a.ErrCode)
		m := ridSuffix.FindStringSubmatch(a.ErrMsg)
		require.NotNil(t, m, a.ErrMsg)
		assert.Equal(t, want, m[1], code)
	}
	srv.FailNext(kefutest.PathWaitCases, 1, 0)
	assert.Equal(t, answer{ErrMsg: "ok", status: http.StatusOK, contentType: "application/json; charset=utf-8"},
		w.do(http.MethodGet, kefutest.PathWaitCases, ""), "success has no rid")
}
