package kefu

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)

func observe(a Action, at time.Time) WindowOp {
	r, _ := a.Rule()
	return WindowOp{Kind: OpObserve, Action: a, Rule: r, At: at}
}

func apply(u *UserWindows, ops ...WindowOp) (*UserWindows, WindowOutcome) {
	var out WindowOutcome
	for _, op := range ops {
		u, out = u.Apply(op)
	}
	return u, out
}

func TestWindowRules(t *testing.T) {
	t.Parallel()
	peek := func(at time.Time) WindowOp { return WindowOp{Kind: OpPeek, At: at} }
	reserve := func(at time.Time) WindowOp { return WindowOp{Kind: OpReserve, At: at} }

	// Unknown until an action.
	u, out := apply(nil, peek(t0))
	assert.Nil(t, u)
	assert.Equal(t, WindowState{}, out.State)

	// A user message: 5 in 48 h, accepted strictly before t+48h.
	u, out = apply(nil, observe(ActionUserMessage, t0), peek(t0))
	assert.Equal(t, WindowState{Known: true, Open: true, Remaining: 5, Closes: t0.Add(48 * time.Hour)}, out.State)
	_, out = apply(u, peek(t0.Add(48*time.Hour-time.Nanosecond)))
	assert.True(t, out.State.Open)
	_, out = apply(u, peek(t0.Add(48*time.Hour)))
	assert.Equal(t, WindowState{Known: true, Closes: t0.Add(48 * time.Hour)}, out.State)

	// A follow opens its own window beside it; sends take from the one that
	// closes first.
	u, out = apply(u, observe(ActionFollow, t0.Add(time.Hour)), reserve(t0.Add(time.Hour)))
	require.NotZero(t, out.Reserved.Action)
	assert.Equal(t, ActionFollow, out.Reserved.Action)
	assert.Equal(t, 7, out.State.Remaining)
	assert.Equal(t, t0.Add(48*time.Hour), out.State.Closes, "when the last one closes")

	// A repeat replaces the window with a fresh quota; an older report changes nothing.
	u, out = apply(u, observe(ActionFollow, t0.Add(time.Hour+10*time.Second)), peek(t0.Add(time.Hour+10*time.Second)))
	assert.Equal(t, 8, out.State.Remaining)
	u, out = apply(u, observe(ActionFollow, t0), peek(t0.Add(time.Hour+10*time.Second)))
	assert.Equal(t, 8, out.State.Remaining)

	// Release gives back to the window a reservation took from, not to its replacement.
	u, out = apply(u, reserve(t0.Add(time.Hour+11*time.Second)))
	taken := out.Reserved
	assert.Equal(t, ActionFollow, taken.Action)
	u, out = apply(u, WindowOp{Kind: OpRelease, Action: taken.Action, Opened: taken.Opened, At: t0.Add(time.Hour + 12*time.Second)})
	assert.Equal(t, 8, out.State.Remaining)
	stale := taken
	u, _ = apply(u, observe(ActionFollow, t0.Add(time.Hour+20*time.Second)))
	_, out = apply(u, WindowOp{Kind: OpRelease, Action: stale.Action, Opened: stale.Opened, At: t0.Add(time.Hour + 21*time.Second)})
	assert.Equal(t, 8, out.State.Remaining, "3 fresh + 5")

	// Unfollow closes every window; Closes says when.
	_, out = apply(u, WindowOp{Kind: OpUnfollow, At: t0.Add(2 * time.Hour)}, peek(t0.Add(2*time.Hour)))
	assert.Equal(t, WindowState{Known: true, Closes: t0.Add(2 * time.Hour)}, out.State)
}

func TestWindowTies(t *testing.T) {
	t.Parallel()
	// Windows closing at one instant are used in the order of the constants.
	u, _ := apply(nil, observe(ActionScan, t0), observe(ActionMenuClick, t0), observe(ActionFollow, t0))
	var got []Action
	for range 9 {
		var out WindowOutcome
		u, out = u.Apply(WindowOp{Kind: OpReserve, At: t0})
		got = append(got, out.Reserved.Action)
	}
	assert.Equal(t, []Action{ActionMenuClick, ActionMenuClick, ActionMenuClick, ActionFollow, ActionFollow, ActionFollow, ActionScan, ActionScan, ActionScan}, got)
	_, out := u.Apply(WindowOp{Kind: OpReserve, At: t0})
	assert.Zero(t, out.Reserved.Action)
	assert.Equal(t, WindowState{Known: true, Open: true, Closes: t0.Add(time.Minute)}, out.State, "open, nothing left: 45047")
}

func TestWindowPaymentUnlimited(t *testing.T) {
	t.Parallel()
	u, out := apply(nil, observe(ActionPayment, t0), observe(ActionScan, t0))
	_ = out
	for range 10 {
		u, out = u.Apply(WindowOp{Kind: OpReserve, At: t0.Add(2 * time.Minute)})
		require.NotZero(t, out.Reserved.Action)
	}
	assert.Equal(t, Unlimited, out.State.Remaining)
}

