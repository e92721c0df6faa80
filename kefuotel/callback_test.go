package kefuotel_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/kefu-go/kefu/callback"
	"github.com/kefu-go/kefu/kefuotel"
	"github.com/kefu-go/kefu/kefutest"
)

const callbackToken = "kefuotelToken42"

// lastPush keeps the latest request the handler got, to replay it as
// WeChat's retry.
type lastPush struct {
	mu    sync.Mutex
	query string
	body  []byte
}

func (l *lastPush) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		l.mu.Lock()
		l.query, l.body = r.URL.RawQuery, body
		l.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	})
}

func (l *lastPush) replay(t *testing.T, base string) int {
	t.Helper()
	l.mu.Lock()
	query, body := l.query, l.body
	l.mu.Unlock()
	return post(t, base+"?"+query, body)
}

func post(t *testing.T, target string, body []byte) int {
	t.Helper()
	resp, err := http.Post(target, "text/xml", bytes.NewReader(body))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestCallbackSpans: a server span per POST, the HandlerFunc's parent,
// with the message's type, the outcome, duplicates and signature failures;
// counters by type and outcome and the handler's duration; no content and
// no openid without WithOpenID.
func TestCallbackSpans(t *testing.T) {
	t.Parallel()
	withOpenIDs(t, func(t *testing.T, withOpenID bool, rec *recorder) {
		var parents sync.Map // message content -> the span the HandlerFunc ran in
		h, err := callback.NewHandler(callback.Config{Token: callbackToken, Hooks: rec.tel.CallbackHooks()},
			func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
				parents.Store(m.Content+m.Event, trace.SpanContextFromContext(ctx))
				if m.Content == "fail" {
					return nil, errors.New("handler failed on secret content")
				}
				return callback.ReplyText("ok"), nil
			})
		require.NoError(t, err)
		var last lastPush
		hs := httptest.NewServer(last.wrap(h))
		defer hs.Close()
		defer func() { assert.NoError(t, h.Close(context.Background())) }()
		defer hs.Client().CloseIdleConnections()
		defer http.DefaultClient.CloseIdleConnections()
		srv := kefutest.NewServer(kefutest.WithCallback(hs.URL, callbackToken, "", kefutest.ModePlain))
		defer srv.Close()

		_, err = srv.Say("o-cb", "hello there")
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, last.replay(t, hs.URL), "WeChat's retry")
		_, err = srv.Say("o-cb", "fail")
		require.NoError(t, err)
		_, err = srv.PushFollow("o-cb", "")
		require.NoError(t, err)
		bad := url.Values{"signature": {"0000"}, "timestamp": {"1"}, "nonce": {"2"}}
		assert.Equal(t, http.StatusForbidden, post(t, hs.URL+"?"+bad.Encode(), []byte("<xml></xml>")))

		spans := rec.named(kefuotel.CallbackSpan)
		byOutcome := map[string][]map[string]string{}
		for _, s := range spans {
			assert.Equal(t, trace.SpanKindServer, s.SpanKind())
			a := attrs(s)
			o := a[kefuotel.AttrOutcome].AsString()
			byOutcome[o] = append(byOutcome[o], map[string]string{
				"msgtype": a[kefuotel.AttrMsgType].AsString(), "event": a[kefuotel.AttrEvent].AsString(),
				"status": a["http.response.status_code"].String(), "duplicate": a[kefuotel.AttrDuplicate].String(),
				"sigfail": a[kefuotel.AttrSignatureFailure].String(), "code": s.Status().Code.String(),
				"openid": a[kefuotel.AttrOpenID].AsString(), "handler": fmt.Sprint(a[kefuotel.AttrHandlerDuration].AsFloat64() > 0),
			})
		}
		openID := ""
		if withOpenID {
			openID = "o-cb"
		}
		assert.Equal(t, []map[string]string{
			{"msgtype": "text", "event": "", "status": "200", "duplicate": "false", "sigfail": "false", "code": "Unset", "openid": openID, "handler": "true"},
			{"msgtype": "event", "event": "subscribe", "status": "200", "duplicate": "false", "sigfail": "false", "code": "Unset", "openid": openID, "handler": "true"},
		}, byOutcome["replied"])
		assert.Equal(t, []map[string]string{
			{"msgtype": "text", "event": "", "status": "200", "duplicate": "true", "sigfail": "false", "code": "Unset", "openid": openID, "handler": "false"},
		}, byOutcome["duplicate"])
		require.NotEmpty(t, byOutcome["failed"])
		assert.Equal(t, map[string]string{"msgtype": "text", "event": "", "status": "500", "duplicate": "false", "sigfail": "false",
			"code": "Error", "openid": openID, "handler": "true"}, byOutcome["failed"][0])
		assert.Equal(t, []map[string]string{
			{"msgtype": "", "event": "", "status": "403", "duplicate": "false", "sigfail": "true", "code": "Unset", "openid": "", "handler": "false"},
		}, byOutcome["refused"], "a 4xx leaves the server span's status unset")

		for _, key := range []string{"hello there", "fail", "subscribe"} {
			sc, ok := parents.Load(key)
			if assert.True(t, ok, key) {
				assert.True(t, sc.(trace.SpanContext).IsValid(), "%s: the HandlerFunc runs in the callback's span", key)
			}
		}

		rm := rec.collect(t)
		text := kefuotel.AttrMsgType.String("text")
		assert.Equal(t, int64(1), total(rm, kefuotel.MetricCallbacks, text, kefuotel.AttrOutcome.String("replied")))
		assert.Equal(t, int64(1), total(rm, kefuotel.MetricCallbacks, text, kefuotel.AttrOutcome.String("duplicate")))
		assert.Equal(t, int64(len(byOutcome["failed"])), total(rm, kefuotel.MetricCallbacks, text, kefuotel.AttrOutcome.String("failed")))
		assert.Equal(t, int64(1), total(rm, kefuotel.MetricCallbacks, kefuotel.AttrMsgType.String("event"), kefuotel.AttrEvent.String("subscribe")))
		assert.Equal(t, int64(1), total(rm, kefuotel.MetricCallbacks, kefuotel.AttrOutcome.String("refused")))
		assert.Equal(t, int64(len(spans)), total(rm, kefuotel.MetricCallbacks))
		assert.Equal(t, int64(2+len(byOutcome["failed"])), total(rm, kefuotel.MetricCallbackDuration), "the handler's runs timed")

		for _, s := range rec.recorded(t) {
			assert.NotContains(t, s, "hello there", "no message content")
			assert.NotContains(t, s, "secret content", "no handler error")
			assert.NotContains(t, s, callbackToken)
			if !withOpenID {
				assert.NotContains(t, s, "o-cb")
			}
		}
	})
}
