package kefu_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

// sentinels are the error groups a caller branches on, in the order
// errorClass tries them.
var sentinels = []struct {
	name string
	err  error
}{
	{"ErrInvalidMessage", kefu.ErrInvalidMessage},
	{"ErrSystemBusy", kefu.ErrSystemBusy},
	{"ErrInvalidToken", kefu.ErrInvalidToken},
	{"ErrOutsideWindow", kefu.ErrOutsideWindow},
	{"ErrQuotaExceeded", kefu.ErrQuotaExceeded},
	{"ErrRateLimited", kefu.ErrRateLimited},
	{"ErrInvalidOpenID", kefu.ErrInvalidOpenID},
	{"ErrNotFollowing", kefu.ErrNotFollowing},
	{"ErrInvalidMedia", kefu.ErrInvalidMedia},
	{"ErrUnauthorized", kefu.ErrUnauthorized},
	{"ErrUserBlocked", kefu.ErrUserBlocked},
	{"ErrBadCredentials", kefu.ErrBadCredentials},
}

// errorClass names what a caller of Send can tell about err with
// errors.Is and errors.As: "nil", "ErrDeliveryUnknown" (and whether it is
// also a context error), a context error, an *APIError's sentinel, or a
// transport error that was not sent.
func errorClass(err error) string {
	if err == nil {
		return "nil"
	}
	unknown := errors.Is(err, kefu.ErrDeliveryUnknown)
	deadline := errors.Is(err, context.DeadlineExceeded)
	switch {
	case unknown && deadline:
		return "ErrDeliveryUnknown+DeadlineExceeded"
	case unknown:
		return "ErrDeliveryUnknown"
	case deadline:
		return "DeadlineExceeded"
	case errors.Is(err, context.Canceled):
		return "Canceled"
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			var ae *kefu.APIError
			if errors.As(err, &ae) {
				return fmt.Sprintf("%s (%d)", s.name, ae.Code)
			}
			return s.name
		}
	}
	var re *kefu.RequestError
	if errors.As(err, &re) && !re.MaybeDelivered {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return "not sent: ECONNREFUSED"
		}
		return "not sent"
	}
	var he *kefu.HTTPError
	if errors.As(err, &he) {
		return fmt.Sprintf("HTTPError %d", he.StatusCode)
	}
	return fmt.Sprintf("untyped %T", err)
}

// logBuffer collects what a slog handler writes, safely across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// faultUser is the recipient of every send of the fault matrix: it paid, so
// its window is open and unlimited.
const faultUser = kefutest.FaultUser

// faultDeadline is the context deadline of the rows that test one.
const faultDeadline = kefutest.FaultDeadline

// deadlineMargin is how long after its deadline a Send may return: generous
// for a loaded CI machine under -race, and far below any timeout that would
// end a hung Send otherwise (the 30 s answer limit).
const deadlineMargin = time.Second

// faultWant is what a row's send did under one policy, as the server saw it.
type faultWant struct {
	class    string // errorClass of Send's error
	attempts int    // calls kefutest saw on PathSend
	copies   int    // copies of the message kefutest recorded
	tokens   int    // calls kefutest saw on PathStableToken
}

// wantOf is what a row's outcome (kefutest's fault matrix) says faultWant
// must be.
func wantOf(o kefutest.FaultOutcome) faultWant {
	return faultWant{class: wantClass(o), attempts: o.SendCalls, copies: o.Copies, tokens: o.TokenCalls}
}

// wantClass is the errorClass an outcome names: "nil" for a success, else
// its errors' names joined by "+" and the errcode, or "not sent" when it
// names no error.
func wantClass(o kefutest.FaultOutcome) string {
	if o.Class == kefu.ResultOK {
		return "nil"
	}
	names := make([]string, 0, len(o.Errs))
	for _, e := range o.Errs {
		names = append(names, errName(e))
	}
	class := strings.Join(names, "+")
	if class == "" {
		class = "not sent"
	}
	if o.ErrCode != 0 {
		class += fmt.Sprintf(" (%d)", o.ErrCode)
	}
	return class
}

// errName names an error of an outcome as errorClass does.
func errName(err error) string {
	switch err {
	case kefu.ErrDeliveryUnknown:
		return "ErrDeliveryUnknown"
	case context.DeadlineExceeded:
		return "DeadlineExceeded"
	case syscall.ECONNREFUSED:
		return "not sent: ECONNREFUSED"
	}
	for _, s := range sentinels {
		if s.err == err {
			return s.name
		}
	}
	return fmt.Sprintf("unnamed %v", err)
}

