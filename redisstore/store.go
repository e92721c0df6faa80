// Package redisstore implements kefu's stores on Redis. NewTokenStore shares
// access tokens across processes: a kefu.TokenStore for kefu.WithTokenStore.
// NewDeduper shares the inbound messages instances have claimed: a
// callback.Deduper for callback.Config.Dedup, so that WeChat's retries of a
// message run the handler once, whichever instances they reach.
// NewWindowStore shares users' reply windows: a kefu.WindowStore for
// kefu.NewWindowTracker, so that the callbacks any instance receives open
// a user's windows for all, and a user's quota is spent once between them.
// NewJournal and NewLimiter let several processes send one broadcast
// together (kefu's SendAll): a kefu.Journal for kefu.BulkJournal, so that
// each message is claimed, and sent, once between them, and a kefu.Limiter
// for kefu.BulkLimiter, so that the rate is the rate of the whole run.
//
// Every process of an app that fetches its own token knocks the others' out
// (the classic endpoint kills the previous token 5 minutes after each fetch,
// and a force_refresh of the stable endpoint kills everyone's at once, at
// most 20 a day per account). With a TokenStore, the processes fetch once
// for all, refresh once for all after a rejection, and count force_refresh
// calls for the whole account:
//
//	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379"})
//	tokens, err := kefu.NewTokenSource(appID, secret, kefu.WithTokenStore(redisstore.NewTokenStore(rdb)))
//	client, err := kefu.NewClient(tokens)
//
// The token source reads Redis only when its own copy of the token is
// missing, due for refresh or rejected: sending makes no Redis round trip.
// When Redis is unreachable the source logs it once and goes on with a
// process-local token, and shares again once Redis is back
// (kefu.WithTokenStoreFailClosed makes it fail instead).
//
// # Keys
//
// A TokenStore keeps, for each app id and endpoint kind (the kefu key, such
// as "wx1234/stable"), these keys, whose hash tag puts them all in one Redis
// Cluster slot so that the Lua scripts may touch them together:
//
//	kefu:{wx1234/stable}:token             the token, as JSON, expiring with it
//	kefu:{wx1234/stable}:lock              the refresh lock, holding its owner's id
//	kefu:{wx1234/stable}:force:last        when the last force_refresh was (Redis's clock, Unix ms)
//	kefu:{wx1234/stable}:force:2026-11-27  force_refresh calls that day (UTC+8)
//
// The token key's value reads, for example,
//
//	{"token":"ACCESS_TOKEN","refresh_at":"2026-11-27T03:57:12.5Z","expires_at":"2026-11-27T04:00:00Z"}
//
// Whatever else these keys may hold (left by another program or by hand)
// never blocks the store: a token key value that is not such JSON, is
// longer than 64 KiB or is not a string counts as no token and the next
// refresh replaces it; force_refresh keys that do not hold a whole number
// count as none; and a lock key without a TTL is taken over.
//
// A Deduper keeps one key per claimed message (kefu:callback:KEY), a
// WindowStore one per user (kefu:windows:OPENID; WindowStore says more), a
// Journal one hash per run (kefu:journal:RUNID; Journal says more, and
// what Redis's persistence means for a claim), a Limiter one hash per key
// (kefu:limiter:KEY).
//
// The "kefu" prefix is changed with WithPrefix. A TokenStore works with any
// redis.UniversalClient: a single node, Sentinel (failover) or Cluster, on
// Redis 5.0 or later (or a compatible server with Lua scripting).
//
// # Redis client settings
//
// A token refresh waits for Redis, and go-redis's defaults retry a dead
// server for seconds (3 retries, 5 dials each, 5 s dial timeout) before the
// source falls back to a token of its own; a callback waits for a
// Deduper's claim within the 5 s WeChat gives it; a Send with a window
// tracker waits for its WindowStore before it calls WeChat. Give the client short
// timeouts and few retries:
//
//	rdb := redis.NewClient(&redis.Options{
//		Addr:        "redis:6379",
//		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
//		MaxRetries: 1, DialerRetries: 1,
//	})
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/redis/go-redis/v9"
)

// DefaultPrefix starts every key a TokenStore uses unless WithPrefix says
// otherwise.
const DefaultPrefix = "kefu"

