// Command metrics exposes kefu's metrics to Prometheus through
// OpenTelemetry: it sends a few messages to kefutest (a fake WeChat server
// running in-process) with kefuotel's hooks, then serves the metrics at
// /metrics through the OpenTelemetry Prometheus exporter until interrupted.
//
//	go run ./examples/metrics                  # from kefuotel/
//	curl -s http://127.0.0.1:9464/metrics | grep '^kefu_'
//
// The user wrote once, which opens 5 messages in 48 hours: the sixth send
// is refused (errcode 45047) and shows as result "refused" in
// kefu_client_calls_total.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefuotel"
	"github.com/kefu-go/kefu/kefutest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9464", "address to serve /metrics on")
	n := flag.Int("n", 6, "messages to send")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, *addr, *n); err != nil {
		fmt.Fprintln(os.Stderr, "metrics:", err)
		os.Exit(1)
	}
}

// run sends n messages, then serves the metrics on addr until ctx ends.
func run(ctx context.Context, out io.Writer, addr string, n int) error {
	ex, err := newExample(ctx, out, n)
	if err != nil {
		return err
	}
	defer ex.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "metrics at http://%s/metrics\n", ln.Addr())
	srv := &http.Server{Handler: ex.Handler, ReadHeaderTimeout: 5 * time.Second}
	stopped := context.AfterFunc(ctx, func() { _ = srv.Shutdown(context.Background()) })
	defer stopped()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// example is the fake, a client with kefuotel's hooks, and the handler
// that serves their metrics.
type example struct {
	// Handler serves the metrics at /metrics.
	Handler http.Handler

	fake   *kefutest.Server
	client *kefu.Client
	mp     *sdkmetric.MeterProvider
}

// newExample sets up the exporter and sends n messages, one line each on
// out.
func newExample(ctx context.Context, out io.Writer, n int) (*example, error) {
	// A registry of its own, not Prometheus's global one.
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	tel, err := kefuotel.New(kefuotel.WithMeterProvider(mp))
	if err != nil {
		return nil, err
	}
	ex := &example{fake: kefutest.NewServer(), mp: mp}
	ex.fake.Interact("o-example", kefutest.UserMessage)
	// kefu.New gives the hooks to the client and its token source.
	ex.client, err = kefu.New(ex.fake.AppID, ex.fake.AppSecret, kefu.WithBaseURL(ex.fake.URL), kefu.WithHooks(tel.ClientHooks()))
	if err != nil {
		ex.Close()
		return nil, err
	}
	for i := range n {
		_, err := ex.client.Send(ctx, kefu.NewText("o-example", fmt.Sprintf("message %d", i+1)))
		if err != nil {
			fmt.Fprintf(out, "send %d: %v\n", i+1, err)
			continue
		}
		fmt.Fprintf(out, "send %d: ok\n", i+1)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ex.Handler = mux
	return ex, nil
}

// Close stops the client, the fake and the meter provider.
func (e *example) Close() {
	if e.client != nil {
		e.client.CloseIdleConnections()
	}
	e.fake.Close()
	_ = e.mp.Shutdown(context.Background())
}
