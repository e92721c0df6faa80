package kefuotel_test

import (
	"context"
	"fmt"
	"iter"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefuotel"
	"github.com/kefu-go/kefu/kefutest"
)

func texts(openIDs ...string) iter.Seq[*kefu.Message] {
	return func(yield func(*kefu.Message) bool) {
		for _, id := range openIDs {
			if !yield(kefu.NewText(id, "news")) {
				return
			}
		}
	}
}

// TestClientEvents: token fetches by reason, local window refusals and
// SendAll's results become span events and counters; the openid goes on
// spans only with WithOpenID, never on a metric.
func TestClientEvents(t *testing.T) {
	t.Parallel()
	withOpenIDs(t, func(t *testing.T, withOpenID bool, rec *recorder) {
		srv := kefutest.NewServer()
		defer srv.Close()
		srv.Interact("o1", kefutest.UserMessage)
		srv.AddUser("closed")
		tr := kefu.NewWindowTracker(nil, kefu.WithTrackerClock(srv.Now))
		c := srv.Client(kefu.WithHooks(rec.tel.ClientHooks()))
		defer c.CloseIdleConnections()
		tracked := srv.Client(kefu.WithHooks(rec.tel.ClientHooks()), kefu.WithWindows(tr))
		defer tracked.CloseIdleConnections()
		ctx := context.Background()

		_, err := c.Send(ctx, kefu.NewText("o1", "hi"))
		require.NoError(t, err)
		srv.RotateTokens() // the next send meets 40001: a rejected token's refresh
		_, err = c.Send(ctx, kefu.NewText("o1", "hi"))
		require.NoError(t, err)

		// The tracker saw "closed" unfollow: a local refusal, in the
		// caller's span.
		require.NoError(t, tr.Observe(ctx, "closed", kefu.ActionScan, srv.Now()))
		require.NoError(t, tr.Unfollow(ctx, "closed", srv.Now()))
		parent, span := rec.tp.Tracer("test").Start(ctx, "caller")
		_, err = tracked.Send(parent, kefu.NewText("closed", "hi"))
		require.ErrorIs(t, err, kefu.ErrOutsideWindow)
		span.End()

		for res, err := range c.SendAll(ctx, texts("o1", "closed"), kefu.BulkConcurrency(1)) {
			require.NoError(t, err)
			_ = res
		}

		rm := rec.collect(t)
		reason := func(r kefu.TokenReason) attribute.KeyValue { return kefuotel.AttrTokenReason.String(string(r)) }
		assert.Equal(t, int64(1), total(rm, kefuotel.MetricTokenRefreshes, reason(kefu.TokenCold)), "a cold fetch (the tracked client refused before it needed a token)")
		assert.Equal(t, int64(1), total(rm, kefuotel.MetricTokenRefreshes, reason(kefu.TokenRejected)))
		assert.Equal(t, int64(2), total(rm, kefuotel.MetricTokenDuration))
		assert.Equal(t, int64(1), total(rm, kefuotel.MetricWindowRefusals, kefuotel.AttrErrCode.Int(45015)))
		assert.Equal(t, int64(1), total(rm, kefuotel.MetricBulkResults, kefuotel.AttrBulkStatus.String("sent")))
		assert.Equal(t, int64(1), total(rm, kefuotel.MetricBulkResults, kefuotel.AttrBulkStatus.String("failed"), kefuotel.AttrErrCode.Int(45015)))
		assert.Equal(t, int64(3), total(rm, kefuotel.MetricCalls, kefuotel.AttrResult.String("ok")), "two sends and one of SendAll's")
		assert.Equal(t, int64(1), total(rm, kefuotel.MetricCalls, kefuotel.AttrResult.String("refused"), kefuotel.AttrErrCode.Int(45015)))

		caller := rec.named("caller")
		require.Len(t, caller, 1)
		require.Len(t, caller[0].Events(), 1, "the refusal is an event of the caller's span")
		ev := caller[0].Events()[0]
		assert.Equal(t, kefuotel.EventWindowRefused, ev.Name)
		assert.Contains(t, ev.Attributes, kefuotel.AttrErrCode.Int(45015))
		assert.Equal(t, withOpenID, contains(ev.Attributes, kefuotel.AttrOpenID.String("closed")))
		assert.Empty(t, rec.childrenOf(caller[0], sendSpan), "a local refusal makes no call")

		var refreshes []string
		for _, s := range rec.named(sendSpan) {
			for _, e := range s.Events() {
				if e.Name == kefuotel.EventTokenRefresh {
					refreshes = append(refreshes, fmt.Sprint(e.Attributes))
				}
			}
			a := attrs(s)
			id, ok := a[kefuotel.AttrOpenID]
			assert.Equal(t, withOpenID, ok, "the openid on the call span only with WithOpenID")
			if ok {
				assert.Contains(t, []string{"o1", "closed"}, id.AsString())
			}
		}
		assert.Len(t, refreshes, 2, "the cold fetch and the rejected token's refresh are events of the calls that made them")

		for _, s := range rec.recorded(t) {
			if !withOpenID {
				assert.NotContains(t, s, "closed")
				assert.NotContains(t, s, "=o1")
			}
		}
		for _, set := range allPointSets(rm) {
			_, ok := set.Value(kefuotel.AttrOpenID)
			assert.False(t, ok, "never an openid on a metric")
		}
	})
}

