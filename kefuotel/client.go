package kefuotel

import (
	"context"
	"strconv"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kefu-go/kefu"
)

// ClientHooks returns the hooks for kefu.WithHooks: a client span per call
// with a child span per HTTP attempt, span events for token fetches and
// window refusals, and the kefu.client.* metrics. Give them to the token
// source too (kefu.New does; with NewTokenSource and NewClient pass
// kefu.WithHooks to both), or the token endpoint's attempts and the token
// metrics are missing.
func (t *Telemetry) ClientHooks() kefu.Hooks {
	return kefu.Hooks{
		Call:          t.call,
		Attempt:       t.attempt,
		Token:         t.token,
		Window:        t.window,
		Bulk:          t.bulk,
		IncludeOpenID: t.includeOpenID,
	}
}

// call starts a call's span.
func (t *Telemetry) call(ctx context.Context, c kefu.CallInfo) (context.Context, func(kefu.CallEnd)) {
	attrs := make([]attribute.KeyValue, 0, 3)
	attrs = append(attrs, semconv.URLTemplate(c.Path))
	if c.MsgType != "" {
		attrs = append(attrs, AttrMsgType.String(string(c.MsgType)))
	}
	if c.OpenID != "" {
		attrs = append(attrs, AttrOpenID.String(c.OpenID))
	}
	ctx, span := t.tracer.Start(ctx, CallSpanPrefix+c.Path, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	ctx = context.WithValue(ctx, callKey{}, &callState{path: c.Path})
	return ctx, func(e kefu.CallEnd) { t.callEnd(ctx, span, c, e) }
}

// callKey is the context key of a call's callState.
type callKey struct{}

// callState counts the attempts of a call at its path: AttemptInfo.N
// counts those the retry policy limits, not the one after a token
// refresh, but http.request.resend_count counts every one.
type callState struct {
	path string
	sent atomic.Int32
}

// resends returns how many attempts a call made at a's path before a: the
// call's count, or a.N-1 outside a call (a token source's own fetch).
func resends(ctx context.Context, a kefu.AttemptInfo) int {
	if st, ok := ctx.Value(callKey{}).(*callState); ok && st.path == a.Path {
		return int(st.sent.Add(1)) - 1
	}
	return a.N - 1
}

// callEnd ends a call's span and records its metrics.
func (t *Telemetry) callEnd(ctx context.Context, span trace.Span, c kefu.CallInfo, e kefu.CallEnd) {
	result := AttrResult.String(string(e.Class))
	if span.IsRecording() {
		span.SetAttributes(result, AttrRetryCount.Int(max(e.Attempts-1, 0)), AttrDeliveryUnknown.Bool(e.Class == kefu.ResultUnknown))
		if e.ErrCode != 0 {
			span.SetAttributes(AttrErrCode.Int(e.ErrCode))
		}
		if e.RequestID != "" {
			span.SetAttributes(AttrRequestID.String(e.RequestID))
		}
		if e.Class != kefu.ResultOK {
			span.SetAttributes(semconv.ErrorTypeKey.String(string(e.Class)))
			span.SetStatus(codes.Error, describe(e.Err, e.Class))
		}
	}
	span.End()

	path := semconv.URLTemplate(c.Path)
	counted := make([]attribute.KeyValue, 0, 4)
	counted = append(counted, path, result)
	if e.ErrCode != 0 {
		counted = append(counted, AttrErrCode.Int(e.ErrCode))
	}
	if c.MsgType != "" {
		counted = append(counted, AttrMsgType.String(string(c.MsgType)))
	}
	t.inst.calls.Add(ctx, 1, metric.WithAttributes(counted...))
	t.inst.callTime.Record(ctx, e.Duration.Seconds(), metric.WithAttributes(path, result))
}

// describe is a span status's description: the error (kefu's errors hold
// no token or secret), or the class when there is none.
func describe(err error, class kefu.ResultClass) string {
	if err != nil {
		return err.Error()
	}
	return string(class)
}

// attempt starts an HTTP attempt's span.
func (t *Telemetry) attempt(ctx context.Context, a kefu.AttemptInfo) (context.Context, func(kefu.AttemptEnd)) {
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(attrs,
		semconv.HTTPRequestMethodKey.String(a.Method),
		semconv.URLFull(t.base+a.Path), // the hooks never see the query, which holds the token
		semconv.URLTemplate(a.Path))
	attrs = append(attrs, t.server...)
	if n := resends(ctx, a); n > 0 {
		attrs = append(attrs, semconv.HTTPRequestResendCount(n))
	}
	ctx, span := t.tracer.Start(ctx, a.Method+" "+a.Path, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return ctx, func(e kefu.AttemptEnd) { t.attemptEnd(ctx, span, a, e) }
}

// attemptEnd ends an attempt's span and records its metrics.
func (t *Telemetry) attemptEnd(ctx context.Context, span trace.Span, a kefu.AttemptInfo, e kefu.AttemptEnd) {
	result := AttrResult.String(string(e.Class))
	retry := AttrRetry.Bool(e.Retry)
	status := semconv.HTTPResponseStatusCode(e.Status)
	if span.IsRecording() {
		span.SetAttributes(result, retry)
		if e.Status != 0 {
			span.SetAttributes(status)
		}
		if e.ErrCode != 0 {
			span.SetAttributes(AttrErrCode.Int(e.ErrCode))
		}
		if e.Retry {
			span.SetAttributes(AttrBackoff.Float64(e.Backoff.Seconds()))
		}
		if e.Class != kefu.ResultOK {
			span.SetAttributes(semconv.ErrorTypeKey.String(errorType(e)))
			span.SetStatus(codes.Error, string(e.Class))
		}
	}
	span.End()

	path := semconv.URLTemplate(a.Path)
	counted := make([]attribute.KeyValue, 0, 4)
	counted = append(counted, path, result, retry)
	if e.Status != 0 {
		counted = append(counted, status)
	}
	t.inst.attempts.Add(ctx, 1, metric.WithAttributes(counted...))
	t.inst.attemptTime.Record(ctx, e.Duration.Seconds(), metric.WithAttributes(path, result))
}

// errorType is an attempt's error.type: the HTTP status from 400, else its
// class.
func errorType(e kefu.AttemptEnd) string {
	if e.Status >= 400 {
		return strconv.Itoa(e.Status)
	}
	return string(e.Class)
}

// token records a token fetch, as an event of the span in ctx too.
func (t *Telemetry) token(ctx context.Context, e kefu.TokenEvent) {
	reason := AttrTokenReason.String(string(e.Reason))
	result := AttrResult.String("ok")
	if e.Err != nil {
		result = AttrResult.String("error")
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent(EventTokenRefresh, trace.WithAttributes(reason, result))
	}
	t.inst.tokens.Add(ctx, 1, metric.WithAttributes(reason, result))
	t.inst.tokenTime.Record(ctx, e.Duration.Seconds(), metric.WithAttributes(reason, result))
}

// window records a local window refusal, as an event of the span in ctx
// too.
func (t *Telemetry) window(ctx context.Context, e kefu.WindowEvent) {
	code := AttrErrCode.Int(e.ErrCode)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		attrs := []attribute.KeyValue{code}
		if e.OpenID != "" {
			attrs = append(attrs, AttrOpenID.String(e.OpenID))
		}
		span.AddEvent(EventWindowRefused, trace.WithAttributes(attrs...))
	}
	t.inst.windows.Add(ctx, 1, metric.WithAttributes(code))
}

// bulk records one result of SendAll.
func (t *Telemetry) bulk(ctx context.Context, e kefu.BulkEvent) {
	attrs := make([]attribute.KeyValue, 0, 2)
	attrs = append(attrs, AttrBulkStatus.String(e.Status.String()))
	if e.ErrCode != 0 {
		attrs = append(attrs, AttrErrCode.Int(e.ErrCode))
	}
	t.inst.bulk.Add(ctx, 1, metric.WithAttributes(attrs...))
}
