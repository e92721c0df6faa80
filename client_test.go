package kefu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSendWire(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	w.handle(stableTokenPath, stableTokens())
	var hdr http.Header
	w.handle(sendPath, func(rw http.ResponseWriter, r *http.Request) {
		hdr = r.Header.Clone()
		assert.Equal(t, http.MethodPost, r.Method)
		writeJSON(rw, `{"errcode":0,"errmsg":"ok","msgid":42}`)
	})
	c := newTestClient(t, w)
	m := NewText("OPENID", `<a href="https://example.com/?a=1&b=2">点我 😀</a>`)
	resp, err := c.Send(context.Background(), m)
	require.NoError(t, err)
	assert.Equal(t, &Response{ErrCode: 0, ErrMsg: "ok", MsgID: 42}, resp)
	assert.Equal(t, `{"touser":"OPENID","msgtype":"text","text":{"content":"<a href=\"https://example.com/?a=1&b=2\">点我 😀</a>"}}`,
		string(w.body(sendPath, 0)))
	assert.Equal(t, "access_token="+tokenName(1), w.query(sendPath, 0))
	assert.Equal(t, "application/json; charset=utf-8", hdr.Get("Content-Type"))
	assert.Equal(t, "kefu-go/"+Version, hdr.Get("User-Agent"))

	// The stable endpoint got WeChat's body.
	assert.JSONEq(t, `{"grant_type":"client_credential","appid":"`+testAppID+`","secret":"`+testSecret+`","force_refresh":false}`,
		string(w.body(stableTokenPath, 0)))
}

func TestSendDoesNotChangeMessage(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	w.handle(stableTokenPath, stableTokens())
	w.handle(sendPath, answerWith(okAnswer))
	c := newTestClient(t, w)
	m := NewNews("OPENID", Article{Title: "t", URL: "https://example.com/a?b=1&c=2"}).From("kf1@acct")
	before := fmt.Sprintf("%#v %#v %#v", *m, *m.News, *m.CustomService)
	_, err := c.Send(context.Background(), m)
	require.NoError(t, err)
	assert.Equal(t, before, fmt.Sprintf("%#v %#v %#v", *m, *m.News, *m.CustomService))
}

func TestSendInvalidSendsNothing(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	w.handle(stableTokenPath, stableTokens())
	w.handle(sendPath, answerWith(okAnswer))
	c := newTestClient(t, w)
	for name, m := range map[string]*Message{
		"nil":        nil,
		"no touser":  NewText("", "hi"),
		"two bodies": {ToUser: "u", MsgType: TypeText, Text: &Text{Content: "a"}, Image: &Media{MediaID: "m"}},
		"bad utf8":   NewText("u", "\xff"),
		"huge":       NewText("u", strings.Repeat("x", MaxTextBytes+1)),
	} {
		resp, err := c.Send(context.Background(), m)
		assert.Nil(t, resp, name)
		assert.ErrorIs(t, err, ErrInvalidMessage, name)
	}
	//lint:ignore SA1012 a nil context is what this checks
	_, err := c.Send(nil, NewText("u", "hi")) //nolint:staticcheck
	assert.ErrorIs(t, err, ErrInvalidMessage)
	assert.Contains(t, err.Error(), "ctx")
	assert.Zero(t, w.count(sendPath))
	assert.Zero(t, w.count(stableTokenPath))
}

