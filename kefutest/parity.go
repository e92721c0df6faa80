package kefutest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/kefu-go/kefu"
)

// CheckWindowParity walks a kefu.WindowTracker keeping its windows in store
// (nil: in memory) and a fake server through the same steps random steps
// (seeded), on the fake's clock: every action, unfollows, sends, and clock
// moves from a second to three days; with miniProgram, under Mini Program
// rules on both sides. It returns nil when the tracker agreed with the fake
// at every step, else an error naming the first step where it did not:
//
//   - a user the tracker knows has the fake's Open and Remaining;
//   - a send it refuses locally gets the same refusal from the fake (sent
//     again without the tracker), and one it lets through is accepted;
//   - a user it does not know is left to the fake, which can only say 45015.
//
// A WindowStore implementation passes it to show that it keeps kefu's rules
// (store must hold nothing for the openids "parity-1" to "parity-3").
func CheckWindowParity(store kefu.WindowStore, seed uint64, steps int, miniProgram bool) error {
	opts := []ServerOption{WithFrozenClock(time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC))}
	topts := []kefu.TrackerOption{}
	if miniProgram {
		opts = append(opts, WithMiniProgram())
		topts = append(topts, kefu.WithMiniProgramRules())
	}
	srv := NewServer(opts...)
	defer srv.Close()
	w := &walk{srv: srv, tr: kefu.NewWindowTracker(store, append(topts, kefu.WithTrackerClock(srv.Now))...)}
	w.tracked = srv.Client(kefu.WithWindows(w.tr))
	w.plain = srv.Client()
	users := []string{"parity-1", "parity-2", "parity-3"}
	for _, u := range users {
		srv.AddUser(u) // following, no window: unknown to the tracker
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for step := range steps {
		u := users[rng.IntN(len(users))]
		if err := w.step(rng, u); err != nil {
			return fmt.Errorf("kefutest: window parity, seed %d, step %d, %s: %w", seed, step, u, err)
		}
		if err := w.compare(u); err != nil {
			return fmt.Errorf("kefutest: window parity, seed %d, after step %d, %s: %w", seed, step, u, err)
		}
	}
	return nil
}

// walk is one parity walk's two sides.
type walk struct {
	srv            *Server
	tr             *kefu.WindowTracker
	tracked, plain *kefu.Client
	sends          int
}

var walkMoves = []time.Duration{time.Second, 10 * time.Second, 59 * time.Second, time.Minute, 61 * time.Second,
	time.Hour, 47 * time.Hour, 48 * time.Hour, 72 * time.Hour}

// step does one random thing to both sides.
func (w *walk) step(rng *rand.Rand, u string) error {
	ctx := context.Background()
	switch r := rng.IntN(100); {
	case r < 30:
		a := kefu.Actions()[rng.IntN(len(kefu.Actions()))]
		w.srv.Interact(u, a)
		return w.tr.Observe(ctx, u, a, w.srv.Now())
	case r < 33:
		w.srv.Unfollow(u)
		return w.tr.Unfollow(ctx, u, w.srv.Now())
	case r < 85:
		return w.send(u)
	default:
		w.srv.Advance(walkMoves[rng.IntN(len(walkMoves))])
		return nil
	}
}

// send sends to u through the tracked client and checks the decision.
func (w *walk) send(u string) error {
	ctx := context.Background()
	st, err := w.tr.Window(ctx, u)
	if err != nil {
		return err
	}
	w.sends++
	msg := kefu.NewText(u, fmt.Sprintf("parity %d", w.sends))
	_, err = w.tracked.Send(ctx, msg)
	var local *kefu.WindowError
	switch {
	case errors.As(err, &local):
		if !st.Known || st.Open && st.Remaining != 0 {
			return fmt.Errorf("refused locally with %+v: %v", st, err)
		}
		_, fakeErr := w.plain.Send(ctx, msg)
		if !sameRefusal(err, fakeErr) {
			return fmt.Errorf("the tracker refused (%v), the fake answered %v", err, fakeErr)
		}
	case st.Known && err != nil:
		return fmt.Errorf("the tracker let it through with %+v, the fake answered %v", st, err)
	case err != nil && !errors.Is(err, kefu.ErrOutsideWindow):
		return fmt.Errorf("an unknown user: the fake answered %v, want 45015 or success", err)
	}
	return nil
}

func sameRefusal(local, fake error) bool {
	if errors.Is(local, kefu.ErrOutsideWindow) {
		return errors.Is(fake, kefu.ErrOutsideWindow)
	}
	return errors.Is(local, kefu.ErrQuotaExceeded) && errors.Is(fake, kefu.ErrQuotaExceeded)
}

// compare checks that a user the tracker knows has the fake's Open and
// Remaining.
func (w *walk) compare(u string) error {
	st, err := w.tr.Window(context.Background(), u)
	if err != nil || !st.Known {
		return err
	}
	fake := w.srv.Windows(u)
	if st.Open != fake.Open || st.Remaining != fake.Remaining {
		return fmt.Errorf("the tracker has open=%v remaining=%d, the fake open=%v remaining=%d", st.Open, st.Remaining, fake.Open, fake.Remaining)
	}
	return nil
}
