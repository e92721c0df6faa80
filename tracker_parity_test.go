package kefu_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
	"github.com/stretchr/testify/require"
)

// parityWalk drives kefutest and a tracker through the same random steps
// on the fake's clock and fails at the first step where the tracker's
// decision differs from the fake's answer: every action, unfollows, sends,
// and clock moves from a second to days.
func parityWalk(t *testing.T, seed uint64, steps int, store kefu.WindowStore, miniProgram bool) {
	opts := []kefutest.ServerOption{kefutest.WithFrozenClock(time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC))}
	topts := []kefu.TrackerOption{}
	if miniProgram {
		opts = append(opts, kefutest.WithMiniProgram())
		topts = append(topts, kefu.WithMiniProgramRules())
	}
	srv := kefutest.NewServer(opts...)
	defer srv.Close()
	tr := kefu.NewWindowTracker(store, append(topts, kefu.WithTrackerClock(srv.Now))...)
	tracked := srv.Client(kefu.WithWindows(tr))
	plain := srv.Client()
	ctx := context.Background()
	users := []string{"o1", "o2", "o3"}
	for _, u := range users {
		srv.AddUser(u) // following, no window: unknown to the tracker
	}
	actions := kefu.Actions()
	moves := []time.Duration{time.Second, 10 * time.Second, 59 * time.Second, time.Minute, 61 * time.Second, time.Hour, 47 * time.Hour, 48 * time.Hour, 72 * time.Hour}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for step := range steps {
		u := users[rng.IntN(len(users))]
		switch r := rng.IntN(100); {
		case r < 30:
			a := actions[rng.IntN(len(actions))]
			srv.Interact(u, a)
			require.NoError(t, tr.Observe(ctx, u, a, srv.Now()))
		case r < 33:
			srv.Unfollow(u)
			require.NoError(t, tr.Unfollow(ctx, u, srv.Now()))
		case r < 85:
			checkSend(t, step, tr, tracked, plain, u)
		default:
			srv.Advance(moves[rng.IntN(len(moves))])
		}
	}
}

// checkSend sends through the tracked client. A user the tracker knows
// must get the tracker's decision, and the fake must agree: a local
// refusal is checked by the same send through a plain client (the fake's
// answer must be the same refusal), a send the tracker lets through must be
// accepted. A user it does not know goes to the fake, which decides.
func checkSend(t *testing.T, step int, tr *kefu.WindowTracker, tracked, plain *kefu.Client, openID string) {
	t.Helper()
	ctx := context.Background()
	st, err := tr.Window(ctx, openID)
	require.NoError(t, err)
	msg := kefu.NewText(openID, fmt.Sprintf("step %d", step))
	_, err = tracked.Send(ctx, msg)
	var we *kefu.WindowError
	switch {
	case errors.As(err, &we):
		require.Truef(t, st.Known && (!st.Open || st.Remaining == 0), "step %d %s: refused locally with %+v", step, openID, st)
		_, fakeErr := plain.Send(ctx, msg)
		require.Truef(t, sameClass(err, fakeErr), "step %d %s: tracker %v, fake %v", step, openID, err, fakeErr)
	case st.Known:
		require.NoErrorf(t, err, "step %d %s: the tracker let it through with %+v", step, openID, st)
	case err != nil:
		var api *kefu.APIError
		require.ErrorAsf(t, err, &api, "step %d", step)
		require.Equalf(t, 45015, api.Code, "step %d: an unknown user", step)
	}
}

func sameClass(local, fake error) bool {
	if errors.Is(local, kefu.ErrOutsideWindow) {
		return errors.Is(fake, kefu.ErrOutsideWindow)
	}
	return errors.Is(local, kefu.ErrQuotaExceeded) && errors.Is(fake, kefu.ErrQuotaExceeded)
}

func TestTrackerParityOfficialAccount(t *testing.T) {
	t.Parallel()
	parityWalk(t, 1, 10000, nil, false)
}
