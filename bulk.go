package kefu

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"iter"
	"strconv"
	"time"

	"golang.org/x/time/rate"
)

// SendStatus is what became of one item of a bulk send.
type SendStatus uint8

// The outcomes of a bulk send's items.
const (
	StatusSent         SendStatus = iota + 1 // WeChat accepted it (MsgID)
	StatusFailed                             // refused for good (Err: an *APIError, a *ValidationError...)
	StatusUnknown                            // it may have been delivered (Err matches ErrDeliveryUnknown)
	StatusSkipped                            // not sent, and not to be: Reason says why
	StatusNotAttempted                       // not sent: the run stopped first, or nothing could be sent; a resumed run sends it
)

var statusNames = [...]string{StatusSent: "sent", StatusFailed: "failed", StatusUnknown: "unknown",
	StatusSkipped: "skipped", StatusNotAttempted: "not_attempted"}

// String returns "sent", "failed", "unknown", "skipped" or "not_attempted".
func (s SendStatus) String() string {
	if int(s) < len(statusNames) && statusNames[s] != "" {
		return statusNames[s]
	}
	return "SendStatus(" + strconv.Itoa(int(s)) + ")"
}

// SendResult is the outcome of one item of SendAll.
type SendResult struct {
	Index  int    // the item's position in the input, from 0
	Key    string // its journal key
	OpenID string
	Status SendStatus
	MsgID  int64 // StatusSent: WeChat's msgid (0 when it gives none)
	// Err is why it was not sent: WeChat's *APIError, a *WindowError (the
	// tracker refused it), a *ValidationError, the error that stopped the
	// run...; nil when sent or skipped by the journal.
	Err error
	// Reason says why an item was skipped: "journal: sent",
	// "journal: failed", "journal: unknown", "window" (the tracker knew
	// the user could not be reached).
	Reason string
	// Fallback is what the fallback sent, when one ran.
	Fallback *FallbackResult
}

// Limiter paces a bulk send: Wait returns when one more message may go
// out. *rate.Limiter (golang.org/x/time/rate) is one; redisstore.NewLimiter
// shares one rate between processes.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Fallback sends something else to a recipient a customer-service message
// cannot reach: its window is closed or spent, known locally (the tracker)
// or answered by WeChat (45015, 45047). TemplateFallback is a ready one.
type Fallback func(ctx context.Context, item FallbackItem) FallbackResult

// FallbackItem is the recipient a Fallback is called for.
type FallbackItem struct {
	Client  *Client
	Index   int
	Key     string // the item's journal key
	Message *Message
	Cause   error // the *WindowError or *APIError that kept the message out
	// Resend is true when a resumed run calls the fallback again for an
	// attempt whose outcome is unknown, no longer ago than the fallback's
	// RetryUnknownFor allows.
	Resend bool
}

// FallbackResult is what a Fallback did.
type FallbackResult struct {
	Status SendStatus // StatusSent, StatusFailed, StatusUnknown, StatusSkipped, StatusNotAttempted
	MsgID  int64
	Err    error
	// Stop is set by a fallback that must not be called again in this run
	// (its daily quota is spent: 45009); the run itself goes on.
	Stop bool
}

// BulkOption configures SendAll.
type BulkOption func(*bulkConfig) error

type bulkConfig struct {
	concurrency  int
	limiter      Limiter
	journal      Journal
	windows      *WindowTracker
	fallback     Fallback
	keepQuota    int
	retryUnknown bool
	key          func(index int, m *Message) string
	now          func() time.Time
	sleep        func(context.Context, time.Duration) error
}

// BulkConcurrency sets how many sends may be in flight at once (default 4).
func BulkConcurrency(n int) BulkOption {
	return func(c *bulkConfig) error {
		if n < 1 {
			return &OptionError{Option: "BulkConcurrency", Rule: "must be at least 1"}
		}
		c.concurrency = n
		return nil
	}
}

// BulkRate limits the run to perSecond sends a second (a token bucket of
// golang.org/x/time/rate holding one send: no burst).
func BulkRate(perSecond float64) BulkOption {
	return func(c *bulkConfig) error {
		if !(perSecond > 0) {
			return &OptionError{Option: "BulkRate", Rule: "must be above 0"}
		}
		c.limiter = rate.NewLimiter(rate.Limit(perSecond), 1)
		return nil
	}
}

