package kefu

import (
	"context"
	"log/slog"
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

// NewTokenSource returns a caching source of access tokens for the app
// appID/secret. It uses the stable endpoint (POST /cgi-bin/stable_token,
// force_refresh false), which hands every caller the same token, or the
// classic GET /cgi-bin/token with WithClassicToken. The token is refreshed
// ahead of expiry (when less than min(2 min + up to 60 s of jitter, half its
// lifetime) remains), by one fetch however many goroutines wait, and a waiter
// whose context ends returns at once. The source implements TokenInvalidator:
// if, after a rejection, the stable endpoint hands back the rejected token, it
// asks once with force_refresh true (never within 30 s of the last, at most
// 10 a day per process; WeChat allows 20 per account). It also implements
// ExpiringTokenSource.
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
	wf := &wechatFetcher{appID: appID, secret: secret, classic: s.classic, ep: s.endpoint(), now: s.now}
	ts := &tokenSource{fetcher: wf, ep: wf.ep, now: s.now}
	if s.store != nil {
		ts.fetcher = newSharedFetcher(wf, s)
	}
	return ts, nil
}

// cachedToken is an immutable token with its timings.
type cachedToken struct {
	value     string
	refreshAt time.Time // refresh from here on
	expiresAt time.Time // WeChat's expiry
}

// fetcher gets a fresh token for the cache: from WeChat (wechatFetcher) or
// through a store shared with other processes (sharedFetcher). rejected, when
// not "", is the token WeChat last rejected: a fetcher does what it can not
// to hand it back.
type fetcher interface {
	fetch(ctx context.Context, rejected string) (*cachedToken, error)
}

// tokenSource is the cache NewTokenSource returns: a lock-free read while
// the token is fresh, one fetch for all waiters when it is not.
type tokenSource struct {
	fetcher fetcher
	ep      *endpoint // for its HTTP client and logger
	now     func() time.Time

	cur   atomic.Pointer[cachedToken] // read without locks on the hot path
	group singleflight.Group

	mu       sync.Mutex
	rejected string // the last token a caller reported rejected
}

// fetchTimeout bounds one refresh, which runs on for other waiters when the
// caller that started it gives up.
const fetchTimeout = time.Minute

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

// get returns the cached token, refreshing it first when due.
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

// refresh fetches a fresh token. It runs once for all waiting callers of
// this process.
func (s *tokenSource) refresh(ctx context.Context) (*cachedToken, error) {
	if t := s.cur.Load(); t != nil && s.now().Before(t.refreshAt) {
		return t, nil // a flight that just ended already refreshed it
	}
	s.mu.Lock()
	rejected := s.rejected
	s.mu.Unlock()
	reason := TokenCold
	switch {
	case rejected != "":
		reason = TokenRejected
	case s.cur.Load() != nil:
		reason = TokenExpiring
	}
	start := time.Now()
	t, err := s.fetcher.fetch(ctx, rejected)
	s.ep.tokenHook(ctx, reason, start, err)
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
