package kefu_test

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// texts yields a text to each openid.
func texts(openIDs []string, text string) iter.Seq[*kefu.Message] {
	return func(yield func(*kefu.Message) bool) {
		for _, id := range openIDs {
			if !yield(kefu.NewText(id, text)) {
				return
			}
		}
	}
}

// users makes n users who wrote to the account (5 messages each).
func users(srv *kefutest.Server, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("o%04d", i)
		srv.Interact(ids[i], kefutest.UserMessage)
	}
	return ids
}

// collect runs SendAll and returns the results by index and the run error.
func collect(t *testing.T, c *kefu.Client, msgs iter.Seq[*kefu.Message], opts ...kefu.BulkOption) (map[int]kefu.SendResult, error) {
	t.Helper()
	out := map[int]kefu.SendResult{}
	for res, err := range c.SendAll(context.Background(), msgs, opts...) {
		if err != nil {
			return out, err
		}
		_, dup := out[res.Index]
		require.False(t, dup, "index %d reported twice", res.Index)
		out[res.Index] = res
	}
	return out, nil
}

func countStatus(results map[int]kefu.SendResult) map[kefu.SendStatus]int {
	n := map[kefu.SendStatus]int{}
	for _, r := range results {
		n[r.Status]++
	}
	return n
}

// exactlyOnce checks that each user got exactly want messages.
func exactlyOnce(t *testing.T, srv *kefutest.Server, ids []string, skip map[string]bool) {
	t.Helper()
	for _, id := range ids {
		if skip[id] {
			continue
		}
		assert.Len(t, srv.Messages(id), 1, id)
	}
}

func newBulkFake(t *testing.T) *kefutest.Server {
	srv := kefutest.NewServer(kefutest.WithFrozenClock(time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)))
	t.Cleanup(srv.Close)
	return srv
}

func TestSendAllSendsEachOnce(t *testing.T) {
	t.Parallel()
	srv := newBulkFake(t)
	ids := users(srv, 200)
	results, err := collect(t, srv.Client(), texts(ids, "news"), kefu.BulkConcurrency(8))
	require.NoError(t, err)
	require.Len(t, results, 200)
	assert.Equal(t, map[kefu.SendStatus]int{kefu.StatusSent: 200}, countStatus(results))
	for i, r := range results {
		assert.Equal(t, ids[i], r.OpenID)
		assert.Equal(t, ids[i]+"#"+fmt.Sprint(i), r.Key)
	}
	exactlyOnce(t, srv, ids, nil)
}

func TestSendAllResumesFromTheJournal(t *testing.T) {
	t.Parallel()
	srv := newBulkFake(t)
	ids := users(srv, 60)
	path := filepath.Join(t.TempDir(), "run.journal")
	c := srv.Client()

	// The first run stops after 20 results (the consumer breaks, as Ctrl-C
	// does): what was in flight finishes and is journalled.
	j, err := kefu.OpenJournal(path)
	require.NoError(t, err)
	n := 0
	for _, err := range c.SendAll(context.Background(), texts(ids, "news"), kefu.BulkJournal(j), kefu.BulkConcurrency(4)) {
		require.NoError(t, err)
		if n++; n == 20 {
			break
		}
	}
	require.NoError(t, j.Close())
	sentBefore := srv.Calls(kefutest.PathSend)
	assert.GreaterOrEqual(t, sentBefore, 20)

	// Resumed: the rest go out, nothing twice.
	j, err = kefu.OpenJournal(path)
	require.NoError(t, err)
	results, err := collect(t, c, texts(ids, "news"), kefu.BulkJournal(j))
	require.NoError(t, err)
	require.NoError(t, j.Close())
	st := countStatus(results)
	assert.Equal(t, 60, st[kefu.StatusSent]+st[kefu.StatusSkipped])
	assert.Equal(t, sentBefore, st[kefu.StatusSkipped])
	for _, r := range results {
		if r.Status == kefu.StatusSkipped {
			assert.Equal(t, "journal: sent", r.Reason)
		}
	}
	exactlyOnce(t, srv, ids, nil)

	// The input changed for keys the journal holds: refused.
	j, err = kefu.OpenJournal(path)
	require.NoError(t, err)
	defer j.Close()
	_, err = collect(t, c, texts(ids, "other news"), kefu.BulkJournal(j))
	assert.ErrorIs(t, err, kefu.ErrJournalMismatch)
	exactlyOnce(t, srv, ids, nil)
}

