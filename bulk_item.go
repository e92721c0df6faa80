package kefu

import (
	"context"
	"errors"
	"time"
)

// prepare readies one item: it validates and claims it. It returns the
// item's result so far and true when a sender may send it, or its final
// result and false (invalid, held by the journal, the run stopped).
func (r *bulkRun) prepare(ctx context.Context, it *bulkItem) (SendResult, bool) {
	m := it.msg
	if m == nil {
		return SendResult{Index: it.index, Status: StatusFailed, Err: &ValidationError{Field: "message", Rule: "must not be nil"}}, false
	}
	res := SendResult{Index: it.index, OpenID: m.ToUser, Key: r.cfg.key(it.index, m)}
	if err := m.Validate(); err != nil {
		res.Status, res.Err = StatusFailed, err // never sendable: not journalled
		return res, false
	}
	if err := r.stopped(ctx); err != nil {
		return notAttempted(res, err), false
	}
	prev, ok, err := r.claim(it, Claim{Key: res.Key, At: r.cfg.now(), RetryUnknown: r.cfg.retryUnknown})
	if err != nil {
		r.fail(err)
		return notAttempted(res, err), false
	}
	if !ok {
		return r.resumed(ctx, *it, res, prev), false
	}
	return res, true
}

// send sends a claimed item (unless the run stopped meanwhile: then the
// claim is released) and journals its outcome.
func (r *bulkRun) send(ctx context.Context, it bulkItem, res SendResult) SendResult {
	if err := r.stopped(ctx); err != nil {
		r.record(JournalEntry{Key: res.Key, State: JournalReleased})
		return notAttempted(res, err)
	}
	if !r.spend(ctx) {
		r.stop(ErrQuotaKept)
		r.record(JournalEntry{Key: res.Key, State: JournalReleased})
		return notAttempted(res, ErrQuotaKept)
	}
	resp, err := r.deliver(ctx, &it)
	return r.settle(ctx, it, res, resp, err)
}

// deliver sends the item when the gate and the limiter let it, and again after
// each 45011 (WeChat refused it: nothing was delivered).
func (r *bulkRun) deliver(ctx context.Context, it *bulkItem) (*Response, error) {
	for {
		if err := r.gate.wait(ctx); err != nil {
			return nil, err
		}
		if r.cfg.limiter != nil {
			if err := r.cfg.limiter.Wait(ctx); err != nil {
				return nil, err
			}
		}
		resp, err := r.c.send(r.detached, it.msg, it.encoded(), r.cfg.windows)
		if apiCode(err) != 45011 {
			return resp, err
		}
		r.gate.close(r.resumeAt(ctx))
	}
}

// resumeAt is when sending may resume after a 45011: quota/get's
// refresh_second from now, else the start of the next minute.
func (r *bulkRun) resumeAt(ctx context.Context) time.Time {
	now := r.cfg.now()
	if q, err := r.c.Quota(ctx, sendPath); err == nil && q.RateLimit.RefreshSecond > 0 {
		return now.Add(time.Duration(q.RateLimit.RefreshSecond) * time.Second)
	}
	return now.Truncate(time.Minute).Add(time.Minute)
}

func apiCode(err error) int {
	var api *APIError
	if errors.As(err, &api) {
		return api.Code
	}
	return 0
}

// settle turns a send's outcome into the item's result and journal entry.
func (r *bulkRun) settle(ctx context.Context, it bulkItem, res SendResult, resp *Response, err error) SendResult {
	var we *WindowError
	switch code := apiCode(err); {
	case err == nil:
		res.Status, res.MsgID = StatusSent, resp.MsgID
		r.record(JournalEntry{Key: res.Key, State: JournalSent, MsgID: resp.MsgID})
	case errors.Is(err, ErrDeliveryUnknown):
		res.Status, res.Err = StatusUnknown, err
		r.record(JournalEntry{Key: res.Key, State: JournalUnknown})
	case errors.As(err, &we):
		res.Status, res.Err, res.Reason = StatusSkipped, err, "window"
		r.record(JournalEntry{Key: res.Key, State: JournalFailed, Code: windowCode(we)})
		res.Fallback = r.fallback(ctx, it, res.Key, err)
	case code == 45009:
		r.stop(err)
		r.record(JournalEntry{Key: res.Key, State: JournalReleased})
		return notAttempted(res, err)
	case code != 0:
		res.Status, res.Err = StatusFailed, err
		r.record(JournalEntry{Key: res.Key, State: JournalFailed, Code: code})
		if code == 45015 || code == 45047 {
			res.Fallback = r.fallback(ctx, it, res.Key, err)
		}
	default: // nothing reached WeChat: no token, a refused connection, ctx
		r.record(JournalEntry{Key: res.Key, State: JournalReleased})
		return notAttempted(res, err)
	}
	return res
}

