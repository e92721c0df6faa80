package redisstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/kefu-go/kefu"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// backend is a Redis the TokenStore semantics tests run against.
type backend struct {
	rdb    redis.UniversalClient
	prefix string
	mini   bool // miniredis: slow Lua (each EVALSHA compiles the script again)
	// ttl returns a key's remaining life (-1 none, -2 no key).
	ttl func(key string) time.Duration
}

// eachBackend runs f against miniredis (always) and the real Redis of
// KEFU_REDIS_ADDR, which TestMain may have started (skipped without one,
// failing under CI).
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Run("miniredis", func(t *testing.T) {
		t.Parallel()
		mr := miniredis.RunT(t)
		rdb := newRedis(t, mr.Addr())
		f(t, backend{rdb: rdb, prefix: "kefu", mini: true, ttl: func(key string) time.Duration {
			if !mr.Exists(key) {
				return -2 // as Redis says
			}
			return mr.TTL(key)
		}})
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		rdb, prefix := realRedis(t)
		f(t, backend{rdb: rdb, prefix: prefix, ttl: func(key string) time.Duration {
			d, err := rdb.PTTL(context.Background(), key).Result()
			require.NoError(t, err)
			return d
		}})
	})
}

// winners runs try in n goroutines that start at once and counts those it
// reported true for; an error fails the test.
func winners(t *testing.T, n int, try func() (bool, error)) int {
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := try()
			assert.NoError(t, err)
			if ok {
				wins.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	return int(wins.Load())
}

func sharedToken(v string, life time.Duration) kefu.SharedToken {
	now := time.Now()
	return kefu.SharedToken{Value: v, RefreshAt: now.Add(life - 5*time.Minute), ExpiresAt: now.Add(life)}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{})
	defer rdb.Close()
	s := NewTokenStore(rdb)
	last, count := s.forceKeys("wxAPPID/stable", "2026-11-27")
	assert.Equal(t, []string{"kefu:{wxAPPID/stable}:token", "kefu:{wxAPPID/stable}:lock",
		"kefu:{wxAPPID/stable}:force:last", "kefu:{wxAPPID/stable}:force:2026-11-27"},
		[]string{s.tokenKey("wxAPPID/stable"), s.lockKey("wxAPPID/stable"), last, count})
	assert.Equal(t, "{wx/classic}:token", NewTokenStore(rdb, WithPrefix("")).tokenKey("wx/classic"))
	assert.Equal(t, "app:{wx/classic}:lock", NewTokenStore(rdb, WithPrefix("app")).lockKey("wx/classic"))
	// Every key of one app and kind has one hash tag, hence one Cluster slot,
	// whatever the prefix or the key.
	for _, prefix := range []string{"kefu", "", "my{app}", "a}b"} {
		for _, key := range []string{"wx1/stable", "wx}odd/classic", "wx{odd/stable"} {
			s := NewTokenStore(rdb, WithPrefix(prefix))
			last, count := s.forceKeys(key, "2026-11-27")
			tag := hashTag(s.tokenKey(key))
			for _, k := range []string{s.lockKey(key), last, count} {
				assert.Equal(t, tag, hashTag(k), "prefix %q key %q: %s", prefix, key, k)
			}
		}
	}
	assert.Equal(t, DefaultLockTTL, s.lockTTL)
	assert.Equal(t, time.Second, NewTokenStore(rdb, WithLockTTL(time.Second)).lockTTL)
	assert.Equal(t, 2*time.Millisecond, NewTokenStore(rdb, WithLockTTL(1500*time.Microsecond)).lockTTL, "rounded up to ms")
	assert.Panics(t, func() { WithLockTTL(0) })
	assert.Panics(t, func() { NewTokenStore(nil) })
	assert.Equal(t, int64(1), millis(-time.Hour))
	assert.Equal(t, int64(1), millis(time.Nanosecond))
	assert.Equal(t, int64(1500), millis(1500*time.Millisecond))
	assert.Equal(t, int64(1501), millis(1500*time.Millisecond+1))
}

