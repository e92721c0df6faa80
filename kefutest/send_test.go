package kefutest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

func TestClientSendsAndServerRecords(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Interact("alice", kefutest.UserMessage)
	c := srv.Client()
	ctx := context.Background()

	link := `see <a href="http://www.qq.com/?a=1&b=2">here</a>`
	resp, err := c.Send(ctx, text("alice", link))
	require.NoError(t, err)
	assert.Equal(t, 0, resp.ErrCode)
	assert.Equal(t, "ok", resp.ErrMsg)
	_, err = c.Send(ctx, text("alice", "second").From("kf1@acct"))
	require.NoError(t, err)

	got := srv.Messages("alice")
	require.Len(t, got, 2)
	assert.Equal(t, *text("alice", link), got[0])
	assert.Equal(t, *text("alice", "second").From("kf1@acct"), got[1])
	assert.Equal(t, 2, srv.Calls(kefutest.PathSend))
	assert.Equal(t, 1, srv.Calls(kefutest.PathStableToken), "the client caches its token")
	assert.Zero(t, srv.Calls(kefutest.PathToken))
	assert.Nil(t, srv.Messages("bob"))

	// The result is the caller's: changing it changes nothing on the server.
	got[0].Text.Content = "changed"
	assert.Equal(t, link, srv.Messages("alice")[0].Text.Content)
}

func TestSendChecksInWeChatOrder(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	w := rawClient(t, srv)
	tok := w.token()
	srv.AddUser("follower") // no window
	srv.Interact("alice", kefutest.UserMessage)
	srv.AddMedia(kefutest.MediaImage, "img")

	cases := []struct {
		name string
		body string
		code int
	}{
		{"empty body", ``, 44002},
		{"blank body", " \n", 44002},
		{"not JSON", `{"touser":`, 47001},
		{"JSON null", `null`, 47001},
		{"JSON array", ` [{"touser":"alice"}]`, 47001},
		{"wrong field type", `{"touser":1,"msgtype":"text","text":{"content":"x"}}`, 47001},
		{"escape before type", `{"touser":"alice","msgtype":"nope","text":{"content":"\u003c"}}`, 40033},
		{"escaped <", `{"touser":"alice","msgtype":"text","text":{"content":"a\u003cb"}}`, 40033},
		{"escaped > upper hex", `{"touser":"alice","msgtype":"text","text":{"content":"a\u003Eb"}}`, 40033},
		{"escaped &", `{"touser":"alice","msgtype":"text","text":{"content":"a\u0026b"}}`, 40033},
		{"escape in a key", `{"touser":"alice","msgtype":"text","text":{"content":"x"},"\u0026":1}`, 40033},
		{"escaped backslash then u003c", `{"touser":"alice","msgtype":"text","text":{"content":"a\\u003cb"}}`, 0},
		{"other escapes", `{"touser":"alice","msgtype":"text","text":{"content":"\u4f60\"\n\\\u00e9"}}`, 0},
		{"unknown msgtype", `{"touser":"alice","msgtype":"sticker"}`, 40008},
		{"missing msgtype", `{"touser":"alice","text":{"content":"x"}}`, 40008},
		{"link on an official account", `{"touser":"alice","msgtype":"link","link":{"title":"t","url":"http://x","thumb_url":"http://y"}}`, 40008},
		{"empty text", `{"touser":"alice","msgtype":"text","text":{"content":""}}`, 44004},
		{"missing text body", `{"touser":"alice","msgtype":"text"}`, 44004},
		{"content before user", `{"touser":"nobody","msgtype":"text","text":{"content":""}}`, 44004},
		{"news with 2 articles", `{"touser":"alice","msgtype":"news","news":{"articles":[{"title":"a","url":"http://a"},{"title":"b","url":"http://b"}]}}`, 45008},
		{"news without articles", `{"touser":"alice","msgtype":"news","news":{"articles":[]}}`, 44003},
		{"unknown media", `{"touser":"alice","msgtype":"image","image":{"media_id":"nope"}}`, 40007},
		{"media before user", `{"touser":"nobody","msgtype":"image","image":{"media_id":"nope"}}`, 40007},
		{"unknown openid", `{"touser":"nobody","msgtype":"image","image":{"media_id":"img"}}`, 40003},
		{"empty openid", `{"touser":"","msgtype":"text","text":{"content":"x"}}`, 40003},
		{"no window", `{"touser":"follower","msgtype":"text","text":{"content":"x"}}`, 45015},
		{"ok", `{"touser":"alice","msgtype":"image","image":{"media_id":"img"}}`, 0},
	}
	accepted := 0
	for _, tc := range cases {
		a := w.send(tok, tc.body)
		assert.Equal(t, tc.code, a.ErrCode, "%s: %s", tc.name, a.ErrMsg)
		if tc.code == 0 {
			accepted++
		}
	}
	msgs := srv.Messages("alice")
	require.Len(t, msgs, accepted)
	assert.Equal(t, `a\u003cb`, msgs[0].Text.Content, "an escaped backslash is literal text")
	assert.Equal(t, "你\"\n\\é", msgs[1].Text.Content)
	assert.Equal(t, 5-accepted, srv.Window("alice", kefutest.UserMessage).Left, "only accepted messages use quota")
}