func TestSendAllUnknownIsNotResent(t *testing.T) {
	t.Parallel()
	srv := newBulkFake(t)
	ids := users(srv, 10)
	path := filepath.Join(t.TempDir(), "run.journal")
	c := srv.Client()
	srv.DropNext(kefutest.PathSend, 3) // delivered, answers lost

	run := func(opts ...kefu.BulkOption) map[kefu.SendStatus]int {
		j, err := kefu.OpenJournal(path)
		require.NoError(t, err)
		defer j.Close()
		results, err := collect(t, c, texts(ids, "news"), append(opts, kefu.BulkJournal(j), kefu.BulkConcurrency(1))...)
		require.NoError(t, err)
		return countStatus(results)
	}
	assert.Equal(t, map[kefu.SendStatus]int{kefu.StatusSent: 7, kefu.StatusUnknown: 3}, run())
	assert.Equal(t, map[kefu.SendStatus]int{kefu.StatusSkipped: 10}, run(), "unknown is not resent by default")
	exactlyOnce(t, srv, ids, nil)
	assert.Equal(t, map[kefu.SendStatus]int{kefu.StatusSkipped: 7, kefu.StatusSent: 3}, run(kefu.BulkRetryUnknown()))
	dup := 0
	for _, id := range ids {
		dup += len(srv.Messages(id)) - 1
	}
	assert.Equal(t, 3, dup, "BulkRetryUnknown: the unknown ones went out again")
}

// fakeSleep records the run's pauses and moves the fake's clock instead of
// waiting.
type fakeSleep struct {
	srv    *kefutest.Server
	mu     sync.Mutex
	pauses []time.Duration
}

func (f *fakeSleep) sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.pauses = append(f.pauses, d)
	f.mu.Unlock()
	f.srv.Advance(d)
	return ctx.Err()
}

func TestSendAllPausesOn45011(t *testing.T) {
	t.Parallel()
	srv := newBulkFake(t)
	ids := users(srv, 5)
	srv.Advance(25 * time.Second) // 08:00:25: the next minute is 35 s away
	srv.FailNext(kefutest.PathSend, 1, 45011)
	fs := &fakeSleep{srv: srv}
	results, err := collect(t, srv.Client(), texts(ids, "news"), kefu.BulkConcurrency(1), kefu.BulkClock(srv.Now, fs.sleep))
	require.NoError(t, err)
	assert.Equal(t, map[kefu.SendStatus]int{kefu.StatusSent: 5}, countStatus(results), "the refused message was sent again")
	exactlyOnce(t, srv, ids, nil)
	require.NotEmpty(t, fs.pauses)
	assert.Equal(t, 35*time.Second, fs.pauses[0], "until the next minute when quota/get gives no refresh_second")
}

func TestSendAllStopsOn45009(t *testing.T) {
	t.Parallel()
	srv := newBulkFake(t)
	ids := users(srv, 20)
	path := filepath.Join(t.TempDir(), "run.journal")
	c := srv.Client()
	j, err := kefu.OpenJournal(path)
	require.NoError(t, err)
	// The 6th send finds the day's quota spent.
	count := 0
	results := map[int]kefu.SendResult{}
	for res, err := range c.SendAll(context.Background(), texts(ids, "news"), kefu.BulkJournal(j), kefu.BulkConcurrency(1)) {
		require.NoError(t, err)
		results[res.Index] = res
		if count++; count == 5 {
			srv.FailNext(kefutest.PathSend, 1, 45009)
		}
	}
	require.NoError(t, j.Close())
	st := countStatus(results)
	assert.Equal(t, 20, len(results))
	assert.Equal(t, 20-st[kefu.StatusSent], st[kefu.StatusNotAttempted])
	assert.Less(t, st[kefu.StatusSent], 20)
	for _, r := range results {
		if r.Status == kefu.StatusNotAttempted {
			var api *kefu.APIError
			require.ErrorAs(t, r.Err, &api)
			assert.Equal(t, 45009, api.Code)
		}
	}
	// Tomorrow: resumed, the rest go out once.
	j, err = kefu.OpenJournal(path)
	require.NoError(t, err)
	defer j.Close()
	results, err = collect(t, c, texts(ids, "news"), kefu.BulkJournal(j))
	require.NoError(t, err)
	assert.Equal(t, 20-st[kefu.StatusSent], countStatus(results)[kefu.StatusSent])
	exactlyOnce(t, srv, ids, nil)
}

