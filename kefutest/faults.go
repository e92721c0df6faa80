package kefutest

import (
	"net/http"
	"time"
)

// faultKind is what a scripted fault does to a call.
type faultKind uint8

const (
	faultFail   faultKind = iota // answer an errcode, without acting
	faultStatus                  // answer an HTML page with a status, without acting
	faultRaw                     // answer given bytes, without acting
	faultDrop                    // act, then close the connection unanswered
	faultDelay                   // act, then answer late
	faultRandom                  // draw one of the above from a RandomFaults mix; never used up
)

// fault is one entry of a path's fault queue: it applies to the next left calls.
type fault struct {
	kind   faultKind
	left   int
	code   int
	status int
	body   []byte
	delay  time.Duration
	mix    *randomMix // faultRandom's mix
}

// acts reports whether the call is carried out before the fault applies.
func (f *fault) acts() bool { return f.kind == faultDrop || f.kind == faultDelay }

// reply is the answer of a fault that does not act.
func (f *fault) reply() reply {
	switch f.kind {
	case faultStatus:
		return htmlReply(f.status)
	case faultRaw:
		return reply{status: f.status, contentType: contentJSON, body: f.body}
	}
	return errReply(f.code)
}

// FailNext makes the next n calls to path answer errcode with its real
// errmsg (and a rid), without acting: nothing is sent, no token issued.
// Errcode -1 ("system error") is what WeChat answers when busy; errcode 0
// answers success while doing nothing.
func (s *Server) FailNext(path string, n, errcode int) {
	s.addFault(path, n, fault{kind: faultFail, code: errcode}, 0)
}

// DropNext makes the next n calls to path act (a message is delivered and
// recorded, its quota used; a token is issued) and then close the connection
// without answering: the client cannot tell whether the call succeeded.
// Go's transport resends an idempotent request (GET, so PathToken) once by
// itself when a reused keep-alive connection closes unanswered: Calls then
// counts the resend too, and the client sees its answer.
func (s *Server) DropNext(path string, n int) {
	s.addFault(path, n, fault{kind: faultDrop}, 0)
}

// StatusNext makes the next n calls to path answer an HTML error page (as a
// proxy in front of WeChat would) with HTTP status (200 to 599), without
// acting.
func (s *Server) StatusNext(path string, n, status int) {
	checkStatus(status)
	s.addFault(path, n, fault{kind: faultStatus, status: status}, 0)
}

// RawNext makes the next n calls to path answer body as is, with HTTP
// status (200 to 599) and Content-Type "application/json; charset=utf-8",
// without acting: for tests of garbled, truncated or oddly shaped answers.
func (s *Server) RawNext(path string, n, status int, body []byte) {
	checkStatus(status)
	s.addFault(path, n, fault{kind: faultRaw, status: status, body: append([]byte(nil), body...)}, 0)
}

// DelayNext makes the next n calls to path act on arrival and hold the
// answer for d of real time. The hold ends early when the client gives up
// (its context ends, and no answer is sent) or when the server closes (the
// answer is sent).
func (s *Server) DelayNext(path string, n int, d time.Duration) {
	s.addFault(path, n, fault{kind: faultDelay, delay: d}, 0)
}

func checkStatus(status int) {
	if status < http.StatusOK || status > 599 {
		panic("kefutest: HTTP status must be 200 to 599")
	}
}

// addFault queues f for the next n calls to path, after the faults already
// queued there, and reports whether it did: not when limit > 0 and limit
// faults are queued there already. n == 0 queues nothing; a negative n
// panics.
func (s *Server) addFault(path string, n int, f fault, limit int) bool {
	if n < 0 {
		panic("kefutest: a fault needs n >= 0 calls")
	}
	if n == 0 {
		return true
	}
	f.left = n
	s.mu.Lock()
	defer s.mu.Unlock()
	if limit > 0 && len(s.faults[path]) >= limit {
		return false
	}
	q := append(s.faults[path], &f)
	if last := len(q) - 1; last > 0 && q[last-1].kind == faultRandom {
		q[last-1], q[last] = q[last], q[last-1] // InjectRandom's mix stays last
	}
	s.faults[path] = q
	return true
}

// arrive counts a call to path, if the server knows it (see Calls), and
// takes the fault that applies to it, if any.
func (s *Server) arrive(path string) *fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if known(path) {
		s.calls[path]++
	}
	q := s.faults[path]
	if len(q) == 0 {
		return nil
	}
	if q[0].kind == faultRandom {
		return q[0].mix.draw()
	}
	f := *q[0]
	if q[0].left--; q[0].left == 0 {
		q[0] = nil
		if q = q[1:]; len(q) == 0 {
			delete(s.faults, path)
		} else {
			s.faults[path] = q
		}
	}
	return &f
}
