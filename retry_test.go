package kefu

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		answers []string
		policy  RetryPolicy
		calls   int
		want    error // nil: success
	}{
		{"-1 once", []string{`{"errcode":-1,"errmsg":"system error"}`, okAnswer}, DefaultRetryPolicy(), 2, nil},
		{"-1 twice", []string{`{"errcode":-1,"errmsg":"system error"}`, `{"errcode":-1,"errmsg":"system error"}`, okAnswer}, DefaultRetryPolicy(), 3, nil},
		{"-1 always", []string{`{"errcode":-1,"errmsg":"system error"}`}, DefaultRetryPolicy(), 3, ErrSystemBusy},
		{"-1 no retry", []string{`{"errcode":-1,"errmsg":"system error"}`}, NoRetry, 1, ErrSystemBusy},
		{"45015", []string{`{"errcode":45015,"errmsg":"response out of time limit or subscription is canceled rid: 1-2-3"}`}, DefaultRetryPolicy(), 1, ErrOutsideWindow},
		{"45047", []string{`{"errcode":45047,"errmsg":"out of response count limit"}`}, DefaultRetryPolicy(), 1, ErrQuotaExceeded},
		{"45009", []string{`{"errcode":45009,"errmsg":"reach max api daily quota limit"}`}, DefaultRetryPolicy(), 1, ErrRateLimited},
		{"45011", []string{`{"errcode":45011,"errmsg":"api minute-quota reach limit"}`}, DefaultRetryPolicy(), 1, ErrRateLimited},
		{"40003", []string{`{"errcode":40003,"errmsg":"invalid openid"}`}, DefaultRetryPolicy(), 1, ErrInvalidOpenID},
		{"45011 listed", []string{`{"errcode":45011,"errmsg":"api minute-quota reach limit"}`, okAnswer},
			RetryPolicy{MaxAttempts: 5, RetryCodes: []int{45011}}, 2, nil},
		{"5 attempts", []string{`{"errcode":-1,"errmsg":"system error"}`}, RetryPolicy{MaxAttempts: 5, RetryCodes: []int{-1}}, 5, ErrSystemBusy},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWechat(t)
			w.handle(stableTokenPath, stableTokens())
			w.handle(sendPath, script(tc.answers...))
			var waits atomic.Int64
			c := newTestClient(t, w, WithRetry(tc.policy), withSleep(func(ctx context.Context, _ time.Duration) error {
				waits.Add(1)
				return ctx.Err()
			}))
			resp, err := c.Send(context.Background(), NewText("OPENID", "hi"))
			assert.Equal(t, tc.calls, w.count(sendPath), "attempts seen by the server")
			assert.Equal(t, int64(tc.calls-1), waits.Load(), "one wait between attempts")
			if tc.want == nil {
				require.NoError(t, err)
				assert.NotNil(t, resp)
				return
			}
			assert.Nil(t, resp)
			assert.ErrorIs(t, err, tc.want)
			assert.NotErrorIs(t, err, ErrDeliveryUnknown)
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, sendPath, ae.Path)
		})
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{MaxAttempts: 10, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	for n := 1; n <= 8; n++ {
		ceiling := min(p.BaseDelay<<(n-1), p.MaxDelay)
		var maxSeen time.Duration
		for i := 0; i < 2000; i++ {
			d := p.backoff(n)
			require.GreaterOrEqual(t, d, time.Duration(0))
			require.LessOrEqual(t, d, ceiling, "attempt %d", n)
			maxSeen = max(maxSeen, d)
		}
		assert.Greater(t, maxSeen, ceiling/2, "full jitter spreads up to the ceiling (attempt %d)", n)
	}
	assert.Zero(t, RetryPolicy{MaxAttempts: 3}.backoff(2))
	huge := RetryPolicy{MaxAttempts: 100, BaseDelay: time.Hour, MaxDelay: 1 << 62}
	assert.Positive(t, huge.backoff(90)+1, "no overflow")
}

func TestCancelDuringBackoff(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	w.handle(stableTokenPath, stableTokens())
	w.handle(sendPath, answerWith(`{"errcode":-1,"errmsg":"system error"}`))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A real timer of an hour; the cancel comes while it runs.
	c := newTestClient(t, w, WithRetry(RetryPolicy{MaxAttempts: 3, BaseDelay: time.Hour, MaxDelay: time.Hour, RetryCodes: []int{-1}}),
		withSleep(func(wctx context.Context, d time.Duration) error {
			go cancel()
			return sleepCtx(wctx, time.Hour)
		}))
	start := time.Now()
	_, err := c.Send(ctx, NewText("OPENID", "hi"))
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, ErrSystemBusy, "the last attempt's error is kept")
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Equal(t, 1, w.count(sendPath))
}
