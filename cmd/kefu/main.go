// Command kefu sends WeChat customer-service messages from the command line,
// fetches access tokens, and runs a fake WeChat API (kefutest) as a process
// that other stacks can test against.
//
//	kefu send --to OPENID --text "您好"
//	kefu send --json message.json        (or --json - to read stdin)
//	kefu typing --to OPENID [--off]
//	kefu upload --kind image photo.png   (prints the media id)
//	kefu accounts [--online]
//	kefu token [--show] [--classic]
//	kefu fake --addr 127.0.0.1:8080 --user o1 --media image:m1 --account kf01@shop:Alice
//
// kefu fake also serves admin endpoints that script the fake's users and
// clock over HTTP (/kefutest/interact, /kefutest/advance,
// /kefutest/rotate_tokens, /kefutest/messages): see "kefu help fake".
//
// Credentials come from KEFU_APPID and KEFU_SECRET (or --appid, --secret).
// Run "kefu help COMMAND" for a command's flags. Exit codes: 0 success,
// 1 failure, 2 usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kefu-go/kefu"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
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
	// flags defines the command's flags on fs and returns what runs it,
	// given its arguments other than flags (at most maxArgs).
	flags func(fs *flag.FlagSet) func(ctx context.Context, e *env, args []string) error
}

// commands is set in init: help refers to it.
var commands []*command

func init() {
	commands = []*command{sendCmd, typingCmd, uploadCmd, accountsCmd, tokenCmd, fakeCmd}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
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
		return exitFail
	}
}

// parse parses args with fs, flags before or after the other arguments,
// and returns the other arguments. The standard flag package stops at the
// first argument that is not a flag, so that "kefu upload photo.png --kind
// image" would leave "--kind" unparsed; parse carries on after it. A "--"
// ends the flags: everything after it is an argument.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var others []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return others, nil
		}
		if parsed := args[:len(args)-len(rest)]; len(parsed) > 0 && parsed[len(parsed)-1] == "--" {
			return append(others, rest...), nil
		}
		others = append(others, rest[0])
		args = rest[1:]
	}
}

func lookup(name string) *command {
	for _, c := range commands {
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
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-8s %s\n", c.name, c.summary)
	}
	b.WriteString(`  help     show help for a command: kefu help send
  version  print kefu's version

Examples:
  kefu send --to OPENID --text "您好"
  MEDIA=$(kefu upload --kind image photo.png)      the media id, for an image message
  kefu accounts --online
  kefu fake --user o1 --account kf01@shop:Alice    a fake WeChat API on 127.0.0.1:8080

Credentials come from KEFU_APPID and KEFU_SECRET, or --appid and --secret.
Exit codes: 0 success, 1 failure, 2 usage error.
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

// apiFlags are the flags of the commands that call WeChat.
type apiFlags struct {
	appID, secret, baseURL string
	timeout                time.Duration
}

func (a *apiFlags) register(fs *flag.FlagSet) {
	// No default from the environment: --help would print the secret.
	fs.StringVar(&a.appID, "appid", "", "the app id (default $KEFU_APPID)")
	fs.StringVar(&a.secret, "secret", "", "the app secret (default $KEFU_SECRET; the variable keeps it out of ps)")
	fs.StringVar(&a.baseURL, "base-url", kefu.DefaultBaseURL, "WeChat's API `URL`: a proxy, or a kefu fake")
	fs.DurationVar(&a.timeout, "timeout", 30*time.Second, "give up after this long, retries included")
}

// resolve fills the credentials from the environment and checks the flags.
func (a *apiFlags) resolve(e *env) error {
	if a.appID == "" {
		a.appID = e.getenv("KEFU_APPID")
	}
	if a.secret == "" {
		a.secret = e.getenv("KEFU_SECRET")
	}
	e.secret = a.secret
	switch {
	case a.appID == "" && a.secret == "":
		return usagef("no credentials: set KEFU_APPID and KEFU_SECRET, or pass --appid and --secret")
	case a.appID == "":
		return usagef("no app id: set KEFU_APPID or pass --appid")
	case a.secret == "":
		return usagef("no app secret: set KEFU_SECRET or pass --secret")
	case a.timeout <= 0:
		return usagef("--timeout must be positive, got %v", a.timeout)
	}
	u, err := url.Parse(a.baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--base-url must be an absolute http or https URL, got %q", a.baseURL)
	}
	a.baseURL = strings.TrimRight(a.baseURL, "/")
	return nil
}

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

// describe turns an error into the line(s) printed after "kefu CMD: ".
// WeChat's answers print as errcode and errmsg, with a hint for the usual
// cases.
func describe(err error) string {
	var apiErr *kefu.APIError
	if errors.As(err, &apiErr) {
		s := fmt.Sprintf("errcode %d: %s", apiErr.Code, apiErr.Message)
		if apiErr.RequestID != "" {
			s += " (rid " + apiErr.RequestID + ")"
		}
		for _, h := range hints {
			if errors.Is(err, h.err) || h.code == apiErr.Code {
				s += "\n  " + h.hint
				break
			}
		}
		return s
	}
	// kefu's errors start "kefu: "; so does our own prefix.
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		l = strings.TrimPrefix(l, "kefu: ")
		if i > 0 {
			l = "  " + l
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}

// hints follow WeChat's errors, by group or by errcode.
var hints = []struct {
	err  error
	code int
	hint string
}{
	{err: kefu.ErrOutsideWindow, hint: "the user has not written to the account lately (or unfollowed): wait for the user to act"},
	{err: kefu.ErrQuotaExceeded, hint: "the replies this user's actions allow are used up: wait for the user to act again"},
	{err: kefu.ErrInvalidOpenID, hint: "not an OpenID of this app"},
	{err: kefu.ErrBadCredentials, hint: "check KEFU_APPID and KEFU_SECRET (or --appid, --secret)"},
	{err: kefu.ErrUnauthorized, hint: "the app lacks this permission, or this machine's IP is not whitelisted"},
	{err: kefu.ErrInvalidMedia, hint: "media ids expire 3 days after the upload"},
	{err: kefu.ErrMediaRejected, hint: "WeChat refused the file for its kind, type or size: see kefu help upload"},
	{code: 45080, hint: "typing needs a message exchange with the user in the last 30 s"},
	{code: 45081, hint: "typing lasts 15 s, or until a message is sent"},
}

// scrub removes the app secret from s: kefu's errors never hold it, but a
// command line is no place to find out otherwise.
func (e *env) scrub(s string) string {
	if len(e.secret) >= 4 {
		s = strings.ReplaceAll(s, e.secret, "[secret]")
	}
	return s
}
