package kefuotel_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefuotel"
	"github.com/kefu-go/kefu/kefutest"
)

const (
	sendSpan    = kefuotel.CallSpanPrefix + kefutest.PathSend
	sendAttempt = "POST " + kefutest.PathSend
	tokAttempt  = "POST " + kefutest.PathStableToken
)

// matrixRun is what one row of the fault matrix left behind.
type matrixRun struct {
	rec     *recorder
	secrets []string // every token the server issued, and the app secret
	wire    string   // every byte the client sent
	base    string   // the server's URL
}

// runRow runs row as kefutest.FaultCase says, with kefuotel's hooks on
// both the token source and the client.
func runRow(t *testing.T, row kefutest.FaultCase, p kefu.RetryPolicy) matrixRun {
	t.Helper()
	wire := listen(t)
	srv := kefutest.NewServer(kefutest.WithListener(wire))
	defer srv.Close()
	srv.Interact(kefutest.FaultUser, kefutest.Payment)
	rec := newRecorder(t, kefuotel.WithBaseURL(srv.URL))
	hooks := kefu.WithHooks(rec.tel.ClientHooks())
	ts := srv.TokenSource(kefu.WithRetry(p), hooks)
	c, err := kefu.NewClient(ts, kefu.WithBaseURL(srv.URL), kefu.WithRetry(p), hooks)
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	if !row.Cold {
		_, err = ts.Token(context.Background())
		require.NoError(t, err)
	}
	row.Setup(srv)
	timeout := 20 * time.Second
	if row.Deadline {
		timeout = kefutest.FaultDeadline
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, _ = c.Send(ctx, kefu.NewText(kefutest.FaultUser, "fault matrix: "+row.Name))
	srv.Close()
	if row.Cold && row.Deadline {
		// The send gave up waiting for its token, whose fetch runs on
		// until Close answers it: join the fetch, so its span has ended.
		_, err = ts.Token(context.Background())
		require.NoError(t, err)
	}
	return matrixRun{rec: rec, secrets: append(srv.IssuedTokens(), srv.AppSecret), wire: wire.sent(), base: srv.URL}
}

// TestFaultMatrix runs every row of kefutest's fault matrix under both
// policies and checks the spans and metrics it leaves: one call span with
// the row's result class, errcode, retries and delivery-unknown flag, one
// attempt span per attempt, counters that agree, and nowhere a token, the
// secret, the openid or a traceparent header.
func TestFaultMatrix(t *testing.T) {
	for _, row := range kefutest.FaultCases() {
		for _, retryUnknown := range []bool{false, true} {
			out := row.Outcome(retryUnknown)
			t.Run(fmt.Sprintf("%s/RetryUnknown=%v", row.Name, retryUnknown), func(t *testing.T) {
				run := runRow(t, row, kefutest.FaultPolicy(retryUnknown))
				calls := run.rec.named(sendSpan)
				require.Len(t, calls, 1, "one call span")
				call := calls[0]
				checkCallSpan(t, call, out)
				checkAttemptSpans(t, run, call, row, out)
				checkMatrixMetrics(t, run.rec, out)
				for _, s := range run.rec.recorded(t) {
					for _, secret := range run.secrets {
						require.NotContains(t, s, secret, "a token or the app secret was recorded")
					}
					require.NotContains(t, s, kefutest.FaultUser, "the openid was recorded without WithOpenID")
				}
				noTraceContext(t, run.wire)
			})
		}
	}
}

// attrs returns a span's attributes by key.
func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	out := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		out[kv.Key] = kv.Value
	}
	return out
}

func checkCallSpan(t *testing.T, call sdktrace.ReadOnlySpan, out kefutest.FaultOutcome) {
	t.Helper()
	a := attrs(call)
	assert.Equal(t, string(out.Class), a[kefuotel.AttrResult].AsString(), "result class")
	assert.Equal(t, "text", a[kefuotel.AttrMsgType].AsString())
	assert.Equal(t, kefutest.PathSend, a["url.template"].AsString())
	assert.Equal(t, int64(max(out.Attempts-1, 0)), a[kefuotel.AttrRetryCount].AsInt64(), "retries")
	assert.Equal(t, out.Class == kefu.ResultUnknown, a[kefuotel.AttrDeliveryUnknown].AsBool(), "delivery unknown")
	code, ok := a[kefuotel.AttrErrCode]
	assert.Equal(t, out.ErrCode != 0, ok, "an errcode exactly when refused")
	assert.Equal(t, int64(out.ErrCode), code.AsInt64())
	if _, ok := a[kefuotel.AttrRequestID]; ok {
		assert.NotZero(t, out.ErrCode, "a rid comes with an errcode")
	}
	if out.Class == kefu.ResultOK {
		assert.Equal(t, codes.Unset, call.Status().Code)
	} else {
		assert.Equal(t, codes.Error, call.Status().Code, "a failed call's span is an error")
		assert.Equal(t, string(out.Class), a["error.type"].AsString())
	}
	_, openID := a[kefuotel.AttrOpenID]
	assert.False(t, openID)
}