// bigAnswerRow is the row whose answer is 10 MiB long.
const bigAnswerRow = "10 MiB answer"

// faultResult is what one row did under one policy.
type faultResult struct {
	row, policy string
	got         faultWant
	took        time.Duration
	tries       int            // send attempts the client logged (it sees those WeChat never saw)
	alloc       uint64         // bytes allocated during the send (10 MiB row only)
	ends        []kefu.CallEnd // what the Call hook saw end
}

// runFault runs row under policy p on a fresh server and returns what
// happened, the secrets the server knows (every token it issued, the app
// secret), every string that must not hold them (the error's renderings and
// the log output), and the error Send returned.
func runFault(t *testing.T, row kefutest.FaultCase, p kefu.RetryPolicy) (res faultResult, secrets, shown []string, sendErr error) {
	t.Helper()
	srv := kefutest.NewServer()
	defer srv.Close()
	srv.Interact(faultUser, kefutest.Payment)

	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := []kefu.Option{kefu.WithRetry(p), kefu.WithLogger(logger)}
	ts := srv.TokenSource(opts...)
	var ends []kefu.CallEnd // the Call hook runs in Send's goroutine
	hooks := kefu.Hooks{Call: func(ctx context.Context, _ kefu.CallInfo) (context.Context, func(kefu.CallEnd)) {
		return ctx, func(e kefu.CallEnd) { ends = append(ends, e) }
	}}
	c, err := kefu.NewClient(ts, append([]kefu.Option{kefu.WithBaseURL(srv.URL), kefu.WithHooks(hooks)}, opts...)...)
	require.NoError(t, err)
	defer c.CloseIdleConnections()

	if !row.Cold {
		_, err = ts.Token(context.Background())
		require.NoError(t, err)
	}
	row.Setup(srv) // a Closed row closes the server

	// No row may hang: those without a deadline of their own get a far one.
	timeout := 20 * time.Second
	if row.Deadline {
		timeout = faultDeadline
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	msg := kefu.NewText(faultUser, "fault matrix: "+row.Name)
	var before, after runtime.MemStats
	big := row.Name == bigAnswerRow
	if big {
		runtime.GC()
		runtime.ReadMemStats(&before)
	}
	start := time.Now()
	resp, sendErr := c.Send(ctx, msg)
	took := time.Since(start)
	if big {
		runtime.ReadMemStats(&after)
	}
	if sendErr == nil {
		assert.NotNil(t, resp)
	} else {
		assert.Nil(t, resp)
	}

	// Close waits for the requests in flight (a delayed answer is cut
	// short), so the counts below are final.
	srv.Close()
	res = faultResult{row: row.Name, took: took, ends: ends, got: faultWant{
		class:    errorClass(sendErr),
		attempts: srv.Calls(kefutest.PathSend),
		copies:   len(srv.Messages(faultUser)),
		tokens:   srv.Calls(kefutest.PathStableToken),
	}}
	if big {
		res.alloc = after.TotalAlloc - before.TotalAlloc
	}
	secrets = append(srv.IssuedTokens(), srv.AppSecret)
	if sendErr != nil {
		shown = append(shown, sendErr.Error(), fmt.Sprintf("%+v", sendErr), fmt.Sprintf("%#v", sendErr))
	}
	if out := logs.String(); out != "" {
		shown = append(shown, strings.Split(strings.TrimSuffix(out, "\n"), "\n")...)
	}
	for _, line := range shown {
		if strings.Contains(line, `msg="kefu: attempt"`) && strings.Contains(line, "path="+kefutest.PathSend) {
			res.tries++
		}
	}
	return res, secrets, shown, sendErr
}

// TestFaultMatrix runs one send per fault and policy on a fresh kefutest
// server and checks the error class, the attempts WeChat saw and the copies
// it recorded; with a debug logger on, it checks that no issued token nor
// the app secret shows in the error or the logs.
func TestFaultMatrix(t *testing.T) {
	var results []faultResult
	for _, row := range kefutest.FaultCases() {
		for _, retryUnknown := range []bool{false, true} {
			pol := struct {
				name string
				p    kefu.RetryPolicy
			}{map[bool]string{false: "default", true: "RetryUnknown"}[retryUnknown], kefutest.FaultPolicy(retryUnknown)}
			out := row.Outcome(retryUnknown)
			want := wantOf(out)
			t.Run(row.Name+"/"+pol.name, func(t *testing.T) {
				res, secrets, shown, err := runFault(t, row, pol.p)
				res.policy = pol.name
				results = append(results, res)

				assert.Equal(t, want, res.got, "error: %v", err)
				for _, e := range out.Errs {
					assert.ErrorIs(t, err, e)
				}
				if assert.Len(t, res.ends, 1, "the Call hook saw the call end once") {
					end := res.ends[0]
					assert.Equal(t, out.Class, end.Class, "the hooks' result class")
					assert.Equal(t, out.ErrCode, end.ErrCode, "the hooks' errcode")
					assert.Equal(t, out.Attempts, end.Attempts, "the hooks' attempts")
					assert.Equal(t, out.Class == kefu.ResultOK, end.Err == nil, "an error exactly when the call failed")
				}
				if !pol.p.RetryUnknown {
					assert.LessOrEqual(t, res.got.copies, 1, "never two copies under the default policy")
					assert.Equal(t, row.Lost, strings.HasPrefix(res.got.class, "ErrDeliveryUnknown"),
						"ErrDeliveryUnknown exactly when the answer was lost")
				}
				if res.got.class == "nil" {
					assert.Positive(t, res.got.copies, "a success is delivered")
				}
				if row.Deadline {
					assert.Less(t, res.took, faultDeadline+deadlineMargin, "returns within its deadline plus a margin")
				}
				if res.alloc > 0 {
					assert.Less(t, res.alloc, uint64(3<<20), "an over-long answer costs bounded memory")
				}
				if row.Closed {
					assert.Equal(t, pol.p.MaxAttempts, res.tries, "a refused connection is retried: nothing was sent")
				} else {
					assert.Equal(t, res.got.attempts, res.tries, "the client logs every attempt WeChat saw")
				}
				assert.Equal(t, out.Attempts, res.tries, "the client logs every attempt it made")
				var re *kefu.RequestError
				if errors.As(err, &re) {
					assert.NotContains(t, re.URL, "?", "a RequestError's URL has no query")
				}
				var te *kefu.TokenError
				if err != nil && res.got.attempts == 0 && !row.Closed {
					assert.ErrorAs(t, err, &te, "no send attempt: the error names the token phase")
					assert.NotErrorIs(t, err, kefu.ErrDeliveryUnknown, "nothing was sent")
				}
				var he *kefu.HTTPError
				if errors.As(err, &he) {
					assert.LessOrEqual(t, len(he.Snippet), 130, "an HTTPError quotes a short snippet")
				}
				if err != nil {
					assert.Less(t, len(err.Error()), 1000, "errors stay one short line: %.2000s", err.Error())
					assert.NotContains(t, err.Error(), "\n", "one line")
					assert.NotContains(t, err.Error(), "\r", "one line")
					assert.NotContains(t, err.Error(), "\x1b", "no terminal escapes")
				}
				require.NotEmpty(t, secrets)
				for _, s := range shown {
					for _, secret := range secrets {
						require.NotContains(t, s, secret, "a token or the app secret leaked")
					}
				}
				if res.got.attempts > 0 {
					assert.Contains(t, strings.Join(shown, "\n"), "kefu: attempt", "attempts are logged at debug level")
				}
			})
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "fault matrix: attempts = calls WeChat saw on %s (logged = attempts the client logged); "+
		"copies = messages WeChat recorded; token = calls to %s\n", kefutest.PathSend, kefutest.PathStableToken)
	fmt.Fprintf(&b, "%-34s %-13s %-36s %8s %6s %6s %5s %8s\n", "row", "policy", "error class", "attempts", "logged", "copies", "token", "took")
	for _, r := range results {
		extra := ""
		if r.alloc > 0 {
			extra = fmt.Sprintf("  (allocated %.2f MiB during Send)", float64(r.alloc)/(1<<20))
		}
		fmt.Fprintf(&b, "%-34s %-13s %-36s %8d %6d %6d %5d %8s%s\n", r.row, r.policy, r.got.class, r.got.attempts,
			r.tries, r.got.copies, r.got.tokens, r.took.Round(time.Millisecond), extra)
	}
	t.Log(b.String())
}

// TestSendMalformedInput checks that bad input from the caller is a
// validation error, sent nowhere: neither the send nor the token endpoint
// sees a call.
func TestSendMalformedInput(t *testing.T) {
	t.Parallel()
	srv := kefutest.NewServer()
	defer srv.Close()
	srv.Interact(faultUser, kefutest.Payment)
	c := srv.Client()
	defer c.CloseIdleConnections()

	var nilCtx context.Context
	ok := kefu.NewText(faultUser, "hi")
	cases := []struct {
		name  string
		ctx   context.Context
		m     *kefu.Message
		field string // named in the error
	}{
		{"nil message", context.Background(), nil, "message"},
		{"nil context", nilCtx, ok, "ctx"},
		{"huge text", context.Background(), kefu.NewText(faultUser, strings.Repeat("长", kefu.MaxTextBytes/3+1)), "text.content"},
		{"invalid UTF-8 text", context.Background(), kefu.NewText(faultUser, "ok \xff\xfe"), "text.content"},
		{"invalid UTF-8 touser", context.Background(), kefu.NewText("o-\xc3\x28", "hi"), "touser"},
		{"two bodies", context.Background(), &kefu.Message{ToUser: faultUser, MsgType: kefu.TypeText,
			Text: &kefu.Text{Content: "a"}, Image: &kefu.Media{MediaID: "m"}}, "image"},
	}
	for _, tc := range cases {
		var resp *kefu.Response
		var err error
		require.NotPanics(t, func() { resp, err = c.Send(tc.ctx, tc.m) }, tc.name)
		assert.Nil(t, resp, tc.name)
		assert.ErrorIs(t, err, kefu.ErrInvalidMessage, tc.name)
		assert.NotErrorIs(t, err, kefu.ErrDeliveryUnknown, tc.name)
		var ve *kefu.ValidationError
		if assert.ErrorAs(t, err, &ve, tc.name) {
			assert.Contains(t, err.Error(), tc.field, tc.name)
		}
		assert.Less(t, len(err.Error()), 500, "%s: a short error", tc.name)
	}
	assert.Zero(t, srv.Calls(kefutest.PathSend), "nothing sent")
	assert.Zero(t, srv.Calls(kefutest.PathStableToken), "not even a token fetched")
	assert.Empty(t, srv.Messages(faultUser))
}

// TestErrorsSayWhere: a context that ends while the token is fetched says
// that nothing was sent (it used to be a bare "context deadline exceeded"),
// and an error after retries says how many attempts were made.
func TestErrorsSayWhere(t *testing.T) {
	t.Parallel()
	newServer := func() (*kefutest.Server, *kefu.Client) {
		srv := kefutest.NewServer()
		t.Cleanup(srv.Close)
		srv.Interact(faultUser, kefutest.Payment)
		c := srv.Client()
		t.Cleanup(c.CloseIdleConnections)
		return srv, c
	}

	srv, c := newServer()
	srv.DelayNext(kefutest.PathStableToken, 1, time.Minute) // Close cuts the hold short
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Send(ctx, kefu.NewText(faultUser, "hi"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var te *kefu.TokenError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "kefu: /cgi-bin/message/custom/send: nothing sent: getting the access token: context deadline exceeded", err.Error())
	assert.NotErrorIs(t, err, kefu.ErrDeliveryUnknown)
	assert.Zero(t, srv.Calls(kefutest.PathSend))

	srv, c = newServer()
	srv.FailNext(kefutest.PathSend, 3, -1)
	_, err = c.Send(context.Background(), kefu.NewText(faultUser, "hi"))
	assert.ErrorIs(t, err, kefu.ErrSystemBusy)
	assert.Regexp(t, `^kefu: /cgi-bin/message/custom/send: errcode -1: system error \(rid [^)]+\) after 3 attempts$`, err.Error())
	var ae *kefu.APIError
	assert.ErrorAs(t, err, &ae, "still an *APIError underneath")

	srv.FailNext(kefutest.PathSend, 1, 45015)
	_, err = c.Send(context.Background(), kefu.NewText(faultUser, "hi"))
	assert.ErrorIs(t, err, kefu.ErrOutsideWindow)
	assert.NotContains(t, err.Error(), "attempts", "one attempt says nothing more")
}
