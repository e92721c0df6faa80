package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/redis/go-redis/v9"
)

// DefaultWindowPrefix starts every key a WindowStore uses unless
// WithWindowPrefix says otherwise.
const DefaultWindowPrefix = "kefu:windows:"

// windowKeep is how long a user whose windows all closed is kept after the
// last one closed, so that the tracker can still say when (kefu's in-memory
// store keeps them as long).
const windowKeep = 48 * time.Hour

// wechatMemory is how long kefu keeps a state learned only from WeChat's
// answers (OpRefused, OpSpent): the op's At plus this is its Until.
const wechatMemory = 60 * time.Second

// maxWindowValue bounds a window key's value: a WindowStore writes at most
// one window per action, about 40 bytes each. A longer value was not
// written by a WindowStore and counts as no state.
const maxWindowValue = 4 << 10

// WindowStore is a kefu.WindowStore on Redis: processes that send to the
// same users share their reply windows, so that a user's quota is spent
// once between them and each knows the windows opened by the callbacks
// the others received. Create it with NewWindowStore and give it to
// kefu.NewWindowTracker; it is safe for concurrent use.
//
// Each user is one key, the prefix followed by the openid
// (kefu:windows:oUSER), holding the user's windows as JSON (in any key
// order). A user who sent a message at 08:00:00 UTC on 2026-11-29, was sent
// one reply, and scanned a QR code at 08:00:30.5:
//
//	{"v":1,"w":[[1,1795939200,0,1796112000,0,4],[4,1795939230,500000000,1795939290,500000000,3]]}
//
// and a user the tracker never saw, for whom WeChat answered 45015 at
// 08:00:00:
//
//	{"v":1,"w":{},"u":[1795939260,0]}
//
// v is the format's version (a value of another version, or anything
// else a WindowStore did not write, counts as an unknown user and is
// replaced by the next change); w the windows, each [action (a
// kefu.Action), opened, closes, messages left (-1: unlimited)] with the
// times as Unix seconds and nanoseconds, exact to the nanosecond; u, when
// present, is when a state learned only from WeChat's answers is
// forgotten.
//
// Update is one Lua script (EVALSHA, EVAL when Redis does not have it
// yet): it reads the key, applies the op with the rules of
// kefu.UserWindows.Apply, writes the key back and answers, atomically,
// in one round trip. A tracker so costs one round trip per Send, and one
// more when a send surely failed (the message is given back) or WeChat
// answered 45015 or 45047 (the tracker learns it); Observe, Unfollow
// and Window one each.
//
// The key expires 48 hours after the user's last window closed (so that
// the tracker can still say when), or, for a state learned only from
// WeChat's answers, when that state is forgotten (a minute); a user who
// becomes unknown has no key. The expiry is set (PX) relative to the op's
// own time, so Redis's clock need not agree with the tracker's; and a
// state read at an op's time past its expiry counts as unknown, wherever
// Redis's clock is. One key per script: a WindowStore works with a single
// node, Sentinel or Cluster.
//
// Times go to the script as Unix seconds and nanoseconds, as two numbers
// (a double holds neither Unix nanoseconds nor Unix milliseconds with
// their nanoseconds exactly): a reservation's Opened comes back exactly as
// the action's time, so that giving the message back finds its window.
// The times Update returns are in the location of the op's At.
type WindowStore struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ kefu.WindowStore = (*WindowStore)(nil)

// WindowStoreOption configures NewWindowStore.
type WindowStoreOption func(*WindowStore)

// WithWindowPrefix starts every key with prefix instead of "kefu:windows:"
// (the openid follows it as is: end the prefix with a separator).
// Processes that share windows must use the same prefix; accounts that
// share a Redis need not differ (openids differ between accounts), but
// may.
func WithWindowPrefix(prefix string) WindowStoreOption {
	return func(s *WindowStore) { s.prefix = prefix }
}

// NewWindowStore returns a WindowStore keeping users' windows in rdb (a
// *redis.Client, a Sentinel failover client or a *redis.ClusterClient),
// for kefu.NewWindowTracker. The WindowStore does not close rdb. A nil rdb
// panics.
//
// Every Send waits for Redis first: give rdb short timeouts, as the
// package doc says. When Redis fails, Update returns the error and the
// client sends as if it had no tracker (it logs that once).
func NewWindowStore(rdb redis.UniversalClient, opts ...WindowStoreOption) *WindowStore {
	if rdb == nil {
		panic("redisstore: NewWindowStore needs a Redis client")
	}
	s := &WindowStore{rdb: rdb, prefix: DefaultWindowPrefix}
	configure(s, opts)
	return s
}

// redisKey is the Redis key of openID's windows.
func (s *WindowStore) redisKey(openID string) string { return s.prefix + openID }

