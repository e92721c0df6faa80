package callback

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type spanKey struct{}

// endLog collects the RequestEnds of a Handler's hooks.
type endLog struct {
	mu   sync.Mutex
	ends []RequestEnd
}

func (l *endLog) hooks(openID bool) *Hooks {
	return &Hooks{IncludeOpenID: openID, Request: func(ctx context.Context) (context.Context, func(RequestEnd)) {
		return context.WithValue(ctx, spanKey{}, "span"), func(e RequestEnd) {
			l.mu.Lock()
			l.ends = append(l.ends, e)
			l.mu.Unlock()
		}
	}}
}

func (l *endLog) last(t *testing.T) RequestEnd {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	require.NotEmpty(t, l.ends)
	return l.ends[len(l.ends)-1]
}

func TestCallbackHooks(t *testing.T) {
	t.Parallel()
	var log endLog
	var sawSpan bool
	h := newTestHandler(t, Config{AppID: tAppID, EncodingAESKey: tKey, Hooks: log.hooks(false)}, func(ctx context.Context, m *Message) (Reply, error) {
		sawSpan = ctx.Value(spanKey{}) == "span"
		switch m.Content {
		case "fail":
			return nil, errors.New("boom")
		case "quiet":
			return nil, nil
		}
		return ReplyText("ok"), nil
	})
	wc := newWeChat(t, tKey)

	serve(h, wc.safe(textMsg(1, "hi")))
	e := log.last(t)
	assert.True(t, sawSpan, "the hook's context reaches the HandlerFunc")
	assert.Equal(t, OutcomeReplied, e.Outcome)
	assert.Equal(t, 200, e.Status)
	assert.Equal(t, "text", e.MsgType)
	assert.True(t, e.Encrypted)
	assert.Empty(t, e.OpenID, "no openid unless asked")
	assert.Positive(t, e.HandlerTime)

	serve(h, wc.safe(textMsg(1, "hi"))) // WeChat's retry
	e = log.last(t)
	assert.Equal(t, OutcomeDuplicate, e.Outcome)
	assert.True(t, e.Duplicate)
	assert.Zero(t, e.HandlerTime)

	serve(h, wc.plain(textMsg(2, "quiet")))
	assert.Equal(t, OutcomeSuccess, log.last(t).Outcome)

	serve(h, wc.plain(textMsg(3, "fail")))
	e = log.last(t)
	assert.Equal(t, OutcomeFailed, e.Outcome)
	assert.Equal(t, 500, e.Status)
	assert.ErrorContains(t, e.Err, "boom")

	bad := wc.query()
	bad.Set("signature", "0000")
	serve(h, post(bad, textMsg(4, "x")))
	e = log.last(t)
	assert.Equal(t, OutcomeRefused, e.Outcome)
	assert.Equal(t, 403, e.Status)
	assert.True(t, e.SignatureFailure)
	assert.Empty(t, e.MsgType)

	var log2 endLog
	h2 := newTestHandler(t, Config{Hooks: log2.hooks(true)}, func(context.Context, *Message) (Reply, error) { return nil, nil })
	serve(h2, wc.plain(textMsg(5, "x")))
	assert.Equal(t, "o1", log2.last(t).OpenID)
}
