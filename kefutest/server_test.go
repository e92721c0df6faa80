package kefutest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start is a fixed instant for frozen clocks: 2024-05-01 10:00 in UTC+8.
var start = time.Date(2024, 5, 1, 2, 0, 0, 0, time.UTC)

var ridSuffix = regexp.MustCompile(`^(.+) rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`)

func newServer(t *testing.T, opts ...kefutest.ServerOption) *kefutest.Server {
	t.Helper()
	srv := kefutest.NewServer(opts...)
	t.Cleanup(srv.Close)
	return srv
}

func frozen(t *testing.T, opts ...kefutest.ServerOption) *kefutest.Server {
	t.Helper()
	return newServer(t, append([]kefutest.ServerOption{kefutest.WithFrozenClock(start)}, opts...)...)
}

// wire is a raw HTTP view of a server, for what a kefu client would not send.
type wire struct {
	t   *testing.T
	srv *kefutest.Server
	hc  *http.Client
}

func rawClient(t *testing.T, srv *kefutest.Server) *wire {
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	return &wire{t: t, srv: srv, hc: hc}
}

// answer is any JSON answer of the fake.
type answer struct {
	ErrCode     int    `json:"errcode"`
	ErrMsg      string `json:"errmsg"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`

	status      int
	contentType string
}

