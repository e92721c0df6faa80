package kefu

import (
	"context"
	"errors"
	"time"
)

// Hooks receive what a Client and its token source do, for metrics and
// traces (kefuotel turns them into OpenTelemetry spans and counters). Each
// field may be nil. A hook must not block: it runs in the caller's
// goroutine. No access token, secret or message content ever reaches a
// hook; an openid does only with IncludeOpenID.
type Hooks struct {
	// Call is called when a call to WeChat starts (after the message was
	// validated and the window tracker let it through). The context it
	// returns is the call's (carry a span in it; nil keeps ctx); the
	// function it returns, when not nil, is called once with the call's
	// end. Nothing from the context reaches WeChat.
	Call func(ctx context.Context, c CallInfo) (context.Context, func(CallEnd))
	// Attempt is the same for each HTTP attempt of a call, the token
	// endpoint's included; its context is the call's.
	Attempt func(ctx context.Context, a AttemptInfo) (context.Context, func(AttemptEnd))
	// Token is called after each token fetch, with why it was made.
	Token func(ctx context.Context, t TokenEvent)
	// Window is called when the window tracker refuses a send locally.
	Window func(ctx context.Context, w WindowEvent)
	// Bulk is called for each result of SendAll.
	Bulk func(ctx context.Context, b BulkEvent)
	// IncludeOpenID passes the user's openid to the hooks (CallInfo,
	// WindowEvent, BulkEvent). Off by default: it is personal data.
	IncludeOpenID bool
}

// CallInfo describes a call as it starts.
type CallInfo struct {
	Path    string  // e.g. "/cgi-bin/message/custom/send"
	MsgType MsgType // for sends; "" otherwise
	OpenID  string  // with IncludeOpenID, for sends
}

// ResultClass sorts a call's outcome.
type ResultClass string

// The classes of a call's outcome.
const (
	ResultOK      ResultClass = "ok"      // WeChat accepted it
	ResultRefused ResultClass = "refused" // WeChat answered an errcode (ErrCode)
	ResultUnknown ResultClass = "unknown" // it may have been delivered (ErrDeliveryUnknown)
	ResultNotSent ResultClass = "not_sent"
	ResultError   ResultClass = "error" // an answer that is not WeChat's (HTTP status, bad JSON)
)

// CallEnd describes a call's end.
type CallEnd struct {
	Class     ResultClass
	ErrCode   int    // WeChat's errcode when refused
	RequestID string // the rid WeChat gave with an errcode
	Attempts  int    // HTTP attempts made, the token refresh's included
	Duration  time.Duration
	Err       error // nil when Class is ResultOK; never holds a token
}

// AttemptInfo describes one HTTP attempt as it starts.
type AttemptInfo struct {
	Path   string
	Method string
	N      int // 1 for the first attempt
}

// AttemptEnd describes an attempt's end and what the client decided.
type AttemptEnd struct {
	Status   int // HTTP status; 0 when no answer came
	ErrCode  int
	Class    ResultClass
	Retry    bool          // another attempt follows
	Backoff  time.Duration // the wait before it
	Duration time.Duration
}

// TokenReason says why a token was fetched.
type TokenReason string

// The reasons for a token fetch.
const (
	TokenCold     TokenReason = "cold"     // none was cached
	TokenExpiring TokenReason = "expiring" // the cached one was due (ahead of its expiry)
	TokenRejected TokenReason = "rejected" // WeChat rejected the cached one (40001, 42001...)
	TokenForce    TokenReason = "force"    // a force_refresh, after the stable endpoint handed back a rejected token
)

// TokenEvent describes a token fetch.
type TokenEvent struct {
	Reason   TokenReason
	Duration time.Duration
	Err      error // nil when a token came
}

// WindowEvent describes a send the window tracker refused locally.
type WindowEvent struct {
	ErrCode int // 45015 (no open window) or 45047 (no message left)
	OpenID  string
}

