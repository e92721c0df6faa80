package kefutest_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

// payingAlice is a frozen server where alice paid (unlimited messages for
// 48 h), a client of it, and a context.
func payingAlice(t *testing.T, opts ...kefutest.ServerOption) (*kefutest.Server, *kefu.Client, context.Context) {
	t.Helper()
	srv := frozen(t, opts...)
	srv.Interact("alice", kefutest.Payment)
	return srv, srv.Client(), context.Background()
}

// sendCode sends a text to to and returns the errcode (0 on success).
func sendCode(t *testing.T, c *kefu.Client, to string) int {
	t.Helper()
	_, err := c.Send(context.Background(), text(to, "hi"))
	if err == nil {
		return 0
	}
	return codeOf(t, err)
}

// TestDailyQuotaResetsAtMidnightUTC8: start is 10:00 in UTC+8, so the day
// ends 14 hours later, whatever UTC says.
func TestDailyQuotaResetsAtMidnightUTC8(t *testing.T) {
	t.Parallel()
	srv, c, _ := payingAlice(t, kefutest.WithDailyQuota(kefutest.PathSend, 2))
	assert.Equal(t, 0, sendCode(t, c, "alice"))
	assert.Equal(t, 0, sendCode(t, c, "alice"))
	assert.Equal(t, 45009, sendCode(t, c, "alice"))

	srv.Advance(14*time.Hour - time.Second) // 23:59:59 in UTC+8
	srv.Interact("alice", kefutest.Payment)
	assert.Equal(t, 45009, sendCode(t, c, "alice"), "still today")
	srv.Advance(time.Second) // midnight in UTC+8, 16:00 UTC
	assert.Equal(t, 0, sendCode(t, c, "alice"))
	assert.Len(t, srv.Messages("alice"), 3, "refused calls deliver nothing")
}

// TestRateLimitMinuteWindow: the minute is the fake clock's, and
// quota/get says how long is left of it.
func TestRateLimitMinuteWindow(t *testing.T) {
	t.Parallel()
	srv, c, ctx := payingAlice(t, kefutest.WithRateLimit(kefutest.PathSend, 2))
	assert.Equal(t, 0, sendCode(t, c, "alice"))
	assert.Equal(t, 0, sendCode(t, c, "alice"))
	assert.Equal(t, 45011, sendCode(t, c, "alice"))
	q, err := c.Quota(ctx, kefutest.PathSend)
	require.NoError(t, err)
	assert.Equal(t, kefu.RateLimit{CallCount: 2, RefreshSecond: 60}, q.RateLimit)
	assert.Equal(t, 2, q.Used, "a refused call is not counted")

	srv.Advance(45*time.Second + 500*time.Millisecond)
	q, err = c.Quota(ctx, kefutest.PathSend)
	require.NoError(t, err)
	assert.Equal(t, 15, q.RateLimit.RefreshSecond, "14.5 s left, rounded up")
	assert.Equal(t, 45011, sendCode(t, c, "alice"))

	srv.Advance(14500 * time.Millisecond) // the next minute
	assert.Equal(t, 0, sendCode(t, c, "alice"))

	srv.SetRateLimit(kefutest.PathSend, 0)
	assert.Equal(t, 45011, sendCode(t, c, "alice"), "set at run time")
	srv.SetRateLimit(kefutest.PathSend, -1)
	assert.Equal(t, 0, sendCode(t, c, "alice"), "removed, the option's too")
	q, err = c.Quota(ctx, kefutest.PathSend)
	require.NoError(t, err)
	assert.Zero(t, q.RateLimit, "no limit reported")
}

func TestSetDailyQuotaCountsToday(t *testing.T) {
	t.Parallel()
	srv, c, _ := payingAlice(t)
	assert.Equal(t, 0, sendCode(t, c, "alice"))
	assert.Equal(t, 40003, sendCode(t, c, "bob-unknown"), "an error answer counts too")
	srv.SetDailyQuota(kefutest.PathSend, 2)
	assert.Equal(t, 45009, sendCode(t, c, "alice"), "the calls made today count")
	srv.SetDailyQuota(kefutest.PathSend, -1)
	assert.Equal(t, 0, sendCode(t, c, "alice"))
}

func TestQuotaGet(t *testing.T) {
	t.Parallel()
	srv := frozen(t, kefutest.WithDailyQuota(kefutest.PathTyping, 10))
	w := rawClient(t, srv)
	tok := w.token()
	get := func(body string) map[string]any {
		t.Helper()
		_, _, b := w.roundTrip("POST", kefutest.PathQuota+"?access_token="+tok, "", stringBody(body))
		var a map[string]any
		require.NoError(t, json.Unmarshal(b, &a), "%s", b)
		return a
	}
	w.probe(tok)
	w.probe(tok)
	assert.Equal(t, map[string]any{"errcode": 0.0, "errmsg": "ok",
		"quota": map[string]any{"daily_limit": 10.0, "used": 2.0, "remain": 8.0}},
		get(`{"cgi_path":"`+kefutest.PathTyping+`"}`))
	assert.Equal(t, map[string]any{"errcode": 0.0, "errmsg": "ok",
		"quota": map[string]any{"daily_limit": 500000.0, "used": 0.0, "remain": 500000.0}},
		get(`{"cgi_path":"/cgi-bin/user/info"}`), "WeChat knows paths the fake does not")
	assert.Equal(t, 76003, errcode(get(`{"cgi_path":"cgi-bin/message/custom/send"}`)))
	assert.Equal(t, 76003, errcode(get(`{}`)))
	assert.Equal(t, 44002, errcode(get(``)))
	assert.Equal(t, 3, srv.QuotaPaths(), "counts of the token, typing and quota/get paths only")
}

func TestClearQuota(t *testing.T) {
	t.Parallel()
	srv, c, ctx := payingAlice(t, kefutest.WithDailyQuota(kefutest.PathSend, 1))
	assert.Equal(t, 0, sendCode(t, c, "alice"))
	assert.Equal(t, 45009, sendCode(t, c, "alice"))
	require.NoError(t, c.ClearQuota(ctx, srv.AppID))
	assert.Equal(t, 0, sendCode(t, c, "alice"))

	assert.Equal(t, 40013, codeOf(t, c.ClearQuota(ctx, "wx0000000000000000")))
	w := rawClient(t, srv)
	assert.Equal(t, 41002, w.post(kefutest.PathClearQuota, w.token(), `{}`).ErrCode)

	for range kefu.MaxClearQuota - 1 {
		require.NoError(t, c.ClearQuota(ctx, srv.AppID))
	}
	err := c.ClearQuota(ctx, srv.AppID)
	assert.Equal(t, 48006, codeOf(t, err), "10 a month")
	assert.Equal(t, 0, sendCode(t, c, "alice"), "the last clear worked")

	srv.Advance(31 * 24 * time.Hour) // June in UTC+8
	srv.Interact("alice", kefutest.Payment)
	require.NoError(t, c.ClearQuota(ctx, srv.AppID), "a new month")
}