// roundTrip sends a request to the server, with a Content-Type header
// unless contentType is empty, and returns the answer's status, header and
// whole body. A failed request fails the test.
func (w *wire) roundTrip(method, pathQuery, contentType string, body io.Reader) (status int, h http.Header, b []byte) {
	w.t.Helper()
	req, err := http.NewRequest(method, w.srv.URL+pathQuery, body)
	require.NoError(w.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := w.hc.Do(req)
	require.NoError(w.t, err)
	defer resp.Body.Close()
	b, err = io.ReadAll(resp.Body)
	require.NoError(w.t, err)
	return resp.StatusCode, resp.Header, b
}

// stringBody is body as a request body, none when body is empty.
func stringBody(body string) io.Reader {
	if body == "" {
		return nil
	}
	return strings.NewReader(body)
}

func (w *wire) do(method, pathQuery, body string) answer {
	w.t.Helper()
	status, h, b := w.roundTrip(method, pathQuery, "", stringBody(body))
	a := answer{status: status, contentType: h.Get("Content-Type")}
	if strings.HasPrefix(a.contentType, "application/json") {
		require.NoError(w.t, json.Unmarshal(b, &a), "answer %q", b)
	}
	return a
}

func (w *wire) post(path, token, body string) answer {
	w.t.Helper()
	if token != "" {
		path += "?access_token=" + url.QueryEscape(token)
	}
	return w.do(http.MethodPost, path, body)
}

func (w *wire) classic() answer {
	w.t.Helper()
	q := url.Values{"grant_type": {"client_credential"}, "appid": {w.srv.AppID}, "secret": {w.srv.AppSecret}}
	return w.do(http.MethodGet, kefutest.PathToken+"?"+q.Encode(), "")
}

func (w *wire) stable(force bool) answer {
	w.t.Helper()
	return w.do(http.MethodPost, kefutest.PathStableToken,
		fmt.Sprintf(`{"grant_type":"client_credential","appid":%q,"secret":%q,"force_refresh":%t}`,
			w.srv.AppID, w.srv.AppSecret, force))
}

// token returns a fresh valid (classic) token.
func (w *wire) token() string {
	w.t.Helper()
	a := w.classic()
	require.Zero(w.t, a.ErrCode, a.ErrMsg)
	return a.AccessToken
}

// probe returns the errcode a call with token meets: CancelTyping succeeds
// whenever the token is good.
func (w *wire) probe(token string) int {
	w.t.Helper()
	return w.post(kefutest.PathTyping, token, `{"touser":"nobody","command":"CancelTyping"}`).ErrCode
}

func (w *wire) send(token, body string) answer {
	w.t.Helper()
	return w.post(kefutest.PathSend, token, body)
}

func codeOf(t *testing.T, err error) int {
	t.Helper()
	var ae *kefu.APIError
	require.ErrorAs(t, err, &ae)
	return ae.Code
}

func text(to, s string) *kefu.Message { return kefu.NewText(to, s) }

func TestNewServerCredentials(t *testing.T) {
	t.Parallel()
	a, b := newServer(t), newServer(t)
	assert.Regexp(t, `^wx[0-9a-f]{16}$`, a.AppID)
	assert.Regexp(t, `^[0-9a-f]{32}$`, a.AppSecret)
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+$`, a.URL)
	assert.NotEqual(t, a.AppID, b.AppID)
	assert.NotEqual(t, a.AppSecret, b.AppSecret)
	assert.NotEqual(t, a.URL, b.URL)

	c := newServer(t, kefutest.WithApp("wx-mine", "my-secret"))
	assert.Equal(t, "wx-mine", c.AppID)
	assert.Equal(t, "my-secret", c.AppSecret)
	assert.Panics(t, func() { kefutest.WithApp("", "x") })
}

func TestClientSendsAndServerRecords(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Interact("alice", kefutest.UserMessage)
	c := srv.Client()
	ctx := context.Background()

	link := `see <a href="http://www.qq.com/?a=1&b=2">here</a>`
	resp, err := c.Send(ctx, text("alice", link))
	require.NoError(t, err)
	assert.Equal(t, 0, resp.ErrCode)
	assert.Equal(t, "ok", resp.ErrMsg)
	_, err = c.Send(ctx, text("alice", "second").From("kf1@acct"))
	require.NoError(t, err)

	got := srv.Messages("alice")
	require.Len(t, got, 2)
	assert.Equal(t, *text("alice", link), got[0])
	assert.Equal(t, *text("alice", "second").From("kf1@acct"), got[1])
	assert.Equal(t, 2, srv.Calls(kefutest.PathSend))
	assert.Equal(t, 1, srv.Calls(kefutest.PathStableToken), "the client caches its token")
	assert.Zero(t, srv.Calls(kefutest.PathToken))
	assert.Nil(t, srv.Messages("bob"))

	// The result is the caller's: changing it changes nothing on the server.
	got[0].Text.Content = "changed"
	assert.Equal(t, link, srv.Messages("alice")[0].Text.Content)
}

func TestClientOptions(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	assert.Panics(t, func() { srv.Client(kefu.WithBaseURL("not a url")) })
	assert.Panics(t, func() { srv.TokenSource(kefu.WithRetry(kefu.RetryPolicy{})) })

	// Later options win: a classic-token client.
	srv.Interact("alice", kefutest.Payment)
	_, err := srv.Client(kefu.WithClassicToken()).Send(context.Background(), text("alice", "hi"))
	require.NoError(t, err)
	assert.Equal(t, 1, srv.Calls(kefutest.PathToken))
	assert.Zero(t, srv.Calls(kefutest.PathStableToken))

	tok, err := srv.TokenSource().Token(context.Background())
	require.NoError(t, err)
	assert.Zero(t, rawClient(t, srv).probe(tok))

	p := kefutest.FastRetry()
	assert.Equal(t, 3, p.MaxAttempts)
	assert.Equal(t, []int{-1}, p.RetryCodes)
	assert.Zero(t, p.BaseDelay)
}

func TestAnswersAreWeChatJSON(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	w := rawClient(t, srv)
	tok := w.token()
	srv.Interact("alice", kefutest.UserMessage)

	ok := w.send(tok, `{"touser":"alice","msgtype":"text","text":{"content":"hi"}}`)
	assert.Equal(t, http.StatusOK, ok.status)
	assert.Equal(t, "application/json; charset=utf-8", ok.contentType)
	assert.Equal(t, answer{ErrCode: 0, ErrMsg: "ok", status: 200, contentType: ok.contentType}, ok)

	bad := w.send(tok, `{"touser":"bob","msgtype":"text","text":{"content":"hi"}}`)
	assert.Equal(t, http.StatusOK, bad.status)
	assert.Equal(t, "application/json; charset=utf-8", bad.contentType)
	assert.Equal(t, 40003, bad.ErrCode)
	m := ridSuffix.FindStringSubmatch(bad.ErrMsg)
	require.NotNil(t, m, bad.ErrMsg)
	assert.Equal(t, "invalid openid", m[1])
	assert.NotEqual(t, bad.ErrMsg, w.send(tok, `{"touser":"bob","msgtype":"text","text":{"content":"hi"}}`).ErrMsg,
		"every answer has its own rid")

	// The kefu client splits the rid off.
	_, err := srv.Client().Send(context.Background(), text("bob", "hi"))
	var ae *kefu.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "invalid openid", ae.Message)
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`, ae.RequestID)
	assert.ErrorIs(t, err, kefu.ErrInvalidOpenID)
}