func TestSendAllFallback(t *testing.T) {
	t.Parallel()
	srv := newBulkFake(t)
	open := users(srv, 3)
	closed := []string{"c1", "c2"} // followers without a window: WeChat says 45015
	for _, id := range closed {
		srv.AddUser(id)
	}
	known := "c3" // the tracker knows its window closed: skipped without a call
	srv.AddUser(known)
	tr := kefu.NewWindowTracker(nil, kefu.WithTrackerClock(srv.Now))
	require.NoError(t, tr.Observe(context.Background(), known, kefu.ActionScan, srv.Now().Add(-time.Hour)))

	var mu sync.Mutex
	var fell []string
	fb := func(ctx context.Context, it kefu.FallbackItem) kefu.FallbackResult {
		mu.Lock()
		defer mu.Unlock()
		fell = append(fell, it.Message.ToUser)
		return kefu.FallbackResult{Status: kefu.StatusSent, MsgID: 7}
	}
	all := append(append(slices.Clone(open), closed...), known)
	path := filepath.Join(t.TempDir(), "run.journal")
	run := func() map[int]kefu.SendResult {
		j, err := kefu.OpenJournal(path)
		require.NoError(t, err)
		defer j.Close()
		results, err := collect(t, srv.Client(), texts(all, "news"), kefu.BulkJournal(j), kefu.BulkWindows(tr), kefu.BulkFallback(fb))
		require.NoError(t, err)
		return results
	}
	results := run()
	sendsBefore := srv.Calls(kefutest.PathSend)
	slices.Sort(fell)
	assert.Equal(t, []string{"c1", "c2", "c3"}, fell)
	for _, r := range results {
		switch r.OpenID {
		case known:
			assert.Equal(t, kefu.StatusSkipped, r.Status)
			assert.Equal(t, "window", r.Reason)
			assert.ErrorIs(t, r.Err, kefu.ErrOutsideWindow)
		case "c1", "c2":
			assert.Equal(t, kefu.StatusFailed, r.Status)
			assert.ErrorIs(t, r.Err, kefu.ErrOutsideWindow)
		default:
			assert.Equal(t, kefu.StatusSent, r.Status)
			assert.Nil(t, r.Fallback)
			continue
		}
		require.NotNil(t, r.Fallback, r.OpenID)
		assert.Equal(t, kefu.StatusSent, r.Fallback.Status)
	}
	assert.Equal(t, 5, sendsBefore, "the known-closed user cost no call")

	// Resumed: no fallback twice, no send twice.
	fell = nil
	run()
	assert.Empty(t, fell)
	assert.Equal(t, sendsBefore, srv.Calls(kefutest.PathSend))
}

func TestSendAllBadInput(t *testing.T) {
	t.Parallel()
	srv := newBulkFake(t)
	ids := users(srv, 2)
	msgs := func(yield func(*kefu.Message) bool) {
		_ = yield(kefu.NewText(ids[0], "")) && yield(nil) && yield(kefu.NewText(ids[1], "ok"))
	}
	results, err := collect(t, srv.Client(), msgs)
	require.NoError(t, err)
	assert.ErrorIs(t, results[0].Err, kefu.ErrInvalidMessage)
	assert.Equal(t, kefu.StatusFailed, results[1].Status)
	assert.Equal(t, kefu.StatusSent, results[2].Status)

	_, err = collect(t, srv.Client(), msgs, kefu.BulkConcurrency(0))
	assert.ErrorIs(t, err, kefu.ErrInvalidOption)
	_, err = collect(t, srv.Client(), msgs, kefu.BulkRate(-1))
	assert.ErrorIs(t, err, kefu.ErrInvalidOption)
}