func windowCode(we *WindowError) int {
	if we.State.Open {
		return 45047
	}
	return 45015
}

// resumed reports an item the journal already holds, and finishes its
// fallback if the run that refused it stopped before the fallback ended.
func (r *bulkRun) resumed(ctx context.Context, it bulkItem, res SendResult, prev JournalEntry) SendResult {
	res.Status, res.Reason, res.MsgID = StatusSkipped, "journal: "+prev.State.String(), prev.MsgID
	if prev.State == JournalAttempted {
		res.Reason = "journal: unknown"
	}
	if prev.State == JournalFailed && (prev.Code == 45015 || prev.Code == 45047) {
		res.Fallback = r.fallback(ctx, it, res.Key, &APIError{Code: prev.Code, Path: sendPath, Message: "from the journal"})
	}
	return res
}

// fallback calls the fallback for a recipient the message could not reach,
// once per key across resumed runs: an unknown fallback is called again only
// within TemplateDedupWindow of its attempt (a template's client_msg_id is
// WeChat's idempotency key for 10 minutes).
func (r *bulkRun) fallback(ctx context.Context, it bulkItem, key string, cause error) *FallbackResult {
	if r.cfg.fallback == nil || r.fallbackStopped() {
		return nil
	}
	fkey := key + "#fallback"
	now := r.cfg.now()
	prev, ok, err := r.claim(&it, Claim{Key: fkey, At: now, RetryUnknown: true, UnknownSince: now.Add(-TemplateDedupWindow)})
	if err != nil {
		r.fail(err)
		return &FallbackResult{Status: StatusNotAttempted, Err: err}
	}
	if !ok {
		return &FallbackResult{Status: StatusSkipped, MsgID: prev.MsgID}
	}
	resend := prev.State == JournalAttempted || prev.State == JournalUnknown
	fr := r.cfg.fallback(ctx, FallbackItem{Client: r.c, Index: it.index, Key: key, Message: it.msg, Cause: cause, Resend: resend})
	if fr.Stop {
		r.mu.Lock()
		r.fbStop = true
		r.mu.Unlock()
	}
	r.record(JournalEntry{Key: fkey, State: fallbackState(fr.Status), MsgID: fr.MsgID, Code: apiCode(fr.Err)})
	return &fr
}

func fallbackState(s SendStatus) JournalState {
	switch s {
	case StatusSent:
		return JournalSent
	case StatusUnknown:
		return JournalUnknown
	case StatusNotAttempted:
		return JournalReleased
	}
	return JournalFailed
}

func (r *bulkRun) fallbackStopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fbStop
}

// claim takes a key in the journal; without one every key is free.
// The message's hash (its wire encoding, hashed) is made only for a
// journal, once per item.
func (r *bulkRun) claim(it *bulkItem, c Claim) (JournalEntry, bool, error) {
	if r.cfg.journal == nil {
		return JournalEntry{}, true, nil
	}
	if it.hash == "" {
		it.hash = messageHash(it.encoded())
	}
	c.Hash = it.hash
	return r.cfg.journal.Claim(r.detached, c)
}

// record stores an outcome; a journal that fails ends the run (what it
// already holds stays safe: an attempt without an outcome counts as
// unknown).
func (r *bulkRun) record(e JournalEntry) {
	if r.cfg.journal == nil {
		return
	}
	e.At = r.cfg.now()
	if err := r.cfg.journal.Record(r.detached, e); err != nil {
		r.fail(err)
	}
}
