package kefutest

import (
	"time"

	"github.com/kefu-go/kefu"
)

// Action is a user action that opens a reply window: kefu's Action, whose
// Rule gives the messages and the time each allows.
type Action = kefu.Action

// The actions that open a window, with what each allows (as of 2023; kefu's
// window rules):
const (
	UserMessage  = kefu.ActionUserMessage  // the user sent a message: 5 messages in 48 h
	MenuClick    = kefu.ActionMenuClick    // the user clicked a menu (or a msgmenu item): 3 messages in 1 min
	Follow       = kefu.ActionFollow       // the user followed the account: 3 messages in 1 min
	Scan         = kefu.ActionScan         // the user scanned a QR code: 3 messages in 1 min
	Payment      = kefu.ActionPayment      // a payment succeeded: unlimited messages in 48 h
	EnterSession = kefu.ActionEnterSession // a Mini Program user entered the chat: 2 messages in 1 min
)

// newWindow returns the window that a, occurring at now, opens. An unknown
// Action panics.
func newWindow(a Action, now time.Time) *window {
	rule, ok := a.Rule()
	if !ok {
		panic("kefutest: unknown " + a.String())
	}
	return &window{closes: now.Add(rule.For), left: rule.Messages}
}

// window is the reply window one action opened.
type window struct {
	closes time.Time
	left   int // messages left; kefu.Unlimited (< 0) for no limit
}

func (w *window) open(now time.Time) bool { return now.Before(w.closes) }
func (w *window) hasQuota() bool          { return w.left != 0 }

// user is one OpenID of the account.
type user struct {
	following    bool
	windows      map[Action]*window // one per action: the latest one's
	lastExchange time.Time          // the last user action or message sent
	typingUntil  time.Time          // end of the typing state
	conv         []entry            // pushes, messages sent and replies, in order
	refused      int                // the EntryRefused entries in conv, at most maxRefused
}

// user returns the user with openID, registering it if new. s.mu must be held.
func (s *Server) user(openID string) *user {
	if openID == "" {
		panic("kefutest: empty openID")
	}
	u := s.users[openID]
	if u == nil {
		u = &user{windows: make(map[Action]*window)}
		s.users[openID] = u
	}
	return u
}

// AddUser makes openID a follower of the account (again, if it unfollowed).
// A follower without a window cannot be sent anything (45015) until
// Interact.
func (s *Server) AddUser(openID string) {
	defer s.changed()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user(openID).following = true
}

// Interact records that the user openID did a now (on the server's clock):
// the user becomes a follower if needed, and a's window opens with a fresh
// quota, replacing the window a previous a opened. The other actions'
// windows stay as they are. It also counts as a message exchange for Typing.
// An unknown Action panics.
func (s *Server) Interact(openID string, a Action) {
	now := s.Now()
	if _, ok := a.Rule(); !ok {
		panic("kefutest: unknown " + a.String())
	}
	defer s.changed()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user(openID).interact(a, now, s.cfg.miniProgram)
}

// interact records that u did a now: u follows, and a's window opens. A
// Mini Program user has one counter instead ("条数不累加"): the action sets
// it to the larger of what is left and its count, with the later of the
// two deadlines, and it is kept under the action that set it last.
func (u *user) interact(a Action, now time.Time, miniProgram bool) {
	u.following = true
	w := newWindow(a, now)
	if miniProgram {
		for old, ow := range u.windows {
			if ow.open(now) {
				w.left = moreLeft(w.left, ow.left)
				if ow.closes.After(w.closes) {
					w.closes = ow.closes
				}
			}
			delete(u.windows, old)
		}
	}
	u.windows[a] = w
	u.lastExchange = now
}

// moreLeft is the larger of two message counts, Unlimited being largest.
func moreLeft(a, b int) int {
	if a == kefu.Unlimited || b == kefu.Unlimited {
		return kefu.Unlimited
	}
	return max(a, b)
}

// Unfollow makes openID stop following the account (registering it if
// new): sends and Typing answer 45015, and its windows close. Interact or
// AddUser makes it a follower again.
func (s *Server) Unfollow(openID string) {
	defer s.changed()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user(openID).unfollow()
}

