package kefu

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maxSnippet is the longest Snippet an HTTPError may carry: snippetLen bytes
// cut on a rune boundary, then "...".
const maxSnippet = snippetLen + len("...")

// fuzzAlphabet is what the fuzzed token and secret are made of: letters that
// are not in "REDACTED" and that strconv.Quote never writes in an escape
// (\x, \u, \U, \n, \t... use lowercase letters, digits and U), so a secret
// found in an error string came from the answer itself.
const fuzzAlphabet = "BFGHIJKLMNOPQSVWYZ"

// fuzzSecret maps fuzz bytes to a secret of 12 to 64 letters of fuzzAlphabet.
func fuzzSecret(bits []byte, pad string) string {
	if len(bits) < 12 {
		bits = append(append([]byte(nil), bits...), pad[:12-len(bits)]...)
	}
	if len(bits) > 64 {
		bits = bits[:64]
	}
	b := make([]byte, len(bits))
	for i, c := range bits {
		b[i] = fuzzAlphabet[int(c)%len(fuzzAlphabet)]
	}
	return string(b)
}

// insertAt returns body with s inserted at offset at (modulo its length + 1).
func insertAt(body []byte, at int, s string) []byte {
	k := at % (len(body) + 1)
	out := make([]byte, 0, len(body)+len(s))
	out = append(out, body[:k]...)
	out = append(out, s...)
	return append(out, body[k:]...)
}

// refAnswer is the reference decoding of a send answer's data.
type refAnswer struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
	MsgID   int64  `json:"msgid"`
}

