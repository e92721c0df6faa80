package callback

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Flight states: the leader's request and its handler race to settle one.
const (
	running int32 = iota
	inTime        // the handler returned within the budget
	gaveUp        // the budget ended first: "success" was answered
)

// dispatch runs the handler for a new message, or answers a retry of one
// with the first run's reply.
func (h *Handler) dispatch(w http.ResponseWriter, r *http.Request, req *request) {
	key := req.msg.DedupKey()
	deadline := req.started.Add(h.cfg.Budget)
	for {
		f, leader := h.flights.join(key, h.cfg.Now())
		if leader {
			h.lead(w, r, req, key, f, deadline)
			return
		}
		done := h.await(f, deadline)
		if done && f.failed {
			continue // the first run failed and let the key go: run it again
		}
		req.end = RequestEnd{Status: http.StatusOK, Outcome: OutcomeDuplicate, Duplicate: true}
		var rp Reply // still running past the budget: "success"
		if done {
			rp = f.reply
		}
		h.answer(w, req, rp)
		return
	}
}

// await waits for a flight to end, until deadline; false when it did not.
func (h *Handler) await(f *flight, deadline time.Time) bool {
	select {
	case <-f.done:
		return true
	default:
	}
	h.waiting.Add(1)
	defer h.waiting.Add(-1)
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-f.done:
		return true
	case <-t.C:
		return false
	}
}

// lead claims the key and runs the handler, in this goroutine: no
// goroutine is started per request. If the budget ends first, giveUp
// answers "success" from the context's AfterFunc while the handler goes on;
// its reply then goes out late (sendLate) and ServeHTTP returns after it.
func (h *Handler) lead(w http.ResponseWriter, r *http.Request, req *request, key string, f *flight, deadline time.Time) {
	if !h.claim(r.Context(), key) {
		req.end = RequestEnd{Status: http.StatusOK, Outcome: OutcomeSuccess, Duplicate: true}
		h.flights.end(key, f, nil, false, h.cfg.Now())
		h.writeSuccess(w)
		return
	}
	if !h.start() {
		req.end = RequestEnd{Status: http.StatusServiceUnavailable, Outcome: OutcomeClosing}
		h.release(key)
		h.flights.end(key, f, nil, true, h.cfg.Now())
		http.Error(w, "closing", http.StatusServiceUnavailable)
		return
	}
	defer h.running.Done()
	ctx, cancel := context.WithDeadline(context.WithoutCancel(r.Context()), deadline)
	defer cancel()
	h.track(ctx, req.msg)
	stop := context.AfterFunc(ctx, func() { h.giveUp(w, req, f) })
	ran := time.Now()
	reply, err := h.call(ctx, req.msg)
	if err == nil && reply != nil {
		err = reply.passive().check(req.msg)
	}
	late := !f.state.CompareAndSwap(running, inTime)
	req.end = outcomeOf(reply, err, late, time.Since(ran))
	if late {
		f.awaitGiveUp()
	} else {
		stop()
	}
	switch {
	case err != nil:
		h.log.Error("kefu callback: handler failed", "err", err, "msgtype", req.msg.MsgType, "event", req.msg.Event, "late", late)
		h.release(key)
		h.flights.end(key, f, nil, true, h.cfg.Now())
		if !late {
			w.WriteHeader(http.StatusInternalServerError)
		}
	case late:
		h.flights.end(key, f, nil, false, h.cfg.Now()) // "success" was answered
		if reply != nil {
			h.sendLate(req, reply)
		}
	default:
		h.flights.end(key, f, reply, false, h.cfg.Now())
		h.answer(w, req, reply)
	}
}

// outcomeOf describes how a handler's run ended.
func outcomeOf(reply Reply, err error, late bool, took time.Duration) RequestEnd {
	e := RequestEnd{Status: http.StatusOK, Outcome: OutcomeSuccess, HandlerTime: took, Err: err}
	switch {
	case late:
		e.Outcome = OutcomeLate
	case err != nil:
		e.Status, e.Outcome = http.StatusInternalServerError, OutcomeFailed
	case reply != nil:
		e.Outcome = OutcomeReplied
	}
	return e
}

// giveUp answers "success" for a handler still running at the end of its
// budget, and flushes it so WeChat has its answer while the handler goes on.
func (h *Handler) giveUp(w http.ResponseWriter, req *request, f *flight) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.state.CompareAndSwap(running, gaveUp) {
		return // it returned in time
	}
	h.log.Warn("kefu callback: handler over its budget; answered success", "budget", h.cfg.Budget, "msgtype", req.msg.MsgType, "event", req.msg.Event)
	w.Header()["Content-Length"] = successLength
	h.writeSuccess(w)
	http.NewResponseController(w).Flush() //nolint:errcheck // best effort: without a Flusher it goes out on return
}

var successLength = []string{"7"}

