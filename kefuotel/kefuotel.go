package kefuotel

import (
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/kefu-go/kefu"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of kefuotel's tracer and meter.
const ScopeName = "github.com/kefu-go/kefu/kefuotel"

// DefaultBaseURL is WeChat's API, the base of url.full unless WithBaseURL
// says otherwise.
const DefaultBaseURL = kefu.DefaultBaseURL

// Telemetry turns kefu's hooks into OpenTelemetry spans and metrics. Build
// it once with New and give its hooks to the clients and callback handlers
// it observes; it is safe for concurrent use.
type Telemetry struct {
	tracer        trace.Tracer
	inst          instruments
	includeOpenID bool
	base          string               // url.full's base: scheme and host, no query
	server        []attribute.KeyValue // server.address and server.port
	caches        clientCaches
}

// config is what the Options set.
type config struct {
	tp            trace.TracerProvider
	mp            metric.MeterProvider
	includeOpenID bool
	base          string
}

// Option configures New. Options validate their input: a bad one makes New
// return an error.
type Option func(*config) error

// WithTracerProvider makes the spans with tp instead of the global
// provider (otel.GetTracerProvider). A nil tp is an error.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return errors.New("kefuotel: WithTracerProvider: nil provider")
		}
		c.tp = tp
		return nil
	}
}

// WithMeterProvider records the metrics with mp instead of the global
// provider (otel.GetMeterProvider). A nil mp is an error.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return errors.New("kefuotel: WithMeterProvider: nil provider")
		}
		c.mp = mp
		return nil
	}
}

// WithOpenID puts the user's openid on spans (attribute wechat.openid) and
// span events. Off by default: an openid is personal data. It never goes
// on a metric.
func WithOpenID() Option {
	return func(c *config) error {
		c.includeOpenID = true
		return nil
	}
}

// WithBaseURL sets the base of the attempts' url.full and their
// server.address and server.port: the URL given to kefu.WithBaseURL, if
// any (default DefaultBaseURL). It must be an absolute http or https URL
// without user info, query or fragment.
func WithBaseURL(base string) Option {
	return func(c *config) error {
		// The error does not quote base: it may hold a credential.
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return errors.New("kefuotel: WithBaseURL: not an absolute http or https URL without user info, query or fragment")
		}
		c.base = base
		return nil
	}
}

// New builds a Telemetry from opts.
func New(opts ...Option) (*Telemetry, error) {
	cfg := config{base: DefaultBaseURL}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("kefuotel: nil Option")
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.tp == nil {
		cfg.tp = otel.GetTracerProvider()
	}
	if cfg.mp == nil {
		cfg.mp = otel.GetMeterProvider()
	}
	inst, err := newInstruments(cfg.mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL)))
	if err != nil {
		return nil, err
	}
	t := &Telemetry{
		tracer:        cfg.tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)),
		inst:          inst,
		includeOpenID: cfg.includeOpenID,
	}
	t.setBase(cfg.base)
	t.caches = t.newClientCaches()
	return t, nil
}

// setBase keeps base (already validated) without a trailing slash, and
// the server attributes it names.
func (t *Telemetry) setBase(base string) {
	u, _ := url.Parse(base)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	t.base = u.String()
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	n, _ := strconv.Atoi(port)
	t.server = []attribute.KeyValue{semconv.ServerAddress(u.Hostname()), semconv.ServerPort(n)}
}
