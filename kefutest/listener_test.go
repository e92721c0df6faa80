package kefutest_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

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
