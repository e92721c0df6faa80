package kefutest_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

var tokenShape = regexp.MustCompile(`^[A-Za-z0-9_-]{100,512}$`)

func TestClassicToken(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	w := rawClient(t, srv)

	a := w.classic()
	require.Zero(t, a.ErrCode, a.ErrMsg)
	assert.Regexp(t, tokenShape, a.AccessToken)
	assert.EqualValues(t, 7200, a.ExpiresIn)
	assert.Zero(t, w.probe(a.AccessToken))

	srv.Advance(time.Minute)
	b := w.classic()
	require.Zero(t, b.ErrCode, b.ErrMsg)
	assert.NotEqual(t, a.AccessToken, b.AccessToken, "every classic fetch issues a new token")
	assert.EqualValues(t, 7200, b.ExpiresIn)

	srv.Advance(5*time.Minute - time.Second)
	assert.Zero(t, w.probe(a.AccessToken), "the previous token lives 5 more minutes")
	srv.Advance(time.Second)
	assert.Equal(t, 40001, w.probe(a.AccessToken), "then it dies")
	assert.Zero(t, w.probe(b.AccessToken))

	// Only the current token gets the 5-minute grace: b's runs from c's fetch.
	c := w.classic()
	srv.Advance(4 * time.Minute)
	d := w.classic()
	assert.Zero(t, w.probe(c.AccessToken))
	srv.Advance(time.Minute)
	assert.Equal(t, 40001, w.probe(b.AccessToken))
	assert.Zero(t, w.probe(c.AccessToken))

	// A token that is never replaced expires after expires_in: 42001.
	srv.Advance(7200*time.Second - time.Minute - time.Second) // d was fetched a minute ago
	assert.Zero(t, w.probe(d.AccessToken))
	srv.Advance(time.Second)
	assert.Equal(t, 42001, w.probe(d.AccessToken))
	assert.Equal(t, 4, srv.Calls(kefutest.PathToken))
}

func TestStableToken(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	w := rawClient(t, srv)

	a := w.stable(false)
	require.Zero(t, a.ErrCode, a.ErrMsg)
	assert.Regexp(t, tokenShape, a.AccessToken)
	assert.EqualValues(t, 7200, a.ExpiresIn)

	srv.Advance(1000 * time.Second)
	again := w.stable(false)
	assert.Equal(t, a.AccessToken, again.AccessToken, "the same token while valid")
	assert.EqualValues(t, 6200, again.ExpiresIn, "with the seconds it has left")

	srv.Advance(5900 * time.Second) // 300 s left: its last 5 minutes
	b := w.stable(false)
	assert.NotEqual(t, a.AccessToken, b.AccessToken, "a new one in the old one's last 5 minutes")
	assert.EqualValues(t, 7200, b.ExpiresIn)
	assert.Equal(t, b.AccessToken, w.stable(false).AccessToken)
	assert.Zero(t, w.probe(a.AccessToken), "both valid meanwhile")
	assert.Zero(t, w.probe(b.AccessToken))

	srv.Advance(300 * time.Second)
	assert.Equal(t, 42001, w.probe(a.AccessToken))
	assert.Zero(t, w.probe(b.AccessToken))

	srv.Advance(7200 * time.Second)
	assert.Equal(t, 42001, w.probe(b.AccessToken))
	c := w.stable(false)
	assert.NotEqual(t, b.AccessToken, c.AccessToken, "an expired token is replaced")
	assert.Zero(t, w.probe(c.AccessToken))
}

func TestStableForceRefresh(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	w := rawClient(t, srv)

	a := w.stable(false)
	b := w.stable(true)
	require.Zero(t, b.ErrCode, b.ErrMsg)
	assert.NotEqual(t, a.AccessToken, b.AccessToken)
	assert.EqualValues(t, 7200, b.ExpiresIn)
	assert.Equal(t, 40001, w.probe(a.AccessToken), "force_refresh kills the old token at once")
	assert.Zero(t, w.probe(b.AccessToken))

	srv.Advance(29 * time.Second)
	c := w.stable(true)
	assert.Equal(t, b.AccessToken, c.AccessToken, "within 30 s of the last force: the current token")
	assert.EqualValues(t, 7171, c.ExpiresIn)
	assert.Zero(t, w.probe(b.AccessToken))

	srv.Advance(time.Second)
	d := w.stable(true)
	assert.NotEqual(t, b.AccessToken, d.AccessToken, "30 s later: a new one")
	assert.Equal(t, w.stable(false).AccessToken, d.AccessToken)
}

