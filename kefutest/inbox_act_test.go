package kefutest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/callback"
	"github.com/kefu-go/kefu/kefutest"
)

// act posts an action to the inbox and decodes the answer.
func act(t *testing.T, srv *kefutest.Server, path, body string) (int, map[string]any) {
	t.Helper()
	p := inboxDo(t, srv, http.MethodPost, path, body)
	var a map[string]any
	require.NoError(t, json.Unmarshal([]byte(p.body), &a), p.body)
	return p.status, a
}

func TestInboxActsWithoutCallback(t *testing.T) {
	t.Parallel()
	srv := inboxServer(t)
	status, a := act(t, srv, "/kefutest/inbox/act", `{"openid":"o1","action":"say","text":"hello"}`)
	require.Equal(t, http.StatusOK, status, a)
	assert.Equal(t, map[string]any{"errcode": 0.0, "errmsg": "ok", "pushed": false}, a)
	assert.Equal(t, kefutest.ActionWindow{Open: true, Closes: start.Add(48 * time.Hour), Left: 5}, srv.Window("o1", kefutest.UserMessage))
	conv := srv.Conversation("o1")
	require.Len(t, conv, 1)
	assert.Equal(t, kefutest.EntryUser, conv[0].Kind)
	assert.Equal(t, "hello", conv[0].Push.Content)
	assert.Equal(t, srv.OriginalID, conv[0].Push.ToUserName)
	assert.Contains(t, string(conv[0].Push.Raw), "<Content><![CDATA[hello]]></Content>")

	for _, c := range []struct {
		body   string
		action kefutest.Action
		left   int
	}{
		{`{"openid":"o1","action":"menu","menu_id":"101","text":"Yes"}`, kefutest.MenuClick, 3},
		{`{"openid":"o1","action":"follow","key":"7"}`, kefutest.Follow, 3},
		{`{"openid":"o1","action":"scan"}`, kefutest.Scan, 3},
		{`{"openid":"o1","action":"click","key":"V1001"}`, kefutest.MenuClick, 3},
		{`{"openid":"o1","action":"payment"}`, kefutest.Payment, kefu.Unlimited},
	} {
		status, a := act(t, srv, "/kefutest/inbox/act", c.body)
		require.Equal(t, http.StatusOK, status, a)
		assert.Equal(t, c.left, srv.Window("o1", c.action).Left, c.body)
	}
	conv = srv.Conversation("o1")
	require.Len(t, conv, 5, "a payment is no push")
	assert.Equal(t, "101", conv[1].Push.BizMsgMenuID)
	assert.Equal(t, "qrscene_7", conv[2].Push.EventKey)
	assert.Equal(t, "inbox", conv[3].Push.EventKey, "scan's default scene")
	assert.Equal(t, "V1001", conv[4].Push.EventKey)

	status, _ = act(t, srv, "/kefutest/inbox/act", `{"openid":"o1","action":"unfollow"}`)
	require.Equal(t, http.StatusOK, status)
	assert.False(t, srv.Windows("o1").Open)
	assert.Equal(t, callback.EventUnsubscribe, srv.Conversation("o1")[5].Push.Event)
}

func TestInboxActChecksItsBody(t *testing.T) {
	t.Parallel()
	srv := inboxServer(t)
	for body, want := range map[string]string{
		`{"openid":"o1","action":"wave"}`:                     "unknown action wave",
		`{"openid":"o1","action":"say"}`:                      "text missing",
		`{"openid":"o1","action":"menu","text":"Yes"}`:        "menu_id missing",
		`{"action":"say","text":"hi"}`:                        "openid missing",
		`{"openid":"o1","action":"say","text":"hi","x":true}`: "unknown field",
	} {
		status, a := act(t, srv, "/kefutest/inbox/act", body)
		assert.Equal(t, http.StatusBadRequest, status, body)
		assert.Contains(t, a["errmsg"], want, body)
	}
	p := inboxGet(t, srv, "/kefutest/inbox/act")
	assert.Equal(t, http.StatusMethodNotAllowed, p.status)
	assert.Nil(t, srv.Conversation("o1"))
}

func TestInboxActsThroughTheCallback(t *testing.T) {
	t.Parallel()
	u, _ := service(t, kefutest.ModeSafe, callback.Config{}, func(_ context.Context, m *callback.Message) (callback.Reply, error) {
		if m.Content == "fail" {
			return nil, errors.New("the service broke")
		}
		if m.MsgType == callback.MsgTypeText {
			return callback.ReplyText("re: " + m.Content), nil
		}
		return nil, nil
	})
	srv := inboxServer(t, kefutest.WithApp(cbAppID, cbSecret), kefutest.WithCallback(u, cbToken, cbKey, kefutest.ModeSafe))

	status, a := act(t, srv, "/kefutest/inbox/act", `{"openid":"o1","action":"say","text":"hello"}`)
	require.Equal(t, http.StatusOK, status, a)
	assert.Equal(t, false, a["unavailable"])
	assert.Equal(t, "re: hello", a["reply"].(map[string]any)["message"].(map[string]any)["text"].(map[string]any)["content"])
	assert.Equal(t, []kefu.Message{*kefu.NewText("o1", "re: hello")}, srv.Messages("o1"))
	assert.Equal(t, 5, srv.Window("o1", kefutest.UserMessage).Left)

	status, a = act(t, srv, "/kefutest/inbox/act", `{"openid":"o1","action":"say","text":"fail"}`)
	require.Equal(t, http.StatusOK, status, a)
	assert.Equal(t, true, a["unavailable"])
	assert.Equal(t, kefutest.UnavailableText, a["error_shown"])
	assert.Contains(t, conversation(t, srv, "o1"), kefutest.UnavailableText)

	status, a = act(t, srv, "/kefutest/inbox/act", `{"openid":"o1","action":"menu","menu_id":"101","text":"Yes"}`)
	require.Equal(t, http.StatusOK, status, a)
	assert.Equal(t, 3, srv.Window("o1", kefutest.MenuClick).Left)
	assert.Equal(t, "re: Yes", srv.Messages("o1")[1].Text.Content)
}

func TestInboxClockUsersAndTokens(t *testing.T) {
	t.Parallel()
	srv := inboxServer(t)
	status, a := act(t, srv, "/kefutest/inbox/add_user", `{"openid":"o9"}`)
	require.Equal(t, http.StatusOK, status, a)
	assert.True(t, srv.Windows("o9").Known)
	assert.Contains(t, conversation(t, srv, "o9"), "following")

	srv.Interact("o9", kefutest.UserMessage)
	status, a = act(t, srv, "/kefutest/inbox/advance", `{"seconds":172800}`)
	require.Equal(t, http.StatusOK, status, a)
	assert.Equal(t, float64(start.Add(48*time.Hour).Unix()), a["now"])
	assert.False(t, srv.Window("o9", kefutest.UserMessage).Open)
	assert.Contains(t, conversation(t, srv, "o9"), "UserMessage: closed")

	c := srv.Client(kefu.WithRetry(kefu.RetryPolicy{MaxAttempts: 1}))
	require.NoError(t, c.CancelTyping(context.Background(), "o9"))
	status, a = act(t, srv, "/kefutest/inbox/rotate_tokens", `{}`)
	require.Equal(t, http.StatusOK, status, a)
	require.NoError(t, c.CancelTyping(context.Background(), "o9"))
	assert.Equal(t, 2, srv.Calls(kefutest.PathStableToken), "the cached token was rotated: 40001, and a fresh one")

	status, _ = act(t, srv, "/kefutest/inbox/advance", `{"seconds":-1}`)
	assert.Equal(t, http.StatusBadRequest, status)
}
