package kefu

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFileJournalClaims(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "j")
	j, err := OpenJournal(path)
	require.NoError(t, err)
	ctx := context.Background()
	at := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)

	_, ok, err := j.Claim(ctx, Claim{Key: "a", Hash: "h1", At: at})
	require.NoError(t, err)
	assert.True(t, ok)
	prev, ok, err := j.Claim(ctx, Claim{Key: "a", Hash: "h1", At: at})
	require.NoError(t, err)
	assert.False(t, ok, "an attempt without an outcome is unknown")
	assert.Equal(t, JournalAttempted, prev.State)
	_, ok, _ = j.Claim(ctx, Claim{Key: "a", Hash: "h1", At: at, RetryUnknown: true})
	assert.True(t, ok, "unless the caller accepts duplicates")
	_, ok, _ = j.Claim(ctx, Claim{Key: "a", Hash: "h1", At: at, RetryUnknown: true, UnknownSince: at.Add(time.Second)})
	assert.False(t, ok, "not when the attempt is older than UnknownSince")

	require.NoError(t, j.Record(ctx, JournalEntry{Key: "a", State: JournalSent, MsgID: 9, At: at}))
	_, ok, _ = j.Claim(ctx, Claim{Key: "a", Hash: "h1", At: at, RetryUnknown: true})
	assert.False(t, ok, "sent: never again")
	_, _, err = j.Claim(ctx, Claim{Key: "a", Hash: "h2", At: at})
	assert.ErrorIs(t, err, ErrJournalMismatch)

	_, ok, _ = j.Claim(ctx, Claim{Key: "b", Hash: "h", At: at})
	require.True(t, ok)
	require.NoError(t, j.Record(ctx, JournalEntry{Key: "b", State: JournalReleased, At: at}))
	_, ok, _ = j.Claim(ctx, Claim{Key: "b", Hash: "h", At: at})
	assert.True(t, ok, "released: free again")
	require.NoError(t, j.Close())

	// Reopened: the same state, read back from the file.
	j, err = OpenJournal(path)
	require.NoError(t, err)
	defer j.Close()
	e := j.Entries()
	assert.Equal(t, JournalEntry{Key: "a", Hash: "h1", State: JournalSent, MsgID: 9, At: at}, e["a"])
	assert.Equal(t, JournalAttempted, e["b"].State)
}

// TestFileJournalTornLine: a crash mid-write leaves a partial last line;
// its claim was never synced (its message never sent), so it is dropped.
func TestFileJournalTornLine(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "j")
	j, err := OpenJournal(path)
	require.NoError(t, err)
	_, _, err = j.Claim(context.Background(), Claim{Key: "a", Hash: "h", At: time.Unix(1, 0)})
	require.NoError(t, err)
	require.NoError(t, j.Close())
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"key":"b","hash":"h","sta`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	j, err = OpenJournal(path)
	require.NoError(t, err)
	assert.Len(t, j.Entries(), 1)
	_, ok, err := j.Claim(context.Background(), Claim{Key: "b", Hash: "h", At: time.Unix(2, 0)})
	require.NoError(t, err)
	assert.True(t, ok)
	require.NoError(t, j.Close())
	j, err = OpenJournal(path)
	require.NoError(t, err)
	defer j.Close()
	assert.Len(t, j.Entries(), 2, "the torn line was cut, not glued to the next")

	// A damaged line in the middle is not a crash's: refuse the file.
	require.NoError(t, os.WriteFile(path, []byte("garbage\n{\"key\":\"a\",\"state\":\"sent\",\"at\":\"2026-01-01T00:00:00Z\"}\n"), 0o600))
	_, err = OpenJournal(path)
	assert.ErrorContains(t, err, "not a journal entry")
}

// TestFileJournalGroupCommit: concurrent claims share fsyncs, and each
// returns only once its line is on disk.
func TestFileJournalGroupCommit(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "j")
	j, err := OpenJournal(path)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				_, ok, err := j.Claim(context.Background(), Claim{Key: strconv.Itoa(g) + "/" + strconv.Itoa(i), Hash: "h", At: time.Unix(1, 0)})
				assert.NoError(t, err)
				assert.True(t, ok)
			}
		}()
	}
	wg.Wait()
	j.mu.Lock()
	synced, syncs := j.synced, j.syncs
	j.mu.Unlock()
	assert.Equal(t, uint64(640), synced)
	assert.Less(t, syncs, 640, "claims shared fsyncs")
	require.NoError(t, j.Close())
	j, err = OpenJournal(path)
	require.NoError(t, err)
	defer j.Close()
	assert.Len(t, j.Entries(), 640)
}

// TestFileJournalAfterACrash: a journal never closed (the process died)
// ends in the zeros written ahead; it reads back every synced claim, and
// what a crash left past the first zero (pages written out of order) is
// cleared, never read as a line later.
func TestFileJournalAfterACrash(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "j")
	j, err := OpenJournal(path)
	require.NoError(t, err)
	for _, k := range []string{"a", "b"} {
		_, ok, err := j.Claim(context.Background(), Claim{Key: k, Hash: "h", At: time.Unix(1, 0)})
		require.NoError(t, err)
		require.True(t, ok)
	}
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, int64(journalChunk), fi.Size(), "space written ahead")
	// The process dies: no Close. A stale line sits past a zero.
	stale := []byte(`{"key":"c","hash":"h","state":"sent","at":"2026-01-01T00:00:00Z"}` + "\n")
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(stale, 4096)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	j2, err := OpenJournal(path)
	require.NoError(t, err)
	e := j2.Entries()
	assert.Len(t, e, 2)
	assert.NotContains(t, e, "c", "nothing read past the first zero")
	_, ok, err := j2.Claim(context.Background(), Claim{Key: "d", Hash: "h", At: time.Unix(2, 0)})
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, j2.Close())
	j.f.Close() // the dead process's descriptor

	j3, err := OpenJournal(path)
	require.NoError(t, err)
	defer j3.Close()
	e = j3.Entries()
	assert.Len(t, e, 3)
	assert.NotContains(t, e, "c", "the stale line was cleared, not resurrected")
	fi, err = os.Stat(path)
	require.NoError(t, err)
	assert.Less(t, fi.Size(), int64(1000), "Close cut the space ahead off")
}

// TestAppendEntry: the hand-written line reads back, through encoding/json,
// as the entry it was made from, whatever its key holds.
func TestAppendEntry(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 30, 8, 0, 0, 123456789, time.UTC)
	for _, e := range []JournalEntry{
		{Key: "o1#0", Hash: "abc", State: JournalAttempted, At: at},
		{Key: "o1#1", State: JournalSent, MsgID: 1234567890123, At: at},
		{Key: `q"uote\back` + "\n\x01\x7f 你好 \xff", State: JournalFailed, Code: 45015, At: at},
	} {
		line := appendEntry(nil, e)
		var back JournalEntry
		require.NoError(t, json.Unmarshal(line, &back), "%s", line)
		want := e
		want.Key = strings.ToValidUTF8(e.Key, "\ufffd")
		assert.Equal(t, want, back)
	}
}
