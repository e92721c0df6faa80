package kefutest_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu/callback"
	"github.com/kefu-go/kefu/kefutest"
)

// pushAnswer is the answer of the say and push endpoints.
type pushAnswer struct {
	ErrCode  int    `json:"errcode"`
	ErrMsg   string `json:"errmsg"`
	MsgID    int64  `json:"msgid"`
	Attempts []struct {
		Status   int     `json:"status"`
		Seconds  float64 `json:"seconds"`
		TimedOut bool    `json:"timed_out"`
		Error    string  `json:"error"`
	} `json:"attempts"`
	Reply *struct {
		MsgType   string         `json:"msgtype"`
		Message   map[string]any `json:"message"`
		KfAccount string         `json:"kf_account"`
		Encrypted bool           `json:"encrypted"`
	} `json:"reply"`
	Unavailable bool   `json:"unavailable"`
	ErrorShown  string `json:"error_shown"`
	Problem     string `json:"problem"`
}

// TestAdminSay: a test in another language makes a user write, and sees
// the service's passive reply among the messages, marked passive.
func TestAdminSay(t *testing.T) {
	t.Parallel()
	u, _ := service(t, kefutest.ModeSafe, callback.Config{}, func(_ context.Context, m *callback.Message) (callback.Reply, error) {
		switch {
		case m.Content == "fail":
			return nil, context.Canceled
		case m.IsEvent(callback.EventSubscribe):
			return callback.ReplyText("welcome, scene " + m.EventKey), nil
		}
		return callback.ReplyText("re: " + m.Content), nil
	})
	o, appID, secret := newOutsider(t, kefutest.WithFrozenClock(start), kefutest.WithApp(cbAppID, cbSecret),
		kefutest.WithCallback(u, cbToken, cbKey, kefutest.ModeSafe))
	require.Equal(t, cbAppID, appID)

	var a pushAnswer
	status, b := o.call(http.MethodPost, kefutest.PathAdminSay, map[string]string{"openid": "o1", "text": "hello"}, &a)
	require.Equal(t, http.StatusOK, status, b)
	assert.Equal(t, 0, a.ErrCode)
	assert.NotZero(t, a.MsgID)
	require.Len(t, a.Attempts, 1)
	assert.Equal(t, 200, a.Attempts[0].Status)
	assert.Empty(t, a.Attempts[0].Error)
	require.NotNil(t, a.Reply)
	assert.Equal(t, "text", a.Reply.MsgType)
	assert.True(t, a.Reply.Encrypted)
	assert.Equal(t, map[string]any{"touser": "o1", "msgtype": "text", "text": map[string]any{"content": "re: hello"}}, a.Reply.Message)
	assert.False(t, a.Unavailable)
	assert.Empty(t, a.ErrorShown)

	// A send after it: the sent message has no "passive" key.
	tok := o.token(appID, secret)
	require.Equal(t, 0, o.wechat(kefutest.PathSend, tok, textTo("o1", "sent")))
	_, body := o.call(http.MethodGet, kefutest.PathAdminMessages+"?openid=o1", nil, nil)
	assert.JSONEq(t, `[{"touser":"o1","msgtype":"text","text":{"content":"re: hello"},"passive":true},
		{"touser":"o1","msgtype":"text","text":{"content":"sent"}}]`, body)
	var w window
	o.get(kefutest.PathAdminWindow+"?openid=o1&action=UserMessage", &w)
	assert.Equal(t, 4, w.Left, "the passive reply spent no quota")

	// An event, by callback.Message's fields.
	a = pushAnswer{}
	status, b = o.call(http.MethodPost, kefutest.PathAdminPush,
		map[string]string{"openid": "o2", "MsgType": "event", "Event": "subscribe", "EventKey": "qrscene_7"}, &a)
	require.Equal(t, http.StatusOK, status, b)
	assert.Zero(t, a.MsgID)
	require.NotNil(t, a.Reply, b)
	assert.Equal(t, "welcome, scene qrscene_7", a.Reply.Message["text"].(map[string]any)["content"])
	o.get(kefutest.PathAdminWindow+"?openid=o2&action=Follow", &w)
	assert.True(t, w.Open)

	// The service fails: the user sees the error.
	a = pushAnswer{}
	status, b = o.call(http.MethodPost, kefutest.PathAdminSay, map[string]string{"openid": "o1", "text": "fail"}, &a)
	require.Equal(t, http.StatusOK, status, b)
	assert.True(t, a.Unavailable)
	assert.Equal(t, kefutest.UnavailableText, a.ErrorShown)
	assert.Equal(t, "HTTP 500 Internal Server Error", a.Problem)
	assert.Nil(t, a.Reply)

	var conv []map[string]any
	o.get(kefutest.PathAdminConversation+"?openid=o1", &conv)
	require.Len(t, conv, 5)
	kinds := []string{}
	for _, e := range conv {
		kinds = append(kinds, e["kind"].(string))
		assert.Equal(t, float64(start.Unix()), e["time"])
	}
	assert.Equal(t, []string{"user", "passive", "sent", "user", "unavailable"}, kinds)
	assert.Equal(t, "hello", conv[0]["push"].(map[string]any)["Content"])
	assert.NotContains(t, conv[0]["push"], "Raw")
	assert.Equal(t, "HTTP 500 Internal Server Error", conv[4]["problem"])
}

func TestAdminPushErrors(t *testing.T) {
	t.Parallel()
	o, _, _ := newOutsider(t)
	var a answer
	status, b := o.call(http.MethodPost, kefutest.PathAdminSay, map[string]string{"openid": "o1", "text": "hi"}, &a)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, b, "no callback URL: start the fake with --callback")

	u := serve(t, &recorder{})
	o, _, _ = newOutsider(t, kefutest.WithCallback(u, cbToken, "", kefutest.ModePlain), kefutest.WithCallbackTimeout(time.Second))
	for _, tc := range []struct {
		path string
		body any
		want string
	}{
		{kefutest.PathAdminSay, map[string]string{"openid": "o1"}, "text missing"},
		{kefutest.PathAdminSay, map[string]string{"text": "hi"}, "openid missing"},
		{kefutest.PathAdminSay, `{"openid":"o1","txt":"hi"}`, `unknown field \"txt\"`},
		{kefutest.PathAdminPush, map[string]string{"openid": "o1"}, "MsgType is required"},
		{kefutest.PathAdminPush, map[string]string{"openid": "o1", "MsgType": "event"}, "an event needs Event"},
		{kefutest.PathAdminPush, map[string]string{"openid": "o1", "FromUserName": "o2", "MsgType": "text"}, "FromUserName differs"},
		{kefutest.PathAdminPush, map[string]string{"openid": "o1", "MsgType": "text", "Contnt": "x"}, `unknown field \"Contnt\"`},
	} {
		status, b := o.call(http.MethodPost, tc.path, tc.body, &a)
		assert.Equal(t, http.StatusBadRequest, status, b)
		assert.Equal(t, 47001, a.ErrCode, b)
		assert.Contains(t, b, tc.want)
	}
	var conv []any
	o.get(kefutest.PathAdminConversation+"?openid=nobody", &conv)
	assert.Equal(t, []any{}, conv)
}
