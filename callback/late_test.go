package callback_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/callback"
	"github.com/kefu-go/kefu/kefutest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func plainRequest(token, body string) *http.Request {
	ts, nonce := "1714112445", "42"
	q := url.Values{"signature": {callback.Signature(token, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce}}
	return httptest.NewRequest(http.MethodPost, "/?"+q.Encode(), strings.NewReader(body))
}

const hello = `<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName><CreateTime>1714112445</CreateTime><MsgType>text</MsgType><Content>hello</Content><MsgId>1</MsgId></xml>`

// TestLateReplyIsSent: a handler past its budget gets "success" answered for
// it and its context ended; the reply it returns later goes out as a
// customer-service message, and Close waits for that.
func TestLateReplyIsSent(t *testing.T) {
	t.Parallel()
	srv := kefutest.NewServer()
	defer srv.Close()
	srv.Interact("o1", kefutest.UserMessage)

	release := make(chan struct{})
	ctxEnded := make(chan error, 1)
	h, err := callback.NewHandler(callback.Config{Token: "tok", Budget: 20 * time.Millisecond, LateReplies: srv.Client()},
		func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
			<-ctx.Done()
			ctxEnded <- ctx.Err()
			<-release
			return callback.ReplyText("sorry for the wait: " + m.Content), nil
		})
	require.NoError(t, err)

	w := httptest.NewRecorder()
	h.ServeHTTP(w, plainRequest("tok", hello))
	assert.Equal(t, "success", w.Body.String())
	assert.ErrorIs(t, <-ctxEnded, context.DeadlineExceeded)
	assert.Empty(t, srv.Messages("o1"), "nothing sent before the handler returns")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, h.Close(ctx), context.Canceled, "Close gives up when its context ends")
	close(release)
	require.NoError(t, h.Close(context.Background()))
	msgs := srv.Messages("o1")
	require.Len(t, msgs, 1)
	assert.Equal(t, kefu.NewText("o1", "sorry for the wait: hello").Text, msgs[0].Text)
	assert.Equal(t, 1, srv.Calls(kefutest.PathSend))
}

// TestLateReplyWithoutClientIsDropped: without LateReplies the late reply is
// logged and dropped, and the handler ran once.
func TestLateReplyWithoutClientIsDropped(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	calls := 0
	h, err := callback.NewHandler(callback.Config{Token: "tok", Budget: 10 * time.Millisecond},
		func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
			calls++
			<-release
			return callback.ReplyText("late"), nil
		})
	require.NoError(t, err)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, plainRequest("tok", hello))
	assert.Equal(t, "success", w.Body.String())
	close(release)
	require.NoError(t, h.Close(context.Background()))
	assert.Equal(t, 1, calls)
}