// unfollow makes u stop following: its windows close, typing ends.
func (u *user) unfollow() {
	u.following = false
	clear(u.windows)
	u.typingUntil = time.Time{}
}

// ActionWindow describes the window one action opened for a user (Window).
// Windows gives all of a user's windows at once, as kefu.WindowState.
type ActionWindow struct {
	Open   bool      // the window has not closed yet
	Closes time.Time // when it closes (server time); zero if never opened
	Left   int       // messages left; kefu.Unlimited (-1) for no limit (Payment)
}

// Window returns the state of the window that action a opened for openID
// (the zero ActionWindow if none did). A Mini Program user's one counter
// (WithMiniProgram) is under the action that set it last.
func (s *Server) Window(openID string, a Action) ActionWindow {
	now := s.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[openID]
	if !ok {
		return ActionWindow{}
	}
	w, ok := u.windows[a]
	if !ok {
		return ActionWindow{}
	}
	return ActionWindow{Open: w.open(now), Closes: w.closes, Left: w.left}
}

// Typing reports whether the account is shown typing to openID now.
func (s *Server) Typing(openID string) bool {
	now := s.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[openID]
	return ok && now.Before(u.typingUntil)
}

// Messages returns the messages the user openID was shown, oldest first:
// each message the send endpoint accepted (its request body as a
// kefu.Message), and each passive reply to a push (Push, Say...) in the
// same shape. Messages delivered by a call that DropNext or DelayNext
// disturbed are included. Conversation tells sent messages from passive
// replies. The result is the caller's to change.
func (s *Server) Messages(openID string) []kefu.Message {
	msgs, _ := s.messages(openID)
	return msgs
}

// messages returns Messages, and for each whether it was a passive reply.
func (s *Server) messages(openID string) ([]kefu.Message, []bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[openID]
	if !ok {
		return nil, nil
	}
	var (
		out     []kefu.Message
		passive []bool
	)
	for _, e := range u.conv {
		if e.kind != EntrySent && e.kind != EntryPassive {
			continue
		}
		out = append(out, *e.message())
		passive = append(passive, e.kind == EntryPassive)
	}
	return out, passive
}

// pick returns the window a message to u at now uses: among the open
// windows with quota left, the one that closes first. Otherwise it returns
// 45015 (no open window) or 45047 (the open ones are used up). Windows
// closing at the same instant are used in the order of the Action constants.
func (u *user) pick(now time.Time) (*window, int) {
	var best *window
	anyOpen := false
	for _, a := range kefu.Actions() {
		w := u.windows[a]
		if w == nil || !w.open(now) {
			continue
		}
		anyOpen = true
		if w.hasQuota() && (best == nil || w.closes.Before(best.closes)) {
			best = w
		}
	}
	switch {
	case best != nil:
		return best, 0
	case anyOpen:
		return nil, 45047
	}
	return nil, 45015
}

// anyOpen reports whether a window of u is open at now.
func (u *user) anyOpen(now time.Time) bool {
	for _, w := range u.windows {
		if w.open(now) {
			return true
		}
	}
	return false
}

// Windows returns the fake's own view of openID's windows in the terms of
// kefu's WindowTracker: Known when the user exists, Open while a window is
// open, Remaining the messages left across the open ones (kefu.Unlimited
// when one has no limit), Closes when the last open one closes (or the last
// one closed; an unfollow clears them, leaving zero).
func (s *Server) Windows(openID string) kefu.WindowState {
	now := s.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[openID]
	if !ok {
		return kefu.WindowState{}
	}
	st := kefu.WindowState{Known: true}
	var lastClosed time.Time
	for _, w := range u.windows {
		if !w.open(now) {
			if w.closes.After(lastClosed) {
				lastClosed = w.closes
			}
			continue
		}
		st.Open = true
		if w.closes.After(st.Closes) {
			st.Closes = w.closes
		}
		switch {
		case st.Remaining == kefu.Unlimited:
		case w.left == kefu.Unlimited:
			st.Remaining = kefu.Unlimited
		default:
			st.Remaining += w.left
		}
	}
	if !st.Open {
		st.Closes = lastClosed
	}
	return st
}
