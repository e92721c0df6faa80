package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWindowStoreKeys(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{})
	defer rdb.Close()
	assert.Equal(t, "kefu:windows:oUSER", NewWindowStore(rdb).redisKey("oUSER"))
	assert.Equal(t, "app:w:oUSER", NewWindowStore(rdb, WithWindowPrefix("app:w:")).redisKey("oUSER"))
	assert.Equal(t, "oUSER", NewWindowStore(rdb, WithWindowPrefix(""), nil).redisKey("oUSER"))
	assert.Panics(t, func() { NewWindowStore(nil) })
}

// windowStore returns a WindowStore on b with a prefix of its own.
func windowStore(b backend, name string) *WindowStore {
	return NewWindowStore(b.rdb, WithWindowPrefix(b.prefix+":windows:"+name+":"))
}

// The parity walks the core runs with its in-memory store (10,000 steps,
// the same seeds), on Redis: the script keeps kefu's rules, step for step
// against kefutest. Each walk has its own prefix. On miniredis, some 4
// times slower (it compiles the script at every call), a walk of 1,000
// steps shows that the script runs there.
func TestWindowStoreParityOfficialAccount(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) { parity(t, b, "oa", 1, false) })
}

func TestWindowStoreParityMiniProgram(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) { parity(t, b, "mp", 2, true) })
}

func parity(t *testing.T, b backend, name string, seed uint64, miniProgram bool) {
	steps := 10000
	if b.mini {
		steps = 1000
	}
	start := time.Now()
	require.NoError(t, kefutest.CheckWindowParity(windowStore(b, name), seed, steps, miniProgram))
	t.Logf("%d steps in %v", steps, time.Since(start))
}

// reference is kefu's rules in Go (UserWindows.Apply) with the store's
// expiry: a state 48 hours past its last window's close is gone, as its
// key would be.
type reference struct{ u *kefu.UserWindows }

func (r *reference) apply(op kefu.WindowOp) kefu.WindowOutcome {
	if r.u != nil && r.u.Until.IsZero() {
		var last time.Time
		for _, w := range r.u.Windows {
			if w.Closes.After(last) {
				last = w.Closes
			}
		}
		if !op.At.Before(last.Add(windowKeep)) {
			r.u = nil
		}
	}
	u, out := r.u.Apply(op)
	if op.Kind != kefu.OpPeek {
		r.u = u
	}
	return out
}

// randomOp returns a random op at *now, which it moves on by anything from
// a nanosecond to three days; last is the window last reserved.
func randomOp(rng *rand.Rand, now *time.Time, mini bool, last *kefu.Window) kefu.WindowOp {
	moves := []time.Duration{1, 999, time.Millisecond / 2, time.Millisecond, 1500 * time.Millisecond, time.Minute,
		time.Minute + 1, 48 * time.Hour, 72 * time.Hour}
	if rng.IntN(4) == 0 {
		*now = now.Add(moves[rng.IntN(len(moves))])
	}
	op := kefu.WindowOp{At: *now}
	switch r := rng.IntN(100); {
	case r < 25:
		a := kefu.Actions()[rng.IntN(len(kefu.Actions()))]
		rule, _ := a.Rule()
		op = kefu.WindowOp{Kind: kefu.OpObserve, Action: a, Rule: rule, MiniProgram: mini,
			At: now.Add(-time.Duration(rng.IntN(3)) * time.Duration(rng.Int64N(int64(2*time.Minute))))}
	case r < 28:
		op.Kind = kefu.OpUnfollow
	case r < 32:
		op.Kind = kefu.OpRefused
	case r < 36:
		op.Kind = kefu.OpSpent
	case r < 70:
		op.Kind = kefu.OpReserve
	case r < 85:
		op.Kind = kefu.OpRelease
		if last != nil {
			op.Action, op.Opened = last.Action, last.Opened
		}
	default:
		op.Kind = kefu.OpPeek
	}
	return op
}

// sameOutcome reports whether got is want, times compared as instants.
func sameOutcome(got, want kefu.WindowOutcome) bool {
	g, w := got.State, want.State
	if g.Known != w.Known || g.Open != w.Open || g.Remaining != w.Remaining || !g.Closes.Equal(w.Closes) {
		return false
	}
	if got.Reserved.Action == 0 || want.Reserved.Action == 0 {
		return got.Reserved.Action == want.Reserved.Action
	}
	a, b := got.Reserved, want.Reserved
	return a.Action == b.Action && a.Opened.Equal(b.Opened) && a.Closes.Equal(b.Closes) && a.Left == b.Left
}

