package kefu

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Version is kefu's version, sent in the User-Agent header as "kefu-go/Version".
const Version = "0.1.0"

// DefaultBaseURL is where WeChat's API lives.
const DefaultBaseURL = "https://api.weixin.qq.com"

const (
	sendPath        = "/cgi-bin/message/custom/send"
	typingPath      = "/cgi-bin/message/custom/typing"
	tokenPath       = "/cgi-bin/token"
	stableTokenPath = "/cgi-bin/stable_token"
)

const (
	contentTypeJSON = "application/json; charset=utf-8"
	userAgent       = "kefu-go/" + Version
)

// Option configures NewClient and NewTokenSource. Both take the same Option
// type, so one slice can be passed to each; an option that does not apply to
// a constructor is ignored there (its doc says where it applies). Options
// check their input: a constructor given a bad option returns its error.
type Option func(*settings) error

// settings is what the options set.
type settings struct {
	baseURL string
	hc      *http.Client
	retry   RetryPolicy
	log     *slog.Logger
	classic bool

	store           TokenStore
	storeFailClosed bool
	hooks           *Hooks

	windows *WindowTracker

	// Seams for tests in this package.
	answerLimit time.Duration
	ownHC       bool // hc is kefu's own (newHTTPClient)
	now         func() time.Time
	sleep       func(context.Context, time.Duration) error
	boundary    string // multipart boundary of uploads; "" is a random one per upload
}

func newSettings(opts []Option) (*settings, error) {
	s := &settings{baseURL: DefaultBaseURL, retry: DefaultRetryPolicy(), now: time.Now, sleep: sleepCtx, answerLimit: answerLimit}
	var errs []error
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(s); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if s.hc == nil {
		s.hc, s.ownHC = newHTTPClient(s.answerLimit), true
	}
	return s, nil
}

// WithBaseURL sends requests to base (an absolute http or https URL) instead
// of DefaultBaseURL: a proxy, or a kefutest server. Applies to NewClient and
// NewTokenSource.
func WithBaseURL(base string) Option {
	return func(s *settings) error {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return &OptionError{Option: "WithBaseURL", Rule: "must be an absolute http or https URL without query"}
		}
		s.baseURL = strings.TrimRight(base, "/")
		return nil
	}
}

// WithHTTPClient makes requests with hc, used as given: kefu never changes
// it. Without it, kefu uses its own transport tuned for WeChat (pooled
// keep-alive connections, an idle timeout under WeChat's, per-attempt dial,
// TLS and response-header limits, redirects never followed). Pass the client that
// httpmock.ActivateNonDefault patches to mock kefu. Applies to NewClient and
// NewTokenSource.
func WithHTTPClient(hc *http.Client) Option {
	return func(s *settings) error {
		if hc == nil {
			return &OptionError{Option: "WithHTTPClient", Rule: "must not be nil"}
		}
		s.hc = hc
		return nil
	}
}

// WithRetry sets the retry policy (default DefaultRetryPolicy()). It rejects
// MaxAttempts < 1, negative delays and MaxDelay < BaseDelay. Applies to
// NewClient and NewTokenSource (token fetches retry under it too).
func WithRetry(p RetryPolicy) Option {
	return func(s *settings) error {
		if err := p.validate(); err != nil {
			return err
		}
		p.RetryCodes = append([]int(nil), p.RetryCodes...)
		s.retry = p
		return nil
	}
}

// WithLogger logs attempts, retries and token refreshes to l (debug level
// for each attempt). Nothing logged holds a token or secret. The default is
// silence. Applies to NewClient and NewTokenSource.
func WithLogger(l *slog.Logger) Option { return set(func(s *settings) { s.log = l }) }

// WithClassicToken makes NewTokenSource use the classic GET /cgi-bin/token
// instead of the stable endpoint. Every classic fetch kills the previous
// token 5 minutes later, so processes sharing an app id should share tokens
// (WithTokenStore). Applies to NewTokenSource only.
func WithClassicToken() Option { return set(func(s *settings) { s.classic = true }) }

// set is an option that cannot fail.
func set(f func(*settings)) Option {
	return func(s *settings) error {
		f(s)
		return nil
	}
}

// answerLimit bounds the wait for WeChat's answer on kefu's own transport:
// an answer must start within 30 s of the request being written.
const answerLimit = 30 * time.Second

