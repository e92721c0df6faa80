package redisstore

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/kefu-go/kefu/callback"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDeduperKeys(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{})
	defer rdb.Close()
	assert.Equal(t, "kefu:callback:gh_x/m/42", NewDeduper(rdb).redisKey("gh_x/m/42"))
	assert.Equal(t, "app:dedup:gh_x/m/42", NewDeduper(rdb, WithDedupPrefix("app:dedup:")).redisKey("gh_x/m/42"))
	assert.Equal(t, "gh_x/m/42", NewDeduper(rdb, WithDedupPrefix(""), nil).redisKey("gh_x/m/42"))
	assert.NotEqual(t, NewDeduper(rdb).owner, NewDeduper(rdb).owner, "each Deduper has an owner id of its own")
	assert.Panics(t, func() { NewDeduper(nil) })
}

// dedupTTL is the claims' ttl in the Deduper tests: DefaultDedupTTL.
const dedupTTL = callback.DefaultDedupTTL

// twoInstances returns two Dedupers on rdb with prefix, as two instances of
// a service have, and claim, which claims key for dedupTTL with one of them.
func twoInstances(t *testing.T, rdb redis.UniversalClient, prefix string) (a, other *Deduper, claim func(d *Deduper, key string) bool) {
	a, other = NewDeduper(rdb, WithDedupPrefix(prefix)), NewDeduper(rdb, WithDedupPrefix(prefix))
	return a, other, func(d *Deduper, key string) bool {
		t.Helper()
		ok, err := d.Claim(context.Background(), key, dedupTTL)
		require.NoError(t, err)
		return ok
	}
}

// TestDeduperClaimOnce: two Dedupers on one Redis, as two instances would
// have, claim a key once between them, for the ttl asked.
func TestDeduperClaimOnce(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		a, other, claim := twoInstances(t, b.rdb, b.prefix+":callback:")
		const key = "gh_x/m/42"
		assert.True(t, claim(a, key), "the first claim")
		assert.False(t, claim(other, key), "claimed by the other instance")
		assert.False(t, claim(a, key), "claimed, even for the same Deduper")
		assert.True(t, claim(other, "gh_x/m/43"), "another message has its own key")

		left := b.ttl(a.redisKey(key))
		assert.True(t, left > dedupTTL-5*time.Second && left <= dedupTTL, "key TTL %v", left)
		owner, err := b.rdb.Get(context.Background(), a.redisKey(key)).Result()
		require.NoError(t, err)
		assert.Regexp(t, `^.*/\d+/[0-9a-f]{32}$`, owner, "host/pid/random")

		_, err = a.Claim(context.Background(), "gh_x/m/44", 0)
		assert.ErrorContains(t, err, "the ttl must be above zero")
	})
}

// TestDeduperConcurrentClaims: instances that claim a message at the same
// moment get it once between them.
func TestDeduperConcurrentClaims(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		assert.Equal(t, 1, winners(t, 20, func() (bool, error) {
			d := NewDeduper(b.rdb, WithDedupPrefix(b.prefix+":callback:"))
			return d.Claim(context.Background(), "gh_x/m/7", time.Minute)
		}))
	})
}

// TestDeduperExpires: a claim ends after its ttl (miniredis's clock, moved
// on), and not before; the late release of the expired claim leaves the
// next instance's claim alone.
func TestDeduperExpires(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	rdb := newRedis(t, mr.Addr())
	a, other, claim := twoInstances(t, rdb, DefaultDedupPrefix)
	require.True(t, claim(a, "gh_x/m/42"))
	mr.FastForward(dedupTTL - time.Second)
	assert.False(t, claim(other, "gh_x/m/42"), "still claimed 1 s before the end")
	mr.FastForward(time.Second)
	require.True(t, claim(other, "gh_x/m/42"), "free once the ttl is over")

	require.NoError(t, a.Release(context.Background(), "gh_x/m/42"), "a stale release")
	assert.True(t, mr.Exists(other.redisKey("gh_x/m/42")), "the newer claim survives a stale release")
}

// TestDeduperExpiresOnRedis: on the real server's clock, a short claim
// frees itself after its ttl, and not before.
func TestDeduperExpiresOnRedis(t *testing.T) {
	t.Parallel()
	rdb, prefix := realRedis(t)
	ctx := context.Background()
	const ttl = 200 * time.Millisecond
	a, other := NewDeduper(rdb, WithDedupPrefix(prefix+":callback:")), NewDeduper(rdb, WithDedupPrefix(prefix+":callback:"))
	start := time.Now()
	ok, err := a.Claim(ctx, "gh_x/m/42", ttl)
	require.NoError(t, err)
	require.True(t, ok)
	require.Eventually(t, func() bool {
		ok, err := other.Claim(ctx, "gh_x/m/42", ttl)
		return err == nil && ok
	}, 5*time.Second, 5*time.Millisecond)
	assert.GreaterOrEqual(t, time.Since(start), ttl-20*time.Millisecond, "claimed again before the ttl")
}

// TestDeduperTTLRoundsUp: a ttl below a millisecond still expires (PX 1),
// never "no expiry".
func TestDeduperTTLRoundsUp(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	rdb := newRedis(t, mr.Addr())
	d := NewDeduper(rdb)
	ok, err := d.Claim(context.Background(), "k", time.Microsecond)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, time.Millisecond, mr.TTL(d.redisKey("k")))
}