func TestNewClientOptions(t *testing.T) {
	t.Parallel()
	_, err := NewClient(nil)
	assert.ErrorContains(t, err, "TokenSource")

	bad := map[string]Option{
		"attempts":    WithRetry(RetryPolicy{MaxAttempts: 0}),
		"negative":    WithRetry(RetryPolicy{MaxAttempts: 2, BaseDelay: -1}),
		"max < base":  WithRetry(RetryPolicy{MaxAttempts: 2, BaseDelay: time.Second, MaxDelay: time.Millisecond}),
		"relative":    WithBaseURL("api.weixin.qq.com"),
		"not http":    WithBaseURL("ftp://api.weixin.qq.com"),
		"nil client":  WithHTTPClient(nil),
		"query in it": WithBaseURL("https://x.example/?access_token=1"),
	}
	for name, o := range bad {
		_, err := NewClient(StaticToken("t"), o)
		assert.ErrorIs(t, err, ErrInvalidOption, name)
		assert.NotErrorIs(t, err, ErrInvalidMessage, name)
		var oe *OptionError
		assert.ErrorAs(t, err, &oe, name)
		_, err = NewTokenSource("app", "secret", o)
		assert.ErrorIs(t, err, ErrInvalidOption, name)
	}
	_, err = NewClient(StaticToken("t"), WithBaseURL("api.weixin.qq.com"))
	assert.EqualError(t, err, "kefu: invalid option: WithBaseURL: must be an absolute http or https URL without query")
	_, err = NewClient(StaticToken("t"), WithRetry(RetryPolicy{}))
	assert.EqualError(t, err, "kefu: invalid option: WithRetry: RetryPolicy.MaxAttempts must be at least 1")
	_, err = NewTokenSource("app", "secret", WithTokenStore(nil))
	assert.EqualError(t, err, "kefu: invalid option: WithTokenStore: must not be nil")
	_, err = NewTokenSource("", "", WithClassicToken())
	assert.ErrorContains(t, err, "appID")
	assert.ErrorContains(t, err, "secret")

	// One slice serves both constructors; WithClassicToken is ignored by NewClient.
	opts := []Option{WithBaseURL("http://127.0.0.1:1/"), WithRetry(NoRetry), WithLogger(slog.Default()), WithClassicToken()}
	ts, err := NewTokenSource("app", "secret", opts...)
	require.NoError(t, err)
	c, err := NewClient(ts, opts...)
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:1", c.ep.base)
	assert.True(t, ts.(*tokenSource).fetcher.(*wechatFetcher).classic)
}

func TestDefaultHTTPClient(t *testing.T) {
	t.Parallel()
	c, err := NewClient(StaticToken("t"))
	require.NoError(t, err)
	assert.NotSame(t, http.DefaultClient, c.ep.hc)
	assert.Zero(t, c.ep.hc.Timeout, "per-attempt limits live on the transport")
	tr, ok := c.ep.hc.Transport.(*http.Transport)
	require.True(t, ok)
	assert.NotSame(t, http.DefaultTransport, tr)
	assert.GreaterOrEqual(t, tr.MaxIdleConnsPerHost, 64)
	assert.Less(t, tr.IdleConnTimeout, 30*time.Second)
	assert.NotNil(t, tr.DialContext, "connections carry the answer deadline")
	assert.NotZero(t, tr.TLSHandshakeTimeout)
	assert.Equal(t, DefaultBaseURL, c.ep.base)

	hc := &http.Client{}
	c, err = NewClient(StaticToken("t"), WithHTTPClient(hc))
	require.NoError(t, err)
	assert.Same(t, hc, c.ep.hc)
	assert.Nil(t, hc.Transport, "the caller's client is used as given")
}

// TestAnswerLimit: on kefu's own transport an answer that never comes fails
// the attempt once the limit has passed (30 s in production), with the
// outcome unknown; an answer within the limit on a reused connection is fine.
func TestAnswerLimit(t *testing.T) {
	t.Parallel()
	const limit = 150 * time.Millisecond
	w := newWechat(t)
	w.handle(stableTokenPath, stableTokens())
	stall := make(chan struct{})
	defer close(stall)
	w.handle(sendPath, func(rw http.ResponseWriter, r *http.Request) {
		if callN(r) <= 3 {
			writeJSON(rw, okAnswer)
			return
		}
		select { // never answers
		case <-stall:
		case <-r.Context().Done():
		}
	})
	c := newTestClient(t, w, withAnswerLimit(limit))
	for i := 0; i < 3; i++ {
		_, err := c.Send(context.Background(), NewText("OPENID", "hi"))
		require.NoError(t, err)
	}
	start := time.Now()
	_, err := c.Send(context.Background(), NewText("OPENID", "hi"))
	took := time.Since(start)
	assert.ErrorIs(t, err, ErrDeliveryUnknown)
	assert.GreaterOrEqual(t, took, limit, "an answer gets at least the limit")
	assert.Less(t, took, 20*limit, "a stalled answer fails within about twice the limit")
	assert.Equal(t, 4, w.count(sendPath))
}

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

