package kefu

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// The request engine: one call to WeChat, made of attempts under a retry
// policy. An attempt is built (build), sent (send) and its answer classified
// (classify). The engine knows no caller: what differs between calls is in
// the request (its body, its answer's data).

// endpoint makes calls to WeChat under a retry policy. Client and the token
// source share its settings.
type endpoint struct {
	base  string
	shown string // base as errors show it: without a password
	auth  string // basic auth from the base URL's user info, if any
	hc    *http.Client
	retry RetryPolicy
	log   *slog.Logger
	sleep func(context.Context, time.Duration) error
	hooks *Hooks // WithHooks; nil: none

	// rt, on kefu's own client, is its transport, called directly: the
	// http.Client around it would only copy the headers for redirects,
	// which kefu does not follow (a message is never POSTed again to
	// another place), and costs ~1.5% of a send's CPU doing so.
	rt http.RoundTripper

	// lastURL is the URL of the last call without query: sends to one
	// path with one token reuse it instead of building it again.
	lastURL atomic.Pointer[tokenURL]
}

type tokenURL struct{ path, token, url string }

func (s *settings) endpoint() *endpoint {
	e := &endpoint{base: s.baseURL, shown: s.baseURL, hc: s.hc, retry: s.retry, log: s.log, sleep: s.sleep, hooks: s.hooks}
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

// request is one call.
type request struct {
	method, path string
	query        string // encoded, without access_token
	token        string
	body         requestBody // nil: no body
	secret       string      // scrubbed from errors besides the token
	retryUnknown bool        // retry attempts whose outcome is unknown
	// noEffect marks a call that changes nothing at WeChat (a token fetch):
	// a lost answer delivered nothing, so its errors never match
	// ErrDeliveryUnknown (it is still retried as an unknown outcome).
	noEffect  bool
	maxAnswer int // when > 0, replaces the 1 MiB bound on the answer

	// out, when not nil, receives the data of a successful answer (a
	// pointer to a plain struct), decoded after the errcode. An answer
	// that is exactly okAnswer leaves it as it is.
	out any
	// hasData, when set, says whether out holds the data of an answer
	// without errcode; without it, an answer must carry an errcode.
	hasData func() bool

	// For the hooks: what a send carries, and what the call did.
	msgType  MsgType
	openID   string
	status   int // the last attempt's HTTP status; 0: no answer
	attempts int // attempts made
}

// withJSON makes b, encoded JSON, r's body and returns r. (A request that
// does not escape stays on the stack: only the body's header is allocated.)
func (r *request) withJSON(b []byte) *request {
	r.body = jsonBody(b)
	return r
}

// requestBody is a request's body, opened afresh for each attempt (like
// http.Request.GetBody).
type requestBody interface {
	// open readies b for one attempt, whose context is ctx.
	open(ctx context.Context, b *attemptBody) error
	// reopenable reports whether another attempt can still send the body
	// whole.
	reopenable() bool
	// contentType is the value of the Content-Type header.
	contentType() string
}

// attemptBody is one attempt's body.
type attemptBody struct {
	// mem is an in-memory body: a *bytes.Reader, so the transport writes
	// headers and body in one packet.
	mem bytes.Reader
	// r, when set, is the body instead of mem, n bytes long (-1: unknown,
	// sent chunked).
	r io.Reader
	n int64
	// end, when set, is called once the attempt is over, with its context,
	// and no read of r starts after it. It reports whether the transport
	// read r whole, and an error that replaces the attempt's outcome (a file
	// over its limit).
	end func(ctx context.Context) (complete bool, err error)
}

// jsonBody is an encoded JSON body, the same bytes on every attempt.
type jsonBody []byte

func (j jsonBody) open(_ context.Context, b *attemptBody) error { b.mem.Reset(j); return nil }
func (j jsonBody) reopenable() bool                             { return true }
func (j jsonBody) contentType() string                          { return contentTypeJSON }

// reopenable reports whether r can be sent again.
func (r *request) reopenable() bool { return r.body == nil || r.body.reopenable() }

// refresher returns a fresh token after WeChat rejected one, or "" when
// there is none.
type refresher func(ctx context.Context, rejected string) (string, error)

// do runs r under the retry policy. refresh, when not nil, is asked once for
// a new token after WeChat rejects the current one; that extra attempt does
// not count against MaxAttempts.
func (e *endpoint) do(ctx context.Context, r *request, refresh refresher) error {
	maybeDelivered := false
	for attempt := 1; ; {
		actx, end := e.attemptHook(ctx, r, attempt)
		var start time.Time
		if end != nil {
			start = time.Now()
		}
		oc, err := e.attempt(actx, r, attempt)
		r.attempts++
		if oc == outDone {
			endAttempt(end, r, oc, nil, start, false, 0)
			return nil
		}
		maybeDelivered = maybeDelivered || oc == outUnknown && !r.noEffect
		if refresh != nil && oc == outAPIError && isRejectedToken(err) && r.reopenable() {
			tok, rerr := refresh(ctx, r.token)
			refresh = nil // once per call
			endAttempt(end, r, oc, err, start, tok != "", 0)
			if tok != "" {
				e.logf(ctx, slog.LevelInfo, "kefu: token rejected, retrying with a fresh one", r.path, attempt, codeOf(err))
				r.token = tok
				continue
			}
			if rerr != nil {
				err = fmt.Errorf("%w (refreshing the token failed: %w)", err, rerr)
			}
			return finalErr(err, maybeDelivered, r.attempts)
		}
		if !e.retries(ctx, r, oc, err, attempt) {
			endAttempt(end, r, oc, err, start, false, 0)
			return finalErr(err, maybeDelivered, r.attempts)
		}
		wait := e.retry.backoff(attempt)
		endAttempt(end, r, oc, err, start, true, wait)
		if werr := e.sleep(ctx, wait); werr != nil {
			return finalErr(fmt.Errorf("kefu: %s: gave up waiting to retry: %w (last attempt: %w)", r.path, werr, err), maybeDelivered, r.attempts)
		}
		attempt++
	}
}

// retries reports whether attempt, which ended in oc and err, is followed
// by another.
func (e *endpoint) retries(ctx context.Context, r *request, oc outcome, err error, attempt int) bool {
	if attempt >= e.retry.MaxAttempts || ctx.Err() != nil || !r.reopenable() {
		return false
	}
	switch oc {
	case outAPIError:
		return e.retry.retriesCode(codeOf(err))
	case outRetryable, outNotSent:
		return true
	case outUnknown:
		return r.retryUnknown
	}
	return false
}

// finalErr says how many attempts a call made, when more than one, and
// makes sure an error after an attempt that may have delivered the request
// says so.
func finalErr(err error, maybeDelivered bool, attempts int) error {
	if attempts > 1 {
		err = fmt.Errorf("%w after %d attempts", err, attempts)
	}
	if maybeDelivered && !errors.Is(err, ErrDeliveryUnknown) {
		return fmt.Errorf("%w (an earlier attempt may have been delivered: %w)", err, ErrDeliveryUnknown)
	}
	return err
}

// codeOf returns the errcode of an *APIError, else 0.
func codeOf(err error) int {
	if ae, ok := err.(*APIError); ok {
		return ae.Code
	}
	return 0
}

// isRejectedToken reports whether err is WeChat rejecting the access token.
func isRejectedToken(err error) bool {
	code := codeOf(err)
	return code == 40001 || code == 40014 || code == 42001
}

// attemptState is one attempt's body, header values and trace, in one
// allocation. The trace records how far the transport got, to tell a
// request that never left (dial, DNS or TLS failed, or the connection broke
// before the headers were written) from one that may have been delivered.
type attemptState struct {
	body    attemptBody
	hdr     [2]string
	trace   httptrace.ClientTrace
	getConn atomic.Bool // the transport looked for a connection
	wrote   atomic.Bool // the transport wrote the request headers
	start   time.Time   // when the attempt began, when logging
}

// notWritten is true when the transport fired its hooks (so it is a real
// one, not a mock that fires none) but never wrote the request whole: not
// its headers, or not all of a streamed body (WeChat does not act on a
// truncated request).
func (st *attemptState) notWritten(complete bool) bool {
	return st.getConn.Load() && (!st.wrote.Load() || !complete)
}

// attempt makes one HTTP request and classifies what came back.
func (e *endpoint) attempt(ctx context.Context, r *request, n int) (outcome, error) {
	if err := ctx.Err(); err != nil {
		return outNotSent, err
	}
	req, st, err := e.build(ctx, r)
	if err != nil {
		return outNotProcessed, err
	}
	resp, err := e.send(req)
	complete := true
	if st.body.end != nil {
		var berr error
		if complete, berr = st.body.end(ctx); berr != nil {
			if resp != nil {
				resp.Body.Close()
			}
			return outNotProcessed, berr
		}
	}
	if err != nil {
		return e.failed(ctx, r, n, st, complete, err)
	}
	return e.answered(ctx, r, n, st, resp)
}

// build makes the HTTP request of one attempt.
func (e *endpoint) build(ctx context.Context, r *request) (*http.Request, *attemptState, error) {
	st := &attemptState{}
	if e.log != nil {
		st.start = time.Now()
	}
	if e.rt != nil {
		st.getConn.Store(true) // it will look for one: no hook needed
	} else {
		st.trace.GetConn = func(string) { st.getConn.Store(true) }
	}
	st.trace.WroteHeaders = func() { st.wrote.Store(true) }
	var body io.Reader
	if r.body != nil {
		if err := r.body.open(ctx, &st.body); err != nil {
			return nil, nil, err
		}
		body = &st.body.mem
		if st.body.r != nil {
			body = st.body.r
		}
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, &st.trace), r.method, e.requestURL(r), body)
	if err != nil {
		if st.body.end != nil {
			st.body.end(ctx)
		}
		return nil, nil, &RequestError{Method: r.method, URL: e.url(r), Err: err, msg: oneLine(scrub(err.Error(), e.secrets(r)...))}
	}
	if r.body != nil {
		if st.body.r != nil {
			req.ContentLength = st.body.n
		}
		st.hdr[0] = r.body.contentType()
		req.Header["Content-Type"] = st.hdr[0:1:1]
	}
	st.hdr[1] = userAgent
	req.Header["User-Agent"] = st.hdr[1:2:2]
	if e.rt != nil && e.auth != "" {
		req.Header.Set("Authorization", e.auth)
	}
	return req, st, nil
}