// TestDeduperRelease: Release frees this Deduper's claim; it never frees a
// claim of another instance, neither one it never had nor a newer one
// taken after its own expired.
func TestDeduperRelease(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		a, other, claimKey := twoInstances(t, b.rdb, b.prefix+":callback:")
		const key = "gh_x/m/42"
		claim := func(d *Deduper) bool { t.Helper(); return claimKey(d, key) }

		require.True(t, claim(a))
		require.NoError(t, a.Release(ctx, key))
		assert.Equal(t, time.Duration(-2), b.ttl(a.redisKey(key)), "released")
		require.True(t, claim(other), "free again after the release")

		require.NoError(t, a.Release(ctx, key), "not a's claim")
		assert.False(t, claim(a), "a's release freed the other's claim")

		// a's claim expires (simulated by deleting it), the other claims the
		// message anew, and a's late release must leave that claim alone.
		require.NoError(t, other.Release(ctx, key))
		require.True(t, claim(a))
		require.NoError(t, b.rdb.Del(ctx, a.redisKey(key)).Err())
		require.True(t, claim(other))
		require.NoError(t, a.Release(ctx, key), "a stale release")
		assert.False(t, claim(a), "a stale release freed a newer claim")
		require.NoError(t, other.Release(ctx, key))
		require.NoError(t, other.Release(ctx, key), "twice: harmless")
		assert.True(t, claim(a))
	})
}

// deadRedis is a client whose every dial fails at once, as when Redis is
// down.
func deadRedis(t *testing.T) *redis.Client {
	rdb := redis.NewClient(&redis.Options{
		Addr: "redis:6379", MaxRetries: -1, DialerRetries: 1,
		Dialer: func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("connection refused")
		},
	})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// TestDeduperRedisDown: without Redis, Claim and Release fail (the handler
// then runs the message anyway), and the errors name the message's key.
func TestDeduperRedisDown(t *testing.T) {
	t.Parallel()
	d := NewDeduper(deadRedis(t))
	ctx := context.Background()
	ok, err := d.Claim(ctx, "gh_x/m/42", time.Minute)
	assert.False(t, ok)
	assert.ErrorContains(t, err, "redisstore: claim gh_x/m/42: ")
	assert.ErrorContains(t, err, "connection refused")
	err = d.Release(ctx, "gh_x/m/42")
	assert.ErrorContains(t, err, "redisstore: release gh_x/m/42: ")
}

// callbackToken is the Token of the callback tests' account.
const callbackToken = "dedup-test-token"

// callbackMessage is a text message as WeChat POSTs it in plain mode.
const callbackMessage = `<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName>` +
	`<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>42</MsgId></xml>`

// post sends WeChat's signed plain-mode request of callbackMessage to h and
// returns the answer's status and body.
func post(h http.Handler, nonce string) (int, string) {
	const timestamp = "1700000000"
	target := "/wechat?signature=" + callback.Signature(callbackToken, timestamp, nonce) +
		"&timestamp=" + timestamp + "&nonce=" + nonce + "&openid=o1"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, target, strings.NewReader(callbackMessage)))
	return rec.Code, rec.Body.String()
}

// instances returns two callback Handlers, as two instances of a service
// would run, each with its own Deduper on rdb, both counting the runs of
// their HandlerFunc, which replies "got it".
func instances(t *testing.T, rdb redis.UniversalClient, prefix string) (a, b *callback.Handler, runs *atomic.Int32) {
	t.Helper()
	runs = &atomic.Int32{}
	fn := func(context.Context, *callback.Message) (callback.Reply, error) {
		runs.Add(1)
		return callback.ReplyText("got it"), nil
	}
	for _, h := range []**callback.Handler{&a, &b} {
		var err error
		*h, err = callback.NewHandler(callback.Config{Token: callbackToken, Dedup: NewDeduper(rdb, WithDedupPrefix(prefix))}, fn)
		require.NoError(t, err)
		handler := *h
		t.Cleanup(func() { assert.NoError(t, handler.Close(context.Background())) })
	}
	return a, b, runs
}

// TestDeduperHandlers: WeChat's retry of a message reaches another
// instance: the handler runs once, on the first, and the second answers
// "success".
func TestDeduperHandlers(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		a, other, runs := instances(t, b.rdb, b.prefix+":callback:")
		status, body := post(a, "1001")
		assert.Equal(t, http.StatusOK, status)
		assert.Contains(t, body, "<Content><![CDATA[got it]]></Content>")
		status, body = post(other, "1002") // WeChat's retry, with a nonce of its own
		assert.Equal(t, http.StatusOK, status)
		assert.Equal(t, "success", body)
		assert.Equal(t, int32(1), runs.Load())
	})
}

// TestDeduperHandlersAtOnce: the same message reaches two instances at
// once: one runs it.
func TestDeduperHandlersAtOnce(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		a, other, runs := instances(t, b.rdb, b.prefix+":callback:")
		var wg sync.WaitGroup
		bodies := make([]string, 2)
		for i, h := range []*callback.Handler{a, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, bodies[i] = post(h, "1001")
			}()
		}
		wg.Wait()
		assert.Equal(t, int32(1), runs.Load())
		success, replies := 0, 0
		for _, body := range bodies {
			switch {
			case body == "success":
				success++
			case strings.Contains(body, "<Content><![CDATA[got it]]></Content>"):
				replies++
			}
		}
		assert.Equal(t, [2]int{1, 1}, [2]int{success, replies}, "one reply, one success: %q", bodies)
	})
}

// TestDeduperHandlersRedisDown: with Redis down, each instance runs the
// message (fail open): a rare duplicate beats a lost message.
func TestDeduperHandlersRedisDown(t *testing.T) {
	t.Parallel()
	a, other, runs := instances(t, deadRedis(t), DefaultDedupPrefix)
	for _, h := range []*callback.Handler{a, other} {
		status, body := post(h, "1001")
		assert.Equal(t, http.StatusOK, status)
		assert.Contains(t, body, "got it")
	}
	assert.Equal(t, int32(2), runs.Load())
}
