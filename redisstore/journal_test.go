package redisstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"iter"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestJournalKeys(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{})
	defer rdb.Close()
	j := NewJournal(rdb, "promo-1")
	assert.Equal(t, "kefu:journal:promo-1", j.key)
	assert.Equal(t, DefaultJournalTTL, j.ttl)
	j = NewJournal(rdb, "promo-1", WithJournalPrefix("app:j:"), WithJournalTTL(1500*time.Microsecond), nil)
	assert.Equal(t, "app:j:promo-1", j.key)
	assert.Equal(t, 2*time.Millisecond, j.ttl, "rounded up to ms")
	assert.Panics(t, func() { NewJournal(nil, "r") })
	assert.Panics(t, func() { NewJournal(rdb, "") })
	assert.Panics(t, func() { WithJournalTTL(0) })
}

// journal returns a Journal of its own run on b.
func journal(b backend, opts ...JournalOption) *Journal {
	return NewJournal(b.rdb, randHex(6), append([]JournalOption{WithJournalPrefix(b.prefix + ":journal:")}, opts...)...)
}

// claimAt is when the journal tests' claims are made.
var claimAt = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)

// mustClaim claims key with hash at t, and fails unless it was taken.
func mustClaim(tb testing.TB, j *Journal, key, hash string, t time.Time) {
	tb.Helper()
	_, ok, err := j.Claim(context.Background(), kefu.Claim{Key: key, Hash: hash, At: t})
	require.NoError(tb, err)
	require.True(tb, ok, "claim %s", key)
}

// TestJournalClaims is the core's TestFileJournalClaims on Redis.
func TestJournalClaims(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		j := journal(b)
		ctx := context.Background()
		mustClaim(t, j, "a", "h1", claimAt)
		prev, ok, err := j.Claim(ctx, kefu.Claim{Key: "a", Hash: "h1", At: claimAt})
		require.NoError(t, err)
		assert.False(t, ok, "an attempt without an outcome is unknown")
		assert.Equal(t, kefu.JournalAttempted, prev.State)
		_, ok, _ = j.Claim(ctx, kefu.Claim{Key: "a", Hash: "h1", At: claimAt, RetryUnknown: true})
		assert.True(t, ok, "unless the caller accepts duplicates")
		_, ok, _ = j.Claim(ctx, kefu.Claim{Key: "a", Hash: "h1", At: claimAt, RetryUnknown: true, UnknownSince: claimAt.Add(time.Second)})
		assert.False(t, ok, "not when the attempt is older than UnknownSince")

		require.NoError(t, j.Record(ctx, kefu.JournalEntry{Key: "a", State: kefu.JournalSent, MsgID: 9, At: claimAt}))
		_, ok, _ = j.Claim(ctx, kefu.Claim{Key: "a", Hash: "h1", At: claimAt, RetryUnknown: true})
		assert.False(t, ok, "sent: never again")
		_, _, err = j.Claim(ctx, kefu.Claim{Key: "a", Hash: "h2", At: claimAt})
		assert.ErrorIs(t, err, kefu.ErrJournalMismatch)

		mustClaim(t, j, "b", "h", claimAt)
		require.NoError(t, j.Record(ctx, kefu.JournalEntry{Key: "b", State: kefu.JournalReleased, At: claimAt}))
		prev, ok, _ = j.Claim(ctx, kefu.Claim{Key: "b", Hash: "h", At: claimAt})
		assert.True(t, ok, "released: free again")
		assert.Equal(t, kefu.JournalReleased, prev.State, "the claim returns what it replaced")

		// Another Journal value of the same run: the same state, from Redis.
		e, err := NewJournal(b.rdb, j.runID, WithJournalPrefix(b.prefix+":journal:")).Entries(ctx)
		require.NoError(t, err)
		assert.Equal(t, kefu.JournalEntry{Key: "a", Hash: "h1", State: kefu.JournalSent, MsgID: 9, At: claimAt}, e["a"])
		assert.Equal(t, kefu.JournalEntry{Key: "b", Hash: "h", State: kefu.JournalAttempted, At: claimAt}, e["b"])
		assert.Len(t, e, 2)
	})
}

