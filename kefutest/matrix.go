package kefutest

import (
	"context"
	"strings"
	"syscall"
	"time"

	"github.com/kefu-go/kefu"
)

// The fault matrix: every fault the server can script, applied to one Send,
// with what the send must end with. kefu's own tests run it, and so do the
// tests of modules built on kefu's hooks (kefuotel), so that they all agree
// on what each fault does.

// FaultUser is the recipient of every send of the fault matrix. Before a
// row's Setup, the server must have seen it pay (Interact(FaultUser,
// Payment)): its window is open and unlimited.
const FaultUser = "o-fault-user"

// FaultDeadline is the context deadline of the rows with Deadline set.
const FaultDeadline = 100 * time.Millisecond

// FaultCase is one row of the fault matrix. To run it:
//
//  1. start a new Server and Interact(FaultUser, Payment);
//  2. build a token source and a client on it with
//     kefu.WithRetry(FaultPolicy(false)) (Want) or FaultPolicy(true)
//     (WantRetryUnknown);
//  3. unless Cold, fetch a token from the source (the server then has
//     issued exactly one);
//  4. call Setup;
//  5. Send a text to FaultUser, under a FaultDeadline context when Deadline
//     is set;
//  6. Close the server (it waits for requests in flight, so its counts are
//     final) and compare with the outcome.
type FaultCase struct {
	Name string
	// Cold rows fault the token endpoint (PathStableToken): the client's
	// token source must start cold, so the send's first token fetch meets
	// the fault.
	Cold bool
	// Closed rows close the server in Setup: the connection is refused and
	// WeChat sees nothing of the attempts the client makes.
	Closed bool
	// Deadline rows run the send under a FaultDeadline context.
	Deadline bool
	// Lost rows lose WeChat's answer to a send: under the default policy
	// the client cannot know whether the message was delivered.
	Lost bool
	// Setup scripts the fault on srv. Rows whose answers echo the access
	// token (as careless proxies do) take it from srv.IssuedTokens.
	Setup func(srv *Server)
	// Want is the outcome under FastRetry(); WantRetryUnknown the outcome
	// under FastRetry() with RetryUnknown set.
	Want, WantRetryUnknown FaultOutcome
}

// FaultPolicy is the retry policy of the fault matrix: FastRetry(), with
// RetryUnknown set to retryUnknown.
func FaultPolicy(retryUnknown bool) kefu.RetryPolicy {
	p := FastRetry()
	p.RetryUnknown = retryUnknown
	return p
}

// Outcome returns Want, or WantRetryUnknown when retryUnknown is set.
func (c FaultCase) Outcome(retryUnknown bool) FaultOutcome {
	if retryUnknown {
		return c.WantRetryUnknown
	}
	return c.Want
}

// FaultOutcome is what a row's send ends with under one retry policy: what
// the caller of Send can tell, what kefu's hooks report and what the server
// saw.
type FaultOutcome struct {
	// Class is the call's class as kefu.Hooks report it (CallEnd.Class).
	Class kefu.ResultClass
	// Errs are what Send's error matches with errors.Is: one of kefu's
	// sentinels (with ErrCode), kefu.ErrDeliveryUnknown,
	// context.DeadlineExceeded, syscall.ECONNREFUSED. Empty when Class is
	// kefu.ResultOK, or when the error matches none of them (a token fetch
	// whose every answer was lost: nothing was sent).
	Errs []error
	// ErrCode is the errcode of the *kefu.APIError in Send's error (and
	// CallEnd.ErrCode); 0 when there is none.
	ErrCode int
	// Attempts is how many attempts the client made at PathSend
	// (CallEnd.Attempts): SendCalls, but for a refused connection, which
	// the server never sees.
	Attempts int
	// SendCalls and TokenCalls are the server's Calls on PathSend and
	// PathStableToken; Copies is len(Messages(FaultUser)).
	SendCalls, Copies, TokenCalls int
}

// always is more faults than any policy makes attempts.
const always = 100

// bigAnswer is the size of the over-long answer.
const bigAnswer = 10 << 20

// FaultCases returns the fault matrix, a new copy on each call.
func FaultCases() []FaultCase {
	var rows []FaultCase
	rows = append(rows, sendCodeCases()...)
	rows = append(rows, transportCases()...)
	rows = append(rows, answerCases()...)
	return append(rows, tokenCases()...)
}

