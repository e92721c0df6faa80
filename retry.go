package kefu

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"time"
)

// RetryPolicy bounds how a call is retried. What is retried: WeChat answers
// whose errcode is in RetryCodes; HTTP 429 and 503 pages (not processed);
// transport failures before the request was written (refused dial, DNS, TLS).
// Never retried: other errcodes (45015, 45047, 45009...), validation errors,
// and, unless RetryUnknown, anything whose outcome is unknown.
//
// The token refresh after a rejected token (40001, 40014, 42001) is separate:
// at most one per call, not counted in MaxAttempts.
type RetryPolicy struct {
	// MaxAttempts counts every attempt, the first included (>= 1).
	MaxAttempts int
	// BaseDelay and MaxDelay shape full-jitter exponential backoff: before
	// attempt n+1 the wait is uniform in [0, min(MaxDelay, BaseDelay*2^(n-1))].
	BaseDelay, MaxDelay time.Duration
	// RetryCodes are the WeChat errcodes worth another attempt.
	RetryCodes []int
	// RetryUnknown retries requests that may have been delivered (written,
	// then no usable answer). The send endpoint has no idempotency key, so
	// this trades duplicates for fewer losses: at-least-once delivery.
	RetryUnknown bool
}

// DefaultRetryPolicy returns the policy a Client uses without WithRetry:
// 3 attempts, 200 ms base delay, 5 s cap, retry errcode -1, never retry an
// unknown outcome.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 3, BaseDelay: 200 * time.Millisecond, MaxDelay: 5 * time.Second,
		RetryCodes: []int{-1}}
}

// NoRetry makes exactly one attempt.
var NoRetry = RetryPolicy{MaxAttempts: 1}

func (p RetryPolicy) validate() error {
	var errs []error
	if p.MaxAttempts < 1 {
		errs = append(errs, &OptionError{Option: "WithRetry", Rule: "RetryPolicy.MaxAttempts must be at least 1"})
	}
	if p.BaseDelay < 0 {
		errs = append(errs, &OptionError{Option: "WithRetry", Rule: "RetryPolicy.BaseDelay must not be negative"})
	}
	if p.MaxDelay < 0 {
		errs = append(errs, &OptionError{Option: "WithRetry", Rule: "RetryPolicy.MaxDelay must not be negative"})
	}
	if p.MaxDelay < p.BaseDelay {
		errs = append(errs, &OptionError{Option: "WithRetry", Rule: "RetryPolicy.MaxDelay must not be less than BaseDelay"})
	}
	return errors.Join(errs...)
}

func (p RetryPolicy) retriesCode(code int) bool { return slices.Contains(p.RetryCodes, code) }

// backoff returns the wait before attempt n+1 (n >= 1): full jitter under an
// exponential cap.
func (p RetryPolicy) backoff(n int) time.Duration {
	ceiling := p.BaseDelay
	for i := 1; i < n && ceiling < p.MaxDelay; i++ {
		ceiling *= 2
	}
	if ceiling > p.MaxDelay {
		ceiling = p.MaxDelay
	}
	if ceiling <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// sleepCtx waits d or until ctx is done, whichever comes first, and returns
// ctx's error in the second case.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