func TestTokenRefreshOnce(t *testing.T) {
	t.Parallel()
	for _, code := range []int{40001, 40014, 42001} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Parallel()
			w := newWechat(t)
			w.handle(stableTokenPath, stableTokens())
			rejection := fmt.Sprintf(`{"errcode":%d,"errmsg":"invalid credential rid: 1"}`, code)
			w.handle(sendPath, script(rejection, okAnswer))
			// NoRetry: the token retry does not count against MaxAttempts.
			c := newTestClient(t, w, WithRetry(NoRetry))
			_, err := c.Send(context.Background(), NewText("OPENID", "hi"))
			require.NoError(t, err)
			assert.Equal(t, 2, w.count(sendPath))
			assert.Equal(t, 2, w.count(stableTokenPath))
			assert.Equal(t, "access_token="+tokenName(1), w.query(sendPath, 0))
			assert.Equal(t, "access_token="+tokenName(2), w.query(sendPath, 1))
		})
	}
}

func TestTokenRejectedTwice(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	w.handle(stableTokenPath, stableTokens())
	w.handle(sendPath, answerWith(`{"errcode":40001,"errmsg":"invalid credential"}`))
	c := newTestClient(t, w)
	_, err := c.Send(context.Background(), NewText("OPENID", "hi"))
	assert.ErrorIs(t, err, ErrInvalidToken)
	assert.Equal(t, 2, w.count(sendPath), "one refresh, then the rejection is returned")
	assert.Equal(t, 2, w.count(stableTokenPath))
}

func TestStaticTokenNoRefresh(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	w.handle(sendPath, answerWith(`{"errcode":42001,"errmsg":"access_token expired"}`))
	c, err := NewClient(StaticToken("STATIC_TOKEN_VALUE"), WithBaseURL(w.URL), noWait)
	require.NoError(t, err)
	defer c.ep.hc.CloseIdleConnections()
	_, err = c.Send(context.Background(), NewText("OPENID", "hi"))
	assert.ErrorIs(t, err, ErrInvalidToken)
	assert.Equal(t, 1, w.count(sendPath))
	assert.NotContains(t, err.Error(), "STATIC_TOKEN_VALUE")

	_, err = StaticToken("").Token(context.Background())
	assert.Error(t, err)
}

func TestForceRefreshGuard(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	var forced atomic.Int64
	// The stable endpoint keeps returning TOKENA until forced.
	w.handle(stableTokenPath, func(rw http.ResponseWriter, r *http.Request) {
		body := string(w.body(stableTokenPath, callN(r)-1))
		tok := tokenName(1)
		if strings.Contains(body, `"force_refresh":true`) {
			tok = tokenName(2 + int(forced.Add(1)))
		} else if forced.Load() > 0 {
			tok = tokenName(2 + int(forced.Load()))
		}
		writeJSON(rw, `{"access_token":"`+tok+`","expires_in":7200}`)
	})
	// Every token is rejected.
	w.handle(sendPath, answerWith(`{"errcode":40001,"errmsg":"invalid credential"}`))
	clock := newFakeClock()
	c := newTestClient(t, w, withClock(clock.Now))

	_, err := c.Send(context.Background(), NewText("OPENID", "hi"))
	assert.ErrorIs(t, err, ErrInvalidToken)
	// normal fetch, send (40001), normal fetch (same token) -> force, send again.
	assert.Equal(t, int64(1), forced.Load())
	assert.Equal(t, 2, w.count(sendPath))
	assert.Equal(t, "access_token="+tokenName(3), w.query(sendPath, 1))

	// Within 30 s: the guard blocks the second force; the rejection comes back.
	clock.Advance(10 * time.Second)
	_, err = c.Send(context.Background(), NewText("OPENID", "hi"))
	assert.ErrorIs(t, err, ErrInvalidToken)
	assert.Equal(t, int64(1), forced.Load())
	assert.Equal(t, 3, w.count(sendPath), "no retry with the same rejected token")

	// Past 30 s it may force again; at most 10 a day.
	for i := 0; i < 15; i++ {
		clock.Advance(31 * time.Second)
		_, _ = c.Send(context.Background(), NewText("OPENID", "hi"))
	}
	assert.Equal(t, int64(forcePerDay), forced.Load())
	// The next day (UTC+8) the count starts again.
	clock.Advance(24 * time.Hour)
	_, _ = c.Send(context.Background(), NewText("OPENID", "hi"))
	assert.Equal(t, int64(forcePerDay+1), forced.Load())
}

