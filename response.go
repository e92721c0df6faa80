package kefu

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Response is WeChat's answer to a successful call: errcode 0, errmsg "ok",
// and for some calls a msgid.
type Response struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
	MsgID   int64  `json:"msgid,omitempty"`
}

// noCode marks an errcode field that the answer did not contain.
const noCode = -1 << 31

func (r *Response) reset() { *r = Response{ErrCode: noCode} }

func (r *Response) setOK() bool {
	*r = Response{ErrMsg: "ok"}
	return true
}

func (r *Response) result() (code int, msg string, ok bool) {
	return r.ErrCode, r.ErrMsg, r.ErrCode != noCode
}

// answer is a decoded WeChat JSON answer.
type answer interface {
	// reset prepares the answer for decoding.
	reset()
	// result returns errcode and errmsg, and whether the JSON had WeChat's shape.
	result() (code int, msg string, ok bool)
	// setOK fills the answer for okAnswer without decoding, if it can.
	setOK() bool
}

// okAnswer is WeChat's usual success answer, recognised without decoding.
const okAnswer = `{"errcode":0,"errmsg":"ok"}`

// maxAnswer is the largest answer read; WeChat's answers to these calls are
// a few hundred bytes.
const maxAnswer = 1 << 20

// snippetLen is how much of an answer that is not WeChat JSON an error quotes.
const snippetLen = 120

var answerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// readAnswerMax reads at most limit+1 bytes of r (maxAnswer, or more for
// message record pages, which run to megabytes) into a pooled buffer. over
// is true when the answer was longer than limit. Put the buffer back with
// releaseAnswer. It reads at most limit+1 bytes: its
// buffer grows by doubling up to limit+1, so an over-long answer costs
// about 2*limit however long it is.
func readAnswerMax(r io.Reader, limit int) (buf *[]byte, over bool, err error) {
	buf = answerBufs.Get().(*[]byte)
	b := (*buf)[:0]
	for {
		if len(b) == cap(b) {
			c := max(2*cap(b), 1024)
			if c >= limit {
				c = limit + 1
			}
			nb := make([]byte, len(b), c)
			copy(nb, b)
			b = nb
		}
		n, rerr := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if len(b) > limit {
			over = true
			break
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	*buf = b
	return buf, over, err
}

func releaseAnswer(buf *[]byte) {
	if cap(*buf) <= 64<<10 {
		*buf = (*buf)[:0]
		answerBufs.Put(buf)
	}
}

// outcome says what one attempt achieved, and so whether it may be retried.
type outcome uint8

const (
	outDone         outcome = iota // WeChat JSON, errcode 0
	outAPIError                    // WeChat JSON, errcode != 0: *APIError
	outNotProcessed                // non-JSON 4xx: not processed, not retried
	outRetryable                   // non-JSON 429/503: not processed, retried
	outNotSent                     // failed before the request was written: retried
	outUnknown                     // may have been processed
)

// classify decodes an answer body into out and classifies it; over says the
// answer was longer than limit bytes. secrets are scrubbed from anything
// quoted in the error.
func classify(path string, status int, body []byte, over bool, limit int, out answer, secrets []string) (outcome, error) {
	problem := ""
	switch {
	case over:
		problem = "answer larger than " + strconv.Itoa(limit>>20) + " MiB"
	case !utf8.Valid(body):
		problem = "answer is not valid UTF-8"
	case string(body) == okAnswer && out.setOK():
		return outDone, nil
	default:
		out.reset()
		if err := json.Unmarshal(body, out); err != nil {
			problem = "answer is not JSON"
		} else if code, msg, ok := out.result(); !ok {
			problem = "answer is JSON but not WeChat's"
		} else if code != 0 {
			return outAPIError, newAPIError(path, code, scrub(msg, secrets...))
		} else {
			return outDone, nil
		}
	}
	e := &HTTPError{Path: path, StatusCode: status, Problem: problem, Snippet: snippet(body, secrets)}
	switch {
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		return outRetryable, e
	case status >= 400 && status < 500:
		return outNotProcessed, e
	case isRedirect(status):
		// A front server sent the request elsewhere before WeChat saw it.
		e.Problem = "redirect not followed (" + problem + ")"
		return outNotProcessed, e
	}
	e.MaybeDelivered = true
	return outUnknown, e
}

// isRedirect reports the statuses that send a request elsewhere unprocessed.
// kefu's own transport never follows them: a message is never POSTed again
// to a place the caller did not choose. (303 See Other follows processing.)
func isRedirect(status int) bool {
	return status == http.StatusMovedPermanently || status == http.StatusFound ||
		status == http.StatusTemporaryRedirect || status == http.StatusPermanentRedirect
}

// snippetScan is how much of an answer snippet scrubs and quotes from:
// far more than snippetLen plus the longest secret (tokens are at most 512
// bytes), far less than an over-long answer.
const snippetScan = 4 << 10

// snippet returns the start of an answer, scrubbed (the whole answer, or its
// first snippetScan bytes, so no cut can leave part of a secret behind) and
// cut on a rune boundary.
func snippet(body []byte, secrets []string) string {
	cut := len(body) > snippetScan
	if cut {
		body = body[:snippetScan]
	}
	out := strings.ToValidUTF8(scrub(string(body), secrets...), "\uFFFD")
	if cut {
		// A secret split by the cut was not scrubbed: its start is in the
		// last bytes. Drop them: scrubbing turns a byte into at most 3.
		drop := 0
		for _, s := range secrets {
			drop = max(drop, 3*len(s))
		}
		out = out[:max(0, len(out)-drop)]
	}
	if len(out) > snippetLen || cut {
		n := min(len(out), snippetLen)
		for n > 0 && n < len(out) && !utf8.RuneStart(out[n]) {
			n--
		}
		out = strings.ToValidUTF8(out[:n], "") + "..."
	}
	return out
}

// status is the errcode and errmsg of an answer that carries data and
// holds them only on errors (lists, uploads). Embedded, it gives the answer
// its setOK: such an answer is never the plain okAnswer.
type status struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// noStatus is a status before decoding.
var noStatus = status{ErrCode: noCode}

func (s *status) setOK() bool { return false }

// answered is result for an answer with a status: WeChat's errcode if the
// answer held one, else success if the answer held its data (has).
func (s *status) answered(has bool) (code int, msg string, ok bool) {
	if s.ErrCode != noCode {
		return s.ErrCode, s.ErrMsg, true
	}
	return 0, "", has
}
