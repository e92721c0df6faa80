package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

// These tests run kefu broadcast as a child process (the binary TestMain
// built) against a kefutest server in the test, to kill it mid-run or
// interrupt it, and then run it again with the same journal.

// child is a running "kefu broadcast".
type child struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	exited         chan struct{} // closed when it has exited
	err            error         // Wait's, once exited is closed
}

// startBroadcast starts "kefu broadcast --base-url URL args..." with srv's
// credentials in the environment; it is killed at the end of the test if
// still running.
func startBroadcast(t *testing.T, srv *kefutest.Server, args ...string) *child {
	t.Helper()
	c := &child{exited: make(chan struct{})}
	c.cmd = exec.Command(kefuBin, append([]string{"broadcast", "--base-url", srv.URL}, args...)...)
	c.cmd.Env = append(baseEnv(), srvEnv(srv)...)
	c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
	require.NoError(t, c.cmd.Start())
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.exited
	})
	return c
}

// srvEnv is the environment that hands srv's credentials to kefu.
func srvEnv(srv *kefutest.Server) []string {
	return []string{"KEFU_APPID=" + srv.AppID, "KEFU_SECRET=" + srv.AppSecret}
}

// broadcastRunChild runs "kefu broadcast --base-url URL args..." as a child
// process to its end.
func broadcastRunChild(t *testing.T, srv *kefutest.Server, args ...string) result {
	t.Helper()
	return kefuRun(t, "", srvEnv(srv), []string{srv.AppSecret}, append([]string{"broadcast", "--base-url", srv.URL}, args...)...)
}

// wait waits for the child to exit and returns its result.
func (c *child) wait(t *testing.T) result {
	t.Helper()
	select {
	case <-c.exited:
	case <-time.After(waitLimit):
		t.Fatalf("kefu broadcast did not exit within %v", waitLimit)
	}
	r := result{stdout: c.stdout.String(), stderr: c.stderr.String()}
	var exit *exec.ExitError
	if errors.As(c.err, &exit) {
		r.code = exit.ExitCode()
	}
	return r
}

// waitSends polls the fake until it has received n sends, calling during
// (if not nil) with the count at each tick. It fails the test if the child
// exits first.
func waitSends(t *testing.T, srv *kefutest.Server, c *child, n int, during func(calls int)) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		calls := srv.Calls(kefutest.PathSend)
		if calls >= n {
			return
		}
		if during != nil {
			during(calls)
		}
		select {
		case <-tick.C:
		case <-c.exited:
			t.Fatalf("kefu broadcast exited after %d sends, before %d:\n%s", srv.Calls(kefutest.PathSend), n, c.stderr.String())
		case <-deadline.C:
			t.Fatalf("the fake had %d sends after %v, not %d", srv.Calls(kefutest.PathSend), waitLimit, n)
		}
	}
}

// journalEntries reads a journal file, by key (OpenID).
func journalEntries(t *testing.T, path string) map[string]kefu.JournalEntry {
	t.Helper()
	j, err := kefu.OpenJournal(path)
	require.NoError(t, err)
	defer j.Close()
	return j.Entries()
}

// checkOnce checks that every user has exactly one message, except those
// the journal holds as unknown (attempted, and no outcome recorded: the
// process died, or the answer was lost), who have at most one; it returns
// how many those are.
func checkOnce(t *testing.T, srv *kefutest.Server, users []string, entries map[string]kefu.JournalEntry) int {
	t.Helper()
	unknown := 0
	for _, u := range users {
		e, ok := entries[u]
		require.True(t, ok, "%s is not in the journal", u)
		switch got := len(srv.Messages(u)); e.State {
		case kefu.JournalAttempted, kefu.JournalUnknown:
			unknown++
			assert.LessOrEqual(t, got, 1, "%s, journalled %s, got %d messages", u, e.State, got)
		case kefu.JournalSent:
			assert.Equal(t, 1, got, "%s got %d messages", u, got)
		default:
			t.Errorf("%s: journalled %s", u, e.State)
		}
	}
	return unknown
}

// TestBroadcastCrash: kefu broadcast killed with SIGKILL mid-run, then run
// again with the same journal to the end: every recipient has exactly one
// message, but those the journal holds as unknown, none of whom is sent
// again. Then again with lost answers and busy answers (-1, retried) in the
// mix, before the kill and after.
func TestBroadcastCrash(t *testing.T) {
	t.Parallel()
	const n, concurrency = 2000, 8
	for _, faults := range []bool{false, true} {
		t.Run(fmt.Sprintf("faults=%v", faults), func(t *testing.T) {
			t.Parallel()
			srv, users := broadcastServer(t, "c", n)
			dir := t.TempDir()
			journal := filepath.Join(dir, "run.journal")
			args := []string{"--to", usersFile(t, dir, users), "--text", "sale", "--journal", journal,
				"--rate", "1000", "--concurrency", strconv.Itoa(concurrency)}
			injected := 0
			inject := func() {
				srv.FailNext(kefutest.PathSend, 2, -1) // busy: retried, nothing delivered
				srv.DropNext(kefutest.PathSend, 2)     // delivered, the answer lost
				injected += 2
			}
			if faults {
				inject()
			}
			c := startBroadcast(t, srv, args...)
			waitSends(t, srv, c, 300, func(calls int) {
				if faults && calls >= 150 && injected == 2 {
					inject()
				}
			})
			require.NoError(t, c.cmd.Process.Signal(syscall.SIGKILL))
			r := c.wait(t)
			require.Equal(t, -1, r.code, "killed: %s", r)
			killedAt := srv.Calls(kefutest.PathSend)
			require.Less(t, killedAt, n, "killed mid-run")
			if faults {
				inject()
			}

			r = broadcastRunChild(t, srv, args...)
			unknown := checkOnce(t, srv, users, journalEntries(t, journal))
			// Items claimed and not yet answered when the process dies are
			// unknown: up to 4 x concurrency (2 x concurrency claimers each
			// holding one, a buffer of concurrency, concurrency senders);
			// each lost answer adds one.
			assert.LessOrEqual(t, unknown, 4*concurrency+injected)
			if unknown > 0 {
				assert.Equal(t, exitUnknown, r.code, r)
			} else {
				assert.Equal(t, exitOK, r.code, r)
			}
			assert.Regexp(t, `skipped \d+ \(in the journal already: sent \d+`, lastLine(r.stderr))
			t.Logf("killed after %d sends; %d unknown", killedAt, unknown)
		})
	}
}

