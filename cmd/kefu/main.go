// Command kefu sends WeChat customer-service messages from the command line,
// fetches access tokens, and runs a fake WeChat API (kefutest) as a process
// that other stacks can test against.
//
//	kefu send --to OPENID --text "您好"
//	kefu send --file message.json        (or --file - to read stdin)
//	kefu broadcast --to users.txt --text "您好" --journal run.journal   (resumable)
//	kefu typing --to OPENID [--off]
//	kefu upload --kind image photo.png   (prints the media id)
//	kefu accounts [--online]
//	kefu accounts add --account kf01@shop --nickname Alice
//	kefu accounts delete --account kf01@shop
//	kefu sessions --account kf01@shop | --user OPENID | --waiting
//	kefu records --from "2025-06-01 09:00" [--to TIME]   (JSON lines)
//	kefu token [--show] [--classic]
//	kefu fake --addr 127.0.0.1:8080 --user o1 --media image:m1 --account kf01@shop:Alice
//	kefu listen --addr :8080 [--forward URL] [--path /]   (WeChat's callbacks as JSON lines)
//
// kefu fake also serves admin endpoints that script the fake's users and
// clock over HTTP (/kefutest/interact, /kefutest/advance,
// /kefutest/rotate_tokens, /kefutest/messages): see "kefu help fake".
//
// kefu listen serves a callback URL (消息推送): it checks each request with
// KEFU_TOKEN (and decrypts it with KEFU_AES_KEY and KEFU_APPID) and prints
// each message as a JSON line, optionally forwarding it to a local URL.
//
// Credentials come from KEFU_APPID and KEFU_SECRET (or --appid, --secret),
// the base URL from KEFU_BASE_URL (or --base-url). These flags, --timeout,
// --verbose and --json are global: they go before or after the command.
// Every command that calls WeChat takes --json: its result as JSON on
// stdout, for scripts (kefu token --json shows the token only with --show).
// "kefu completion bash|zsh|fish" prints a shell completion script, and
// "kefu --version" (-v) the version. Run "kefu help COMMAND" for a
// command's flags. Exit codes: 0 done,
// 1 WeChat refused, 2 usage error, 3 delivery unknown, 4 nothing sent,
// 130 interrupted.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kefu-go/kefu"
)

// Exit codes, the same for every command, so that scripts can branch on
// them.
const (
	exitOK          = 0   // done
	exitRefused     = 1   // WeChat refused (its errcode is on stderr)
	exitUsage       = 2   // a mistake in the command line
	exitUnknown     = 3   // delivery unknown: the message may have been delivered
	exitNotSent     = 4   // nothing sent: validation, no access token, a network failure before writing
	exitInterrupted = 130 // Ctrl-C (or SIGTERM)
)

// env is what a command may touch of the outside world.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// secret, once known, is scrubbed from every error printed.
	secret string
}

// runFunc runs a command once its flags are parsed, given its arguments
// other than flags.
type runFunc func(ctx context.Context, e *env, args []string) error

// runError is an error of a command's run, as opposed to one of the
// command line: its exit code says what happened to the request.
type runError struct{ err error }

func (r *runError) Error() string { return r.err.Error() }
func (r *runError) Unwrap() error { return r.err }

// errNoCommand is kefu run without a command: the usage is on stderr.
var errNoCommand = errors.New("no command")

// runE adapts f to cobra: its errors other than usage errors become
// runErrors.
func runE(e *env, f runFunc) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := f(cmd.Context(), e, args)
		var ue *usageError
		if err != nil && !errors.As(err, &ue) {
			return &runError{err}
		}
		return err
	}
}

// runner is one run of a command: its flags, and what runs it.
type runner interface {
	define(fs *pflag.FlagSet)
	run(ctx context.Context, e *env, args []string) error
}

