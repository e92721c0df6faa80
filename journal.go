package kefu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// A Journal records a bulk send (SendAll) item by item, so that a run that
// crashed or stopped can be resumed without sending anything twice: before
// each send the item is claimed (durably: on disk, or in Redis, before the
// message goes out), after it its outcome is recorded. OpenJournal is the
// embedded one, an append-only file; redisstore.NewJournal lets several
// processes run one broadcast together.
type Journal interface {
	// Claim takes c.Key for a send. It returns true when the caller may
	// send: the key was free (or released, or c allows taking it again) and
	// the attempt is now recorded durably. Otherwise it returns false and
	// what the journal holds for the key. A key held with another Hash is
	// an error matching ErrJournalMismatch: the input changed since.
	Claim(ctx context.Context, c Claim) (prev JournalEntry, ok bool, err error)
	// Record stores the outcome of a claimed key.
	Record(ctx context.Context, e JournalEntry) error
}

// Claim is a request to take a journal key.
type Claim struct {
	Key  string
	Hash string    // of the message: a changed input is refused
	At   time.Time // now
	// RetryUnknown lets an attempt whose outcome is unknown (recorded so,
	// or never recorded: the process died) be taken again, if it was made
	// at or after UnknownSince (zero: any time).
	RetryUnknown bool
	UnknownSince time.Time
}

// JournalState is where a journal key stands.
type JournalState uint8

// The states of a journal key. Attempted is a claim without an outcome:
// the send may have gone out, so it counts as unknown.
const (
	JournalAttempted JournalState = iota + 1
	JournalSent
	JournalFailed   // refused for good (or skipped): not sent again
	JournalUnknown  // may have been delivered: sent again only under RetryUnknown
	JournalReleased // nothing was sent (45009, no token...): free to take again
)

var journalStates = [...]string{JournalAttempted: "attempted", JournalSent: "sent", JournalFailed: "failed",
	JournalUnknown: "unknown", JournalReleased: "released"}

// String returns the state's name, as the file journal writes it.
func (s JournalState) String() string {
	if int(s) < len(journalStates) && journalStates[s] != "" {
		return journalStates[s]
	}
	return fmt.Sprintf("JournalState(%d)", uint8(s))
}

// MarshalText writes the state's name.
func (s JournalState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state's name.
func (s *JournalState) UnmarshalText(b []byte) error {
	for i, name := range journalStates {
		if name != "" && name == string(b) {
			*s = JournalState(i)
			return nil
		}
	}
	return fmt.Errorf("kefu: unknown journal state %q", b)
}

// JournalEntry is what a journal holds for one key.
type JournalEntry struct {
	Key   string       `json:"key"`
	Hash  string       `json:"hash,omitempty"`
	State JournalState `json:"state"`
	MsgID int64        `json:"msgid,omitempty"`
	Code  int          `json:"errcode,omitempty"` // WeChat's errcode of a refusal
	At    time.Time    `json:"at"`                // when the state was reached
}

// ErrJournalMismatch: a resumed run's input differs from the journal's for
// a key it already holds; the run refuses to go on.
var ErrJournalMismatch = errors.New("kefu: the journal holds another message for this key")

// CanClaim decides a Claim against what a journal holds for its key (held
// false: nothing): whether it may be taken, or an error matching
// ErrJournalMismatch. Journal implementations call it so that all decide
// alike: a released key is free, an attempted or unknown one only under
// RetryUnknown (and not before UnknownSince), a sent or failed one never.
func CanClaim(prev JournalEntry, held bool, c Claim) (bool, error) {
	if !held {
		return true, nil
	}
	if prev.Hash != "" && c.Hash != "" && prev.Hash != c.Hash {
		return false, fmt.Errorf("%w: key %q", ErrJournalMismatch, c.Key)
	}
	switch prev.State {
	case JournalReleased:
		return true, nil
	case JournalAttempted, JournalUnknown:
		return c.RetryUnknown && !prev.At.Before(c.UnknownSince), nil
	}
	return false, nil
}

// FileJournal is a Journal in an append-only file of JSON lines, one per
// claim or outcome; the last line of a key wins. Claims are written and
// fsynced before Claim returns, and concurrent claims share one fsync
// (group commit); outcomes are written with the next one, or on Close. A
// line torn by a crash is ignored: its claim was never synced, so its
// message was never sent. One process at a time may use a file.
type FileJournal struct {
	f *os.File

	mu       sync.Mutex
	entries  map[string]JournalEntry
	buf      []byte // lines not yet written
	queued   uint64 // sequence number of the last line queued (in buf or written)
	written  uint64 // every line up to this one is written to the file
	synced   uint64 // every line up to this one is on disk
	covering uint64 // the highest line an fsync running covers
	syncing  int    // fsyncs running
	syncs    int    // fsyncs made, for tests
	done     *sync.Cond
	err      error // a failed write: the journal is unusable
}

// OpenJournal opens (or creates) the journal file at path and reads what it
// holds.
func OpenJournal(path string) (*FileJournal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("kefu: journal: %w", err)
	}
	j := &FileJournal{f: f, entries: make(map[string]JournalEntry)}
	j.done = sync.NewCond(&j.mu)
	end, err := j.load()
	if err == nil {
		err = j.resume(end)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("kefu: journal %s: %w", path, err)
	}
	return j, nil
}

