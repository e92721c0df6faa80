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
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// TokenSource supplies access tokens. Implementations must be safe for
// concurrent use and should cache: Token is called once per Send.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// Token is an access token and the time WeChat stops accepting it (like
// golang.org/x/oauth2's Token).
type Token struct {
	AccessToken string
	Expiry      time.Time
}

// ExpiringTokenSource is a TokenSource that also tells when its token
// expires. The source NewTokenSource returns implements it:
//
//	tok, err := src.(kefu.ExpiringTokenSource).TokenWithExpiry(ctx)
type ExpiringTokenSource interface {
	TokenSource
	// TokenWithExpiry returns the token Token would return, with its expiry.
	TokenWithExpiry(ctx context.Context) (Token, error)
}

// TokenInvalidator is implemented by sources that cache. When WeChat rejects
// a token (40001, 40014, 42001) the Client calls InvalidateToken with it, then
// Token for a fresh one, and retries the call once. The source drops its
// cached token only if it is still rejected: another goroutine may already
// have replaced it.
type TokenInvalidator interface {
	InvalidateToken(ctx context.Context, rejected string) error
}

// StaticToken returns a source that always returns token. It cannot refresh:
// when WeChat rejects the token, Send returns the rejection (ErrInvalidToken).
func StaticToken(token string) TokenSource { return staticToken(token) }

type staticToken string

func (t staticToken) Token(context.Context) (string, error) {
	if t == "" {
		return "", &ValidationError{Field: "StaticToken", Rule: "token must not be empty"}
	}
	return string(t), nil
}

// Force-refresh limits: WeChat allows 20 force_refresh calls a day per
// account, at least 30 s apart; one process uses at most half of the day's.
const (
	forceSpacing  = 30 * time.Second
	forcePerDay   = 10
	fetchTimeout  = time.Minute
	refreshMargin = 2 * time.Minute
	marginJitter  = time.Minute
)

// chinaTime is UTC+8, where WeChat's days begin.
var chinaTime = time.FixedZone("UTC+8", 8*60*60)

// NewTokenSource returns a caching source of access tokens for the app
// appID/secret. It uses the stable endpoint (POST /cgi-bin/stable_token,
// force_refresh false), which hands every caller the same token, or the
// classic GET /cgi-bin/token with WithClassicToken. The token is refreshed
// ahead of expiry (when less than min(2 min + up to 60 s of jitter, half its
// lifetime) remains), by one fetch however many goroutines wait, and a waiter
// whose context ends returns at once. The source implements TokenInvalidator:
// if, after a rejection, the stable endpoint hands back the rejected token, it
// asks once with force_refresh true (never within 30 s of the last, at most
// 10 a day per process; WeChat allows 20 per account).
//
// WithBaseURL, WithHTTPClient, WithRetry and WithLogger apply here too.
// Fetch errors are *APIErrors (40013, 40125, 40164, ... matching
// ErrBadCredentials or ErrUnauthorized) or transport errors; none holds the
// secret.
func NewTokenSource(appID, secret string, opts ...Option) (TokenSource, error) {
	var v validator
	v.required("appID", appID)
	v.required("secret", secret)
	if err := v.err(); err != nil {
		return nil, err
	}
	s, err := newSettings(opts)
	if err != nil {
		return nil, err
	}
	ts := &tokenSource{appID: appID, secret: secret, classic: s.classic, ep: s.endpoint(), now: s.now,
		store: s.store, failClosed: s.storeFailClosed, sleep: s.sleep}
	ts.storeKey = appID + "/stable"
	if s.classic {
		ts.storeKey = appID + "/classic"
	}
	return ts, nil
}

// cachedToken is an immutable token with its timings.
type cachedToken struct {
	value     string
	refreshAt time.Time // refresh from here on
	expiresAt time.Time // WeChat's expiry
}

type tokenSource struct {
	appID, secret string
	classic       bool
	ep            *endpoint
	now           func() time.Time

	cur   atomic.Pointer[cachedToken] // read without locks on the hot path
	group singleflight.Group

	mu         sync.Mutex
	rejected   string    // the last token a caller reported rejected
	lastForce  time.Time // last force_refresh
	forceDay   string    // the UTC+8 day forceCount counts
	forceCount int

	// Shared tokens (WithTokenStore).
	store      TokenStore
	storeKey   string
	failClosed bool
	storeDown  atomic.Bool // logged once per outage
	sleep      func(context.Context, time.Duration) error
}

// Token returns the cached access token, refreshing it first when due.
func (s *tokenSource) Token(ctx context.Context) (string, error) {
	t, err := s.get(ctx)
	if err != nil {
		return "", err
	}
	return t.value, nil
}

// TokenWithExpiry is Token with the time WeChat stops accepting the token.
func (s *tokenSource) TokenWithExpiry(ctx context.Context) (Token, error) {
	t, err := s.get(ctx)
	if err != nil {
		return Token{}, err
	}
	return Token{AccessToken: t.value, Expiry: t.expiresAt}, nil
}

