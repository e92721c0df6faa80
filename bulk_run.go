package kefu

import (
	"context"
	"errors"
	"iter"
	"sync"
	"time"
)

// bulkRun is one SendAll run: a feeder reads the input, workers send, and
// the caller's goroutine yields the results.
type bulkRun struct {
	c   *Client
	cfg *bulkConfig

	results chan SendResult
	gate    gate // the 45011 pause, shared by every worker
	// detached is the run's context without its cancellation: a send that
	// started, and its journal entries, finish even when the run is
	// cancelled (Ctrl-C), so that its outcome is known and journalled.
	detached context.Context

	mu       sync.Mutex
	stopErr  error // why the run stopped (45009, the quota kept, ctx): the rest are not attempted
	fatal    error // a journal failure or mismatch: the run ends with it
	fbStop   bool  // the fallback must not be called again
	budget   int   // sends left before the kept quota, when keepQuota > 0
	sinceAsk int   // sends since quota/get was asked
}

type bulkItem struct {
	index int
	msg   *Message
	body  []byte // msg's wire encoding, once made (encoded)
	hash  string // messageHash(body), once a journal needed it
}

// encoded returns the item's wire encoding, made once: the journal hashes
// the bytes that are sent.
func (it *bulkItem) encoded() []byte {
	if it.body == nil {
		it.body = marshalMessage(it.msg)
	}
	return it.body
}

func newRun(c *Client, cfg *bulkConfig) *bulkRun {
	return &bulkRun{c: c, cfg: cfg, results: make(chan SendResult, cfg.concurrency), gate: gate{now: cfg.now, sleep: cfg.sleep}}
}

// run sends everything and yields the results in the caller's goroutine.
func (r *bulkRun) run(ctx context.Context, msgs iter.Seq[*Message], yield func(SendResult, error) bool) {
	if err := r.askQuota(ctx); err != nil {
		yield(SendResult{}, err)
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.detached = context.WithoutCancel(ctx)
	// Each worker claims an item right before sending it: a claim is on
	// disk (or in Redis) before its message goes out, and a crash leaves at
	// most BulkConcurrency items claimed without an outcome (reported
	// unknown, not resent by default), nearly all of them really in flight.
	// Claiming ahead of the senders would be faster, but every item claimed
	// and not yet sent would be lost to "unknown" by a crash.
	items := make(chan bulkItem)
	var workers sync.WaitGroup
	for range r.cfg.concurrency {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for it := range items {
				res, ok := r.prepare(ctx, &it)
				if ok {
					res = r.send(ctx, it, res)
				}
				r.results <- res
			}
		}()
	}
	go func() {
		defer close(items)
		r.feed(ctx, msgs, items)
	}()
	go func() {
		workers.Wait()
		close(r.results)
	}()
	stopped := false
	for res := range r.results {
		r.c.bulkHook(ctx, res)
		if !stopped && !yield(res, nil) {
			stopped = true
			cancel() // drain: the workers finish what they hold
		}
	}
	if err := r.fatalErr(); err != nil && !stopped {
		yield(SendResult{}, err)
	}
}

// feed hands the items to the workers until the input ends or the run
// stops; after a stop the rest of the input is reported not attempted.
func (r *bulkRun) feed(ctx context.Context, msgs iter.Seq[*Message], items chan<- bulkItem) {
	i := 0
	for m := range msgs {
		it := bulkItem{index: i, msg: m}
		i++
		if err := r.stopped(ctx); err != nil {
			if r.fatalErr() != nil || !r.report(ctx, r.notAttemptedItem(it, err)) {
				return
			}
			continue
		}
		select {
		case items <- it:
		case <-ctx.Done():
			return
		}
	}
}

// report passes a result to the caller, unless the run was cancelled.
func (r *bulkRun) report(ctx context.Context, res SendResult) bool {
	select {
	case r.results <- res:
		return true
	case <-ctx.Done():
		return false
	}
}

// notAttemptedItem is the result of an item the run stopped before.
func (r *bulkRun) notAttemptedItem(it bulkItem, err error) SendResult {
	res := SendResult{Index: it.index}
	if it.msg != nil {
		res.OpenID = it.msg.ToUser
		res.Key = r.cfg.key(it.index, it.msg)
	}
	return notAttempted(res, err)
}

// notAttempted makes res, an item's result so far, one of an item that
// was not sent because of err.
func notAttempted(res SendResult, err error) SendResult {
	res.Status, res.Err = StatusNotAttempted, err
	return res
}

// stopped returns why the run stopped, if it did.
func (r *bulkRun) stopped(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.fatal != nil:
		return r.fatal
	case r.stopErr != nil:
		return r.stopErr
	}
	return ctx.Err()
}

func (r *bulkRun) stop(err error) {
	r.mu.Lock()
	if r.stopErr == nil {
		r.stopErr = err
	}
	r.mu.Unlock()
}

func (r *bulkRun) fail(err error) {
	r.mu.Lock()
	if r.fatal == nil {
		r.fatal = err
	}
	r.mu.Unlock()
}

func (r *bulkRun) fatalErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fatal
}

// ErrQuotaKept: the run stopped to keep the part of the day's quota that
// BulkKeepQuota reserved for interactive replies.
var ErrQuotaKept = errors.New("kefu: bulk send stopped: the rest of the day's quota is kept for replies")

// askQuota reads the day's remaining send quota, when part of it is kept.
func (r *bulkRun) askQuota(ctx context.Context) error {
	if r.cfg.keepQuota == 0 {
		return nil
	}
	q, err := r.c.Quota(ctx, sendPath)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.budget, r.sinceAsk = q.Remain-r.cfg.keepQuota, 0
	r.mu.Unlock()
	return nil
}

// spend takes one send from the kept-quota budget; false when none is left.
func (r *bulkRun) spend(ctx context.Context) bool {
	if r.cfg.keepQuota == 0 {
		return true
	}
	r.mu.Lock()
	ask := r.sinceAsk >= 500
	r.mu.Unlock()
	if ask {
		r.askQuota(ctx) // a failed refresh keeps the local count
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.budget <= 0 {
		return false
	}
	r.budget--
	r.sinceAsk++
	return true
}

// gate is the pause every sender waits at after a 45011.
type gate struct {
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
	mu    sync.Mutex
	until time.Time
}

// wait returns when the gate is open.
func (g *gate) wait(ctx context.Context) error {
	for {
		g.mu.Lock()
		d := g.until.Sub(g.now())
		g.mu.Unlock()
		if d <= 0 {
			return ctx.Err()
		}
		if err := g.sleep(ctx, d); err != nil {
			return err
		}
	}
}

// close shuts the gate until t (a later t wins).
func (g *gate) close(t time.Time) {
	g.mu.Lock()
	if t.After(g.until) {
		g.until = t
	}
	g.mu.Unlock()
}