func TestUnknownPath(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	a := rawClient(t, srv).do(http.MethodGet, "/cgi-bin/nope?access_token=x", "")
	assert.Equal(t, http.StatusNotFound, a.status)
	assert.Equal(t, 1, srv.Calls("/cgi-bin/nope"))
}

// --- Tokens -----------------------------------------------------------------

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

// --- Send ---------------------------------------------------------------------

func TestSendChecksInWeChatOrder(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	w := rawClient(t, srv)
	tok := w.token()
	srv.AddUser("follower") // no window
	srv.Interact("alice", kefutest.UserMessage)
	srv.AddMedia(kefutest.MediaImage, "img")

	cases := []struct {
		name string
		body string
		code int
	}{
		{"empty body", ``, 44002},
		{"blank body", " \n", 44002},
		{"not JSON", `{"touser":`, 47001},
		{"JSON null", `null`, 47001},
		{"JSON array", ` [{"touser":"alice"}]`, 47001},
		{"wrong field type", `{"touser":1,"msgtype":"text","text":{"content":"x"}}`, 47001},
		{"escape before type", `{"touser":"alice","msgtype":"nope","text":{"content":"\u003c"}}`, 40033},
		{"escaped <", `{"touser":"alice","msgtype":"text","text":{"content":"a\u003cb"}}`, 40033},
		{"escaped > upper hex", `{"touser":"alice","msgtype":"text","text":{"content":"a\u003Eb"}}`, 40033},
		{"escaped &", `{"touser":"alice","msgtype":"text","text":{"content":"a\u0026b"}}`, 40033},
		{"escape in a key", `{"touser":"alice","msgtype":"text","text":{"content":"x"},"\u0026":1}`, 40033},
		{"escaped backslash then u003c", `{"touser":"alice","msgtype":"text","text":{"content":"a\\u003cb"}}`, 0},
		{"other escapes", `{"touser":"alice","msgtype":"text","text":{"content":"\u4f60\"\n\\\u00e9"}}`, 0},
		{"unknown msgtype", `{"touser":"alice","msgtype":"sticker"}`, 40008},
		{"missing msgtype", `{"touser":"alice","text":{"content":"x"}}`, 40008},
		{"link on an official account", `{"touser":"alice","msgtype":"link","link":{"title":"t","url":"http://x","thumb_url":"http://y"}}`, 40008},
		{"empty text", `{"touser":"alice","msgtype":"text","text":{"content":""}}`, 44004},
		{"missing text body", `{"touser":"alice","msgtype":"text"}`, 44004},
		{"content before user", `{"touser":"nobody","msgtype":"text","text":{"content":""}}`, 44004},
		{"news with 2 articles", `{"touser":"alice","msgtype":"news","news":{"articles":[{"title":"a","url":"http://a"},{"title":"b","url":"http://b"}]}}`, 45008},
		{"news without articles", `{"touser":"alice","msgtype":"news","news":{"articles":[]}}`, 44003},
		{"unknown media", `{"touser":"alice","msgtype":"image","image":{"media_id":"nope"}}`, 40007},
		{"media before user", `{"touser":"nobody","msgtype":"image","image":{"media_id":"nope"}}`, 40007},
		{"unknown openid", `{"touser":"nobody","msgtype":"image","image":{"media_id":"img"}}`, 40003},
		{"empty openid", `{"touser":"","msgtype":"text","text":{"content":"x"}}`, 40003},
		{"no window", `{"touser":"follower","msgtype":"text","text":{"content":"x"}}`, 45015},
		{"ok", `{"touser":"alice","msgtype":"image","image":{"media_id":"img"}}`, 0},
	}
	accepted := 0
	for _, tc := range cases {
		a := w.send(tok, tc.body)
		assert.Equal(t, tc.code, a.ErrCode, "%s: %s", tc.name, a.ErrMsg)
		if tc.code == 0 {
			accepted++
		}
	}
	msgs := srv.Messages("alice")
	require.Len(t, msgs, accepted)
	assert.Equal(t, `a\u003cb`, msgs[0].Text.Content, "an escaped backslash is literal text")
	assert.Equal(t, "你\"\n\\é", msgs[1].Text.Content)
	assert.Equal(t, 5-accepted, srv.Window("alice", kefutest.UserMessage).Left, "only accepted messages use quota")
}

