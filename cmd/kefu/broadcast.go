package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kefu-go/kefu"
)

// broadcastHelp is the help of "kefu broadcast", after its usage line.
const broadcastHelp = `  kefu broadcast --to users.txt --text "您好" --journal run1.journal
  kefu broadcast --to - --file message.json --rate 100 --results out.jsonl < users.txt
  kefu broadcast --to users.txt --text hi --redis 127.0.0.1:6379 --run-id sale-0601   (on several hosts)

Sends one message to every OpenID of --to (one a line; blank lines and
lines starting with # are ignored, and so is an OpenID listed twice): the
text of --text, or the message in --file (as kefu send --file reads it)
with its "touser" replaced by each recipient. --concurrency sends go out at
once, at most --rate a second; 45011 (the per-minute limit) pauses the run
until WeChat allows it again, 45009 (the day's quota) stops it: the rest
are not attempted.

--journal FILE records each send before and after it goes out: run the
same command again after a crash or Ctrl-C and it resumes, sending nothing
twice. Recipients whose message may have been delivered (the answer was
lost, or the process died mid-send) are "unknown" and not sent again unless
--retry-unknown (they may then get it twice). A journal belongs to one
message: changing --text or --file and reusing the journal stops the run
(exit 2); give a new journal for a new message. Without --journal the run
cannot be resumed. With --redis and --run-id the journal and the rate are
kept in Redis, so that several processes (same command, same --run-id)
share one broadcast: each recipient gets the message once. Do not use
--retry-unknown while other processes of the run are still sending.

Progress goes to stderr: a bar on a terminal, else a line every 2 s and
every 10%. At the end one line sums up: sent, failed (refused by WeChat),
unknown, skipped (already in the journal), and not attempted (the run
stopped first). --results FILE writes one JSON line per recipient:
{"openid","status","errcode","msgid"} and "reason" or "error" when there is
one; --json prints the summary as JSON on stdout. Ctrl-C stops the run:
the sends in flight finish and are journalled first.

--fallback-template ID sends that template message, with the data of
--fallback-data, to each recipient WeChat refuses for a closed window or a
spent quota (45015, 45047); its client_msg_id, WeChat's idempotency key, is
the same in a resumed run.

Exit codes: 0 every recipient was sent the message, now or in an earlier
run of the journal, or the fallback template; otherwise the worst of 3 (some
unknown), 1 (some refused by WeChat, e.g. 45015: outside the window), 4
(some not sent: not attempted, invalid, or a network failure before the
request was written). A recipient skipped for the journal counts as the
journal has it (sent 0, failed 1, unknown 3), so that a resumed run ends
with the code of the whole broadcast. 2: a usage error, or a journal
written for another message; 130: interrupted (run again to resume).
--timeout does not apply: the run goes on until done or interrupted.
`

// broadcastCommand is "kefu broadcast": one message to many users.
func broadcastCommand(e *env, api *apiFlags) *cobra.Command {
	// One argument is taken only to say what to do with "--json FILE".
	return newCommand(e, "broadcast", "send one message to many users, resumably", broadcastHelp, maxArgs(1), &broadcastRun{api: api})
}

// broadcastRun is a run of kefu broadcast: the flags it was given.
type broadcastRun struct {
	api              *apiFlags
	fs               *pflag.FlagSet // tells whether --text was given
	to, text, file   string
	journal, results string
	rate             float64
	concurrency      int
	keepQuota        int
	retryUnknown     bool
	fallbackTemplate string
	fallbackData     string
	redisAddr, runID string
	isTerminal       func(any) bool // whether stderr is a terminal: a bar, not lines
}