// Update applies op to openID's windows atomically (one Lua script, one
// round trip) and returns the outcome, as kefu.UserWindows.Apply would. A
// Redis failure is an error.
func (s *WindowStore) Update(ctx context.Context, openID string, op kefu.WindowOp) (kefu.WindowOutcome, error) {
	r, err := windowScript.Run(ctx, s.rdb, []string{s.redisKey(openID)}, windowArgs(op)...).Int64Slice()
	if err != nil {
		return kefu.WindowOutcome{}, fmt.Errorf("redisstore: update windows of %s: %w", openID, err)
	}
	out, err := windowOutcome(r, op.At.Location())
	if err != nil {
		return kefu.WindowOutcome{}, fmt.Errorf("redisstore: update windows of %s: %w", openID, err)
	}
	return out, nil
}

// windowArgs are windowScript's ARGV for op. Every time the script
// compares is passed as Unix seconds and nanoseconds (Lua's numbers are
// doubles: Unix nanoseconds would not fit exactly); the sums (closes,
// until) are made here, so the script's only arithmetic on times is the
// key's expiry, in milliseconds.
func windowArgs(op kefu.WindowOp) []any {
	mini := 0
	if op.MiniProgram {
		mini = 1
	}
	args := []any{int(op.Kind), int(op.Action), op.Rule.Messages, mini, windowKeep.Milliseconds(), maxWindowValue}
	for _, t := range []time.Time{op.At, op.At.Add(op.Rule.For), op.At.Add(wechatMemory), op.Opened} {
		args = append(args, t.Unix(), t.Nanosecond())
	}
	return args
}

// zeroUnix is time.Time{}'s Unix seconds.
var zeroUnix = time.Time{}.Unix()

// unixTime is the time of Unix seconds s and nanoseconds n in loc, or the
// zero time.
func unixTime(s, n int64, loc *time.Location) time.Time {
	if s == zeroUnix && n == 0 {
		return time.Time{}
	}
	return time.Unix(s, n).In(loc)
}

// windowOutcome decodes windowScript's answer: known, open, remaining,
// closes (2), then, when a window was charged, its action, opened (2),
// closes (2) and left. Times are given in loc.
func windowOutcome(r []int64, loc *time.Location) (kefu.WindowOutcome, error) {
	if len(r) != 5 && len(r) != 11 {
		return kefu.WindowOutcome{}, errors.New("unexpected reply from the script")
	}
	out := kefu.WindowOutcome{State: kefu.WindowState{
		Known: r[0] == 1, Open: r[1] == 1, Remaining: int(r[2]), Closes: unixTime(r[3], r[4], loc),
	}}
	if len(r) == 11 {
		out.Reserved = kefu.Window{Action: kefu.Action(r[5]), Opened: unixTime(r[6], r[7], loc),
			Closes: unixTime(r[8], r[9], loc), Left: int(r[10])}
	}
	return out, nil
}

// windowScript applies one kefu.WindowOp to the windows in KEYS[1], line
// for line as kefu.UserWindows.Apply does, saves them with their expiry,
// and answers as windowOutcome reads. ARGV: kind, action, messages, mini
// (1 or 0), keep (ms), max value length, then as Unix seconds and
// nanoseconds: at, closes (at + the rule's For), until (at + a minute),
// opened. A time t is {s, n} here; the zero time.Time is {zeroUnix, 0}.
var windowScript = redis.NewScript(luaRead + strings.NewReplacer(
	"ZERO_UNIX", strconv.FormatInt(zeroUnix, 10),
	"OP_PEEK", opCode(kefu.OpPeek), "OP_OBSERVE", opCode(kefu.OpObserve), "OP_UNFOLLOW", opCode(kefu.OpUnfollow),
	"OP_REFUSED", opCode(kefu.OpRefused), "OP_SPENT", opCode(kefu.OpSpent), "OP_RESERVE", opCode(kefu.OpReserve),
	"OP_RELEASE", opCode(kefu.OpRelease), "UNLIMITED", strconv.Itoa(kefu.Unlimited),
).Replace(windowLua))

func opCode(k kefu.WindowOpKind) string { return strconv.Itoa(int(k)) }