// newHTTPClient builds the default client: its own transport (never
// http.DefaultTransport), a pool large enough for 64 concurrent senders to
// reuse connections, idle connections dropped after 25 s (WeChat closes idle
// keep-alive connections after about 30 s), and per-attempt limits on the
// transport rather than http.Client.Timeout (which costs a goroutine and
// timers per request): 10 s to dial, 10 s for the TLS handshake, and an
// answer within limit of writing a request. The last is a read deadline on
// each connection, moved on when a request is written and less than limit of
// it remains; it has the effect of ResponseHeaderTimeout (an answer gets at
// least limit, a stalled one fails within 2*limit) without arming a timer for
// every request, which costs ~8% of a send's CPU on a fast network.
func newHTTPClient(limit time.Duration) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &deadlineConn{Conn: c, limit: limit}, nil
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       25 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}}
}

// deadlineConn keeps a read deadline at least limit and at most 2*limit
// after the last write, so an answer that never comes fails the attempt.
// Idle connections are closed (IdleConnTimeout, 25 s) before it can fire.
type deadlineConn struct {
	net.Conn
	limit    time.Duration
	deadline atomic.Int64 // unix nanoseconds of the read deadline set
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	now := time.Now()
	if now.Add(c.limit).UnixNano() > c.deadline.Load() {
		d := now.Add(2 * c.limit)
		c.deadline.Store(d.UnixNano())
		if err := c.Conn.SetReadDeadline(d); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(p)
}

// Client sends customer-service messages. It is safe for concurrent use; make
// one per app and reuse it.
type Client struct {
	tokens   TokenSource
	ep       *endpoint
	boundary string         // multipart boundary for tests; "" is random
	windows  *WindowTracker // WithWindows; nil: WeChat decides every send
}

// New returns a Client for the app appID/secret: NewTokenSource and
// NewClient built from one option list, so that the client and its token
// source aim at the same place (WithBaseURL applies to both). Use NewClient
// to bring a token source of your own.
func New(appID, secret string, opts ...Option) (*Client, error) {
	ts, err := NewTokenSource(appID, secret, opts...)
	if err != nil {
		return nil, err
	}
	return NewClient(ts, opts...)
}

// NewClient returns a Client that takes access tokens from tokens (usually
// NewTokenSource, or StaticToken). A nil source is an error, and so is a bad
// option. Given a source from NewTokenSource, it refuses the pair when
// exactly one of the two aims at WeChat (a host under weixin.qq.com): the
// credentials of a fake would go to WeChat, or real ones to a fake. WeChat's
// regional hosts among themselves, or a token proxy in front of WeChat for a
// client that calls WeChat through another proxy, are fine.
func NewClient(tokens TokenSource, opts ...Option) (*Client, error) {
	if tokens == nil {
		return nil, &ValidationError{Field: "tokens", Rule: "NewClient needs a TokenSource"}
	}
	s, err := newSettings(opts)
	if err != nil {
		return nil, err
	}
	ep := s.endpoint()
	if ts, ok := tokens.(*tokenSource); ok && isWeChat(ep.base) != isWeChat(ts.ep.base) {
		return nil, &OptionError{Option: "WithBaseURL", Rule: "the client calls " + ep.shown + " but its token source fetches from " +
			ts.ep.shown + ": give both the same WithBaseURL (kefu.New does)"}
	}
	return &Client{tokens: tokens, ep: ep, boundary: s.boundary, windows: s.windows}, nil
}

// isWeChat reports whether base is on a host of WeChat's (weixin.qq.com or
// a host under it).
func isWeChat(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	h := strings.ToLower(u.Hostname())
	return h == "weixin.qq.com" || strings.HasSuffix(h, ".weixin.qq.com")
}

// CloseIdleConnections closes the idle keep-alive connections of the
// client's HTTP client (kefu's own, or the one given WithHTTPClient), and
// those of its token source when it has the same method (NewTokenSource's
// does). Call it when you are done with a Client.
func (c *Client) CloseIdleConnections() {
	c.ep.hc.CloseIdleConnections()
	if ic, ok := c.tokens.(interface{ CloseIdleConnections() }); ok {
		ic.CloseIdleConnections()
	}
}

// Send validates m and sends it (POST /cgi-bin/message/custom/send). On
// WeChat's success it returns the answer; on any error a nil Response and an
// error: a validation error (ErrInvalidMessage, nothing sent), an *APIError
// (match its group with ErrOutsideWindow, ErrQuotaExceeded, ...), or a
// transport or answer error, which matches ErrDeliveryUnknown when the
// message may have been delivered. ctx bounds the whole call, retries
// included. Send never changes m.
//
// https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html
func (c *Client) Send(ctx context.Context, m *Message) (*Response, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return c.send(ctx, m, marshalMessage(m), c.windows)
}

// send sends a validated m, encoded as body, consulting windows when not
// nil.
func (c *Client) send(ctx context.Context, m *Message, body []byte, windows *WindowTracker) (*Response, error) {
	var held reservation
	if windows != nil {
		var refused *WindowError
		if held, refused = windows.reserve(ctx, m.ToUser); refused != nil {
			c.windowHook(ctx, refused)
			return nil, refused
		}
	}
	resp := &Response{ErrMsg: "ok"}
	r := &request{method: http.MethodPost, path: sendPath, retryUnknown: c.ep.retry.RetryUnknown, out: resp, msgType: m.MsgType, openID: m.ToUser}
	err := c.do(ctx, r.withJSON(body))
	if windows != nil {
		windows.settle(ctx, held, err)
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// Typing shows "typing..." to the user for up to 15 s, or until a message is
// sent (POST /cgi-bin/message/custom/typing). WeChat allows it only within 30
// s of a message exchange (45080) and not while already typing (45081).
func (c *Client) Typing(ctx context.Context, openID string) error {
	return c.typing(ctx, openID, "Typing")
}

// CancelTyping stops the "typing..." state Typing started.
func (c *Client) CancelTyping(ctx context.Context, openID string) error {
	return c.typing(ctx, openID, "CancelTyping")
}

func (c *Client) typing(ctx context.Context, openID, command string) error {
	var v validator
	v.required("touser", openID)
	return c.post(ctx, typingPath, &v, struct {
		ToUser  string `json:"touser"`
		Command string `json:"command"`
	}{openID, command})
}

var errNilContext = &ValidationError{Field: "ctx", Rule: "must not be nil (use context.Background())"}

// post checks v, then POSTs body as JSON to path: a write, whose unknown
// outcome is retried only under RetryUnknown.
func (c *Client) post(ctx context.Context, path string, v *validator, body any) error {
	if ctx == nil {
		return errNilContext
	}
	if err := v.err(); err != nil {
		return err
	}
	b, err := marshalWire(body)
	if err != nil {
		return err
	}
	r := &request{method: http.MethodPost, path: path, retryUnknown: c.ep.retry.RetryUnknown}
	return c.do(ctx, r.withJSON(b))
}

// get checks v (when not nil), then makes a GET read of path into out, a
// plain struct; has says whether an answer without errcode carried out's
// data. A read is retried on unknown outcomes: reading twice does no harm.
func (c *Client) get(ctx context.Context, path, query string, v *validator, out any, has func() bool) error {
	if ctx == nil {
		return errNilContext
	}
	if v != nil {
		if err := v.err(); err != nil {
			return err
		}
	}
	return c.do(ctx, &request{method: http.MethodGet, path: path, query: query, retryUnknown: true, out: out, hasData: has})
}

// do makes r with a token from the client's source, refreshing a rejected
// token once (when r's body can be sent again).
func (c *Client) do(ctx context.Context, r *request) error {
	if h := c.ep.hooks; h != nil && h.Call != nil {
		return c.callHooked(ctx, r)
	}
	return c.doCall(ctx, r)
}

// doCall is do without the Call hook.
func (c *Client) doCall(ctx context.Context, r *request) error {
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return &TokenError{Path: r.path, Err: err}
	}
	r.token = tok
	return c.ep.do(ctx, r, c.refresh)
}

// refresh handles a rejected token: drop it from the source (if it is still
// the current one) and take a fresh one. It fails when the source cannot
// refresh (StaticToken) or hands back the rejected token again.
func (c *Client) refresh(ctx context.Context, rejected string) (string, error) {
	inv, ok := c.tokens.(TokenInvalidator)
	if !ok {
		return "", nil
	}
	if err := inv.InvalidateToken(ctx, rejected); err != nil {
		return "", err
	}
	tok, err := c.tokens.Token(ctx)
	if err != nil || tok == rejected {
		return "", err
	}
	return tok, nil
}