func TestEscapeCheckOff(t *testing.T) {
	t.Parallel()
	srv := newServer(t, kefutest.WithEscapeCheck(false))
	w := rawClient(t, srv)
	srv.Interact("alice", kefutest.UserMessage)
	a := w.send(w.token(), `{"touser":"alice","msgtype":"text","text":{"content":"a\u003cb\u0026c"}}`)
	require.Zero(t, a.ErrCode, a.ErrMsg)
	assert.Equal(t, "a<b&c", srv.Messages("alice")[0].Text.Content)

	on := newServer(t)
	assert.Equal(t, 40033, rawClient(t, on).post(kefutest.PathStableToken, "",
		`{"grant_type":"client\u0026credential"}`).ErrCode, "the check applies to every JSON endpoint")
}

func TestKefuClientBodiesPassTheEscapeCheck(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Interact("alice", kefutest.UserMessage)
	m := text("alice", `<a href="https://x.example/?a=1&b=2" data-miniprogram-path="p">&gt;</a>`)
	_, err := srv.Client().Send(context.Background(), m)
	require.NoError(t, err)
	assert.Equal(t, *m, srv.Messages("alice")[0])
}

func TestMaxTextBytes(t *testing.T) {
	t.Parallel()
	srv := newServer(t, kefutest.WithMaxTextBytes(6))
	srv.Interact("alice", kefutest.UserMessage)
	c := srv.Client()
	_, err := c.Send(context.Background(), text("alice", "你好")) // 6 bytes
	require.NoError(t, err)
	_, err = c.Send(context.Background(), text("alice", "你好!"))
	assert.Equal(t, 45002, codeOf(t, err))
	assert.Len(t, srv.Messages("alice"), 1)
}

func TestMiniProgram(t *testing.T) {
	t.Parallel()
	srv := newServer(t, kefutest.WithMiniProgram())
	srv.Interact("alice", kefutest.UserMessage)
	srv.AddMedia(kefutest.MediaVoice, "v")
	c := srv.Client()
	ctx := context.Background()
	_, err := c.Send(ctx, kefu.NewLink("alice", kefu.Link{Title: "t", URL: "https://x.example", ThumbURL: "https://x.example/t.png"}))
	require.NoError(t, err)
	_, err = c.Send(ctx, kefu.NewVoice("alice", "v"))
	assert.Equal(t, 45162, codeOf(t, err))
}

