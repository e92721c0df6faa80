package redisstore

import (
	"context"
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
// counted (Redis's clock, Unix microseconds). Each try is one Lua script:
// it refills the bucket for the time passed by Redis's own clock (TIME),
// so the processes' clocks need not agree, and either takes a token or
// answers how long until one is there. Wait sleeps that long, on a timer
// that stops with its context, and tries again: every waiter tries when
// the next token is due and one of them gets it, so a try costs a round
// trip and a grant about one try per waiter. The key expires once the
// bucket would be full again.
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
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return &Limiter{rdb: rdb, key: c.prefix + key, perSecond: perSecond, burst: c.burst}
}

// limiterScript tries to take a token from the bucket KEYS[1], refilled
// at ARGV[1] tokens a second up to ARGV[2]: it answers 0 when it took one,
// else the microseconds until one is due. The bucket's time is Redis's
// (TIME, in microseconds: about 2^51 now, exact in a double); a bucket
// whose time is ahead of Redis's (a failover to a server whose clock is
// behind) is counted from now. What the key holds unless it is such a
// bucket counts as a full one.
var limiterScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
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
if at < now then tokens = math.min(burst, tokens + (now - at) * rate / 1000000) end
if tokens < 1 then return math.ceil((1 - tokens) * 1000000 / rate) end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'at', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], string.format('%.17g', math.ceil((burst - tokens) * 1000 / rate) + 1000))
return 0
`)

// Wait implements kefu.Limiter: it returns nil once it took a token, the
// context's error when ctx ends first, or Redis's error (a Wait that fails
// takes no token: the caller decides whether to go on without).
func (l *Limiter) Wait(ctx context.Context) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		us, err := limiterScript.Run(ctx, l.rdb, []string{l.key}, strconv.FormatFloat(l.perSecond, 'g', -1, 64), l.burst).Int64()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("redisstore: limiter %s: %w", l.key, err)
		}
		if us <= 0 {
			return nil
		}
		d := time.Duration(us) * time.Microsecond
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
	}
}
