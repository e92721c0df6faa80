package redisstore

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests put at the store's keys, with no TTL, values that no
// TokenStore writes (left by an older version, another program or a person
// at redis-cli), and check that none of them wedges the store: each counts
// as nothing stored and is replaced by the next good value, once.

// junk is a value no TokenStore writes, put at a key with no TTL.
type junk struct {
	name string
	put  func(ctx context.Context, rdb redis.UniversalClient, key string) error
}

func setJunk(name, v string) junk {
	return junk{name, func(ctx context.Context, rdb redis.UniversalClient, key string) error {
		return rdb.Set(ctx, key, v, 0).Err()
	}}
}

// hashJunk is a hash at the key: GET on it fails with WRONGTYPE.
var hashJunk = junk{"hash", func(ctx context.Context, rdb redis.UniversalClient, key string) error {
	return rdb.HSet(ctx, key, "token", "T").Err()
}}

// tokenJunk lists token key values that Load cannot read.
func tokenJunk() []junk {
	at := time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano)
	times := `"refresh_at":"` + at + `","expires_at":"` + at + `"`
	return []junk{
		setJunk("garbage times", `{"token":"T","refresh_at":"garbage","expires_at":"garbage"}`),
		setJunk("numeric times", `{"token":"T","refresh_at":1790000000,"expires_at":1790007200}`),
		setJunk("no times", `{"token":"T"}`),
		setJunk("null times", `{"token":"T","refresh_at":null,"expires_at":null}`),
		setJunk("not JSON", "not json"),
		setJunk("JSON null", "null"),
		setJunk("empty token", `{"token":"",`+times+`}`),
		setJunk("no token", `{`+times+`}`),
		hashJunk,
		// Well-formed, but far larger than any token: never read whole.
		setJunk("oversized", `{"token":"`+strings.Repeat("T", 1<<20)+`",`+times+`}`),
	}
}

// TestUnreadableToken: a token key value that cannot be read is no token:
// Load says so without an error, a swap from the token it seems to name is
// refused, and a swap from none replaces it, once.
func TestUnreadableToken(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := NewTokenStore(b.rdb, WithPrefix(b.prefix))
		for i, j := range tokenJunk() {
			t.Run(j.name, func(t *testing.T) {
				key := fmt.Sprintf("wxjunk%d/stable", i)
				require.NoError(t, j.put(ctx, b.rdb, s.tokenKey(key)))
				st, err := s.Load(ctx, key)
				require.NoError(t, err)
				assert.True(t, st == (kefu.SharedToken{}), "Load gave %.40q, %v, %v", st.Value, st.RefreshAt, st.ExpiresAt)

				ok, err := s.CompareAndSwap(ctx, key, "T", sharedToken("TOKEN_X", time.Hour))
				require.NoError(t, err)
				assert.False(t, ok, "swapped from a token that is not stored")

				a := sharedToken("TOKEN_A", 2*time.Hour)
				ok, err = s.CompareAndSwap(ctx, key, "", a)
				require.NoError(t, err)
				require.True(t, ok, "the unreadable value was not replaced")
				st, err = s.Load(ctx, key)
				require.NoError(t, err)
				assert.True(t, st.Value == "TOKEN_A", "%.40q", st.Value)
				assert.True(t, a.RefreshAt.Equal(st.RefreshAt), "%v %v", a.RefreshAt, st.RefreshAt)
				assert.True(t, a.ExpiresAt.Equal(st.ExpiresAt), "%v %v", a.ExpiresAt, st.ExpiresAt)
				assert.InDelta(t, float64(2*time.Hour), float64(b.ttl(s.tokenKey(key))), float64(time.Minute))

				// Replaced once: a good token is not overwritten.
				ok, err = s.CompareAndSwap(ctx, key, "", sharedToken("TOKEN_B", time.Hour))
				require.NoError(t, err)
				assert.False(t, ok)
				st, err = s.Load(ctx, key)
				require.NoError(t, err)
				assert.True(t, st.Value == "TOKEN_A", "%.40q", st.Value)
			})
		}

		// What CompareAndSwap stores, Load reads: even a zero time.
		ok, err := s.CompareAndSwap(ctx, "wxzero/stable", "", kefu.SharedToken{Value: "TOKEN_Z", ExpiresAt: time.Now().Add(time.Hour)})
		require.NoError(t, err)
		require.True(t, ok)
		st, err := s.Load(ctx, "wxzero/stable")
		require.NoError(t, err)
		assert.Equal(t, "TOKEN_Z", st.Value)
		assert.True(t, st.RefreshAt.IsZero(), "%v", st.RefreshAt)
		ok, err = s.CompareAndSwap(ctx, "wxzero/stable", "TOKEN_Z", sharedToken("TOKEN_A", time.Hour))
		require.NoError(t, err)
		assert.True(t, ok)
	})
}

