package kefu

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
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
			return &ValidationError{Field: "WithBaseURL", Rule: "must be an absolute http or https URL without query"}
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
			return &ValidationError{Field: "WithHTTPClient", Rule: "must not be nil"}
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
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) error {
		s.log = l
		return nil
	}
}

// WithClassicToken makes NewTokenSource use the classic GET /cgi-bin/token
// instead of the stable endpoint. Every classic fetch kills the previous
// token 5 minutes later, so processes sharing an app id should share tokens
// (WithTokenStore). Applies to NewTokenSource only.
func WithClassicToken() Option {
	return func(s *settings) error {
		s.classic = true
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
	boundary string // multipart boundary for tests; "" is random
}

// NewClient returns a Client that takes access tokens from tokens (usually
// NewTokenSource, or StaticToken). A nil source is an error, and so is a bad
// option.
func NewClient(tokens TokenSource, opts ...Option) (*Client, error) {
	if tokens == nil {
		return nil, &ValidationError{Field: "tokens", Rule: "NewClient needs a TokenSource"}
	}
	s, err := newSettings(opts)
	if err != nil {
		return nil, err
	}
	return &Client{tokens: tokens, ep: s.endpoint(), boundary: s.boundary}, nil
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
	// Encode on the stack, then keep an exact-size copy: less garbage per
	// send than a generous heap buffer.
	var scratch [1024]byte
	enc := appendMessage(scratch[:0], m)
	body := make([]byte, len(enc))
	copy(body, enc)
	resp := new(Response)
	if err := c.call(ctx, sendPath, body, resp); err != nil {
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

// call POSTs body to path with a token, refreshing a rejected token once.
// It is a write: an unknown outcome is retried only under RetryUnknown.
func (c *Client) call(ctx context.Context, path string, body []byte, out answer) error {
	return c.do(ctx, &request{method: http.MethodPost, path: path, body: body, retryUnknown: c.ep.retry.RetryUnknown}, out)
}

// post checks v, then POSTs body as JSON to path: a write, whose unknown
// outcome is retried only under RetryUnknown.
func (c *Client) post(ctx context.Context, path string, v *validator, body any) error {
	if ctx == nil {
		return errNilContext
	}
	if err := v.err(); err != nil {
		return err
	}
	b, err := appendJSON(nil, body)
	if err != nil {
		return err
	}
	return c.call(ctx, path, b, new(Response))
}

// get checks v (when not nil), then makes a GET read of path: retried on
// unknown outcomes, since reading twice does no harm.
func (c *Client) get(ctx context.Context, path, query string, v *validator, out answer) error {
	if ctx == nil {
		return errNilContext
	}
	if v != nil {
		if err := v.err(); err != nil {
			return err
		}
	}
	return c.do(ctx, &request{method: http.MethodGet, path: path, query: query, retryUnknown: true}, out)
}

// do makes r with a token from the client's source, refreshing a rejected
// token once (when r's body can be made again).
func (c *Client) do(ctx context.Context, r *request, out answer) error {
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return err
	}
	r.token = tok
	return c.ep.do(ctx, r, out, c.refresh)
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

// endpoint makes calls to WeChat under a retry policy. Client and the token
// source share it.
type endpoint struct {
	base  string
	shown string // base as errors show it: without a password
	auth  string // basic auth from the base URL's user info, if any
	hc    *http.Client
	retry RetryPolicy
	log   *slog.Logger
	sleep func(context.Context, time.Duration) error

	// rt, on kefu's own client, is its transport, called directly: the
	// http.Client around it would only copy the headers for redirects,
	// which kefu does not follow (a message is never POSTed again to
	// another place), and costs ~1.5% of a send's CPU doing so. It
	// certainly fires the trace hooks (a caller's client may be a mock).
	rt http.RoundTripper

	// lastURL is the URL of the last call without query: sends to one
	// path with one token reuse it instead of building it again.
	lastURL atomic.Pointer[tokenURL]
}

type tokenURL struct{ path, token, url string }

func (s *settings) endpoint() *endpoint {
	e := &endpoint{base: s.baseURL, shown: s.baseURL, hc: s.hc, retry: s.retry, log: s.log, sleep: s.sleep}
	if u, err := url.Parse(s.baseURL); err == nil && u.User != nil {
		// A base URL with user:password (a proxy in front of WeChat):
		// errors show it without the password, and the direct transport
		// call sends it as basic auth as http.Client would.
		e.shown = u.Redacted()
		pass, _ := u.User.Password()
		e.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pass))
	}
	if s.ownHC {
		e.rt = s.hc.Transport
	}
	return e
}

// request is one call: the same bytes go out on every attempt.
type request struct {
	method, path string
	query        string // encoded, without access_token
	token        string
	body         []byte
	secret       string // scrubbed from errors besides the token
	retryUnknown bool

	// stream, when set, is the body instead of body: a multipart upload
	// streamed from the caller's reader, opened afresh for each attempt.
	stream *upload
	// maxAnswer, when > 0, replaces the 1 MiB bound on the answer.
	maxAnswer int
}

// replayable reports whether r can be sent again: always, unless its
// stream was read once and cannot be rewound.
func (r *request) replayable() bool { return r.stream == nil || r.stream.replayable() }

// do runs r under the retry policy. refresh, when not nil, is asked once for
// a new token after WeChat rejects the current one; that extra attempt does
// not count against MaxAttempts.
func (e *endpoint) do(ctx context.Context, r *request, out answer,
	refresh func(ctx context.Context, rejected string) (string, error)) error {
	maybeDelivered := false
	refreshed := false
	for attempt := 1; ; {
		oc, err := e.attempt(ctx, r, out, attempt)
		retry := false
		switch oc {
		case outDone:
			return nil
		case outAPIError:
			var ae *APIError
			errors.As(err, &ae)
			if refresh != nil && !refreshed && isRejectedToken(ae.Code) && r.replayable() {
				refreshed = true
				tok, rerr := refresh(ctx, r.token)
				if tok != "" {
					e.logf(ctx, slog.LevelInfo, "kefu: token rejected, retrying with a fresh one", r.path, attempt, ae.Code)
					r.token = tok
					continue
				}
				if rerr != nil {
					err = fmt.Errorf("%w (refreshing the token failed: %w)", err, rerr)
				}
				return finalErr(err, maybeDelivered)
			}
			retry = e.retry.retriesCode(ae.Code)
		case outRetryable, outNotSent:
			retry = true
		case outUnknown:
			maybeDelivered = true
			retry = r.retryUnknown
		}
		if !retry || attempt >= e.retry.MaxAttempts || ctx.Err() != nil || !r.replayable() {
			return finalErr(err, maybeDelivered)
		}
		if werr := e.sleep(ctx, e.retry.backoff(attempt)); werr != nil {
			return finalErr(fmt.Errorf("kefu: %s: gave up waiting to retry: %w (last attempt: %w)", r.path, werr, err), maybeDelivered)
		}
		attempt++
	}
}

// finalErr makes sure an error after an attempt that may have delivered the
// request says so.
func finalErr(err error, maybeDelivered bool) error {
	if maybeDelivered && !errors.Is(err, ErrDeliveryUnknown) {
		return fmt.Errorf("%w (an earlier attempt may have been delivered: %w)", err, ErrDeliveryUnknown)
	}
	return err
}

func isRejectedToken(code int) bool { return code == 40001 || code == 40014 || code == 42001 }

// attemptState is one attempt's body reader, header values and trace, in
// one allocation. The trace records how far the transport got, to tell a
// request that never left (dial, DNS or TLS failed, or the connection broke
// before the headers were written) from one that may have been delivered.
// The body stays a *bytes.Reader so the transport writes headers and body
// in one packet.
type attemptState struct {
	r       bytes.Reader
	up      *uploadBody // a streamed body (uploads), sent instead of r
	hdr     [2]string
	trace   httptrace.ClientTrace
	getConn atomic.Bool // the transport looked for a connection
	wrote   atomic.Bool // the transport wrote the request headers
}

// notWritten is true when the transport fired its hooks (so it is a real
// one, not a mock that fires none) but never wrote the request headers. A
// streamed body also counts as not written until its last byte was read:
// WeChat does not act on a truncated multipart request.
func (st *attemptState) notWritten() bool {
	return st.getConn.Load() && (!st.wrote.Load() || st.up != nil && !st.up.complete())
}

// url is r's URL as errors show it: no query, no password.
func (e *endpoint) url(r *request) string { return e.shown + r.path }

// queryEscape escapes a token for a query string. WeChat's tokens need no
// escaping, so the common case costs no allocation.
func queryEscape(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c == '_' || c == '.' || c == '~' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return url.QueryEscape(s)
		}
	}
	return s
}
func (e *endpoint) secrets(r *request) []string { return []string{r.token, r.secret} }
func (e *endpoint) enabled(ctx context.Context, l slog.Level) bool {
	return e.log != nil && e.log.Enabled(ctx, l)
}