// TestJournalDecidesAsCanClaim: for every state a key may hold (none
// too), hashes alike, different or missing, with and without
// RetryUnknown, and UnknownSince before, at and after the entry's time
// (by a nanosecond), the script decides as kefu.CanClaim, and what a
// claim writes and returns is what a FileJournal would.
func TestJournalDecidesAsCanClaim(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		j := journal(b)
		ctx := context.Background()
		at := claimAt.Add(123456789)
		states := []kefu.JournalState{0, kefu.JournalAttempted, kefu.JournalSent, kefu.JournalFailed,
			kefu.JournalUnknown, kefu.JournalReleased}
		n := 0
		for _, state := range states {
			for _, held := range []string{"", "h1"} {
				for _, hash := range []string{"", "h1", "h2"} {
					for _, retry := range []bool{false, true} {
						for _, since := range []time.Time{{}, at.Add(-time.Nanosecond), at, at.Add(time.Nanosecond)} {
							n++
							key := fmt.Sprintf("k%d", n)
							prev := kefu.JournalEntry{Key: key, Hash: held, State: state, MsgID: 77, Code: 45015, At: at}
							if state != 0 {
								v, err := encodeEntry(prev)
								require.NoError(t, err)
								require.NoError(t, b.rdb.HSet(ctx, j.key, key, v).Err())
							}
							c := kefu.Claim{Key: key, Hash: hash, At: at.Add(time.Hour), RetryUnknown: retry, UnknownSince: since}
							want, wantErr := kefu.CanClaim(prev, state != 0, c)
							got, ok, err := j.Claim(ctx, c)
							name := fmt.Sprintf("%s held %q claim %+v", state, held, c)
							assert.Equal(t, want, ok, name)
							assert.Equal(t, wantErr != nil, errors.Is(err, kefu.ErrJournalMismatch), name)
							if state != 0 {
								assert.Equal(t, prev, got, name)
							} else {
								assert.Equal(t, kefu.JournalEntry{}, got, name)
							}
							e, err := j.Entries(ctx)
							require.NoError(t, err)
							if ok {
								assert.Equal(t, kefu.JournalEntry{Key: key, Hash: hash, State: kefu.JournalAttempted, At: c.At}, e[key], name)
							} else {
								assert.Equal(t, prev, e[key], name+": left alone")
							}
						}
					}
				}
			}
		}
		t.Logf("%d cases", n)
	})
}

// TestJournalTimes: times keep their nanoseconds and come back in UTC;
// UnknownSince is compared to the nanosecond, also across locations.
func TestJournalTimes(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		j := journal(b)
		ctx := context.Background()
		beijing := time.FixedZone("UTC+8", 8*60*60)
		at := time.Date(2026, 11, 30, 16, 0, 0, 999999999, beijing)
		mustClaim(t, j, "a", "h", at)
		e, err := j.Entries(ctx)
		require.NoError(t, err)
		assert.True(t, e["a"].At.Equal(at), "got %v", e["a"].At)
		assert.Equal(t, time.UTC, e["a"].At.Location())

		late := kefu.Claim{Key: "a", Hash: "h", At: at, RetryUnknown: true, UnknownSince: at.Add(time.Nanosecond)}
		_, ok, err := j.Claim(ctx, late)
		require.NoError(t, err)
		assert.False(t, ok, "the attempt is a nanosecond older than UnknownSince")
		_, ok, err = j.Claim(ctx, kefu.Claim{Key: "a", Hash: "h", At: at, RetryUnknown: true, UnknownSince: at.UTC()})
		require.NoError(t, err)
		assert.True(t, ok, "at UnknownSince exactly, given in another location")

		_, _, err = j.Claim(ctx, kefu.Claim{Key: "b", Hash: "h", At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
		assert.ErrorContains(t, err, "out of the years")
		assert.ErrorContains(t, j.Record(ctx, kefu.JournalEntry{Key: "b", State: kefu.JournalSent, At: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}), "out of the years")
	})
}

// TestJournalRecord: an outcome without a Hash keeps its claim's; one
// with a Hash stores it; the stored value is a JournalEntry's JSON.
func TestJournalRecord(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		j := journal(b)
		ctx := context.Background()
		mustClaim(t, j, "a", "h/1\"", claimAt)
		require.NoError(t, j.Record(ctx, kefu.JournalEntry{Key: "a", State: kefu.JournalSent, MsgID: 1<<62 + 1, At: claimAt}))
		require.NoError(t, j.Record(ctx, kefu.JournalEntry{Key: "b", State: kefu.JournalFailed, Code: 45015, At: claimAt}))
		require.NoError(t, j.Record(ctx, kefu.JournalEntry{Key: "c", Hash: "h3", State: kefu.JournalUnknown, At: claimAt}))
		e, err := j.Entries(ctx)
		require.NoError(t, err)
		assert.Equal(t, map[string]kefu.JournalEntry{
			"a": {Key: "a", Hash: "h/1\"", State: kefu.JournalSent, MsgID: 1<<62 + 1, At: claimAt},
			"b": {Key: "b", State: kefu.JournalFailed, Code: 45015, At: claimAt},
			"c": {Key: "c", Hash: "h3", State: kefu.JournalUnknown, At: claimAt},
		}, e)
		v, err := b.rdb.HGet(ctx, j.key, "c").Result()
		require.NoError(t, err)
		assert.Equal(t, `{"key":"c","hash":"h3","state":"unknown","at":"2026-11-30T08:00:00.000000000Z"}`, v)
	})
}