// TestWindowStoreMatchesApply: random ops at times with nanoseconds (the
// parity walks move whole seconds), late observes among them, give what
// kefu.UserWindows.Apply gives, field for field and to the nanosecond.
func TestWindowStoreMatchesApply(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		for _, mini := range []bool{false, true} {
			store := windowStore(b, fmt.Sprint("apply-", mini))
			rng := rand.New(rand.NewPCG(3, 4))
			now := time.Date(2026, 11, 30, 8, 0, 0, 123456789, time.UTC)
			ref := map[string]*reference{}
			var last *kefu.Window
			steps := 3000
			if b.mini {
				steps = 500
			}
			for step := range steps {
				user := []string{"o1", "o2"}[rng.IntN(2)]
				if ref[user] == nil {
					ref[user] = &reference{}
				}
				op := randomOp(rng, &now, mini, last)
				want := ref[user].apply(op)
				got, err := store.Update(context.Background(), user, op)
				require.NoError(t, err)
				require.True(t, sameOutcome(got, want), "mini %v, step %d, %s, op %+v:\n got %+v %+v\nwant %+v %+v",
					mini, step, user, op, got.State, got.Reserved, want.State, want.Reserved)
				if got.Reserved.Action != 0 {
					last = &got.Reserved
				}
			}
		}
	})
}

// TestWindowStoreNanoseconds: on real clocks (nanoseconds), a message a
// send took is given back when the send surely failed: the reservation's
// Opened comes back from Redis exactly as the action's time.
func TestWindowStoreNanoseconds(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		at := time.Date(2026, 11, 30, 8, 0, 0, 987654321, time.UTC)
		srv := kefutest.NewServer(kefutest.WithFrozenClock(at))
		defer srv.Close()
		tr := kefu.NewWindowTracker(windowStore(b, "ns"), kefu.WithTrackerClock(func() time.Time { return srv.Now().Add(1) }))
		c := srv.Client(kefu.WithWindows(tr))
		ctx := context.Background()
		srv.Interact("o1", kefutest.Scan)
		require.NoError(t, tr.Observe(ctx, "o1", kefu.ActionScan, srv.Now()))

		srv.FailNext(kefutest.PathSend, 1, 40003) // surely not delivered
		_, err := c.Send(ctx, kefu.NewText("o1", "x"))
		require.Error(t, err)
		st, err := tr.Window(ctx, "o1")
		require.NoError(t, err)
		assert.Equal(t, 3, st.Remaining, "given back")
		assert.True(t, st.Closes.Equal(at.Add(time.Minute)), "closes %v", st.Closes)

		out, err := windowStore(b, "ns").Update(ctx, "o1", kefu.WindowOp{Kind: kefu.OpReserve, At: at.Add(time.Microsecond)})
		require.NoError(t, err)
		require.NotNil(t, out.Reserved)
		assert.Equal(t, at.UnixNano(), out.Reserved.Opened.UnixNano(), "to the nanosecond")
		assert.Equal(t, time.UTC, out.Reserved.Opened.Location(), "in the op's location")
	})
}