// define defines kefu broadcast's flags on fs.
func (b *broadcastRun) define(fs *pflag.FlagSet) {
	b.fs = fs
	fs.StringVar(&b.to, "to", "", "the recipients: a `FILE` of OpenIDs, one a line (# comments); - reads stdin")
	fs.StringVar(&b.text, "text", "", "send a text message with this content")
	fs.StringVar(&b.file, "file", "", "send the message in `FILE` (JSON, as kefu send --file reads it; its touser is replaced); - reads stdin")
	fs.Float64Var(&b.rate, "rate", 0, "send at most `N` messages a second (0: no limit but --concurrency and WeChat's 45011)")
	fs.IntVar(&b.concurrency, "concurrency", 4, "sends in flight at once (1 to 64)")
	fs.StringVar(&b.journal, "journal", "", "record the run in `FILE`, so that running it again resumes it (created if missing)")
	fs.BoolVar(&b.retryUnknown, "retry-unknown", false, "send again to recipients whose delivery is unknown (they may get it twice)")
	fs.StringVar(&b.results, "results", "", "write one JSON line per recipient to `FILE`")
	fs.StringVar(&b.fallbackTemplate, "fallback-template", "", "send the template `ID` to recipients whose window is closed (45015, 45047)")
	fs.StringVar(&b.fallbackData, "fallback-data", "", `the fallback template's data, a JSON object: {"thing1":"hi"} or {"thing1":{"value":"hi","color":"#173177"}}`)
	fs.StringVar(&b.redisAddr, "redis", "", "share the run with other processes through the Redis at `host:port` (password: $KEFU_REDIS_PASSWORD)")
	fs.StringVar(&b.runID, "run-id", "", "the shared run's `ID` in Redis: the same for every process of one broadcast, a new one for the next")
	fs.IntVar(&b.keepQuota, "keep-quota", 0, "stop before the day's send quota left falls under `N`, keeping it for replies")
}

// run sends the message to every recipient and sums the run up.
func (b *broadcastRun) run(ctx context.Context, e *env, args []string) error {
	if err := b.check(args); err != nil {
		return err
	}
	if err := b.api.resolve(e); err != nil {
		return err
	}
	fb, err := b.parseFallback()
	if err != nil {
		return err
	}
	users, err := b.recipients(e)
	if err != nil {
		return err
	}
	msg, err := b.message(e.stdin, users)
	if err != nil {
		return err
	}
	if err := checkFallback(fb, users); err != nil {
		return err
	}
	client, err := kefu.New(b.api.appID, b.api.secret, b.api.options()...)
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	opts, closeAll, err := b.bulkOptions(ctx, e, msg, fb)
	if err != nil {
		return err
	}
	out, err := b.send(ctx, e, client, users, msg, opts)
	if cerr := closeAll(); cerr != nil && err == nil {
		err = fmt.Errorf("closing the journal: %w", cerr)
	}
	return b.finish(ctx, e, out, err)
}

// check is a usage error for flags that do not go together.
func (b *broadcastRun) check(args []string) error {
	textSet := b.fs.Changed("text")
	switch {
	case len(args) > 0:
		return usagef("unexpected argument %q: to send the message in a file, use --file %s (--json prints the summary as JSON)", args[0], args[0])
	case b.to == "":
		return usagef("--to is required: a file of OpenIDs, one a line (- reads stdin)")
	case textSet && b.file != "":
		return usagef("give --text or --file, not both")
	case !textSet && b.file == "":
		return usagef("nothing to send: give --text or --file")
	case b.to == "-" && b.file == "-":
		return usagef("--to and --file cannot both read stdin")
	case b.concurrency < 1 || b.concurrency > 64:
		return usagef("--concurrency must be 1 to 64, got %d", b.concurrency)
	case b.rate < 0:
		return usagef("--rate must not be negative, got %v", b.rate)
	case b.keepQuota < 0:
		return usagef("--keep-quota must not be negative, got %d", b.keepQuota)
	}
	return b.checkShared()
}