// TestUnreadableTokenRace: many swaps from none at once over an unreadable
// value: exactly one wins.
func TestUnreadableTokenRace(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		for i, j := range []junk{tokenJunk()[0], hashJunk} {
			key := fmt.Sprintf("wxjunkrace%d/stable", i)
			require.NoError(t, j.put(ctx, b.rdb, NewTokenStore(b.rdb, WithPrefix(b.prefix)).tokenKey(key)))
			var wins atomic.Int64
			var wg sync.WaitGroup
			for g := 0; g < 20; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s := NewTokenStore(b.rdb, WithPrefix(b.prefix))
					ok, err := s.CompareAndSwap(ctx, key, "", sharedToken(fmt.Sprintf("TOKEN_R%d", g), time.Hour))
					assert.NoError(t, err)
					if ok {
						wins.Add(1)
					}
				}()
			}
			wg.Wait()
			assert.Equal(t, int64(1), wins.Load(), j.name)
			st, err := NewTokenStore(b.rdb, WithPrefix(b.prefix)).Load(ctx, key)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(st.Value, "TOKEN_R"), "%s: %q", j.name, st.Value)
		}
	})
}

// TestUnreadableForceKeys: values at the force_refresh keys that cannot be
// read count as no force_refresh, and the next reservation replaces them.
func TestUnreadableForceKeys(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := NewTokenStore(b.rdb, WithPrefix(b.prefix))
		const day = "2026-11-27"
		future := strconv.FormatInt(time.Now().Add(24*time.Hour).UnixMilli(), 10)
		cases := []struct {
			junk
			count bool // at the day's count, else at the time of the last
		}{
			{setJunk("last garbage", "garbage"), false},
			{junk{"last hash", hashJunk.put}, false},
			{setJunk("last a day ahead", future), false},
			{setJunk("last oversized", strings.Repeat("9", 1<<20)), false},
			{setJunk("count garbage", "garbage"), true},
			{junk{"count hash", hashJunk.put}, true},
			{setJunk("count fraction", "1.5"), true},
			{setJunk("count inf", "inf"), true},
			{setJunk("count negative", "-5"), true},
			{setJunk("count oversized", strings.Repeat("9", 1<<20)), true},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				key := fmt.Sprintf("wxforcejunk%d/stable", i)
				last, count := s.forceKeys(key, day)
				at := last
				if c.count {
					at = count
				}
				require.NoError(t, c.put(ctx, b.rdb, at))
				before := time.Now().UnixMilli()
				ok, err := s.ReserveForceRefresh(ctx, key, day, 30*time.Second, 18)
				require.NoError(t, err)
				require.True(t, ok, "the unreadable value blocks force_refresh")
				ms, err := b.rdb.Get(ctx, last).Int64()
				require.NoError(t, err)
				assert.InDelta(t, before, ms, 5000)
				n, err := b.rdb.Get(ctx, count).Int()
				require.NoError(t, err)
				assert.Equal(t, 1, n)
				for _, k := range []string{last, count} {
					ttl := b.ttl(k)
					assert.True(t, ttl > 47*time.Hour && ttl <= 48*time.Hour, "%s TTL %v", k, ttl)
				}
				ok, err = s.ReserveForceRefresh(ctx, key, day, 30*time.Second, 18)
				require.NoError(t, err)
				assert.False(t, ok, "spaced")
			})
		}

		// A last one slightly ahead of Redis's clock (another node's, after
		// a failover) still spaces them.
		last, _ := s.forceKeys("wxforceahead/stable", day)
		ahead := strconv.FormatInt(time.Now().Add(10*time.Second).UnixMilli(), 10)
		require.NoError(t, b.rdb.Set(ctx, last, ahead, forceDayTTL).Err())
		ok, err := s.ReserveForceRefresh(ctx, "wxforceahead/stable", day, 30*time.Second, 18)
		require.NoError(t, err)
		assert.False(t, ok)
	})
}

