package kefutest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

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