// windowLua is windowScript before the constants are filled in.
const windowLua = `
local kind, action, messages, mini = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
local keep, max = tonumber(ARGV[5]), ARGV[6]
local function arg(i) return {tonumber(ARGV[i]), tonumber(ARGV[i + 1])} end
local at, closes, till, opened = arg(7), arg(9), arg(11), arg(13)
local zero = {ZERO_UNIX, 0}

local function before(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end
local function same(a, b) return a[1] == b[1] and a[2] == b[2] end
local function later(a, b) if before(b, a) then return a end return b end
local function ms(a, b) return math.ceil((a[1] - b[1]) * 1000 + (a[2] - b[2]) / 1e6) end

-- ttl is how long u is kept from at, in ms: until its Until (then it is
-- forgotten) or keep after its last window closed.
local function ttl(u)
  if u.u then return ms(u.u, at) end
  local last = zero
  for _, w in ipairs(u.w) do last = later(last, w.c) end
  return ms(last, at) + keep
end

-- load returns the stored state, or nil: no key, not a WindowStore's value
-- (another type, too long, not JSON, another version), forgotten, or past
-- its expiry (the key would be gone but for the clocks' difference).
local function load()
  local state, v = read(KEYS[1], max)
  if state ~= 'string' then return nil end
  local ok, j = pcall(cjson.decode, v)
  if not ok or type(j) ~= 'table' or j.v ~= 1 or type(j.w) ~= 'table' then return nil end
  local u = {w = {}}
  if type(j.u) == 'table' then u.u = {tonumber(j.u[1]), tonumber(j.u[2])} end
  for _, e in ipairs(j.w) do
    if type(e) ~= 'table' then return nil end
    local w = {a = tonumber(e[1]), o = {tonumber(e[2]), tonumber(e[3])}, c = {tonumber(e[4]), tonumber(e[5])}, l = tonumber(e[6])}
    if not (w.a and w.o[1] and w.o[2] and w.c[1] and w.c[2] and w.l) then return nil end
    table.insert(u.w, w)
  end
  if u.u and not (u.u[1] and u.u[2]) then return nil end
  if u.u and not before(at, u.u) then return nil end
  if ttl(u) <= 0 then return nil end
  return u
end

-- save writes u, to expire after ttl(u) ms; a nil u, or one past its
-- expiry, deletes the key.
local function save(u)
  local px = u and ttl(u) or 0
  if px <= 0 then
    redis.call('DEL', KEYS[1])
    return
  end
  local w = {}
  for i, x in ipairs(u.w) do w[i] = {x.a, x.o[1], x.o[2], x.c[1], x.c[2], x.l} end
  redis.call('SET', KEYS[1], cjson.encode({v = 1, w = w, u = u.u}), 'PX', px)
end

local function observe(u)
  if u == nil then u = {w = {}} end
  u.u = nil
  local w = {a = action, o = at, c = closes, l = messages}
  for i, old in ipairs(u.w) do
    if mini or old.a == action then
      if before(at, old.o) then return u end
      if mini and before(at, old.c) then
        if w.l == UNLIMITED or old.l == UNLIMITED then w.l = UNLIMITED else w.l = math.max(w.l, old.l) end
        w.c = later(w.c, old.c)
      end
      u.w[i] = w
      return u
    end
  end
  table.insert(u.w, w)
  return u
end

local function closeAll(u)
  for _, w in ipairs(u.w) do
    if before(at, w.c) then w.c = at end
  end
end

local function spendAll(u)
  for _, w in ipairs(u.w) do
    if before(at, w.c) then w.l = 0 end
  end
end

local function reserve(u)
  if u == nil then return nil end
  local best
  for _, w in ipairs(u.w) do
    if before(at, w.c) and w.l ~= 0 then
      if best == nil or before(w.c, best.c) or (same(w.c, best.c) and w.a < best.a) then best = w end
    end
  end
  if best and best.l > 0 then best.l = best.l - 1 end
  return best
end

local function release(u)
  if u == nil then return end
  for _, w in ipairs(u.w) do
    if w.a == action and same(w.o, opened) and w.l >= 0 then
      w.l = w.l + 1
      return
    end
  end
end

local function state(u)
  if u == nil then return {0, 0, 0, zero[1], zero[2]} end
  local open, remaining, last, lastClosed = false, 0, zero, zero
  for _, w in ipairs(u.w) do
    if not before(at, w.c) then
      lastClosed = later(lastClosed, w.c)
    else
      open = true
      last = later(last, w.c)
      if remaining ~= UNLIMITED then
        if w.l == UNLIMITED then remaining = UNLIMITED else remaining = remaining + w.l end
      end
    end
  end
  if not open then last = lastClosed end
  return {1, open and 1 or 0, remaining, last[1], last[2]}
end

local u = load()
local reserved
if kind == OP_OBSERVE then
  u = observe(u)
elseif kind == OP_UNFOLLOW then
  if u then closeAll(u) end
elseif kind == OP_REFUSED then
  if u == nil then u = {w = {}} end
  closeAll(u)
  u.u = till
elseif kind == OP_SPENT then
  if u then
    spendAll(u)
    u.u = till
  end
elseif kind == OP_RESERVE then
  reserved = reserve(u)
elseif kind == OP_RELEASE then
  release(u)
end
if kind ~= OP_PEEK then save(u) end
local r = state(u)
if reserved then
  for _, x in ipairs({reserved.a, reserved.o[1], reserved.o[2], reserved.c[1], reserved.c[2], reserved.l}) do table.insert(r, x) end
end
return r
`