func TestClassicTokenEndpoint(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	w.handle(tokenPath, func(rw http.ResponseWriter, r *http.Request) {
		assert.Equal(t, http.MethodGet, r.Method)
		assert.Equal(t, "client_credential", r.URL.Query().Get("grant_type"))
		assert.Equal(t, testAppID, r.URL.Query().Get("appid"))
		assert.Equal(t, testSecret, r.URL.Query().Get("secret"))
		writeJSON(rw, `{"access_token":"`+tokenName(callN(r))+`","expires_in":7200}`)
	})
	w.handle(sendPath, script(`{"errcode":40001,"errmsg":"invalid credential"}`, okAnswer))
	c := newTestClient(t, w, WithClassicToken())
	_, err := c.Send(context.Background(), NewText("OPENID", "hi"))
	require.NoError(t, err)
	assert.Equal(t, 2, w.count(tokenPath))
	assert.Zero(t, w.count(stableTokenPath))
}

func TestTokenColdStartOneFetch(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	release := make(chan struct{})
	w.handle(stableTokenPath, func(rw http.ResponseWriter, r *http.Request) {
		<-release
		stableTokens()(rw, r)
	})
	ts := newTestTokenSource(t, w)
	const n = 200
	var wg sync.WaitGroup
	var started sync.WaitGroup
	started.Add(n)
	toks := make([]string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			tok, err := ts.Token(context.Background())
			assert.NoError(t, err)
			toks[i] = tok
		}()
	}
	started.Wait()
	close(release)
	wg.Wait()
	assert.Equal(t, 1, w.count(stableTokenPath))
	for _, tok := range toks {
		assert.Equal(t, tokenName(1), tok)
	}
}

func TestTokenWaiterCancel(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	release := make(chan struct{})
	arrived := make(chan struct{})
	w.handle(stableTokenPath, func(rw http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		stableTokens()(rw, r)
	})
	ts := newTestTokenSource(t, w)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := ts.Token(ctx)
		errc <- err
	}()
	<-arrived
	cancel()
	assert.ErrorIs(t, <-errc, context.Canceled, "the waiter returns at once")
	// The fetch was detached from that caller: it finishes and fills the cache.
	close(release)
	tok, err := ts.Token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, tokenName(1), tok)
	assert.Equal(t, 1, w.count(stableTokenPath))
}

func TestTokenRefreshAhead(t *testing.T) {
	t.Parallel()
	for _, life := range []int{7200, 100} {
		t.Run(fmt.Sprint(life), func(t *testing.T) {
			t.Parallel()
			w := newWechat(t)
			w.handle(stableTokenPath, func(rw http.ResponseWriter, r *http.Request) {
				writeJSON(rw, fmt.Sprintf(`{"access_token":"%s","expires_in":%d}`, tokenName(callN(r)), life))
			})
			clock := newFakeClock()
			ts := newTestTokenSource(t, w, withClock(clock.Now))
			lifetime := time.Duration(life) * time.Second
			// Refresh happens when min(2 min + [0, 60 s), life/2) remains.
			earliest := lifetime - min(3*time.Minute, lifetime/2)
			latest := lifetime - min(2*time.Minute, lifetime/2)
			tok, err := ts.Token(context.Background())
			require.NoError(t, err)
			assert.Equal(t, tokenName(1), tok)
			clock.Advance(earliest - time.Second)
			tok, _ = ts.Token(context.Background())
			assert.Equal(t, tokenName(1), tok, "still cached")
			clock.Advance(latest - earliest + 2*time.Second)
			tok, _ = ts.Token(context.Background())
			assert.Equal(t, tokenName(2), tok, "refreshed before expiry")
			assert.Equal(t, 2, w.count(stableTokenPath))
		})
	}
}