// sendCodeCases are the send endpoint's errcodes. Warm rows: one token call
// before the send.
func sendCodeCases() []FaultCase {
	return []FaultCase{
		same("errcode -1 once", failNext(PathSend, 1, -1), delivered(2, 1, 1)),
		same("errcode -1 twice", failNext(PathSend, 2, -1), delivered(3, 1, 1)),
		same("errcode -1 always", failNext(PathSend, always, -1), refusedBy(kefu.ErrSystemBusy, -1, 3, 1)),
		same("errcode 45015", failNext(PathSend, 1, 45015), refusedBy(kefu.ErrOutsideWindow, 45015, 1, 1)),
		same("errcode 45047", failNext(PathSend, 1, 45047), refusedBy(kefu.ErrQuotaExceeded, 45047, 1, 1)),
		same("errcode 45009", failNext(PathSend, 1, 45009), refusedBy(kefu.ErrRateLimited, 45009, 1, 1)),
		same("errcode 45011", failNext(PathSend, 1, 45011), refusedBy(kefu.ErrRateLimited, 45011, 1, 1)),
		// The stable endpoint hands back the rejected token (FailNext did
		// not kill it), so the source forces a refresh: 3 token calls.
		same("errcode 40001 once", failNext(PathSend, 1, 40001), delivered(2, 1, 3)),
		same("errcode 40001 always", failNext(PathSend, always, 40001), refusedBy(kefu.ErrInvalidToken, 40001, 2, 3)),
		same("errcode 40003", failNext(PathSend, 1, 40003), refusedBy(kefu.ErrInvalidOpenID, 40003, 1, 1)),
		same("errcode 40007", failNext(PathSend, 1, 40007), refusedBy(kefu.ErrInvalidMedia, 40007, 1, 1)),
	}
}

// transportCases are HTTP statuses, connections and deadlines.
func transportCases() []FaultCase {
	// A refused connection never carried the request: not sent.
	connRefused := FaultOutcome{Class: kefu.ResultNotSent, Errs: []error{syscall.ECONNREFUSED}, Attempts: 3, TokenCalls: 1}
	afterDeadline := FaultOutcome{Class: kefu.ResultUnknown, Errs: []error{kefu.ErrDeliveryUnknown, context.DeadlineExceeded},
		Attempts: 1, SendCalls: 1, Copies: 1, TokenCalls: 1}
	rows := []FaultCase{
		lost("HTTP 502 HTML", statusNext(502), answerLost(0), delivered(2, 1, 1)),
		same("HTTP 503 HTML", statusNext(503), delivered(2, 1, 1)),
		lost("HTTP 504 HTML", statusNext(504), answerLost(0), delivered(2, 1, 1)),
		same("HTTP 429 HTML", statusNext(429), delivered(2, 1, 1)),
		closed(same("connection refused", func(srv *Server) { srv.Close() }, connRefused)),
		lost("dropped after accepting", func(srv *Server) { srv.DropNext(PathSend, 1) }, answerLost(1), delivered(2, 2, 1)),
		deadline(lost("answer after the deadline", func(srv *Server) {
			srv.DelayNext(PathSend, 1, time.Minute) // Close cuts it short
		}, afterDeadline, afterDeadline)),
	}
	return rows
}

// answerCases are answers that are not what WeChat answers.
func answerCases() []FaultCase {
	return []FaultCase{
		lost("truncated JSON", rawSend(func(tok string) string {
			return `{"errcode":0,"errmsg":"ok for access_token=` + tok + ` (` + tok
		}), answerLost(0), delivered(2, 1, 1)),
		lost("not JSON", rawSend(func(tok string) string {
			return "<html><body>OK " + tok + "</body></html>"
		}), answerLost(0), delivered(2, 1, 1)),
		lost("JSON of another shape", rawSend(func(tok string) string {
			return `{"code":0,"message":"success","access_token":"` + tok + `","echo":"` + tok + `"}`
		}), answerLost(0), delivered(2, 1, 1)),
		lost("10 MiB answer", rawSend(func(tok string) string {
			return `{"errcode":0,"errmsg":"` + tok + strings.Repeat("x", bigAnswer) + `"}`
		}), answerLost(0), delivered(2, 1, 1)),
		same("errmsg with line breaks", rawSend(func(string) string {
			return `{"errcode":45015,"errmsg":"out of time\n2026/11/30 FORGED log record\r\n\u001b[2J rid: 1-2\n3"}`
		}), refusedBy(kefu.ErrOutsideWindow, 45015, 1, 1)),
		lost("HTML page with line breaks", func(srv *Server) {
			srv.RawNext(PathSend, 1, 502, []byte("<html>\r\nbad gateway\n2026/11/30 FORGED log record\u2028</html>"))
		}, answerLost(0), delivered(2, 1, 1)),
		lost("invalid UTF-8", rawSend(func(tok string) string {
			return "{\"errcode\":0,\"errmsg\":\"ok \xff\xfe " + tok + "\"}"
		}), answerLost(0), delivered(2, 1, 1)),
	}
}

