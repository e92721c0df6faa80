package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/redis/go-redis/v9"
)

// DefaultJournalPrefix starts the key of every run a Journal records
// unless WithJournalPrefix says otherwise.
const DefaultJournalPrefix = "kefu:journal:"

// DefaultJournalTTL is how long a run's key lives after its last write
// unless WithJournalTTL says otherwise.
const DefaultJournalTTL = 7 * 24 * time.Hour

// Journal is a kefu.Journal on Redis: processes that run the same
// broadcast (the same input, the same run id) with kefu's SendAll share
// it, so that each item is claimed by one of them and together they send
// each message once; a run stopped or crashed is resumed by running it
// again, as with kefu.FileJournal. Create it with NewJournal; it is safe
// for concurrent use.
//
// A run is one Redis hash, the prefix followed by the run id
// (kefu:journal:2026-11-30-promo), whose fields are the items' journal
// keys and whose values are their kefu.JournalEntry as compact JSON, as a
// FileJournal writes its lines, with the time always in UTC and with nine
// digits of fraction (so that the script compares times as strings):
//
//	o-user#17  {"key":"o-user#17","hash":"5f0c…","state":"sent","msgid":7291,"at":"2026-11-30T08:00:01.250000000Z"}
//
// Claim is one Lua script: it reads the item's field, decides as
// kefu.CanClaim does (a field holding another Hash is an error matching
// kefu.ErrJournalMismatch; a released item is free; an attempted or
// unknown one only for a Claim with RetryUnknown made at or after its
// UnknownSince; a sent or failed one never), and when the item may be
// taken writes the attempt in the same script, atomically: however many
// processes claim an item at once, one gets it. Record writes an outcome
// (keeping the claim's Hash when the entry has none) in one script too.
// Each costs one round trip. Every write sets the key to expire
// DefaultJournalTTL (WithJournalTTL) later, so finished runs do not pile
// up; a run resumed after that starts over.
//
// A claim is durable as far as Redis keeps what it acknowledged: Claim
// returns once Redis executed the script, before the message goes out.
// With appendonly yes and appendfsync always, Redis writes the claim to
// its AOF and fsyncs it before it answers, and a crash of Redis loses no
// claim. With appendfsync everysec (Redis's default for AOF) a crash of
// the Redis host loses up to about a second of claims, without AOF (RDB
// snapshots only) everything since the last snapshot, and a failover to
// a replica what had not reached it: items whose claims were lost count
// as never attempted, and a resumed run sends them again, though they may
// have gone out. Run broadcasts that must never be sent twice on a Redis
// with appendfsync always.
//
// The whole run is one key, so a Journal works with a single node,
// Sentinel or Cluster (all of a run lives in one slot).
type Journal struct {
	rdb   redis.UniversalClient
	runID string
	key   string
	ttl   time.Duration
}

var _ kefu.Journal = (*Journal)(nil)

// JournalOption configures NewJournal.
type JournalOption func(*journalConfig)

type journalConfig struct {
	prefix string
	ttl    time.Duration
}

// WithJournalPrefix starts the run's key with prefix instead of
// "kefu:journal:" (the run id follows it as is: end the prefix with a
// separator). Processes that share a run must use the same prefix.
func WithJournalPrefix(prefix string) JournalOption {
	return func(c *journalConfig) { c.prefix = prefix }
}

// WithJournalTTL sets how long a run's key lives after its last write
// (default DefaultJournalTTL): a run resumed later starts over, and may
// send everything again. It is rounded up to whole milliseconds. A d <= 0
// panics: it is a programming error.
func WithJournalTTL(d time.Duration) JournalOption {
	if d <= 0 {
		panic("redisstore: WithJournalTTL needs a duration > 0")
	}
	d = roundMillis(d)
	return func(c *journalConfig) { c.ttl = d }
}