func TestTokenBadAnswers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, answer string
		want         error
	}{
		{"zero expiry", `{"access_token":"TOKEN_ZERO_EXPIRY_abcdef","expires_in":0}`, nil},
		{"40001 is bad secret", `{"errcode":40001,"errmsg":"invalid credential"}`, ErrBadCredentials},
		{"40013", `{"errcode":40013,"errmsg":"invalid appid"}`, ErrBadCredentials},
		{"40125", `{"errcode":40125,"errmsg":"invalid appsecret rid: 6540f3a8-1b2c3d4e-5f6a7b8c"}`, ErrBadCredentials},
		{"40243", `{"errcode":40243,"errmsg":"AppSecret frozen"}`, ErrBadCredentials},
		{"40164", `{"errcode":40164,"errmsg":"invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist"}`, ErrUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWechat(t)
			w.handle(stableTokenPath, answerWith(tc.answer))
			w.handle(sendPath, answerWith(okAnswer))
			c := newTestClient(t, w)
			_, err := c.Send(context.Background(), NewText("OPENID", "hi"))
			require.Error(t, err)
			if tc.want != nil {
				assert.ErrorIs(t, err, tc.want)
			}
			assert.NotErrorIs(t, err, ErrInvalidToken)
			assert.NotContains(t, err.Error(), testSecret)
			assert.Equal(t, 1, w.count(stableTokenPath), "no fetch loop")
			assert.Zero(t, w.count(sendPath))
		})
	}
}

func TestAPIErrorParse(t *testing.T) {
	t.Parallel()
	e := newAPIError(sendPath, 45015, "response out of time limit or subscription is canceled rid: 6540f3a8-1b2c3d4e-5f6a7b8c")
	assert.Equal(t, "response out of time limit or subscription is canceled", e.Message)
	assert.Equal(t, "6540f3a8-1b2c3d4e-5f6a7b8c", e.RequestID)
	assert.Equal(t, "kefu: /cgi-bin/message/custom/send: errcode 45015: response out of time limit or subscription is canceled (rid 6540f3a8-1b2c3d4e-5f6a7b8c)", e.Error())
	e = newAPIError(sendPath, -1, "system error hint: [Xy12Ab]")
	assert.Equal(t, "system error", e.Message)
	assert.Equal(t, "Xy12Ab", e.RequestID)
	assert.ErrorIs(t, e, ErrSystemBusy)
	e = newAPIError(sendPath, 40001, "invalid credential, access_token is invalid or not latest, could get access_token by getStableAccessToken rid: 1")
	assert.ErrorIs(t, e, ErrInvalidToken)
	assert.NotErrorIs(t, e, ErrBadCredentials)
	e.Path = tokenPath
	assert.ErrorIs(t, e, ErrBadCredentials)
	assert.NotErrorIs(t, e, ErrInvalidToken)
	for code, want := range map[int]error{43004: ErrNotFollowing, 40007: ErrInvalidMedia, 48001: ErrUnauthorized,
		48004: ErrUnauthorized, 43019: ErrUserBlocked, 48002: ErrUserBlocked, 50002: ErrUserBlocked, 41001: ErrInvalidToken} {
		assert.ErrorIs(t, newAPIError(sendPath, code, "x"), want, code)
	}
	assert.NotErrorIs(t, newAPIError(sendPath, 45015, "x"), ErrQuotaExceeded)
}

// TestAnswers covers answers that are not WeChat JSON, and lost answers.
func TestAnswers(t *testing.T) {
	t.Parallel()
	html := func(status int) http.HandlerFunc {
		return func(rw http.ResponseWriter, _ *http.Request) {
			rw.Header().Set("Content-Type", "text/html")
			rw.WriteHeader(status)
			io.WriteString(rw, "<html><body>Bad Gateway</body></html>")
		}
	}
	raw := func(body string) http.HandlerFunc {
		return func(rw http.ResponseWriter, _ *http.Request) { io.WriteString(rw, body) }
	}
	hangup := func(rw http.ResponseWriter, r *http.Request) {
		conn, _, err := rw.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	cases := []struct {
		name    string
		h       http.HandlerFunc
		calls   int  // attempts with the default policy
		unknown bool // matches ErrDeliveryUnknown
	}{
		{"429", html(429), 3, false},
		{"503", html(503), 3, false},
		{"502", html(502), 1, true},
		{"504", html(504), 1, true},
		{"404", html(404), 1, false},
		{"302", html(302), 1, false},
		{"307", html(307), 1, false},
		{"200 html", html(200), 1, true},
		{"truncated", raw(`{"errcode":0,"errm`), 1, true},
		{"other shape", raw(`{"ok":true}`), 1, true},
		{"invalid utf8", raw("{\"errcode\":0,\"errmsg\":\"o\xffk\"}"), 1, true},
		{"huge", raw(`{"errcode":0,"errmsg":"` + strings.Repeat("a", 2<<20) + `"}`), 1, true},
		{"hang up", hangup, 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, unknownRetry := range []bool{false, true} {
				w := newWechat(t)
				w.handle(stableTokenPath, stableTokens())
				w.handle(sendPath, tc.h)
				p := DefaultRetryPolicy()
				p.RetryUnknown = unknownRetry
				c := newTestClient(t, w, WithRetry(p))
				resp, err := c.Send(context.Background(), NewText("OPENID", "hi"))
				assert.Nil(t, resp)
				require.Error(t, err)
				calls := tc.calls
				if tc.unknown && unknownRetry {
					calls = 3
				}
				assert.Equal(t, calls, w.count(sendPath), "RetryUnknown=%v", unknownRetry)
				assert.Equal(t, tc.unknown, errors.Is(err, ErrDeliveryUnknown), "%v", err)
				assert.Less(t, len(err.Error()), 600, "errors quote a short snippet")
			}
		})
	}
}

