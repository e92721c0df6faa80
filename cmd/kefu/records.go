package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kefu-go/kefu"
)

// recordsHelp is the help of "kefu records", after its usage line.
const recordsHelp = `  kefu records --from "2025-06-01 09:00" --to "2025-06-01 18:00"
  kefu records --from 2025-06-01T00:00:00+08:00 --timeout 10m > records.jsonl

It reads the records from --from (inclusive) to --to (exclusive; default
now), 24 hours and 10,000 records per request, and prints each record as it
reads it, as one JSON object per line in WeChat's shape (always; --json
changes nothing):
  {"openid":"o1","opercode":2002,"text":"hi","time":UNIX_SECONDS,"worker":"kf01@shop"}
opercode 2001: the account received a message, 2002: a worker sent one,
1000 to 1005: sessions created, taken, closed... (go doc kefu.OperCode). TIME is RFC 3339, or "2006-01-02 15:04" (or with
seconds) in local time. --timeout bounds the whole read: raise it for long
spans. An error after some records ends the output there, with the exit
code of the error; the records printed are complete lines.
`

// recordsCommand is "kefu records": the message records of a span of time.
func recordsCommand(e *env, api *apiFlags) *cobra.Command {
	return newCommand(e, "records", "print the message records from --from to --to, one JSON object per line", recordsHelp, maxArgs(0), &recordsRun{api: api})
}

// define defines kefu records's flags on fs.
func (r *recordsRun) define(fs *pflag.FlagSet) {
	fs.Var(&r.from, "from", "the start, a `TIME` (required)")
	fs.Var(&r.to, "to", "the end, a `TIME` (default now)")
}

// recordsRun is a run of kefu records: the flags it was given.
type recordsRun struct {
	api      *apiFlags
	from, to timeFlag
}

// run streams the records, one JSON line each.
func (r *recordsRun) run(ctx context.Context, e *env, _ []string) error {
	from, to := time.Time(r.from), time.Time(r.to)
	if from.IsZero() {
		return usagef("--from is required: a TIME such as \"2025-06-01 09:00\" or RFC 3339")
	}
	if to.IsZero() {
		to = time.Now()
	}
	if !to.After(from) {
		return usagef("--to (%s) must be after --from (%s)", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	if err := r.api.resolve(e); err != nil {
		return err
	}
	return r.api.call(ctx, func(ctx context.Context, client *kefu.Client) error {
		for rec, err := range client.Records(ctx, from, to) {
			if err != nil {
				return err
			}
			if err := writeJSON(e.stdout, rec); err != nil {
				return err
			}
		}
		return nil
	})
}

// timeLayouts are the layouts a timeFlag takes, the last ones in local
// time.
var timeLayouts = []string{time.RFC3339, "2006-01-02 15:04", "2006-01-02 15:04:05"}

// timeFlag is a pflag.Value for a time: RFC 3339, or a local date and time.
type timeFlag time.Time

func (t *timeFlag) String() string {
	if t == nil || time.Time(*t).IsZero() {
		return ""
	}
	return time.Time(*t).Format(time.RFC3339)
}

func (t *timeFlag) Type() string { return "time" }

func (t *timeFlag) Set(s string) error {
	for _, layout := range timeLayouts {
		if v, err := time.ParseInLocation(layout, strings.TrimSpace(s), time.Local); err == nil {
			*t = timeFlag(v)
			return nil
		}
	}
	return fmt.Errorf("%q is not a time: use RFC 3339 (2025-06-01T09:00:00+08:00) or \"2025-06-01 09:00\" in local time", s)
}
