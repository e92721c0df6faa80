package kefu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Force-refresh limits: WeChat allows 20 force_refresh calls a day per
// account, at least 30 s apart; one process uses at most half of the day's.
const (
	forceSpacing  = 30 * time.Second
	forcePerDay   = 10
	refreshMargin = 2 * time.Minute
	marginJitter  = time.Minute
)

// chinaTime is UTC+8, where WeChat's days begin.
var chinaTime = time.FixedZone("UTC+8", 8*60*60)

// wechatFetcher fetches tokens from WeChat's token endpoints, forcing a
// refresh (under this process's guard) when the stable endpoint hands back
// the rejected token.
type wechatFetcher struct {
	appID, secret string
	classic       bool
	ep            *endpoint
	now           func() time.Time

	mu         sync.Mutex
	lastForce  time.Time // last force_refresh
	forceDay   string    // the UTC+8 day forceCount counts
	forceCount int
}

func (f *wechatFetcher) fetch(ctx context.Context, rejected string) (*cachedToken, error) {
	t, err := f.call(ctx, false)
	if err != nil {
		return nil, err
	}
	if f.needsForce(t, rejected) {
		ok, why := f.allowForce()
		if ok {
			start := time.Now()
			t, err := f.call(ctx, true)
			f.ep.tokenHook(ctx, TokenForce, start, err)
			return t, err
		}
		f.ep.logErr(ctx, slog.LevelWarn, "kefu: the stable endpoint returned the rejected token and force_refresh is not allowed now", errors.New(why))
	}
	return t, nil
}

// needsForce reports whether the stable endpoint handed back the rejected
// token, which only a force_refresh replaces.
func (f *wechatFetcher) needsForce(t *cachedToken, rejected string) bool {
	return !f.classic && rejected != "" && t.value == rejected
}

// allowForce applies the process's force_refresh guard and, when it allows
// one, counts it.
func (f *wechatFetcher) allowForce() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if !f.lastForce.IsZero() && now.Sub(f.lastForce) < forceSpacing {
		return false, "the last force_refresh was less than 30s ago"
	}
	day := now.In(chinaTime).Format(time.DateOnly)
	if day != f.forceDay {
		f.forceDay, f.forceCount = day, 0
	}
	if f.forceCount >= forcePerDay {
		return false, fmt.Sprintf("this process used its %d force_refresh calls for today", forcePerDay)
	}
	f.forceCount++
	f.lastForce = now
	return true, ""
}

// maxTokenLife is how long WeChat's access tokens live: 7200 s.
const maxTokenLife = 7200 * time.Second

// tokenLife turns the expires_in of a token answer into a lifetime of 1 to
// 7200 s, so that no number from the wire can overflow a duration or turn
// caching off. 0, a negative or a missing value is taken as WeChat's 7200
// s, and a larger one is cut to it; ok is false for those.
func tokenLife(expiresIn int64) (life time.Duration, ok bool) {
	if expiresIn <= 0 || expiresIn > int64(maxTokenLife/time.Second) {
		return maxTokenLife, false
	}
	return time.Duration(expiresIn) * time.Second, true
}

// tokenAnswer is the data of the token endpoints' answer.
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

// request returns the request of one token fetch.
func (f *wechatFetcher) request(force bool, a *tokenAnswer) (*request, error) {
	r := &request{secret: f.secret, retryUnknown: !force, noEffect: true, out: a, hasData: func() bool { return a.AccessToken != "" }}
	if f.classic {
		r.method, r.path = http.MethodGet, tokenPath
		r.query = "grant_type=client_credential&appid=" + url.QueryEscape(f.appID) + "&secret=" + url.QueryEscape(f.secret)
		return r, nil
	}
	r.method, r.path = http.MethodPost, stableTokenPath
	body, err := marshalWire(struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}{"client_credential", f.appID, f.secret, force})
	return r.withJSON(body), err
}

// call calls the token endpoint once (under the retry policy).
func (f *wechatFetcher) call(ctx context.Context, force bool) (*cachedToken, error) {
	var a tokenAnswer
	r, err := f.request(force, &a)
	if err != nil {
		return nil, err
	}
	start := f.now()
	if err := f.ep.do(ctx, r, nil); err != nil {
		return nil, err
	}
	life, ok := tokenLife(a.ExpiresIn)
	margin := min(refreshMargin+time.Duration(rand.Int64N(int64(marginJitter))), life/2)
	level, msg := slog.LevelInfo, "kefu: fetched an access token"
	if !ok {
		level, msg = slog.LevelWarn, "kefu: fetched an access token whose expires_in is out of 1..7200; it is kept 7200 s at most"
	}
	if f.ep.enabled(ctx, level) {
		f.ep.log.LogAttrs(ctx, level, msg, slog.String("path", r.path),
			slog.Bool("force_refresh", force), slog.Int64("expires_in", a.ExpiresIn))
	}
	return &cachedToken{value: a.AccessToken, refreshAt: start.Add(life - margin), expiresAt: start.Add(life)}, nil
}