func TestMediaKinds(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Interact("alice", kefutest.Payment)
	for kind, id := range map[string]string{
		kefutest.MediaImage: "img", kefutest.MediaVoice: "voc", kefutest.MediaVideo: "vid",
		kefutest.MediaThumb: "thm", kefutest.MediaMPNews: "mpn", kefutest.MediaArticle: "art",
		kefutest.MediaCard: "crd",
	} {
		srv.AddMedia(kind, id)
	}
	assert.Panics(t, func() { srv.AddMedia("gif", "x") })
	assert.Panics(t, func() { srv.AddMedia(kefutest.MediaImage, "") })

	mp := func(thumb string) *kefu.Message {
		return kefu.NewMiniProgramPage("alice", kefu.MiniProgramPage{Title: "t", PagePath: "p", ThumbMediaID: thumb})
	}
	music := func(thumb string) *kefu.Message {
		return kefu.NewMusic("alice", kefu.Music{Title: "m", ThumbMediaID: thumb})
	}
	cases := []struct {
		name string
		m    *kefu.Message
		code int
	}{
		{"image", kefu.NewImage("alice", "img"), 0},
		{"image as voice", kefu.NewVoice("alice", "img"), 40007},
		{"voice", kefu.NewVoice("alice", "voc"), 0},
		{"voice as image", kefu.NewImage("alice", "voc"), 40007},
		{"video", kefu.NewVideo("alice", kefu.Video{MediaID: "vid"}), 0},
		{"video with thumb", kefu.NewVideo("alice", kefu.Video{MediaID: "vid", ThumbMediaID: "thm"}), 0},
		{"video with image thumb", kefu.NewVideo("alice", kefu.Video{MediaID: "vid", ThumbMediaID: "img"}), 0},
		{"video with voice thumb", kefu.NewVideo("alice", kefu.Video{MediaID: "vid", ThumbMediaID: "voc"}), 40007},
		{"video with unknown thumb", kefu.NewVideo("alice", kefu.Video{MediaID: "vid", ThumbMediaID: "zz"}), 40007},
		{"thumb as video", kefu.NewVideo("alice", kefu.Video{MediaID: "thm"}), 40007},
		{"music with thumb", music("thm"), 0},
		{"music with image thumb", music("img"), 0},
		{"music with video thumb", music("vid"), 40007},
		{"mpnews", kefu.NewMPNews("alice", "mpn"), 0},
		{"article id as mpnews", kefu.NewMPNews("alice", "art"), 40007},
		{"mpnewsarticle", kefu.NewMPNewsArticle("alice", "art"), 0},
		{"media id as article", kefu.NewMPNewsArticle("alice", "mpn"), 40007},
		{"wxcard", kefu.NewWxCard("alice", "crd"), 0},
		{"unknown card", kefu.NewWxCard("alice", "zz"), 40007},
		{"miniprogrampage", mp("thm"), 0},
		{"miniprogrampage image thumb", mp("img"), 0},
		{"miniprogrampage card thumb", mp("crd"), 40007},
		{"unknown image", kefu.NewImage("alice", "zz"), 40007},
	}
	c := srv.Client()
	want := 0
	for _, tc := range cases {
		_, err := c.Send(context.Background(), tc.m)
		if tc.code == 0 {
			assert.NoError(t, err, tc.name)
			want++
			continue
		}
		assert.Equal(t, tc.code, codeOf(t, err), tc.name)
		assert.ErrorIs(t, err, kefu.ErrInvalidMedia, tc.name)
	}
	assert.Len(t, srv.Messages("alice"), want)

	// AddMedia again changes the kind.
	srv.AddMedia(kefutest.MediaVoice, "img")
	_, err := c.Send(context.Background(), kefu.NewVoice("alice", "img"))
	assert.NoError(t, err)
}

// --- Windows and quotas --------------------------------------------------------