func contains(kvs []attribute.KeyValue, want attribute.KeyValue) bool {
	for _, kv := range kvs {
		if kv == want {
			return true
		}
	}
	return false
}

// TestOptions: options validate their input.
func TestOptions(t *testing.T) {
	t.Parallel()
	for name, opt := range map[string]kefuotel.Option{
		"nil option":          nil,
		"nil tracer provider": kefuotel.WithTracerProvider(nil),
		"nil meter provider":  kefuotel.WithMeterProvider(nil),
		"relative base":       kefuotel.WithBaseURL("/cgi-bin"),
		"ftp base":            kefuotel.WithBaseURL("ftp://example.com"),
		"base with a query":   kefuotel.WithBaseURL("https://example.com/?access_token=x"),
		"base with a user":    kefuotel.WithBaseURL("https://u:p@example.com"),
		"bad base":            kefuotel.WithBaseURL("http://[::1"),
	} {
		_, err := kefuotel.New(opt)
		assert.Error(t, err, name)
		if err != nil {
			assert.NotContains(t, err.Error(), "access_token=x", name)
		}
	}
	// The global providers by default (no-ops until an SDK is installed).
	tel, err := kefuotel.New()
	require.NoError(t, err)
	srv := kefutest.NewServer()
	defer srv.Close()
	srv.Interact("o1", kefutest.UserMessage)
	c := srv.Client(kefu.WithHooks(tel.ClientHooks()))
	defer c.CloseIdleConnections()
	_, err = c.Send(context.Background(), kefu.NewText("o1", "hi"))
	require.NoError(t, err)
}

// TestBaseURL: url.full and the server attributes follow WithBaseURL.
func TestBaseURL(t *testing.T) {
	t.Parallel()
	for base, want := range map[string][3]string{
		"":                            {kefuotel.DefaultBaseURL + kefutest.PathSend, "api.weixin.qq.com", "443"},
		"http://wechat.internal/":     {"http://wechat.internal" + kefutest.PathSend, "wechat.internal", "80"},
		"https://[::1]:8443/proxy///": {"https://[::1]:8443/proxy" + kefutest.PathSend, "::1", "8443"},
	} {
		var opts []kefuotel.Option
		if base != "" {
			opts = append(opts, kefuotel.WithBaseURL(base))
		}
		rec := newRecorder(t, opts...)
		_, end := rec.tel.ClientHooks().Attempt(context.Background(), kefu.AttemptInfo{Path: kefutest.PathSend, Method: "POST", N: 1})
		end(kefu.AttemptEnd{Status: 200, Class: kefu.ResultOK})
		spans := rec.named(sendAttempt)
		require.Len(t, spans, 1)
		a := attrs(spans[0])
		assert.Equal(t, want[0], a["url.full"].AsString(), base)
		assert.Equal(t, want[1], a["server.address"].AsString(), base)
		assert.Equal(t, want[2], fmt.Sprint(a["server.port"].AsInt64()), base)
	}
}
