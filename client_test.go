package kefu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
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

// newAcceptingClient returns a client aimed at a stand-in WeChat that serves
// stable tokens and accepts every message.
func newAcceptingClient(t *testing.T) (*wechat, *Client) {
	t.Helper()
	w := newWechat(t)
	w.handle(stableTokenPath, stableTokens())
	w.handle(sendPath, answerWith(okAnswer))
	c := newTestClient(t, w)
	return w, c
}

func TestSendDoesNotChangeMessage(t *testing.T) {
	t.Parallel()
	_, c := newAcceptingClient(t)
	m := NewNews("OPENID", Article{Title: "t", URL: "https://example.com/a?b=1&c=2"}).From("kf1@acct")
	before := fmt.Sprintf("%#v %#v %#v", *m, *m.News, *m.CustomService)
	_, err := c.Send(context.Background(), m)
	require.NoError(t, err)
	assert.Equal(t, before, fmt.Sprintf("%#v %#v %#v", *m, *m.News, *m.CustomService))
}

func TestSendInvalidSendsNothing(t *testing.T) {
	t.Parallel()
	w, c := newAcceptingClient(t)
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

// TestTokenFailureIsNotSent: a mock with no responder for the token
// endpoint used to make Send answer ErrDeliveryUnknown, "the request was
// written", though nothing went to the send endpoint.
func TestTokenFailureIsNotSent(t *testing.T) {
	hc := &http.Client{}
	httpmock.ActivateNonDefault(hc)
	defer httpmock.DeactivateAndReset()
	httpmock.RegisterResponder(http.MethodPost, DefaultBaseURL+sendPath, httpmock.NewStringResponder(200, okAnswer))
	c, err := New("wxapp", "SECRET_mock_0123456789", WithHTTPClient(hc), noWait)
	require.NoError(t, err)
	_, err = c.Send(context.Background(), NewText("OPENID", "hello"))
	require.Error(t, err)
	var te *TokenError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, sendPath, te.Path)
	assert.NotErrorIs(t, err, ErrDeliveryUnknown)
	assert.Contains(t, err.Error(), "kefu: /cgi-bin/message/custom/send: nothing sent: getting the access token: ")
	assert.Contains(t, err.Error(), stableTokenPath, "wraps the token endpoint's error")
	assert.NotContains(t, err.Error(), "SECRET_mock")
	assert.Zero(t, httpmock.GetCallCountInfo()["POST "+DefaultBaseURL+sendPath])
}

// TestNew builds the client and its token source from one option list.
func TestNew(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	w.handle(stableTokenPath, stableTokens())
	w.handle(sendPath, answerWith(okAnswer))
	c, err := New(testAppID, testSecret, WithBaseURL(w.URL), noWait)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	_, err = c.Send(context.Background(), NewText("OPENID", "hi"))
	require.NoError(t, err)
	assert.Equal(t, 1, w.count(stableTokenPath), "the token came from the same place")

	_, err = New("", testSecret)
	assert.ErrorIs(t, err, ErrInvalidMessage)
	_, err = New(testAppID, testSecret, WithBaseURL("ftp://x"))
	assert.ErrorIs(t, err, ErrInvalidOption)
}

// TestNewClientRefusesMixedHosts: forgetting WithBaseURL on one of the two
// used to send a fake's credentials to WeChat (or real ones to a fake).
func TestNewClientRefusesMixedHosts(t *testing.T) {
	t.Parallel()
	const fake = "http://user:PASSWORD@127.0.0.1:8080"
	source := func(opts ...Option) TokenSource {
		ts, err := NewTokenSource(testAppID, testSecret, opts...)
		require.NoError(t, err)
		return ts
	}
	for name, c := range map[string]struct {
		ts     TokenSource
		client []Option
		ok     bool
	}{
		"source at a fake, client at WeChat": {source(WithBaseURL(fake)), nil, false},
		"source at WeChat, client at a fake": {source(), []Option{WithBaseURL(fake)}, false},
		"both at WeChat, other regions":      {source(WithBaseURL("https://sh.api.weixin.qq.com")), []Option{WithBaseURL("https://API.weixin.qq.com")}, true},
		"both at a fake":                     {source(WithBaseURL(fake)), []Option{WithBaseURL(fake)}, true},
		"token proxy and API proxy":          {source(WithBaseURL("https://tokens.internal")), []Option{WithBaseURL("https://wechat-egress.internal")}, true},
		"a static token anywhere":            {StaticToken("T"), []Option{WithBaseURL(fake)}, true},
		"look-alike host":                    {source(WithBaseURL("https://api.weixin.qq.com.evil.example")), nil, false},
	} {
		_, err := NewClient(c.ts, c.client...)
		if c.ok {
			assert.NoError(t, err, name)
			continue
		}
		assert.ErrorIs(t, err, ErrInvalidOption, name)
		assert.ErrorContains(t, err, "kefu: invalid option: WithBaseURL: the client calls ", name)
		assert.NotContains(t, err.Error(), "PASSWORD", name)
	}
}