func TestWindowCorrections(t *testing.T) {
	t.Parallel()
	// 45015 for a user never seen: known and closed for 60 s, then unknown again.
	u, out := apply(nil, WindowOp{Kind: OpRefused, At: t0})
	assert.Equal(t, WindowState{Known: true}, out.State)
	_, out = apply(u, WindowOp{Kind: OpPeek, At: t0.Add(59 * time.Second)})
	assert.True(t, out.State.Known)
	_, out = apply(u, WindowOp{Kind: OpPeek, At: t0.Add(60 * time.Second)})
	assert.False(t, out.State.Known, "forgotten")

	// 45047 spends every open window; a later action opens only its own.
	u, _ = apply(nil, observe(ActionUserMessage, t0), observe(ActionScan, t0))
	u, out = apply(u, WindowOp{Kind: OpSpent, At: t0.Add(time.Second)})
	assert.Equal(t, 0, out.State.Remaining)
	assert.True(t, out.State.Open)
	u, out = apply(u, observe(ActionFollow, t0.Add(2*time.Second)), WindowOp{Kind: OpPeek, At: t0.Add(2 * time.Second)})
	assert.Equal(t, 3, out.State.Remaining)
	// The action made the state the tracker's own: not forgotten.
	_, out = apply(u, WindowOp{Kind: OpPeek, At: t0.Add(10 * time.Minute)})
	assert.True(t, out.State.Known)

	// 45047 for a user never seen: nothing to spend, still unknown.
	u, out = apply(nil, WindowOp{Kind: OpSpent, At: t0})
	assert.Nil(t, u)
	assert.False(t, out.State.Known)

	// 45015 disagreeing with the tracker's windows wins, for 60 s.
	u, _ = apply(nil, observe(ActionUserMessage, t0))
	u, out = apply(u, WindowOp{Kind: OpRefused, At: t0.Add(time.Minute)})
	assert.False(t, out.State.Open)
	_, out = apply(u, WindowOp{Kind: OpPeek, At: t0.Add(2 * time.Minute)})
	assert.False(t, out.State.Known, "forgotten: WeChat will decide")
}

func TestWindowMiniProgramRules(t *testing.T) {
	t.Parallel()
	mp := func(a Action, at time.Time) WindowOp { op := observe(a, at); op.MiniProgram = true; return op }
	u, out := apply(nil, mp(ActionUserMessage, t0), WindowOp{Kind: OpReserve, At: t0}, WindowOp{Kind: OpReserve, At: t0})
	assert.Equal(t, 3, out.State.Remaining)
	// Entering the chat: max(3 left, 2) = 3, deadline the later (48 h, not 1 min).
	u, out = apply(u, mp(ActionEnterSession, t0.Add(time.Hour)), WindowOp{Kind: OpPeek, At: t0.Add(time.Hour)})
	assert.Equal(t, WindowState{Known: true, Open: true, Remaining: 3, Closes: t0.Add(48 * time.Hour)}, out.State)
	assert.Len(t, u.Windows, 1, "one counter")
	// A new message: max(3, 5) = 5, until 48 h after it.
	_, out = apply(u, mp(ActionUserMessage, t0.Add(2*time.Hour)), WindowOp{Kind: OpPeek, At: t0.Add(2 * time.Hour)})
	assert.Equal(t, WindowState{Known: true, Open: true, Remaining: 5, Closes: t0.Add(50 * time.Hour)}, out.State)
	// After the counter closed, an action starts afresh.
	u, _ = apply(nil, mp(ActionEnterSession, t0))
	_, out = apply(u, mp(ActionEnterSession, t0.Add(2*time.Minute)), WindowOp{Kind: OpPeek, At: t0.Add(2 * time.Minute)})
	assert.Equal(t, 2, out.State.Remaining)
}

func TestApplyDoesNotMutate(t *testing.T) {
	t.Parallel()
	u, _ := apply(nil, observe(ActionUserMessage, t0))
	before := *u.clone()
	u.Apply(WindowOp{Kind: OpReserve, At: t0})
	assert.Equal(t, before, *u)
}

func TestMemoryWindowsSweeps(t *testing.T) {
	t.Parallel()
	m := newMemoryWindows()
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		_, err := m.Update(ctx, id, observe(ActionScan, t0))
		require.NoError(t, err)
	}
	_, _ = m.Update(ctx, "c", WindowOp{Kind: OpRefused, At: t0})
	assert.Len(t, m.users, 3)
	// Peeking at an unknown user stores nothing.
	_, _ = m.Update(ctx, "nobody", WindowOp{Kind: OpPeek, At: t0})
	assert.Len(t, m.users, 3)
	_, err := m.Update(ctx, "d", observe(ActionUserMessage, t0.Add(keepClosed+2*time.Minute)))
	require.NoError(t, err)
	assert.Len(t, m.users, 1, "closed and forgotten users are dropped")
}