// TestJournalBadValue: a field a Journal did not write decides nothing.
func TestJournalBadValue(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		j := journal(b)
		ctx := context.Background()
		for _, v := range []string{"garbage", `{"key":"a"}`, `[1]`, `{"key":"a","state":"sent"}`} {
			require.NoError(t, b.rdb.HSet(ctx, j.key, "a", v).Err())
			_, ok, err := j.Claim(ctx, kefu.Claim{Key: "a", Hash: "h", At: time.Now()})
			assert.False(t, ok, v)
			assert.ErrorContains(t, err, "not a journal entry", v)
			_, err = j.Entries(ctx)
			assert.ErrorContains(t, err, "not a journal entry", v)
		}
		require.NoError(t, b.rdb.Set(ctx, j.key, "a string", 0).Err())
		_, _, err := j.Claim(ctx, kefu.Claim{Key: "a", Hash: "h", At: time.Now()})
		assert.ErrorContains(t, err, "WRONGTYPE")
	})
}

// TestJournalClaimOnce: many goroutines, through one Journal and through
// two, claim one key at once: one gets it.
func TestJournalClaimOnce(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		j := journal(b)
		other := NewJournal(b.rdb, j.runID, WithJournalPrefix(b.prefix+":journal:"))
		ctx := context.Background()
		for round := range 20 {
			key := fmt.Sprintf("o-user#%d", round)
			var i atomic.Int32
			wins := winners(t, 32, func() (bool, error) {
				use := j
				if i.Add(1)%2 == 0 {
					use = other
				}
				_, ok, err := use.Claim(ctx, kefu.Claim{Key: key, Hash: "h", At: time.Now()})
				return ok, err
			})
			assert.Equal(t, 1, wins, key)
		}
	})
}

// TestJournalExpiry: a run's key expires DefaultJournalTTL (or the
// option's) after its last write.
func TestJournalExpiry(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		j := journal(b)
		_, _, err := j.Claim(ctx, kefu.Claim{Key: "a", Hash: "h", At: time.Now()})
		require.NoError(t, err)
		ttl := b.ttl(j.key)
		assert.Greater(t, ttl, DefaultJournalTTL-time.Minute)
		assert.LessOrEqual(t, ttl, DefaultJournalTTL)

		j = journal(b, WithJournalTTL(time.Minute))
		require.NoError(t, j.Record(ctx, kefu.JournalEntry{Key: "a", State: kefu.JournalSent, At: time.Now()}))
		require.NoError(t, b.rdb.PExpire(ctx, j.key, time.Second).Err())
		_, _, err = j.Claim(ctx, kefu.Claim{Key: "b", Hash: "h", At: time.Now()})
		require.NoError(t, err)
		ttl = b.ttl(j.key)
		assert.Greater(t, ttl, 50*time.Second, "refreshed by the claim")
		assert.LessOrEqual(t, ttl, time.Minute)
		require.NoError(t, b.rdb.PExpire(ctx, j.key, time.Second).Err())
		require.NoError(t, j.Record(ctx, kefu.JournalEntry{Key: "b", State: kefu.JournalSent, At: time.Now()}))
		assert.Greater(t, b.ttl(j.key), 50*time.Second, "refreshed by the outcome")
	})
}

// TestJournalRedisDown: every call fails with an error that names the run
// and the key, and never claims.
func TestJournalRedisDown(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379", MaxRetries: -1, DialerRetries: 1,
		Dialer: func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("connection refused") }})
	defer rdb.Close()
	j := NewJournal(rdb, "run-1")
	ctx := context.Background()
	_, ok, err := j.Claim(ctx, kefu.Claim{Key: "o-user#0", Hash: "h", At: time.Now()})
	assert.False(t, ok)
	assert.ErrorContains(t, err, `redisstore: journal run-1: claim "o-user#0": `)
	assert.ErrorContains(t, j.Record(ctx, kefu.JournalEntry{Key: "o-user#0", State: kefu.JournalSent, At: time.Now()}), "connection refused")
	_, err = j.Entries(ctx)
	assert.ErrorContains(t, err, "connection refused")
}

// The multi-process test's children (TestHelperProcess) each send
// the same whole broadcast with SendAll and a Journal of one run; they
// read "go" on stdin, say "ready" before and, after the run, "sent N
// skipped N other N" and "done" (or "err MSG").
const (
	envJournalHelper = "KEFU_JOURNAL_HELPER" // "1" in a child
	envJournalRun    = "KEFU_JOURNAL_RUN"
	envJournalN      = "KEFU_JOURNAL_N"
)

// broadcast is the multi-process test's input: a text to each of n users.
func broadcast(n int) iter.Seq[*kefu.Message] {
	return func(yield func(*kefu.Message) bool) {
		for i := range n {
			if !yield(kefu.NewText(fmt.Sprintf("o-%05d", i), "news")) {
				return
			}
		}
	}
}

