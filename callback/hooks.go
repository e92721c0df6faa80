package callback

import (
	"context"
	"errors"
	"time"
)

// Hooks receive what a Handler does with each POST, for metrics and traces
// (kefuotel makes a server span and counters of them). No token, key or
// message content reaches a hook; the openid does only with IncludeOpenID.
type Hooks struct {
	// Request is called when a POST arrives. The context it returns (nil
	// keeps the request's) is the HandlerFunc's parent; the function it
	// returns, when not nil, is called once with the request's end (after
	// the answer, and after a late handler's reply was sent).
	Request func(ctx context.Context) (context.Context, func(RequestEnd))
	// IncludeOpenID passes the sender's openid in RequestEnd.
	IncludeOpenID bool
}

// Outcome says how a callback request ended.
type Outcome string

// The outcomes of a callback request.
const (
	OutcomeReplied   Outcome = "replied"   // a passive reply
	OutcomeSuccess   Outcome = "success"   // "success": no reply, or another instance has the message
	OutcomeDuplicate Outcome = "duplicate" // a retry answered from the first run
	OutcomeRefused   Outcome = "refused"   // a check failed (4xx): the handler did not run
	OutcomeFailed    Outcome = "failed"    // the handler failed (500)
	OutcomeLate      Outcome = "late"      // the handler overran its budget: "success" was answered for it
	OutcomeClosing   Outcome = "closing"   // the Handler was closed (503)
)

// RequestEnd describes a callback request's end.
type RequestEnd struct {
	Status           int // the HTTP status answered
	Outcome          Outcome
	MsgType, Event   string
	OpenID           string // with IncludeOpenID
	Encrypted        bool
	Duplicate        bool          // a retry of a message already handled or in flight (here or, with a Deduper, elsewhere)
	SignatureFailure bool          // signature or msg_signature did not match
	HandlerTime      time.Duration // how long the HandlerFunc ran; 0 when it did not
	Err              error         // why it was refused or failed
}

// hookStart starts the Request hook of a POST, if any.
func (h *Handler) hookStart(ctx context.Context) (context.Context, func(RequestEnd)) {
	if h.cfg.Hooks == nil || h.cfg.Hooks.Request == nil {
		return ctx, nil
	}
	hctx, end := h.cfg.Hooks.Request(ctx)
	if hctx == nil {
		hctx = ctx
	}
	return hctx, end
}

// ended fills what the request learned into its end.
func (h *Handler) ended(req *request) RequestEnd {
	e := req.end
	e.SignatureFailure = errors.Is(e.Err, ErrBadSignature)
	e.Encrypted = req.crypter != nil
	if m := req.msg; m != nil {
		e.MsgType, e.Event = m.MsgType, m.Event
		if h.cfg.Hooks.IncludeOpenID {
			e.OpenID = m.FromUserName
		}
	}
	return e
}
