package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/kefu-go/kefu"
)

// tally counts a broadcast's results as they come.
type tally struct {
	total                                        int
	sent, failed, unknown, skipped, notAttempted int
	journal                                      map[string]int // skipped for the journal, by its state: sent, failed, unknown
	fallback                                     map[string]int // the fallback's results, by status
	worst                                        int            // the exit code so far
	reported                                     []bool         // by index: whether a result came
}

func newTally(total int) *tally {
	return &tally{total: total, journal: map[string]int{}, fallback: map[string]int{}, reported: make([]bool, total)}
}

// add counts res.
func (t *tally) add(res kefu.SendResult) {
	if res.Index >= 0 && res.Index < len(t.reported) {
		t.reported[res.Index] = true
	}
	switch res.Status {
	case kefu.StatusSent:
		t.sent++
	case kefu.StatusFailed:
		t.failed++
	case kefu.StatusUnknown:
		t.unknown++
	case kefu.StatusSkipped:
		t.skipped++
		if state, ok := strings.CutPrefix(res.Reason, "journal: "); ok {
			t.journal[state]++
		}
	default:
		t.notAttempted++
	}
	if res.Fallback != nil {
		t.fallback[res.Fallback.Status.String()]++
	}
	t.worst = worstExit(t.worst, itemExit(res))
}

// done is how many results were counted.
func (t *tally) done() int { return t.sent + t.failed + t.unknown + t.skipped + t.notAttempted }

// exit is the run's exit code for its results.
func (t *tally) exit() int { return t.worst }

// itemExit is the exit code one result calls for: a recipient the fallback
// reached counts as sent; one skipped for the journal counts as the
// journal has it.
func itemExit(res kefu.SendResult) int {
	if fb := res.Fallback; fb != nil && (res.Status == kefu.StatusFailed || res.Status == kefu.StatusSkipped) {
		return statusExit(fb.Status, fb.Err, "")
	}
	return statusExit(res.Status, res.Err, res.Reason)
}

func statusExit(s kefu.SendStatus, err error, reason string) int {
	var api *kefu.APIError
	switch {
	case s == kefu.StatusSent:
		return exitOK
	case s == kefu.StatusUnknown || reason == "journal: unknown":
		return exitUnknown
	case s == kefu.StatusFailed && errors.As(err, &api), reason == "journal: failed":
		return exitRefused
	case s == kefu.StatusSkipped:
		return exitOK
	}
	return exitNotSent // not attempted, or failed before WeChat answered
}

// summary is what a run did, as --json prints it.
type summary struct {
	Total        int            `json:"total"`
	Sent         int            `json:"sent"`
	Failed       int            `json:"failed"`
	Unknown      int            `json:"unknown"`
	Skipped      int            `json:"skipped"`
	NotAttempted int            `json:"not_attempted"`
	Journal      map[string]int `json:"journal,omitempty"`  // the skipped, by what the journal holds
	Fallback     map[string]int `json:"fallback,omitempty"` // the fallback's results, by status
}

func (t *tally) summary() summary {
	s := summary{Total: t.total, Sent: t.sent, Failed: t.failed, Unknown: t.unknown, Skipped: t.skipped, NotAttempted: t.notAttempted}
	if len(t.journal) > 0 {
		s.Journal = t.journal
	}
	if len(t.fallback) > 0 {
		s.Fallback = t.fallback
	}
	return s
}

// counts is "sent N, failed N, unknown N, skipped N", then ", not
// attempted N" when some were not.
func (s summary) counts() string {
	return s.format(false)
}

// line is the one-line summary printed at the end: counts, with what the
// journal held for the skipped and what the fallback did.
func (s summary) line() string {
	return s.format(true)
}

func (s summary) format(detail bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "sent %d, failed %d, unknown %d, skipped %d", s.Sent, s.Failed, s.Unknown, s.Skipped)
	if detail && len(s.Journal) > 0 {
		b.WriteString(" (in the journal already:" + breakdown(s.Journal, "sent", "failed", "unknown") + ")")
	}
	if s.NotAttempted > 0 {
		fmt.Fprintf(&b, ", not attempted %d", s.NotAttempted)
	}
	if detail && len(s.Fallback) > 0 {
		b.WriteString("; fallback:" + breakdown(s.Fallback, "sent", "failed", "unknown", "skipped", "not_attempted"))
	}
	return b.String()
}

// breakdown is " sent 2, unknown 1": the non-zero counts of m, in the order
// of keys.
func breakdown(m map[string]int, keys ...string) string {
	var parts []string
	for _, k := range keys {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf(" %s %d", strings.ReplaceAll(k, "_", " "), m[k]))
		}
	}
	return strings.Join(parts, ",")
}

