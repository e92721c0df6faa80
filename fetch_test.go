package kefu

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

func TestTokenBadAnswers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, answer string
		want         error
	}{
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

// TestTokenOddExpiresIn: expires_in from the wire becomes a lifetime of 1 to
// 7200 s. An absurd one used to overflow the duration, put the refresh in
// the past and fetch a token for every send; 0 or a negative one failed
// every send.
func TestTokenOddExpiresIn(t *testing.T) {
	t.Parallel()
	for _, expiresIn := range []string{"9300000000", "9223372036854775807", "7201", "0", "-5", ""} {
		t.Run(expiresIn, func(t *testing.T) {
			t.Parallel()
			w := newWechat(t)
			answer := `{"access_token":"TOKEN_ODD_EXPIRY_abcdefgh","expires_in":` + expiresIn + `}`
			if expiresIn == "" {
				answer = `{"access_token":"TOKEN_ODD_EXPIRY_abcdefgh"}`
			}
			w.handle(stableTokenPath, answerWith(answer))
			w.handle(sendPath, answerWith(okAnswer))
			clock := newFakeClock()
			start := clock.Now()
			logs := &captureHandler{}
			c := newTestClient(t, w, withClock(clock.Now), WithLogger(slog.New(logs)))
			for i := 0; i < 100; i++ {
				_, err := c.Send(context.Background(), NewText("OPENID", "hi"))
				require.NoError(t, err)
			}
			assert.Equal(t, 1, w.count(stableTokenPath), "100 sends, one token")
			tok, err := c.tokens.(ExpiringTokenSource).TokenWithExpiry(context.Background())
			require.NoError(t, err)
			assert.Equal(t, start.Add(7200*time.Second), tok.Expiry, "kept 7200 s at most")
			assert.Contains(t, logs.String(), "out of 1..7200")
			clock.Advance(7200 * time.Second)
			_, err = c.Send(context.Background(), NewText("OPENID", "hi"))
			require.NoError(t, err)
			assert.Equal(t, 2, w.count(stableTokenPath), "refreshed by the time it expires")
		})
	}
}
