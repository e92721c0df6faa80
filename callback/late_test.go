package callback_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/callback"
	"github.com/kefu-go/kefu/kefutest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// postPlain POSTs a signed plain-mode body to a callback server, as WeChat
// does, and returns the answer's body.
func postPlain(t *testing.T, srvURL, token, body string) string {
	t.Helper()
	ts, nonce := "1714112445", "42"
	q := url.Values{"signature": {callback.Signature(token, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce}}
	resp, err := http.Post(srvURL+"/?"+q.Encode(), "text/xml", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

const hello = `<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName><CreateTime>1714112445</CreateTime><MsgType>text</MsgType><Content>hello</Content><MsgId>1</MsgId></xml>`

// TestLateReplyIsSent: a handler past its budget gets "success" answered
// (and flushed) for it while it still runs, and its context ended; the
// reply it returns later goes out as a customer-service message, and Close
// waits for that.
func TestLateReplyIsSent(t *testing.T) {
	t.Parallel()
	wx := kefutest.NewServer()
	defer wx.Close()
	wx.Interact("o1", kefutest.UserMessage)

	release := make(chan struct{})
	ctxEnded := make(chan error, 1)
	h, err := callback.NewHandler(callback.Config{Token: "tok", Budget: 20 * time.Millisecond, LateReplies: wx.Client()},
		func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
			<-ctx.Done()
			ctxEnded <- ctx.Err()
			<-release
			return callback.ReplyText("sorry for the wait: " + m.Content), nil
		})
	require.NoError(t, err)
	svc := httptest.NewServer(h)
	defer svc.Close()

	assert.Equal(t, "success", postPlain(t, svc.URL, "tok", hello), "answered while the handler still runs")
	assert.ErrorIs(t, <-ctxEnded, context.DeadlineExceeded)
	assert.Empty(t, wx.Messages("o1"), "nothing sent before the handler returns")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, h.Close(ctx), context.Canceled, "Close gives up when its context ends")
	close(release)
	require.NoError(t, h.Close(context.Background()))
	msgs := wx.Messages("o1")
	require.Len(t, msgs, 1)
	assert.Equal(t, kefu.NewText("o1", "sorry for the wait: hello").Text, msgs[0].Text)
	assert.Equal(t, 1, wx.Calls(kefutest.PathSend))
}

// TestLateReplyWithoutClientIsDropped: without LateReplies the late reply is
// logged and dropped, and the handler ran once.
func TestLateReplyWithoutClientIsDropped(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var calls atomic.Int32
	var logs syncBuffer
	h, err := callback.NewHandler(callback.Config{Token: "tok", Budget: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))},
		func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
			calls.Add(1)
			<-release
			return callback.ReplyText("late"), nil
		})
	require.NoError(t, err)
	svc := httptest.NewServer(h)
	defer svc.Close()
	assert.Equal(t, "success", postPlain(t, svc.URL, "tok", hello))
	close(release)
	require.NoError(t, h.Close(context.Background()))
	assert.Equal(t, int32(1), calls.Load())
	assert.Contains(t, logs.String(), "over its budget")
	assert.Contains(t, logs.String(), "late reply was dropped")
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestHandlerFeedsTheTracker: the handler tells the tracker of each message
// once (not per retry), before the HandlerFunc runs, so a reply sent from
// inside it is inside the window; unsubscribe closes the windows.
func TestHandlerFeedsTheTracker(t *testing.T) {
	t.Parallel()
	wx := kefutest.NewServer(kefutest.WithFrozenClock(time.Unix(1714112445, 0)))
	defer wx.Close()
	tr := kefu.NewWindowTracker(nil, kefu.WithTrackerClock(wx.Now))
	client := wx.Client(kefu.WithWindows(tr))
	wx.Interact("o1", kefutest.UserMessage) // WeChat's side of the same message
	var sent atomic.Int32
	h, err := callback.NewHandler(callback.Config{Token: "tok", Windows: tr},
		func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
			if m.MsgType == callback.MsgTypeText {
				if _, err := client.Send(ctx, kefu.NewText(m.FromUserName, "got it")); err != nil {
					return nil, err
				}
				sent.Add(1)
			}
			return nil, nil
		})
	require.NoError(t, err)
	svc := httptest.NewServer(h)
	defer svc.Close()
	defer h.Close(context.Background())

	assert.Equal(t, "success", postPlain(t, svc.URL, "tok", hello))
	assert.Equal(t, "success", postPlain(t, svc.URL, "tok", hello)) // WeChat's retry
	assert.Equal(t, int32(1), sent.Load())
	st, err := tr.Window(context.Background(), "o1")
	require.NoError(t, err)
	assert.Equal(t, kefu.WindowState{Known: true, Open: true, Remaining: 4, Closes: time.Unix(1714112445, 0).Add(48 * time.Hour)}, st)

	unsub := `<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName><CreateTime>1714112445</CreateTime><MsgType>event</MsgType><Event>unsubscribe</Event></xml>`
	assert.Equal(t, "success", postPlain(t, svc.URL, "tok", unsub))
	st, _ = tr.Window(context.Background(), "o1")
	assert.False(t, st.Open)
	_, err = client.Send(context.Background(), kefu.NewText("o1", "bye"))
	assert.ErrorIs(t, err, kefu.ErrOutsideWindow)
}