// load reads the file's entries and returns the offset after the last whole
// line.
func (j *FileJournal) load() (int64, error) {
	r := bufio.NewReader(j.f)
	var end int64
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			return end, nil // a last line without its newline was torn
		}
		if err != nil {
			return 0, err
		}
		var e JournalEntry
		if json.Unmarshal(line, &e) != nil || e.Key == "" {
			return 0, fmt.Errorf("line at byte %d is not a journal entry", end)
		}
		j.entries[e.Key] = e
		end += int64(len(line))
	}
}

// resume cuts a torn last line off and positions the file for appending.
func (j *FileJournal) resume(end int64) error {
	if err := j.f.Truncate(end); err != nil {
		return err
	}
	_, err := j.f.Seek(end, io.SeekStart)
	return err
}

// Claim implements Journal: the claim is on disk when it returns true.
func (j *FileJournal) Claim(_ context.Context, c Claim) (JournalEntry, bool, error) {
	j.mu.Lock()
	if j.err != nil {
		defer j.mu.Unlock()
		return JournalEntry{}, false, j.err
	}
	prev, held := j.entries[c.Key]
	ok, err := CanClaim(prev, held, c)
	if !ok || err != nil {
		j.mu.Unlock()
		return prev, false, err
	}
	seq := j.append(JournalEntry{Key: c.Key, Hash: c.Hash, State: JournalAttempted, At: c.At})
	err = j.syncUpTo(seq)
	j.mu.Unlock()
	if err != nil {
		return JournalEntry{}, false, err
	}
	return prev, true, nil
}

// Record implements Journal: the outcome goes to disk with the next claim's
// sync, or on Close.
func (j *FileJournal) Record(_ context.Context, e JournalEntry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	if prev, ok := j.entries[e.Key]; ok && e.Hash == "" {
		e.Hash = prev.Hash
	}
	j.append(e)
	return nil
}

// Entries returns what the journal holds, by key.
func (j *FileJournal) Entries() map[string]JournalEntry {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make(map[string]JournalEntry, len(j.entries))
	for k, e := range j.entries {
		out[k] = e
	}
	return out
}

// Close writes what is pending, syncs and closes the file.
func (j *FileJournal) Close() error {
	j.mu.Lock()
	err := j.syncUpTo(j.queued)
	j.mu.Unlock()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// append adds e to the map and to the pending lines; j.mu is held.
func (j *FileJournal) append(e JournalEntry) uint64 {
	j.entries[e.Key] = e
	line, _ := json.Marshal(e) // strings, numbers, a time: cannot fail
	j.buf = append(append(j.buf, line...), '\n')
	j.queued++
	return j.queued
}

// maxSyncing is how many fsyncs may run at once: one. The claims that
// arrive while it runs wait and share the next (group commit: ~35 claims an
// fsync with 128 senders here). Three at once measured worse: each then
// covered one or two claims, and fsyncs, not sends, set the pace.
const maxSyncing = 1

// syncUpTo returns when every line up to seq is on disk. Pending lines are
// written under j.mu (to the page cache: fast); then, unless an fsync
// already running covers seq, the caller starts one for everything written
// so far, outside the lock, and the others wait for the first that covers
// them. j.mu is held, and released while syncing.
func (j *FileJournal) syncUpTo(seq uint64) error {
	for j.synced < seq && j.err == nil {
		if j.written < seq {
			if _, err := j.f.Write(j.buf); err != nil {
				j.err = fmt.Errorf("kefu: journal: %w", err)
				break
			}
			j.buf, j.written = j.buf[:0], j.queued
		}
		if j.covering >= seq || j.syncing >= maxSyncing {
			j.done.Wait() // an fsync running covers seq, or the device is busy enough
			continue
		}
		cover := j.written
		j.syncing++
		j.covering = max(j.covering, cover)
		j.mu.Unlock()
		err := j.f.Sync()
		j.mu.Lock()
		j.syncing--
		if err != nil {
			j.err = fmt.Errorf("kefu: journal: %w", err)
		} else if cover > j.synced {
			j.synced = cover
			j.syncs++
		}
		j.done.Broadcast()
	}
	return j.err
}

// String reports the journal's entries and fsyncs, for logs and tests.
func (j *FileJournal) String() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return fmt.Sprintf("%d entries, %d lines synced in %d fsyncs", len(j.entries), j.synced, j.syncs)
}
