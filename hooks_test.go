package kefu_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hookLog records every hook call as a line, and the values passed.
type hookLog struct {
	mu     sync.Mutex
	lines  []string
	values []any
}

func (l *hookLog) add(line string, v any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	l.values = append(l.values, v)
}

func (l *hookLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines
	l.lines = nil
	return out
}

type ctxKey struct{}

func (l *hookLog) hooks(includeOpenID bool) kefu.Hooks {
	return kefu.Hooks{
		IncludeOpenID: includeOpenID,
		Call: func(ctx context.Context, c kefu.CallInfo) (context.Context, func(kefu.CallEnd)) {
			l.add(fmt.Sprintf("call %s %s %s", c.Path, c.MsgType, c.OpenID), c)
			return context.WithValue(ctx, ctxKey{}, "span"), func(e kefu.CallEnd) {
				l.add(fmt.Sprintf("call end %s %d attempts=%d", e.Class, e.ErrCode, e.Attempts), e)
			}
		},
		Attempt: func(ctx context.Context, a kefu.AttemptInfo) (context.Context, func(kefu.AttemptEnd)) {
			parent, _ := ctx.Value(ctxKey{}).(string)
			l.add(fmt.Sprintf("attempt %s #%d in %q", a.Path, a.N, parent), a)
			return ctx, func(e kefu.AttemptEnd) {
				l.add(fmt.Sprintf("attempt end %d %d %s retry=%v", e.Status, e.ErrCode, e.Class, e.Retry), e)
			}
		},
		Token: func(_ context.Context, t kefu.TokenEvent) {
			l.add(fmt.Sprintf("token %s err=%v", t.Reason, t.Err != nil), t)
		},
		Window: func(_ context.Context, w kefu.WindowEvent) {
			l.add(fmt.Sprintf("window %d %s", w.ErrCode, w.OpenID), w)
		},
		Bulk: func(_ context.Context, b kefu.BulkEvent) {
			l.add(fmt.Sprintf("bulk %s %d %s", b.Status, b.ErrCode, b.OpenID), b)
		},
	}
}

func TestHooks(t *testing.T) {
	t.Parallel()
	srv := newBulkFake(t)
	srv.Interact("o1", kefutest.UserMessage)
	var log hookLog
	tr := kefu.NewWindowTracker(nil, kefu.WithTrackerClock(srv.Now))
	c := srv.Client(kefu.WithHooks(log.hooks(false)), kefu.WithWindows(tr))
	ctx := context.Background()

	_, err := c.Send(ctx, kefu.NewText("o1", "hi"))
	require.NoError(t, err)
	assert.Equal(t, []string{
		"call /cgi-bin/message/custom/send text ",
		`attempt /cgi-bin/stable_token #1 in "span"`, // srv.Client gives the token source the hooks too
		"attempt end 200 0 ok retry=false",
		"token cold err=false",
		`attempt /cgi-bin/message/custom/send #1 in "span"`,
		"attempt end 200 0 ok retry=false",
		"call end ok 0 attempts=1",
	}, log.take())

	// Busy once, then accepted: the attempt says it will retry.
	srv.FailNext(kefutest.PathSend, 1, -1)
	_, err = c.Send(ctx, kefu.NewText("o1", "hi"))
	require.NoError(t, err)
	assert.Equal(t, []string{
		"call /cgi-bin/message/custom/send text ",
		`attempt /cgi-bin/message/custom/send #1 in "span"`,
		"attempt end 200 -1 refused retry=true",
		`attempt /cgi-bin/message/custom/send #2 in "span"`,
		"attempt end 200 0 ok retry=false",
		"call end ok 0 attempts=2",
	}, log.take())

	// Every token dies: rejected, refreshed, sent again.
	srv.RotateTokens()
	_, err = c.Send(ctx, kefu.NewText("o1", "hi"))
	require.NoError(t, err)
	lines := log.take()
	assert.Contains(t, lines, "token rejected err=false")
	assert.Contains(t, lines, "attempt end 200 40001 refused retry=true")
	assert.Equal(t, "call end ok 0 attempts=2", lines[len(lines)-1])

	// Delivery unknown.
	srv.DropNext(kefutest.PathSend, 1)
	_, err = c.Send(ctx, kefu.NewText("o1", "hi"))
	require.ErrorIs(t, err, kefu.ErrDeliveryUnknown)
	lines = log.take()
	assert.Equal(t, "call end unknown 0 attempts=1", lines[len(lines)-1])

	// The tracker refuses locally: a window event, no call.
	require.NoError(t, tr.Observe(ctx, "o1", kefu.ActionScan, srv.Now()))
	require.NoError(t, tr.Unfollow(ctx, "o1", srv.Now()))
	_, err = c.Send(ctx, kefu.NewText("o1", "hi"))
	require.ErrorIs(t, err, kefu.ErrOutsideWindow)
	assert.Equal(t, []string{"window 45015 "}, log.take())

	// Validation fails before any hook.
	_, err = c.Send(ctx, kefu.NewText("o1", ""))
	require.Error(t, err)
	assert.Empty(t, log.take())
}

