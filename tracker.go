package kefu

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// WindowTracker knows, from the user actions it is told about (Observe; the
// callback handler feeds it), which users have an open reply window and how
// many messages are left, so that a Client given it (WithWindows) refuses
// locally what WeChat would refuse with 45015 or 45047, without spending a
// call. WeChat's own answers correct it. It is safe for concurrent use.
//
// A tracker with the in-memory store serves one process: it knows only the
// callbacks this process received. Several instances share one Redis store
// (redisstore.NewWindowStore) so that each sees every user's windows and
// spends their quota once.
type WindowTracker struct {
	store       WindowStore
	now         func() time.Time
	miniProgram bool
	log         *slog.Logger
	warned      sync.Once // the store failed: logged once
}

// TrackerOption configures NewWindowTracker.
type TrackerOption func(*WindowTracker)

// WithTrackerClock sets the tracker's clock (default time.Now). Windows
// follow WeChat's clock: a test passes the fake server's (srv.Now).
func WithTrackerClock(now func() time.Time) TrackerOption {
	return func(t *WindowTracker) {
		if now != nil {
			t.now = now
		}
	}
}

// WithMiniProgramRules makes the tracker count as WeChat does for Mini
// Programs: one counter per user, which an action sets to the larger of
// what is left and the action's count, with the later of the two
// deadlines ("条数不累加"), instead of one window per action.
func WithMiniProgramRules() TrackerOption {
	return func(t *WindowTracker) { t.miniProgram = true }
}

// WithTrackerLogger sets where the tracker says that its store failed (once;
// sends then go to WeChat as if there were no tracker). Default: nowhere.
func WithTrackerLogger(l *slog.Logger) TrackerOption {
	return func(t *WindowTracker) { t.log = l }
}

// NewWindowTracker returns a tracker keeping its windows in store, or in
// this process's memory when store is nil.
func NewWindowTracker(store WindowStore, opts ...TrackerOption) *WindowTracker {
	t := &WindowTracker{store: store, now: time.Now}
	if store == nil {
		t.store = newMemoryWindows()
	}
	for _, o := range opts {
		if o != nil {
			o(t)
		}
	}
	return t
}

// Observe records that openID did a at WeChat's time at (a callback's
// CreateTime): it opens that action's window, replacing an older one of the
// same action with a fresh quota. An action older than the window it would
// replace changes nothing. ActionPayment is not a callback: report it
// yourself with the payment's time.
func (t *WindowTracker) Observe(ctx context.Context, openID string, a Action, at time.Time) error {
	rule, ok := a.Rule()
	if !ok {
		return &ValidationError{Field: "action", Rule: "unknown " + a.String()}
	}
	if openID == "" {
		return &ValidationError{Field: "openid", Rule: "required"}
	}
	_, err := t.store.Update(ctx, openID, WindowOp{Kind: OpObserve, Action: a, Rule: rule, MiniProgram: t.miniProgram, At: at})
	return err
}

// Unfollow records that openID unfollowed the account at at: every window
// of the user closes. The callback handler calls it on "unsubscribe".
func (t *WindowTracker) Unfollow(ctx context.Context, openID string, at time.Time) error {
	if openID == "" {
		return &ValidationError{Field: "openid", Rule: "required"}
	}
	_, err := t.store.Update(ctx, openID, WindowOp{Kind: OpUnfollow, At: at})
	return err
}

// Window returns what the tracker knows of openID's windows now.
func (t *WindowTracker) Window(ctx context.Context, openID string) (WindowState, error) {
	out, err := t.store.Update(ctx, openID, WindowOp{Kind: OpPeek, At: t.now()})
	return out.State, err
}

// WindowError is a send the tracker refused locally, without calling
// WeChat: the user has no open window (it matches ErrOutsideWindow) or no
// message left in the open ones (ErrQuotaExceeded).
type WindowError struct {
	OpenID string
	// State is what the tracker knew; State.Closes is when the last
	// window closed (outside) or closes (quota used up).
	State WindowState
}

// Error says which, for whom, and that it was decided locally.
func (e *WindowError) Error() string {
	if e.State.Open {
		return "kefu: send to " + e.OpenID + " refused locally by the window tracker: reply quota used up (45047) until " + e.State.Closes.UTC().Format(time.RFC3339)
	}
	msg := "kefu: send to " + e.OpenID + " refused locally by the window tracker: outside the reply window (45015)"
	if !e.State.Closes.IsZero() {
		msg += ", closed " + e.State.Closes.UTC().Format(time.RFC3339)
	}
	return msg
}

// Is matches ErrQuotaExceeded when a window is open, else ErrOutsideWindow.
func (e *WindowError) Is(target error) bool {
	if e.State.Open {
		return target == ErrQuotaExceeded
	}
	return target == ErrOutsideWindow
}

// reservation is one message taken from a window before a send.
type reservation struct {
	openID string
	window Window // Action 0: nothing taken (an unknown user, or the store failed)
}

// reserve takes a message for a send to openID, or refuses it (a non-nil
// *WindowError). A failing store lets the send go out (logged once).
func (t *WindowTracker) reserve(ctx context.Context, openID string) (reservation, *WindowError) {
	out, err := t.store.Update(ctx, openID, WindowOp{Kind: OpReserve, At: t.now()})
	if err != nil {
		t.storeFailed(err)
		return reservation{}, nil
	}
	if out.Reserved.Action != 0 || !out.State.Known {
		return reservation{openID: openID, window: out.Reserved}, nil
	}
	return reservation{}, &WindowError{OpenID: openID, State: out.State}
}

// settle finishes a reserved send with its outcome: a send that surely
// failed gives the message back; 45015 and 45047 correct the tracker.
func (t *WindowTracker) settle(ctx context.Context, r reservation, sendErr error) {
	var op WindowOp
	switch {
	case sendErr == nil, errors.Is(sendErr, ErrDeliveryUnknown):
		return // delivered, or may have been: the message stays spent
	case errors.Is(sendErr, ErrOutsideWindow):
		op = WindowOp{Kind: OpRefused, At: t.now()}
	case errors.Is(sendErr, ErrQuotaExceeded):
		op = WindowOp{Kind: OpSpent, At: t.now()}
	case r.window.Action != 0:
		op = WindowOp{Kind: OpRelease, Action: r.window.Action, Opened: r.window.Opened, At: t.now()}
	default:
		return
	}
	// The send's context may have ended; the correction must still land.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := t.store.Update(ctx, r.openID, op); err != nil {
		t.storeFailed(err)
	}
}

func (t *WindowTracker) storeFailed(err error) {
	t.warned.Do(func() {
		if t.log != nil {
			t.log.Error("kefu: window store failed; sending without the tracker", "err", err)
		}
	})
}

// WithWindows makes NewClient's Send consult t before each message: a user
// t knows has no open window or no message left is refused at once with a
// *WindowError, without calling WeChat; otherwise one message is reserved,
// given back when the send surely failed, and WeChat's 45015 and 45047
// correct t. An unknown user is sent to as without a tracker. Ignored by
// NewTokenSource.
func WithWindows(t *WindowTracker) Option {
	return set(func(s *settings) { s.windows = t })
}
