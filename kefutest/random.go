package kefutest

import (
	"math/rand/v2"
	"sort"
)

// RandomFaults is a mix of faults that InjectRandom applies at random, call
// by call, to one endpoint path: load tests use it to sprinkle failures over
// thousands of calls without scripting each one.
//
// Each call that no scripted fault (FailNext, DropNext, ...) applies to
// draws exactly one number from Rand: the fault it gets is a function of the
// seed and of the call's rank at the path, so a seeded Rand reproduces the
// same sequence of faults. Which request gets which fault still depends on
// the order in which concurrent requests arrive.
type RandomFaults struct {
	// Rand is the source of randomness, e.g.
	// rand.New(rand.NewPCG(seed1, seed2)). It is used under the server's
	// lock only, so it need not be safe for concurrent use, but must not be
	// used elsewhere meanwhile. Required when any probability is above 0.
	Rand *rand.Rand

	// Fail is the probability that a call answers FailCode without acting,
	// as FailNext does (FailCode -1: WeChat is busy).
	Fail     float64
	FailCode int
	// Drop is the probability that a call acts and then closes the
	// connection unanswered, as DropNext does: the client cannot tell
	// whether the call succeeded.
	Drop float64
	// Status is the probability that a call answers an HTML error page with
	// HTTP status StatusCode (200 to 599) without acting, as StatusNext does.
	Status     float64
	StatusCode int
}

// InjectedFaults counts the random faults InjectRandom applied to a path.
type InjectedFaults struct {
	Calls  int // calls that drew a number (every call not faulted by a script)
	Failed int // calls answered FailCode
	Drops  int // calls acted on, then hung up
	Status int // calls answered an HTML error page
}

// randomMix is the state of one path's InjectRandom.
type randomMix struct {
	f     RandomFaults
	count InjectedFaults
}

// InjectRandom applies the mix f to every later call to path (until
// InjectRandom is called again for path, which replaces the mix and resets
// its counts). Scripted faults queued for path (FailNext, DropNext, ...)
// apply first, also those queued later; a call they fault draws nothing.
// A zero RandomFaults stops random faults on path. Probabilities outside
// [0, 1] or summing above 1, a nil Rand with a probability above 0, and a
// StatusCode outside 200..599 with Status above 0 panic: they are errors in
// the test's set-up.
func (s *Server) InjectRandom(path string, f RandomFaults) {
	total := 0.0
	for _, p := range []float64{f.Fail, f.Drop, f.Status} {
		if !(p >= 0 && p <= 1) {
			panic("kefutest: InjectRandom: probabilities must be in [0, 1]")
		}
		total += p
	}
	if total > 1 {
		panic("kefutest: InjectRandom: probabilities must not sum above 1")
	}
	if total > 0 && f.Rand == nil {
		panic("kefutest: InjectRandom: needs a Rand")
	}
	if f.Status > 0 {
		checkStatus(f.StatusCode)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults[path]
	if n := len(q); n > 0 && q[n-1].kind == faultRandom {
		q = q[:n-1]
	}
	if total > 0 {
		q = append(q, &fault{kind: faultRandom, mix: &randomMix{f: f}})
	}
	if len(q) == 0 {
		delete(s.faults, path)
	} else {
		s.faults[path] = q
	}
}

// Injected returns how many calls to path drew a random fault of each
// kind since the last InjectRandom for path (zero if none is active).
func (s *Server) Injected(path string) InjectedFaults {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.randomMix(path); m != nil {
		return m.count
	}
	return InjectedFaults{}
}

// randomMix returns path's random mix, if any: always the last entry of
// its fault queue. s.mu must be held.
func (s *Server) randomMix(path string) *randomMix {
	q := s.faults[path]
	if n := len(q); n > 0 && q[n-1].kind == faultRandom {
		return q[n-1].mix
	}
	return nil
}

// draw picks the fault for one call from m, or nil for none. s.mu must be
// held.
func (m *randomMix) draw() *fault {
	m.count.Calls++
	x := m.f.Rand.Float64()
	switch {
	case x < m.f.Fail:
		m.count.Failed++
		return &fault{kind: faultFail, code: m.f.FailCode}
	case x < m.f.Fail+m.f.Drop:
		m.count.Drops++
		return &fault{kind: faultDrop}
	case x < m.f.Fail+m.f.Drop+m.f.Status:
		m.count.Status++
		return &fault{kind: faultStatus, status: m.f.StatusCode}
	}
	return nil
}

// IssuedTokens returns every access token the server has issued, classic
// and stable, alive or dead, sorted: tests check with it that no token
// leaked into an error or a log line.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tokens.all))
	for v := range s.tokens.all {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
