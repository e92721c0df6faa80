package kefutest

import (
	"fmt"
	"strings"
	"time"

	"github.com/kefu-go/kefu"
)

// WeChat's API quotas, as the fake keeps them.
const (
	// defaultDailyQuota is the daily limit PathQuota reports for a path
	// without one set: WeChat's for the send API. The fake does not
	// enforce it.
	defaultDailyQuota = 500_000
	daySeconds        = 24 * 60 * 60
)

// limits is the server's accounting of daily quotas and per-minute limits.
type limits struct {
	daily  map[string]int      // SetDailyQuota's, over WithDailyQuota's; < 0: none
	rate   map[string]int      // SetRateLimit's, over WithRateLimit's; < 0: none
	use    map[string]*pathUse // by path: the server's paths only
	month  string              // the UTC+8 month clears counts, "2006-01"
	clears int
}

// pathUse counts the calls to one path today and in the current minute.
type pathUse struct {
	day      int64 // the UTC+8 day today counts, in days since 1970
	today    int
	minute   int64 // the minute inMinute counts, in minutes since 1970
	inMinute int
}

// chinaDay is the UTC+8 day of t, in days since 1970-01-01.
func chinaDay(t time.Time) int64 { return floorDiv(t.Unix()+chinaOffsetS, daySeconds) }

// floorDiv is a/b rounded down (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// usage returns path's counts, moved on to now's day and minute. path is
// one of the server's: only those are kept.
func (l *limits) usage(path string, now time.Time) *pathUse {
	if l.use == nil {
		l.use = make(map[string]*pathUse)
	}
	u := l.use[path]
	if u == nil {
		u = &pathUse{}
		l.use[path] = u
	}
	u.roll(now)
	return u
}

// peek returns a copy of path's counts at now, keeping nothing new.
func (l *limits) peek(path string, now time.Time) pathUse {
	var u pathUse
	if p := l.use[path]; p != nil {
		u = *p
	}
	u.roll(now)
	return u
}

// roll moves u on to now's day and minute.
func (u *pathUse) roll(now time.Time) {
	if d := chinaDay(now); d != u.day {
		u.day, u.today = d, 0
	}
	if m := floorDiv(now.Unix(), 60); m != u.minute {
		u.minute, u.inMinute = m, 0
	}
}

// limit returns the limit of path in set, else in opt, and whether it has
// one.
func limit(set, opt map[string]int, path string) (int, bool) {
	if n, ok := set[path]; ok {
		return n, n >= 0
	}
	n, ok := opt[path]
	return n, ok
}

// admit counts a call to path at now, or answers 45009 when the path's
// daily quota is used up, 45011 when its per-minute limit is; a refused
// call is not counted. s.mu must be held.
func (s *Server) admit(path string, now time.Time) int {
	u := s.lim.usage(path, now)
	if n, ok := limit(s.lim.daily, s.cfg.dailyQuota, path); ok && u.today >= n {
		return 45009
	}
	if n, ok := limit(s.lim.rate, s.cfg.rateLimit, path); ok && u.inMinute >= n {
		return 45011
	}
	u.today++
	u.inMinute++
	return 0
}

// WithDailyQuota gives path (one of the Path constants) a daily quota of n
// calls: past n calls in a day it answers 45009 ("reach max api daily quota
// limit"), until midnight UTC+8 on the server's clock or a clear_quota
// (PathClearQuota). Every call that passes the token check counts, whatever
// its answer; calls answered 45009 or 45011 do not. n = 0 refuses every
// call. A path not the server's, or a negative n, panics. SetDailyQuota
// changes it while the server runs.
func WithDailyQuota(path string, n int) ServerOption {
	return limitOption("WithDailyQuota", func(c *config) *map[string]int { return &c.dailyQuota }, path, n)
}

// WithRateLimit gives path (one of the Path constants) a limit of perMinute
// calls a minute: past them, until the minute of the server's clock ends,
// it answers 45011 ("api minute-quota reach limit"). Calls count as for
// WithDailyQuota. perMinute = 0 refuses every call. A path not the
// server's, or a negative perMinute, panics. SetRateLimit changes it while
// the server runs.
func WithRateLimit(path string, perMinute int) ServerOption {
	return limitOption("WithRateLimit", func(c *config) *map[string]int { return &c.rateLimit }, path, perMinute)
}

// limitOption is the option that sets path's entry of the table which
// picks from the config to n, after checkLimit.
func limitOption(name string, which func(*config) *map[string]int, path string, n int) ServerOption {
	checkLimit(name, path, n)
	return func(c *config) { setIn(which(c), path, n) }
}

