package kefu_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRecordsOfSentMessages(t *testing.T) {
	t.Parallel()
	srv, c := newKefu(t)
	ctx := context.Background()
	srv.Interact("o-1", kefutest.Payment)
	srv.AddMedia(kefutest.MediaImage, "IMG")
	_, err := c.Send(ctx, kefu.NewText("o-1", "hello <b>&</b>").From("kf1@test"))
	require.NoError(t, err)
	srv.Advance(90 * time.Second)
	_, err = c.Send(ctx, kefu.NewImage("o-1", "IMG"))
	require.NoError(t, err)
	_, err = c.Send(ctx, kefu.NewText("o-nobody", "not accepted, not recorded"))
	require.Error(t, err)

	var got []kefu.Record
	for r, err := range c.Records(ctx, day0, day0.Add(time.Hour)) {
		require.NoError(t, err)
		r.Time = r.Time.UTC()
		got = append(got, r)
	}
	assert.Equal(t, []kefu.Record{
		{OpenID: "o-1", OperCode: kefu.OperSent, Text: "hello <b>&</b>", Time: day0, Worker: "kf1@test"},
		{OpenID: "o-1", OperCode: kefu.OperSent, Time: day0.Add(90 * time.Second)},
	}, got)

	n := 0
	for _, err := range c.Records(ctx, day0.Add(time.Second), day0.Add(90*time.Second)) {
		require.NoError(t, err)
		n++
	}
	assert.Zero(t, n, "start inclusive, end exclusive")
}

// TestRecordsPagesAndWindows reads 25,000 records spread over 50 hours: 3
// windows of at most 24 h, each read in pages of 10,000.
func TestRecordsPagesAndWindows(t *testing.T) {
	t.Parallel()
	srv, c := newKefu(t)
	ctx := context.Background()
	const n = 25_000
	step := 50 * time.Hour / n // 7.2 s
	for i := range n {
		srv.AddRecord(kefu.Record{OpenID: "o-1", OperCode: kefu.OperReceived, Text: fmt.Sprint(i), Time: day0.Add(time.Duration(i) * step)})
	}
	srv.AddRecord(kefu.Record{OpenID: "o-1", Text: "after the span", Time: day0.Add(50 * time.Hour)})

	i := 0
	for r, err := range c.Records(ctx, day0, day0.Add(50*time.Hour)) {
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint(i), r.Text, "every record once, in order")
		i++
	}
	assert.Equal(t, n, i)
	// Windows [0, 24h), [24h, 48h), [48h, 50h) hold 12,000, 12,000 and 1,000
	// records: 2 + 2 + 1 pages.
	assert.Equal(t, 5, srv.Calls(kefutest.PathMsgRecords))

	t.Run("breaking the loop stops the requests", func(t *testing.T) {
		before := srv.Calls(kefutest.PathMsgRecords)
		i := 0
		for _, err := range c.Records(ctx, day0, day0.Add(50*time.Hour)) {
			require.NoError(t, err)
			if i++; i == 5 {
				break
			}
		}
		assert.Equal(t, 1, srv.Calls(kefutest.PathMsgRecords)-before)

		before = srv.Calls(kefutest.PathMsgRecords)
		i = 0
		for range c.Records(ctx, day0, day0.Add(50*time.Hour)) {
			if i++; i == 10_001 {
				break
			}
		}
		assert.Equal(t, 2, srv.Calls(kefutest.PathMsgRecords)-before, "the second page, not the third")
	})
	t.Run("a cancelled context stops them too", func(t *testing.T) {
		before := srv.Calls(kefutest.PathMsgRecords)
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		i := 0
		var last error
		for _, err := range c.Records(ctx, day0, day0.Add(50*time.Hour)) {
			if err != nil {
				last = err
				continue
			}
			if i++; i == 3 {
				cancel()
			}
		}
		assert.ErrorIs(t, last, context.Canceled)
		assert.Equal(t, 3, i)
		assert.Equal(t, 1, srv.Calls(kefutest.PathMsgRecords)-before)
	})
}

func TestRecordsPageBoundary(t *testing.T) {
	t.Parallel()
	srv, c := newKefu(t)
	for range kefu.MaxRecordsPage {
		srv.AddRecord(kefu.Record{OpenID: "o-1"})
	}
	i := 0
	for _, err := range c.Records(context.Background(), day0, day0.Add(time.Second)) {
		require.NoError(t, err)
		i++
	}
	assert.Equal(t, kefu.MaxRecordsPage, i)
	assert.Equal(t, 2, srv.Calls(kefutest.PathMsgRecords), "a full page asks once more, and meets an empty one")
}

func TestRecordsErrors(t *testing.T) {
	t.Parallel()
	srv, c := newKefu(t)
	ctx := context.Background()
	for _, span := range [][2]time.Time{{day0, day0}, {day0, day0.Add(-time.Hour)}} {
		var errs []error
		for _, err := range c.Records(ctx, span[0], span[1]) {
			errs = append(errs, err)
		}
		require.Len(t, errs, 1)
		validation(t, errs[0], "end")
	}
	//lint:ignore SA1012 a nil context is what this checks
	for _, err := range c.Records(nil, day0, day0.Add(time.Hour)) {
		require.ErrorIs(t, err, kefu.ErrInvalidMessage)
	}

	srv.FailNext(kefutest.PathMsgRecords, 1, 65416)
	var errs []error
	for _, err := range c.Records(ctx, day0, day0.Add(time.Hour)) {
		errs = append(errs, err)
	}
	require.Len(t, errs, 1, "an error ends the sequence")
	assert.Equal(t, 65416, codeOf(t, errs[0]))

	srv.AddRecord(kefu.Record{OpenID: "o-1"})
	srv.DropNext(kefutest.PathMsgRecords, 1)
	n := 0
	for _, err := range c.Records(ctx, day0, day0.Add(time.Hour)) {
		require.NoError(t, err, "getmsglist is a read: retried after an unknown outcome")
		n++
	}
	assert.Equal(t, 1, n)
}

func TestRecordsPage(t *testing.T) {
	t.Parallel()
	srv, c := newKefu(t)
	ctx := context.Background()
	for range 5 {
		srv.AddRecord(kefu.Record{OpenID: "o-1"})
	}
	p, err := c.RecordsPage(ctx, day0, day0.Add(24*time.Hour), 1, 3)
	require.NoError(t, err)
	assert.Len(t, p.Records, 3)
	assert.EqualValues(t, 4, p.NextMsgID)
	p, err = c.RecordsPage(ctx, day0, day0.Add(time.Hour), p.NextMsgID, 3)
	require.NoError(t, err)
	assert.Len(t, p.Records, 2)

	_, err = c.RecordsPage(ctx, day0, day0.Add(24*time.Hour+time.Second), 1, 10)
	validation(t, err, "endtime")
	_, err = c.RecordsPage(ctx, day0, day0, 1, 10)
	validation(t, err, "endtime")
	_, err = c.RecordsPage(ctx, day0, day0.Add(time.Hour), 0, 10)
	validation(t, err, "msgid")
	_, err = c.RecordsPage(ctx, day0, day0.Add(time.Hour), 1, 10_001)
	validation(t, err, "number")
	_, err = c.RecordsPage(ctx, day0, day0.Add(time.Hour), 1, 0)
	validation(t, err, "number")
	assert.Equal(t, 2, srv.Calls(kefutest.PathMsgRecords))
}
