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
const faultUser = "o-fault-user"

// faultDeadline is the context deadline of the rows that test one.
const faultDeadline = 100 * time.Millisecond

// deadlineMargin is how long after its deadline a Send may return: generous
// for a loaded CI machine under -race, and far below any timeout that would
// end a hung Send otherwise (the 30 s answer limit).
const deadlineMargin = time.Second

// faultWant is what a row expects under one policy.
type faultWant struct {
	class    string // errorClass of Send's error
	attempts int    // calls kefutest saw on PathSend
	copies   int    // copies of the message kefutest recorded
	tokens   int    // calls kefutest saw on PathStableToken
}

// faultRow is one fault of the matrix.
type faultRow struct {
	name string
	// cold leaves the token source cold: the fault is on the token
	// endpoint. Otherwise the client fetches its token first, and tok is
	// that token.
	cold bool
	// closed closes the server before the send.
	closed bool
	// deadline gives the send a faultDeadline context.
	deadline bool
	// lost is a fault that loses WeChat's answer to a send: the client
	// cannot know whether the message was delivered.
	lost bool
	// fault scripts the fault. tok is the client's token ("" when cold), so
	// answers can echo it as careless proxies do.
	fault func(srv *kefutest.Server, tok string)
	// def and unknown are the expectations under kefutest.FastRetry() and
	// under the same with RetryUnknown.
	def, unknown faultWant
}

// same is a row whose outcome does not depend on RetryUnknown.
func same(w faultWant) [2]faultWant { return [2]faultWant{w, w} }

// differ is a row whose outcome does depend on RetryUnknown.
func differ(def, unknown faultWant) [2]faultWant { return [2]faultWant{def, unknown} }

func failSend(n, code int) func(*kefutest.Server, string) {
	return func(srv *kefutest.Server, _ string) { srv.FailNext(kefutest.PathSend, n, code) }
}

func statusSend(status int) func(*kefutest.Server, string) {
	return func(srv *kefutest.Server, _ string) { srv.StatusNext(kefutest.PathSend, 1, status) }
}

func rawSend(body func(tok string) string) func(*kefutest.Server, string) {
	return func(srv *kefutest.Server, tok string) {
		srv.RawNext(kefutest.PathSend, 1, 200, []byte(body(tok)))
	}
}

func failToken(n, code int) func(*kefutest.Server, string) {
	return func(srv *kefutest.Server, _ string) { srv.FailNext(kefutest.PathStableToken, n, code) }
}

// always is more faults than any policy makes attempts.
const always = 100

// bigAnswer is the size of the over-long answer.
const bigAnswer = 10 << 20