// NewJournal returns the Journal of the run runID in rdb (a
// *redis.Client, a Sentinel failover client or a *redis.ClusterClient),
// for kefu.BulkJournal. Every process of the run makes its own, with the
// same runID; a new broadcast needs a new runID (one that already
// finished would skip every item). The Journal does not close rdb. A nil
// rdb or an empty runID panics.
func NewJournal(rdb redis.UniversalClient, runID string, opts ...JournalOption) *Journal {
	if rdb == nil {
		panic("redisstore: NewJournal needs a Redis client")
	}
	if runID == "" {
		panic("redisstore: NewJournal needs a run id")
	}
	c := journalConfig{prefix: DefaultJournalPrefix, ttl: DefaultJournalTTL}
	configure(&c, opts)
	return &Journal{rdb: rdb, runID: runID, key: c.prefix + runID, ttl: c.ttl}
}

// journalTime is the layout of the entries' times: RFC 3339 in UTC with
// a fixed width, so that two of them compare as strings as in time.
const journalTime = "2006-01-02T15:04:05.000000000Z"

// formatJournalTime writes t as journalTime; years past 9999 (or before 0)
// do not fit.
func formatJournalTime(t time.Time) (string, error) {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return "", fmt.Errorf("time %v is out of the years 0 to 9999", t)
	}
	return t.Format(journalTime), nil
}

// journalValue is a field's value: a kefu.JournalEntry (its fields and
// JSON names) with its time as journalTime, which hides the entry's own.
type journalValue struct {
	kefu.JournalEntry
	At string `json:"at"`
}

// encodeEntry returns e's value as a field holds it.
func encodeEntry(e kefu.JournalEntry) (string, error) {
	at, err := formatJournalTime(e.At)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(journalValue{e, at})
	return string(b), err
}

// decodeEntry reads a field's value: a JSON object with a key, a state and
// a time.
func decodeEntry(v string) (kefu.JournalEntry, error) {
	var w journalValue
	bad := errors.New("a value that is not a journal entry")
	if err := json.Unmarshal([]byte(v), &w); err != nil || w.Key == "" || w.State == 0 {
		return kefu.JournalEntry{}, bad
	}
	at, err := time.Parse(time.RFC3339Nano, w.At)
	if err != nil {
		return kefu.JournalEntry{}, bad
	}
	w.JournalEntry.At = at
	return w.JournalEntry, nil
}

// luaDecode defines, for the journal scripts, entry(v): the table of the
// JSON v, or nil when v is not a JSON object.
const luaDecode = `
local function entry(v)
  local ok, e = pcall(cjson.decode, v)
  if ok and type(e) == 'table' then return e end
  return nil
end
`

// claimScript claims the field ARGV[1] of the run KEYS[1] as kefu.CanClaim
// decides: ARGV[2] is the claim's hash, ARGV[3] '1' under RetryUnknown,
// ARGV[4] its UnknownSince (journalTime), ARGV[5] the attempt's value,
// ARGV[6] the key's TTL in ms. It answers {verdict, previous value (empty when
// none)}, the verdict one of 'claimed', 'held', 'mismatch' or 'bad' (the
// field holds something a Journal did not write: nothing is decided).
var claimScript = redis.NewScript(luaDecode + `
local prev = redis.call('HGET', KEYS[1], ARGV[1])
if prev then
  local e = entry(prev)
  if not e or type(e.state) ~= 'string' or type(e.at) ~= 'string' then return {'bad', prev} end
  if type(e.hash) == 'string' and e.hash ~= '' and ARGV[2] ~= '' and e.hash ~= ARGV[2] then
    return {'mismatch', prev}
  end
  local free = e.state == 'released' or
    ((e.state == 'attempted' or e.state == 'unknown') and ARGV[3] == '1' and e.at >= ARGV[4])
  if not free then return {'held', prev} end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {'claimed', prev or ''}
`)

// recordScript stores the value ARGV[2] in the field ARGV[1] of the run
// KEYS[1], with the hash the field held before when ARGV[3] is '1' (the
// value has none), and sets the key to expire in ARGV[4] ms.
var recordScript = redis.NewScript(luaDecode + `
local v = ARGV[2]
if ARGV[3] == '1' then
  local prev = redis.call('HGET', KEYS[1], ARGV[1])
  local e = prev and entry(prev)
  if e and type(e.hash) == 'string' and e.hash ~= '' then
    v = '{"hash":' .. cjson.encode(e.hash) .. ',' .. string.sub(v, 2)
  end
end
redis.call('HSET', KEYS[1], ARGV[1], v)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`)

