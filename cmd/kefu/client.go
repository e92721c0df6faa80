package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/kefu-go/kefu"
)

// options are the kefu options of the flags: the base URL and, with
// --verbose, a debug logger on stderr (kefu's records hold no secret).
func (a *apiFlags) options(extra ...kefu.Option) []kefu.Option {
	opts := []kefu.Option{kefu.WithBaseURL(a.baseURL)}
	if a.verbose && a.log != nil {
		opts = append(opts, kefu.WithLogger(slog.New(slog.NewTextHandler(a.log, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	return append(opts, extra...)
}

// tokenSource is kefu's token source for the flags, with extra options.
func (a *apiFlags) tokenSource(extra ...kefu.Option) (kefu.TokenSource, error) {
	return kefu.NewTokenSource(a.appID, a.secret, a.options(extra...)...)
}

// call runs f with a kefu client for the flags and a context bounded by
// --timeout, and closes the client's connections afterwards.
func (a *apiFlags) call(ctx context.Context, f func(context.Context, *kefu.Client) error) error {
	client, err := kefu.New(a.appID, a.secret, a.options()...)
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	return f(ctx, client)
}

// token fetches an access token with its expiry, within --timeout, from a
// source made with extra options, and closes its connections afterwards.
// Its errors hold neither the secret nor a base URL's password: kefu
// scrubs them.
func (a *apiFlags) token(ctx context.Context, extra ...kefu.Option) (kefu.Token, error) {
	src, err := a.tokenSource(extra...)
	if err != nil {
		return kefu.Token{}, err
	}
	if c, ok := src.(interface{ CloseIdleConnections() }); ok {
		defer c.CloseIdleConnections()
	}
	expiring, ok := src.(kefu.ExpiringTokenSource)
	if !ok {
		return kefu.Token{}, errors.New("kefu's token source does not tell when its token expires")
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	return expiring.TokenWithExpiry(ctx)
}
