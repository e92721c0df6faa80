package kefu_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

// The load test's shape.
const (
	loadSends   = 10_000
	loadWorkers = 64
	loadUsers   = 500
	loadBusy    = 0.01  // share of send calls answered errcode -1
	loadDrops   = 0.002 // share of send calls accepted, then cut unanswered
	loadSeed1   = 20261127
	loadSeed2   = 0x6b656675 // "kefu"
)

// loadRotations are the completed-send counts after which every token dies.
var loadRotations = []int64{3_000, 6_000}

func loadUser(i int) string { return fmt.Sprintf("o-load-%03d", i) }

// loadText is the unique text of message n; loadN parses it back.
func loadText(n int) string { return "msg-" + strconv.Itoa(n) }

func loadN(text string) (int, bool) {
	s, ok := strings.CutPrefix(text, "msg-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0 && n < loadSends
}

// TestLoadWithFaults sends 10,000 messages from 64 goroutines to 500 users
// while kefutest answers errcode -1 to 1% of the send calls at random, cuts
// 0.2% of them after accepting the message, and all tokens die twice. It
// then reconciles what the client reported with what WeChat recorded:
// every message succeeded, failed with a typed error, or has an unknown
// outcome; WeChat holds every success, no failure, some of the unknown ones,
// and nothing twice.
func TestLoadWithFaults(t *testing.T) {
	srv := kefutest.NewServer()
	defer srv.Close()
	for i := range loadUsers {
		srv.Interact(loadUser(i), kefutest.Payment) // unlimited for 48 h
	}
	srv.InjectRandom(kefutest.PathSend, kefutest.RandomFaults{
		Rand: rand.New(rand.NewPCG(loadSeed1, loadSeed2)),
		Fail: loadBusy, FailCode: -1,
		Drop: loadDrops,
	})
	c := srv.Client() // kefutest.FastRetry(): kefu's default policy without the waits
	defer c.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	errs := make([]error, loadSends)
	var next, done atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range loadWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1) - 1)
				if n >= loadSends {
					return
				}
				_, errs[n] = c.Send(ctx, kefu.NewText(loadUser(n%loadUsers), loadText(n)))
				d := done.Add(1)
				for _, r := range loadRotations {
					if d == r {
						srv.RotateTokens()
					}
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	require.NoError(t, ctx.Err(), "the run must finish well within its deadline")

	// What the client reported.
	var succeeded, failed, unknown []int
	failures := map[string]int{}
	for n, err := range errs {
		var ae *kefu.APIError
		var he *kefu.HTTPError
		var re *kefu.RequestError
		switch {
		case err == nil:
			succeeded = append(succeeded, n)
		case errors.Is(err, kefu.ErrDeliveryUnknown):
			unknown = append(unknown, n)
		case errors.As(err, &ae):
			failed = append(failed, n)
			failures[errorClass(err)]++
		case errors.As(err, &he) && !he.MaybeDelivered, errors.As(err, &re) && !re.MaybeDelivered:
			failed = append(failed, n)
			failures[errorClass(err)]++
		default:
			t.Errorf("message %d: an error that is neither typed nor ErrDeliveryUnknown: %T %v", n, err, err)
		}
	}
	require.Equal(t, loadSends, len(succeeded)+len(failed)+len(unknown), "every message in exactly one class")

	// What WeChat recorded.
	recorded := make([]int, loadSends)
	total := 0
	for i := range loadUsers {
		u := loadUser(i)
		for _, m := range srv.Messages(u) {
			require.NotNil(t, m.Text, "a text message")
			n, ok := loadN(m.Text.Content)
			require.True(t, ok, "a message the test did not send: %q", m.Text.Content)
			require.Equal(t, loadUser(n%loadUsers), u, "message %d went to the wrong user", n)
			recorded[n]++
			total++
		}
	}

	dups := 0
	for n, k := range recorded {
		if k > 1 {
			dups++
			t.Errorf("message %d recorded %d times", n, k)
		}
	}
	for _, n := range succeeded {
		assert.Equal(t, 1, recorded[n], "message %d succeeded: WeChat must hold it once", n)
	}
	for _, n := range failed {
		assert.Zero(t, recorded[n], "message %d failed with %v: WeChat must not hold it", n, errs[n])
	}
	unknownDelivered := 0
	for _, n := range unknown {
		unknownDelivered += recorded[n]
	}
	assert.Equal(t, len(succeeded)+unknownDelivered, total, "recorded = succeeded + a subset of unknown")

	inj := srv.Injected(kefutest.PathSend)
	calls := srv.Calls(kefutest.PathSend)
	assert.Equal(t, calls, inj.Calls, "every send call drew a random fault")
	// Under the default policy an unknown outcome is never retried, and a
	// cut connection is the only way to lose an answer here: one unknown
	// message per drop. WeChat holds each, unless the dropped call carried a
	// token that had just died (40001 unanswered: not delivered).
	assert.Equal(t, inj.Drops, len(unknown), "one unknown outcome per dropped call")
	assert.Positive(t, inj.Failed, "errcode -1 was injected")
	assert.Positive(t, inj.Drops, "drops were injected")
	tokenCalls := srv.Calls(kefutest.PathStableToken)
	assert.GreaterOrEqual(t, tokenCalls, 1+len(loadRotations), "a fresh token after each rotation")
	// Calls beyond one per message: retries after -1, and resends after a
	// token died.
	rejected := calls - loadSends - inj.Failed + failures["ErrSystemBusy (-1)"]
	assert.GreaterOrEqual(t, rejected, 0)

	t.Logf("load: %d sends, %d goroutines, %d users in %v: %.0f sends/s (seed %d,%d)",
		loadSends, loadWorkers, loadUsers, took.Round(time.Millisecond), float64(loadSends)/took.Seconds(), loadSeed1, loadSeed2)
	t.Logf("load: client: %d succeeded, %d failed %v, %d delivery unknown", len(succeeded), len(failed), failures, len(unknown))
	t.Logf("load: WeChat: %d send calls, %d answered -1, %d dropped after accepting, %d resent after a token rotation; "+
		"%d token calls, %d rotations; %d messages recorded (%d of the unknown ones), %d duplicates",
		calls, inj.Failed, inj.Drops, rejected, tokenCalls, len(loadRotations), total, unknownDelivered, dups)
}
