package kefu_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

func TestQuota(t *testing.T) {
	t.Parallel()
	srv, c := newKefu(t)
	ctx := context.Background()
	srv.SetDailyQuota(kefutest.PathSend, 2)
	srv.SetRateLimit(kefutest.PathSend, 10)
	srv.Interact("alice", kefutest.Payment)

	_, err := c.Send(ctx, kefu.NewText("alice", "one"))
	require.NoError(t, err)
	q, err := c.Quota(ctx, kefutest.PathSend)
	require.NoError(t, err)
	assert.Equal(t, &kefu.Quota{DailyLimit: 2, Used: 1, Remain: 1, RateLimit: kefu.RateLimit{CallCount: 10, RefreshSecond: 60}}, q)

	_, err = c.Send(ctx, kefu.NewText("alice", "two"))
	require.NoError(t, err)
	_, err = c.Send(ctx, kefu.NewText("alice", "three"))
	assert.ErrorIs(t, err, kefu.ErrDailyQuota)
	assert.ErrorIs(t, err, kefu.ErrRateLimited, "a daily quota is a rate limit too")
	assert.Equal(t, 45009, codeOf(t, err))

	require.NoError(t, c.ClearQuota(ctx, srv.AppID))
	_, err = c.Send(ctx, kefu.NewText("alice", "after the clear"))
	require.NoError(t, err)
	assert.Len(t, srv.Messages("alice"), 3)

	err = c.ClearQuota(ctx, "wx_someone_else")
	assert.Equal(t, 40013, codeOf(t, err))

	// A path without a quota set: WeChat's default, nothing used.
	q, err = c.Quota(ctx, kefutest.PathTemplateSend)
	require.NoError(t, err)
	assert.Equal(t, &kefu.Quota{DailyLimit: 500000, Remain: 500000}, q)
}

func TestRateLimitIsNotDailyQuota(t *testing.T) {
	t.Parallel()
	srv, c := newKefu(t)
	srv.SetRateLimit(kefutest.PathAccounts, 1)
	_, err := c.Accounts(context.Background())
	require.NoError(t, err)
	_, err = c.Accounts(context.Background())
	assert.ErrorIs(t, err, kefu.ErrRateLimited)
	assert.NotErrorIs(t, err, kefu.ErrDailyQuota)
	assert.Equal(t, 45011, codeOf(t, err))
}

func TestQuotaValidation(t *testing.T) {
	t.Parallel()
	srv, c := newKefu(t)
	ctx := context.Background()
	for _, path := range []string{"", "cgi-bin/message/custom/send"} {
		_, err := c.Quota(ctx, path)
		validation(t, err, "cgi_path")
	}
	validation(t, c.ClearQuota(ctx, ""), "appid")
	//lint:ignore SA1012 a nil context is what this checks
	_, err := c.Quota(nil, kefutest.PathSend)
	require.ErrorIs(t, err, kefu.ErrInvalidMessage)
	assert.Zero(t, srv.Calls(kefutest.PathQuota))
	assert.Zero(t, srv.Calls(kefutest.PathClearQuota))
}

// TestQuotaRetriesUnknown: a quota read has no effect, so a lost answer is
// read again, and an error never says the call may have been delivered.
func TestQuotaRetriesUnknown(t *testing.T) {
	t.Parallel()
	srv, c := newKefu(t)
	ctx := context.Background()
	srv.DropNext(kefutest.PathQuota, 1)
	q, err := c.Quota(ctx, kefutest.PathSend)
	require.NoError(t, err)
	assert.Equal(t, 500000, q.DailyLimit)
	assert.Equal(t, 2, srv.Calls(kefutest.PathQuota))

	srv.DropNext(kefutest.PathQuota, 3)
	_, err = c.Quota(ctx, kefutest.PathSend)
	require.Error(t, err)
	assert.NotErrorIs(t, err, kefu.ErrDeliveryUnknown)
	assert.Equal(t, 5, srv.Calls(kefutest.PathQuota), "3 attempts")

	// Clearing is a write: not retried on an unknown outcome by default.
	srv.DropNext(kefutest.PathClearQuota, 1)
	err = c.ClearQuota(ctx, srv.AppID)
	assert.ErrorIs(t, err, kefu.ErrDeliveryUnknown)
	assert.Equal(t, 1, srv.Calls(kefutest.PathClearQuota))
}