func TestUserMessageWindow(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	srv.Interact("alice", kefutest.UserMessage)
	assert.Equal(t, kefutest.WindowState{Open: true, Closes: start.Add(48 * time.Hour), Left: 5},
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
		assert.Equal(t, kefutest.WindowState{Open: true, Closes: start.Add(time.Minute), Left: 3}, srv.Window("alice", a), a)
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
	assert.Equal(t, kefutest.WindowState{Open: true, Closes: start.Add(48 * time.Hour), Left: -1},
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
	assert.Equal(t, kefutest.WindowState{Open: true, Closes: srv.Now().Add(time.Minute), Left: 0}, srv.Window("bob", kefutest.Follow))
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
	assert.Equal(t, kefutest.WindowState{}, srv.Window("carol", kefutest.Payment))

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

// --- Typing -------------------------------------------------------------------

func TestTyping(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	c := srv.Client()
	ctx := context.Background()

	assert.Equal(t, 40003, codeOf(t, c.Typing(ctx, "nobody")))
	srv.AddUser("alice")
	assert.Equal(t, 45015, codeOf(t, c.Typing(ctx, "alice")), "no open window")

	srv.Interact("alice", kefutest.UserMessage)
	require.NoError(t, c.Typing(ctx, "alice"))
	assert.True(t, srv.Typing("alice"))
	assert.Equal(t, 45081, codeOf(t, c.Typing(ctx, "alice")), "already typing")
	srv.Advance(15 * time.Second)
	assert.False(t, srv.Typing("alice"), "the state lasts 15 s")
	require.NoError(t, c.Typing(ctx, "alice"), "15 s after the user's message: still within 30 s")

	srv.Advance(16 * time.Second)
	assert.Equal(t, 45080, codeOf(t, c.Typing(ctx, "alice")), "no exchange in the last 30 s")

	_, err := c.Send(ctx, text("alice", "a message is an exchange too"))
	require.NoError(t, err)
	require.NoError(t, c.Typing(ctx, "alice"))
	_, err = c.Send(ctx, text("alice", "and it ends the typing state"))
	require.NoError(t, err)
	assert.False(t, srv.Typing("alice"))
	require.NoError(t, c.Typing(ctx, "alice"))

	require.NoError(t, c.CancelTyping(ctx, "alice"))
	assert.False(t, srv.Typing("alice"))
	require.NoError(t, c.Typing(ctx, "alice"), "cancelled: Typing may start again")
	require.NoError(t, c.CancelTyping(ctx, "nobody"), "CancelTyping always succeeds")

	srv.Unfollow("alice")
	assert.Equal(t, 45015, codeOf(t, c.Typing(ctx, "alice")))
	assert.Len(t, srv.Messages("alice"), 2, "typing sends no message")
}

func TestTypingWire(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	w := rawClient(t, srv)
	tok := w.token()
	srv.Interact("alice", kefutest.MenuClick)
	typing := func(body string) int { return w.post(kefutest.PathTyping, tok, body).ErrCode }

	assert.Equal(t, 45072, typing(`{"touser":"alice","command":"typing"}`))
	assert.Equal(t, 45072, typing(`{"touser":"alice"}`))
	assert.Equal(t, 44002, typing(``))
	assert.Equal(t, 47001, typing(`{"touser":`))
	assert.Equal(t, 40033, typing(`{"touser":"alice\u003c","command":"Typing"}`))
	assert.Zero(t, typing(`{"touser":"alice","command":"Typing"}`))
	assert.Zero(t, typing(`{"touser":"","command":"CancelTyping"}`))
	assert.Equal(t, 40001, w.post(kefutest.PathTyping, "bad", `{"touser":"alice","command":"CancelTyping"}`).ErrCode)

	// Typing needs an open window, not quota: a used-up window still counts.
	for range 3 {
		require.Zero(t, w.send(tok, `{"touser":"alice","msgtype":"text","text":{"content":"x"}}`).ErrCode)
	}
	assert.Equal(t, 45047, w.send(tok, `{"touser":"alice","msgtype":"text","text":{"content":"x"}}`).ErrCode)
	assert.Zero(t, typing(`{"touser":"alice","command":"Typing"}`))
	srv.Advance(time.Minute)
	assert.Equal(t, 45015, typing(`{"touser":"alice","command":"Typing"}`), "the menu window closed")
}

// --- Faults -------------------------------------------------------------------

func TestFailNextIsRetriedWithoutActing(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Interact("alice", kefutest.UserMessage)
	c := srv.Client()
	ctx := context.Background()

	srv.FailNext(kefutest.PathSend, 2, -1)
	_, err := c.Send(ctx, text("alice", "busy twice"))
	require.NoError(t, err, "-1 is retried")
	assert.Equal(t, 3, srv.Calls(kefutest.PathSend))
	assert.Len(t, srv.Messages("alice"), 1)
	assert.Equal(t, 4, srv.Window("alice", kefutest.UserMessage).Left, "failed calls use no quota")

	srv.FailNext(kefutest.PathSend, 3, -1)
	_, err = c.Send(ctx, text("alice", "busy thrice"))
	assert.Equal(t, -1, codeOf(t, err))
	assert.ErrorIs(t, err, kefu.ErrSystemBusy)

	srv.FailNext(kefutest.PathSend, 1, 45009)
	_, err = c.Send(ctx, text("alice", "limited"))
	var ae *kefu.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "reach max api daily quota limit", ae.Message)
	assert.NotEmpty(t, ae.RequestID)
	assert.Len(t, srv.Messages("alice"), 1)

	srv.FailNext(kefutest.PathSend, 1, 0) // WeChat says ok and does nothing
	_, err = c.Send(ctx, text("alice", "lost"))
	require.NoError(t, err)
	assert.Len(t, srv.Messages("alice"), 1)

	srv.FailNext(kefutest.PathSend, 0, -1) // nothing queued
	_, err = c.Send(ctx, text("alice", "fine"))
	require.NoError(t, err)
	assert.Panics(t, func() { srv.FailNext(kefutest.PathSend, -1, -1) })
}

func TestFaultsQueueInOrder(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Interact("alice", kefutest.UserMessage)
	srv.FailNext(kefutest.PathSend, 1, -1)
	srv.StatusNext(kefutest.PathSend, 1, http.StatusServiceUnavailable)
	srv.FailNext(kefutest.PathSend, 1, 45015)
	c := srv.Client()
	_, err := c.Send(context.Background(), text("alice", "x"))
	assert.Equal(t, 45015, codeOf(t, err), "-1 retried, 503 retried, then 45015")
	assert.Equal(t, 3, srv.Calls(kefutest.PathSend))
	_, err = c.Send(context.Background(), text("alice", "x"))
	require.NoError(t, err, "the queue is empty")
	assert.Len(t, srv.Messages("alice"), 1)
}

func TestFaultsOnTokenEndpoints(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Interact("alice", kefutest.UserMessage)
	srv.FailNext(kefutest.PathStableToken, 1, -1)
	_, err := srv.Client().Send(context.Background(), text("alice", "x"))
	require.NoError(t, err)
	assert.Equal(t, 2, srv.Calls(kefutest.PathStableToken))

	srv.FailNext(kefutest.PathStableToken, 1, 40164)
	_, err = srv.Client().Send(context.Background(), text("alice", "x"))
	assert.Equal(t, 40164, codeOf(t, err))
	assert.ErrorIs(t, err, kefu.ErrUnauthorized)
	assert.Equal(t, 1, srv.Calls(kefutest.PathSend))
}

func TestDropNextDelivers(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Interact("alice", kefutest.UserMessage)
	ctx := context.Background()

	srv.DropNext(kefutest.PathSend, 1)
	_, err := srv.Client().Send(ctx, text("alice", "maybe"))
	require.Error(t, err)
	assert.ErrorIs(t, err, kefu.ErrDeliveryUnknown)
	var re *kefu.RequestError
	assert.ErrorAs(t, err, &re)
	assert.Equal(t, 1, srv.Calls(kefutest.PathSend), "an unknown outcome is not retried by default")
	assert.Len(t, srv.Messages("alice"), 1, "but WeChat delivered it")
	assert.Equal(t, 4, srv.Window("alice", kefutest.UserMessage).Left)

	// At-least-once: retrying unknown outcomes sends duplicates.
	p := kefutest.FastRetry()
	p.RetryUnknown = true
	srv.DropNext(kefutest.PathSend, 1)
	_, err = srv.Client(kefu.WithRetry(p)).Send(ctx, text("alice", "twice"))
	require.NoError(t, err)
	msgs := srv.Messages("alice")
	require.Len(t, msgs, 3)
	assert.Equal(t, msgs[1], msgs[2], "the same message, delivered twice")
}

func TestDropNextOnAToken(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	w := rawClient(t, srv)
	srv.DropNext(kefutest.PathStableToken, 1)
	_, err := w.hc.Post(srv.URL+kefutest.PathStableToken, "application/json",
		strings.NewReader(`{"grant_type":"client_credential","appid":"`+srv.AppID+`","secret":"`+srv.AppSecret+`"}`))
	require.Error(t, err)
	a := w.stable(false)
	assert.EqualValues(t, 7200, a.ExpiresIn, "the dropped call issued the token")
	assert.Equal(t, a.AccessToken, w.stable(false).AccessToken)
}

func TestStatusNext(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Interact("alice", kefutest.UserMessage)
	w := rawClient(t, srv)

	srv.StatusNext(kefutest.PathSend, 1, http.StatusBadGateway)
	a := w.send(w.token(), `{"touser":"alice","msgtype":"text","text":{"content":"x"}}`)
	assert.Equal(t, http.StatusBadGateway, a.status)
	assert.Equal(t, "text/html", a.contentType)

	srv.StatusNext(kefutest.PathSend, 1, http.StatusBadGateway)
	_, err := srv.Client().Send(context.Background(), text("alice", "x"))
	var he *kefu.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusBadGateway, he.StatusCode)
	assert.Contains(t, he.Snippet, "502 Bad Gateway")
	assert.ErrorIs(t, err, kefu.ErrDeliveryUnknown)
	assert.Nil(t, srv.Messages("alice"), "a status fault does not act")
	assert.Panics(t, func() { srv.StatusNext(kefutest.PathSend, 1, 99) })
}

func TestRawNext(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Interact("alice", kefutest.UserMessage)
	c := srv.Client()
	ctx := context.Background()

	srv.RawNext(kefutest.PathSend, 1, http.StatusOK, []byte(`{"errcode":0,"errm`))
	_, err := c.Send(ctx, text("alice", "x"))
	var he *kefu.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "answer is not JSON", he.Problem)
	assert.ErrorIs(t, err, kefu.ErrDeliveryUnknown)

	srv.RawNext(kefutest.PathSend, 1, http.StatusOK, []byte(`{"errcode":45047,"errmsg":"out of response count limit"}`))
	_, err = c.Send(ctx, text("alice", "x"))
	var ae *kefu.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 45047, ae.Code)
	assert.Empty(t, ae.RequestID)
	assert.Nil(t, srv.Messages("alice"), "raw answers do not act")
}