// resultLine is one line of --results.
type resultLine struct {
	OpenID   string        `json:"openid"`
	Status   string        `json:"status"`
	ErrCode  int           `json:"errcode"`
	MsgID    int64         `json:"msgid"`
	Reason   string        `json:"reason,omitempty"`
	Error    string        `json:"error,omitempty"`
	Fallback *fallbackLine `json:"fallback,omitempty"`
}

// fallbackLine is what the fallback did for a recipient.
type fallbackLine struct {
	Status  string `json:"status"`
	ErrCode int    `json:"errcode"`
	MsgID   int64  `json:"msgid"`
	Error   string `json:"error,omitempty"`
}

// resultsWriter writes --results; without it, nothing.
type resultsWriter struct {
	f     *os.File
	w     *bufio.Writer
	scrub func(string) string
	err   error // the first write error
}

// openResults creates (or empties) the --results file path; "" writes
// nothing.
func openResults(path string, e *env) (*resultsWriter, error) {
	if path == "" {
		return &resultsWriter{}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600) // OpenIDs are personal data
	if err != nil {
		return nil, err
	}
	return &resultsWriter{f: f, w: bufio.NewWriter(f), scrub: e.scrub}, nil
}

func (rw *resultsWriter) write(res kefu.SendResult) {
	if rw.w == nil || rw.err != nil {
		return
	}
	line := resultLine{OpenID: res.OpenID, Status: res.Status.String(), ErrCode: errCode(res.Err), MsgID: res.MsgID,
		Reason: res.Reason, Error: rw.errorText(res.Err)}
	if fb := res.Fallback; fb != nil {
		line.Fallback = &fallbackLine{Status: fb.Status.String(), ErrCode: errCode(fb.Err), MsgID: fb.MsgID, Error: rw.errorText(fb.Err)}
	}
	rw.err = writeJSON(rw.w, line)
}

// errorText is err in a results line: one line, no secret.
func (rw *resultsWriter) errorText(err error) string {
	if err == nil {
		return ""
	}
	return rw.scrub(strings.ReplaceAll(describe(err), "\n ", ";"))
}

// errCode is WeChat's errcode in err; 0 when it holds none.
func errCode(err error) int {
	var api *kefu.APIError
	if errors.As(err, &api) {
		return api.Code
	}
	return 0
}

// close flushes and closes the file, returning the first error.
func (rw *resultsWriter) close() error {
	if rw.f == nil {
		return nil
	}
	err := rw.w.Flush()
	if cerr := rw.f.Close(); err == nil {
		err = cerr
	}
	if rw.err != nil {
		err = rw.err
	}
	if err != nil {
		return fmt.Errorf("--results: %w", err)
	}
	return nil
}

// progress shows how a run is going, on stderr.
type progress interface {
	update(t *tally)
	done()
}

// newProgress is a bar on a terminal, else a line now and then.
func (b *broadcastRun) newProgress(e *env, total int) progress {
	isTerm := b.isTerminal
	if isTerm == nil {
		isTerm = isTerminalFile
	}
	if isTerm(e.stderr) {
		return newBar(e.stderr, total)
	}
	return &lineProgress{w: e.stderr, total: total, now: time.Now, every: 2 * time.Second, last: time.Now()}
}

// lineProgress prints "sent 120, failed 3, unknown 0, skipped 10 (133/3000)"
// every so often, and at every tenth of the run.
type lineProgress struct {
	w       io.Writer
	total   int
	now     func() time.Time
	every   time.Duration
	last    time.Time
	decile  int // the last tenth printed
	printed int // results counted at the last line
}

func (p *lineProgress) update(t *tally) {
	n := t.done()
	decile := n * 10 / max(p.total, 1)
	now := p.now()
	if n == p.printed || (decile == p.decile && now.Sub(p.last) < p.every) {
		return
	}
	p.decile, p.last, p.printed = decile, now, n
	fmt.Fprintf(p.w, "%s (%d/%d)\n", t.summary().counts(), n, p.total)
}

func (p *lineProgress) done() {}

// barProgress is a progress bar: the counts, the rate and the time left.
type barProgress struct{ bar *progressbar.ProgressBar }

func newBar(w io.Writer, total int) *barProgress {
	return &barProgress{bar: progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("starting"),
		progressbar.OptionSetWidth(20),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("msg"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
	)}
}

func (p *barProgress) update(t *tally) {
	p.bar.Describe(t.summary().counts())
	p.bar.Set(t.done()) // a failed write to the terminal is no reason to stop
}

// done clears the bar: the summary takes its line.
func (p *barProgress) done() { p.bar.Clear() }

// isTerminalFile tells whether w is a terminal.
func isTerminalFile(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