// requestURL is the URL of r with its token, in one concatenation.
func (e *endpoint) requestURL(r *request) string {
	switch {
	case r.query == "" && r.token == "":
		return e.base + r.path
	case r.query == "":
		if c := e.lastURL.Load(); c != nil && c.path == r.path && c.token == r.token {
			return c.url
		}
		u := e.base + r.path + "?access_token=" + queryEscape(r.token)
		e.lastURL.Store(&tokenURL{r.path, r.token, u})
		return u
	case r.token == "":
		return e.base + r.path + "?" + r.query
	}
	return e.base + r.path + "?" + r.query + "&access_token=" + queryEscape(r.token)
}

// send sends req: through kefu's own transport directly, or through the
// caller's client.
func (e *endpoint) send(req *http.Request) (*http.Response, error) {
	if e.rt != nil {
		return e.rt.RoundTrip(req)
	}
	return e.hc.Do(req)
}

// failed classifies an attempt that got no answer.
func (e *endpoint) failed(ctx context.Context, r *request, n int, st *attemptState, complete bool, err error) (outcome, error) {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	written := !st.notWritten(complete)
	re := &RequestError{Method: r.method, URL: e.url(r), Err: err, MaybeDelivered: written && !r.noEffect,
		msg: oneLine(scrub(err.Error(), e.secrets(r)...))}
	oc := outNotSent
	if written {
		oc = outUnknown
	}
	r.status = 0
	e.logAttempt(ctx, r, n, oc, 0, st.start, re)
	return oc, re
}