func TestDelayNextClientGivesUp(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Interact("alice", kefutest.UserMessage)
	c := srv.Client()
	_, err := c.Send(context.Background(), text("alice", "warm up")) // fetch the token first
	require.NoError(t, err)

	srv.DelayNext(kefutest.PathSend, 1, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err = c.Send(ctx, text("alice", "slow"))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, kefu.ErrDeliveryUnknown)
	assert.Less(t, time.Since(began), 30*time.Second)
	assert.Len(t, srv.Messages("alice"), 2, "the delayed call acted on arrival")
	// Cleanup's Close returns: the hold ended when the client gave up.
}

func TestDelayNextAnswersLate(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Interact("alice", kefutest.UserMessage)
	srv.DelayNext(kefutest.PathSend, 1, 20*time.Millisecond)
	began := time.Now()
	_, err := srv.Client().Send(context.Background(), text("alice", "late"))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(began), 20*time.Millisecond)
	assert.Len(t, srv.Messages("alice"), 1)
}

func TestCloseCutsDelaysShort(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Interact("alice", kefutest.UserMessage)
	c := srv.Client()
	srv.DelayNext(kefutest.PathSend, 1, time.Hour)

	done := make(chan error, 1)
	go func() {
		_, err := c.Send(context.Background(), text("alice", "held"))
		done <- err
	}()
	require.Eventually(t, func() bool { return len(srv.Messages("alice")) == 1 }, 10*time.Second, time.Millisecond)
	srv.Close()
	srv.Close() // again: nothing
	select {
	case err := <-done:
		assert.NoError(t, err, "the held answer is sent on Close")
	case <-time.After(10 * time.Second):
		t.Fatal("Send did not return after Close")
	}
}

