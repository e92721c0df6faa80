package kefutest

import (
	"sync"
	"time"
)

// clock is the server's time: real time plus an offset, or a frozen instant.
// Only Advance moves a frozen clock.
type clock struct {
	mu     sync.Mutex
	frozen bool
	at     time.Time     // the time, when frozen
	offset time.Duration // added to real time, when running
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		return c.at
	}
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	if d < 0 {
		panic("kefutest: Advance with a negative duration: the server clock does not go back")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		c.at = c.at.Add(d)
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
func (s *Server) Advance(d time.Duration) { s.clock.advance(d) }
