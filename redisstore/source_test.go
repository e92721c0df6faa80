package redisstore

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests run kefu token sources WithTokenStore(a TokenStore) in this
// process, each with its own Redis client, as separate processes would.

// TestForceRefreshShared: the stable endpoint hands back the token WeChat
// just rejected, so a force_refresh is due; it is made once for all
// processes, not again within 30 s whichever process asks, and never past
// the day's budget kept in Redis (guarantee 3).
func TestForceRefreshShared(t *testing.T) {
	rdb, prefix := realRedis(t)
	srv := kefutest.NewServer()
	defer srv.Close()
	srv.Interact("o-user", kefutest.Payment)
	ctx := context.Background()
	log := &logs{}
	ps := make([]*process, 3)
	for i := range ps {
		ps[i] = newProcess(t, srv, &redis.Options{Addr: rdb.Options().Addr}, prefix, kefu.WithLogger(slog.New(log)))
	}
	key := srv.AppID + "/stable"
	store := NewTokenStore(rdb, WithPrefix(prefix))
	current := func() string {
		st, err := store.Load(ctx, key)
		require.NoError(t, err)
		return st.Value
	}
	last, count := store.forceKeys(key, chinaDay())
	forces := func() int {
		n, err := rdb.Get(ctx, count).Int()
		if errors.Is(err, redis.Nil) {
			return 0
		}
		require.NoError(t, err)
		return n
	}
	send := func(p *process) error {
		_, err := p.client.Send(ctx, kefu.NewText("o-user", "hello"))
		return err
	}

	for _, p := range ps {
		require.NoError(t, send(p))
	}
	require.Equal(t, 1, srv.Calls(kefutest.PathStableToken))
	t1 := current()

	// WeChat rejects process 0's token, but the stable endpoint still hands
	// it out: process 0 force-refreshes.
	srv.FailNext(kefutest.PathSend, 1, 40001)
	require.NoError(t, send(ps[0]))
	assert.Equal(t, 3, srv.Calls(kefutest.PathStableToken), "a normal fetch (the rejected token again), then a forced one")
	t2 := current()
	assert.NotEqual(t, t1, t2)
	assert.Equal(t, 1, forces())
	at, err := rdb.Get(ctx, last).Int64()
	require.NoError(t, err)
	assert.InDelta(t, time.Now().UnixMilli(), at, 5000, "the time of the force_refresh")

	// The others meet 40001 with the killed token: they take the new one
	// from Redis, without fetching.
	for _, p := range ps[1:] {
		require.NoError(t, send(p))
	}
	assert.Equal(t, 3, srv.Calls(kefutest.PathStableToken))

	// Now every process sees the current token rejected within 30 s of the
	// force: none may force again, though none of the others ever forced
	// (each one's own guard would allow it). The send fails instead.
	for _, p := range ps {
		calls := srv.Calls(kefutest.PathStableToken)
		srv.FailNext(kefutest.PathSend, 1, 40001)
		err := send(p)
		assert.ErrorIs(t, err, kefu.ErrInvalidToken)
		assert.Equal(t, calls+1, srv.Calls(kefutest.PathStableToken), "a normal fetch only")
		assert.Equal(t, 1, forces())
		assert.Equal(t, t2, current())
	}
	assert.NotEmpty(t, log.matching("WARN", "shared force_refresh budget allows none now", "30s"))
	for _, p := range ps { // the token is good after all
		require.NoError(t, send(p))
	}

	// Past the spacing (the last one moved back 31 s), with the day's
	// budget used up by other processes: still none.
	require.NoError(t, rdb.DecrBy(ctx, last, 31_000).Err())
	require.NoError(t, rdb.Set(ctx, count, 18, 48*time.Hour).Err())
	srv.FailNext(kefutest.PathSend, 1, 40001)
	assert.ErrorIs(t, send(ps[1]), kefu.ErrInvalidToken)
	assert.Equal(t, 18, forces())
	assert.Equal(t, t2, current())

	// One left for today: the next rejection forces, and all follow.
	srv.Advance(31 * time.Second) // WeChat's own 30 s spacing
	require.NoError(t, rdb.Set(ctx, count, 17, 48*time.Hour).Err())
	srv.FailNext(kefutest.PathSend, 1, 40001)
	require.NoError(t, send(ps[2]))
	assert.Equal(t, 18, forces())
	t3 := current()
	assert.NotEqual(t, t2, t3)
	for _, p := range ps {
		require.NoError(t, send(p))
	}
}

