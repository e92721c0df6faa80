package kefutest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

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

func TestUnknownPath(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	a := rawClient(t, srv).do(http.MethodGet, "/cgi-bin/nope?access_token=x", "")
	assert.Equal(t, http.StatusNotFound, a.status)
	assert.Zero(t, srv.Calls("/cgi-bin/nope"), "an unknown path is not counted")
}

// TestGarbageKeepsNothing floods the server with requests it refuses: long
// made-up paths, bad credentials and tokens, unknown users, the admin API
// while it is off. It keeps a call count for its own paths only, and nothing
// else: a flood of garbage is held in bounded memory.
func TestGarbageKeepsNothing(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	w := rawClient(t, srv)
	long := strings.Repeat("x", 16<<10)
	const n = 50
	for i := range n {
		for _, p := range []string{"/cgi-bin/", kefutest.PathSend + "/", "/kefutest/", "/"} {
			path := fmt.Sprintf("%s%d-%s", p, i, long)
			assert.Equal(t, http.StatusNotFound, w.do(http.MethodGet, path+"?access_token=x", "").status)
			assert.Equal(t, http.StatusNotFound, w.do(http.MethodPost, path, `{"touser":"o1"}`).status)
		}
		openID := fmt.Sprintf("o-%d-%s", i, long)
		assert.Equal(t, 40001, w.send("bad-"+long, `{"touser":"`+openID+`","msgtype":"text","text":{"content":"hi"}}`).ErrCode)
		assert.Equal(t, 40001, w.post(kefutest.PathTyping, "bad", `{"touser":"`+openID+`","command":"Typing"}`).ErrCode)
		assert.Equal(t, 40125, w.do(http.MethodGet, kefutest.PathToken+"?grant_type=client_credential&appid="+srv.AppID+"&secret="+long, "").ErrCode)
		assert.Equal(t, 40013, w.do(http.MethodPost, kefutest.PathStableToken, `{"grant_type":"client_credential","appid":"`+long+`","secret":"x"}`).ErrCode)
		assert.Equal(t, http.StatusNotFound, w.do(http.MethodPost, kefutest.PathAdminInteract, `{"openid":"`+openID+`","action":"Payment"}`).status)
	}
	// With a good token, calls about unknown users keep nothing either.
	tok := w.token()
	for i := range n {
		openID := fmt.Sprintf("o-%d-%s", i, long)
		assert.Equal(t, 40003, w.send(tok, `{"touser":"`+openID+`","msgtype":"text","text":{"content":"hi"}}`).ErrCode)
		assert.Equal(t, 40003, w.post(kefutest.PathTyping, tok, `{"touser":"`+openID+`","command":"Typing"}`).ErrCode)
		assert.Zero(t, w.post(kefutest.PathTyping, tok, `{"touser":"`+openID+`","command":"CancelTyping"}`).ErrCode)
		assert.Equal(t, 40003, w.do(http.MethodGet, kefutest.PathSession+"?access_token="+url.QueryEscape(tok)+"&openid="+openID, "").ErrCode)
	}
	want := []string{kefutest.PathSend, kefutest.PathTyping, kefutest.PathToken, kefutest.PathStableToken,
		kefutest.PathSession, kefutest.PathAdminInteract}
	counted := srv.CountedPaths()
	if assert.Equal(t, len(want), len(counted), "paths with a call count: the known ones called, no unknown one") {
		assert.ElementsMatch(t, want, counted)
	}
	assert.Equal(t, map[string]int{"tokens": 1}, srv.Kept())
	assert.Equal(t, 2*n, srv.Calls(kefutest.PathSend))
	assert.Zero(t, srv.Calls("/cgi-bin/0-"+long))
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

// recordingListener counts the connections it accepted and its closes.
type recordingListener struct {
	net.Listener
	accepted, closed atomic.Int32
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

func (l *recordingListener) Close() error {
	l.closed.Add(1)
	return l.Listener.Close()
}

func TestWithListener(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	rl := &recordingListener{Listener: ln}
	srv := kefutest.NewServer(kefutest.WithListener(rl))
	defer srv.Close()
	assert.Equal(t, "http://"+ln.Addr().String(), srv.URL)

	srv.Interact("o1", kefutest.UserMessage)
	c := srv.Client()
	defer c.CloseIdleConnections()
	_, err = c.Send(context.Background(), kefu.NewText("o1", "over the given listener"))
	require.NoError(t, err)
	assert.Len(t, srv.Messages("o1"), 1)
	assert.Positive(t, rl.accepted.Load(), "the server accepted on the given listener")

	// The server owns the listener: Close closes it (net/http may close it
	// a second time as Serve returns, which is harmless).
	srv.Close()
	srv.Close()
	assert.Positive(t, rl.closed.Load())
	_, err = ln.Accept()
	assert.True(t, errors.Is(err, net.ErrClosed), "Accept after Close: %v", err)
}

func TestWithListenerNil(t *testing.T) {
	t.Parallel()
	assert.PanicsWithValue(t, "kefutest: WithListener needs a listener", func() { kefutest.WithListener(nil) })
}
