package kefuotel

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kefu-go/kefu/callback"
)

// CallbackHooks returns the hooks for callback.Config.Hooks: a server span
// per POST (a child of the span in the request's context, if any; WeChat
// sends no trace context) that is the HandlerFunc's parent, and the
// kefu.callback.* metrics.
func (t *Telemetry) CallbackHooks() *callback.Hooks {
	return &callback.Hooks{Request: t.request, IncludeOpenID: t.includeOpenID}
}

// callbackStart is the start of every callback's span.
var callbackStart = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer),
	trace.WithAttributes(semconv.HTTPRequestMethodKey.String("POST"))}

// request starts a callback's span.
func (t *Telemetry) request(ctx context.Context) (context.Context, func(callback.RequestEnd)) {
	ctx, span := t.tracer.Start(ctx, CallbackSpan, callbackStart...)
	return ctx, func(e callback.RequestEnd) { t.requestEnd(ctx, span, e) }
}

// requestEnd ends a callback's span and records its metrics.
func (t *Telemetry) requestEnd(ctx context.Context, span trace.Span, e callback.RequestEnd) {
	if span.IsRecording() {
		span.SetAttributes(requestEndAttrs(e)...)
		// As the HTTP conventions say for servers: a 4xx (a refused
		// request) is the client's error, not the span's. The error
		// itself stays out: a HandlerFunc's may quote the message.
		if e.Status >= 500 {
			span.SetStatus(codes.Error, string(e.Outcome))
		}
	}
	span.End()

	m := t.caches.callbackMetrics.get(callbackMetricKey{e.Outcome, e.MsgType, e.Event})
	t.inst.callbacks.Add(noSpan, 1, m.add...)
	if e.HandlerTime > 0 {
		t.inst.handlerTime.Record(ctx, e.HandlerTime.Seconds(), m.rec...)
	}
}

// requestEndAttrs are the attributes a callback's span gets at its end, in
// one slice (each SetAttributes copies the span's attributes once more).
func requestEndAttrs(e callback.RequestEnd) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 10)
	attrs = append(attrs, callbackKind(e.Outcome, e.MsgType, e.Event)...)
	attrs = append(attrs,
		semconv.HTTPResponseStatusCode(e.Status),
		AttrDuplicate.Bool(e.Duplicate),
		AttrSignatureFailure.Bool(e.SignatureFailure),
		AttrEncrypted.Bool(e.Encrypted))
	if e.HandlerTime > 0 {
		attrs = append(attrs, AttrHandlerDuration.Float64(e.HandlerTime.Seconds()))
	}
	if e.OpenID != "" {
		attrs = append(attrs, AttrOpenID.String(e.OpenID))
	}
	if e.Status >= 500 {
		attrs = append(attrs, semconv.ErrorTypeKey.String(strconv.Itoa(e.Status)))
	}
	return attrs
}

// callbackKind are the attributes that sort a callback, on its span and
// its metrics.
func callbackKind(outcome callback.Outcome, msgType, event string) []attribute.KeyValue {
	kind := make([]attribute.KeyValue, 0, 3)
	kind = append(kind, AttrOutcome.String(string(outcome)))
	if msgType != "" {
		kind = append(kind, AttrMsgType.String(msgType))
	}
	if event != "" {
		kind = append(kind, AttrEvent.String(event))
	}
	return kind
}

type callbackMetricKey struct {
	outcome        callback.Outcome
	msgType, event string
}

func callbackMeasures(k callbackMetricKey) measures {
	set := attribute.NewSet(callbackKind(k.outcome, k.msgType, k.event)...)
	return newMeasures(set, set)
}
