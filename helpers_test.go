package kefu

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// withClock replaces the token source's clock.
func withClock(now func() time.Time) Option {
	return func(s *settings) error { s.now = now; return nil }
}

// withSleep replaces the wait between attempts.
func withSleep(f func(context.Context, time.Duration) error) Option {
	return func(s *settings) error { s.sleep = f; return nil }
}

// withAnswerLimit shortens the answer deadline of kefu's own transport.
func withAnswerLimit(d time.Duration) Option {
	return func(s *settings) error { s.answerLimit = d; return nil }
}

// noWait skips backoff waits but still honours cancellation.
var noWait = withSleep(func(ctx context.Context, _ time.Duration) error { return ctx.Err() })

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// wechat is a scripted stand-in for WeChat: one handler per path, with
// request counts and the last bodies seen.
type wechat struct {
	*httptest.Server
	mu       sync.Mutex
	handlers map[string]http.HandlerFunc
	calls    map[string]*atomic.Int64
	bodies   map[string][][]byte
	queries  map[string][]string
}

func newWechat(t *testing.T) *wechat {
	t.Helper()
	w := &wechat{handlers: map[string]http.HandlerFunc{}, calls: map[string]*atomic.Int64{},
		bodies: map[string][][]byte{}, queries: map[string][]string{}}
	w.Server = httptest.NewServer(http.HandlerFunc(w.serve))
	t.Cleanup(w.Close)
	return w
}

func (w *wechat) serve(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	h := w.handlers[r.URL.Path]
	c := w.calls[r.URL.Path]
	if c == nil {
		c = new(atomic.Int64)
		w.calls[r.URL.Path] = c
	}
	w.bodies[r.URL.Path] = append(w.bodies[r.URL.Path], body)
	w.queries[r.URL.Path] = append(w.queries[r.URL.Path], r.URL.RawQuery)
	w.mu.Unlock()
	n := c.Add(1)
	if h == nil {
		http.NotFound(rw, r)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), callKey{}, int(n)))
	h(rw, r)
}

type callKey struct{}

// callN is the 1-based number of this request on its path.
func callN(r *http.Request) int { return r.Context().Value(callKey{}).(int) }

func (w *wechat) handle(path string, h http.HandlerFunc) {
	w.mu.Lock()
	w.handlers[path] = h
	w.mu.Unlock()
}

func (w *wechat) count(path string) int {
	w.mu.Lock()
	c := w.calls[path]
	w.mu.Unlock()
	if c == nil {
		return 0
	}
	return int(c.Load())
}

func (w *wechat) body(path string, i int) []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bodies[path][i]
}

func (w *wechat) query(path string, i int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.queries[path][i]
}

func writeJSON(rw http.ResponseWriter, s string) {
	rw.Header().Set("Content-Type", "application/json; charset=utf-8")
	io.WriteString(rw, s)
}

// answerWith returns a handler that always writes s.
func answerWith(s string) http.HandlerFunc {
	return func(rw http.ResponseWriter, _ *http.Request) { writeJSON(rw, s) }
}

// script returns a handler that writes answers[i] on call i+1, repeating the last.
func script(answers ...string) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		i := min(callN(r), len(answers)) - 1
		writeJSON(rw, answers[i])
	}
}

// stableTokens serves numbered tokens "TOKEN-n-..." from the stable endpoint.
func tokenName(n int) string {
	return "TOKEN" + string(rune('A'+n-1)) + "_0123456789abcdefghijklmnopqrstuvwxyz"
}

func stableTokens() http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		writeJSON(rw, `{"access_token":"`+tokenName(callN(r))+`","expires_in":7200}`)
	}
}

// closedAddr returns a local address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	return addr
}

// newTestTokenSource returns a stable token source aimed at w, its idle
// connections closed when the test ends.
func newTestTokenSource(t *testing.T, w *wechat, opts ...Option) *tokenSource {
	t.Helper()
	src, err := NewTokenSource(testAppID, testSecret, append([]Option{WithBaseURL(w.URL)}, opts...)...)
	require.NoError(t, err)
	ts := src.(*tokenSource)
	t.Cleanup(ts.CloseIdleConnections)
	return ts
}

// newTestClient returns a client on a stable token source aimed at w.
func newTestClient(t *testing.T, w *wechat, opts ...Option) *Client {
	t.Helper()
	opts = append([]Option{WithBaseURL(w.URL), noWait}, opts...)
	ts, err := NewTokenSource(testAppID, testSecret, opts...)
	require.NoError(t, err)
	c, err := NewClient(ts, opts...)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

const (
	testAppID  = "wx1234567890abcdef"
	testSecret = "SECRETsecret0123456789abcdefABCD"
)

// captureHandler records every log record as text.
type captureHandler struct {
	mu    sync.Mutex
	lines []string
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	h.lines = append(h.lines, b.String())
	h.mu.Unlock()
	return nil
}
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }

// String returns the records, one a line.
func (h *captureHandler) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.lines, "\n")
}

func (h *captureHandler) WithGroup(string) slog.Handler { return h }

// maxSnippet is the longest Snippet an HTTPError may carry: snippetLen bytes
// cut on a rune boundary, then "...".
const maxSnippet = snippetLen + len("...")

// fuzzAlphabet is what the fuzzed token and secret are made of: letters that
// are not in "REDACTED" and that strconv.Quote never writes in an escape
// (\x, \u, \U, \n, \t... use lowercase letters, digits and U), so a secret
// found in an error string came from the answer itself.
const fuzzAlphabet = "BFGHIJKLMNOPQSVWYZ"

// readAnswer reads an answer under the default bound, as Send does.
func readAnswer(r io.Reader) (buf *[]byte, over bool, err error) {
	return readAnswerMax(r, maxAnswer)
}

// checkNoSecret checks that no secret shows in err, however it is printed.
func checkNoSecret(t *testing.T, err error, secrets []string) {
	t.Helper()
	for _, shown := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		for _, s := range secrets {
			require.NotContains(t, shown, s, "a secret leaked into the error")
		}
	}
}

// checkReadAnswer reads data through readAnswer and checks what it kept.
func checkReadAnswer(t *testing.T, r io.Reader, data func() []byte, size int) {
	t.Helper()
	buf, over, err := readAnswer(r)
	defer releaseAnswer(buf)
	require.NoError(t, err)
	require.Equal(t, size > maxAnswer, over, "over for %d bytes", size)
	if !over {
		require.Equal(t, size, len(*buf))
		require.True(t, bytes.Equal(data(), *buf), "readAnswer changed the answer")
		return
	}
	require.Greater(t, len(*buf), maxAnswer)
	require.True(t, bytes.Equal(data()[:len(*buf)], *buf), "readAnswer kept something else than the answer's start")
	require.LessOrEqual(t, len(*buf), maxAnswer+1, "readAnswer keeps at most 1 MiB + 1")
}