// track tells Config.Windows what the message did to the user's windows.
func (h *Handler) track(ctx context.Context, m *Message) {
	t := h.cfg.Windows
	if t == nil || m.FromUserName == "" {
		return
	}
	at := time.Unix(m.CreateTime, 0)
	var err error
	if a, ok := m.Action(); ok {
		err = t.Observe(ctx, m.FromUserName, a, at)
	} else if m.IsEvent(EventUnsubscribe) {
		err = t.Unfollow(ctx, m.FromUserName, at)
	}
	if err != nil {
		h.log.Error("kefu callback: window tracker failed", "err", err)
	}
}

// claim takes key in the shared Deduper, when there is one. A failing
// Deduper lets the message through: a rare duplicate beats a lost message.
func (h *Handler) claim(ctx context.Context, key string) bool {
	if h.cfg.Dedup == nil {
		return true
	}
	ok, err := h.cfg.Dedup.Claim(ctx, key, h.cfg.DedupTTL)
	if err != nil {
		h.log.Error("kefu callback: deduper failed; handling the message anyway", "err", err)
		return true
	}
	return ok
}

func (h *Handler) release(key string) {
	if h.cfg.Dedup == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.cfg.Dedup.Release(ctx, key); err != nil {
		h.log.Error("kefu callback: releasing a failed message's key", "err", err)
	}
}

// call runs the HandlerFunc, turning a panic into an error.
func (h *Handler) call(ctx context.Context, m *Message) (reply Reply, err error) {
	defer func() {
		if p := recover(); p != nil {
			reply, err = nil, fmt.Errorf("callback: handler panicked: %v", p)
		}
	}()
	return h.fn(ctx, m)
}

// sendLate sends a reply that missed its budget as a customer-service
// message, when Config.LateReplies allows.
func (h *Handler) sendLate(req *request, reply Reply) {
	msg, ok := reply.passive().message(req.msg.FromUserName)
	if h.cfg.LateReplies == nil || !ok {
		h.log.Warn("kefu callback: a late reply was dropped", "msgtype", reply.passive().msgType, "sendable", ok)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), lateSendTimeout)
	defer cancel()
	if _, err := h.cfg.LateReplies.Send(ctx, msg); err != nil {
		h.log.Error("kefu callback: sending a late reply", "err", err)
		return
	}
	h.log.Info("kefu callback: a late reply was sent as a customer-service message", "msgtype", reply.passive().msgType)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// answer writes reply (nil: "success"), encrypted when the request was.
func (h *Handler) answer(w http.ResponseWriter, req *request, reply Reply) {
	if reply == nil {
		h.writeSuccess(w)
		return
	}
	now := h.cfg.Now().Unix()
	pb := bufPool.Get().(*[]byte)
	defer bufPool.Put(pb)
	var b []byte
	if req.json {
		b = reply.passive().appendJSON((*pb)[:0], req.msg, now)
	} else {
		b = reply.passive().appendXML((*pb)[:0], req.msg, now)
	}
	*pb = b // the pool keeps what the buffer grew to
	if req.crypter != nil {
		ps := bufPool.Get().(*[]byte)
		defer bufPool.Put(ps)
		b = h.seal((*ps)[:0], b, req, now)
		*ps = b
	}
	if req.json {
		w.Header()["Content-Type"] = jsonType
	} else {
		w.Header()["Content-Type"] = xmlType
	}
	w.Write(b)
}

var (
	jsonType  = []string{"application/json; charset=utf-8"}
	xmlType   = []string{"text/xml; charset=utf-8"}
	plainType = []string{"text/plain; charset=utf-8"}
)

// seal appends the encrypted reply envelope of plaintext to dst.
func (h *Handler) seal(dst, plaintext []byte, req *request, now int64) []byte {
	var random [16]byte
	randomPrefix(&random)
	ts := strconv.AppendInt(make([]byte, 0, 20), now, 10)
	enc := req.crypter.seal(nil, random, plaintext)
	sig := signatureHex(h.cfg.Token, string(ts), req.q.nonce, enc)
	if req.json {
		return appendJSONValue(dst, struct {
			Encrypt      string
			MsgSignature string
			TimeStamp    int64
			Nonce        string
		}{string(enc), string(sig[:]), now, req.q.nonce})
	}
	dst = append(dst, "<xml><Encrypt><![CDATA["...)
	dst = append(dst, enc...)
	dst = append(dst, "]]></Encrypt><MsgSignature><![CDATA["...)
	dst = append(dst, sig[:]...)
	dst = append(dst, "]]></MsgSignature><TimeStamp>"...)
	dst = append(dst, ts...)
	dst = append(dst, "</TimeStamp>"...)
	dst = appendCDATA(dst, "Nonce", req.q.nonce)
	return append(dst, "</xml>"...)
}

func (h *Handler) writeSuccess(w http.ResponseWriter) {
	w.Header()["Content-Type"] = plainType
	io.WriteString(w, "success")
}
