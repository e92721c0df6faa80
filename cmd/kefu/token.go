package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kefu-go/kefu"
)

// tokenHelp is the help of "kefu token", after its usage line.
const tokenHelp = `  kefu token                     check the credentials: prints the token's expiry only
  TOKEN=$(kefu token --show)     the token itself on stdout (the expiry goes to stderr)
  kefu token --json              {"expires_at":RFC3339,"expires_in_seconds":N}
  kefu token --json --show       the same with "access_token"; without --show, never the token

It asks the stable endpoint (POST /cgi-bin/stable_token, no force_refresh),
which hands every caller the same token: it disturbs nobody. --classic asks
GET /cgi-bin/token instead, which issues a new token on every call and kills
the app's previous classic token 5 minutes later: other processes using it
will see 40001.
`

// tokenCommand is "kefu token": an access token and its expiry.
func tokenCommand(e *env, api *apiFlags) *cobra.Command {
	return newCommand(e, "token", "fetch an access token and print when it expires", tokenHelp, maxArgs(0), &tokenRun{api: api})
}

// define defines kefu token's flags on fs.
func (t *tokenRun) define(fs *pflag.FlagSet) {
	fs.BoolVar(&t.show, "show", false, "print the token itself, alone on stdout")
	fs.BoolVar(&t.classic, "classic", false, "use the classic GET /cgi-bin/token (kills the previous classic token)")
}

// tokenRun is a run of kefu token: the flags it was given.
type tokenRun struct {
	api           *apiFlags
	show, classic bool
}

// run fetches a token and prints when it expires, and with --show the
// token itself.
func (t *tokenRun) run(ctx context.Context, e *env, _ []string) error {
	if err := t.api.resolve(e); err != nil {
		return err
	}
	var opts []kefu.Option
	if t.classic {
		opts = append(opts, kefu.WithClassicToken())
	}
	token, err := t.api.token(ctx, opts...)
	if err != nil {
		return err
	}
	if t.api.out.json {
		return writeJSON(e.stdout, tokenJSON(token, t.show))
	}
	status := e.stdout
	if t.show {
		status = e.stderr
	}
	expiresIn := time.Until(token.Expiry).Round(time.Second)
	fmt.Fprintf(status, "token ok, expires in %v (at %s)\n", expiresIn, token.Expiry.Truncate(time.Second).Format(time.RFC3339))
	if t.show {
		fmt.Fprintln(e.stdout, token.AccessToken)
	}
	return nil
}

// tokenInfo is what token --json prints: the token itself only with --show.
type tokenInfo struct {
	AccessToken      string    `json:"access_token,omitempty"`
	ExpiresAt        time.Time `json:"expires_at"`
	ExpiresInSeconds int64     `json:"expires_in_seconds"`
}

// tokenJSON is token's tokenInfo, with the token itself if show.
func tokenJSON(token kefu.Token, show bool) tokenInfo {
	info := tokenInfo{
		ExpiresAt:        token.Expiry.Truncate(time.Second),
		ExpiresInSeconds: int64(time.Until(token.Expiry).Round(time.Second) / time.Second),
	}
	if show {
		info.AccessToken = token.AccessToken
	}
	return info
}
