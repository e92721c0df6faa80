package kefu

import (
	"io"
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