// answered reads and classifies an attempt's answer.
func (e *endpoint) answered(ctx context.Context, r *request, n int, st *attemptState, resp *http.Response) (outcome, error) {
	limit := maxAnswer
	if r.maxAnswer > 0 {
		limit = r.maxAnswer
	}
	r.status = resp.StatusCode
	buf, over, rerr := readAnswerMax(resp.Body, limit)
	resp.Body.Close()
	defer releaseAnswer(buf)
	if rerr != nil {
		re := &RequestError{Method: r.method, URL: e.url(r), Err: rerr, MaybeDelivered: !r.noEffect,
			msg: "reading the answer: " + oneLine(scrub(rerr.Error(), e.secrets(r)...))}
		e.logAttempt(ctx, r, n, outUnknown, resp.StatusCode, st.start, re)
		return outUnknown, re
	}
	oc, err := classify(r, resp.StatusCode, *buf, over, limit, e.secrets(r))
	if he, ok := err.(*HTTPError); ok && isRedirect(resp.StatusCode) {
		if loc := resp.Header.Get("Location"); loc != "" {
			he.Problem += " to " + strconv.Quote(scrub(loc, e.secrets(r)...))
		}
	}
	if e.log != nil {
		e.logAttempt(ctx, r, n, oc, resp.StatusCode, st.start, err)
	}
	return oc, err
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

// outcome says what one attempt achieved, and so whether it may be retried.
type outcome uint8

const (
	outDone         outcome = iota // WeChat JSON, errcode 0
	outAPIError                    // WeChat JSON, errcode != 0: *APIError
	outNotProcessed                // non-JSON 4xx: not processed, not retried
	outRetryable                   // non-JSON 429/503: not processed, retried
	outNotSent                     // failed before the request was written: retried
	outUnknown                     // may have been processed
)

var outcomeNames = [...]string{"ok", "errcode", "not processed", "retryable", "not sent", "unknown"}

// okAnswer is WeChat's usual success answer, recognised without decoding.
const okAnswer = `{"errcode":0,"errmsg":"ok"}`

// answerHead is what every WeChat answer may carry: the errcode (nil when
// absent) and errmsg. It is decoded first; the data after it.
type answerHead struct {
	ErrCode *int   `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// classify decodes the answer body of r (its errcode, then into r.out) and
// classifies it; over says the answer was longer than limit bytes. secrets
// are scrubbed from anything quoted in the error.
func classify(r *request, status int, body []byte, over bool, limit int, secrets []string) (outcome, error) {
	var problem string
	switch {
	case over:
		problem = "answer larger than " + strconv.Itoa(limit>>20) + " MiB"
	case !utf8.Valid(body):
		problem = "answer is not valid UTF-8"
	case string(body) == okAnswer:
		return outDone, nil
	default:
		var oc outcome
		var err error
		if oc, problem, err = decodeAnswer(r, body, secrets); problem == "" {
			return oc, err
		}
	}
	return httpProblem(r, status, problem, snippet(body, secrets))
}

// decodeAnswer decodes a JSON answer: its errcode first, then its data into
// r.out. It returns an outcome and error, or the problem that makes the
// answer not WeChat's.
func decodeAnswer(r *request, body []byte, secrets []string) (oc outcome, problem string, err error) {
	var head answerHead
	if json.Unmarshal(body, &head) != nil {
		return 0, "answer is not JSON", nil
	}
	if head.ErrCode != nil && *head.ErrCode != 0 {
		return outAPIError, "", newAPIError(r.path, *head.ErrCode, scrub(head.ErrMsg, secrets...))
	}
	if r.out != nil && json.Unmarshal(body, r.out) != nil {
		return 0, "answer is not JSON", nil
	}
	if head.ErrCode == nil && (r.hasData == nil || !r.hasData()) {
		return 0, "answer is JSON but not WeChat's", nil
	}
	return outDone, "", nil
}

// httpProblem classifies an answer to r that is not WeChat's by its status.
func httpProblem(r *request, status int, problem, snippet string) (outcome, error) {
	e := &HTTPError{Path: r.path, StatusCode: status, Problem: problem, Snippet: snippet}
	switch {
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		return outRetryable, e
	case status >= 400 && status < 500:
		return outNotProcessed, e
	case isRedirect(status):
		// A front server sent the request elsewhere before WeChat saw it.
		e.Problem = "redirect not followed (" + problem + ")"
		return outNotProcessed, e
	}
	e.MaybeDelivered = !r.noEffect
	return outUnknown, e
}

// isRedirect reports the statuses that send a request elsewhere unprocessed.
// kefu's own transport never follows them: a message is never POSTed again
// to a place the caller did not choose. (303 See Other follows processing.)
func isRedirect(status int) bool {
	return status == http.StatusMovedPermanently || status == http.StatusFound ||
		status == http.StatusTemporaryRedirect || status == http.StatusPermanentRedirect
}

func (e *endpoint) enabled(ctx context.Context, l slog.Level) bool {
	return e.log != nil && e.log.Enabled(ctx, l)
}

func (e *endpoint) logAttempt(ctx context.Context, r *request, n int, oc outcome, status int, start time.Time, err error) {
	if !e.enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{slog.String("path", r.path), slog.Int("attempt", n),
		slog.String("outcome", outcomeNames[oc]), slog.Duration("took", time.Since(start))}
	if status != 0 {
		attrs = append(attrs, slog.Int("status", status))
	}
	if code := codeOf(err); code != 0 {
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
