package main

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kefu-go/kefu"
)

// typingHelp is the help of "kefu typing", after its usage line.
const typingHelp = `  kefu typing --to OPENID
  kefu typing --to OPENID --off
  kefu typing --to OPENID --json     prints {"ok":true}

WeChat allows it only within 30 s of a message exchange with the user
(45080) and not while already typing (45081); it lasts 15 s, or until a
message is sent.
`

// typingCommand is "kefu typing": the "typing..." a user sees, on or off.
func typingCommand(e *env, api *apiFlags) *cobra.Command {
	return newCommand(e, "typing", `show "typing..." to a user, or stop it (--off)`, typingHelp, maxArgs(0), &typingRun{api: api})
}

// define defines kefu typing's flags on fs.
func (t *typingRun) define(fs *pflag.FlagSet) {
	fs.StringVar(&t.to, "to", "", "the user's `OPENID`")
	fs.BoolVar(&t.off, "off", false, "stop typing (CancelTyping)")
}

// typingRun is a run of kefu typing: the flags it was given.
type typingRun struct {
	api *apiFlags
	to  string
	off bool
}

// run turns typing on, or off with --off, and prints "ok" (--json:
// {"ok":true}).
func (t *typingRun) run(ctx context.Context, e *env, _ []string) error {
	if t.to == "" {
		return usagef("--to is required")
	}
	if err := t.api.resolve(e); err != nil {
		return err
	}
	return t.api.call(ctx, func(ctx context.Context, client *kefu.Client) error {
		var err error
		if t.off {
			err = client.CancelTyping(ctx, t.to)
		} else {
			err = client.Typing(ctx, t.to)
		}
		if err != nil {
			return err
		}
		return printOK(e, t.api.out.json)
	})
}
