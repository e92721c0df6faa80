package kefutest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

func TestUserMessageWindow(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	srv.Interact("alice", kefutest.UserMessage)
	assert.Equal(t, kefutest.ActionWindow{Open: true, Closes: start.Add(48 * time.Hour), Left: 5},
		srv.Window("alice", kefutest.UserMessage))
	c := srv.Client()
	ctx := context.Background()
	for i := range 5 {
		_, err := c.Send(ctx, text("alice", fmt.Sprint(i)))
		require.NoError(t, err, i)
	}
	_, err := c.Send(ctx, text("alice", "6th"))
	assert.Equal(t, 45047, codeOf(t, err))
	assert.ErrorIs(t, err, kefu.ErrQuotaExceeded)
	assert.Equal(t, 6, srv.Calls(kefutest.PathSend), "45047 is not retried")

	srv.Advance(48*time.Hour - time.Second)
	_, err = c.Send(ctx, text("alice", "still used up"))
	assert.Equal(t, 45047, codeOf(t, err))
	srv.Advance(time.Second)
	_, err = c.Send(ctx, text("alice", "closed"))
	assert.Equal(t, 45015, codeOf(t, err))
	assert.ErrorIs(t, err, kefu.ErrOutsideWindow)
	assert.False(t, srv.Window("alice", kefutest.UserMessage).Open)

	srv.Interact("alice", kefutest.UserMessage)
	_, err = c.Send(ctx, text("alice", "again"))
	require.NoError(t, err, "a new message opens a new window")
	assert.Len(t, srv.Messages("alice"), 6)
}

func TestShortWindows(t *testing.T) {
	t.Parallel()
	for _, a := range []kefutest.Action{kefutest.MenuClick, kefutest.Follow, kefutest.Scan} {
		srv := frozen(t)
		c := srv.Client()
		ctx := context.Background()
		srv.Interact("alice", a)
		assert.Equal(t, kefutest.ActionWindow{Open: true, Closes: start.Add(time.Minute), Left: 3}, srv.Window("alice", a), a)
		for range 3 {
			_, err := c.Send(ctx, text("alice", "x"))
			require.NoError(t, err, a)
		}
		_, err := c.Send(ctx, text("alice", "x"))
		assert.Equal(t, 45047, codeOf(t, err), a)

		srv.Interact("alice", a) // a new action of the same kind: a fresh quota
		_, err = c.Send(ctx, text("alice", "x"))
		require.NoError(t, err, a)
		assert.Equal(t, 2, srv.Window("alice", a).Left, a)
		srv.Advance(time.Minute)
		_, err = c.Send(ctx, text("alice", "x"))
		assert.Equal(t, 45015, codeOf(t, err), a)
	}
}

func TestPaymentWindowIsUnlimited(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	srv.Interact("alice", kefutest.Payment)
	c := srv.Client()
	for i := range 30 {
		_, err := c.Send(context.Background(), text("alice", fmt.Sprint(i)))
		require.NoError(t, err, i)
	}
	assert.Equal(t, kefutest.ActionWindow{Open: true, Closes: start.Add(48 * time.Hour), Left: -1},
		srv.Window("alice", kefutest.Payment))
	srv.Advance(48 * time.Hour)
	_, err := c.Send(context.Background(), text("alice", "late"))
	assert.Equal(t, 45015, codeOf(t, err))
}

func TestSendUsesTheWindowThatClosesFirst(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	c := srv.Client()
	ctx := context.Background()
	send := func() error { _, err := c.Send(ctx, text("alice", "x")); return err }

	srv.Interact("alice", kefutest.UserMessage) // closes in 48 h, 5 messages
	srv.Advance(time.Hour)
	srv.Interact("alice", kefutest.Payment) // closes in 49 h, unlimited
	srv.Advance(time.Hour)
	srv.Interact("alice", kefutest.MenuClick) // closes in 1 min, 3 messages

	require.NoError(t, send())
	assert.Equal(t, 2, srv.Window("alice", kefutest.MenuClick).Left, "the menu window closes first")
	assert.Equal(t, 5, srv.Window("alice", kefutest.UserMessage).Left)
	require.NoError(t, send())
	require.NoError(t, send())
	assert.Equal(t, 0, srv.Window("alice", kefutest.MenuClick).Left)

	require.NoError(t, send())
	assert.Equal(t, 4, srv.Window("alice", kefutest.UserMessage).Left, "then the user-message window")
	srv.Advance(time.Minute) // the menu window closes
	for range 4 {
		require.NoError(t, send())
	}
	assert.Equal(t, 0, srv.Window("alice", kefutest.UserMessage).Left)
	require.NoError(t, send(), "then the payment window, which never runs out")
	assert.Equal(t, -1, srv.Window("alice", kefutest.Payment).Left)
	assert.Len(t, srv.Messages("alice"), 9)

	// A window that closes first but is used up is skipped.
	srv.Interact("bob", kefutest.Follow)
	srv.Interact("bob", kefutest.UserMessage)
	for range 3 {
		_, err := c.Send(ctx, text("bob", "x"))
		require.NoError(t, err)
	}
	_, err := c.Send(ctx, text("bob", "x"))
	require.NoError(t, err)
	assert.Equal(t, kefutest.ActionWindow{Open: true, Closes: srv.Now().Add(time.Minute), Left: 0}, srv.Window("bob", kefutest.Follow))
	assert.Equal(t, 4, srv.Window("bob", kefutest.UserMessage).Left)
}