func TestHooksIncludeOpenIDAndBulk(t *testing.T) {
	t.Parallel()
	srv := newBulkFake(t)
	ids := users(srv, 2)
	srv.AddUser("closed")
	var log hookLog
	c := srv.Client(kefu.WithHooks(log.hooks(true)))
	_, err := collect(t, c, texts(append(ids, "closed"), "news"), kefu.BulkConcurrency(1))
	require.NoError(t, err)
	lines := log.take()
	assert.Contains(t, lines, "call /cgi-bin/message/custom/send text o0000")
	assert.Contains(t, lines, "bulk sent 0 o0001")
	assert.Contains(t, lines, "bulk failed 45015 closed")
}

// TestHooksSeeNoSecrets: nothing a hook receives holds the token or the
// secret, whatever happens.
func TestHooksSeeNoSecrets(t *testing.T) {
	t.Parallel()
	srv := newBulkFake(t)
	srv.Interact("o1", kefutest.UserMessage)
	var log hookLog
	hooks := log.hooks(true)
	ts, err := kefu.NewTokenSource(srv.AppID, srv.AppSecret, kefu.WithBaseURL(srv.URL), kefu.WithRetry(kefutest.FastRetry()), kefu.WithHooks(hooks))
	require.NoError(t, err)
	c, err := kefu.NewClient(ts, kefu.WithBaseURL(srv.URL), kefu.WithRetry(kefutest.FastRetry()), kefu.WithHooks(hooks))
	require.NoError(t, err)
	ctx := context.Background()
	_, _ = c.Send(ctx, kefu.NewText("o1", "hi"))
	srv.FailNext(kefutest.PathSend, 3, -1)
	_, _ = c.Send(ctx, kefu.NewText("o1", "hi"))
	srv.RawNext(kefutest.PathSend, 1, 500, []byte("<html>access_token="+firstToken(t, ts)+"</html>"))
	_, _ = c.Send(ctx, kefu.NewText("o1", "hi"))
	srv.DropNext(kefutest.PathStableToken, 5)
	srv.RotateTokens()
	_, _ = c.Send(ctx, kefu.NewText("o1", "hi"))

	tok := firstToken(t, ts)
	log.mu.Lock()
	defer log.mu.Unlock()
	require.NotEmpty(t, log.values)
	for _, v := range log.values {
		s := fmt.Sprintf("%+v", v)
		assert.NotContains(t, s, srv.AppSecret)
		if tok != "" {
			assert.NotContains(t, s, tok)
		}
	}
	assert.True(t, strings.Contains(strings.Join(log.lines, "\n"), "token "), "token events were seen")
}

func firstToken(t *testing.T, ts kefu.TokenSource) string {
	t.Helper()
	if e, ok := ts.(kefu.ExpiringTokenSource); ok {
		if tok, err := e.TokenWithExpiry(context.Background()); err == nil {
			return tok.AccessToken
		}
	}
	return ""
}