// TestRedisDown: Redis goes away; sends go on with a process-local token,
// logged once at warn level with the reason; the store is used again, by
// itself, once Redis is back; and WithTokenStoreFailClosed fails instead
// (guarantee 5). The test runs a redis-server of its own to stop it.
func TestRedisDown(t *testing.T) {
	needRedisServer(t)
	port := freePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	srv := kefutest.NewServer()
	defer srv.Close()
	srv.Interact("o-user", kefutest.Payment)
	ctx := context.Background()
	log := &logs{}
	// Fail fast, as the README advises: a refresh waits for Redis.
	failFast := &redis.Options{Addr: addr, MaxRetries: 1, DialerRetries: 1, DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second}
	p := newProcess(t, srv, failFast, "kefu", kefu.WithLogger(slog.New(log)))
	send := func() {
		t.Helper()
		_, err := p.client.Send(ctx, kefu.NewText("o-user", "hello"))
		require.NoError(t, err)
	}
	outage := func() []string {
		return log.matching("WARN", "token store unavailable; using a process-local token", "connection refused")
	}

	// No Redis yet: cold start on a process-local token.
	for i := 0; i < 20; i++ {
		send()
	}
	assert.Len(t, outage(), 1, "logged once, with the reason")
	assert.Equal(t, 1, srv.Calls(kefutest.PathStableToken))
	// A rejection during the outage: refreshed locally, not logged again.
	srv.RotateTokens()
	send()
	assert.Len(t, outage(), 1)
	assert.Equal(t, 2, srv.Calls(kefutest.PathStableToken))

	// Redis comes up: the next refresh uses it again, by itself.
	redisSrv := startRedis(t, port)
	srv.RotateTokens()
	send()
	direct := newRedis(t, addr)
	st, err := NewTokenStore(direct).Load(ctx, srv.AppID+"/stable")
	require.NoError(t, err)
	assert.NotEmpty(t, st.Value, "the new token is shared again")
	assert.Len(t, log.matching("INFO", "token store is back"), 1)
	fresh := newProcess(t, srv, failFast, "kefu")
	_, err = fresh.client.Send(ctx, kefu.NewText("o-user", "hello"))
	require.NoError(t, err)
	assert.Equal(t, 3, srv.Calls(kefutest.PathStableToken), "a new process takes the shared token")

	// Redis dies (SIGKILL): sends go on; the new outage is logged once more.
	redisSrv.kill()
	for i := 0; i < 5; i++ {
		send()
	}
	srv.RotateTokens()
	send()
	assert.Len(t, log.matching("WARN", "token store unavailable; using a process-local token"), 2)

	// Fail closed: no token without the store.
	closed := newProcess(t, srv, failFast, "kefu", kefu.WithTokenStoreFailClosed())
	_, err = closed.client.Send(ctx, kefu.NewText("o-user", "hello"))
	assert.ErrorIs(t, err, kefu.ErrTokenStoreUnavailable)
	assert.Len(t, srv.Messages("o-user"), 29)
}

// TestHotPathNoRedis: while a process's own copy of the token is valid,
// sending makes no Redis round trip (guarantee 6).
func TestHotPathNoRedis(t *testing.T) {
	rdb, prefix := realRedis(t)
	srv := kefutest.NewServer()
	defer srv.Close()
	srv.Interact("o-user", kefutest.Payment)
	ctx := context.Background()
	p := newProcess(t, srv, &redis.Options{Addr: rdb.Options().Addr}, prefix)
	counter := &commandCounter{}
	p.rdb.AddHook(counter)

	_, err := p.client.Send(ctx, kefu.NewText("o-user", "cold"))
	require.NoError(t, err)
	require.Positive(t, counter.cmds.Load(), "the hook counts: the cold start used Redis")
	cmds, dials := counter.cmds.Load(), counter.dials.Load()
	for i := 0; i < 1000; i++ {
		_, err := p.client.Send(ctx, kefu.NewText("o-user", "hot"))
		require.NoError(t, err)
	}
	assert.Equal(t, cmds, counter.cmds.Load(), "Redis commands during 1000 sends")
	assert.Equal(t, dials, counter.dials.Load(), "Redis dials during 1000 sends")
	assert.Len(t, srv.Messages("o-user"), 1001)
}