func TestFollowersAndUnfollow(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	c := srv.Client()
	ctx := context.Background()

	_, err := c.Send(ctx, text("carol", "x"))
	assert.Equal(t, 40003, codeOf(t, err), "unknown openid")

	srv.AddUser("carol")
	_, err = c.Send(ctx, text("carol", "x"))
	assert.Equal(t, 45015, codeOf(t, err), "a follower without a window")

	srv.Interact("carol", kefutest.Payment)
	_, err = c.Send(ctx, text("carol", "x"))
	require.NoError(t, err)

	srv.Unfollow("carol")
	_, err = c.Send(ctx, text("carol", "x"))
	var ae *kefu.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 45015, ae.Code)
	assert.Equal(t, "response out of time limit or subscription is canceled", ae.Message)
	assert.Equal(t, kefutest.ActionWindow{}, srv.Window("carol", kefutest.Payment))

	srv.Interact("carol", kefutest.Follow) // follows again
	_, err = c.Send(ctx, text("carol", "x"))
	require.NoError(t, err)

	srv.Unfollow("dave") // an unknown user who unfollowed is still an openid of the account
	_, err = c.Send(ctx, text("dave", "x"))
	assert.Equal(t, 45015, codeOf(t, err))
	srv.AddUser("dave")
	_, err = c.Send(ctx, text("dave", "x"))
	assert.Equal(t, 45015, codeOf(t, err), "following again opens no window")

	assert.Panics(t, func() { srv.Interact("erin", kefutest.Action(99)) })
	assert.Panics(t, func() { srv.AddUser("") })
	assert.Equal(t, "MenuClick", kefutest.MenuClick.String())
	assert.Equal(t, "Action(99)", kefutest.Action(99).String())
}

func TestEnterSessionWindow(t *testing.T) {
	t.Parallel()
	srv := frozen(t, kefutest.WithMiniProgram())
	c := srv.Client()
	ctx := context.Background()
	srv.Interact("alice", kefutest.EnterSession)
	assert.Equal(t, kefutest.ActionWindow{Open: true, Closes: start.Add(time.Minute), Left: 2},
		srv.Window("alice", kefutest.EnterSession))
	for range 2 {
		_, err := c.Send(ctx, text("alice", "x"))
		require.NoError(t, err)
	}
	_, err := c.Send(ctx, text("alice", "x"))
	assert.Equal(t, 45047, codeOf(t, err), "2 messages")

	srv.Interact("alice", kefutest.EnterSession) // entering again: a fresh quota
	_, err = c.Send(ctx, text("alice", "x"))
	require.NoError(t, err)
	srv.Advance(time.Minute)
	_, err = c.Send(ctx, text("alice", "x"))
	assert.Equal(t, 45015, codeOf(t, err), "for 1 minute")
	assert.Len(t, srv.Messages("alice"), 3)
	assert.Equal(t, "EnterSession", kefutest.EnterSession.String())
}

func TestActionsAreKefus(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	for _, a := range kefu.Actions() {
		rule, ok := a.Rule()
		require.True(t, ok, a)
		srv.Interact("alice", a)
		assert.Equal(t, kefutest.ActionWindow{Open: true, Closes: start.Add(rule.For), Left: rule.Messages},
			srv.Window("alice", a), a)
	}
	var a kefutest.Action = kefu.ActionScan // the same type
	assert.Equal(t, kefutest.Scan, a)
}
