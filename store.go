package kefu

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// TokenStore shares access tokens between the processes of one app, so that
// they do not knock each other's tokens out: with the classic endpoint every
// fetch kills the previous token after 5 minutes, and with the stable one a
// force_refresh kills everyone's at once (20 a day per account).
// redisstore.NewTokenStore implements it on Redis; another store (etcd, a
// database) needs only these four calls. Keys name an app id and an
// endpoint kind, such as "wx1234/stable". Implementations must be safe for
// concurrent use.
//
// The token source reads the store only when its own copy is missing, due
// for refresh, or rejected: the hot path makes no store round trip.
type TokenStore interface {
	// Load returns the token stored under key, or a zero SharedToken when
	// there is none.
	Load(ctx context.Context, key string) (SharedToken, error)
	// CompareAndSwap stores next under key if the stored token's Value is
	// still old ("" meaning no token is stored) and reports whether it did.
	// It keeps a refresh from overwriting a newer token with an older one.
	CompareAndSwap(ctx context.Context, key, old string, next SharedToken) (bool, error)
	// Lock takes the refresh lock of key, so that one process at a time
	// fetches from WeChat. ok is false when another holder has it. The lock
	// must expire by itself (a holder may die); release frees it if still held.
	Lock(ctx context.Context, key string) (release func(context.Context), ok bool, err error)
	// ReserveForceRefresh records one force_refresh for key if none was made
	// in the last spacing and fewer than perDay were made on day (a UTC+8
	// date, "2006-01-02"), and reports whether it did.
	ReserveForceRefresh(ctx context.Context, key, day string, spacing time.Duration, perDay int) (bool, error)
}

// SharedToken is an access token as a TokenStore keeps it.
type SharedToken struct {
	Value string
	// RefreshAt is when holders should start fetching a successor.
	RefreshAt time.Time
	// ExpiresAt is when WeChat stops accepting it.
	ExpiresAt time.Time
}

// ErrTokenStoreUnavailable matches errors of the TokenStore. A source built
// WithTokenStore falls back to a process-local token on them unless
// WithTokenStoreFailClosed was given.
var ErrTokenStoreUnavailable = errors.New("kefu: token store unavailable")

type storeError struct {
	op  string
	err error
}

func (e *storeError) Error() string        { return "kefu: token store " + e.op + ": " + e.err.Error() }
func (e *storeError) Unwrap() error        { return e.err }
func (e *storeError) Is(target error) bool { return target == ErrTokenStoreUnavailable }

// forcePerDayShared is the force_refresh budget of all processes sharing a
// store: WeChat allows 20 per account and day; two stay free for people.
const forcePerDayShared = 18

// WithTokenStore makes NewTokenSource share its tokens through store: one
// fetch for all processes, one refresh after a rejection, force_refresh
// counted for the whole account. When the store fails, the source logs it
// once (warn) and goes on with a process-local token, and uses the store
// again when it is back; WithTokenStoreFailClosed makes it fail instead.
// Applies to NewTokenSource only.
func WithTokenStore(store TokenStore) Option {
	return func(s *settings) error {
		if store == nil {
			return &OptionError{Option: "WithTokenStore", Rule: "must not be nil"}
		}
		s.store = store
		return nil
	}
}

// WithTokenStoreFailClosed makes a source WithTokenStore return the store's
// error (matching ErrTokenStoreUnavailable) instead of falling back to a
// process-local token. Applies to NewTokenSource only.
func WithTokenStoreFailClosed() Option { return set(func(s *settings) { s.storeFailClosed = true }) }

// sharedFetcher fetches tokens through a TokenStore: the stored token when
// it is good, else one fetch from WeChat under the store's lock for all
// processes. When the store fails it falls back to local, this process's
// own fetcher, unless failClosed.
type sharedFetcher struct {
	local      *wechatFetcher
	store      TokenStore
	key        string // "APPID/stable" or "APPID/classic"
	failClosed bool
	down       atomic.Bool // logged once per outage
	now        func() time.Time
	sleep      func(context.Context, time.Duration) error
}

func newSharedFetcher(local *wechatFetcher, s *settings) *sharedFetcher {
	key := local.appID + "/stable"
	if local.classic {
		key = local.appID + "/classic"
	}
	return &sharedFetcher{local: local, store: s.store, key: key, failClosed: s.storeFailClosed, now: s.now, sleep: s.sleep}
}

func (s *sharedFetcher) fetch(ctx context.Context, rejected string) (*cachedToken, error) {
	t, err := s.fetchShared(ctx, rejected)
	var se *storeError
	if err == nil || s.failClosed || !errors.As(err, &se) {
		return t, err
	}
	if s.down.CompareAndSwap(false, true) {
		s.local.ep.logErr(ctx, slog.LevelWarn, "kefu: token store unavailable; using a process-local token until it is back", err)
	}
	return s.local.fetch(ctx, rejected)
}