func checkAttemptSpans(t *testing.T, run matrixRun, call sdktrace.ReadOnlySpan, row kefutest.FaultCase, out kefutest.FaultOutcome) {
	t.Helper()
	attempts := run.rec.childrenOf(call, sendAttempt)
	require.Len(t, attempts, out.Attempts, "an attempt span per attempt, children of the call's")
	for i, s := range attempts {
		a := attrs(s)
		assert.Equal(t, "POST", a["http.request.method"].AsString())
		assert.Equal(t, run.base+kefutest.PathSend, a["url.full"].AsString(), "url.full is the base and the path: no query")
		assert.Equal(t, "127.0.0.1", a["server.address"].AsString())
		resend, ok := a["http.request.resend_count"]
		assert.Equal(t, i > 0, ok)
		assert.Equal(t, int64(i), resend.AsInt64())
		assert.Equal(t, i < len(attempts)-1, a[kefuotel.AttrRetry].AsBool(), "every attempt but the last says it is retried")
		_, failed := a["error.type"]
		assert.Equal(t, failed, s.Status().Code == codes.Error, "an attempt's span is an error exactly when it failed")
	}
	if len(attempts) > 0 {
		last := attrs(attempts[len(attempts)-1])
		if out.Class == kefu.ResultRefused {
			assert.Equal(t, int64(out.ErrCode), last[kefuotel.AttrErrCode].AsInt64(), "the last attempt has the call's errcode")
		}
		if out.Class == kefu.ResultOK {
			assert.Equal(t, int64(200), last["http.response.status_code"].AsInt64())
		}
	}
	// The token fetches the call made are its children too; the one
	// before a warm row's call is not.
	warm := 0
	if !row.Cold {
		warm = 1
	}
	assert.Len(t, run.rec.named(tokAttempt), out.TokenCalls, "a token attempt span per token call")
	assert.Len(t, run.rec.childrenOf(call, tokAttempt), out.TokenCalls-warm, "the call's token attempts are its children")
}

func checkMatrixMetrics(t *testing.T, rec *recorder, out kefutest.FaultOutcome) {
	t.Helper()
	rm := rec.collect(t)
	path := attribute.String("url.template", kefutest.PathSend)
	result := kefuotel.AttrResult.String(string(out.Class))
	want := []attribute.KeyValue{path, result, kefuotel.AttrMsgType.String("text")}
	if out.ErrCode != 0 {
		want = append(want, kefuotel.AttrErrCode.Int(out.ErrCode))
	}
	assert.Equal(t, int64(1), total(rm, kefuotel.MetricCalls, want...), "the call counted by path, class and errcode")
	assert.Equal(t, int64(1), total(rm, kefuotel.MetricCalls), "one call in all")
	assert.Equal(t, int64(1), total(rm, kefuotel.MetricCallDuration, path, result))
	assert.Equal(t, int64(out.Attempts), total(rm, kefuotel.MetricAttempts, path), "attempts counted")
	assert.Equal(t, int64(out.Attempts), total(rm, kefuotel.MetricAttemptDuration, path))
	tokenPath := attribute.String("url.template", kefutest.PathStableToken)
	assert.Equal(t, int64(out.TokenCalls), total(rm, kefuotel.MetricAttempts, tokenPath), "token attempts counted")
	if out.TokenCalls > 0 {
		assert.Positive(t, total(rm, kefuotel.MetricTokenRefreshes), "token fetches counted")
	}
	if out.ErrCode == 40001 || (out.Class == kefu.ResultOK && out.TokenCalls == 3) {
		assert.Positive(t, total(rm, kefuotel.MetricTokenRefreshes, kefuotel.AttrTokenReason.String(string(kefu.TokenRejected))),
			"a rejected token's refresh counted")
	}
	assert.Zero(t, total(rm, kefuotel.MetricWindowRefusals))
}
