package kefu

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokenWithExpiry(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	w.handle(stableTokenPath, func(rw http.ResponseWriter, r *http.Request) {
		writeJSON(rw, fmt.Sprintf(`{"access_token":"%s","expires_in":7000}`, tokenName(callN(r))))
	})
	clock := newFakeClock()
	start := clock.Now()
	ts := newTestTokenSource(t, w, withClock(clock.Now))
	var src TokenSource = ts
	es, ok := src.(ExpiringTokenSource)
	require.True(t, ok, "NewTokenSource's source implements ExpiringTokenSource")
	tok, err := es.TokenWithExpiry(context.Background())
	require.NoError(t, err)
	assert.Equal(t, Token{AccessToken: tokenName(1), Expiry: start.Add(7000 * time.Second)}, tok)
	plain, err := es.Token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, tok.AccessToken, plain, "the same cached token")
	assert.Equal(t, 1, w.count(stableTokenPath))
	//lint:ignore SA1012 a nil context is what this checks
	_, err = es.TokenWithExpiry(nil) //nolint:staticcheck
	assert.ErrorIs(t, err, ErrInvalidMessage)
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
