package main

import (
	"context"
	"errors"

	"github.com/kefu-go/kefu"
)

// tokenSource is kefu's token source for the flags, with extra options.
func (a *apiFlags) tokenSource(extra ...kefu.Option) (kefu.TokenSource, error) {
	return kefu.NewTokenSource(a.appID, a.secret, append([]kefu.Option{kefu.WithBaseURL(a.baseURL)}, extra...)...)
}

// call runs f with a kefu client for the flags and a context bounded by
// --timeout, and closes the client's connections afterwards.
func (a *apiFlags) call(ctx context.Context, f func(context.Context, *kefu.Client) error) error {
	tokens, err := a.tokenSource()
	if err != nil {
		return err
	}
	client, err := kefu.NewClient(tokens, kefu.WithBaseURL(a.baseURL))
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