// TestWindowStoreExpiry: a key lives until the user's last window closed
// plus 48 hours, a state learned only from WeChat's answers a minute, and
// an unknown user has no key.
func TestWindowStoreExpiry(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		store := windowStore(b, "ttl")
		ctx := context.Background()
		now := time.Date(2026, 11, 30, 8, 0, 0, 500, time.UTC)
		update := func(user string, op kefu.WindowOp) kefu.WindowOutcome {
			t.Helper()
			out, err := store.Update(ctx, user, op)
			require.NoError(t, err)
			return out
		}
		near := func(want, got time.Duration) {
			t.Helper()
			assert.True(t, got > want-5*time.Second && got <= want+time.Millisecond, "PTTL %v, want about %v", got, want)
		}
		observe := func(user string, a kefu.Action, at time.Time) {
			rule, _ := a.Rule()
			update(user, kefu.WindowOp{Kind: kefu.OpObserve, Action: a, Rule: rule, At: at})
		}

		observe("o1", kefu.ActionUserMessage, now)
		near(96*time.Hour, b.ttl(store.redisKey("o1")))
		observe("o1", kefu.ActionScan, now.Add(time.Hour))
		near(95*time.Hour, b.ttl(store.redisKey("o1"))) // from the later op: the first window still closes last

		update("o2", kefu.WindowOp{Kind: kefu.OpRefused, At: now})
		near(time.Minute, b.ttl(store.redisKey("o2")))
		out := update("o2", kefu.WindowOp{Kind: kefu.OpPeek, At: now.Add(time.Minute)})
		assert.False(t, out.State.Known, "forgotten after a minute")
		update("o2", kefu.WindowOp{Kind: kefu.OpReserve, At: now.Add(time.Minute)})
		assert.Equal(t, time.Duration(-2), b.ttl(store.redisKey("o2")), "a forgotten user's key goes")

		for _, op := range []kefu.WindowOp{{Kind: kefu.OpPeek, At: now}, {Kind: kefu.OpSpent, At: now},
			{Kind: kefu.OpUnfollow, At: now}, {Kind: kefu.OpReserve, At: now}, {Kind: kefu.OpRelease, At: now}} {
			out := update("o3", op)
			assert.False(t, out.State.Known)
			assert.Equal(t, time.Duration(-2), b.ttl(store.redisKey("o3")), "no key for an unknown user after %v", op.Kind)
		}

		// Unfollowed: every window closes now; kept 48 hours from then.
		observe("o4", kefu.ActionPayment, now)
		update("o4", kefu.WindowOp{Kind: kefu.OpUnfollow, At: now.Add(time.Hour)})
		near(48*time.Hour, b.ttl(store.redisKey("o4")))
		out = update("o4", kefu.WindowOp{Kind: kefu.OpReserve, At: now.Add(time.Hour + 48*time.Hour - 1)})
		assert.Equal(t, kefu.WindowState{Known: true, Closes: now.Add(time.Hour)}, out.State)
		out = update("o4", kefu.WindowOp{Kind: kefu.OpPeek, At: now.Add(time.Hour + 48*time.Hour)})
		assert.False(t, out.State.Known, "48 hours after the last window closed")
	})
}

// TestWindowStoreUnreadable: what a key holds that a WindowStore did not
// write counts as an unknown user, and the next change replaces it.
func TestWindowStoreUnreadable(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		store := windowStore(b, "bad")
		ctx := context.Background()
		now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
		values := map[string]string{
			"not json": "hello", "another version": `{"v":2,"w":[]}`, "no windows": `{"v":1}`,
			"bad window": `{"v":1,"w":[[1,2]]}`, "bad until": `{"v":1,"w":[],"u":["x"]}`,
			"windows not a list": `{"v":1,"w":3}`, "too long": `{"v":1,"w":[],"x":"` + strings.Repeat("x", maxWindowValue) + `"}`,
		}
		for name, v := range values {
			require.NoError(t, b.rdb.Set(ctx, store.redisKey(name), v, 0).Err())
		}
		require.NoError(t, b.rdb.HSet(ctx, store.redisKey("a hash"), "f", "v").Err())
		values["a hash"] = ""
		for name := range values {
			out, err := store.Update(ctx, name, kefu.WindowOp{Kind: kefu.OpReserve, At: now})
			require.NoError(t, err, name)
			assert.False(t, out.State.Known, name)
			assert.Equal(t, time.Duration(-2), b.ttl(store.redisKey(name)), "%s: deleted", name)
		}
	})
}

// TestWindowStoreRedisDown: without Redis, Update fails and says for whom;
// a client with a tracker on it sends as if it had none.
func TestWindowStoreRedisDown(t *testing.T) {
	t.Parallel()
	store := NewWindowStore(deadRedis(t))
	ctx := context.Background()
	_, err := store.Update(ctx, "o-user", kefu.WindowOp{Kind: kefu.OpReserve, At: time.Now()})
	assert.ErrorContains(t, err, "redisstore: update windows of o-user: ")
	assert.ErrorContains(t, err, "connection refused")

	srv := kefutest.NewServer()
	defer srv.Close()
	srv.Interact("o-user", kefutest.UserMessage)
	h := &logs{}
	tr := kefu.NewWindowTracker(store, kefu.WithTrackerClock(srv.Now), kefu.WithTrackerLogger(slog.New(h)))
	c := srv.Client(kefu.WithWindows(tr))
	for range 2 {
		_, err = c.Send(ctx, kefu.NewText("o-user", "hello"))
		require.NoError(t, err)
	}
	assert.Len(t, srv.Messages("o-user"), 2)
	assert.Len(t, h.matching("window store failed", "connection refused"), 1, "logged once")
}