// fetchShared takes the token from the store, or fetches one under the
// store's lock and publishes it. While another process holds the lock it
// uses the stored token if still valid, or waits for the new one.
func (s *sharedFetcher) fetchShared(ctx context.Context, rejected string) (*cachedToken, error) {
	for {
		st, err := s.load(ctx)
		if err != nil {
			return nil, err
		}
		s.up(ctx)
		if t := s.usable(st, rejected); t != nil {
			return t, nil
		}
		var release func(context.Context)
		ok, err := storeCall(ctx, func(ctx context.Context) (bool, error) {
			var ok bool
			var err error
			release, ok, err = s.store.Lock(ctx, s.key)
			return ok, err
		})
		if err != nil {
			return nil, &storeError{"lock", err}
		}
		if ok {
			t, err := s.fetchLocked(ctx, rejected)
			release(context.WithoutCancel(ctx))
			return t, err
		}
		// Another process is fetching. A token that is due for refresh but
		// still valid serves meanwhile; look again soon.
		if now := s.now(); st.Value != "" && st.Value != rejected && now.Before(st.ExpiresAt) && plausible(st, now) {
			return &cachedToken{value: st.Value, refreshAt: now.Add(time.Second), expiresAt: st.ExpiresAt}, nil
		}
		if err := s.sleep(ctx, 20*time.Millisecond+time.Duration(rand.Int64N(int64(40*time.Millisecond)))); err != nil {
			return nil, err
		}
	}
}

// fetchLocked runs with the store's lock held.
func (s *sharedFetcher) fetchLocked(ctx context.Context, rejected string) (*cachedToken, error) {
	st, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	if t := s.usable(st, rejected); t != nil {
		return t, nil // refreshed by the lock's previous holder
	}
	t, err := s.local.call(ctx, false)
	if err != nil {
		return nil, err
	}
	if s.local.needsForce(t, rejected) {
		if t, err = s.force(ctx, t); err != nil {
			return nil, err
		}
	}
	return s.publish(ctx, st.Value, t, rejected), nil
}

// force makes a force_refresh if the account's shared budget allows one
// now; else it keeps t, the rejected token handed back.
func (s *sharedFetcher) force(ctx context.Context, t *cachedToken) (*cachedToken, error) {
	day := s.now().In(chinaTime).Format(time.DateOnly)
	ok, err := storeCall(ctx, func(ctx context.Context) (bool, error) {
		return s.store.ReserveForceRefresh(ctx, s.key, day, forceSpacing, forcePerDayShared)
	})
	switch {
	case err != nil:
		return nil, &storeError{"reserve force_refresh", err}
	case ok:
		return s.local.call(ctx, true)
	}
	s.local.ep.logErr(ctx, slog.LevelWarn, "kefu: the stable endpoint returned the rejected token and the shared force_refresh budget allows none now",
		errors.New("at most one force_refresh every 30s and 18 a day per account"))
	return t, nil
}

// publish stores t in place of the token old, and returns the token to
// use: t, or one another process published meanwhile.
func (s *sharedFetcher) publish(ctx context.Context, old string, t *cachedToken, rejected string) *cachedToken {
	next := SharedToken{Value: t.value, RefreshAt: t.refreshAt, ExpiresAt: t.expiresAt}
	swapped, err := storeCall(ctx, func(ctx context.Context) (bool, error) {
		return s.store.CompareAndSwap(ctx, s.key, old, next)
	})
	if err != nil {
		// The token is good; only the other processes will not see it.
		s.local.ep.logErr(ctx, slog.LevelWarn, "kefu: token store: publishing the new token failed", err)
		return t
	}
	if !swapped {
		// Someone published meanwhile (our lock had expired): theirs wins.
		if st, err := s.load(ctx); err == nil {
			if u := s.usable(st, rejected); u != nil {
				return u
			}
		}
	}
	return t
}

// storeTimeout bounds each store call, so a store that hangs (a network
// partition rather than a refused connection) leaves time to fall back.
const storeTimeout = 3 * time.Second

func storeCall[T any](ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	return f(ctx)
}

// load loads the stored token.
func (s *sharedFetcher) load(ctx context.Context) (SharedToken, error) {
	st, err := storeCall(ctx, func(ctx context.Context) (SharedToken, error) { return s.store.Load(ctx, s.key) })
	if err != nil {
		return st, &storeError{"load", err}
	}
	return st, nil
}

// usable returns st as a cached token if it is there, not rejected and not
// yet due for refresh.
func (s *sharedFetcher) usable(st SharedToken, rejected string) *cachedToken {
	now := s.now()
	if st.Value == "" || st.Value == rejected || !now.Before(st.RefreshAt) || !plausible(st, now) {
		return nil
	}
	return &cachedToken{value: st.Value, refreshAt: st.RefreshAt, expiresAt: st.ExpiresAt}
}

// storeSkew is how far another process's clock may run ahead of ours.
const storeSkew = time.Minute

// plausible reports whether the times of a stored token are ones a token
// can have at now: it expires within 7200 s (give or take storeSkew) and is
// refreshed no later than it expires. A store holding a stale or forged
// value far in the future would otherwise keep every process on one token
// long past WeChat's limit; such a value is treated as absent, and the next
// good token replaces it.
func plausible(st SharedToken, now time.Time) bool {
	return !st.ExpiresAt.After(now.Add(maxTokenLife+storeSkew)) && !st.RefreshAt.After(st.ExpiresAt)
}

// up notes that the store answers again after an outage.
func (s *sharedFetcher) up(ctx context.Context) {
	if s.down.CompareAndSwap(true, false) && s.local.ep.enabled(ctx, slog.LevelInfo) {
		s.local.ep.log.LogAttrs(ctx, slog.LevelInfo, "kefu: token store is back")
	}
}