// attempt makes one HTTP request and classifies what came back.
func (e *endpoint) attempt(ctx context.Context, r *request, out answer, n int) (outcome, error) {
	if err := ctx.Err(); err != nil {
		return outNotSent, err
	}
	var u string // one concatenation: one allocation
	switch {
	case r.query == "" && r.token == "":
		u = e.base + r.path
	case r.query == "":
		if c := e.lastURL.Load(); c != nil && c.path == r.path && c.token == r.token {
			u = c.url
		} else {
			u = e.base + r.path + "?access_token=" + queryEscape(r.token)
			e.lastURL.Store(&tokenURL{r.path, r.token, u})
		}
	case r.token == "":
		u = e.base + r.path + "?" + r.query
	default:
		u = e.base + r.path + "?" + r.query + "&access_token=" + queryEscape(r.token)
	}
	var start time.Time
	if e.log != nil {
		start = time.Now()
	}
	st := &attemptState{}
	if e.rt != nil {
		st.getConn.Store(true) // it will look for one: no hook needed
	} else {
		st.trace.GetConn = func(string) { st.getConn.Store(true) }
	}
	st.trace.WroteHeaders = func() { st.wrote.Store(true) }
	var body io.Reader
	if r.stream != nil {
		up, err := r.stream.open()
		if err != nil {
			return outNotProcessed, err
		}
		st.up = up
		body = up
	} else if r.body != nil {
		st.r.Reset(r.body)
		body = &st.r
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, &st.trace), r.method, u, body)
	if err != nil {
		if st.up != nil {
			st.up.Close()
		}
		return outNotProcessed, &RequestError{Method: r.method, URL: e.url(r), Err: err, msg: scrub(err.Error(), e.secrets(r)...)}
	}
	if r.stream != nil {
		req.ContentLength = r.stream.length() // -1: unknown, sent chunked
		st.hdr[0] = r.stream.contentType
		req.Header["Content-Type"] = st.hdr[0:1:1]
	} else if r.body != nil {
		st.hdr[0] = contentTypeJSON
		req.Header["Content-Type"] = st.hdr[0:1:1]
	}
	st.hdr[1] = userAgent
	req.Header["User-Agent"] = st.hdr[1:2:2]
	var resp *http.Response
	if e.rt != nil {
		if e.auth != "" {
			req.Header.Set("Authorization", e.auth)
		}
		resp, err = e.rt.RoundTrip(req)
	} else {
		resp, err = e.hc.Do(req)
	}
	if st.up != nil {
		// The transport may still be writing the body from another
		// goroutine: Close waits for a read in progress and fails later
		// ones, so no read of the caller's reader outlives the attempt.
		st.up.Close()
		if verr := st.up.overLimit(); verr != nil {
			if resp != nil {
				resp.Body.Close()
			}
			return outNotProcessed, verr
		}
	}
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		re := &RequestError{Method: r.method, URL: e.url(r), Err: err, MaybeDelivered: !st.notWritten(),
			msg: scrub(err.Error(), e.secrets(r)...)}
		oc := outNotSent
		if re.MaybeDelivered {
			oc = outUnknown
		}
		e.logAttempt(ctx, r, n, oc, 0, 0, start, re)
		return oc, re
	}
	limit := maxAnswer
	if r.maxAnswer > 0 {
		limit = r.maxAnswer
	}
	buf, over, rerr := readAnswerMax(resp.Body, limit)
	resp.Body.Close()
	defer releaseAnswer(buf)
	if rerr != nil {
		re := &RequestError{Method: r.method, URL: e.url(r), Err: rerr, MaybeDelivered: true,
			msg: "reading the answer: " + scrub(rerr.Error(), e.secrets(r)...)}
		e.logAttempt(ctx, r, n, outUnknown, resp.StatusCode, 0, start, re)
		return outUnknown, re
	}
	oc, err := classify(r.path, resp.StatusCode, *buf, over, limit, out, e.secrets(r))
	if he, ok := err.(*HTTPError); ok && isRedirect(resp.StatusCode) {
		if loc := resp.Header.Get("Location"); loc != "" {
			he.Problem += " to " + strconv.Quote(scrub(loc, e.secrets(r)...))
		}
	}
	if e.log != nil {
		code := 0
		if ae, ok := err.(*APIError); ok {
			code = ae.Code
		}
		e.logAttempt(ctx, r, n, oc, resp.StatusCode, code, start, err)
	}
	return oc, err
}

var outcomeNames = [...]string{"ok", "errcode", "not processed", "retryable", "not sent", "unknown"}

func (e *endpoint) logAttempt(ctx context.Context, r *request, n int, oc outcome, status, code int, start time.Time, err error) {
	if !e.enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{slog.String("path", r.path), slog.Int("attempt", n),
		slog.String("outcome", outcomeNames[oc]), slog.Duration("took", time.Since(start))}
	if status != 0 {
		attrs = append(attrs, slog.Int("status", status))
	}
	if code != 0 {
		attrs = append(attrs, slog.Int("errcode", code))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	e.log.LogAttrs(ctx, slog.LevelDebug, "kefu: attempt", attrs...)
}

func (e *endpoint) logf(ctx context.Context, l slog.Level, msg, path string, attempt, code int) {
	if e.enabled(ctx, l) {
		e.log.LogAttrs(ctx, l, msg, slog.String("path", path), slog.Int("attempt", attempt), slog.Int("errcode", code))
	}
}

func (e *endpoint) logErr(ctx context.Context, l slog.Level, msg string, err error) {
	if e.enabled(ctx, l) {
		e.log.LogAttrs(ctx, l, msg, slog.String("error", err.Error()))
	}
}
