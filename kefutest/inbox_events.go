package kefutest

import (
	"fmt"
	"net/http"
	"sync"
	"time"
)

// The inbox's live updates: a change counter, and the server-sent events
// stream that tells pages about each change.
//
// Why a broadcast channel rather than a ticker polling the counter: a page
// hears of a change at once (the inbox promises 1 s; a poll would trade that
// against wake-ups of every idle stream), and an idle stream costs nothing
// but a blocked goroutine. The channel is made only while a stream waits, so
// a server without inbox pages pays one uncontended lock per change and
// allocates nothing.

// changes counts the changes the inbox shows and wakes the streams waiting
// for the next one.
type changes struct {
	mu   sync.Mutex
	n    uint64
	wake chan struct{} // closed by the next bump; nil while nobody waits
}

// bump records a change and wakes every waiting stream.
func (c *changes) bump() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if c.wake != nil {
		close(c.wake)
		c.wake = nil
	}
}

// next returns the count so far and a channel closed by the next bump.
func (c *changes) next() (uint64, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wake == nil {
		c.wake = make(chan struct{})
	}
	return c.n, c.wake
}

// changed tells the inbox's pages, if there is an inbox, that what they
// show may have changed.
func (s *Server) changed() {
	if s.cfg.inbox {
		s.changes.bump()
	}
}

// keepAlive is how often an idle stream writes a comment, so that proxies
// and the browser keep the connection.
const keepAlive = 15 * time.Second

// inboxEvents streams "change" events (text/event-stream): one at once, then
// one after each change, and one when a window closes or a typing state ends
// on the server's clock (nothing else marks those moments). It ends when the
// page goes away or the server closes, so Close never waits for a page.
func (s *Server) inboxEvents(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream") // serveInbox set the rest
	rc := http.NewResponseController(w)
	fmt.Fprint(w, "retry: 1000\n\n")
	for {
		n, wake := s.changes.next()
		if _, err := fmt.Fprintf(w, "event: change\ndata: %d\n\n", n); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		if !s.awaitChange(w, rc, r, wake) {
			return
		}
	}
}

// awaitChange waits for wake, or the next deadline on the server's clock,
// writing keep-alive comments meanwhile. It returns false when the stream
// should end.
func (s *Server) awaitChange(w http.ResponseWriter, rc *http.ResponseController, r *http.Request, wake <-chan struct{}) bool {
	for {
		wait := keepAlive
		if d, ok := s.nextDeadline(); ok && d < wait {
			wait = d
		}
		t := time.NewTimer(wait)
		select {
		case <-wake:
			t.Stop()
			return true
		case <-s.closing:
			t.Stop()
			return false
		case <-r.Context().Done():
			t.Stop()
			return false
		case <-t.C:
		}
		if wait < keepAlive {
			return true // a deadline passed: the pages show it
		}
		if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
			return false
		}
	}
}

// nextDeadline returns how long, in real time, until the next window of any
// user closes or typing state ends; false if none is ahead or the clock is
// frozen (then only Advance moves it, and Advance is a change). A little
// slack makes sure the moment has passed when the page asks.
func (s *Server) nextDeadline() (time.Duration, bool) {
	if s.cfg.frozen {
		return 0, false
	}
	now := s.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var next time.Time
	soonest := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, u := range s.users {
		soonest(u.typingUntil)
		for _, w := range u.windows {
			soonest(w.closes)
		}
	}
	if next.IsZero() {
		return 0, false
	}
	return next.Sub(now) + 50*time.Millisecond, true
}