// DefaultLockTTL is how long a refresh lock lives unless WithLockTTL says
// otherwise: a holder that dies mid-refresh blocks the others this long.
const DefaultLockTTL = 10 * time.Second

// forceDayTTL is how long a day's force_refresh count (and the time of the
// last one) is kept: past the end of the UTC+8 day it counts, whatever the
// time zone of the processes.
const forceDayTTL = 48 * time.Hour

// TokenStore is a kefu.TokenStore on Redis. Create it with NewTokenStore; it
// is safe for concurrent use. Processes that share tokens must use the same
// prefix.
type TokenStore struct {
	rdb     redis.UniversalClient
	prefix  string
	lockTTL time.Duration
	owner   string // this TokenStore's lock owner id, before a per-lock suffix
}

var _ kefu.TokenStore = (*TokenStore)(nil)

// Option configures NewTokenStore.
type Option func(*TokenStore)

// WithPrefix starts every key with prefix and a colon instead of "kefu:"
// (an empty prefix: no prefix at all). Processes sharing tokens must use
// the same prefix; processes with different prefixes never meet. Whatever
// the prefix, the keys of one app and kind share one Cluster slot (a prefix
// holding a hash tag puts all of the TokenStore's keys in its slot).
func WithPrefix(prefix string) Option {
	return func(s *TokenStore) { s.prefix = prefix }
}

// WithLockTTL sets how long a refresh lock lives (default DefaultLockTTL).
// It should exceed a token fetch (kefu's retries included), or two
// processes may fetch at once; it bounds how long the others wait for a
// holder that died. It is rounded up to whole milliseconds. A d <= 0
// panics: it is a programming error.
func WithLockTTL(d time.Duration) Option {
	if d <= 0 {
		panic("redisstore: WithLockTTL needs a duration > 0")
	}
	d = roundMillis(d)
	return func(s *TokenStore) { s.lockTTL = d }
}

// NewTokenStore returns a TokenStore keeping tokens in rdb (a *redis.Client,
// a Sentinel failover client or a *redis.ClusterClient). The TokenStore does
// not close rdb. A nil rdb panics.
func NewTokenStore(rdb redis.UniversalClient, opts ...Option) *TokenStore {
	if rdb == nil {
		panic("redisstore: NewTokenStore needs a Redis client")
	}
	s := &TokenStore{rdb: rdb, prefix: DefaultPrefix, lockTTL: DefaultLockTTL}
	configure(s, opts)
	s.owner = processOwner()
	return s
}

// base returns the start of key's Redis keys: prefix:{key}.
func (s *TokenStore) base(key string) string {
	if s.prefix == "" {
		return "{" + key + "}"
	}
	return s.prefix + ":{" + key + "}"
}

// tokenKey is the Redis key holding the token of key (a kefu store key such
// as "wx1234/stable").
func (s *TokenStore) tokenKey(key string) string { return s.base(key) + ":token" }

// lockKey is the Redis key of key's refresh lock.
func (s *TokenStore) lockKey(key string) string { return s.base(key) + ":lock" }

// forceKeys returns the Redis keys of key's force_refresh accounting: the
// time of the last force_refresh, and the count of day (a UTC+8 date,
// "2006-01-02").
func (s *TokenStore) forceKeys(key, day string) (last, count string) {
	b := s.base(key)
	return b + ":force:last", b + ":force:" + day
}

// maxTokenValue bounds the token key's value: a TokenStore writes about
// 150 bytes (WeChat's tokens have at most 512 characters). A longer value
// was not written by a TokenStore, and is never read into memory.
const maxTokenValue = 64 << 10

// casAttempts bounds how often CompareAndSwap reads the token key again
// when it changed between the read and the swap.
const casAttempts = 3