// Claim implements kefu.Journal: it takes c.Key, in one Lua script, when
// kefu.CanClaim would allow it, and returns true once Redis has the
// attempt (see Journal for what Redis's persistence makes of that).
// Otherwise it returns false and what the run holds for the key; a key
// held with another Hash is an error matching kefu.ErrJournalMismatch.
// The entry returned has its time in UTC.
func (j *Journal) Claim(ctx context.Context, c kefu.Claim) (kefu.JournalEntry, bool, error) {
	prev, ok, err := j.claim(ctx, c)
	if err != nil {
		return prev, false, fmt.Errorf("redisstore: journal %s: claim %q: %w", j.runID, c.Key, err)
	}
	return prev, ok, nil
}

func (j *Journal) claim(ctx context.Context, c kefu.Claim) (kefu.JournalEntry, bool, error) {
	since, err := formatJournalTime(c.UnknownSince)
	if err != nil {
		return kefu.JournalEntry{}, false, err
	}
	attempt, err := encodeEntry(kefu.JournalEntry{Key: c.Key, Hash: c.Hash, State: kefu.JournalAttempted, At: c.At})
	if err != nil {
		return kefu.JournalEntry{}, false, err
	}
	retry := "0"
	if c.RetryUnknown {
		retry = "1"
	}
	r, err := claimScript.Run(ctx, j.rdb, []string{j.key}, c.Key, c.Hash, retry, since, attempt, j.ttl.Milliseconds()).StringSlice()
	if err != nil {
		return kefu.JournalEntry{}, false, err
	}
	if len(r) != 2 {
		return kefu.JournalEntry{}, false, errors.New("unexpected reply from the script")
	}
	verdict, value := r[0], r[1]
	if verdict == "bad" {
		return kefu.JournalEntry{}, false, errors.New("the key holds a value that is not a journal entry")
	}
	var prev kefu.JournalEntry
	if value != "" {
		if prev, err = decodeEntry(value); err != nil {
			return kefu.JournalEntry{}, false, err
		}
	}
	switch verdict {
	case "claimed":
		return prev, true, nil
	case "mismatch":
		return prev, false, kefu.ErrJournalMismatch
	}
	return prev, false, nil
}

// Record implements kefu.Journal: it stores e, the outcome of a claimed
// key, with the Hash of its claim when e has none. Redis has it when
// Record returns.
func (j *Journal) Record(ctx context.Context, e kefu.JournalEntry) error {
	v, err := encodeEntry(e)
	if err == nil {
		keepHash := "0"
		if e.Hash == "" {
			keepHash = "1"
		}
		err = recordScript.Run(ctx, j.rdb, []string{j.key}, e.Key, v, keepHash, j.ttl.Milliseconds()).Err()
	}
	if err != nil {
		return fmt.Errorf("redisstore: journal %s: record %q: %w", j.runID, e.Key, err)
	}
	return nil
}

// entriesBatch is how many fields Entries asks for at a time (HSCAN's
// COUNT), so that reading a large run never blocks Redis for long.
const entriesBatch = 1000

// Entries returns what the run holds, by key (times in UTC), for a summary
// of the run or a test. It reads the hash with HSCAN while the run may go
// on: an entry that changes meanwhile is returned as it was or as it is.
func (j *Journal) Entries(ctx context.Context) (map[string]kefu.JournalEntry, error) {
	out := make(map[string]kefu.JournalEntry)
	var cursor uint64
	for {
		kv, next, err := j.rdb.HScan(ctx, j.key, cursor, "", entriesBatch).Result()
		if err != nil {
			return nil, fmt.Errorf("redisstore: journal %s: entries: %w", j.runID, err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			e, err := decodeEntry(kv[i+1])
			if err != nil {
				return nil, fmt.Errorf("redisstore: journal %s: entry %q: %w", j.runID, kv[i], err)
			}
			out[kv[i]] = e
		}
		if cursor = next; cursor == 0 {
			return out, nil
		}
	}
}