// checkLimit panics if path is not one of the server's WeChat paths or n
// is negative.
func checkLimit(name, path string, n int) {
	if _, ok := routes[path]; !ok {
		panic(fmt.Sprintf("kefutest: %s: %q is not one of the server's paths", name, path))
	}
	if n < 0 {
		panic("kefutest: " + name + " needs n >= 0")
	}
}

// SetDailyQuota gives path a daily quota of n calls, as WithDailyQuota
// does, replacing the option's; a negative n removes the path's quota
// (the option's too). The calls made today count against it. Reset goes
// back to the options'. A path not the server's panics.
func (s *Server) SetDailyQuota(path string, n int) {
	s.setLimit("SetDailyQuota", func(l *limits) *map[string]int { return &l.daily }, path, n)
}

// SetRateLimit gives path a limit of perMinute calls a minute, as
// WithRateLimit does, replacing the option's; a negative perMinute removes
// the path's limit (the option's too). The calls made in the current
// minute count against it. Reset goes back to the options'. A path not the
// server's panics.
func (s *Server) SetRateLimit(path string, perMinute int) {
	s.setLimit("SetRateLimit", func(l *limits) *map[string]int { return &l.rate }, path, perMinute)
}

// setLimit sets path's entry of the table which picks from s.lim to n.
func (s *Server) setLimit(name string, which func(*limits) *map[string]int, path string, n int) {
	checkLimit(name, path, max(n, 0))
	s.mu.Lock()
	defer s.mu.Unlock()
	setIn(which(&s.lim), path, max(n, -1))
}

// setIn sets (*m)[k] to v, making *m first if it is nil.
func setIn[K comparable, V any](m *map[K]V, k K, v V) {
	if *m == nil {
		*m = make(map[K]V)
	}
	(*m)[k] = v
}

// quotaReq is the body of PathQuota.
type quotaReq struct {
	Path string `json:"cgi_path"`
}

// quotaAnswer is PathQuota's answer.
type quotaAnswer struct {
	wechatAnswer
	Quota struct {
		DailyLimit int `json:"daily_limit"`
		Used       int `json:"used"`
		Remain     int `json:"remain"`
	} `json:"quota"`
	RateLimit *rateAnswer `json:"rate_limit,omitempty"`
}

type rateAnswer struct {
	CallCount     int `json:"call_count"`
	RefreshSecond int `json:"refresh_second"`
}

// quotaGet answers POST /cgi-bin/openapi/quota/get: 76003 for a cgi_path
// not starting with "/"; otherwise the path's daily limit (its quota, or
// defaultDailyQuota), the calls today and what remains, and, when the path
// has a per-minute limit, that limit and the seconds until the current
// minute ends. A path that is not the server's has had no calls.
func (s *Server) quotaGet(req quotaReq) reply {
	if !strings.HasPrefix(req.Path, "/") {
		return errReply(76003)
	}
	now := s.Now()
	u := s.lim.peek(req.Path, now)
	a := quotaAnswer{wechatAnswer: wechatAnswer{0, "ok"}}
	daily, ok := limit(s.lim.daily, s.cfg.dailyQuota, req.Path)
	if !ok {
		daily = defaultDailyQuota
	}
	a.Quota.DailyLimit, a.Quota.Used, a.Quota.Remain = daily, u.today, max(daily-u.today, 0)
	if n, ok := limit(s.lim.rate, s.cfg.rateLimit, req.Path); ok {
		end := time.Unix((u.minute+1)*60, 0)
		a.RateLimit = &rateAnswer{n, int((end.Sub(now) + time.Second - 1) / time.Second)}
	}
	return jsonReply(a)
}

// clearReq is the body of PathClearQuota.
type clearReq struct {
	AppID string `json:"appid"`
}

// clearQuota answers POST /cgi-bin/clear_quota: 41002 without appid, 40013
// for another account's, 48006 past kefu.MaxClearQuota clears in a
// calendar month (UTC+8) of the server's clock; otherwise every path's
// calls today count 0 again. Per-minute counts stay.
func (s *Server) clearQuota(req clearReq) reply {
	switch {
	case req.AppID == "":
		return errReply(41002)
	case req.AppID != s.AppID:
		return errReply(40013)
	}
	month := s.Now().In(chinaZone).Format("2006-01")
	if month != s.lim.month {
		s.lim.month, s.lim.clears = month, 0
	}
	if s.lim.clears >= kefu.MaxClearQuota {
		return errReply(48006)
	}
	s.lim.clears++
	for _, u := range s.lim.use {
		u.today = 0
	}
	return okReply()
}