func faultRows() []faultRow {
	rows := []faultRow{
		{name: "errcode -1 once", fault: failSend(1, -1)},
		{name: "errcode -1 twice", fault: failSend(2, -1)},
		{name: "errcode -1 always", fault: failSend(always, -1)},
		{name: "errcode 45015", fault: failSend(1, 45015)},
		{name: "errcode 45047", fault: failSend(1, 45047)},
		{name: "errcode 45009", fault: failSend(1, 45009)},
		{name: "errcode 45011", fault: failSend(1, 45011)},
		{name: "errcode 40001 once", fault: failSend(1, 40001)},
		{name: "errcode 40001 always", fault: failSend(always, 40001)},
		{name: "errcode 40003", fault: failSend(1, 40003)},
		{name: "errcode 40007", fault: failSend(1, 40007)},
		{name: "HTTP 502 HTML", lost: true, fault: statusSend(502)},
		{name: "HTTP 503 HTML", fault: statusSend(503)},
		{name: "HTTP 504 HTML", lost: true, fault: statusSend(504)},
		{name: "HTTP 429 HTML", fault: statusSend(429)},
		{name: "connection refused", closed: true, fault: func(*kefutest.Server, string) {}},
		{name: "dropped after accepting", lost: true, fault: func(srv *kefutest.Server, _ string) { srv.DropNext(kefutest.PathSend, 1) }},
		{name: "answer after the deadline", lost: true, deadline: true, fault: func(srv *kefutest.Server, _ string) {
			srv.DelayNext(kefutest.PathSend, 1, time.Minute) // Close cuts it short
		}},
		{name: "truncated JSON", lost: true, fault: rawSend(func(tok string) string {
			return `{"errcode":0,"errmsg":"ok for access_token=` + tok + ` (` + tok
		})},
		{name: "not JSON", lost: true, fault: rawSend(func(tok string) string {
			return "<html><body>OK " + tok + "</body></html>"
		})},
		{name: "JSON of another shape", lost: true, fault: rawSend(func(tok string) string {
			return `{"code":0,"message":"success","access_token":"` + tok + `","echo":"` + tok + `"}`
		})},
		{name: "10 MiB answer", lost: true, fault: rawSend(func(tok string) string {
			return `{"errcode":0,"errmsg":"` + tok + strings.Repeat("x", bigAnswer) + `"}`
		})},
		{name: "errmsg with line breaks", fault: rawSend(func(string) string {
			return `{"errcode":45015,"errmsg":"out of time\n2026/11/30 FORGED log record\r\n\u001b[2J rid: 1-2\n3"}`
		})},
		{name: "HTML page with line breaks", lost: true, fault: func(srv *kefutest.Server, _ string) {
			srv.RawNext(kefutest.PathSend, 1, 502, []byte("<html>\r\nbad gateway\n2026/11/30 FORGED log record\u2028</html>"))
		}},
		{name: "invalid UTF-8", lost: true, fault: rawSend(func(tok string) string {
			return "{\"errcode\":0,\"errmsg\":\"ok \xff\xfe " + tok + "\"}"
		})},
		{name: "token -1 once", cold: true, fault: failToken(1, -1)},
		{name: "token -1 always", cold: true, fault: failToken(always, -1)},
		{name: "token 40125", cold: true, fault: failToken(1, 40125)},
		{name: "token 40164", cold: true, fault: failToken(1, 40164)},
		{name: "token timeout", cold: true, deadline: true, fault: func(srv *kefutest.Server, _ string) {
			srv.DelayNext(kefutest.PathStableToken, 1, time.Minute) // Close cuts it short
		}},
		{name: "token answer dropped once", cold: true, fault: func(srv *kefutest.Server, _ string) { srv.DropNext(kefutest.PathStableToken, 1) }},
		{name: "token answer dropped always", cold: true, fault: func(srv *kefutest.Server, _ string) { srv.DropNext(kefutest.PathStableToken, always) }},
		{name: "token HTML 500 echoing the secret", cold: true, fault: func(srv *kefutest.Server, _ string) {
			srv.RawNext(kefutest.PathStableToken, 1, 500, []byte(`<html>upstream failed: secret=`+srv.AppSecret+
				` body {"secret":"`+srv.AppSecret+`"} `+srv.AppSecret+`</html>`))
		}},
	}
	want := map[string][2]faultWant{}
	set := func(name string, w [2]faultWant) { want[name] = w }
	// Warm rows: one token call before the send.
	set("errcode -1 once", same(faultWant{"nil", 2, 1, 1}))
	set("errcode -1 twice", same(faultWant{"nil", 3, 1, 1}))
	set("errcode -1 always", same(faultWant{"ErrSystemBusy (-1)", 3, 0, 1}))
	set("errcode 45015", same(faultWant{"ErrOutsideWindow (45015)", 1, 0, 1}))
	set("errcode 45047", same(faultWant{"ErrQuotaExceeded (45047)", 1, 0, 1}))
	set("errcode 45009", same(faultWant{"ErrRateLimited (45009)", 1, 0, 1}))
	set("errcode 45011", same(faultWant{"ErrRateLimited (45011)", 1, 0, 1}))
	// The stable endpoint hands back the rejected token (FailNext did not
	// kill it), so the source forces a refresh: 3 token calls.
	set("errcode 40001 once", same(faultWant{"nil", 2, 1, 3}))
	set("errcode 40001 always", same(faultWant{"ErrInvalidToken (40001)", 2, 0, 3}))
	set("errcode 40003", same(faultWant{"ErrInvalidOpenID (40003)", 1, 0, 1}))
	set("errcode 40007", same(faultWant{"ErrInvalidMedia (40007)", 1, 0, 1}))
	set("HTTP 502 HTML", differ(faultWant{"ErrDeliveryUnknown", 1, 0, 1}, faultWant{"nil", 2, 1, 1}))
	set("HTTP 503 HTML", same(faultWant{"nil", 2, 1, 1}))
	set("HTTP 504 HTML", differ(faultWant{"ErrDeliveryUnknown", 1, 0, 1}, faultWant{"nil", 2, 1, 1}))
	set("HTTP 429 HTML", same(faultWant{"nil", 2, 1, 1}))
	set("connection refused", same(faultWant{"not sent: ECONNREFUSED", 0, 0, 1}))
	set("dropped after accepting", differ(faultWant{"ErrDeliveryUnknown", 1, 1, 1}, faultWant{"nil", 2, 2, 1}))
	set("answer after the deadline", same(faultWant{"ErrDeliveryUnknown+DeadlineExceeded", 1, 1, 1}))
	set("errmsg with line breaks", same(faultWant{"ErrOutsideWindow (45015)", 1, 0, 1}))
	set("HTML page with line breaks", differ(faultWant{"ErrDeliveryUnknown", 1, 0, 1}, faultWant{"nil", 2, 1, 1}))
	for _, name := range []string{"truncated JSON", "not JSON", "JSON of another shape", "10 MiB answer", "invalid UTF-8"} {
		set(name, differ(faultWant{"ErrDeliveryUnknown", 1, 0, 1}, faultWant{"nil", 2, 1, 1}))
	}
	// Cold rows: the token endpoint fails on the send's first token fetch.
	set("token -1 once", same(faultWant{"nil", 1, 1, 2}))
	set("token -1 always", same(faultWant{"ErrSystemBusy (-1)", 0, 0, 3}))
	set("token 40125", same(faultWant{"ErrBadCredentials (40125)", 0, 0, 1}))
	set("token 40164", same(faultWant{"ErrUnauthorized (40164)", 0, 0, 1}))
	set("token timeout", same(faultWant{"DeadlineExceeded", 0, 0, 1}))
	// A token fetch whose answer is lost is retried whatever the policy: it
	// delivers nothing to a user.
	set("token HTML 500 echoing the secret", same(faultWant{"nil", 1, 1, 2}))
	set("token answer dropped once", same(faultWant{"nil", 1, 1, 2}))
	// Nothing reached the send endpoint: not a delivery unknown.
	set("token answer dropped always", same(faultWant{"not sent", 0, 0, 3}))
	for i := range rows {
		w, ok := want[rows[i].name]
		if !ok {
			panic("no expectation for " + rows[i].name)
		}
		rows[i].def, rows[i].unknown = w[0], w[1]
		delete(want, rows[i].name)
	}
	if len(want) > 0 {
		panic(fmt.Sprintf("expectations without a row: %v", want))
	}
	return rows
}