// TestRedirectNotFollowed: kefu's own transport never POSTs a message again
// to where a redirect points; the answer is an error saying where it
// pointed, with the token scrubbed, and the message was not processed.
func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	for _, status := range []int{301, 302, 307, 308} {
		w := newWechat(t)
		w.handle(stableTokenPath, stableTokens())
		w.handle(sendPath, func(rw http.ResponseWriter, r *http.Request) {
			http.Redirect(rw, r, "/elsewhere?"+r.URL.RawQuery, status)
		})
		w.handle("/elsewhere", func(rw http.ResponseWriter, r *http.Request) {
			writeJSON(rw, `{"errcode":0,"errmsg":"ok"}`)
		})
		c := newTestClient(t, w)
		resp, err := c.Send(context.Background(), NewText("OPENID", "hi"))
		assert.Nil(t, resp)
		var he *HTTPError
		require.ErrorAs(t, err, &he, "status %d", status)
		assert.Equal(t, status, he.StatusCode)
		assert.NotErrorIs(t, err, ErrDeliveryUnknown, "a redirect was not processed")
		assert.Contains(t, err.Error(), `redirect not followed`)
		assert.Contains(t, err.Error(), `to "/elsewhere?access_token=REDACTED"`)
		assert.NotContains(t, err.Error(), tokenName(1))
		assert.Equal(t, 1, w.count(sendPath), "not retried")
		assert.Zero(t, w.count("/elsewhere"), "not followed")
	}
}

// TestBaseURLUserInfo: a base URL with user:password (a proxy in front of
// WeChat) sends basic auth, as http.Client would, and no error shows the
// password.
func TestBaseURLUserInfo(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	var user, pass string
	w.handle(sendPath, func(rw http.ResponseWriter, r *http.Request) {
		user, pass, _ = r.BasicAuth()
		rw.WriteHeader(http.StatusBadGateway)
	})
	base := strings.Replace(w.URL, "http://", "http://proxyuser:pr%40xyPASS@", 1)
	c, err := NewClient(StaticToken("TOKEN_USERINFO_0123456789"), WithBaseURL(base), noWait)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	_, err = c.Send(context.Background(), NewText("OPENID", "hi"))
	require.Error(t, err)
	assert.Equal(t, "proxyuser", user)
	assert.Equal(t, "pr@xyPASS", pass)

	c, err = NewClient(StaticToken("TOKEN_USERINFO_0123456789"), WithBaseURL("http://proxyuser:pr%40xyPASS@"+closedAddr(t)), noWait)
	require.NoError(t, err)
	_, err = c.Send(context.Background(), NewText("OPENID", "hi"))
	var re *RequestError
	require.ErrorAs(t, err, &re)
	checkNoSecret(t, err, []string{"xyPASS", "TOKEN_USERINFO"})
	assert.Contains(t, re.URL, "proxyuser")
}

func TestDeadlineAfterWrite(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	w.handle(stableTokenPath, stableTokens())
	w.handle(sendPath, func(rw http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers
	})
	c := newTestClient(t, w, WithRetry(RetryPolicy{MaxAttempts: 3, RetryUnknown: true}))
	// The token is cached first, so the deadline falls on the send.
	_, err := c.tokens.Token(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.Send(ctx, NewText("OPENID", "hi"))
	assert.ErrorIs(t, err, ErrDeliveryUnknown)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, 1, w.count(sendPath), "no retry once ctx is done")
}