// hashTag is the part of key Redis Cluster hashes: the first {...} that is
// not empty, else the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// TestCompareAndSwap: a refresh never overwrites a newer token with an
// older one (guarantee 2, on the TokenStore itself).
func TestCompareAndSwap(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := NewTokenStore(b.rdb, WithPrefix(b.prefix))
		const key = "wxcas/stable"
		st, err := s.Load(ctx, key)
		require.NoError(t, err)
		assert.Zero(t, st)

		a := sharedToken("TOKEN_A", 2*time.Hour)
		ok, err := s.CompareAndSwap(ctx, key, "", a)
		require.NoError(t, err)
		require.True(t, ok)
		st, err = s.Load(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, "TOKEN_A", st.Value)
		assert.True(t, a.RefreshAt.Equal(st.RefreshAt), "%v %v", a.RefreshAt, st.RefreshAt)
		assert.True(t, a.ExpiresAt.Equal(st.ExpiresAt))
		// Stored with PX until expires_at.
		assert.InDelta(t, float64(2*time.Hour), float64(b.ttl(s.tokenKey(key))), float64(time.Minute))

		// A process that loaded nothing, or an old token, loses.
		ok, err = s.CompareAndSwap(ctx, key, "", sharedToken("TOKEN_OLDER", time.Hour))
		require.NoError(t, err)
		assert.False(t, ok)
		ok, err = s.CompareAndSwap(ctx, key, "TOKEN_0", sharedToken("TOKEN_OLDER", time.Hour))
		require.NoError(t, err)
		assert.False(t, ok)
		// The holder of the current one wins.
		ok, err = s.CompareAndSwap(ctx, key, "TOKEN_A", sharedToken("TOKEN_B", time.Hour))
		require.NoError(t, err)
		assert.True(t, ok)
		// And the one who refreshed TOKEN_A too, later, loses: TOKEN_B stays.
		ok, err = s.CompareAndSwap(ctx, key, "TOKEN_A", sharedToken("TOKEN_C", 2*time.Hour))
		require.NoError(t, err)
		assert.False(t, ok)
		st, err = s.Load(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, "TOKEN_B", st.Value)
		assert.InDelta(t, float64(time.Hour), float64(b.ttl(s.tokenKey(key))), float64(time.Minute))

		// Many at once with the same old token: exactly one wins.
		var wins atomic.Int64
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.CompareAndSwap(ctx, key, "TOKEN_B", sharedToken(fmt.Sprintf("TOKEN_R%d", i), time.Hour))
				assert.NoError(t, err)
				if ok {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		assert.Equal(t, int64(1), wins.Load())
		st, err = s.Load(ctx, key)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(st.Value, "TOKEN_R"), st.Value)

		// Another key, another app: untouched.
		st, err = s.Load(ctx, "wxcas/classic")
		require.NoError(t, err)
		assert.Zero(t, st)

		// An empty token is refused; an expired one lives 1 ms.
		_, err = s.CompareAndSwap(ctx, "wxcas/classic", "", kefu.SharedToken{})
		assert.Error(t, err)
		ok, err = s.CompareAndSwap(ctx, "wxcas/classic", "", kefu.SharedToken{Value: "DEAD"})
		require.NoError(t, err)
		assert.True(t, ok)
		assert.LessOrEqual(t, b.ttl(s.tokenKey("wxcas/classic")), time.Millisecond)

		// A value that cannot be read counts as none, and is replaced.
		require.NoError(t, b.rdb.Set(ctx, s.tokenKey("wxbad/stable"), "not json", 0).Err())
		st, err = s.Load(ctx, "wxbad/stable")
		require.NoError(t, err)
		assert.Zero(t, st)
		ok, err = s.CompareAndSwap(ctx, "wxbad/stable", "", a)
		require.NoError(t, err)
		assert.True(t, ok)
	})
}