func TestStableForceRefreshDailyLimit(t *testing.T) {
	t.Parallel()
	srv := frozen(t) // 10:00 in UTC+8
	w := rawClient(t, srv)
	var last string
	for i := range 20 {
		a := w.stable(true)
		require.Zero(t, a.ErrCode, "force %d: %s", i+1, a.ErrMsg)
		last = a.AccessToken
		srv.Advance(30 * time.Second)
	}
	over := w.stable(true)
	assert.Equal(t, 45009, over.ErrCode)
	assert.Regexp(t, ridSuffix, over.ErrMsg)
	assert.Zero(t, w.probe(last), "a refused force kills nothing")
	assert.Equal(t, last, w.stable(false).AccessToken, "normal fetches still work")

	// The count starts again at midnight in UTC+8 (16:00 UTC), not UTC's.
	srv.Advance(start.Add(14*time.Hour - time.Second).Sub(srv.Now()))
	assert.Equal(t, 45009, w.stable(true).ErrCode, "23:59:59 in UTC+8")
	srv.Advance(time.Second)
	a := w.stable(true)
	require.Zero(t, a.ErrCode, a.ErrMsg)
	assert.NotEqual(t, last, a.AccessToken)

	_, err := srv.Client().Send(context.Background(), text("x", "y"))
	assert.Equal(t, 40003, codeOf(t, err), "a client gets the current stable token")
}

func TestClassicAndStableAreIndependent(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	w := rawClient(t, srv)
	s1 := w.stable(false).AccessToken
	c1 := w.classic().AccessToken
	assert.NotEqual(t, s1, c1)

	c2 := w.classic().AccessToken
	srv.Advance(5 * time.Minute)
	assert.Equal(t, 40001, w.probe(c1))
	assert.Zero(t, w.probe(s1), "classic fetches do not touch stable tokens")
	assert.Equal(t, s1, w.stable(false).AccessToken)

	s2 := w.stable(true).AccessToken
	assert.Equal(t, 40001, w.probe(s1))
	assert.Zero(t, w.probe(c2), "force_refresh does not touch classic tokens")
	assert.NotEqual(t, c2, s2)
}

func TestTokenEndpointErrors(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	w := rawClient(t, srv)
	classic := func(grant, appid, secret string) int {
		q := url.Values{"grant_type": {grant}, "appid": {appid}, "secret": {secret}}
		return w.do(http.MethodGet, kefutest.PathToken+"?"+q.Encode(), "").ErrCode
	}
	stable := func(body string) int { return w.post(kefutest.PathStableToken, "", body).ErrCode }
	id, sec := srv.AppID, srv.AppSecret

	assert.Equal(t, 40013, classic("client_credential", "wxwrong", sec))
	assert.Equal(t, 40125, classic("client_credential", id, "wrong"))
	assert.Equal(t, 40002, classic("password", id, sec))
	assert.Equal(t, 41002, classic("client_credential", "", sec))
	assert.Equal(t, 41004, classic("client_credential", id, ""))

	assert.Equal(t, 40013, stable(`{"grant_type":"client_credential","appid":"wxwrong","secret":"`+sec+`"}`))
	assert.Equal(t, 40125, stable(`{"grant_type":"client_credential","appid":"`+id+`","secret":"wrong"}`))
	assert.Equal(t, 44002, stable(``))
	assert.Equal(t, 47001, stable(`{"grant_type":`))
	assert.Equal(t, 47001, stable(`{"grant_type":"client_credential","appid":"`+id+`","secret":"`+sec+`","force_refresh":"yes"}`))
	assert.Zero(t, stable(`{"grant_type":"client_credential","appid":"`+id+`","secret":"`+sec+`"}`), "force_refresh is optional")
	assert.Zero(t, srv.Calls(kefutest.PathSend))

	// Through the client: bad credentials, not a token problem.
	c, err := kefu.NewClient(mustSource(t, srv.AppID, "wrong", srv.URL), kefu.WithBaseURL(srv.URL))
	require.NoError(t, err)
	_, err = c.Send(context.Background(), text("alice", "hi"))
	assert.Equal(t, 40125, codeOf(t, err))
	assert.ErrorIs(t, err, kefu.ErrBadCredentials)
}

func mustSource(t *testing.T, appID, secret, base string) kefu.TokenSource {
	ts, err := kefu.NewTokenSource(appID, secret, kefu.WithBaseURL(base), kefu.WithRetry(kefu.NoRetry))
	require.NoError(t, err)
	return ts
}

