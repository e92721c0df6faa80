package callback

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Deduper claims a message's key for a while, so that WeChat's retries of it
// reach the handler once even when they land on different instances. The
// Redis one is redisstore.NewDeduper; NewMemoryDeduper shares keys between
// handlers of one process.
type Deduper interface {
	// Claim takes key for ttl and reports whether it was free. A false
	// answer means another instance is handling (or has handled) the
	// message: the handler answers "success" without running.
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Release frees key, after the handler failed, so a retry runs it again.
	Release(ctx context.Context, key string) error
}

// MemoryDeduper is a Deduper in this process's memory.
type MemoryDeduper struct {
	now  func() time.Time
	mu   sync.Mutex
	keys map[string]time.Time // key -> when its claim ends
	next time.Time            // when to sweep expired keys next
}

// NewMemoryDeduper returns an empty MemoryDeduper that tells time with now
// (time.Now when nil).
func NewMemoryDeduper(now func() time.Time) *MemoryDeduper {
	if now == nil {
		now = time.Now
	}
	return &MemoryDeduper{now: now, keys: make(map[string]time.Time)}
}

// Claim implements Deduper.
func (d *MemoryDeduper) Claim(_ context.Context, key string, ttl time.Duration) (bool, error) {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	sweep(d.keys, now, &d.next, ttl, func(end time.Time) bool { return !now.Before(end) })
	if end, ok := d.keys[key]; ok && now.Before(end) {
		return false, nil
	}
	d.keys[key] = now.Add(ttl)
	return true, nil
}

// Release implements Deduper.
func (d *MemoryDeduper) Release(_ context.Context, key string) error {
	d.mu.Lock()
	delete(d.keys, key)
	d.mu.Unlock()
	return nil
}

// A flight is one message's handling in this process: WeChat's retries that
// arrive while it runs wait for it, and those that arrive after it finished
// (within the key's life) get its reply.
type flight struct {
	done    chan struct{} // closed when the handler returned or gave up
	reply   Reply         // after done, when !failed: nil means "success"
	failed  bool          // the handler failed: waiters try again
	ended   bool          // done is closed (under flights.mu)
	expires time.Time     // when a finished flight is forgotten
	state   atomic.Int32  // running, inTime or gaveUp: who settles the leader's answer
	mu      sync.Mutex    // held by giveUp while it writes "success"
}

// awaitGiveUp returns once giveUp, which holds f.mu while it writes
// "success", is done with the ResponseWriter.
func (f *flight) awaitGiveUp() {
	f.mu.Lock()
	defer f.mu.Unlock()
}

// flights is the in-process map of flights by dedup key.
type flights struct {
	mu   sync.Mutex
	m    map[string]*flight
	ttl  time.Duration
	next time.Time // when to sweep finished flights next
}

// join returns the flight for key, and true when the caller leads it (runs
// the handler and must call end).
func (fs *flights) join(key string, now time.Time) (*flight, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.m == nil {
		fs.m = make(map[string]*flight)
	}
	sweep(fs.m, now, &fs.next, fs.ttl, func(f *flight) bool { return f.ended && !now.Before(f.expires) })
	if f, ok := fs.m[key]; ok && (!f.ended || now.Before(f.expires)) {
		return f, false
	}
	f := &flight{done: make(chan struct{})}
	fs.m[key] = f
	return f, true
}

// end finishes a flight: with its reply, or failed (forgotten at once, so a
// waiter or a later retry runs the handler again).
func (fs *flights) end(key string, f *flight, reply Reply, failed bool, now time.Time) {
	fs.mu.Lock()
	f.reply, f.failed, f.ended = reply, failed, true
	f.expires = now.Add(fs.ttl)
	if failed && fs.m[key] == f {
		delete(fs.m, key)
	}
	fs.mu.Unlock()
	close(f.done)
}

// nonces remembers each signed (timestamp, nonce) pair's body digest for
// MaxAge, so a plain-mode request's signature cannot be replayed with
// another body (plain mode signs the query, not the body).
type nonces struct {
	mu   sync.Mutex
	m    map[string]nonceEntry
	next time.Time
}

type nonceEntry struct {
	digest  [20]byte
	expires time.Time
}

// admit reports whether the body with this digest may use the pair: the
// first body seen with it, or the same body again (WeChat's retry).
func (n *nonces) admit(key string, digest [20]byte, now time.Time, life time.Duration) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m == nil {
		n.m = make(map[string]nonceEntry)
	}
	sweep(n.m, now, &n.next, life, func(e nonceEntry) bool { return !now.Before(e.expires) })
	if e, ok := n.m[key]; ok && now.Before(e.expires) {
		return e.digest == digest
	}
	n.m[key] = nonceEntry{digest: digest, expires: now.Add(life)}
	return true
}

// sweep deletes m's expired entries when now has reached *next, and sets
// the next sweep every from now: the maps here are kept small without a
// goroutine or a timer.
func sweep[V any](m map[string]V, now time.Time, next *time.Time, every time.Duration, expired func(V) bool) {
	if now.Before(*next) {
		return
	}
	for k, v := range m {
		if expired(v) {
			delete(m, k)
		}
	}
	*next = now.Add(every)
}
