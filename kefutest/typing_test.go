package kefutest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu/kefutest"
)

func TestTyping(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	c := srv.Client()
	ctx := context.Background()

	assert.Equal(t, 40003, codeOf(t, c.Typing(ctx, "nobody")))
	srv.AddUser("alice")
	assert.Equal(t, 45015, codeOf(t, c.Typing(ctx, "alice")), "no open window")

	srv.Interact("alice", kefutest.UserMessage)
	require.NoError(t, c.Typing(ctx, "alice"))
	assert.True(t, srv.Typing("alice"))
	assert.Equal(t, 45081, codeOf(t, c.Typing(ctx, "alice")), "already typing")
	srv.Advance(15 * time.Second)
	assert.False(t, srv.Typing("alice"), "the state lasts 15 s")
	require.NoError(t, c.Typing(ctx, "alice"), "15 s after the user's message: still within 30 s")

	srv.Advance(16 * time.Second)
	assert.Equal(t, 45080, codeOf(t, c.Typing(ctx, "alice")), "no exchange in the last 30 s")

	_, err := c.Send(ctx, text("alice", "a message is an exchange too"))
	require.NoError(t, err)
	require.NoError(t, c.Typing(ctx, "alice"))
	_, err = c.Send(ctx, text("alice", "and it ends the typing state"))
	require.NoError(t, err)
	assert.False(t, srv.Typing("alice"))
	require.NoError(t, c.Typing(ctx, "alice"))

	require.NoError(t, c.CancelTyping(ctx, "alice"))
	assert.False(t, srv.Typing("alice"))
	require.NoError(t, c.Typing(ctx, "alice"), "cancelled: Typing may start again")
	require.NoError(t, c.CancelTyping(ctx, "nobody"), "CancelTyping always succeeds")

	srv.Unfollow("alice")
	assert.Equal(t, 45015, codeOf(t, c.Typing(ctx, "alice")))
	assert.Len(t, srv.Messages("alice"), 2, "typing sends no message")
}

func TestTypingWire(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	w := rawClient(t, srv)
	tok := w.token()
	srv.Interact("alice", kefutest.MenuClick)
	typing := func(body string) int { return w.post(kefutest.PathTyping, tok, body).ErrCode }

	assert.Equal(t, 45072, typing(`{"touser":"alice","command":"typing"}`))
	assert.Equal(t, 45072, typing(`{"touser":"alice"}`))
	assert.Equal(t, 44002, typing(``))
	assert.Equal(t, 47001, typing(`{"touser":`))
	assert.Equal(t, 40033, typing(`{"touser":"alice\u003c","command":"Typing"}`))
	assert.Zero(t, typing(`{"touser":"alice","command":"Typing"}`))
	assert.Zero(t, typing(`{"touser":"","command":"CancelTyping"}`))
	assert.Equal(t, 40001, w.post(kefutest.PathTyping, "bad", `{"touser":"alice","command":"CancelTyping"}`).ErrCode)

	// Typing needs an open window, not quota: a used-up window still counts.
	for range 3 {
		require.Zero(t, w.send(tok, `{"touser":"alice","msgtype":"text","text":{"content":"x"}}`).ErrCode)
	}
	assert.Equal(t, 45047, w.send(tok, `{"touser":"alice","msgtype":"text","text":{"content":"x"}}`).ErrCode)
	assert.Zero(t, typing(`{"touser":"alice","command":"Typing"}`))
	srv.Advance(time.Minute)
	assert.Equal(t, 45015, typing(`{"touser":"alice","command":"Typing"}`), "the menu window closed")
}