// wechatCode decodes body as a WeChat answer: its errcode, and whether the
// body is one: valid UTF-8, JSON whose errcode and errmsg decode, with an
// errcode; a success (errcode 0) must decode whole into the send answer.
func wechatCode(body []byte) (int, bool) {
	if !utf8.Valid(body) {
		return 0, false
	}
	var head struct {
		ErrCode *int   `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if json.Unmarshal(body, &head) != nil || head.ErrCode == nil {
		return 0, false
	}
	if *head.ErrCode == 0 && json.Unmarshal(body, new(refAnswer)) != nil {
		return 0, false
	}
	return *head.ErrCode, true
}

// readAnswer reads an answer under the default bound, as Send does.
func readAnswer(r io.Reader) (buf *[]byte, over bool, err error) {
	return readAnswerMax(r, maxAnswer)
}

// checkClassify checks one classify of a send answer.
func checkClassify(t *testing.T, status int, body []byte, over bool, secrets []string) {
	t.Helper()
	var out Response
	oc, err := classify(&request{path: sendPath, out: &out}, status, body, over, maxAnswer, secrets)
	require.LessOrEqual(t, int(oc), int(outUnknown), "unknown outcome %d", oc)
	code, wechat := wechatCode(body)
	wechat = wechat && !over

	switch oc {
	case outDone:
		require.NoError(t, err)
		require.True(t, wechat, "outDone for an answer that is not WeChat JSON: %q", body)
		require.Zero(t, code, "outDone for errcode %d: %q", code, body)
		require.Zero(t, out.ErrCode)
	case outAPIError:
		var ae *APIError
		require.ErrorAs(t, err, &ae)
		require.True(t, wechat, "an APIError from an answer that is not WeChat JSON: %q", body)
		require.Equal(t, code, ae.Code)
		require.NotZero(t, ae.Code)
		require.Equal(t, sendPath, ae.Path)
		require.False(t, errors.Is(err, ErrDeliveryUnknown), "WeChat answered: the outcome is known")
	default:
		var he *HTTPError
		require.ErrorAs(t, err, &he, "%T", err)
		require.True(t, !wechat, "WeChat JSON %q classified as %d", body, oc)
		require.Equal(t, status, he.StatusCode)
		require.Equal(t, sendPath, he.Path)
		require.NotEmpty(t, he.Problem)
		require.LessOrEqual(t, len(he.Snippet), maxSnippet, "snippet too long: %q", he.Snippet)
		require.True(t, utf8.ValidString(he.Snippet), "snippet not UTF-8: %q", he.Snippet)
		switch {
		case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
			require.Equal(t, outRetryable, oc)
		case status >= 400 && status < 500 || isRedirect(status):
			require.Equal(t, outNotProcessed, oc)
		default:
			require.Equal(t, outUnknown, oc)
		}
		require.Equal(t, oc == outUnknown, he.MaybeDelivered)
		require.Equal(t, oc == outUnknown, errors.Is(err, ErrDeliveryUnknown))
	}
	if wechat {
		if code == 0 {
			require.Equal(t, outDone, oc, "WeChat's success %q not recognised", body)
		} else {
			require.Equal(t, outAPIError, oc, "WeChat's errcode %d in %q not recognised", code, body)
		}
	}
	if err != nil {
		checkNoSecret(t, err, secrets)
	}
}

// checkNoSecret checks that no secret shows in err, however it is printed.
func checkNoSecret(t *testing.T, err error, secrets []string) {
	t.Helper()
	for _, shown := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		for _, s := range secrets {
			require.NotContains(t, shown, s, "a secret leaked into the error")
		}
	}
}

// fuzzStatuses are the statuses every fuzzed body is also classified with.
var fuzzStatuses = []int{200, 429, 503, 404, 502, 307}

// repeatReader reads n bytes of b repeated ('x' if b is empty).
type repeatReader struct {
	b    []byte
	n, i int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.i >= r.n {
		return 0, io.EOF
	}
	if len(r.b) == 0 {
		r.b = []byte("x")
	}
	k := 0
	for k < len(p) && r.i < r.n {
		c := copy(p[k:], r.b[r.i%len(r.b):])
		c = min(c, r.n-r.i)
		k += c
		r.i += c
	}
	return k, nil
}

// checkReadAnswer reads data through readAnswer and checks what it kept.
func checkReadAnswer(t *testing.T, r io.Reader, data func() []byte, size int) {
	t.Helper()
	buf, over, err := readAnswer(r)
	defer releaseAnswer(buf)
	require.NoError(t, err)
	require.Equal(t, size > maxAnswer, over, "over for %d bytes", size)
	if !over {
		require.Equal(t, size, len(*buf))
		require.True(t, bytes.Equal(data(), *buf), "readAnswer changed the answer")
		return
	}
	require.Greater(t, len(*buf), maxAnswer)
	require.True(t, bytes.Equal(data()[:len(*buf)], *buf), "readAnswer kept something else than the answer's start")
	require.LessOrEqual(t, len(*buf), maxAnswer+1, "readAnswer keeps at most 1 MiB + 1")
}

// FuzzClassify feeds arbitrary answers and statuses to classify (after
// inserting a token and a secret into them) and to readAnswer, and checks
// that nothing panics and that the outcome is consistent: outDone only for
// WeChat JSON with errcode 0, an *APIError only for WeChat JSON with another
// errcode, otherwise an *HTTPError whose outcome follows the status, whose
// snippet is short, and whose text holds neither the token nor the secret.
func FuzzClassify(f *testing.F) {
	seeds := []string{
		okAnswer,
		`{"errcode":0,"errmsg":"ok","msgid":1234567890123}`,
		`{"errcode":-1,"errmsg":"system error rid: 6540f3a8-1b2c3d4e-5f6a7b8c"}`,
		`{"errcode":40001,"errmsg":"invalid credential, access_token is invalid or not latest rid: 6540f3a8-1b2c3d4e-5f6a7b8c"}`,
		`{"errcode":45015,"errmsg":"response out of time limit or subscription is canceled rid: 6540f3a8-1b2c3d4e-5f6a7b8c"}`,
		`{"errcode":45047,"errmsg":"out of response count limit hint: [Aa1Bb2Cc3]"}`,
		`{"errcode":40164,"errmsg":"invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist rid: 1-2-3"}`,
		`{"errcode":40033,"errmsg":"invalid charset. please check your request, if include \\uxxxx will create fail! rid: 1"}`,
		`{"errcode":40125,"errmsg":"invalid appsecret, view more at http://t.cn/x?secret=S3CR3T&access_token=T0K3N rid: 2"}`,
		`{"access_token":"ACCESS_TOKEN","expires_in":7200}`,
		`{"errcode":0,"errmsg":"ok","access_token":"T","secret":"S"}`,
		"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
		`{"errcode":0,"errm`,
		`{"code":0,"message":"success"}`,
		`{"errcode":"0","errmsg":"ok"}`,
		`{"ERRCODE":0}`,
		`{"errcode":null}`,
		`{"errcode":-2147483648,"errmsg":"x"}`,
		"{\"errcode\":0,\"errmsg\":\"ok \xff\xfe\"}",
		`{"errcode":0,"errmsg":"\ud800 \u2028"}`,
		"null", "[]", "0", "", " ", "404 page not found\n",
		`GET /cgi-bin/message/custom/send?access_token=ACCESS_TOKEN HTTP/1.1`,
		strings.Repeat("é", 200),
	}
	for i, s := range seeds {
		f.Add([]byte(s), fuzzStatuses[i%len(fuzzStatuses)], uint16(i*37), []byte("token"), []byte("secret"))
	}
	f.Add([]byte(`{"errcode":40001,"errmsg":"x"}`), 200, uint16(25), []byte("AAAAAAAAAAAAAAAAAAAA"), []byte("B"))

	f.Fuzz(func(t *testing.T, body []byte, status int, at uint16, tokBits, secBits []byte) {
		// Each input runs classify a dozen times; large answers (the 1 MiB
		// cap and beyond) are TestOverlongAnswerIsBounded's and the fault
		// matrix's. Keeping inputs small keeps every execution short, so a
		// run never overshoots -fuzztime.
		if len(body) > 16<<10 {
			return
		}
		tok := fuzzSecret(tokBits, "tokentokentoken")
		sec := fuzzSecret(secBits, "secretsecretsecret")
		secrets := []string{tok, sec}
		withSecrets := insertAt(insertAt(body, int(at), tok), int(at)/7, sec)

		for _, b := range [][]byte{body, withSecrets} {
			checkClassify(t, status, b, false, secrets)
			for _, s := range fuzzStatuses {
				checkClassify(t, s, b, false, secrets)
			}
			checkClassify(t, status, b, true, secrets)

			// The token endpoints' answer: no panic, no secret in the error.
			var ta tokenAnswer
			tr := &request{path: stableTokenPath, out: &ta, hasData: func() bool { return ta.AccessToken != "" }}
			if _, err := classify(tr, status, b, false, maxAnswer, secrets); err != nil {
				checkNoSecret(t, err, secrets)
			}

			checkReadAnswer(t, bytes.NewReader(b), func() []byte { return b }, len(b))
			checkReadAnswer(t, iotest.OneByteReader(bytes.NewReader(b)), func() []byte { return b }, len(b))
		}

	})
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestOverlongAnswerIsBounded reads and classifies a 10 MiB answer as
// attempt does: kefu must read at most 1 MiB + 1 of it and allocate well
// under its size.
func TestOverlongAnswerIsBounded(t *testing.T) {
	const size = 10 << 20
	const tok = "TOKEN_overlong_0123456789abcdefghij"
	body := []byte(`{"errcode":0,"errmsg":"` + tok + strings.Repeat("x", size) + `"}`)
	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"bytes.Reader": func(r io.Reader) io.Reader { return r },
		"half reads":   iotest.HalfReader,
	} {
		src := &countingReader{r: wrap(bytes.NewReader(body))}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		buf, over, err := readAnswer(src)
		require.NoError(t, err)
		oc, cerr := classify(&request{path: sendPath, out: new(Response)}, 200, *buf, over, maxAnswer, []string{tok, ""})
		releaseAnswer(buf)
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc

		assert.True(t, over, name)
		assert.Equal(t, outUnknown, oc, name)
		assert.ErrorIs(t, cerr, ErrDeliveryUnknown, name)
		assert.NotContains(t, cerr.Error(), tok, name)
		var he *HTTPError
		require.ErrorAs(t, cerr, &he, name)
		assert.LessOrEqual(t, len(he.Snippet), maxSnippet, name)
		msg := fmt.Sprintf("%s: read %d bytes of a %d-byte answer, allocated %.2f MiB", name, src.n, len(body), float64(alloc)/(1<<20))
		t.Log(msg)
		assert.LessOrEqual(t, src.n, maxAnswer+1, "%s: reads at most 1 MiB + 1", name)
		assert.Less(t, alloc, uint64(3<<20), "%s: bounded memory", name)
	}
}

// TestReadAnswerReaders reads answers through readers that split, delay and
// fail their reads.
func TestReadAnswerReaders(t *testing.T) {
	t.Parallel()
	data := []byte(strings.Repeat(okAnswer, 100)) // over the pooled buffer's 1 KiB
	for name, r := range map[string]io.Reader{
		"one byte": iotest.OneByteReader(bytes.NewReader(data)),
		"half":     iotest.HalfReader(bytes.NewReader(data)),
		"data+EOF": iotest.DataErrReader(bytes.NewReader(data)),
	} {
		n := len(data)
		buf, over, err := readAnswer(r)
		assert.NoError(t, err, name)
		assert.False(t, over, name)
		assert.Len(t, *buf, n, name)
		releaseAnswer(buf)
	}
	// Answers of 1 MiB - 2 to 1 MiB + 2 bytes: over only past 1 MiB.
	for size := maxAnswer - 2; size <= maxAnswer+2; size++ {
		checkReadAnswer(t, &repeatReader{b: data, n: size}, func() []byte {
			var all bytes.Buffer
			io.Copy(&all, &repeatReader{b: data, n: size})
			return all.Bytes()
		}, size)
	}
	// A reader that fails midway: the error comes back, with what was read.
	boom := errors.New("connection reset by peer")
	buf, over, err := readAnswer(io.MultiReader(bytes.NewReader(data[:10]), iotest.ErrReader(boom)))
	assert.ErrorIs(t, err, boom)
	assert.False(t, over)
	assert.Equal(t, data[:10], *buf)
	releaseAnswer(buf)
	// A timeout after the first read.
	buf, _, err = readAnswer(iotest.TimeoutReader(iotest.OneByteReader(bytes.NewReader(data))))
	assert.ErrorIs(t, err, iotest.ErrTimeout)
	releaseAnswer(buf)
}

// TestSnippetHoldsNoPartOfASecret puts a token at every offset around the
// first few KiB of a long answer, after up to 8 copies of it (scrubbing
// them shortens the text), and checks that no piece of it reaches the
// snippet, however the answer is cut.
func TestSnippetHoldsNoPartOfASecret(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{12, 64, 512} {
		b := make([]byte, size)
		for i := range b {
			b[i] = fuzzAlphabet[rng.IntN(len(fuzzAlphabet))]
		}
		tok := string(b)
		piece := min(8, size)
		for _, copies := range []int{0, 1, 7, 8} {
			lead := strings.Repeat(tok, copies)
			for _, off := range offsetsAround(len(lead), size) {
				body := lead + strings.Repeat("x", off-len(lead)) + tok + strings.Repeat("y", 300)
				_, err := classify(&request{path: sendPath, out: new(Response)}, 502, []byte(body), false, maxAnswer, []string{tok, ""})
				var he *HTTPError
				require.ErrorAs(t, err, &he)
				for i := 0; i+piece <= size; i++ {
					if strings.Contains(he.Snippet, tok[i:i+piece]) {
						t.Fatalf("size %d, %d copies, offset %d: a piece of the token in %q", size, copies, off, he.Snippet)
					}
				}
				require.LessOrEqual(t, len(he.Snippet), maxSnippet)
			}
		}
	}
}

// offsetsAround returns offsets (at least min) where a secret of size bytes
// is cut by, or ends next to, the places an answer may be cut: the
// snippet's length and 1, 2, 4 and 8 KiB. Near each end of the range every
// offset; in between, every 13th.
func offsetsAround(min, size int) []int {
	var out []int
	seen := map[int]bool{}
	for _, cut := range []int{snippetLen, 1 << 10, 2 << 10, 4 << 10, 8 << 10} {
		lo, hi := cut-size-2, cut+2
		for off := lo; off <= hi; off++ {
			if off-lo > 12 && hi-off > 12 && (off-lo)%13 != 0 {
				continue
			}
			if off >= min && !seen[off] {
				seen[off] = true
				out = append(out, off)
			}
		}
	}
	return out
}
