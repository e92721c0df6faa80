package main

import (
	"context"

	"github.com/kefu-go/kefu"
)

// call runs f with a kefu client for the flags and a context bounded by
// --timeout, and closes the client's connections afterwards.
func (a *apiFlags) call(ctx context.Context, f func(context.Context, *kefu.Client) error) error {
	opts := []kefu.Option{kefu.WithBaseURL(a.baseURL)}
	tokens, err := kefu.NewTokenSource(a.appID, a.secret, opts...)
	if err != nil {
		return err
	}
	client, err := kefu.NewClient(tokens, opts...)
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	return f(ctx, client)
}