// TestUnreadableLock: a value at the lock key without a TTL was not put
// there by a TokenStore (whose locks all expire) and would block every
// refresh forever: Lock takes it over. A lock with a TTL is respected.
func TestUnreadableLock(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := NewTokenStore(b.rdb, WithPrefix(b.prefix), WithLockTTL(5*time.Second))
		for i, j := range []junk{setJunk("string", "someone"), hashJunk} {
			key := fmt.Sprintf("wxlockjunk%d/stable", i)
			require.NoError(t, j.put(ctx, b.rdb, s.lockKey(key)))
			release, ok, err := s.Lock(ctx, key)
			require.NoError(t, err, j.name)
			require.True(t, ok, "%s: a lock that never expires blocks forever", j.name)
			ttl := b.ttl(s.lockKey(key))
			assert.True(t, ttl > 2*time.Second && ttl <= 5*time.Second, "%s: lock TTL %v", j.name, ttl)
			_, ok, err = s.Lock(ctx, key)
			require.NoError(t, err)
			assert.False(t, ok, "%s: held", j.name)
			release(ctx)
			assert.Equal(t, time.Duration(-2), b.ttl(s.lockKey(key)), j.name)
		}
		// Another's lock, expiring, is left alone, whatever it holds.
		require.NoError(t, b.rdb.Set(ctx, s.lockKey("wxlockother/stable"), "someone", time.Minute).Err())
		_, ok, err := s.Lock(ctx, "wxlockother/stable")
		require.NoError(t, err)
		assert.False(t, ok)
	})
}

// TestUnreadableShared: with an unreadable token, or a lock that never
// expires, stored, three processes' token sources start together: one
// fetch for all, and the token key then holds the good token.
func TestUnreadableShared(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		cases := []struct {
			junk
			lock bool // at the lock key, else at the token key
		}{
			{tokenJunk()[0], false},
			{tokenJunk()[1], false},
			{hashJunk, false},
			{tokenJunk()[len(tokenJunk())-1], false},
			{junk{"lock hash", hashJunk.put}, true},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				srv := kefutest.NewServer()
				defer srv.Close()
				store := NewTokenStore(b.rdb, WithPrefix(b.prefix))
				key := srv.AppID + "/stable"
				at := store.tokenKey(key)
				if c.lock {
					at = store.lockKey(key)
				}
				require.NoError(t, c.put(ctx, b.rdb, at))
				t.Cleanup(func() { b.rdb.Del(context.Background(), store.tokenKey(key), store.lockKey(key)) })

				got := make([]string, 3)
				var wg sync.WaitGroup
				for i := range got {
					rdb := newRedis(t, b.rdb.(*redis.Client).Options().Addr)
					hc := &http.Client{Transport: &http.Transport{}}
					t.Cleanup(hc.CloseIdleConnections)
					ts := srv.TokenSource(kefu.WithHTTPClient(hc), kefu.WithTokenStore(NewTokenStore(rdb, WithPrefix(b.prefix))))
					wg.Add(1)
					go func() {
						defer wg.Done()
						tok, err := ts.Token(ctx)
						assert.NoError(t, err)
						got[i] = tok
					}()
				}
				wg.Wait()
				assert.Equal(t, 1, srv.Calls(kefutest.PathStableToken), "one fetch for all")
				st, err := store.Load(ctx, key)
				require.NoError(t, err)
				assert.True(t, st.Value != "" && len(st.Value) < 1000, "the good token is stored: %.40q", st.Value)
				for _, tok := range got {
					assert.True(t, tok == st.Value, "got %.40q, stored %.40q", tok, st.Value)
				}
				assert.True(t, time.Now().Before(st.RefreshAt) && st.RefreshAt.Before(st.ExpiresAt), "%v %v", st.RefreshAt, st.ExpiresAt)
				assert.Positive(t, b.ttl(store.tokenKey(key)))
			})
		}
	})
}
