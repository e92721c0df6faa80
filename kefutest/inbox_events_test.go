package kefutest_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu/kefutest"
)

// stream is an open events stream of the inbox.
type stream struct {
	t    *testing.T
	body io.ReadCloser
	r    *bufio.Reader
}

// events opens the inbox's events stream; it ends with the test.
func events(t *testing.T, srv *kefutest.Server) *stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/kefutest/inbox/events", nil)
	require.NoError(t, err)
	hc := &http.Client{Transport: &http.Transport{}}
	resp, err := hc.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		hc.CloseIdleConnections()
	})
	return &stream{t: t, body: resp.Body, r: bufio.NewReader(resp.Body)}
}

// next returns the count of the next change event, skipping comments and
// the retry line.
func (s *stream) next() uint64 {
	s.t.Helper()
	for {
		line, err := s.r.ReadString('\n')
		require.NoError(s.t, err)
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(data), 10, 64)
			require.NoError(s.t, err)
			return n
		}
	}
}

func TestInboxEventsFollowChanges(t *testing.T) {
	t.Parallel()
	srv := inboxServer(t)
	s := events(t, srv)
	first := s.next()

	srv.Interact("o1", kefutest.UserMessage)
	second := s.next()
	assert.Greater(t, second, first)

	_, err := srv.Client().Send(context.Background(), text("o1", "hello"))
	require.NoError(t, err)
	assert.Greater(t, s.next(), second, "a send over HTTP is a change")

	p := inboxGet(t, srv, "/kefutest/inbox/users") // reading changes nothing...
	require.Equal(t, http.StatusOK, p.status)
	srv.Advance(time.Second) // ...so the next event is this one
	assert.Greater(t, s.next(), second)
}

func TestInboxEventsWhenAWindowCloses(t *testing.T) {
	t.Parallel()
	srv := newServer(t, kefutest.WithInbox()) // real time: windows close by themselves
	srv.Interact("o1", kefutest.Follow)       // 1 minute
	srv.Advance(time.Minute - 100*time.Millisecond)
	s := events(t, srv)
	n := s.next()
	assert.Equal(t, n, s.next(), "no change, but the window closed: the page looks again")
	assert.False(t, srv.Windows("o1").Open)
}

func TestCloseEndsInboxEvents(t *testing.T) {
	t.Parallel()
	srv := kefutest.NewServer(kefutest.WithInbox())
	s := events(t, srv)
	s.next() // the stream is open and its handler waits
	srv.Close()
	_, err := io.ReadAll(s.r)
	assert.NoError(t, err, "the stream ended cleanly")
}