// get returns the cached token, refreshing it first when due: lock-free
// while it is fresh, one refresh for all waiters otherwise.
func (s *tokenSource) get(ctx context.Context) (*cachedToken, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	if t := s.cur.Load(); t != nil && s.now().Before(t.refreshAt) {
		return t, nil
	}
	ch := s.group.DoChan("token", func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		return s.refresh(fctx)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			// A token that is due for refresh but still valid beats no token.
			if t := s.cur.Load(); t != nil && s.now().Before(t.expiresAt) {
				s.ep.logErr(ctx, slog.LevelWarn, "kefu: token refresh failed; using the cached token until it expires", r.Err)
				return t, nil
			}
			return nil, r.Err
		}
		return r.Val.(*cachedToken), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// CloseIdleConnections closes the idle connections of the source's HTTP client.
func (s *tokenSource) CloseIdleConnections() { s.ep.hc.CloseIdleConnections() }

// InvalidateToken drops the cached token if it is still rejected.
func (s *tokenSource) InvalidateToken(_ context.Context, rejected string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.cur.Load(); t != nil && t.value == rejected {
		s.cur.Store(nil)
		s.rejected = rejected
	}
	return nil
}

// refresh gets a fresh token: from the shared store when there is one,
// else from WeChat. It runs once for all waiting callers of this process.
func (s *tokenSource) refresh(ctx context.Context) (*cachedToken, error) {
	if t := s.cur.Load(); t != nil && s.now().Before(t.refreshAt) {
		return t, nil // a flight that just ended already refreshed it
	}
	s.mu.Lock()
	rejected := s.rejected
	s.mu.Unlock()
	var t *cachedToken
	var err error
	if s.store != nil {
		t, err = s.refreshShared(ctx, rejected)
		var se *storeError
		if err != nil && errors.As(err, &se) {
			if s.failClosed {
				return nil, err
			}
			if s.storeDown.CompareAndSwap(false, true) {
				s.ep.logErr(ctx, slog.LevelWarn, "kefu: token store unavailable; using a process-local token until it is back", err)
			}
			t, err = s.refreshLocal(ctx, rejected)
		}
	} else {
		t, err = s.refreshLocal(ctx, rejected)
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if t.value != s.rejected {
		s.rejected = ""
	}
	s.cur.Store(t)
	s.mu.Unlock()
	return t, nil
}

// refreshLocal fetches a token from WeChat, forcing a refresh (under this
// process's guard) when the stable endpoint hands back the rejected token.
func (s *tokenSource) refreshLocal(ctx context.Context, rejected string) (*cachedToken, error) {
	t, err := s.fetch(ctx, false)
	if err != nil {
		return nil, err
	}
	if s.needsForce(t, rejected) {
		ok, why := s.allowForce()
		if ok {
			return s.fetch(ctx, true)
		}
		s.ep.logErr(ctx, slog.LevelWarn, "kefu: the stable endpoint returned the rejected token and force_refresh is not allowed now", errors.New(why))
	}
	return t, nil
}

func (s *tokenSource) needsForce(t *cachedToken, rejected string) bool {
	return !s.classic && rejected != "" && t.value == rejected
}

// allowForce applies the process's force_refresh guard and, when it allows
// one, counts it.
func (s *tokenSource) allowForce() (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if !s.lastForce.IsZero() && now.Sub(s.lastForce) < forceSpacing {
		return false, "the last force_refresh was less than 30s ago"
	}
	day := now.In(chinaTime).Format(time.DateOnly)
	if day != s.forceDay {
		s.forceDay, s.forceCount = day, 0
	}
	if s.forceCount >= forcePerDay {
		return false, fmt.Sprintf("this process used its %d force_refresh calls for today", forcePerDay)
	}
	s.forceCount++
	s.lastForce = now
	return true, ""
}

// tokenAnswer is the token endpoints' answer.
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	status
}

func (a *tokenAnswer) reset()                      { *a = tokenAnswer{status: noStatus} }
func (a *tokenAnswer) result() (int, string, bool) { return a.answered(a.AccessToken != "") }

// fetch calls the token endpoint once (under the retry policy).
func (s *tokenSource) fetch(ctx context.Context, force bool) (*cachedToken, error) {
	r := &request{secret: s.secret, retryUnknown: !force}
	if s.classic {
		r.method, r.path = http.MethodGet, tokenPath
		r.query = "grant_type=client_credential&appid=" + url.QueryEscape(s.appID) + "&secret=" + url.QueryEscape(s.secret)
	} else {
		r.method, r.path = http.MethodPost, stableTokenPath
		var body []byte
		body, err := appendJSON(body, struct {
			GrantType    string `json:"grant_type"`
			AppID        string `json:"appid"`
			Secret       string `json:"secret"`
			ForceRefresh bool   `json:"force_refresh"`
		}{"client_credential", s.appID, s.secret, force})
		if err != nil {
			return nil, err
		}
		r.body = body
	}
	start := s.now()
	var a tokenAnswer
	if err := s.ep.do(ctx, r, &a, nil); err != nil {
		return nil, err
	}
	if a.ExpiresIn <= 0 {
		return nil, &HTTPError{Path: r.path, StatusCode: http.StatusOK, Problem: fmt.Sprintf("token answer has expires_in %d", a.ExpiresIn)}
	}
	life := time.Duration(a.ExpiresIn) * time.Second
	margin := min(refreshMargin+time.Duration(rand.Int64N(int64(marginJitter))), life/2)
	if s.ep.enabled(ctx, slog.LevelInfo) {
		s.ep.log.LogAttrs(ctx, slog.LevelInfo, "kefu: fetched an access token", slog.String("path", r.path),
			slog.Bool("force_refresh", force), slog.Int64("expires_in", a.ExpiresIn))
	}
	return &cachedToken{value: a.AccessToken, refreshAt: start.Add(life - margin), expiresAt: start.Add(life)}, nil
}