func TestLock(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := NewTokenStore(b.rdb, WithPrefix(b.prefix), WithLockTTL(5*time.Second))
		other := NewTokenStore(b.rdb, WithPrefix(b.prefix))
		const key = "wxlock/stable"
		release, ok, err := s.Lock(ctx, key)
		require.NoError(t, err)
		require.True(t, ok)
		ttl := b.ttl(s.lockKey(key))
		assert.True(t, ttl > 2*time.Second && ttl <= 5*time.Second, "lock TTL %v", ttl)
		owner, err := b.rdb.Get(ctx, s.lockKey(key)).Result()
		require.NoError(t, err)
		assert.Regexp(t, `^.*/\d+/[0-9a-f]{32}$`, owner, "host/pid/random")

		_, ok, err = other.Lock(ctx, key)
		require.NoError(t, err)
		assert.False(t, ok, "held")
		_, ok, err = s.Lock(ctx, key)
		require.NoError(t, err)
		assert.False(t, ok, "held, even for the same TokenStore")
		_, ok, err = s.Lock(ctx, "wxlock/classic")
		require.NoError(t, err)
		assert.True(t, ok, "another key has its own lock")

		release(ctx)
		release2, ok, err := other.Lock(ctx, key)
		require.NoError(t, err)
		require.True(t, ok, "released")

		// A stale holder (its lock expired; simulated here by deleting it)
		// never frees its successor's lock.
		require.NoError(t, b.rdb.Del(ctx, s.lockKey(key)).Err())
		release3, ok, err := s.Lock(ctx, key)
		require.NoError(t, err)
		require.True(t, ok)
		release2(ctx) // other's lock is gone: must not free s's
		release(ctx)  // called twice: harmless
		_, ok, err = other.Lock(ctx, key)
		require.NoError(t, err)
		assert.False(t, ok, "a stale release freed another holder's lock")
		release3(ctx)
		assert.Equal(t, time.Duration(-2), b.ttl(s.lockKey(key)))
	})
}

// TestLockExpires: a lock whose holder never releases it frees itself after
// its TTL (on the real server's clock), and not before.
func TestLockExpires(t *testing.T) {
	t.Parallel()
	rdb, prefix := realRedis(t)
	ctx := context.Background()
	const ttl = 200 * time.Millisecond
	s := NewTokenStore(rdb, WithPrefix(prefix), WithLockTTL(ttl))
	start := time.Now()
	_, ok, err := s.Lock(ctx, "wx/stable")
	require.NoError(t, err)
	require.True(t, ok)
	require.Eventually(t, func() bool {
		_, ok, err := s.Lock(ctx, "wx/stable")
		return err == nil && ok
	}, 5*time.Second, 5*time.Millisecond)
	assert.GreaterOrEqual(t, time.Since(start), ttl-20*time.Millisecond, "taken again before the TTL")
}

// TestReserveForceRefresh: force_refresh is spaced and counted per day in
// Redis, for every process at once (guarantee 3, on the TokenStore itself).
func TestReserveForceRefresh(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		procs := []*TokenStore{NewTokenStore(b.rdb, WithPrefix(b.prefix)), NewTokenStore(b.rdb, WithPrefix(b.prefix)), NewTokenStore(b.rdb, WithPrefix(b.prefix))}
		s := procs[0]
		const key, day = "wxforce/stable", "2026-11-27"
		last, count := s.forceKeys(key, day)
		reserve := func(s *TokenStore, day string, spacing time.Duration, perDay int) bool {
			ok, err := s.ReserveForceRefresh(ctx, key, day, spacing, perDay)
			require.NoError(t, err)
			return ok
		}

		before := time.Now().UnixMilli()
		assert.True(t, reserve(procs[0], day, 30*time.Second, 3))
		at, err := b.rdb.Get(ctx, last).Int64()
		require.NoError(t, err)
		assert.InDelta(t, before, at, 5000, "the time of the last force_refresh, Unix ms")
		for _, k := range []string{last, count} {
			ttl := b.ttl(k)
			assert.True(t, ttl > 47*time.Hour && ttl <= 48*time.Hour, "%s TTL %v", k, ttl)
		}
		// Within the spacing: no, whichever process asks.
		for _, p := range procs {
			assert.False(t, reserve(p, day, 30*time.Second, 3))
		}
		// The spacing passes (simulated by moving the last one back).
		back := func() { require.NoError(t, b.rdb.DecrBy(ctx, last, 31_000).Err()) }
		back()
		assert.True(t, reserve(procs[1], day, 30*time.Second, 3))
		assert.False(t, reserve(procs[1], day, 30*time.Second, 3))
		back()
		assert.True(t, reserve(procs[2], day, 30*time.Second, 3))
		back()
		// The day's budget is spent, for every process.
		for _, p := range procs {
			assert.False(t, reserve(p, day, 30*time.Second, 3))
		}
		n, err := b.rdb.Get(ctx, count).Int()
		require.NoError(t, err)
		assert.Equal(t, 3, n)
		// The next day has its own budget; another key its own spacing.
		assert.True(t, reserve(s, "2026-11-28", 30*time.Second, 3))
		assert.False(t, reserve(s, "2026-11-28", 30*time.Second, 3), "spaced across days")
		ok, err := s.ReserveForceRefresh(ctx, "wxforce/classic", day, 30*time.Second, 3)
		require.NoError(t, err)
		assert.True(t, ok)

		// Without spacing, only the day counts; no budget, none.
		for i := 0; i < 2; i++ {
			assert.True(t, reserve(s, "2026-11-29", 0, 2))
		}
		assert.False(t, reserve(s, "2026-11-29", 0, 2))
		assert.False(t, reserve(s, "2026-11-30", 0, 0))

		// Many processes at once: one gets it.
		assert.Equal(t, 1, winners(t, 20, func() (bool, error) {
			return NewTokenStore(b.rdb, WithPrefix(b.prefix)).ReserveForceRefresh(ctx, "wxrace/stable", day, 30*time.Second, 18)
		}))
	})
}

