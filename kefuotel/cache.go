package kefuotel

import "sync"

// maxCached bounds each cache: past it, values are built for each use and
// not kept (a key space larger than kefu's paths, classes and errcodes
// would be a bug, not a reason to grow without end).
const maxCached = 1024

// cache keeps what is the same for every call with the same key (the
// metrics' attribute sets, the spans' names and start options), so that a
// call builds none of them: attribute sets are sorted and hashed, and each
// one is several allocations.
type cache[K comparable, V any] struct {
	mu    sync.RWMutex
	m     map[K]V
	build func(K) V
}

func newCache[K comparable, V any](build func(K) V) *cache[K, V] {
	return &cache[K, V]{m: map[K]V{}, build: build}
}

// get returns k's value, building it the first time.
func (c *cache[K, V]) get(k K) V {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v
	}
	v = c.build(k)
	c.mu.Lock()
	if len(c.m) < maxCached {
		c.m[k] = v
	}
	c.mu.Unlock()
	return v
}
