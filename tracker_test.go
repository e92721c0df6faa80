package kefu_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// trackedClient is a client of srv with a tracker on srv's clock.
func trackedClient(t *testing.T, srv *kefutest.Server, store kefu.WindowStore, opts ...kefu.TrackerOption) (*kefu.Client, *kefu.WindowTracker) {
	t.Helper()
	tr := kefu.NewWindowTracker(store, append([]kefu.TrackerOption{kefu.WithTrackerClock(srv.Now)}, opts...)...)
	return srv.Client(kefu.WithWindows(tr)), tr
}

// trackedFake is a fake on a frozen clock, closed with the test, and a
// client of it with an in-memory tracker.
func trackedFake(t *testing.T) (*kefutest.Server, *kefu.Client, *kefu.WindowTracker) {
	t.Helper()
	srv := kefutest.NewServer(kefutest.WithFrozenClock(time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)))
	t.Cleanup(srv.Close)
	c, tr := trackedClient(t, srv, nil)
	return srv, c, tr
}

// act makes a user action happen at the fake and tells the tracker, as the
// callback handler does.
func act(t *testing.T, srv *kefutest.Server, tr *kefu.WindowTracker, openID string, a kefu.Action) {
	t.Helper()
	srv.Interact(openID, a)
	require.NoError(t, tr.Observe(context.Background(), openID, a, srv.Now()))
}

func TestTrackerRefusesLocally(t *testing.T) {
	t.Parallel()
	srv, c, tr := trackedFake(t)
	ctx := context.Background()
	act(t, srv, tr, "o1", kefu.ActionScan)
	for i := range 3 {
		_, err := c.Send(ctx, kefu.NewText("o1", "hi"))
		require.NoError(t, err, "send %d", i)
	}
	calls := srv.Calls(kefutest.PathSend)
	_, err := c.Send(ctx, kefu.NewText("o1", "one too many"))
	var we *kefu.WindowError
	require.ErrorAs(t, err, &we)
	assert.ErrorIs(t, err, kefu.ErrQuotaExceeded)
	assert.NotErrorIs(t, err, kefu.ErrOutsideWindow)
	assert.Contains(t, err.Error(), "refused locally")
	assert.Equal(t, "o1", we.OpenID)
	assert.Equal(t, calls, srv.Calls(kefutest.PathSend), "WeChat was not called")

	srv.Advance(time.Minute)
	_, err = c.Send(ctx, kefu.NewText("o1", "late"))
	assert.ErrorIs(t, err, kefu.ErrOutsideWindow)
	assert.Contains(t, err.Error(), "closed "+srv.Now().UTC().Format(time.RFC3339))
	assert.Equal(t, calls, srv.Calls(kefutest.PathSend))

	st, err := tr.Window(ctx, "o1")
	require.NoError(t, err)
	assert.Equal(t, kefu.WindowState{Known: true, Closes: srv.Now()}, st)
}

func TestTrackerLearnsFromWeChat(t *testing.T) {
	t.Parallel()
	srv := kefutest.NewServer(kefutest.WithFrozenClock(time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)))
	defer srv.Close()
	srv.AddUser("o2") // follows, no window
	c, tr := trackedClient(t, srv, nil)
	ctx := context.Background()

	// Unknown: WeChat decides, and its 45015 teaches the tracker.
	_, err := c.Send(ctx, kefu.NewText("o2", "hi"))
	var api *kefu.APIError
	require.ErrorAs(t, err, &api)
	assert.Equal(t, 45015, api.Code)
	_, err = c.Send(ctx, kefu.NewText("o2", "again"))
	var we *kefu.WindowError
	require.ErrorAs(t, err, &we)
	assert.Equal(t, 1, srv.Calls(kefutest.PathSend))

	// 60 s later what only WeChat said is forgotten: WeChat decides again.
	srv.Advance(60 * time.Second)
	st, _ := tr.Window(ctx, "o2")
	assert.False(t, st.Known)
	_, err = c.Send(ctx, kefu.NewText("o2", "again"))
	require.ErrorAs(t, err, &api)
	assert.Equal(t, 2, srv.Calls(kefutest.PathSend))

	// 45047: the tracker thought 5 were left; another sender used them.
	act(t, srv, tr, "o3", kefu.ActionUserMessage)
	other := srv.Client()
	for range 5 {
		_, err := other.Send(ctx, kefu.NewText("o3", "x"))
		require.NoError(t, err)
	}
	_, err = c.Send(ctx, kefu.NewText("o3", "x"))
	require.ErrorAs(t, err, &api)
	assert.Equal(t, 45047, api.Code)
	sends := srv.Calls(kefutest.PathSend)
	_, err = c.Send(ctx, kefu.NewText("o3", "x"))
	require.ErrorAs(t, err, &we)
	assert.ErrorIs(t, err, kefu.ErrQuotaExceeded)
	assert.Equal(t, sends, srv.Calls(kefutest.PathSend))
	// A new action opens its own window.
	act(t, srv, tr, "o3", kefu.ActionFollow)
	_, err = c.Send(ctx, kefu.NewText("o3", "x"))
	assert.NoError(t, err)
}

