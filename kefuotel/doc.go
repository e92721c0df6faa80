// Package kefuotel turns kefu's hooks into OpenTelemetry traces and
// metrics: a client span per call to WeChat with a child span per HTTP
// attempt, a server span per callback, and counters and histograms of
// calls, attempts, token fetches, window refusals, SendAll results and
// callbacks. It lives in a module of its own so that kefu's core stays
// free of OpenTelemetry.
//
//	tel, err := kefuotel.New() // the global providers; or WithTracerProvider, WithMeterProvider
//	client, err := kefu.New(appID, secret, kefu.WithHooks(tel.ClientHooks()))
//	handler, err := callback.NewHandler(callback.Config{Token: token, Hooks: tel.CallbackHooks()}, fn)
//
// kefu's transport is instrumented from inside, through the hooks: it is
// never wrapped in otelhttp, and nothing injects trace context (no
// traceparent header) into the requests to WeChat. The hooks never see an
// access token, the app secret or a message's content, and neither do the
// spans and metrics: url.full is the base URL (WithBaseURL) and the path,
// without the query that carries the token. The user's openid goes on
// spans only with WithOpenID, and never on a metric.
//
// # Spans
//
//	name                     kind    attributes
//	"kefu " + path           client  url.template, kefu.result, kefu.retry.count, kefu.delivery_unknown,
//	 (e.g. "kefu /cgi-bin/           wechat.msgtype (sends), wechat.openid (WithOpenID), wechat.errcode
//	 message/custom/send")           and wechat.rid (refused), error.type (failed: the result class)
//	"POST /cgi-bin/..."      client  a child of the call's, started with http.request.method, url.full,
//	 (one per HTTP attempt,          server.address, server.port, http.request.resend_count (after the
//	 token endpoints too)            first); at the end http.response.status_code (answered),
//	                                 wechat.errcode, kefu.retry and kefu.retry.backoff (s) when another
//	                                 attempt follows, error.type (failed: the result class)
//	"kefu callback"          server  http.request.method; at the end http.response.status_code,
//	                                 kefu.callback.outcome, wechat.msgtype, wechat.event,
//	                                 kefu.callback.duplicate, kefu.callback.signature_failure,
//	                                 kefu.callback.encrypted, kefu.callback.handler.duration (s),
//	                                 wechat.openid (WithOpenID), error.type (5xx)
//
// A call's attributes are all set when it ends, in one go (each later
// SetAttributes copies a span's attributes again); an attempt starts with
// those the HTTP conventions want samplers to see and gets as few as it
// can at its end: a span's cost is most of kefuotel's.
//
// A call's span status is Error unless its result class (kefu.ResultClass)
// is ok, with the error (which holds no token) as its description; an
// attempt's likewise, with its class. A callback's is Error for a 5xx answer only: a
// refused request (4xx, a bad signature among them) is the caller's error,
// as the HTTP conventions say for servers. Span events on the span in the
// context: kefu.token.refresh (kefu.token.reason, kefu.result ok or error)
// for each token fetch, kefu.window.refused (wechat.errcode, wechat.openid
// with WithOpenID) for each send the window tracker refused locally.
//
// # Metrics
//
//	name                             instrument         unit       attributes
//	kefu.client.calls                counter            {call}     url.template, kefu.result, wechat.errcode (refused), wechat.msgtype (sends)
//	kefu.client.call.duration        histogram          s          url.template, kefu.result
//	kefu.client.attempts             counter            {attempt}  url.template, kefu.result, kefu.retry, http.response.status_code (answered)
//	kefu.client.attempt.duration     histogram          s          url.template, kefu.result
//	kefu.client.token.refreshes      counter            {refresh}  kefu.token.reason (cold, expiring, rejected, force), kefu.result (ok, error)
//	kefu.client.token.duration       histogram          s          kefu.token.reason, kefu.result
//	kefu.client.window.refusals      counter            {refusal}  wechat.errcode (45015, 45047)
//	kefu.client.bulk.results         counter            {result}   kefu.bulk.status, wechat.errcode (failed)
//	kefu.callback.requests           counter            {request}  kefu.callback.outcome, wechat.msgtype, wechat.event
//	kefu.callback.handler.duration   histogram          s          kefu.callback.outcome, wechat.msgtype, wechat.event
//
// kefu.result is a kefu.ResultClass: ok, refused (WeChat answered an
// errcode), unknown (it may have been delivered: kefu.ErrDeliveryUnknown),
// not_sent, error. The histograms' buckets are those the HTTP conventions
// advise (5 ms to 10 s). Every attribute's value comes from a small set
// (paths, errcodes, classes, WeChat's msgtypes and events), so the metrics'
// cardinality stays low. Attribute names are the semantic conventions'
// (v1.43.0) where one fits, else wechat.* for what WeChat defines and
// kefu.* for what kefu does; the Attr constants list them.
//
// # Cost
//
// The durations are measured in the call's context, so the SDK's default
// exemplar filter (trace-based) attaches the call's trace to them; the
// counts are not (their exemplar would tell nothing the duration's does
// not). sdkmetric.WithExemplarFilter(exemplar.AlwaysOffFilter) turns
// exemplars off. With the SDK, the hooks of one Send (two spans, four
// measurements, 3.8 KB of allocations) cost about a fifth of a Send's CPU
// against an in-process server, where a Send costs far less than one to
// WeChat; with no SDK installed (the global no-op providers) they cost a
// few percent.
package kefuotel