// --- Clock and concurrency --------------------------------------------------------

func TestClock(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	assert.Equal(t, start, srv.Now())
	srv.Advance(90 * time.Minute)
	assert.Equal(t, start.Add(90*time.Minute), srv.Now())
	assert.Panics(t, func() { srv.Advance(-time.Second) })

	running := newServer(t)
	before := time.Now()
	now := running.Now()
	assert.False(t, now.Before(before))
	running.Advance(24 * time.Hour)
	assert.WithinDuration(t, time.Now().Add(24*time.Hour), running.Now(), time.Minute)
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	const users, each = 8, 10
	for u := range users {
		srv.Interact(fmt.Sprint("user", u), kefutest.Payment)
	}
	c := srv.Client()
	srv.FailNext(kefutest.PathSend, 2, -1) // retried: every send succeeds
	var wg sync.WaitGroup
	errs := make(chan error, users*each)
	for u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to := fmt.Sprint("user", u)
			for i := range each {
				if _, err := c.Send(context.Background(), text(to, fmt.Sprint(i))); err != nil {
					errs <- err
				}
				_ = srv.Messages(to)
				_ = srv.Calls(kefutest.PathSend)
				srv.Interact(to, kefutest.Payment)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	for u := range users {
		msgs := srv.Messages(fmt.Sprint("user", u))
		require.Len(t, msgs, each)
		for i, m := range msgs {
			assert.Equal(t, fmt.Sprint(i), m.Text.Content, "in order")
		}
	}
	assert.Equal(t, users*each+2, srv.Calls(kefutest.PathSend))
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

func TestDropNextOnAReusedGETIsResentByGo(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	w := rawClient(t, srv)
	first := w.token() // opens a keep-alive connection
	srv.DropNext(kefutest.PathToken, 1)
	a := w.classic()
	require.Zero(t, a.ErrCode, a.ErrMsg)
	assert.Equal(t, 3, srv.Calls(kefutest.PathToken), "the dropped GET was resent by the transport")
	assert.NotEqual(t, first, a.AccessToken)
}