// tokenCases fault the token endpoint on the send's first token fetch.
func tokenCases() []FaultCase {
	tokenRefused := func(err error, code, tokens int) FaultOutcome {
		return FaultOutcome{Class: kefu.ResultRefused, Errs: []error{err}, ErrCode: code, TokenCalls: tokens}
	}
	rows := []FaultCase{
		same("token -1 once", failNext(PathStableToken, 1, -1), delivered(1, 1, 2)),
		same("token -1 always", failNext(PathStableToken, always, -1), tokenRefused(kefu.ErrSystemBusy, -1, 3)),
		same("token 40125", failNext(PathStableToken, 1, 40125), tokenRefused(kefu.ErrBadCredentials, 40125, 1)),
		same("token 40164", failNext(PathStableToken, 1, 40164), tokenRefused(kefu.ErrUnauthorized, 40164, 1)),
		deadline(same("token timeout", func(srv *Server) {
			srv.DelayNext(PathStableToken, 1, time.Minute) // Close cuts it short
		}, FaultOutcome{Class: kefu.ResultNotSent, Errs: []error{context.DeadlineExceeded}, TokenCalls: 1})),
		// A token fetch whose answer is lost is retried whatever the
		// policy: it delivers nothing to a user.
		same("token answer dropped once", func(srv *Server) { srv.DropNext(PathStableToken, 1) }, delivered(1, 1, 2)),
		// Nothing reached the send endpoint: not a delivery unknown.
		same("token answer dropped always", func(srv *Server) { srv.DropNext(PathStableToken, always) },
			FaultOutcome{Class: kefu.ResultNotSent, TokenCalls: 3}),
		same("token HTML 500 echoing the secret", func(srv *Server) {
			srv.RawNext(PathStableToken, 1, 500, []byte(`<html>upstream failed: secret=`+srv.AppSecret+
				` body {"secret":"`+srv.AppSecret+`"} `+srv.AppSecret+`</html>`))
		}, delivered(1, 1, 2)),
	}
	for i := range rows {
		rows[i].Cold = true
	}
	return rows
}

// same is a row whose outcome does not depend on RetryUnknown.
func same(name string, setup func(*Server), want FaultOutcome) FaultCase {
	return FaultCase{Name: name, Setup: setup, Want: want, WantRetryUnknown: want}
}

// closed marks a row whose setup closes the server.
func closed(c FaultCase) FaultCase { c.Closed = true; return c }

// deadline marks a row that ends at the caller's deadline.
func deadline(c FaultCase) FaultCase { c.Deadline = true; return c }

// lost is a row that loses WeChat's answer to a send.
func lost(name string, setup func(*Server), want, retryUnknown FaultOutcome) FaultCase {
	return FaultCase{Name: name, Lost: true, Setup: setup, Want: want, WantRetryUnknown: retryUnknown}
}

// delivered is a success after sends calls to PathSend.
func delivered(sends, copies, tokens int) FaultOutcome {
	return FaultOutcome{Class: kefu.ResultOK, Attempts: sends, SendCalls: sends, Copies: copies, TokenCalls: tokens}
}

// refusedBy is WeChat's errcode on the send endpoint, after sends calls.
func refusedBy(err error, code, sends, tokens int) FaultOutcome {
	return FaultOutcome{Class: kefu.ResultRefused, Errs: []error{err}, ErrCode: code, Attempts: sends, SendCalls: sends, TokenCalls: tokens}
}

// answerLost is a send whose one answer was lost: copies is 1 when the
// server acted before losing it.
func answerLost(copies int) FaultOutcome {
	return FaultOutcome{Class: kefu.ResultUnknown, Errs: []error{kefu.ErrDeliveryUnknown}, Attempts: 1, SendCalls: 1, Copies: copies, TokenCalls: 1}
}

func failNext(path string, n, code int) func(*Server) {
	return func(srv *Server) { srv.FailNext(path, n, code) }
}

func statusNext(status int) func(*Server) {
	return func(srv *Server) { srv.StatusNext(PathSend, 1, status) }
}

// rawSend answers the next send with body(the issued token).
func rawSend(body func(tok string) string) func(*Server) {
	return func(srv *Server) {
		tok := ""
		if issued := srv.IssuedTokens(); len(issued) > 0 {
			tok = issued[len(issued)-1]
		}
		srv.RawNext(PathSend, 1, 200, []byte(body(tok)))
	}
}
