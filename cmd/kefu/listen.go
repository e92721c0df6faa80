package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/callback"
)

// listenHelp is the help of "kefu listen", after its usage line.
const listenHelp = `  kefu listen                       the Token in KEFU_TOKEN; listens on :8080, path /
  kefu listen --addr 127.0.0.1:0 --forward http://localhost:3000/wechat
  KEFU_AES_KEY=... KEFU_APPID=wx... kefu listen --path /wechat   safe mode too

It serves the callback URL of WeChat's server configuration (消息推送): the
URL check (GET) and the users' messages and events (POST), each checked
with the Token and, when encrypted (compatible or safe mode), decrypted with
the EncodingAESKey and the appid checked, as callback.NewHandler does. A
request that fails a check is refused (403 or 400, logged on stderr) and
printed nowhere.

Each message prints as one JSON line on stdout: the fields of
callback.Message under their Go names, empty ones left out, and Raw, the
message as received (decrypted), as a string:
  {"ToUserName":"gh_x","FromUserName":"o1","CreateTime":1700000000,"MsgType":"text","MsgID":42,"Content":"hi","Raw":"<xml>…</xml>"}
WeChat's retries of a message print once. The output is JSON lines with or
without --json. --forward also POSTs each line to a URL (Content-Type
application/json, within 3 s, no redirects), as stripe listen --forward-to
does; a forward that fails is logged on stderr. WeChat is always answered
"success": no passive reply.

The Token comes from KEFU_TOKEN, the EncodingAESKey from KEFU_AES_KEY and
the app id (needed with a key) from KEFU_APPID. --token, --aes-key and
--appid stand for them, but a command line shows in ps: prefer the
variables. Without an EncodingAESKey only plain mode is accepted.

The listening URL goes to stderr; --addr 127.0.0.1:0 takes any free port.
WeChat must reach the address (port 80 or 443, or a tunnel to it). SIGINT
(Ctrl-C) or SIGTERM shuts the server down, waiting for the messages in
hand, and exits 130.
`

// forwardTimeout bounds a forward: well under the 4.5 s the handler has
// before WeChat's 5 s run out.
const forwardTimeout = 3 * time.Second

// listenCommand is "kefu listen": a callback endpoint that prints the
// messages WeChat pushes.
func listenCommand(e *env) *cobra.Command {
	return withoutGlobalFlags(newCommand(e, "listen", "receive WeChat's callbacks (messages, events) and print them as JSON lines",
		listenHelp, maxArgs(0), &listenRun{}))
}

// define defines kefu listen's flags on fs.
func (l *listenRun) define(fs *pflag.FlagSet) {
	// No default from the environment: --help would print the secrets.
	fs.StringVar(&l.addr, "addr", ":8080", "listen on this `host:port` (port 0: any free port)")
	fs.StringVar(&l.path, "path", "/", "serve the callback on this URL `path`")
	fs.StringVar(&l.forward, "forward", "", "also POST each message, as JSON, to this `URL`")
	fs.StringVar(&l.token, "token", "", "the callback Token (default $KEFU_TOKEN; the variable keeps it out of ps)")
	fs.StringVar(&l.aesKey, "aes-key", "", "the EncodingAESKey, for compatible and safe modes (default $KEFU_AES_KEY; the variable keeps it out of ps)")
	fs.StringVar(&l.appID, "appid", "", "the app id, needed with an EncodingAESKey (default $KEFU_APPID)")
	fs.BoolVar(&l.json, "json", false, "accepted for symmetry: the messages are JSON lines with or without it")
}

// listenRun is a run of kefu listen: the flags it was given.
type listenRun struct {
	addr, path, forward  string
	token, aesKey, appID string
	json                 bool
}

// errInterrupted ends kefu listen on SIGINT or SIGTERM: exit 130.
var errInterrupted error = interrupted{}

// interrupted is a server stopped by a signal: it matches context.Canceled,
// which run maps to exit 130.
type interrupted struct{}

func (interrupted) Error() string { return "stopped (interrupted)" }
func (interrupted) Unwrap() error { return context.Canceled }