// newCommand returns a command: its name, its one-line summary, the help
// that follows its usage line, the arguments it takes, and its run.
func newCommand(e *env, use, short, long string, args cobra.PositionalArgs, r runner) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Long: long, Args: args}
	r.define(cmd.Flags())
	cmd.RunE = runE(e, r.run)
	return cmd
}

// maxArgs accepts at most n arguments other than flags; flags may come
// before or after them ("--" ends the flags).
func maxArgs(n int) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) > n {
			return usagef("unexpected argument %q", args[n])
		}
		return nil
	}
}

// commands returns the subcommands, in the order help lists them, sharing
// the global flags api.
func commands(e *env, api *apiFlags) []*cobra.Command {
	return []*cobra.Command{sendCommand(e, api), broadcastCommand(e, api), typingCommand(e, api), uploadCommand(e, api), accountsCommand(e, api),
		sessionsCommand(e, api), recordsCommand(e, api), tokenCommand(e, api), fakeCommand(e), listenCommand(e), versionCommand(e)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, e *env) int {
	root := newRoot(e)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	var re *runError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errNoCommand):
		return exitUsage
	case errors.As(err, &re):
		if msg := describe(re.err); msg != "" { // an exitError may have said it all
			fmt.Fprintf(e.stderr, "kefu %s: %s\n", cmd.Name(), e.scrub(msg))
		}
		return exitCode(ctx, re.err)
	}
	// A usage error: kefu's own, or cobra's (flags, unknown command).
	msg := strings.TrimRight(e.scrub(err.Error()), "\n")
	if cmd == nil || cmd == root {
		fmt.Fprintf(e.stderr, "kefu: %s\nRun 'kefu help' for usage.\n", msg)
	} else {
		fmt.Fprintf(e.stderr, "kefu %s: %s\nRun 'kefu %s --help' for usage.\n", cmd.Name(), msg, cmd.Name())
	}
	return exitUsage
}

// exitCode is the exit code of a command that failed with err (not a usage
// error): interrupted, delivery unknown, nothing sent for want of a token,
// refused by WeChat, or else nothing sent.
func exitCode(ctx context.Context, err error) int {
	var te *kefu.TokenError
	var ae *kefu.APIError
	var xe *exitError
	switch {
	case errors.As(err, &xe):
		return xe.code
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, kefu.ErrDeliveryUnknown):
		return exitUnknown
	case errors.As(err, &te):
		return exitNotSent
	case errors.As(err, &ae):
		return exitRefused
	}
	return exitNotSent
}

// exitError ends a command with code, printing err if it is not nil: a
// command that ran many requests (kefu broadcast) has already reported
// each, and its code says how the run went as a whole.
type exitError struct {
	code int
	err  error
}

func (x *exitError) Error() string {
	if x.err == nil {
		return ""
	}
	return x.err.Error()
}

func (x *exitError) Unwrap() error { return x.err }

// exitSeverity orders the exit codes from the least to the most a script
// must know: done, nothing sent (it can be sent again), refused by WeChat
// (sending again will not help), delivery unknown (sending again may send
// twice), a usage error, interrupted.
var exitSeverity = []int{exitOK, exitNotSent, exitRefused, exitUnknown, exitUsage, exitInterrupted}

// worstExit is the exit code of a run whose parts ended with codes: the
// most severe of them (exitSeverity), so that one message whose delivery is
// unknown makes 3 however many were refused (1) or not sent (4); exitOK
// when there are none. A code it does not know counts as the most severe.
func worstExit(codes ...int) int {
	worst, rank := exitOK, 0
	for _, c := range codes {
		r := slices.Index(exitSeverity, c)
		if r < 0 {
			r = len(exitSeverity)
		}
		if r > rank {
			worst, rank = c, r
		}
	}
	return worst
}

// scrub removes the app secret from s: kefu's errors never hold it, but a
// command line is no place to find out otherwise.
func (e *env) scrub(s string) string {
	if len(e.secret) >= 4 {
		s = strings.ReplaceAll(s, e.secret, "[secret]")
	}
	return s
}