func TestConnectionRefusedIsRetried(t *testing.T) {
	t.Parallel()
	var waits atomic.Int64
	c, err := NewClient(StaticToken("TOKEN_REFUSED_0123456789"), WithBaseURL("http://"+closedAddr(t)),
		withSleep(func(ctx context.Context, _ time.Duration) error { waits.Add(1); return nil }))
	require.NoError(t, err)
	_, err = c.Send(context.Background(), NewText("OPENID", "hi"))
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrDeliveryUnknown, "nothing was written")
	var re *RequestError
	require.ErrorAs(t, err, &re)
	assert.False(t, re.MaybeDelivered)
	assert.Equal(t, int64(2), waits.Load(), "3 attempts")
	assert.NotContains(t, err.Error(), "TOKEN_REFUSED")
	assert.Contains(t, err.Error(), sendPath)
}

// TestHTTPMock drives the client as a user who mocks it with httpmock would.
func TestHTTPMock(t *testing.T) {
	hc := &http.Client{}
	httpmock.ActivateNonDefault(hc)
	defer httpmock.DeactivateAndReset()

	httpmock.RegisterResponder(http.MethodPost, DefaultBaseURL+stableTokenPath,
		httpmock.NewStringResponder(200, `{"access_token":"MOCKTOKEN_abcdefghijklmnop","expires_in":7200}`))
	httpmock.RegisterResponder(http.MethodPost, DefaultBaseURL+sendPath,
		func(r *http.Request) (*http.Response, error) {
			assert.Equal(t, "MOCKTOKEN_abcdefghijklmnop", r.URL.Query().Get("access_token"))
			b, _ := io.ReadAll(r.Body)
			if bytes.Contains(b, []byte("fail")) {
				return nil, errors.New("connection reset by peer")
			}
			return httpmock.NewStringResponse(200, `{"errcode":0,"errmsg":"ok"}`), nil
		})
	ts, err := NewTokenSource("wxapp", "secret", WithHTTPClient(hc))
	require.NoError(t, err)
	c, err := NewClient(ts, WithHTTPClient(hc))
	require.NoError(t, err)
	resp, err := c.Send(context.Background(), NewText("OPENID", "hello"))
	require.NoError(t, err)
	assert.Equal(t, "ok", resp.ErrMsg)

	// A transport error with no trace hooks fired: the outcome is unknown.
	_, err = c.Send(context.Background(), NewText("OPENID", "fail"))
	assert.ErrorIs(t, err, ErrDeliveryUnknown)
	assert.NotContains(t, err.Error(), "MOCKTOKEN")
	info := httpmock.GetCallCountInfo()
	assert.Equal(t, 2, info["POST "+DefaultBaseURL+sendPath], "an unknown outcome is not retried")
	assert.Equal(t, 1, info["POST "+DefaultBaseURL+stableTokenPath])
}

func TestTyping(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	w.handle(stableTokenPath, stableTokens())
	w.handle(typingPath, script(okAnswer, okAnswer, `{"errcode":45080,"errmsg":"no message exchange"}`))
	c := newTestClient(t, w)
	require.NoError(t, c.Typing(context.Background(), "OPENID"))
	require.NoError(t, c.CancelTyping(context.Background(), "OPENID"))
	var ae *APIError
	require.ErrorAs(t, c.Typing(context.Background(), "OPENID"), &ae)
	assert.Equal(t, 45080, ae.Code)
	assert.Equal(t, `{"touser":"OPENID","command":"Typing"}`, string(w.body(typingPath, 0)))
	assert.Equal(t, `{"touser":"OPENID","command":"CancelTyping"}`, string(w.body(typingPath, 1)))
	assert.ErrorIs(t, c.Typing(context.Background(), ""), ErrInvalidMessage)
	assert.Equal(t, 3, w.count(typingPath))
}

// captureHandler records every log record as text.
type captureHandler struct {
	mu    sync.Mutex
	lines []string
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	h.lines = append(h.lines, b.String())
	h.mu.Unlock()
	return nil
}
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *captureHandler) WithGroup(string) slog.Handler      { return h }