// run serves the callback endpoint until ctx ends.
func (l *listenRun) run(ctx context.Context, e *env, _ []string) error {
	cfg, err := l.config(e)
	if err != nil {
		return err
	}
	p, err := l.printer(e)
	if err != nil {
		return err
	}
	defer p.client.CloseIdleConnections()
	// Refused requests and failures, without token, key or content.
	cfg.Logger = slog.New(slog.NewTextHandler(p.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, err := callback.NewHandler(cfg, p.handle)
	if err != nil {
		return usagef("KEFU_AES_KEY (or --aes-key): %s", strings.TrimPrefix(err.Error(), "callback: "))
	}
	ln, err := listen(l.addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(p.stderr, "kefu listen: listening on %s (%s)%s; Ctrl-C stops it\n", listenURL(ln.Addr(), l.path), modes(cfg), p.forwarding())
	return serveCallbacks(ctx, ln, l.path, h, p.stderr)
}

// config is the callback configuration of the flags and the environment,
// checked.
func (l *listenRun) config(e *env) (callback.Config, error) {
	cfg := callback.Config{Token: l.token, EncodingAESKey: l.aesKey, AppID: l.appID}
	e.orEnv(&cfg.Token, "KEFU_TOKEN")
	e.orEnv(&cfg.EncodingAESKey, "KEFU_AES_KEY")
	e.orEnv(&cfg.AppID, "KEFU_APPID")
	e.secret = cfg.Token
	switch {
	case cfg.Token == "":
		return cfg, usagef("no token: set KEFU_TOKEN to the Token of the account's server configuration, or pass --token")
	case cfg.EncodingAESKey != "" && cfg.AppID == "":
		return cfg, usagef("an EncodingAESKey needs the app id: set KEFU_APPID or pass --appid")
	case !strings.HasPrefix(l.path, "/"):
		return cfg, usagef("--path must start with /, got %q", l.path)
	}
	return cfg, nil
}

// modes says which callback modes cfg accepts.
func modes(cfg callback.Config) string {
	if cfg.EncodingAESKey == "" {
		return "plain mode only: set KEFU_AES_KEY for safe mode"
	}
	return "plain, compatible and safe modes"
}

// listenURL is the URL a local client reaches the endpoint at: 127.0.0.1
// stands for an address that listens on every interface.
func listenURL(addr net.Addr, path string) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String() + path
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + path
}

// serveCallbacks serves h on ln at path until ctx ends, then shuts the
// server down, waits for the handler, and returns errInterrupted.
func serveCallbacks(ctx context.Context, ln net.Listener, path string, h *callback.Handler, stderr io.Writer) error {
	route := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	}
	srv := &http.Server{Handler: http.HandlerFunc(route), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(stderr, "kefu listen: ", 0)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	err := errInterrupted
	select {
	case err = <-served: // the listener failed
		served = nil
	case <-ctx.Done():
	}
	// Shutdown waits for the requests in hand, then Close for handlers
	// that outlived their budget; neither for more than 5 s.
	stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(stop) // closes ln
	_ = h.Close(stop)
	if served != nil {
		<-served // http.ErrServerClosed
	}
	return err
}

// printer prints each message as a JSON line and forwards it.
type printer struct {
	stdout, stderr io.Writer // locked: handlers run concurrently
	forward        *url.URL  // nil: no --forward
	client         *http.Client
}

// printer returns the printer of the flags: --forward checked.
func (l *listenRun) printer(e *env) (*printer, error) {
	p := &printer{stdout: &lockedWriter{w: e.stdout}, stderr: &lockedWriter{w: e.stderr}}
	p.client = &http.Client{
		Transport:     http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if l.forward == "" {
		return p, nil
	}
	u, err := url.Parse(l.forward)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--forward must be an absolute http or https URL, got %q", l.forward)
	}
	p.forward = u
	return p, nil
}

// forwarding says where messages are forwarded, for the listening line.
func (p *printer) forwarding() string {
	if p.forward == nil {
		return ""
	}
	return ", forwarding to " + p.forward.Redacted()
}

// handle is the callback.HandlerFunc: it prints m, forwards it, and
// answers "success" whatever the forward did.
func (p *printer) handle(ctx context.Context, m *callback.Message) (callback.Reply, error) {
	line := messageJSON(m)
	p.stdout.Write(line)
	if p.forward != nil {
		if err := p.post(ctx, line); err != nil {
			fmt.Fprintf(p.stderr, "kefu listen: forward to %s: %v\n", p.forward.Redacted(), err)
		}
	}
	return nil, nil
}

// post POSTs one JSON line to the forward URL, within forwardTimeout. An
// answer other than 2xx is an error.
func (p *printer) post(ctx context.Context, line []byte) error {
	ctx, cancel := context.WithTimeout(ctx, forwardTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.forward.String(), bytes.NewReader(line))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "kefu-listen/"+kefu.Version)
	resp, err := p.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its URL is in the log line already, redacted
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	return nil
}

// messageJSON is m as one JSON line: its fields under their Go names, in
// their order, those with a zero value left out, and Raw as a string.
func messageJSON(m *callback.Message) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if !v.Type().Field(i).IsExported() || f.IsZero() {
			continue
		}
		value := f.Interface()
		if raw, ok := value.([]byte); ok {
			value = string(raw)
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + v.Type().Field(i).Name + `":`) // Go identifiers: nothing to escape
		b.Write(jsonValue(value))
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// jsonValue is v in JSON, HTML characters unescaped; a float JSON cannot
// hold (NaN or an infinity, which WeChat never sends) is a string.
func jsonValue(v any) []byte {
	var b bytes.Buffer
	if err := writeJSON(&b, v); err != nil {
		b.Reset()
		_ = writeJSON(&b, fmt.Sprint(v))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
