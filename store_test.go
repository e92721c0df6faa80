package kefu

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memStore is an in-memory TokenStore, with a switch to make it fail.
type memStore struct {
	mu     sync.Mutex
	tokens map[string]SharedToken
	locked map[string]bool
	force  map[string]int
	last   map[string]time.Time
	now    func() time.Time
	down   atomic.Bool
	loads  atomic.Int64
}

func newMemStore(now func() time.Time) *memStore {
	return &memStore{tokens: map[string]SharedToken{}, locked: map[string]bool{}, force: map[string]int{},
		last: map[string]time.Time{}, now: now}
}

var errDown = errors.New("connection refused")

func (m *memStore) Load(_ context.Context, key string) (SharedToken, error) {
	m.loads.Add(1)
	if m.down.Load() {
		return SharedToken{}, errDown
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tokens[key], nil
}

func (m *memStore) CompareAndSwap(_ context.Context, key, old string, next SharedToken) (bool, error) {
	if m.down.Load() {
		return false, errDown
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tokens[key].Value != old {
		return false, nil
	}
	m.tokens[key] = next
	return true, nil
}

func (m *memStore) Lock(_ context.Context, key string) (func(context.Context), bool, error) {
	if m.down.Load() {
		return nil, false, errDown
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locked[key] {
		return nil, false, nil
	}
	m.locked[key] = true
	return func(context.Context) {
		m.mu.Lock()
		delete(m.locked, key)
		m.mu.Unlock()
	}, true, nil
}

func (m *memStore) ReserveForceRefresh(_ context.Context, key, day string, spacing time.Duration, perDay int) (bool, error) {
	if m.down.Load() {
		return false, errDown
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if last, ok := m.last[key]; ok && now.Sub(last) < spacing {
		return false, nil
	}
	if m.force[key+day] >= perDay {
		return false, nil
	}
	m.force[key+day]++
	m.last[key] = now
	return true, nil
}

// processes returns n token sources sharing store, as n processes would.
func processes(t *testing.T, w *wechat, store TokenStore, n int, opts ...Option) []*tokenSource {
	t.Helper()
	var out []*tokenSource
	for i := 0; i < n; i++ {
		out = append(out, newTestTokenSource(t, w, append([]Option{WithTokenStore(store), noWait}, opts...)...))
	}
	return out
}

func TestStoreColdStartOneFetch(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	w.handle(stableTokenPath, stableTokens())
	store := newMemStore(time.Now)
	srcs := processes(t, w, store, 4)
	var wg sync.WaitGroup
	for _, src := range srcs {
		for g := 0; g < 50; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok, err := src.Token(context.Background())
				assert.NoError(t, err)
				assert.Equal(t, tokenName(1), tok)
			}()
		}
	}
	wg.Wait()
	assert.Equal(t, 1, w.count(stableTokenPath))

	// The hot path does not touch the store.
	loads := store.loads.Load()
	for i := 0; i < 100; i++ {
		_, err := srcs[i%4].Token(context.Background())
		require.NoError(t, err)
	}
	assert.Equal(t, loads, store.loads.Load())
}

func TestStoreOneRefreshAfterRejection(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	w.handle(stableTokenPath, stableTokens())
	store := newMemStore(time.Now)
	srcs := processes(t, w, store, 4)
	for _, src := range srcs {
		tok, err := src.Token(context.Background())
		require.NoError(t, err)
		require.Equal(t, tokenName(1), tok)
	}
	// Every process is told at once that TOKENA is rejected.
	var wg sync.WaitGroup
	for _, src := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, src.InvalidateToken(context.Background(), tokenName(1)))
			tok, err := src.Token(context.Background())
			assert.NoError(t, err)
			assert.Equal(t, tokenName(2), tok)
		}()
	}
	wg.Wait()
	assert.Equal(t, 2, w.count(stableTokenPath), "one cold fetch, one refresh")
	st, _ := store.Load(context.Background(), testAppID+"/stable")
	assert.Equal(t, tokenName(2), st.Value)
}

func TestStoreNeverOverwritesNewer(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	w.handle(stableTokenPath, stableTokens())
	store := newMemStore(time.Now)
	src := processes(t, w, store, 1)[0]
	_, err := src.Token(context.Background())
	require.NoError(t, err)
	// Another process published TOKENZ after we loaded TOKENA: our refresh
	// after a rejection of TOKENA must not replace it.
	newer := SharedToken{Value: "TOKENZ_newer", RefreshAt: time.Now().Add(time.Hour), ExpiresAt: time.Now().Add(2 * time.Hour)}
	ok, err := store.CompareAndSwap(context.Background(), testAppID+"/stable", tokenName(1), newer)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = store.CompareAndSwap(context.Background(), testAppID+"/stable", tokenName(1), SharedToken{Value: "older"})
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, src.InvalidateToken(context.Background(), tokenName(1)))
	tok, err := src.Token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "TOKENZ_newer", tok, "the newer token is taken, not fetched over")
	assert.Equal(t, 1, w.count(stableTokenPath))
}

