package kefutest_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

// outcomeOf names what one send under kefu.NoRetry met.
func outcomeOf(err error) string {
	var ae *kefu.APIError
	var he *kefu.HTTPError
	var re *kefu.RequestError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &ae):
		return fmt.Sprintf("errcode %d", ae.Code)
	case errors.As(err, &he):
		return fmt.Sprintf("HTTP %d", he.StatusCode)
	case errors.As(err, &re) && re.MaybeDelivered:
		return "dropped"
	}
	return "other: " + err.Error()
}

// randomRun sends n messages one by one, one attempt each, under a random
// mix seeded with seed, and returns what each met.
func randomRun(t *testing.T, seed uint64, n int) ([]string, *kefutest.Server) {
	t.Helper()
	srv := newServer(t)
	srv.Interact("o-user", kefutest.Payment)
	srv.InjectRandom(kefutest.PathSend, kefutest.RandomFaults{
		Rand: rand.New(rand.NewPCG(seed, 7)),
		Fail: 0.1, FailCode: -1,
		Drop:   0.05,
		Status: 0.05, StatusCode: 502,
	})
	c := srv.Client(kefu.WithRetry(kefu.NoRetry))
	t.Cleanup(c.CloseIdleConnections)
	out := make([]string, n)
	for i := range out {
		_, err := c.Send(context.Background(), kefu.NewText("o-user", fmt.Sprintf("m%d", i)))
		out[i] = outcomeOf(err)
	}
	return out, srv
}

func TestInjectRandomIsReproducible(t *testing.T) {
	t.Parallel()
	const n = 200
	a, srv := randomRun(t, 1, n)
	b, _ := randomRun(t, 1, n)
	c, _ := randomRun(t, 2, n)
	assert.Equal(t, a, b, "the same seed gives the same faults, call by call")
	assert.NotEqual(t, a, c, "another seed gives other faults")

	count := func(what string) int {
		k := 0
		for _, o := range a {
			if o == what {
				k++
			}
		}
		return k
	}
	got := srv.Injected(kefutest.PathSend)
	assert.Equal(t, kefutest.InjectedFaults{
		Calls: n, Failed: count("errcode -1"), Drops: count("dropped"), Status: count("HTTP 502"),
	}, got)
	assert.Equal(t, n, count("ok")+got.Failed+got.Drops+got.Status, "every call is ok or one of the faults: %v", a)
	assert.Positive(t, got.Failed)
	assert.Positive(t, got.Drops)
	assert.Positive(t, got.Status)
	// A drop acts; the other faults do not.
	assert.Len(t, srv.Messages("o-user"), count("ok")+got.Drops)
	assert.Equal(t, n, srv.Calls(kefutest.PathSend))
}

func TestInjectRandomAfterScriptedFaults(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Interact("o-user", kefutest.Payment)
	srv.FailNext(kefutest.PathSend, 1, 45011) // queued before the mix
	srv.InjectRandom(kefutest.PathSend, kefutest.RandomFaults{
		Rand: rand.New(rand.NewPCG(1, 2)), Fail: 1, FailCode: 45009,
	})
	srv.FailNext(kefutest.PathSend, 2, 45015) // queued after: still applies first
	c := srv.Client(kefu.WithRetry(kefu.NoRetry))
	defer c.CloseIdleConnections()
	var got []string
	for range 5 {
		_, err := c.Send(context.Background(), kefu.NewText("o-user", "hi"))
		got = append(got, outcomeOf(err))
	}
	assert.Equal(t, []string{"errcode 45011", "errcode 45015", "errcode 45015", "errcode 45009", "errcode 45009"}, got)
	assert.Equal(t, kefutest.InjectedFaults{Calls: 2, Failed: 2}, srv.Injected(kefutest.PathSend))
	assert.Equal(t, kefutest.InjectedFaults{}, srv.Injected(kefutest.PathTyping), "other paths have no mix")

	// A zero mix stops random faults; the counts go with it.
	srv.InjectRandom(kefutest.PathSend, kefutest.RandomFaults{})
	_, err := c.Send(context.Background(), kefu.NewText("o-user", "hi"))
	require.NoError(t, err)
	assert.Equal(t, kefutest.InjectedFaults{}, srv.Injected(kefutest.PathSend))
	assert.Len(t, srv.Messages("o-user"), 1)
}

func TestInjectRandomReplacesTheMix(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.Interact("o-user", kefutest.Payment)
	r := rand.New(rand.NewPCG(3, 4))
	srv.InjectRandom(kefutest.PathSend, kefutest.RandomFaults{Rand: r, Fail: 1, FailCode: 45009})
	srv.InjectRandom(kefutest.PathSend, kefutest.RandomFaults{Rand: r, Drop: 1})
	c := srv.Client(kefu.WithRetry(kefu.NoRetry))
	defer c.CloseIdleConnections()
	_, err := c.Send(context.Background(), kefu.NewText("o-user", "hi"))
	assert.ErrorIs(t, err, kefu.ErrDeliveryUnknown)
	assert.Equal(t, kefutest.InjectedFaults{Calls: 1, Drops: 1}, srv.Injected(kefutest.PathSend))
	assert.Len(t, srv.Messages("o-user"), 1, "a drop delivers")
}

func TestInjectRandomRejectsBadMixes(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	r := rand.New(rand.NewPCG(1, 1))
	for name, f := range map[string]kefutest.RandomFaults{
		"negative":    {Rand: r, Fail: -0.1},
		"above one":   {Rand: r, Drop: 1.5},
		"NaN":         {Rand: r, Status: math.NaN(), StatusCode: 502},
		"sum":         {Rand: r, Fail: 0.6, Drop: 0.6},
		"no Rand":     {Fail: 0.1, FailCode: -1},
		"status code": {Rand: r, Status: 0.1, StatusCode: 99},
	} {
		assert.Panics(t, func() { srv.InjectRandom(kefutest.PathSend, f) }, name)
	}
	assert.NotPanics(t, func() { srv.InjectRandom(kefutest.PathSend, kefutest.RandomFaults{}) }, "zero stops")
}

func TestIssuedTokens(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	assert.Empty(t, srv.IssuedTokens())
	ctx := context.Background()
	stable, err := srv.TokenSource().Token(ctx)
	require.NoError(t, err)
	classic, err := srv.TokenSource(kefu.WithClassicToken()).Token(ctx)
	require.NoError(t, err)
	srv.RotateTokens()
	fresh, err := srv.TokenSource().Token(ctx)
	require.NoError(t, err)
	got := srv.IssuedTokens()
	want := []string{stable, classic, fresh}
	slices.Sort(want)
	assert.Equal(t, want, got, "dead tokens stay listed")
	got[0] = "changed"
	assert.Equal(t, want, srv.IssuedTokens(), "the result is the caller's")
}
