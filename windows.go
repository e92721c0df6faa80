package kefu

import (
	"context"
	"sync"
	"time"
)

// The window state of one user, and the rules that change it. A
// WindowStore keeps a UserWindows per user and applies WindowOps to it
// atomically; UserWindows.Apply is the rules in Go (the in-memory store and
// any store that can load, apply and save under a lock use it; the Redis
// store runs the same rules in Lua, and a test walks both against kefutest).

// UserWindows is what a WindowStore keeps for one user.
type UserWindows struct {
	// Windows: at most one per Action (Official Accounts), or the one
	// counter of a Mini Program user, in the order they were opened.
	Windows []Window `json:"windows,omitempty"`
	// Until, when set, is when this state is forgotten: it came only from
	// WeChat's answers (45015, 45047), not from actions the tracker saw.
	Until time.Time `json:"until,omitempty"`
}

// Window is one reply window: the action that opened it, when, when it
// closes (sends are accepted strictly before), and the messages left
// (Unlimited for no limit).
type Window struct {
	Action Action    `json:"action"`
	Opened time.Time `json:"opened"`
	Closes time.Time `json:"closes"`
	Left   int       `json:"left"`
}

// WindowOpKind says what a WindowOp does.
type WindowOpKind uint8

// The operations on a user's windows.
const (
	OpPeek     WindowOpKind = iota // read the state
	OpObserve                      // Action happened At: open (or refresh) its window
	OpUnfollow                     // the user unfollowed At: every window closes
	OpRefused                      // WeChat answered 45015 At: every window closes
	OpSpent                        // WeChat answered 45047 At: every open window is used up (an unknown user stays unknown)
	OpReserve                      // take one message At, from the open window that closes first
	OpRelease                      // give back the message a reservation took (Action, Opened)
)

// WindowOp is one operation on a user's windows. The rule numbers travel
// with it, so a store needs no table of its own.
type WindowOp struct {
	Kind        WindowOpKind
	Action      Action     // OpObserve, OpRelease
	Rule        WindowRule // OpObserve: Action's rule
	MiniProgram bool       // OpObserve: Mini Program rules (one counter, not one window per action)
	At          time.Time  // when: the action's time for OpObserve and OpUnfollow, else now
	Opened      time.Time  // OpRelease: the reserved window's Opened
}

// wechatMemory is how long a state learned only from WeChat's answers is
// kept.
const wechatMemory = 60 * time.Second

// WindowOutcome is what Apply did.
type WindowOutcome struct {
	State WindowState
	// Reserved is the window OpReserve charged (Left after the charge); its
	// Action is 0 when none could give a message.
	Reserved Window
}

// WindowState is what the tracker knows of a user's windows at a time.
type WindowState struct {
	// Known is false when the tracker never saw the user (or forgot what
	// WeChat's answers told it): a send goes to WeChat, which decides.
	Known bool
	// Open is true while at least one window has not closed, even with no
	// messages left (WeChat's 45047); false is WeChat's 45015.
	Open bool
	// Remaining is the messages left across the open windows, Unlimited
	// (-1) when one of them has no limit.
	Remaining int
	// Closes is when the last open window closes; with none open, when the
	// last one closed (zero if none ever opened).
	Closes time.Time
}

// forgotten reports whether u is unknown at now: never seen, or known only
// from WeChat's answers for longer than wechatMemory.
func (u *UserWindows) forgotten(now time.Time) bool {
	return u == nil || !u.Until.IsZero() && !now.Before(u.Until)
}

// Apply applies op to u (which may be nil: an unknown user) and returns
// the new state (nil when the user is unknown) and the outcome. u itself is
// not changed.
func (u *UserWindows) Apply(op WindowOp) (*UserWindows, WindowOutcome) {
	if !u.forgotten(op.At) {
		u = u.clone()
	}
	return u.apply(op)
}

// apply is Apply changing u in place (the in-memory store's own state).
func (u *UserWindows) apply(op WindowOp) (*UserWindows, WindowOutcome) {
	if u.forgotten(op.At) {
		u = nil
	}
	var reserved Window
	switch op.Kind {
	case OpObserve:
		u = u.observe(op)
	case OpUnfollow:
		if u != nil {
			u.closeAll(op.At)
		}
	case OpRefused:
		if u == nil {
			u = &UserWindows{}
		}
		u.closeAll(op.At)
		u.Until = op.At.Add(wechatMemory)
	case OpSpent:
		if u != nil { // a user never seen has no window to spend
			u.spendAll(op.At)
			u.Until = op.At.Add(wechatMemory)
		}
	case OpReserve:
		reserved = u.reserve(op.At)
	case OpRelease:
		u.release(op.Action, op.Opened)
	}
	return u, WindowOutcome{State: u.state(op.At), Reserved: reserved}
}

func (u *UserWindows) clone() *UserWindows {
	c := *u
	c.Windows = append([]Window(nil), u.Windows...)
	return &c
}