func TestAPICallTokenErrors(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	w := rawClient(t, srv)
	srv.Interact("alice", kefutest.Payment)
	body := `{"touser":"alice","msgtype":"text","text":{"content":"hi"}}`

	assert.Equal(t, 41001, w.send("", body).ErrCode)
	assert.Equal(t, 41001, w.send("", "").ErrCode, "the token is checked before the body")
	assert.Equal(t, 40001, w.send("not-a-token", body).ErrCode)
	tok := w.token()
	assert.Zero(t, w.send(tok, body).ErrCode)
	srv.Advance(7200 * time.Second)
	assert.Equal(t, 42001, w.send(tok, body).ErrCode)
	assert.Equal(t, 42001, w.send(tok, "").ErrCode)
	assert.Len(t, srv.Messages("alice"), 1)

	for _, path := range []string{kefutest.PathSend, kefutest.PathTyping} {
		a := w.post(path, "", `{}`)
		assert.Equal(t, 41001, a.ErrCode, path)
		assert.Regexp(t, `^access_token missing rid: `, a.ErrMsg)
	}
}

func TestClientRefreshesAfterExpiry(t *testing.T) {
	t.Parallel()
	for _, opts := range [][]kefu.Option{nil, {kefu.WithClassicToken()}} {
		srv := newServer(t)
		srv.Interact("alice", kefutest.Payment)
		c := srv.Client(opts...)
		ctx := context.Background()
		tokenPath := kefutest.PathStableToken
		if opts != nil {
			tokenPath = kefutest.PathToken
		}

		_, err := c.Send(ctx, text("alice", "one"))
		require.NoError(t, err)
		srv.Advance(2*time.Hour + time.Second) // the client still trusts its token
		_, err = c.Send(ctx, text("alice", "two"))
		require.NoError(t, err, "the client meets 42001, refreshes and retries")
		assert.Equal(t, 3, srv.Calls(kefutest.PathSend))
		assert.Equal(t, 2, srv.Calls(tokenPath))
		assert.Len(t, srv.Messages("alice"), 2)
	}
}

func TestRotateTokens(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	w := rawClient(t, srv)
	classic, stable := w.token(), w.stable(false).AccessToken
	srv.Interact("alice", kefutest.Payment)
	c := srv.Client()
	ctx := context.Background()
	_, err := c.Send(ctx, text("alice", "before"))
	require.NoError(t, err)

	srv.RotateTokens()
	assert.Equal(t, 40001, w.probe(classic))
	assert.Equal(t, 40001, w.probe(stable))
	assert.NotEqual(t, stable, w.stable(false).AccessToken, "the stable endpoint issues a new token")

	_, err = c.Send(ctx, text("alice", "after"))
	require.NoError(t, err, "the client recovers")
	assert.Len(t, srv.Messages("alice"), 2)
	assert.Equal(t, 3, srv.Calls(kefutest.PathSend))

	// A client that cannot refresh reports the rejection.
	srv.RotateTokens()
	sc, err := kefu.NewClient(kefu.StaticToken(classic), kefu.WithBaseURL(srv.URL))
	require.NoError(t, err)
	_, err = sc.Send(ctx, text("alice", "static"))
	assert.Equal(t, 40001, codeOf(t, err))
	assert.ErrorIs(t, err, kefu.ErrInvalidToken)
}

func TestErrorsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	_, err := srv.Client().Send(context.Background(), text("nobody", "x"))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), srv.AppSecret)
	assert.False(t, errors.Is(err, kefu.ErrDeliveryUnknown))
}

func TestClientForcesRefreshWhenStableReturnsTheRejectedToken(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Interact("alice", kefutest.Payment)
	c := srv.Client()
	ctx := context.Background()
	_, err := c.Send(ctx, text("alice", "one"))
	require.NoError(t, err)

	// WeChat rejects a token the stable endpoint still hands out: the client
	// asks again, gets the same token, and forces a refresh.
	srv.FailNext(kefutest.PathSend, 1, 40001)
	_, err = c.Send(ctx, text("alice", "two"))
	require.NoError(t, err)
	assert.Equal(t, 3, srv.Calls(kefutest.PathStableToken), "initial, normal, forced")
	assert.Equal(t, 3, srv.Calls(kefutest.PathSend))
	assert.Len(t, srv.Messages("alice"), 2)
}
