package kefutest

import (
	"math"
	"sync"
	"time"
)

// maxOffset is the most the clock is ever advanced in all: what a
// time.Duration holds, about 292 years.
const maxOffset = time.Duration(math.MaxInt64)

// clock is the server's time: a base, real time or a frozen instant, plus
// the sum of every Advance. The sum saturates at maxOffset, so the clock
// never goes back and never overflows.
type clock struct {
	mu     sync.Mutex
	frozen bool
	at     time.Time     // the base, when frozen
	offset time.Duration // every Advance so far, at most maxOffset
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	base := c.at
	if !c.frozen {
		base = time.Now()
	}
	return base.Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	if d < 0 {
		panic("kefutest: Advance with a negative duration: the server clock does not go back")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > maxOffset-c.offset {
		c.offset = maxOffset
	} else {
		c.offset += d
	}
}

// Now returns the server's time: real time moved on by every Advance, or,
// under WithFrozenClock, the frozen instant moved on by every Advance.
func (s *Server) Now() time.Time { return s.clock.now() }

// Advance moves the server's clock forward by d (d >= 0; a negative d
// panics). Windows close, tokens expire and typing states end as if d had
// passed; clients are not affected, so a client's cached token may now be
// expired on the server (42001).
//
// The clock moves on by at most math.MaxInt64 nanoseconds (about 292 years)
// in all, the most a time.Duration holds: an Advance past that stops the
// clock's lead there, so Now is real time plus that lead, or the frozen
// instant plus it, and never goes back.
func (s *Server) Advance(d time.Duration) {
	s.clock.advance(d)
	s.changed()
}
