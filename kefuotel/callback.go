package kefuotel

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
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

// request starts a callback's span.
func (t *Telemetry) request(ctx context.Context) (context.Context, func(callback.RequestEnd)) {
	ctx, span := t.tracer.Start(ctx, CallbackSpan, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(semconv.HTTPRequestMethodKey.String("POST")))
	return ctx, func(e callback.RequestEnd) { t.requestEnd(ctx, span, e) }
}

// requestEnd ends a callback's span and records its metrics.
func (t *Telemetry) requestEnd(ctx context.Context, span trace.Span, e callback.RequestEnd) {
	kind := make([]attribute.KeyValue, 0, 3)
	kind = append(kind, AttrOutcome.String(string(e.Outcome)))
	if e.MsgType != "" {
		kind = append(kind, AttrMsgType.String(e.MsgType))
	}
	if e.Event != "" {
		kind = append(kind, AttrEvent.String(e.Event))
	}
	if span.IsRecording() {
		span.SetAttributes(kind...)
		span.SetAttributes(
			semconv.HTTPResponseStatusCode(e.Status),
			AttrDuplicate.Bool(e.Duplicate),
			AttrSignatureFailure.Bool(e.SignatureFailure),
			AttrEncrypted.Bool(e.Encrypted))
		if e.HandlerTime > 0 {
			span.SetAttributes(AttrHandlerDuration.Float64(e.HandlerTime.Seconds()))
		}
		if e.OpenID != "" {
			span.SetAttributes(AttrOpenID.String(e.OpenID))
		}
		// As the HTTP conventions say for servers: a 4xx (a refused
		// request) is the client's error, not the span's. The error
		// itself stays out: a HandlerFunc's may quote the message.
		if e.Status >= 500 {
			span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(e.Status)))
			span.SetStatus(codes.Error, string(e.Outcome))
		}
	}
	span.End()

	set := metric.WithAttributes(kind...)
	t.inst.callbacks.Add(noSpan, 1, set)
	if e.HandlerTime > 0 {
		t.inst.handlerTime.Record(ctx, e.HandlerTime.Seconds(), set)
	}
}
