package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/kefu-go/kefu/callback"
	"github.com/redis/go-redis/v9"
)

// DefaultDedupPrefix starts every key a Deduper uses unless WithDedupPrefix
// says otherwise.
const DefaultDedupPrefix = "kefu:callback:"

// Deduper is a callback.Deduper on Redis: instances of a service that
// receive WeChat's callbacks share the messages they claimed, so WeChat's
// retries of a message run the handler once, on whichever instance the
// first one reached. Create it with NewDeduper; it is safe for concurrent
// use.
//
// A claim is one key, the prefix followed by the message's
// callback.Message.DedupKey (kefu:callback:gh_123/m/42), set with SET NX PX
// to this Deduper's owner id (host/pid/random) for the handler's DedupTTL.
// Release deletes the key only while it still holds that id (a Lua script
// compares and deletes), so a Release that comes after the claim expired
// never frees another instance's newer claim. Each key is its own
// operation: a Deduper works with a single node, Sentinel or Cluster.
type Deduper struct {
	rdb    redis.UniversalClient
	prefix string
	owner  string // the value of this Deduper's claims
}

var _ callback.Deduper = (*Deduper)(nil)

// DeduperOption configures NewDeduper.
type DeduperOption func(*Deduper)

// WithDedupPrefix starts every key with prefix instead of "kefu:callback:"
// (the message's key follows it as is: end the prefix with a separator).
// Instances that share claims must use the same prefix.
func WithDedupPrefix(prefix string) DeduperOption {
	return func(d *Deduper) { d.prefix = prefix }
}

// NewDeduper returns a Deduper keeping claims in rdb (a *redis.Client, a
// Sentinel failover client or a *redis.ClusterClient), for
// callback.Config.Dedup. Each instance makes its own; they meet in Redis.
// The Deduper does not close rdb. A nil rdb panics.
//
// The handler waits for Redis before it runs (within its budget of 4.5 s,
// which WeChat's 5 s bound): give rdb short timeouts, as the package doc
// says. When Redis fails, Claim returns the error and the handler runs the
// message anyway (a rare duplicate beats a lost message).
func NewDeduper(rdb redis.UniversalClient, opts ...DeduperOption) *Deduper {
	if rdb == nil {
		panic("redisstore: NewDeduper needs a Redis client")
	}
	d := &Deduper{rdb: rdb, prefix: DefaultDedupPrefix}
	configure(d, opts)
	var id [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand does not fail on Go's platforms
	d.owner = processOwner() + hex.EncodeToString(id[:])
	return d
}

// redisKey is the Redis key of a message's dedup key.
func (d *Deduper) redisKey(key string) string { return d.prefix + key }

// Claim takes key for ttl (rounded up to whole milliseconds) with SET NX
// PX, and reports whether it was free. A Redis failure is an error; a ttl
// <= 0 is an error too, as a claim must expire.
func (d *Deduper) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, errors.New("redisstore: claim " + key + ": the ttl must be above zero")
	}
	ok, err := d.rdb.SetNX(ctx, d.redisKey(key), d.owner, roundMillis(ttl)).Result()
	if err != nil {
		return false, fmt.Errorf("redisstore: claim %s: %w", key, err)
	}
	return ok, nil
}

// Release frees key if this Deduper's claim still holds it; a key that
// expired, or that another instance claimed since, is left alone.
func (d *Deduper) Release(ctx context.Context, key string) error {
	if err := unlockScript.Run(ctx, d.rdb, []string{d.redisKey(key)}, d.owner).Err(); err != nil {
		return fmt.Errorf("redisstore: release %s: %w", key, err)
	}
	return nil
}
