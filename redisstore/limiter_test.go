package redisstore

import (
	"context"
	"errors"
	"math"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLimiterKeys(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{})
	defer rdb.Close()
	l := NewLimiter(rdb, "wx1/send", 20)
	assert.Equal(t, "kefu:limiter:wx1/send", l.key)
	assert.Equal(t, 1, l.burst)
	l = NewLimiter(rdb, "wx1/send", 20, WithLimiterPrefix("app:"), WithBurst(5), nil)
	assert.Equal(t, "app:wx1/send", l.key)
	assert.Equal(t, 5, l.burst)
	assert.Panics(t, func() { NewLimiter(nil, "k", 1) })
	assert.Panics(t, func() { NewLimiter(rdb, "", 1) })
	for _, r := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		assert.Panics(t, func() { NewLimiter(rdb, "k", r) }, "%v", r)
	}
	assert.Panics(t, func() { WithBurst(0) })
}

// together runs take in g goroutines on each of limiters, over and over
// until d is over, or take returns false.
func together(d time.Duration, g int, limiters []*Limiter, take func(ctx context.Context, l *Limiter) bool) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range limiters {
		for range g {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil && take(ctx, l) {
				}
			}()
		}
	}
	wg.Wait()
}

// grants has g goroutines on each of limiters take tokens with Wait until
// d is over, and returns how many were granted.
func grants(t *testing.T, d time.Duration, g int, limiters ...*Limiter) int {
	var n atomic.Int32
	together(d, g, limiters, func(ctx context.Context, l *Limiter) bool {
		if err := l.Wait(ctx); err != nil {
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			return false
		}
		n.Add(1)
		return true
	})
	return int(n.Load())
}

// TestLimiterSharesTheRate: two Limiters on one key (two processes), 8
// waiters each, at 50 a second for 1.5 s: 50 a second in all, the burst
// of 1 at the start.
func TestLimiterSharesTheRate(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		const rate, d = 50, 1500 * time.Millisecond
		key := randHex(4)
		a := NewLimiter(b.rdb, key, rate, WithLimiterPrefix(b.prefix+":limiter:"))
		c := NewLimiter(b.rdb, key, rate, WithLimiterPrefix(b.prefix+":limiter:"))
		n := grants(t, d, 8, a, c)
		t.Logf("%d grants in %v", n, d)
		assert.LessOrEqual(t, n, 1+int(rate*d.Seconds()), "burst + rate x time")
		assert.GreaterOrEqual(t, n, int(rate*d.Seconds()*0.9), "the rate is used")
	})
}

// schedule has g goroutines on each of limiters reserve tokens, and wait
// for them, until d is over, and returns when each token was due by
// Redis's clock (Unix microseconds), sorted.
func schedule(t *testing.T, d time.Duration, g int, limiters ...*Limiter) []int64 {
	var mu sync.Mutex
	var due []int64
	together(d, g, limiters, func(_ context.Context, l *Limiter) bool {
		wait, now, err := l.add(context.Background(), -1)
		if !assert.NoError(t, err) {
			return false
		}
		mu.Lock()
		due = append(due, now+wait)
		mu.Unlock()
		timer := time.NewTimer(time.Duration(wait) * time.Microsecond)
		<-timer.C // every token taken is awaited: none is given back
		return true
	})
	slices.Sort(due)
	return due
}

// mostInWindow is the most of the sorted times at (microseconds) in any
// window of w microseconds.
func mostInWindow(at []int64, w int64) int {
	most, lo := 0, 0
	for hi := range at {
		for at[hi]-at[lo] >= w {
			lo++
		}
		most = max(most, hi-lo+1)
	}
	return most
}