// observe opens the window of op.Action at op.At: it replaces that action's
// window (a fresh quota), unless that one opened later (an old event
// arriving late changes nothing). Mini Programs keep one counter: the
// larger of what is left and the action's count, until the later of the
// two deadlines. A user known only from WeChat's answers becomes known from
// this action: its Until is cleared.
func (u *UserWindows) observe(op WindowOp) *UserWindows {
	if u == nil {
		u = &UserWindows{}
	}
	u.Until = time.Time{}
	w := Window{Action: op.Action, Opened: op.At, Closes: op.At.Add(op.Rule.For), Left: op.Rule.Messages}
	for i := range u.Windows {
		old := &u.Windows[i]
		if !op.MiniProgram && old.Action != op.Action {
			continue
		}
		if op.At.Before(old.Opened) {
			return u
		}
		if op.MiniProgram && op.At.Before(old.Closes) {
			w.Left = maxLeft(w.Left, old.Left)
			w.Closes = laterOf(w.Closes, old.Closes)
		}
		*old = w
		return u
	}
	u.Windows = append(u.Windows, w)
	return u
}

func maxLeft(a, b int) int {
	if a == Unlimited || b == Unlimited {
		return Unlimited
	}
	return max(a, b)
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// closeAll closes every window still open at.
func (u *UserWindows) closeAll(at time.Time) {
	for i := range u.Windows {
		if at.Before(u.Windows[i].Closes) {
			u.Windows[i].Closes = at
		}
	}
}

// spendAll uses up every window open at.
func (u *UserWindows) spendAll(at time.Time) {
	for i := range u.Windows {
		if at.Before(u.Windows[i].Closes) {
			u.Windows[i].Left = 0
		}
	}
}

// reserve takes one message from the open window with messages left that
// closes first (at one instant: in the order of the Action constants), and
// returns a copy of it; the zero Window when none can give one.
func (u *UserWindows) reserve(now time.Time) Window {
	if u == nil {
		return Window{}
	}
	best := -1
	for i, w := range u.Windows {
		if !now.Before(w.Closes) || w.Left == 0 {
			continue
		}
		if best < 0 || w.Closes.Before(u.Windows[best].Closes) ||
			w.Closes.Equal(u.Windows[best].Closes) && w.Action < u.Windows[best].Action {
			best = i
		}
	}
	if best < 0 {
		return Window{}
	}
	if u.Windows[best].Left > 0 {
		u.Windows[best].Left--
	}
	return u.Windows[best]
}

// release gives back one message to the window a reservation took it from,
// if that window is still the one it was (not replaced since).
func (u *UserWindows) release(a Action, opened time.Time) {
	if u == nil {
		return
	}
	for i := range u.Windows {
		if w := &u.Windows[i]; w.Action == a && w.Opened.Equal(opened) && w.Left >= 0 {
			w.Left++
			return
		}
	}
}

// state summarizes u at now.
func (u *UserWindows) state(now time.Time) WindowState {
	if u == nil {
		return WindowState{}
	}
	s := WindowState{Known: true}
	var lastClosed time.Time
	for _, w := range u.Windows {
		if !now.Before(w.Closes) {
			lastClosed = laterOf(lastClosed, w.Closes)
			continue
		}
		s.Open = true
		s.Closes = laterOf(s.Closes, w.Closes)
		if s.Remaining != Unlimited {
			if w.Left == Unlimited {
				s.Remaining = Unlimited
			} else {
				s.Remaining += w.Left
			}
		}
	}
	if !s.Open {
		s.Closes = lastClosed
	}
	return s
}

// expiry is when u can be dropped: its last window closed and no correction
// holds it; zero for a nil u.
func (u *UserWindows) expiry() time.Time {
	if u == nil {
		return time.Time{}
	}
	end := u.Until
	for _, w := range u.Windows {
		end = laterOf(end, w.Closes)
	}
	return end
}

// WindowStore keeps users' windows for a WindowTracker. Update applies op
// to openID's state atomically (UserWindows.Apply gives the rules) and
// returns the outcome. NewWindowTracker(nil) keeps them in this process's
// memory; redisstore.NewWindowStore shares them between processes.
type WindowStore interface {
	Update(ctx context.Context, openID string, op WindowOp) (WindowOutcome, error)
}

// memoryWindows is the in-memory WindowStore.
type memoryWindows struct {
	mu    sync.Mutex
	users map[string]*UserWindows
	sweep time.Time // when to drop users whose windows all closed, next
}

// keepClosed is how long a user whose windows all closed is remembered (so
// Window can still say when they closed) before the memory is reclaimed.
const keepClosed = 48 * time.Hour

func newMemoryWindows() *memoryWindows {
	return &memoryWindows{users: make(map[string]*UserWindows)}
}

func (m *memoryWindows) Update(_ context.Context, openID string, op WindowOp) (WindowOutcome, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !op.At.Before(m.sweep) {
		for id, u := range m.users {
			if !op.At.Before(u.expiry().Add(keepClosed)) || u.forgotten(op.At) {
				delete(m.users, id)
			}
		}
		m.sweep = op.At.Add(keepClosed)
	}
	u, out := m.users[openID].apply(op)
	if op.Kind != OpPeek {
		if u == nil {
			delete(m.users, openID)
		} else {
			m.users[openID] = u
		}
	}
	return out, nil
}
