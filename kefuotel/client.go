package kefuotel

import (
	"context"
	"slices"
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

// clientCaches are what calls and attempts with the same key share.
type clientCaches struct {
	callNames       *cache[string, string]
	attemptStarts   *cache[attemptStartKey, spanStart]
	callMetrics     *cache[callMetricKey, measures]
	attemptMetrics  *cache[attemptMetricKey, measures]
	bulkMetrics     *cache[bulkMetricKey, measures]
	callbackMetrics *cache[callbackMetricKey, measures]
}

func (t *Telemetry) newClientCaches() clientCaches {
	return clientCaches{
		callNames:       newCache(func(path string) string { return CallSpanPrefix + path }),
		attemptStarts:   newCache(t.attemptStart),
		callMetrics:     newCache(callMeasures),
		attemptMetrics:  newCache(attemptMeasures),
		bulkMetrics:     newCache(bulkMeasures),
		callbackMetrics: newCache(callbackMeasures),
	}
}

// spanStart is a span's name and start options.
type spanStart struct {
	name string
	opts []trace.SpanStartOption
}

// measures are a measurement's options: its attribute set.
type measures struct {
	add []metric.AddOption
	rec []metric.RecordOption
}

func newMeasures(counted, timed attribute.Set) measures {
	return measures{add: []metric.AddOption{metric.WithAttributeSet(counted)}, rec: []metric.RecordOption{metric.WithAttributeSet(timed)}}
}

// callStart is the start of every call's span: its attributes are all set
// at its end, in one go (each SetAttributes after the start copies the
// span's attributes once more).
var callStart = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}

type attemptStartKey struct{ method, path string }

func (t *Telemetry) attemptStart(k attemptStartKey) spanStart {
	// The attributes the HTTP conventions ask for when the span starts;
	// url.template is on the call's span and the metrics.
	attrs := []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(k.method),
		semconv.URLFull(t.base + k.path), // the hooks never see the query, which holds the token
	}
	attrs = append(attrs, t.server...)
	return spanStart{name: k.method + " " + k.path, opts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...)}}
}

type callMetricKey struct {
	path    string
	msgType kefu.MsgType
	class   kefu.ResultClass
	errCode int
}

func callMeasures(k callMetricKey) measures {
	path, result := semconv.URLTemplate(k.path), AttrResult.String(string(k.class))
	counted := []attribute.KeyValue{path, result}
	if k.errCode != 0 {
		counted = append(counted, AttrErrCode.Int(k.errCode))
	}
	if k.msgType != "" {
		counted = append(counted, AttrMsgType.String(string(k.msgType)))
	}
	return newMeasures(attribute.NewSet(counted...), attribute.NewSet(path, result))
}

type attemptMetricKey struct {
	path   string
	class  kefu.ResultClass
	retry  bool
	status int
}

func attemptMeasures(k attemptMetricKey) measures {
	path, result := semconv.URLTemplate(k.path), AttrResult.String(string(k.class))
	counted := []attribute.KeyValue{path, result, AttrRetry.Bool(k.retry)}
	if k.status != 0 {
		counted = append(counted, semconv.HTTPResponseStatusCode(k.status))
	}
	return newMeasures(attribute.NewSet(counted...), attribute.NewSet(path, result))
}

// callCtx is a call's context: the span's, and what the call's attempts
// and its end need.
type callCtx struct {
	context.Context
	t    *Telemetry
	span trace.Span
	info kefu.CallInfo
	// sent counts the attempts at the call's path: AttemptInfo.N counts
	// those the retry policy limits, not the one after a token refresh,
	// but http.request.resend_count counts every one.
	sent atomic.Int32
}

// callKey is the context key of a callCtx.
type callKey struct{}