// BulkLimiter paces the run with l (instead of BulkRate).
func BulkLimiter(l Limiter) BulkOption {
	return func(c *bulkConfig) error { c.limiter = l; return nil }
}

// BulkJournal records the run in j, so that running it again resumes it:
// every item already sent, failed for good or unknown is skipped.
func BulkJournal(j Journal) BulkOption {
	return func(c *bulkConfig) error { c.journal = j; return nil }
}

// BulkRetryUnknown makes a resumed run send again the items whose outcome
// is unknown (the process died mid-send, or the answer was lost): each may
// then reach its user twice. Off by default.
func BulkRetryUnknown() BulkOption {
	return func(c *bulkConfig) error { c.retryUnknown = true; return nil }
}

// BulkWindows skips, without a call, the recipients t knows cannot be
// reached (no open window, or no message left), and spends their quota as
// Send does with WithWindows. Without it the client's own tracker is used,
// if it has one.
func BulkWindows(t *WindowTracker) BulkOption {
	return func(c *bulkConfig) error { c.windows = t; return nil }
}

// BulkFallback calls f for each recipient whose window is closed or spent
// (locally known, or answered 45015 or 45047).
func BulkFallback(f Fallback) BulkOption {
	return func(c *bulkConfig) error { c.fallback = f; return nil }
}

// BulkKeepQuota keeps n calls of the day's send quota for interactive
// replies: the run asks quota/get before it starts (and every 500 sends)
// and stops, the rest not attempted, before WeChat's remain would fall
// below n.
func BulkKeepQuota(n int) BulkOption {
	return func(c *bulkConfig) error {
		if n < 0 {
			return &OptionError{Option: "BulkKeepQuota", Rule: "must not be negative"}
		}
		c.keepQuota = n
		return nil
	}
}

// BulkKey sets how an item's journal key is made (default: its openid, "#"
// and its position in the input, so that two messages to one user differ).
func BulkKey(key func(index int, m *Message) string) BulkOption {
	return func(c *bulkConfig) error {
		if key == nil {
			return &OptionError{Option: "BulkKey", Rule: "must not be nil"}
		}
		c.key = key
		return nil
	}
}

// BulkClock sets the run's clock and its way of waiting (a pause after
// 45011), for tests: defaults time.Now and a timer that stops with ctx.
func BulkClock(now func() time.Time, sleep func(ctx context.Context, d time.Duration) error) BulkOption {
	return func(c *bulkConfig) error {
		if now == nil || sleep == nil {
			return &OptionError{Option: "BulkClock", Rule: "now and sleep must not be nil"}
		}
		c.now, c.sleep = now, sleep
		return nil
	}
}

func defaultKey(index int, m *Message) string { return m.ToUser + "#" + strconv.Itoa(index) }

// messageHash is the journal's hash of a message's wire encoding.
func messageHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:16])
}

// SendAll sends msgs, BulkConcurrency at a time, and yields one SendResult
// per message as each finishes (not in input order: SendResult.Index says
// which). It stops early, yielding a final zero SendResult with the error,
// when an option is bad, the journal fails or refuses the input
// (ErrJournalMismatch), or the consumer stops ranging (sends in flight
// finish and are journalled first).
//
// Sends follow Send's rules, with these for a run: 45011 (the per-minute
// limit) pauses every sender until quota/get's refresh_second has passed,
// else the next minute, and the refused message is sent again; 45009 (the
// day's quota) stops the run cleanly: the rest are StatusNotAttempted, to
// be resumed tomorrow; 45015 and 45047 are the recipient's own result (and
// call the fallback). A message is journalled before it goes out and after,
// so running the same input with the same journal again resumes the run.
func (c *Client) SendAll(ctx context.Context, msgs iter.Seq[*Message], opts ...BulkOption) iter.Seq2[SendResult, error] {
	return func(yield func(SendResult, error) bool) {
		cfg := &bulkConfig{concurrency: 4, key: defaultKey, now: time.Now, sleep: sleepCtx}
		for _, o := range opts {
			if o == nil {
				continue
			}
			if err := o(cfg); err != nil {
				yield(SendResult{}, err)
				return
			}
		}
		if ctx == nil {
			yield(SendResult{}, errNilContext)
			return
		}
		if cfg.windows == nil {
			cfg.windows = c.windows
		}
		newRun(c, cfg).run(ctx, msgs, yield)
	}
}
