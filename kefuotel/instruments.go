package kefuotel

import (
	"errors"

	"go.opentelemetry.io/otel/metric"
)

// The metrics' names (see the package doc for their attributes).
const (
	MetricCalls            = "kefu.client.calls"
	MetricCallDuration     = "kefu.client.call.duration"
	MetricAttempts         = "kefu.client.attempts"
	MetricAttemptDuration  = "kefu.client.attempt.duration"
	MetricTokenRefreshes   = "kefu.client.token.refreshes"
	MetricTokenDuration    = "kefu.client.token.duration"
	MetricWindowRefusals   = "kefu.client.window.refusals"
	MetricBulkResults      = "kefu.client.bulk.results"
	MetricCallbacks        = "kefu.callback.requests"
	MetricCallbackDuration = "kefu.callback.handler.duration"
)

// durationBuckets are the histograms' bucket bounds in seconds: those the
// HTTP semantic conventions advise for request durations.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// instruments are the metrics Telemetry records.
type instruments struct {
	calls, attempts, tokens, windows, bulk, callbacks metric.Int64Counter

	callTime, attemptTime, tokenTime, handlerTime metric.Float64Histogram
}

// newInstruments creates the instruments on m.
func newInstruments(m metric.Meter) (instruments, error) {
	var in instruments
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	histogram := func(name, desc string) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(durationBuckets...))
		errs = append(errs, err)
		return h
	}
	in.calls = counter(MetricCalls, "{call}", "Calls to WeChat's API, by path and result class.")
	in.callTime = histogram(MetricCallDuration, "Duration of calls to WeChat's API, retries and token fetch included.")
	in.attempts = counter(MetricAttempts, "{attempt}", "HTTP attempts of calls to WeChat's API, token endpoints included.")
	in.attemptTime = histogram(MetricAttemptDuration, "Duration of HTTP attempts to WeChat's API.")
	in.tokens = counter(MetricTokenRefreshes, "{refresh}", "Access token fetches, by reason.")
	in.tokenTime = histogram(MetricTokenDuration, "Duration of access token fetches.")
	in.windows = counter(MetricWindowRefusals, "{refusal}", "Sends the window tracker refused locally.")
	in.bulk = counter(MetricBulkResults, "{result}", "Results of SendAll, by status.")
	in.callbacks = counter(MetricCallbacks, "{request}", "Callback POSTs, by message type, event and outcome.")
	in.handlerTime = histogram(MetricCallbackDuration, "Duration of the callback HandlerFunc.")
	return in, errors.Join(errs...)
}