// TestRedaction runs every error path with answers that echo the token and
// the secret, and checks neither reaches an error string or a log record.
func TestRedaction(t *testing.T) {
	t.Parallel()
	const tok = "SECRETTOKEN_zyxwvutsrqponmlkjihgfedcba9876543210"
	echo := func(status int, body string) http.HandlerFunc {
		return func(rw http.ResponseWriter, r *http.Request) {
			rw.WriteHeader(status)
			io.WriteString(rw, strings.NewReplacer("$URL", r.URL.String(), "$TOK", tok, "$SECRET", testSecret).Replace(body))
		}
	}
	sendAnswers := []http.HandlerFunc{
		echo(200, `{"errcode":40003,"errmsg":"invalid openid for $TOK at $URL rid: 1"}`),
		echo(200, `{"errcode":-1,"errmsg":"system error access_token=$TOK"}`),
		echo(502, `<html>bad gateway for $URL</html>`),
		echo(200, `<html>`+strings.Repeat("x", 100)+`$TOK</html>`),
		echo(503, `upstream said: $URL`),
		echo(404, `{"error":"$URL"}`),
		echo(200, `{"errcode":0,"errm`+`$TOK`),
		func(rw http.ResponseWriter, r *http.Request) {
			conn, _, _ := rw.(http.Hijacker).Hijack()
			conn.Close()
		},
	}
	tokenAnswers := []http.HandlerFunc{
		echo(200, `{"errcode":40125,"errmsg":"invalid appsecret $SECRET at $URL"}`),
		echo(500, `<html>$URL body was {"secret":"$SECRET"}</html>`),
		echo(200, `{"access_token":"$TOK","expires_in":-5}`),
		echo(200, `{"access_token":"$TOK","expires_in":"soon"}`),
	}
	var errs []string
	logs := &captureHandler{}
	logger := slog.New(logs)
	for _, classic := range []bool{false, true} {
		for _, h := range sendAnswers {
			w := newWechat(t)
			w.handle(stableTokenPath, echo(200, `{"access_token":"$TOK","expires_in":7200}`))
			w.handle(tokenPath, echo(200, `{"access_token":"$TOK","expires_in":7200}`))
			w.handle(sendPath, h)
			opts := []Option{WithLogger(logger), WithRetry(RetryPolicy{MaxAttempts: 2, RetryCodes: []int{-1}, RetryUnknown: true})}
			if classic {
				opts = append(opts, WithClassicToken())
			}
			c := newTestClient(t, w, opts...)
			_, err := c.Send(context.Background(), NewText("OPENID", "hi"))
			require.Error(t, err)
			errs = append(errs, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		}
		for _, h := range tokenAnswers {
			w := newWechat(t)
			w.handle(stableTokenPath, h)
			w.handle(tokenPath, h)
			opts := []Option{WithLogger(logger)}
			if classic {
				opts = append(opts, WithClassicToken())
			}
			c := newTestClient(t, w, opts...)
			_, err := c.Send(context.Background(), NewText("OPENID", "hi"))
			require.Error(t, err)
			errs = append(errs, err.Error(), fmt.Sprintf("%+v", err))
		}
	}
	// Transport errors carry the URL inside *url.Error: it must be gone.
	c, err := NewClient(StaticToken(tok), WithBaseURL("http://127.0.0.1:1"), WithLogger(logger), noWait)
	require.NoError(t, err)
	_, err = c.Send(context.Background(), NewText("OPENID", "hi"))
	require.Error(t, err)
	errs = append(errs, err.Error())
	var ue *url.Error
	assert.False(t, errors.As(err, &ue), "no *url.Error with the token inside")

	require.NotEmpty(t, logs.lines)
	for _, s := range append(errs, logs.lines...) {
		assert.NotContains(t, s, tok)
		assert.NotContains(t, s, testSecret)
		assert.NotContains(t, s, "SECRETTOKEN")
	}
}

func TestScrub(t *testing.T) {
	t.Parallel()
	in := `GET /x?appid=a&secret=S3CR3T&access_token=TT&b=1 {"access_token": "TT2", "secret":"S2"}`
	out := scrub(in)
	assert.Equal(t, `GET /x?appid=a&secret=REDACTED&access_token=REDACTED&b=1 {"access_token":"REDACTED", "secret":"REDACTED"}`, out)
	assert.Equal(t, "a REDACTED b", scrub("a tokenvalue b", "tokenvalue", ""))
}