func TestStoreForceRefreshShared(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	var forced atomic.Int64
	w.handle(stableTokenPath, func(rw http.ResponseWriter, r *http.Request) {
		if strings.Contains(string(w.body(stableTokenPath, callN(r)-1)), `"force_refresh":true`) {
			forced.Add(1)
		}
		writeJSON(rw, `{"access_token":"`+tokenName(1+int(forced.Load()))+`","expires_in":7200}`)
	})
	clock := newFakeClock()
	store := newMemStore(clock.Now)
	srcs := processes(t, w, store, 3, withClock(clock.Now))
	for _, src := range srcs {
		_, err := src.Token(context.Background())
		require.NoError(t, err)
	}
	reject := func() {
		for _, src := range srcs {
			cur := src.cur.Load()
			if cur != nil {
				require.NoError(t, src.InvalidateToken(context.Background(), cur.value))
			}
			_, err := src.Token(context.Background())
			require.NoError(t, err)
		}
	}
	reject()
	assert.Equal(t, int64(1), forced.Load(), "one force_refresh for all processes")
	clock.Advance(10 * time.Second)
	reject()
	assert.Equal(t, int64(1), forced.Load(), "not within 30 s, whichever process asks")
	for i := 0; i < 30; i++ {
		clock.Advance(31 * time.Second)
		reject()
	}
	assert.Equal(t, int64(forcePerDayShared), forced.Load(), "the account's daily budget")
}

func TestStoreDownFallsBackAndRecovers(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	w.handle(stableTokenPath, stableTokens())
	clock := newFakeClock()
	store := newMemStore(clock.Now)
	store.down.Store(true)
	logs := &captureHandler{}
	src := processes(t, w, store, 1, withClock(clock.Now), WithLogger(slog.New(logs)))[0]
	for i := 0; i < 3; i++ {
		tok, err := src.Token(context.Background())
		require.NoError(t, err)
		assert.Equal(t, tokenName(i+1), tok)
		clock.Advance(2 * time.Hour) // expire: each round fetches a new one
	}
	warns := 0
	for _, l := range logs.lines {
		if strings.Contains(l, "token store unavailable") {
			warns++
			assert.Contains(t, l, "connection refused")
		}
	}
	assert.Equal(t, 1, warns, "logged once per outage")
	// The store comes back: the next refresh uses and fills it.
	store.down.Store(false)
	tok, err := src.Token(context.Background())
	require.NoError(t, err)
	st, _ := store.Load(context.Background(), testAppID+"/stable")
	assert.Equal(t, tok, st.Value)

	// Fail closed.
	store.down.Store(true)
	closed := processes(t, w, store, 1, WithTokenStoreFailClosed())[0]
	_, err = closed.Token(context.Background())
	assert.ErrorIs(t, err, ErrTokenStoreUnavailable)
}

func TestStoreLockBusyUsesValidToken(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	w.handle(stableTokenPath, stableTokens())
	clock := newFakeClock()
	store := newMemStore(clock.Now)
	key := testAppID + "/stable"
	// A token due for refresh but still valid, and another process holding the lock.
	store.tokens[key] = SharedToken{Value: "TOKEN_DUE", RefreshAt: clock.Now().Add(-time.Minute), ExpiresAt: clock.Now().Add(time.Minute)}
	store.locked[key] = true
	src := processes(t, w, store, 1, withClock(clock.Now))[0]
	tok, err := src.Token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "TOKEN_DUE", tok)
	assert.Zero(t, w.count(stableTokenPath))

	// Cold with the lock held: it waits for the holder, and ends with ctx.
	store.tokens[key] = SharedToken{}
	src2 := processes(t, w, store, 1, withClock(clock.Now), withSleep(sleepCtx))[0]
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = src2.Token(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	// The holder goes away: the detached fetch takes the lock and finishes.
	store.mu.Lock()
	delete(store.locked, key)
	store.mu.Unlock()
	tok, err = src2.Token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, tokenName(1), tok)
	assert.Equal(t, 1, w.count(stableTokenPath))
	assert.Error(t, WithTokenStore(nil)(&settings{}))
}

// TestStoreImplausibleTimesAreReplaced: a stored token whose times are past
// what a token can have (expiry in the year 3000) used to be served for as
// long as the store said; it is treated as absent and replaced, once.
func TestStoreImplausibleTimesAreReplaced(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	w.handle(stableTokenPath, stableTokens())
	clock := newFakeClock()
	store := newMemStore(clock.Now)
	far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	store.tokens[testAppID+"/stable"] = SharedToken{Value: "STALE_TOKEN_FROM_LONG_AGO", RefreshAt: far, ExpiresAt: far}
	srcs := processes(t, w, store, 3, withClock(clock.Now))
	for _, src := range srcs {
		tok, err := src.Token(context.Background())
		require.NoError(t, err)
		assert.Equal(t, tokenName(1), tok)
	}
	assert.Equal(t, 1, w.count(stableTokenPath), "one fetch for all")
	assert.Equal(t, tokenName(1), store.tokens[testAppID+"/stable"].Value, "the good token replaced the stale one")
}
