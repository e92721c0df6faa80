package kefuotel_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/kefu-go/kefu/kefuotel"
)

// The helpers shared by the tests of this package: an SDK that records
// spans and metrics in memory, and a listener that keeps what clients sent.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is an OpenTelemetry SDK that keeps every span and metric in
// memory, and a Telemetry on it.
type recorder struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	tp     *sdktrace.TracerProvider
	tel    *kefuotel.Telemetry
}

func newRecorder(t *testing.T, opts ...kefuotel.Option) *recorder {
	t.Helper()
	r := &recorder{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	tel, err := kefuotel.New(append([]kefuotel.Option{kefuotel.WithTracerProvider(tp), kefuotel.WithMeterProvider(mp)}, opts...)...)
	require.NoError(t, err)
	r.tel, r.tp = tel, tp
	return r
}

// ended returns the spans that ended so far.
func (r *recorder) ended() []sdktrace.ReadOnlySpan { return r.spans.Ended() }

// named returns the ended spans called name.
func (r *recorder) named(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range r.ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// childrenOf returns the ended spans whose parent is p and whose name is
// name.
func (r *recorder) childrenOf(p sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range r.named(name) {
		if s.Parent().SpanID() == p.SpanContext().SpanID() {
			out = append(out, s)
		}
	}
	return out
}

// collect reads the metrics.
func (r *recorder) collect(t *testing.T) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.reader.Collect(context.Background(), &rm))
	return rm
}

// find returns the metric called name, if recorded.
func find(rm metricdata.ResourceMetrics, name string) (metricdata.Metrics, bool) {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m, true
			}
		}
	}
	return metricdata.Metrics{}, false
}

// has reports whether set holds every one of want.
func has(set attribute.Set, want []attribute.KeyValue) bool {
	for _, kv := range want {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}

// total adds, over the points of the metric called name whose attributes
// hold want, a counter's values or a histogram's counts.
func total(rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) int64 {
	m, _ := find(rm, name)
	var n int64
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			if has(p.Attributes, want) {
				n += p.Value
			}
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			if has(p.Attributes, want) {
				n += int64(p.Count)
			}
		}
	}
	return n
}

// withOpenIDs runs test with and without WithOpenID, in parallel, on a
// recorder of its own each time.
func withOpenIDs(t *testing.T, test func(t *testing.T, withOpenID bool, rec *recorder)) {
	for _, withOpenID := range []bool{false, true} {
		t.Run(fmt.Sprintf("WithOpenID=%v", withOpenID), func(t *testing.T) {
			t.Parallel()
			var opts []kefuotel.Option
			if withOpenID {
				opts = append(opts, kefuotel.WithOpenID())
			}
			test(t, withOpenID, newRecorder(t, opts...))
		})
	}
}

// recorded lists every string recorded: span names, status descriptions,
// attributes (spans', events', links', the resource's) and the metrics'
// names and point attributes, as "key=value".
func (r *recorder) recorded(t *testing.T) []string {
	t.Helper()
	var out []string
	kvs := func(kv []attribute.KeyValue) {
		for _, a := range kv {
			out = append(out, fmt.Sprintf("%s=%s", a.Key, a.Value.String()))
		}
	}
	for _, s := range r.ended() {
		out = append(out, s.Name(), s.Status().Description)
		kvs(s.Attributes())
		for _, e := range s.Events() {
			out = append(out, e.Name)
			kvs(e.Attributes)
		}
		for _, l := range s.Links() {
			kvs(l.Attributes)
		}
	}
	rm := r.collect(t)
	kvs(rm.Resource.Attributes())
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out = append(out, m.Name, m.Description)
			for _, set := range pointSets(m) {
				kvs(set.ToSlice())
			}
		}
	}
	return out
}

// allPointSets returns the attribute sets of every metric's points.
func allPointSets(rm metricdata.ResourceMetrics) []attribute.Set {
	var out []attribute.Set
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out = append(out, pointSets(m)...)
		}
	}
	return out
}

// pointSets returns the attribute sets of m's points.
func pointSets(m metricdata.Metrics) []attribute.Set {
	var out []attribute.Set
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	}
	return out
}

// wireLog is a listener that keeps every byte clients sent through it.
type wireLog struct {
	net.Listener
	mu  sync.Mutex
	buf bytes.Buffer
}

func listen(t *testing.T) *wireLog {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return &wireLog{Listener: l}
}

func (w *wireLog) Accept() (net.Conn, error) {
	c, err := w.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &loggedConn{Conn: c, log: w}, nil
}

// sent returns what clients sent so far.
func (w *wireLog) sent() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

type loggedConn struct {
	net.Conn
	log *wireLog
}

func (c *loggedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.log.mu.Lock()
	c.log.buf.Write(p[:n])
	c.log.mu.Unlock()
	return n, err
}

// noTraceContext checks that no request carried W3C trace context.
func noTraceContext(t *testing.T, wire string) {
	t.Helper()
	lower := strings.ToLower(wire)
	for _, h := range []string{"traceparent:", "tracestate:", "baggage:"} {
		require.NotContains(t, lower, h, "a request carried trace context")
	}
}