func TestTrackerGivesBackFailedSends(t *testing.T) {
	t.Parallel()
	srv, c, tr := trackedFake(t)
	ctx := context.Background()
	act(t, srv, tr, "o1", kefu.ActionScan)

	// A refusal that surely did not deliver: the message is given back.
	srv.FailNext(kefutest.PathSend, 1, 40003)
	_, err := c.Send(ctx, kefu.NewText("o1", "x"))
	require.Error(t, err)
	st, _ := tr.Window(ctx, "o1")
	assert.Equal(t, 3, st.Remaining)

	// Delivery unknown: the message stays spent.
	srv.DropNext(kefutest.PathSend, 1)
	_, err = c.Send(ctx, kefu.NewText("o1", "x"))
	require.ErrorIs(t, err, kefu.ErrDeliveryUnknown)
	st, _ = tr.Window(ctx, "o1")
	assert.Equal(t, 2, st.Remaining)

	// A cancelled send's reservation is given back too (nothing was written).
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.Send(cctx, kefu.NewText("o1", "x"))
	require.Error(t, err)
	st, _ = tr.Window(ctx, "o1")
	assert.Equal(t, 2, st.Remaining)

	// Invalid messages fail before the tracker: nothing reserved.
	_, err = c.Send(ctx, kefu.NewText("o1", ""))
	require.ErrorIs(t, err, kefu.ErrInvalidMessage)
	st, _ = tr.Window(ctx, "o1")
	assert.Equal(t, 2, st.Remaining)
}

// TestTrackerOneLeftManySenders: with one message left, of many concurrent
// sends exactly one goes out.
func TestTrackerOneLeftManySenders(t *testing.T) {
	t.Parallel()
	srv, c, tr := trackedFake(t)
	ctx := context.Background()
	act(t, srv, tr, "o1", kefu.ActionEnterSession) // 2 messages
	_, err := c.Send(ctx, kefu.NewText("o1", "first"))
	require.NoError(t, err)

	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Send(ctx, kefu.NewText("o1", "race"))
		}()
	}
	wg.Wait()
	ok, local := 0, 0
	for _, err := range errs {
		var we *kefu.WindowError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &we) && errors.Is(err, kefu.ErrQuotaExceeded):
			local++
		default:
			t.Errorf("unexpected: %v", err)
		}
	}
	assert.Equal(t, 1, ok)
	assert.Equal(t, 15, local)
	assert.Equal(t, 2, srv.Calls(kefutest.PathSend))
}

type downStore struct{ calls int }

func (d *downStore) Update(context.Context, string, kefu.WindowOp) (kefu.WindowOutcome, error) {
	d.calls++
	return kefu.WindowOutcome{}, errors.New("redis: connection refused")
}

func TestTrackerStoreDownSendsAnyway(t *testing.T) {
	t.Parallel()
	srv := kefutest.NewServer(kefutest.WithFrozenClock(time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)))
	defer srv.Close()
	var logs bytes.Buffer
	store := &downStore{}
	tr := kefu.NewWindowTracker(store, kefu.WithTrackerClock(srv.Now), kefu.WithTrackerLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	c := srv.Client(kefu.WithWindows(tr))
	srv.Interact("o1", kefu.ActionUserMessage)
	for range 3 {
		_, err := c.Send(context.Background(), kefu.NewText("o1", "x"))
		require.NoError(t, err)
	}
	assert.Equal(t, 3, store.calls)
	assert.Equal(t, 1, strings.Count(logs.String(), "window store failed"), "logged once")
}

func TestTrackerArguments(t *testing.T) {
	t.Parallel()
	tr := kefu.NewWindowTracker(nil)
	ctx := context.Background()
	assert.ErrorIs(t, tr.Observe(ctx, "o1", kefu.Action(99), time.Now()), kefu.ErrInvalidMessage)
	assert.ErrorIs(t, tr.Observe(ctx, "", kefu.ActionFollow, time.Now()), kefu.ErrInvalidMessage)
	assert.ErrorIs(t, tr.Unfollow(ctx, "", time.Now()), kefu.ErrInvalidMessage)
	st, err := tr.Window(ctx, "nobody")
	require.NoError(t, err)
	assert.Equal(t, kefu.WindowState{}, st)
}
