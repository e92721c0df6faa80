package kefuotel_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefuotel"
)

// The cost benchmarks measure Send with kefuotel's hooks against Send
// without hooks in the same run (kefu's bench_test.go does the same for its
// own hooks): both clients talk to one in-process server, in alternating
// rounds, so machine noise hits both.
//
//	go test -run '^$' -bench 'SendOtel' -count 5 ./kefuotel
//
// cpu-ratio is the process's CPU time (getrusage user+sys) with hooks over
// without. On the 2-core reference machine, in runs of 100,000 sends
// (-benchtime 100000x; runs of 20,000 scatter more): no-op providers
// 1.01-1.03; the SDK with a batch processor and an exporter that discards
// 1.11-1.23 over an hour, with no processor or one that does nothing
// 1.19-1.25, with GOGC=400 1.18-1.20 (so not the garbage collector), with
// the two counters left out 1.08-1.23 (no difference the noise shows).
// That is about 8-14 µs a Send against 5 µs for the same hooks in a tight
// loop: two spans (their attributes deduplicated through a map at End) and
// four measurements.

type benchEnv struct {
	srv    *httptest.Server
	tokens kefu.TokenSource
	plain  *kefu.Client
	msg    *kefu.Message
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	const tok = "BENCHTOKEN_0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if r.URL.Path == "/cgi-bin/stable_token" {
			_, _ = io.WriteString(w, `{"access_token":"`+tok+`","expires_in":7200}`)
			return
		}
		_, _ = io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	}))
	b.Cleanup(srv.Close)
	ts, err := kefu.NewTokenSource("wxbench", "benchsecret", kefu.WithBaseURL(srv.URL))
	if err != nil {
		b.Fatal(err)
	}
	return &benchEnv{srv: srv, tokens: ts, plain: newBenchClient(b, ts, srv.URL),
		msg: kefu.NewText("oBENCH_openid_0123456789", "您好，这是一条客服消息 <a href=\"https://example.com/?a=1&b=2\">详情</a>")}
}

func newBenchClient(b *testing.B, ts kefu.TokenSource, base string, opts ...kefu.Option) *kefu.Client {
	b.Helper()
	c, err := kefu.NewClient(ts, append([]kefu.Option{kefu.WithBaseURL(base)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.CloseIdleConnections)
	return c
}

func (e *benchEnv) sender(c *kefu.Client) func() error {
	return func() error {
		_, err := c.Send(context.Background(), e.msg)
		return err
	}
}

// phase is what one run of n sends cost.
type phase struct {
	wall, cpu time.Duration
	mallocs   uint64
}

func (p *phase) add(q phase) {
	p.wall += q.wall
	p.cpu += q.cpu
	p.mallocs += q.mallocs
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// run makes n sends from par goroutines and measures them.
func run(b *testing.B, n, par int, send func() error) phase {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m0, cpu0, t0 := ms.Mallocs, cpuTime(), time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := send(); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	p := phase{wall: time.Since(t0), cpu: cpuTime() - cpu0}
	runtime.ReadMemStats(&ms)
	p.mallocs = ms.Mallocs - m0
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return p
}

// compare runs base and hooked in alternating rounds, b.N sends each in
// all, and reports both and their ratio.
func compare(b *testing.B, base, hooked func() error) {
	run(b, 2, 1, base) // warm both: connections, token, pools
	run(b, 2, 1, hooked)
	b.ResetTimer()
	var pb, ph phase
	const rounds = 100
	for r := range rounds {
		n := max(b.N/rounds, 1)
		if r%2 == 0 {
			pb.add(run(b, n, 1, base))
			ph.add(run(b, n, 1, hooked))
		} else {
			ph.add(run(b, n, 1, hooked))
			pb.add(run(b, n, 1, base))
		}
	}
	b.StopTimer()
	n := float64(max(b.N/rounds, 1) * rounds)
	b.ReportMetric(float64(ph.wall.Nanoseconds())/n, "ns/op")
	b.ReportMetric(float64(pb.wall.Nanoseconds())/n, "base-ns/op")
	b.ReportMetric(float64(ph.cpu.Nanoseconds())/n, "cpu-ns/op")
	b.ReportMetric(float64(pb.cpu.Nanoseconds())/n, "base-cpu-ns/op")
	b.ReportMetric(float64(ph.cpu)/float64(pb.cpu), "cpu-ratio")
	b.ReportMetric(float64(ph.mallocs)/n, "allocs/op")
	b.ReportMetric(float64(pb.mallocs)/n, "base-allocs/op")
}

// sdkTelemetry is kefuotel on the OpenTelemetry SDK: every span sampled
// and recorded, and tp's options (none: the spans go nowhere); the metrics
// aggregated by a reader never collected.
func sdkTelemetry(b *testing.B, tpOpts ...sdktrace.TracerProviderOption) *kefuotel.Telemetry {
	tp := sdktrace.NewTracerProvider(tpOpts...)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	tel, err := kefuotel.New(kefuotel.WithTracerProvider(tp), kefuotel.WithMeterProvider(mp))
	if err != nil {
		b.Fatal(err)
	}
	return tel
}

// BenchmarkSendOtel: one goroutine sending with kefuotel's hooks on the
// OpenTelemetry SDK with no exporter (spans sampled and recorded, exported
// nowhere; metrics aggregated), against the same client without hooks.
// Target: cpu-ratio at most 1.10 (not met: see above).
func BenchmarkSendOtel(b *testing.B) {
	e := newBenchEnv(b)
	hooked := newBenchClient(b, e.tokens, e.srv.URL, kefu.WithHooks(sdkTelemetry(b).ClientHooks()))
	compare(b, e.sender(e.plain), e.sender(hooked))
}

// discard is a span exporter that exports nowhere.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// BenchmarkSendOtelBatch: the same with the SDK's batch span processor in
// front of an exporter that discards: the pipeline a service runs, but for
// the export itself.
func BenchmarkSendOtelBatch(b *testing.B) {
	e := newBenchEnv(b)
	hooked := newBenchClient(b, e.tokens, e.srv.URL, kefu.WithHooks(sdkTelemetry(b, sdktrace.WithBatcher(discard{})).ClientHooks()))
	compare(b, e.sender(e.plain), e.sender(hooked))
}

// BenchmarkSendOtelNoop: the same with OpenTelemetry's no-op providers
// (what a service gets before it installs an SDK): the cost of the hooks
// and of kefuotel's own work alone.
func BenchmarkSendOtelNoop(b *testing.B) {
	e := newBenchEnv(b)
	tel, err := kefuotel.New(kefuotel.WithTracerProvider(tracenoop.NewTracerProvider()),
		kefuotel.WithMeterProvider(metricnoop.NewMeterProvider()))
	if err != nil {
		b.Fatal(err)
	}
	hooked := newBenchClient(b, e.tokens, e.srv.URL, kefu.WithHooks(tel.ClientHooks()))
	compare(b, e.sender(e.plain), e.sender(hooked))
}