// TestLimiterSchedule: the tokens that two Limiters on one key hand out,
// 8 waiters each, are due (by Redis's clock, whatever the test's timers
// do) no more than rate x time + burst in any second or 100 ms.
func TestLimiterSchedule(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		for _, burst := range []int{1, 10} {
			const rate = 50
			key := randHex(4)
			a := NewLimiter(b.rdb, key, rate, WithLimiterPrefix(b.prefix+":limiter:"), WithBurst(burst))
			c := NewLimiter(b.rdb, key, rate, WithLimiterPrefix(b.prefix+":limiter:"), WithBurst(burst))
			due := schedule(t, 1500*time.Millisecond, 8, a, c)
			most := mostInWindow(due, 1e6)
			t.Logf("burst %d: %d tokens, at most %d due in a second", burst, len(due), most)
			assert.LessOrEqual(t, most, rate+burst, "burst %d: rate + burst in any second", burst)
			assert.GreaterOrEqual(t, most, rate*9/10, "burst %d: the rate is used", burst)
			assert.LessOrEqual(t, mostInWindow(due, 1e5), rate/10+burst, "burst %d: rate/10 + burst in any 100 ms", burst)
		}
	})
}

// TestLimiterBurst: a full bucket grants its burst at once, then owes.
func TestLimiterBurst(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		l := NewLimiter(b.rdb, randHex(4), 1, WithLimiterPrefix(b.prefix+":limiter:"), WithBurst(5))
		for i := range 5 {
			wait, _, err := l.add(ctx, -1)
			require.NoError(t, err)
			assert.Zero(t, wait, "token %d: the burst at once", i)
		}
		wait, _, err := l.add(ctx, -1)
		require.NoError(t, err)
		assert.Greater(t, wait, int64(500_000), "then a token a second")
		assert.LessOrEqual(t, wait, int64(1_000_000))
		ttl := b.ttl(l.key)
		assert.Greater(t, ttl, 6*time.Second, "the key lives until the bucket is full again (6 tokens), and a second")
		assert.LessOrEqual(t, ttl, 7*time.Second)
	})
}

// TestLimiterCancel: a Wait for a token due in seconds returns as soon as
// its context ends, and gives the token back.
func TestLimiterCancel(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		l := NewLimiter(b.rdb, randHex(4), 0.2, WithLimiterPrefix(b.prefix+":limiter:"))
		require.NoError(t, l.Wait(context.Background()))
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		assert.ErrorIs(t, l.Wait(ctx), context.DeadlineExceeded)
		assert.Less(t, time.Since(start), time.Second, "the next token is 5 s away")
		tokens, err := b.rdb.HGet(context.Background(), l.key, "tokens").Float64()
		require.NoError(t, err)
		assert.Greater(t, tokens, -0.5, "the token was given back")

		done, stop := context.WithCancel(context.Background())
		stop()
		assert.ErrorIs(t, l.Wait(done), context.Canceled, "an ended context: no try")
	})
}

// TestLimiterBadKey: what the key holds unless a bucket counts as a full
// one, and is replaced.
func TestLimiterBadKey(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		l := NewLimiter(b.rdb, randHex(4), 1, WithLimiterPrefix(b.prefix+":limiter:"))
		require.NoError(t, b.rdb.Set(ctx, l.key, "x", 0).Err())
		require.NoError(t, l.Wait(ctx))
		require.NoError(t, b.rdb.HSet(ctx, l.key, "tokens", "many", "at", "now").Err())
		require.NoError(t, l.Wait(ctx))
		v, err := b.rdb.HGetAll(ctx, l.key).Result()
		require.NoError(t, err)
		assert.Equal(t, "0", v["tokens"])
	})
}

// TestLimiterRedisDown: Wait fails with Redis's error, at once.
func TestLimiterRedisDown(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379", MaxRetries: -1, DialerRetries: 1,
		Dialer: func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("connection refused") }})
	defer rdb.Close()
	err := NewLimiter(rdb, "wx1/send", 10).Wait(context.Background())
	assert.ErrorContains(t, err, "redisstore: limiter kefu:limiter:wx1/send: ")
	assert.ErrorContains(t, err, "connection refused")
}