// summaryLine matches the summary of a run that was interrupted.
var summaryLine = regexp.MustCompile(`(?m)^sent (\d+), failed 0, unknown 0, skipped 0, not attempted (\d+)$`)

// TestBroadcastInterrupt: Ctrl-C (SIGINT) stops the run cleanly: the sends
// in flight finish and are journalled, the summary is printed, exit 130;
// running it again sends the rest, each recipient exactly once.
func TestBroadcastInterrupt(t *testing.T) {
	t.Parallel()
	const n = 1000
	srv, users := broadcastServer(t, "i", n)
	dir := t.TempDir()
	journal := filepath.Join(dir, "run.journal")
	args := []string{"--to", usersFile(t, dir, users), "--text", "sale", "--journal", journal, "--rate", "500"}
	c := startBroadcast(t, srv, args...)
	waitSends(t, srv, c, 300, nil)
	require.NoError(t, c.cmd.Process.Signal(os.Interrupt))
	r := c.wait(t)
	require.Equal(t, exitInterrupted, r.code, r)
	assert.Contains(t, r.stderr, "kefu broadcast: interrupted: run the same command again to resume")
	m := summaryLine.FindStringSubmatch(r.stderr)
	require.NotNil(t, m, r.stderr)
	sent, _ := strconv.Atoi(m[1])
	notAttempted, _ := strconv.Atoi(m[2])
	assert.Equal(t, n, sent+notAttempted)
	assert.Equal(t, srv.Calls(kefutest.PathSend), sent, "every send that went out finished and was counted")
	for _, e := range journalEntries(t, journal) {
		assert.Contains(t, []kefu.JournalState{kefu.JournalSent, kefu.JournalReleased}, e.State, "%s: nothing is left unknown", e.Key)
	}

	r = broadcastRunChild(t, srv, args...)
	require.Equal(t, exitOK, r.code, r)
	assert.Equal(t, fmt.Sprintf("sent %d, failed 0, unknown 0, skipped %d (in the journal already: sent %d)", notAttempted, sent, sent),
		lastLine(r.stderr))
	assert.Zero(t, checkOnce(t, srv, users, journalEntries(t, journal)))
	assert.Equal(t, n, srv.Calls(kefutest.PathSend), "one send per recipient")
}

// TestBroadcastRate: --rate 200 over 3,000 recipients: no second of the
// fake's request log (its real clock) holds more than the bucket allows:
// 200 a second, the first at once, and the sends granted just before the
// second began and still on their way when it did (at most one per sender:
// the default --concurrency is 4). The log keeps the latest 1000 requests,
// so it is read every second during the run.
func TestBroadcastRate(t *testing.T) {
	t.Parallel()
	const n, rate = 3000, 200
	srv, users := broadcastServer(t, "r", n, kefutest.WithAdminAPI())
	to := usersFile(t, t.TempDir(), users)
	done := make(chan result, 1)
	go func() {
		var stdout, stderr bytes.Buffer
		e := &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr,
			getenv: vars{"KEFU_APPID": srv.AppID, "KEFU_SECRET": srv.AppSecret}.get}
		code := run(context.Background(), []string{"broadcast", "--base-url", srv.URL, "--to", to,
			"--text", "sale", "--rate", strconv.Itoa(rate)}, e)
		done <- result{stdout: stdout.String(), stderr: stderr.String(), code: code}
	}()

	perSecond := map[int64]int{} // the most sends any reading of the log saw in each second
	read := func(final bool) {
		status, body := adminCall(t, srv.URL, http.MethodGet, "/kefutest/requests?path="+kefutest.PathSend, "")
		require.Equal(t, http.StatusOK, status, body)
		var log []struct{ Time int64 }
		require.NoError(t, json.Unmarshal([]byte(body), &log))
		if len(log) == 0 {
			return
		}
		counts := map[int64]int{}
		for _, e := range log {
			counts[e.Time]++
		}
		first, last := log[0].Time, log[len(log)-1].Time
		for sec, c := range counts {
			// The ring may have cut the first second, and the last may
			// still be filling.
			if (sec == first && len(log) == 1000) || (sec == last && !final) {
				continue
			}
			perSecond[sec] = max(perSecond[sec], c)
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	var r result
	for running := true; running; {
		select {
		case r = <-done:
			running = false
		case <-tick.C:
			read(false)
		case <-deadline.C:
			t.Fatalf("kefu broadcast --rate %d did not end within %v", rate, waitLimit)
		}
	}
	read(true)
	require.Equal(t, exitOK, r.code, r)
	total := 0
	for sec, c := range perSecond {
		assert.LessOrEqual(t, c, rate+1+4, "second %d", sec)
		total += c
	}
	assert.Equal(t, n, total, "every send was seen in the log")
	assert.GreaterOrEqual(t, len(perSecond), n/rate, "the run took at least %d seconds", n/rate)
}
