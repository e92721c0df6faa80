package kefu

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