// BulkEvent describes one result of SendAll.
type BulkEvent struct {
	Status  SendStatus
	ErrCode int
	OpenID  string
}

// WithHooks sets the hooks of NewClient and NewTokenSource (token events
// come from the token source).
func WithHooks(h Hooks) Option {
	return set(func(s *settings) { s.hooks = &h })
}

// attemptHook starts an attempt's hook; without one it returns ctx and a
// nil end, and the attempt is not timed.
func (e *endpoint) attemptHook(ctx context.Context, r *request, n int) (context.Context, func(AttemptEnd)) {
	if e.hooks == nil || e.hooks.Attempt == nil {
		return ctx, nil
	}
	hctx, end := e.hooks.Attempt(ctx, AttemptInfo{Path: r.path, Method: r.method, N: n})
	if hctx == nil {
		hctx = ctx
	}
	return hctx, end
}

// endAttempt tells an attempt's hook (end, if not nil) that it ended with
// oc and err.
func endAttempt(end func(AttemptEnd), r *request, oc outcome, err error, start time.Time, retry bool, backoff time.Duration) {
	if end != nil {
		end(AttemptEnd{Status: r.status, ErrCode: codeOf(err), Class: classOf(oc, err), Retry: retry, Backoff: backoff, Duration: time.Since(start)})
	}
}

// classOf sorts an outcome.
func classOf(oc outcome, err error) ResultClass {
	var api *APIError
	switch {
	case err == nil:
		return ResultOK
	case errors.As(err, &api):
		return ResultRefused
	case errors.Is(err, ErrDeliveryUnknown), oc == outUnknown:
		return ResultUnknown
	case oc == outNotSent, oc == outNotProcessed:
		return ResultNotSent
	}
	var te *TokenError
	var re *RequestError
	if errors.As(err, &te) || errors.As(err, &re) && !re.MaybeDelivered {
		return ResultNotSent // no token, or a request that never left (a refused connection)
	}
	return ResultError
}

// callHooked is Client.do with the Call hook around it.
func (c *Client) callHooked(ctx context.Context, r *request) error {
	h := c.ep.hooks
	info := CallInfo{Path: r.path, MsgType: r.msgType}
	if h.IncludeOpenID {
		info.OpenID = r.openID
	}
	hctx, end := h.Call(ctx, info)
	if hctx == nil {
		hctx = ctx
	}
	start := time.Now()
	err := c.doCall(hctx, r)
	if end != nil {
		ce := CallEnd{Class: classOf(outDone, err), Attempts: r.attempts, Duration: time.Since(start), Err: err}
		var api *APIError
		if errors.As(err, &api) {
			ce.ErrCode, ce.RequestID = api.Code, api.RequestID
		}
		end(ce)
	}
	return err
}

// tokenHook reports a token fetch.
func (e *endpoint) tokenHook(ctx context.Context, reason TokenReason, start time.Time, err error) {
	if e.hooks != nil && e.hooks.Token != nil {
		e.hooks.Token(ctx, TokenEvent{Reason: reason, Duration: time.Since(start), Err: err})
	}
}

// windowHook reports a local window refusal.
func (c *Client) windowHook(ctx context.Context, we *WindowError) {
	h := c.ep.hooks
	if h == nil || h.Window == nil {
		return
	}
	ev := WindowEvent{ErrCode: windowCode(we)}
	if h.IncludeOpenID {
		ev.OpenID = we.OpenID
	}
	h.Window(ctx, ev)
}

// bulkHook reports one result of SendAll.
func (c *Client) bulkHook(ctx context.Context, res SendResult) {
	h := c.ep.hooks
	if h == nil || h.Bulk == nil {
		return
	}
	ev := BulkEvent{Status: res.Status, ErrCode: apiCode(res.Err)}
	if h.IncludeOpenID {
		ev.OpenID = res.OpenID
	}
	h.Bulk(ctx, ev)
}