func TestMaxTextBytes(t *testing.T) {
	t.Parallel()
	srv := newServer(t, kefutest.WithMaxTextBytes(6))
	srv.Interact("alice", kefutest.UserMessage)
	c := srv.Client()
	_, err := c.Send(context.Background(), text("alice", "你好")) // 6 bytes
	require.NoError(t, err)
	_, err = c.Send(context.Background(), text("alice", "你好!"))
	assert.Equal(t, 45002, codeOf(t, err))
	assert.Len(t, srv.Messages("alice"), 1)
}

func TestMiniProgram(t *testing.T) {
	t.Parallel()
	srv := newServer(t, kefutest.WithMiniProgram())
	srv.Interact("alice", kefutest.UserMessage)
	srv.AddMedia(kefutest.MediaVoice, "v")
	c := srv.Client()
	ctx := context.Background()
	_, err := c.Send(ctx, kefu.NewLink("alice", kefu.Link{Title: "t", URL: "https://x.example", ThumbURL: "https://x.example/t.png"}))
	require.NoError(t, err)
	_, err = c.Send(ctx, kefu.NewVoice("alice", "v"))
	assert.Equal(t, 45162, codeOf(t, err))
}

func TestMissingBodyCountsAsEmpty(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	w := rawClient(t, srv)
	tok := w.token()
	srv.Interact("alice", kefutest.Payment)
	want := map[kefu.MsgType]int{
		kefu.TypeText: 44004, kefu.TypeNews: 44003, kefu.TypeMsgMenu: 44004,
		kefu.TypeImage: 40007, kefu.TypeVoice: 40007, kefu.TypeVideo: 40007, kefu.TypeMusic: 40007,
		kefu.TypeMPNews: 40007, kefu.TypeMPNewsArticle: 40007, kefu.TypeWxCard: 40007,
		kefu.TypeMiniProgramPage: 40007, kefu.TypeLink: 40008, // link: not an Official Account's type
	}
	for _, typ := range kefu.MsgTypes() {
		code, ok := want[typ]
		if !assert.True(t, ok, "no expectation for %s", typ) {
			continue
		}
		assert.Equal(t, code, w.send(tok, `{"touser":"alice","msgtype":"`+string(typ)+`"}`).ErrCode, typ)
		assert.Equal(t, code, w.send(tok, `{"touser":"alice","msgtype":"`+string(typ)+`","`+string(typ)+`":{}}`).ErrCode, "empty %s", typ)
	}
	assert.Nil(t, srv.Messages("alice"))
}

func TestContentThatPasses(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Interact("alice", kefutest.Payment)
	c := srv.Client()
	ctx := context.Background()
	for _, m := range []*kefu.Message{
		text("alice", "x"),
		kefu.NewNews("alice", kefu.Article{Title: "a", URL: "https://a.example"}),
		kefu.NewMsgMenu("alice", kefu.MsgMenu{List: []kefu.MenuItem{{ID: "1", Content: "yes"}}}),
	} {
		_, err := c.Send(ctx, m)
		require.NoError(t, err, m.MsgType)
	}
	assert.Len(t, srv.Messages("alice"), 3)
}

func TestRefusedSendsInConversation(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	srv.AddUser("alice") // follows, no window
	c := srv.Client(kefu.WithRetry(kefu.RetryPolicy{MaxAttempts: 1}))
	ctx := context.Background()

	_, err := c.Send(ctx, text("alice", "too early"))
	require.ErrorIs(t, err, kefu.ErrOutsideWindow)
	_, err = c.Send(ctx, text("nobody", "unknown user"))
	require.Error(t, err)
	srv.Interact("alice", kefutest.Follow) // 3 messages
	for i := range 3 {
		_, err := c.Send(ctx, text("alice", fmt.Sprint("ok ", i)))
		require.NoError(t, err)
	}
	_, err = c.Send(ctx, kefu.NewImage("alice", "no-such-media"))
	require.Error(t, err)
	_, err = c.Send(ctx, text("alice", "one too many"))
	require.Error(t, err)

	conv := srv.Conversation("alice")
	require.Len(t, conv, 6)
	assert.Equal(t, kefutest.EntryRefused, conv[0].Kind)
	assert.Equal(t, "refused", conv[0].Kind.String())
	assert.Equal(t, 45015, conv[0].Code)
	assert.Equal(t, "too early", conv[0].Message.Text.Content)
	assert.Equal(t, kefutest.EntrySent, conv[1].Kind)
	assert.Zero(t, conv[1].Code)
	assert.Equal(t, 40007, conv[4].Code, "a content check's refusal")
	assert.Equal(t, "no-such-media", conv[4].Message.Image.MediaID)
	assert.Equal(t, 45047, conv[5].Code)
	assert.Len(t, srv.Messages("alice"), 3, "Messages shows what the user saw only")
	assert.Nil(t, srv.Conversation("nobody"), "an unknown user is not registered by a refusal")
}

func TestRefusedSendsKeptAreBounded(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	srv.AddUser("alice")
	w := rawClient(t, srv)
	tok := w.token()
	for i := range 105 {
		a := w.send(tok, fmt.Sprintf(`{"touser":"alice","msgtype":"text","text":{"content":"n%d"}}`, i))
		require.Equal(t, 45015, a.ErrCode)
	}
	conv := srv.Conversation("alice")
	require.Len(t, conv, 100)
	assert.Equal(t, "n5", conv[0].Message.Text.Content, "the oldest went first")
	assert.Equal(t, "n104", conv[99].Message.Text.Content)
}