// TestReserveForceRefreshSpacing: the spacing is measured by Redis's clock:
// the next reservation succeeds once it has passed, and not before.
func TestReserveForceRefreshSpacing(t *testing.T) {
	t.Parallel()
	rdb, prefix := realRedis(t)
	ctx := context.Background()
	s := NewTokenStore(rdb, WithPrefix(prefix))
	const spacing = 300 * time.Millisecond
	start := time.Now()
	ok, err := s.ReserveForceRefresh(ctx, "wx/stable", "2026-11-27", spacing, 18)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = s.ReserveForceRefresh(ctx, "wx/stable", "2026-11-27", spacing, 18)
	require.NoError(t, err)
	if time.Since(start) < spacing-20*time.Millisecond {
		require.False(t, ok, "within the spacing")
	}
	require.Eventually(t, func() bool {
		ok, err := s.ReserveForceRefresh(ctx, "wx/stable", "2026-11-27", spacing, 18)
		return err == nil && ok
	}, 5*time.Second, 5*time.Millisecond)
	assert.GreaterOrEqual(t, time.Since(start), spacing-20*time.Millisecond, "reserved again within the spacing")
}

// TestCluster runs every operation through a ClusterClient against a real
// one-node Redis Cluster, which refuses scripts whose keys are in different
// slots (CROSSSLOT): the hash tags keep each app's keys in one slot.
func TestCluster(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startRedis(t, 0, "--cluster-enabled", "yes", "--cluster-config-file", dir+"/nodes.conf")
	ctx := context.Background()
	plain := newRedis(t, p.addr)
	require.NoError(t, plain.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err())
	require.Eventually(t, func() bool {
		info, err := plain.ClusterInfo(ctx).Result()
		return err == nil && strings.Contains(info, "cluster_state:ok")
	}, 10*time.Second, 10*time.Millisecond)
	// A script over keys of two slots is refused: the check is on.
	err := plain.Eval(ctx, "return 1", []string{"a", "b"}).Err()
	require.ErrorContains(t, err, "CROSSSLOT")

	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{p.addr}})
	t.Cleanup(func() { cc.Close() })
	s := NewTokenStore(cc)
	const key = "wxcluster/stable"
	ok, err := s.CompareAndSwap(ctx, key, "", sharedToken("TOKEN_A", time.Hour))
	require.NoError(t, err)
	assert.True(t, ok)
	st, err := s.Load(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "TOKEN_A", st.Value)
	release, ok, err := s.Lock(ctx, key)
	require.NoError(t, err)
	require.True(t, ok)
	release(ctx)
	ok, err = s.ReserveForceRefresh(ctx, key, chinaDay(), 30*time.Second, 18)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = s.ReserveForceRefresh(ctx, key, chinaDay(), 30*time.Second, 18)
	require.NoError(t, err)
	assert.False(t, ok)
}
