// Command kefu sends WeChat customer-service messages from the command line,
// fetches access tokens, and runs a fake WeChat API (kefutest) as a process
// that other stacks can test against.
//
//	kefu send --to OPENID --text "您好"
//	kefu send --file message.json        (or --file - to read stdin)
//	kefu typing --to OPENID [--off]
//	kefu upload --kind image photo.png   (prints the media id)
//	kefu accounts [--online]
//	kefu accounts add --account kf01@shop --nickname Alice
//	kefu accounts delete --account kf01@shop
//	kefu sessions --account kf01@shop | --user OPENID | --waiting
//	kefu records --from "2025-06-01 09:00" [--to TIME]   (JSON lines)
//	kefu token [--show] [--classic]
//	kefu fake --addr 127.0.0.1:8080 --user o1 --media image:m1 --account kf01@shop:Alice
//
// kefu fake also serves admin endpoints that script the fake's users and
// clock over HTTP (/kefutest/interact, /kefutest/advance,
// /kefutest/rotate_tokens, /kefutest/messages): see "kefu help fake".
//
// Credentials come from KEFU_APPID and KEFU_SECRET (or --appid, --secret).
// Every command that calls WeChat takes --json: its result as JSON on
// stdout, for scripts (kefu token --json shows the token only with --show).
// Run "kefu help COMMAND" for a command's flags. Exit codes: 0 done,
// 1 WeChat refused, 2 usage error, 3 delivery unknown, 4 nothing sent,
// 130 interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

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

// command is one subcommand.
type command struct {
	name    string
	summary string
	usage   string // the lines after "Usage:", then the flags follow
	// maxArgs is how many arguments other than flags it takes; flags may
	// come before or after them ("--" ends the flags).
	maxArgs int
	// flags defines the command's flags on fs and returns what runs it.
	flags func(fs *flag.FlagSet) runFunc
}

// runFunc runs a command once its flags are parsed, given its arguments
// other than flags (at most maxArgs).
type runFunc func(ctx context.Context, e *env, args []string) error

// commands returns the subcommands, in the order help lists them.
func commands() []*command {
	return []*command{sendCommand(), typingCommand(), uploadCommand(), accountsCommand(), sessionsCommand(),
		recordsCommand(), tokenCommand(), fakeCommand()}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, mainUsage())
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if name == "help" && len(rest) > 0 {
			c := lookup(rest[0])
			if c == nil {
				fmt.Fprintf(e.stderr, "kefu help: unknown command %q\n", rest[0])
				return exitUsage
			}
			fmt.Fprint(e.stdout, c.help())
			return exitOK
		}
		fmt.Fprint(e.stdout, mainUsage())
		return exitOK
	case "version", "--version":
		fmt.Fprintf(e.stdout, "kefu %s\n", kefu.Version)
		return exitOK
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(e.stderr, "kefu: unknown command %q\nRun 'kefu help' for usage.\n", name)
		return exitUsage
	}

	fs := flag.NewFlagSet("kefu "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed below, help on stdout
	do := c.flags(fs)
	args, err := parse(fs, rest)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(e.stdout, c.help())
		return exitOK
	case err != nil:
		err = &usageError{err.Error()}
	case len(args) > c.maxArgs:
		err = usagef("unexpected argument %q", args[c.maxArgs])
	default:
		err = do(ctx, e, args)
	}
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "kefu %s: %s\nRun 'kefu %s --help' for usage.\n", c.name, e.scrub(ue.msg), c.name)
		return exitUsage
	default:
		fmt.Fprintf(e.stderr, "kefu %s: %s\n", c.name, e.scrub(describe(err)))
		return exitCode(ctx, err)
	}
}

// exitCode is the exit code of a command that failed with err (not a usage
// error): interrupted, delivery unknown, nothing sent for want of a token,
// refused by WeChat, or else nothing sent.
func exitCode(ctx context.Context, err error) int {
	var te *kefu.TokenError
	var ae *kefu.APIError
	switch {
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

func lookup(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return c
		}
	}
	return nil
}

func mainUsage() string {
	var b strings.Builder
	b.WriteString(`kefu sends WeChat customer-service messages (客服消息).

Usage:
  kefu COMMAND [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-8s %s\n", c.name, c.summary)
	}
	b.WriteString(`  help     show help for a command: kefu help send
  version  print kefu's version

Examples:
  kefu send --to OPENID --text "您好"
  MEDIA=$(kefu upload --kind image photo.png)      the media id, for an image message
  kefu accounts --online
  kefu records --from "2025-06-01 09:00" > records.jsonl   one JSON object per record
  kefu fake --user o1 --account kf01@shop:Alice    a fake WeChat API on 127.0.0.1:8080

Credentials come from KEFU_APPID and KEFU_SECRET, or --appid and --secret;
KEFU_BASE_URL stands for --base-url. --json prints a command's result as
JSON on stdout, for scripts; errors stay on stderr.

Exit codes, the same for every command:
  0    done
  1    WeChat refused (its errcode is on stderr)
  2    usage error
  3    delivery unknown: the message may have been delivered
  4    nothing sent (validation, no access token, a network failure before writing)
  130  interrupted (Ctrl-C)
`)
	return b.String()
}

// help returns the command's usage and flags.
func (c *command) help() string {
	fs := flag.NewFlagSet("kefu "+c.name, flag.ContinueOnError)
	c.flags(fs)
	var b strings.Builder
	fmt.Fprintf(&b, "kefu %s: %s\n\nUsage:\n%s\nFlags (-flag and --flag are the same):\n", c.name, c.summary, c.usage)
	fs.SetOutput(&b)
	fs.PrintDefaults()
	return b.String()
}

// scrub removes the app secret from s: kefu's errors never hold it, but a
// command line is no place to find out otherwise.
func (e *env) scrub(s string) string {
	if len(e.secret) >= 4 {
		s = strings.ReplaceAll(s, e.secret, "[secret]")
	}
	return s
}