func (c *callCtx) Value(key any) any {
	if key == (callKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// call starts a call's span.
func (t *Telemetry) call(ctx context.Context, c kefu.CallInfo) (context.Context, func(kefu.CallEnd)) {
	ctx, span := t.tracer.Start(ctx, t.caches.callNames.get(c.Path), callStart...)
	cc := &callCtx{Context: ctx, t: t, span: span, info: c}
	return cc, cc.end
}

// end ends a call's span and records its metrics.
func (c *callCtx) end(e kefu.CallEnd) {
	if c.span.IsRecording() {
		c.span.SetAttributes(c.endAttrs(e)...)
		if e.Class != kefu.ResultOK {
			c.span.SetStatus(codes.Error, describe(e.Err, e.Class))
		}
	}
	c.span.End()
	m := c.t.caches.callMetrics.get(callMetricKey{c.info.Path, c.info.MsgType, e.Class, e.ErrCode})
	c.t.inst.calls.Add(noSpan, 1, m.add...)
	c.t.inst.callTime.Record(c, e.Duration.Seconds(), m.rec...)
}

// endAttrs are the attributes of a call's span, in a slice of their exact
// size (the SDK copies them).
func (c *callCtx) endAttrs(e kefu.CallEnd) []attribute.KeyValue {
	n := 4
	for _, set := range [...]bool{c.info.MsgType != "", c.info.OpenID != "", e.ErrCode != 0, e.RequestID != "", e.Class != kefu.ResultOK} {
		if set {
			n++
		}
	}
	attrs := make([]attribute.KeyValue, 0, n)
	attrs = append(attrs, semconv.URLTemplate(c.info.Path), AttrResult.String(string(e.Class)),
		AttrRetryCount.Int(max(e.Attempts-1, 0)), AttrDeliveryUnknown.Bool(e.Class == kefu.ResultUnknown))
	if c.info.MsgType != "" {
		attrs = append(attrs, AttrMsgType.String(string(c.info.MsgType)))
	}
	if c.info.OpenID != "" {
		attrs = append(attrs, AttrOpenID.String(c.info.OpenID))
	}
	if e.ErrCode != 0 {
		attrs = append(attrs, AttrErrCode.Int(e.ErrCode))
	}
	if e.RequestID != "" {
		attrs = append(attrs, AttrRequestID.String(e.RequestID))
	}
	if e.Class != kefu.ResultOK {
		attrs = append(attrs, semconv.ErrorTypeKey.String(string(e.Class)))
	}
	return attrs
}

// noSpan is the context the counters are measured in: the SDK's default
// exemplar filter (trace-based) attaches a trace only to the measurements
// made in a sampled span's context, and a count's exemplar tells nothing
// its duration's does not, at a cost on every call.
var noSpan = context.Background()

// describe is a span status's description: the error (kefu's errors hold
// no token or secret), or the class when there is none.
func describe(err error, class kefu.ResultClass) string {
	if err != nil {
		return err.Error()
	}
	return string(class)
}

// resends returns how many attempts a call made at a's path before a: the
// call's count, or a.N-1 outside a call (a token source's own fetch).
func resends(ctx context.Context, a kefu.AttemptInfo) int {
	if cc, ok := ctx.Value(callKey{}).(*callCtx); ok && cc.info.Path == a.Path {
		return int(cc.sent.Add(1)) - 1
	}
	return a.N - 1
}

// attempt starts an HTTP attempt's span.
func (t *Telemetry) attempt(ctx context.Context, a kefu.AttemptInfo) (context.Context, func(kefu.AttemptEnd)) {
	st := t.caches.attemptStarts.get(attemptStartKey{a.Method, a.Path})
	opts := st.opts
	if n := resends(ctx, a); n > 0 {
		opts = append(slices.Clip(opts), trace.WithAttributes(semconv.HTTPRequestResendCount(n)))
	}
	ctx, span := t.tracer.Start(ctx, st.name, opts...)
	return ctx, func(e kefu.AttemptEnd) { t.attemptEnd(ctx, span, a.Path, e) }
}

// attemptEnd ends an attempt's span and records its metrics.
func (t *Telemetry) attemptEnd(ctx context.Context, span trace.Span, path string, e kefu.AttemptEnd) {
	if span.IsRecording() {
		span.SetAttributes(attemptEndAttrs(e)...)
		if e.Class != kefu.ResultOK {
			span.SetStatus(codes.Error, string(e.Class))
		}
	}
	span.End()
	m := t.caches.attemptMetrics.get(attemptMetricKey{path, e.Class, e.Retry, e.Status})
	t.inst.attempts.Add(noSpan, 1, m.add...)
	t.inst.attemptTime.Record(ctx, e.Duration.Seconds(), m.rec...)
}

// attemptEndAttrs are the attributes an attempt's span gets at its end:
// as few as the conventions allow, for the span's cost (a successful
// attempt gets only its status), in a slice of their exact size.
func attemptEndAttrs(e kefu.AttemptEnd) []attribute.KeyValue {
	n := 0
	for _, set := range [...]bool{e.Status != 0, e.ErrCode != 0, e.Retry, e.Retry, e.Class != kefu.ResultOK} {
		if set {
			n++
		}
	}
	attrs := make([]attribute.KeyValue, 0, n)
	if e.Status != 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(e.Status))
	}
	if e.ErrCode != 0 {
		attrs = append(attrs, AttrErrCode.Int(e.ErrCode))
	}
	if e.Retry {
		attrs = append(attrs, AttrRetry.Bool(true), AttrBackoff.Float64(e.Backoff.Seconds()))
	}
	if e.Class != kefu.ResultOK {
		attrs = append(attrs, semconv.ErrorTypeKey.String(string(e.Class)))
	}
	return attrs
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
	set := metric.WithAttributes(reason, result)
	t.inst.tokens.Add(noSpan, 1, set)
	t.inst.tokenTime.Record(ctx, e.Duration.Seconds(), set)
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
	t.inst.windows.Add(noSpan, 1, metric.WithAttributes(code))
}

// bulk records one result of SendAll.
func (t *Telemetry) bulk(_ context.Context, e kefu.BulkEvent) {
	m := t.caches.bulkMetrics.get(bulkMetricKey{e.Status, e.ErrCode})
	t.inst.bulk.Add(noSpan, 1, m.add...)
}

type bulkMetricKey struct {
	status  kefu.SendStatus
	errCode int
}

func bulkMeasures(k bulkMetricKey) measures {
	attrs := []attribute.KeyValue{AttrBulkStatus.String(k.status.String())}
	if k.errCode != 0 {
		attrs = append(attrs, AttrErrCode.Int(k.errCode))
	}
	set := attribute.NewSet(attrs...)
	return newMeasures(set, set)
}