// faultResult is what one row did under one policy.
type faultResult struct {
	row, policy string
	got         faultWant
	took        time.Duration
	tries       int    // send attempts the client logged (it sees those WeChat never saw)
	alloc       uint64 // bytes allocated during the send (10 MiB row only)
}

// runFault runs row under policy p on a fresh server and returns what
// happened, the secrets the server knows (every token it issued, the app
// secret), every string that must not hold them (the error's renderings and
// the log output), and the error Send returned.
func runFault(t *testing.T, row faultRow, p kefu.RetryPolicy) (res faultResult, secrets, shown []string, sendErr error) {
	t.Helper()
	srv := kefutest.NewServer()
	defer srv.Close()
	srv.Interact(faultUser, kefutest.Payment)

	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := []kefu.Option{kefu.WithRetry(p), kefu.WithLogger(logger)}
	ts := srv.TokenSource(opts...)
	c, err := kefu.NewClient(ts, append([]kefu.Option{kefu.WithBaseURL(srv.URL)}, opts...)...)
	require.NoError(t, err)
	defer c.CloseIdleConnections()

	tok := ""
	if !row.cold {
		tok, err = ts.Token(context.Background())
		require.NoError(t, err)
	}
	row.fault(srv, tok)
	if row.closed {
		srv.Close()
	}

	// No row may hang: those without a deadline of their own get a far one.
	timeout := 20 * time.Second
	if row.deadline {
		timeout = faultDeadline
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	msg := kefu.NewText(faultUser, "fault matrix: "+row.name)
	var before, after runtime.MemStats
	big := row.name == "10 MiB answer"
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
	res = faultResult{row: row.name, took: took, got: faultWant{
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
	policies := []struct {
		name string
		p    kefu.RetryPolicy
	}{
		{"default", kefutest.FastRetry()},
		{"RetryUnknown", func() kefu.RetryPolicy { p := kefutest.FastRetry(); p.RetryUnknown = true; return p }()},
	}
	var results []faultResult
	for _, row := range faultRows() {
		for _, pol := range policies {
			want := row.def
			if pol.p.RetryUnknown {
				want = row.unknown
			}
			t.Run(row.name+"/"+pol.name, func(t *testing.T) {
				res, secrets, shown, err := runFault(t, row, pol.p)
				res.policy = pol.name
				results = append(results, res)

				assert.Equal(t, want, res.got, "error: %v", err)
				if !pol.p.RetryUnknown {
					assert.LessOrEqual(t, res.got.copies, 1, "never two copies under the default policy")
					assert.Equal(t, row.lost, strings.HasPrefix(res.got.class, "ErrDeliveryUnknown"),
						"ErrDeliveryUnknown exactly when the answer was lost")
				}
				if res.got.class == "nil" {
					assert.Positive(t, res.got.copies, "a success is delivered")
				}
				if row.deadline {
					assert.Less(t, res.took, faultDeadline+deadlineMargin, "returns within its deadline plus a margin")
				}
				if res.alloc > 0 {
					assert.Less(t, res.alloc, uint64(3<<20), "an over-long answer costs bounded memory")
				}
				if row.closed {
					assert.Equal(t, pol.p.MaxAttempts, res.tries, "a refused connection is retried: nothing was sent")
				} else {
					assert.Equal(t, res.got.attempts, res.tries, "the client logs every attempt WeChat saw")
				}
				var re *kefu.RequestError
				if errors.As(err, &re) {
					assert.NotContains(t, re.URL, "?", "a RequestError's URL has no query")
				}
				var te *kefu.TokenError
				if err != nil && res.got.attempts == 0 && !row.closed {
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