// entry is a token as stored in Redis.
type entry struct {
	Token     string    `json:"token"`
	RefreshAt time.Time `json:"refresh_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// luaRead defines, for the token scripts, read(key, max): 'none' when key
// does not exist, 'bad' when it holds another type or a string longer than
// max bytes, else 'string' and the string.
const luaRead = `
local function read(key, max)
  local t = redis.call('TYPE', key)
  if type(t) == 'table' then t = t.ok end
  if t == 'none' then return 'none' end
  if t ~= 'string' or redis.call('STRLEN', key) > tonumber(max) then return 'bad' end
  return 'string', redis.call('GET', key)
end
`

// readScript returns read(KEYS[1], ARGV[1]) as an array.
var readScript = redis.NewScript(luaRead + `return {read(KEYS[1], ARGV[1])}`)

// casScript stores ARGV[3] in KEYS[1] for ARGV[4] ms if read(KEYS[1],
// ARGV[5]) still gives ARGV[1] and, for a string, ARGV[2]. A key of another
// type is deleted first.
var casScript = redis.NewScript(luaRead + `
local state, v = read(KEYS[1], ARGV[5])
if state ~= ARGV[1] or (state == 'string' and v ~= ARGV[2]) then return 0 end
if state == 'bad' then redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return 1
`)

// stored is what a token key holds, as readScript reads it.
type stored struct {
	state string // "none", "bad" or "string"
	value string // the string
}

// read reads key's token key, never more than maxTokenValue bytes of it.
func (s *TokenStore) read(ctx context.Context, key string) (stored, error) {
	r, err := readScript.Run(ctx, s.rdb, []string{s.tokenKey(key)}, maxTokenValue).StringSlice()
	if err != nil {
		return stored{}, err
	}
	if len(r) == 0 {
		return stored{}, errors.New("empty reply")
	}
	st := stored{state: r[0]}
	if len(r) > 1 {
		st.value = r[1]
	}
	return st, nil
}

// token is the token st holds. Anything but a string that decodes to an
// entry with a token and both times (RFC 3339 strings) counts as no token
// (the zero SharedToken), so that the next refresh replaces it.
// CompareAndSwap compares with this, as Load returns it.
func (st stored) token() kefu.SharedToken {
	var e struct {
		Token     string     `json:"token"`
		RefreshAt *time.Time `json:"refresh_at"`
		ExpiresAt *time.Time `json:"expires_at"`
	}
	if st.state != "string" || json.Unmarshal([]byte(st.value), &e) != nil ||
		e.Token == "" || e.RefreshAt == nil || e.ExpiresAt == nil {
		return kefu.SharedToken{}
	}
	return kefu.SharedToken{Value: e.Token, RefreshAt: *e.RefreshAt, ExpiresAt: *e.ExpiresAt}
}

// Load returns the token stored under key, or a zero kefu.SharedToken when
// there is none, or what is stored cannot be read: not a string, longer
// than 64 KiB, not JSON, without a token, or without RFC 3339 times.
func (s *TokenStore) Load(ctx context.Context, key string) (kefu.SharedToken, error) {
	st, err := s.read(ctx, key)
	if err != nil {
		return kefu.SharedToken{}, fmt.Errorf("redisstore: load %s: %w", key, err)
	}
	return st.token(), nil
}

// CompareAndSwap stores next under key, to expire at next.ExpiresAt, if the
// stored token is still old ("" meaning none is stored, or what is stored
// cannot be read, as Load says), and reports whether it did. It reads the
// key, compares in Go as Load does, and swaps with a Lua script only if the
// key still holds exactly what it read, so a refresh never overwrites a
// newer token with an older one. An empty next.Value is an error; a next
// that has already expired is stored for 1 ms.
func (s *TokenStore) CompareAndSwap(ctx context.Context, key, old string, next kefu.SharedToken) (bool, error) {
	if next.Value == "" {
		return false, errors.New("redisstore: compare-and-swap " + key + ": empty token")
	}
	v, err := json.Marshal(entry{Token: next.Value, RefreshAt: next.RefreshAt.UTC(), ExpiresAt: next.ExpiresAt.UTC()})
	if err != nil {
		return false, fmt.Errorf("redisstore: compare-and-swap %s: %w", key, err)
	}
	px := millis(time.Until(next.ExpiresAt))
	for range casAttempts {
		cur, err := s.read(ctx, key)
		if err != nil {
			return false, fmt.Errorf("redisstore: compare-and-swap %s: %w", key, err)
		}
		if cur.token().Value != old {
			return false, nil
		}
		n, err := casScript.Run(ctx, s.rdb, []string{s.tokenKey(key)}, cur.state, cur.value, v, px, maxTokenValue).Int()
		if err != nil {
			return false, fmt.Errorf("redisstore: compare-and-swap %s: %w", key, err)
		}
		if n == 1 {
			return true, nil
		}
		// The key changed since it was read: compare again.
	}
	return false, nil
}

// unlockScript deletes the lock KEYS[1] if ARGV[1] still owns it.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// lockScript sets the lock KEYS[1] to ARGV[1] for ARGV[2] ms unless another
// holder has it. A key without a TTL is no holder's (a TokenStore's locks
// all expire) and would block every refresh forever: it is taken over.
var lockScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('PTTL', KEYS[1]) ~= -1 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// Lock takes key's refresh lock (SET NX PX with a random owner id, in a Lua
// script that also takes over a key without a TTL) for the lock TTL. ok is
// false when another holder has it. release frees the lock if this holder
// still owns it (a Lua script compares the owner id), so that a holder
// whose lock expired never frees its successor's; it may be called more
// than once and waits at most the lock TTL.
func (s *TokenStore) Lock(ctx context.Context, key string) (release func(context.Context), ok bool, err error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, false, fmt.Errorf("redisstore: lock %s: %w", key, err)
	}
	owner := s.owner + hex.EncodeToString(id[:])
	lockKey := s.lockKey(key)
	n, err := lockScript.Run(ctx, s.rdb, []string{lockKey}, owner, s.lockTTL.Milliseconds()).Int()
	if err != nil {
		return nil, false, fmt.Errorf("redisstore: lock %s: %w", key, err)
	}
	if n != 1 {
		return nil, false, nil
	}
	var once sync.Once
	return func(ctx context.Context) {
		once.Do(func() {
			// Past the TTL the lock is gone anyway: never wait longer.
			ctx, cancel := context.WithTimeout(ctx, s.lockTTL)
			defer cancel()
			_ = unlockScript.Run(ctx, s.rdb, []string{lockKey}, owner).Err()
		})
	}, true, nil
}

// reserveScript counts one force_refresh unless the last one, whose time
// (Redis's, Unix ms) KEYS[1] holds, was less than ARGV[1] ms ago, or the
// day's count KEYS[2] reached ARGV[2]. Both keys live ARGV[3] ms. What
// these keys hold unless it is a whole number, at most 20 characters
// long, counts as none and is replaced (another type too); so does a last
// time more than ARGV[1] ms ahead of Redis's clock.
var reserveScript = redis.NewScript(`
local function number(key)
  local t = redis.call('TYPE', key)
  if type(t) == 'table' then t = t.ok end
  if t ~= 'string' or redis.call('STRLEN', key) > 20 then return nil end
  local n = tonumber(redis.call('GET', key))
  if n and n >= 0 and n < 2^53 and n == math.floor(n) then return n end
  return nil
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local spacing = tonumber(ARGV[1])
local last = number(KEYS[1])
if last and now - last < spacing and last - now <= spacing then return 0 end
local n = number(KEYS[2]) or 0
if n >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[2], n + 1, 'PX', ARGV[3])
redis.call('SET', KEYS[1], now, 'PX', ARGV[3])
return 1
`)

// ReserveForceRefresh records one force_refresh for key, and reports true,
// if none was recorded in the last spacing (as Redis's clock measures it)
// and fewer than perDay were on day (a UTC+8 date, "2006-01-02"). It is one
// Lua script, so however many processes ask at once, one gets it. The day's
// count and the time of the last are kept for 48 hours. A perDay <= 0
// allows none; a spacing <= 0 does not space them.
func (s *TokenStore) ReserveForceRefresh(ctx context.Context, key, day string, spacing time.Duration, perDay int) (bool, error) {
	if perDay <= 0 {
		return false, nil
	}
	last, count := s.forceKeys(key, day)
	n, err := reserveScript.Run(ctx, s.rdb, []string{last, count}, max(spacing.Milliseconds(), 0), perDay,
		forceDayTTL.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("redisstore: reserve force_refresh %s: %w", key, err)
	}
	return n == 1, nil
}

// millis is d in whole milliseconds, rounded up, at least 1.
func millis(d time.Duration) int64 {
	return max(int64((d+time.Millisecond-1)/time.Millisecond), 1)
}

// roundMillis is d rounded up to whole milliseconds (at least one), as
// Redis keeps a TTL.
func roundMillis(d time.Duration) time.Duration { return time.Duration(millis(d)) * time.Millisecond }

// processOwner is the start of an owner id: this host and process.
func processOwner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/", host, os.Getpid())
}

// configure applies opts, but the nil ones, to c.
func configure[C any, O ~func(*C)](c *C, opts []O) {
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
}