// checkShared checks the flags of a run shared through Redis.
func (b *broadcastRun) checkShared() error {
	switch {
	case b.redisAddr != "" && b.runID == "":
		return usagef("--redis needs --run-id: the same id for every process of the broadcast")
	case b.runID != "" && b.redisAddr == "":
		return usagef("--run-id goes with --redis")
	case b.redisAddr != "" && b.journal != "":
		return usagef("give --journal or --redis, not both: with --redis the journal is in Redis")
	}
	return nil
}

// outcome is what a run did: every recipient's result, counted.
type outcome struct {
	tally *tally
	stop  error // why the run stopped early (a journal mismatch...), if it did
}

// send runs SendAll over users and reports each result as it comes.
func (b *broadcastRun) send(ctx context.Context, e *env, client *kefu.Client, users []string, msg *kefu.Message, opts []kefu.BulkOption) (*outcome, error) {
	rw, err := openResults(b.results, e)
	if err != nil {
		return nil, err
	}
	t := newTally(len(users))
	prog := b.newProgress(e, len(users))
	out := &outcome{tally: t}
	for res, err := range client.SendAll(ctx, personalized(msg, users), opts...) {
		if err != nil {
			out.stop = err
			break
		}
		t.add(res)
		rw.write(res)
		prog.update(t)
	}
	prog.done()
	for i, reported := range t.reported {
		if !reported {
			res := kefu.SendResult{Index: i, OpenID: users[i], Status: kefu.StatusNotAttempted, Err: notAttemptedCause(ctx, out.stop)}
			t.add(res)
			rw.write(res)
		}
	}
	return out, rw.close()
}

// notAttemptedCause says why a recipient SendAll never reported was not
// attempted.
func notAttemptedCause(ctx context.Context, stop error) error {
	switch {
	case stop != nil:
		return stop
	case ctx.Err() != nil:
		return errRunInterrupted
	}
	return errors.New("the run ended first")
}

var errRunInterrupted = errors.New("interrupted")

// personalized yields msg once per user, each a copy sent to that user.
func personalized(msg *kefu.Message, users []string) iter.Seq[*kefu.Message] {
	return func(yield func(*kefu.Message) bool) {
		for _, u := range users {
			m := *msg // the bodies are shared, and never written to
			m.ToUser = u
			if !yield(&m) {
				return
			}
		}
	}
}

// finish prints the summary and returns the run's exit code as an
// exitError.
func (b *broadcastRun) finish(ctx context.Context, e *env, out *outcome, err error) error {
	if out == nil {
		return err
	}
	s := out.tally.summary()
	fmt.Fprintln(e.stderr, s.line())
	if b.api.out.json {
		if jerr := writeJSON(e.stdout, s); jerr != nil && err == nil {
			err = jerr
		}
	}
	switch {
	case errors.Is(out.stop, kefu.ErrJournalMismatch):
		return &exitError{code: exitUsage, err: b.mismatch(out.stop)}
	case out.stop != nil || err != nil: // the run's stop first
		return &exitError{code: worstExit(exitNotSent, out.tally.exit()), err: cmp.Or(out.stop, err)}
	case ctx.Err() != nil:
		return &exitError{code: exitInterrupted, err: errors.New("interrupted: " + b.resumeHint())}
	}
	if code := out.tally.exit(); code != exitOK {
		return &exitError{code: code}
	}
	return nil
}

// mismatch is the error of a run whose journal was written for another
// message: it names the journal, and says what to do.
func (b *broadcastRun) mismatch(err error) error {
	flag, value := "--journal", b.journal
	if b.redisAddr != "" {
		flag, value = "--run-id", b.runID
	}
	return fmt.Errorf("%s %s was written for another message (%w)\n"+
		"to send this message, give a new %s; to resume the old run, send its message again", flag, value, err, flag)
}

// resumeHint says whether an interrupted run can be resumed.
func (b *broadcastRun) resumeHint() string {
	if b.journal == "" && b.redisAddr == "" {
		return "without --journal the run cannot be resumed without sending twice"
	}
	return "run the same command again to resume"
}
