package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/redis/go-redis/v9"
)

// DefaultLimiterPrefix starts the key of every Limiter unless
// WithLimiterPrefix says otherwise.
const DefaultLimiterPrefix = "kefu:limiter:"

// Limiter is a kefu.Limiter on Redis: a token bucket that processes share,
// so that a broadcast run by several processes together (kefu.BulkLimiter,
// with a Journal) sends at the rate given, in all, not at that rate each.
// Create it with NewLimiter; it is safe for concurrent use.
//
// The bucket is one Redis hash, the prefix followed by the limiter's key
// (kefu:limiter:wx1234/send), holding its tokens and when they were last
// counted (Redis's clock, Unix microseconds). Each Wait is one Lua script,
// one round trip: it refills the bucket for the time passed by Redis's own
// clock (TIME), so the processes' clocks need not agree, and takes a
// token, which may not be there yet: the bucket then owes it, and the
// script answers how long until it is due. Wait sleeps that long, on a
// timer that stops with its context (a Wait cancelled gives its token
// back). Tokens so taken in turn, like golang.org/x/time/rate's
// reservations, keep the rate exact however late a waiter's timer fires,
// and waiters do not ask again and again. The key expires once the bucket
// would be full again.
type Limiter struct {
	rdb       redis.UniversalClient
	key       string
	perSecond float64
	burst     int
}

var _ kefu.Limiter = (*Limiter)(nil)

// LimiterOption configures NewLimiter.
type LimiterOption func(*limiterConfig)

type limiterConfig struct {
	prefix string
	burst  int
}

// WithLimiterPrefix starts the bucket's key with prefix instead of
// "kefu:limiter:" (the limiter's key follows it as is: end the prefix with
// a separator). Processes that share a rate must use the same prefix.
func WithLimiterPrefix(prefix string) LimiterOption {
	return func(c *limiterConfig) { c.prefix = prefix }
}

// WithBurst lets the bucket hold n tokens (default 1: no burst), so that
// after a pause up to n sends may go out at once. An n < 1 panics: it is
// a programming error.
func WithBurst(n int) LimiterOption {
	if n < 1 {
		panic("redisstore: WithBurst needs n >= 1")
	}
	return func(c *limiterConfig) { c.burst = n }
}

// NewLimiter returns a Limiter granting perSecond tokens a second, in all,
// to the processes that make one with the same key (and prefix) on rdb (a
// *redis.Client, a Sentinel failover client or a *redis.ClusterClient), for
// kefu.BulkLimiter. All of them should give the same rate and burst: each
// try refills the bucket at the rate of the Limiter that makes it. The
// Limiter does not close rdb. A nil rdb, an empty key or a perSecond that
// is not above 0 panics.
func NewLimiter(rdb redis.UniversalClient, key string, perSecond float64, opts ...LimiterOption) *Limiter {
	if rdb == nil {
		panic("redisstore: NewLimiter needs a Redis client")
	}
	if key == "" {
		panic("redisstore: NewLimiter needs a key")
	}
	if !(perSecond > 0) || math.IsInf(perSecond, 1) {
		panic("redisstore: NewLimiter needs a finite rate above 0")
	}
	c := limiterConfig{prefix: DefaultLimiterPrefix, burst: 1}
	configure(&c, opts)
	return &Limiter{rdb: rdb, key: c.prefix + key, perSecond: perSecond, burst: c.burst}
}

// limiterScript refills the bucket KEYS[1] at ARGV[1] tokens a second up
// to ARGV[2] for the time passed, then adds ARGV[3] tokens to it: -1
// reserves one, +1 gives one back (never above ARGV[2]). A reservation may
// leave the bucket below zero, a token owed, due in wait microseconds. The bucket's time
// is Redis's (TIME, in microseconds: about 2^51 now, exact in a double); a
// bucket whose time is ahead of Redis's (a failover to a server whose
// clock is behind) is counted from now. What the key holds unless it is
// such a bucket counts as a full one. The key lives until the bucket is
// full again, and a second. It answers {wait, now} in microseconds.
var limiterScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate, burst, delta = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local kind = redis.call('TYPE', KEYS[1])
if type(kind) == 'table' then kind = kind.ok end
local tokens, at
if kind == 'hash' then
  local v = redis.call('HMGET', KEYS[1], 'tokens', 'at')
  tokens, at = tonumber(v[1]), tonumber(v[2])
elseif kind ~= 'none' then
  redis.call('DEL', KEYS[1])
end
if not tokens or not at or tokens ~= tokens then tokens, at = burst, now end
if at < now then tokens = tokens + (now - at) * rate / 1000000 end
tokens = math.min(burst, math.min(burst, tokens) + delta)
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'at', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], string.format('%.17g', math.ceil((burst - tokens) * 1000 / rate) + 1000))
local wait = 0
if tokens < 0 then wait = math.ceil(-tokens * 1000000 / rate) end
return {wait, now}
`)

// giveBackTimeout bounds how long a Wait that ends early waits for Redis
// to take its reservation back.
const giveBackTimeout = time.Second

// Wait implements kefu.Limiter: it reserves a token (one Lua script, one
// round trip) and returns nil when the token is due, the context's error
// when ctx ends first (the token is given back), or Redis's error (no
// token was taken: the caller decides whether to go on without one).
func (l *Limiter) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	us, _, err := l.add(ctx, -1)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("redisstore: limiter %s: %w", l.key, err)
	}
	if us <= 0 {
		return nil
	}
	timer := time.NewTimer(time.Duration(us) * time.Microsecond)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		// Give the token back, so that the others need not wait for it
		// (if Redis fails, the run is slower for a moment: no harm).
		back, cancel := context.WithTimeout(context.WithoutCancel(ctx), giveBackTimeout)
		defer cancel()
		_, _, _ = l.add(back, 1)
		return ctx.Err()
	}
}

// add runs limiterScript with delta and returns its answer: the
// microseconds until the token taken is due, and Redis's time then (Unix
// microseconds).
func (l *Limiter) add(ctx context.Context, delta int) (wait, now int64, err error) {
	r, err := limiterScript.Run(ctx, l.rdb, []string{l.key}, strconv.FormatFloat(l.perSecond, 'g', -1, 64), l.burst, delta).Int64Slice()
	if err != nil {
		return 0, 0, err
	}
	if len(r) != 2 {
		return 0, 0, errors.New("unexpected reply from the script")
	}
	return r[0], r[1], nil
}