func journalHelperMain() int {
	n, _ := strconv.Atoi(os.Getenv(envJournalN))
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv(envAddr)})
	defer rdb.Close()
	url := os.Getenv(envURL)
	ts, err := kefu.NewTokenSource(os.Getenv(envAppID), os.Getenv(envSecret), kefu.WithBaseURL(url))
	if err != nil {
		fmt.Println("err", err)
		return 2
	}
	client, err := kefu.NewClient(ts, kefu.WithBaseURL(url))
	if err != nil {
		fmt.Println("err", err)
		return 2
	}
	defer client.CloseIdleConnections()
	fmt.Println("ready")
	if in := bufio.NewScanner(os.Stdin); !in.Scan() || in.Text() != "go" {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	j := NewJournal(rdb, os.Getenv(envJournalRun), WithJournalPrefix(os.Getenv(envPrefix)))
	count := map[kefu.SendStatus]int{}
	for res, err := range client.SendAll(ctx, broadcast(n), kefu.BulkJournal(j), kefu.BulkConcurrency(8)) {
		if err != nil {
			fmt.Println("err", err)
			return 1
		}
		count[res.Status]++
	}
	sent, skipped := count[kefu.StatusSent], count[kefu.StatusSkipped]
	fmt.Printf("sent %d skipped %d other %d\n", sent, skipped, n-sent-skipped)
	fmt.Println("done")
	return 0
}

// TestJournalProcesses: three processes send the same 3,000 messages at
// once, with one Journal run on one Redis: each user receives one message,
// and the processes' sends add up to 3,000.
func TestJournalProcesses(t *testing.T) {
	rdb, prefix := realRedis(t)
	srv := kefutest.NewServer()
	defer srv.Close()
	const users, procs = 3000, 3
	for i := range users {
		srv.Interact(fmt.Sprintf("o-%05d", i), kefutest.UserMessage)
	}
	run := "run-" + randHex(4)
	env := append(os.Environ(), envHelper+"=1", envJournalHelper+"=1", envURL+"="+srv.URL, envAppID+"="+srv.AppID,
		envSecret+"="+srv.AppSecret, envPrefix+"="+prefix+":journal:", envJournalRun+"="+run, envJournalN+"="+strconv.Itoa(users))
	var children []*child
	for i := range procs {
		children = append(children, spawn(t, fmt.Sprintf("child %d", i), "TestHelperProcess", env))
	}
	for _, c := range children {
		c.expect("ready", 30*time.Second)
	}

	start := time.Now()
	for _, c := range children {
		c.command("go")
	}
	sent := 0
	for _, c := range children {
		lines := c.results(time.Minute)
		require.Len(t, lines, 1, "%s: %q", c.name, lines)
		var s, k, o int
		_, err := fmt.Sscanf(lines[0], "sent %d skipped %d other %d", &s, &k, &o)
		require.NoError(t, err, "%s: %q", c.name, lines[0])
		assert.Equal(t, users, s+k, "%s: each item sent or skipped", c.name)
		t.Logf("%s: sent %d, skipped %d", c.name, s, k)
		sent += s
	}
	t.Logf("%d processes sent %d messages in %v", procs, users, time.Since(start))
	assert.Equal(t, users, sent, "sent by the processes together")
	assert.Equal(t, users, srv.Calls(kefutest.PathSend), "sends that reached WeChat")
	for i := range users {
		id := fmt.Sprintf("o-%05d", i)
		assert.Len(t, srv.Messages(id), 1, id)
	}
	e, err := NewJournal(rdb, run, WithJournalPrefix(prefix+":journal:")).Entries(context.Background())
	require.NoError(t, err)
	assert.Len(t, e, users)
	for k, v := range e {
		assert.Equal(t, kefu.JournalSent, v.State, k)
	}
}

// BenchmarkJournalClaim measures a claim and its outcome (two round trips
// to a real Redis) of a new key each time, one goroutine at a time or many:
//
//	go test -run '^$' -bench JournalClaim .
func BenchmarkJournalClaim(b *testing.B) {
	rdb, prefix := realRedis(b)
	j := NewJournal(rdb, randHex(6), WithJournalPrefix(prefix+":journal:"))
	ctx := context.Background()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := "o-user#" + strconv.FormatInt(n.Add(1), 10)
			_, ok, err := j.Claim(ctx, kefu.Claim{Key: key, Hash: "5f0c9a7e1b2d3c4e", At: time.Now()})
			if err != nil || !ok {
				b.Fatal(ok, err)
			}
			if err := j.Record(ctx, kefu.JournalEntry{Key: key, State: kefu.JournalSent, MsgID: 7291, At: time.Now()}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