// TestSendAllRate: at BulkRate(200), no second of the fake's request log
// holds more sends than the bucket allows: 200, the one it starts with,
// and the few granted just before the second began that were still on
// their way (at most one per sender).
func TestSendAllRate(t *testing.T) {
	t.Parallel()
	srv := kefutest.NewServer(kefutest.WithAdminAPI()) // real time: the log's seconds are real
	t.Cleanup(srv.Close)
	ids := users(srv, 300)
	const senders = 4
	results, err := collect(t, srv.Client(), texts(ids, "news"), kefu.BulkRate(200), kefu.BulkConcurrency(senders))
	require.NoError(t, err)
	assert.Equal(t, 300, countStatus(results)[kefu.StatusSent])

	resp, err := http.Get(srv.URL + kefutest.PathAdminRequests + "?path=" + url.QueryEscape(kefutest.PathSend))
	require.NoError(t, err)
	defer resp.Body.Close()
	var log []struct {
		Time int64 `json:"time"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&log))
	require.Len(t, log, 300)
	perSecond := map[int64]int{}
	for _, e := range log {
		perSecond[e.Time]++
	}
	assert.GreaterOrEqual(t, len(perSecond), 2, "300 sends at 200/s take more than a second")
	for sec, n := range perSecond {
		assert.LessOrEqual(t, n, 201+senders, "second %d", sec)
	}
}

// TestSendAllTemplateFallback: recipients outside their window get exactly
// one template message, even when the template's answer is dropped and
// retried, and across a resumed run.
func TestSendAllTemplateFallback(t *testing.T) {
	t.Parallel()
	srv := newBulkFake(t)
	srv.AddTemplate("TPL1")
	open := users(srv, 2)
	closed := []string{"c1", "c2", "c3"}
	for _, id := range closed {
		srv.AddUser(id)
	}
	srv.DropNext(kefutest.PathTemplateSend, 1) // one template answer is lost: retried with the same client_msg_id
	fb := kefu.TemplateFallback("run-42", func(m *kefu.Message) *kefu.TemplateMessage {
		return &kefu.TemplateMessage{TemplateID: "TPL1", Data: map[string]kefu.TemplateValue{"thing1": {Value: m.Text.Content}}}
	})
	all := append(slices.Clone(open), closed...)
	path := filepath.Join(t.TempDir(), "run.journal")
	run := func() map[int]kefu.SendResult {
		j, err := kefu.OpenJournal(path)
		require.NoError(t, err)
		defer j.Close()
		results, err := collect(t, srv.Client(), texts(all, "your order shipped"), kefu.BulkJournal(j), kefu.BulkFallback(fb))
		require.NoError(t, err)
		return results
	}
	results := run()
	for _, r := range results {
		if slices.Contains(closed, r.OpenID) {
			require.NotNil(t, r.Fallback, r.OpenID)
			assert.Equal(t, kefu.StatusSent, r.Fallback.Status, "%v", r.Fallback.Err)
		}
	}
	assert.Equal(t, 4, srv.Calls(kefutest.PathTemplateSend), "3 templates, one retried after its answer was lost")
	run() // resumed: nothing twice
	for _, id := range closed {
		tpls := srv.Templates(id)
		require.Len(t, tpls, 1, id)
		assert.Equal(t, "your order shipped", tpls[0].Message.Data["thing1"].Value)
	}
	for _, id := range open {
		assert.Empty(t, srv.Templates(id))
		assert.Len(t, srv.Messages(id), 1)
	}
}

// TestSendAllPausesUntilRefresh: with the fake's per-minute limit, 45011
// pauses the run for quota/get's refresh_second, then it goes on.
func TestSendAllPausesUntilRefresh(t *testing.T) {
	t.Parallel()
	srv := newBulkFake(t)
	ids := users(srv, 12)
	srv.Advance(20 * time.Second)
	srv.SetRateLimit(kefutest.PathSend, 5)
	fs := &fakeSleep{srv: srv}
	results, err := collect(t, srv.Client(), texts(ids, "news"), kefu.BulkConcurrency(1), kefu.BulkClock(srv.Now, fs.sleep))
	require.NoError(t, err)
	assert.Equal(t, 12, countStatus(results)[kefu.StatusSent])
	exactlyOnce(t, srv, ids, nil)
	require.Len(t, fs.pauses, 2, "5 a minute: two pauses for 12")
	assert.Equal(t, 40*time.Second, fs.pauses[0], "refresh_second: the rest of the minute")
	assert.Equal(t, time.Minute, fs.pauses[1])
}

// TestSendAllKeepsQuota: BulkKeepQuota stops before the day's remain falls
// below what is kept for replies.
func TestSendAllKeepsQuota(t *testing.T) {
	t.Parallel()
	srv := newBulkFake(t)
	ids := users(srv, 10)
	srv.SetDailyQuota(kefutest.PathSend, 8)
	results, err := collect(t, srv.Client(), texts(ids, "news"), kefu.BulkKeepQuota(3), kefu.BulkConcurrency(1))
	require.NoError(t, err)
	st := countStatus(results)
	assert.Equal(t, 5, st[kefu.StatusSent])
	assert.Equal(t, 5, st[kefu.StatusNotAttempted])
	for _, r := range results {
		if r.Status == kefu.StatusNotAttempted {
			assert.ErrorIs(t, r.Err, kefu.ErrQuotaKept)
		}
	}
}
