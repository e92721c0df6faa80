package kefu

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
