package kefu_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// day0 is the frozen start of the management tests' server clocks.
var day0 = time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC)

// newKefu returns a frozen-clock kefutest server and a client wired to it.
func newKefu(t *testing.T, opts ...kefu.Option) (*kefutest.Server, *kefu.Client) {
	t.Helper()
	srv := kefutest.NewServer(kefutest.WithFrozenClock(day0))
	t.Cleanup(srv.Close)
	c := srv.Client(opts...)
	t.Cleanup(c.CloseIdleConnections)
	return srv, c
}

// validation asserts that err is one local validation error of field.
func validation(t *testing.T, err error, field string) {
	t.Helper()
	require.ErrorIs(t, err, kefu.ErrInvalidMessage)
	var ve *kefu.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, field, ve.Field, "%v", err)
}

// onlyReader hides every method of its reader but Read: a reader that can
// be read once, of unknown size.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// sizedReader is a one-shot reader that tells its size with Len.
type sizedReader struct {
	io.Reader
	n int
}

func (s *sizedReader) Len() int { return s.n }

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func fileOf(t *testing.T, name string, data []byte) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	f, err := os.Open(p)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

func TestUploadMediaKindsAndSend(t *testing.T) {
	t.Parallel()
	srv, c := newKefu(t)
	ctx := context.Background()
	srv.Interact("o-user", kefutest.Payment)

	img := bytes.Repeat([]byte("img"), 1000)
	voice := "ID3 voice bytes"
	video := bytes.Repeat([]byte{0, 1, 2}, 100_000)
	thumb := bytes.NewBufferString("thumb jpeg bytes")

	cases := []struct {
		kind kefu.MediaKind
		name string
		r    io.Reader
		sum  [32]byte
		size int
	}{
		{kefu.MediaImage, "photo.PNG", bytes.NewReader(img), sha256.Sum256(img), len(img)},
		{kefu.MediaVoice, "hello.mp3", strings.NewReader(voice), sha256.Sum256([]byte(voice)), len(voice)},
		{kefu.MediaVideo, "clip.mp4", fileOf(t, "clip.mp4", video), sha256.Sum256(video), len(video)},
		{kefu.MediaThumb, "/some/dir/cover.jpg", thumb, sha256.Sum256(thumb.Bytes()), thumb.Len()},
	}
	ids := map[kefu.MediaKind]string{}
	for _, tc := range cases {
		m, err := c.UploadMedia(ctx, tc.kind, tc.name, tc.r)
		require.NoError(t, err, tc.kind)
		assert.Equal(t, string(tc.kind), m.Type)
		assert.Len(t, m.MediaID, 64)
		assert.Equal(t, day0, m.CreatedAt.UTC())
		up, ok := srv.Uploaded(m.MediaID)
		require.True(t, ok)
		assert.Equal(t, string(tc.kind), up.Kind)
		assert.Equal(t, filepath.Base(tc.name), up.Filename, "a path is cut to its name")
		assert.EqualValues(t, tc.size, up.Size)
		assert.Equal(t, tc.sum, up.SHA256)
		ids[tc.kind] = m.MediaID
	}
	assert.Equal(t, 16, thumb.Len(), "a *bytes.Buffer is read without draining it")

	for _, m := range []*kefu.Message{
		kefu.NewImage("o-user", ids[kefu.MediaImage]),
		kefu.NewVoice("o-user", ids[kefu.MediaVoice]),
		kefu.NewVideo("o-user", kefu.Video{MediaID: ids[kefu.MediaVideo], ThumbMediaID: ids[kefu.MediaThumb]}),
	} {
		_, err := c.Send(ctx, m)
		require.NoError(t, err, m.MsgType)
	}
	_, err := c.Send(ctx, kefu.NewImage("o-user", ids[kefu.MediaVoice]))
	assert.ErrorIs(t, err, kefu.ErrInvalidMedia, "an id of another kind")

	srv.Advance(72*time.Hour - time.Second)
	srv.Interact("o-user", kefutest.Payment) // the first window closed after 48 h
	_, err = c.Send(ctx, kefu.NewImage("o-user", ids[kefu.MediaImage]))
	require.NoError(t, err, "still alive just before 3 days")
	srv.Advance(time.Second)
	_, err = c.Send(ctx, kefu.NewImage("o-user", ids[kefu.MediaImage]))
	assert.ErrorIs(t, err, kefu.ErrInvalidMedia, "expired after 3 days")
	assert.Equal(t, 40007, codeOf(t, err))
}

func codeOf(t *testing.T, err error) int {
	t.Helper()
	var ae *kefu.APIError
	require.ErrorAs(t, err, &ae)
	return ae.Code
}

func TestUploadMediaValidation(t *testing.T) {
	t.Parallel()
	srv, c := newKefu(t)
	ctx := context.Background()
	big := bytes.NewReader(make([]byte, 2<<20+1))
	cases := []struct {
		name     string
		kind     kefu.MediaKind
		filename string
		r        io.Reader
		field    string
	}{
		{"unknown kind", "gif", "a.gif", strings.NewReader("x"), "type"},
		{"empty filename", kefu.MediaImage, "", strings.NewReader("x"), "filename"},
		{"only a directory", kefu.MediaImage, "dir/", strings.NewReader("x"), "filename"},
		{"control character", kefu.MediaImage, "a\r\nb.png", strings.NewReader("x"), "filename"},
		{"image as bmp", kefu.MediaImage, "a.bmp", strings.NewReader("x"), "media"},
		{"no extension", kefu.MediaVoice, "voice", strings.NewReader("x"), "media"},
		{"thumb as png", kefu.MediaThumb, "a.png", strings.NewReader("x"), "media"},
		{"video as mov", kefu.MediaVideo, "a.mov", strings.NewReader("x"), "media"},
		{"image over 2 MB", kefu.MediaImage, "a.jpg", big, "media"},
		{"thumb over 64 KB", kefu.MediaThumb, "a.jpg", &sizedReader{zeros{}, 64<<10 + 1}, "media"},
		{"video over 10 MB", kefu.MediaVideo, "a.mp4", &sizedReader{zeros{}, 10<<20 + 1}, "media"},
		{"empty file", kefu.MediaImage, "a.jpg", bytes.NewReader(nil), "media"},
		{"nil reader", kefu.MediaImage, "a.jpg", nil, "media"},
	}
	for _, tc := range cases {
		_, err := c.UploadMedia(ctx, tc.kind, tc.filename, tc.r)
		validation(t, err, tc.field)
	}
	//lint:ignore SA1012 a nil context is what this checks
	_, err := c.UploadMedia(nil, kefu.MediaImage, "a.jpg", strings.NewReader("x"))
	require.ErrorIs(t, err, kefu.ErrInvalidMessage)
	_, err = c.UploadMedia(ctx, "gif", "a.txt", nil)
	assert.Len(t, err.(interface{ Unwrap() []error }).Unwrap(), 2, "every problem at once: %v", err)
	assert.Zero(t, srv.Calls(kefutest.PathMediaUpload), "nothing sent")

	_, err = c.UploadMedia(ctx, kefu.MediaImage, "at-limit.jpg", bytes.NewReader(make([]byte, 2<<20)))
	require.NoError(t, err, "2 MB exactly is allowed")
}

func TestUploadOfUnknownSizeStopsAtTheLimit(t *testing.T) {
	t.Parallel()
	srv, c := newKefu(t)
	_, err := c.UploadMedia(context.Background(), kefu.MediaThumb, "big.jpg", onlyReader{io.LimitReader(zeros{}, 1<<20)})
	validation(t, err, "media")
	assert.NotErrorIs(t, err, kefu.ErrDeliveryUnknown, "a cut-off upload was not delivered")
	assert.LessOrEqual(t, srv.Calls(kefutest.PathMediaUpload), 1)

	m, err := c.UploadMedia(context.Background(), kefu.MediaThumb, "small.jpg", onlyReader{strings.NewReader("tiny")})
	require.NoError(t, err, "a small reader of unknown size goes out chunked")
	up, _ := srv.Uploaded(m.MediaID)
	assert.EqualValues(t, 4, up.Size)
}

// TestUploadStreams uploads 8 MB from a reader that makes its bytes on the
// fly: the client must not hold them (nor the server, in the same process).
func TestUploadStreams(t *testing.T) {
	srv, c := newKefu(t)
	ctx := context.Background()
	_, err := c.UploadMedia(ctx, kefu.MediaVideo, "warm.mp4", strings.NewReader("warm up token and connection"))
	require.NoError(t, err)

	const size = 8 << 20
	for _, tc := range []struct {
		name string
		r    func() io.Reader
	}{
		{"one-shot reader with Len", func() io.Reader { return &sizedReader{io.LimitReader(zeros{}, size), size} }},
		{"file", func() io.Reader { return fileOf(t, "big.mp4", make([]byte, size)) }},
	} {
		r := tc.r()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m, err := c.UploadMedia(ctx, kefu.MediaVideo, "big.mp4", r)
		runtime.ReadMemStats(&after)
		require.NoError(t, err, tc.name)
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(2<<20), "%s: allocated %d bytes for an 8 MB upload", tc.name, after.TotalAlloc-before.TotalAlloc)
		up, _ := srv.Uploaded(m.MediaID)
		assert.EqualValues(t, size, up.Size, tc.name)
		assert.Equal(t, sha256.Sum256(make([]byte, size)), up.SHA256, tc.name)
	}
}

func TestUploadRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789"), 50_000) // 500 KB: more than any buffer on the way
	sum := sha256.Sum256(data)

	t.Run("a one-shot reader is attempted once", func(t *testing.T) {
		t.Parallel()
		srv, c := newKefu(t)
		srv.FailNext(kefutest.PathMediaUpload, 1, -1)
		_, err := c.UploadMedia(ctx, kefu.MediaImage, "a.jpg", onlyReader{bytes.NewReader(data)})
		require.ErrorIs(t, err, kefu.ErrSystemBusy)
		assert.Equal(t, 1, srv.Calls(kefutest.PathMediaUpload))
	})
	t.Run("a bytes.Reader is rewound and re-sent whole", func(t *testing.T) {
		t.Parallel()
		srv, c := newKefu(t)
		srv.FailNext(kefutest.PathMediaUpload, 2, -1)
		m, err := c.UploadMedia(ctx, kefu.MediaImage, "a.jpg", bytes.NewReader(data))
		require.NoError(t, err)
		assert.Equal(t, 3, srv.Calls(kefutest.PathMediaUpload))
		up, _ := srv.Uploaded(m.MediaID)
		assert.Equal(t, sum, up.SHA256)
		assert.EqualValues(t, len(data), up.Size)
	})
	t.Run("a file is re-sent from where it stood", func(t *testing.T) {
		t.Parallel()
		srv, c := newKefu(t)
		f := fileOf(t, "a.jpg", append([]byte("HEADER"), data...))
		_, err := f.Seek(6, io.SeekStart)
		require.NoError(t, err)
		srv.FailNext(kefutest.PathMediaUpload, 1, -1)
		m, err := c.UploadMedia(ctx, kefu.MediaImage, "a.jpg", f)
		require.NoError(t, err)
		up, _ := srv.Uploaded(m.MediaID)
		assert.Equal(t, sum, up.SHA256)
	})
	t.Run("a rejected token: refreshed for a seekable reader", func(t *testing.T) {
		t.Parallel()
		srv, c := newKefu(t)
		_, err := c.Accounts(ctx) // a token in the client's cache
		require.NoError(t, err)
		srv.RotateTokens()
		m, err := c.UploadMedia(ctx, kefu.MediaImage, "a.jpg", bytes.NewReader(data))
		require.NoError(t, err)
		up, _ := srv.Uploaded(m.MediaID)
		assert.Equal(t, sum, up.SHA256)
		assert.Equal(t, 2, srv.Calls(kefutest.PathMediaUpload))
	})
	t.Run("a rejected token: returned for a one-shot reader", func(t *testing.T) {
		t.Parallel()
		srv, c := newKefu(t)
		_, err := c.Accounts(ctx)
		require.NoError(t, err)
		srv.RotateTokens()
		_, err = c.UploadMedia(ctx, kefu.MediaImage, "a.jpg", onlyReader{bytes.NewReader(data)})
		require.ErrorIs(t, err, kefu.ErrInvalidToken)
		assert.Equal(t, 1, srv.Calls(kefutest.PathMediaUpload))
	})
	t.Run("an unknown outcome is a write's: not retried by default", func(t *testing.T) {
		t.Parallel()
		srv, c := newKefu(t)
		srv.DropNext(kefutest.PathMediaUpload, 1)
		_, err := c.UploadMedia(ctx, kefu.MediaImage, "a.jpg", bytes.NewReader(data))
		require.ErrorIs(t, err, kefu.ErrDeliveryUnknown)
		assert.Equal(t, 1, srv.Calls(kefutest.PathMediaUpload))
	})
	t.Run("an unknown outcome under RetryUnknown", func(t *testing.T) {
		t.Parallel()
		p := kefutest.FastRetry()
		p.RetryUnknown = true
		srv, c := newKefu(t, kefu.WithRetry(p))
		srv.DropNext(kefutest.PathMediaUpload, 1)
		m, err := c.UploadMedia(ctx, kefu.MediaImage, "a.jpg", bytes.NewReader(data))
		require.NoError(t, err)
		assert.Equal(t, 2, srv.Calls(kefutest.PathMediaUpload))
		up, _ := srv.Uploaded(m.MediaID)
		assert.Equal(t, sum, up.SHA256)
	})
	t.Run("a cancelled context ends the upload", func(t *testing.T) {
		t.Parallel()
		srv, c := newKefu(t)
		ctx, cancel := context.WithCancel(ctx)
		r := &cancelAfter{r: bytes.NewReader(data), n: 100_000, cancel: cancel}
		_, err := c.UploadMedia(ctx, kefu.MediaImage, "a.jpg", r)
		require.ErrorIs(t, err, context.Canceled)
		assert.NotErrorIs(t, err, kefu.ErrDeliveryUnknown, "the body was cut short")
		assert.LessOrEqual(t, srv.Calls(kefutest.PathMediaUpload), 1)
	})
}

// cancelAfter cancels a context once n bytes were read, and then gives no
// more: the body cannot be completed (on loopback the transport could
// otherwise hand all of it to the kernel before it notices).
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, context.Canceled
	}
	n, err := c.r.Read(p)
	if c.n -= n; c.n <= 0 {
		c.cancel()
	}
	return n, err
}

func TestUploadImage(t *testing.T) {
	t.Parallel()
	srv, c := newKefu(t)
	ctx := context.Background()
	u, err := c.UploadImage(ctx, "banner.png", strings.NewReader("png"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(u, "http://mmbiz.qpic.cn/mmbiz_png/"), u)
	up, ok := srv.Uploaded(u)
	require.True(t, ok)
	assert.Equal(t, kefutest.PathUploadImg, up.Path)

	_, err = c.UploadImage(ctx, "banner.gif", strings.NewReader("gif"))
	validation(t, err, "media")
	_, err = c.UploadImage(ctx, "banner.jpg", bytes.NewReader(make([]byte, 1<<20)))
	validation(t, err, "media")
	_, err = c.UploadImage(ctx, "banner.jpg", bytes.NewReader(make([]byte, 1<<20-1)))
	require.NoError(t, err, "just under 1 MB")
}

func TestSetAccountAvatar(t *testing.T) {
	t.Parallel()
	srv, c := newKefu(t)
	ctx := context.Background()
	srv.AddAccount("kf1@test", "客服一")
	require.NoError(t, c.SetAccountAvatar(ctx, "kf1@test", "me.jpg", strings.NewReader("jpeg")))
	list, err := c.Accounts(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	up, ok := srv.Uploaded(list[0].HeadImgURL)
	require.True(t, ok, list[0].HeadImgURL)
	assert.Equal(t, "me.jpg", up.Filename)

	err = c.SetAccountAvatar(ctx, "nobody@test", "me.jpg", strings.NewReader("jpeg"))
	assert.ErrorIs(t, err, kefu.ErrAccountNotFound)
	validation(t, c.SetAccountAvatar(ctx, "bad account", "me.jpg", strings.NewReader("jpeg")), "kf_account")
	validation(t, c.SetAccountAvatar(ctx, "kf1@test", "me.gif", strings.NewReader("gif")), "media")
	validation(t, c.SetAccountAvatar(ctx, "kf1@test", "me.jpg", &sizedReader{zeros{}, 5<<20 + 1}), "media")
}

func TestUploadErrorsMatchErrMediaRejected(t *testing.T) {
	t.Parallel()
	srv, c := newKefu(t)
	for _, code := range []int{40004, 40005, 40006, 40009, 45001} {
		srv.FailNext(kefutest.PathMediaUpload, 1, code)
		_, err := c.UploadMedia(context.Background(), kefu.MediaImage, "a.jpg", strings.NewReader("x"))
		assert.ErrorIs(t, err, kefu.ErrMediaRejected, "%d", code)
		assert.Equal(t, code, codeOf(t, err))
	}
	var ve *kefu.ValidationError
	assert.False(t, errors.As(error(&kefu.APIError{Code: 40005}), &ve))
}

// blockingReader yields one byte, then blocks in Read until released.
type blockingReader struct {
	entered, release chan struct{}
	mu               sync.Mutex
	reads            int
}

func (r *blockingReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	r.reads++
	n := r.reads
	r.mu.Unlock()
	if n == 1 {
		p[0] = 'x'
		return 1, nil
	}
	if n == 2 {
		close(r.entered)
	}
	<-r.release
	return 0, io.EOF
}

// TestUploadReturnsWhenContextEndsDuringABlockedRead: ctx bounds
// UploadMedia even when the caller's reader blocks in Read. It used to wait
// for the read to return.
func TestUploadReturnsWhenContextEndsDuringABlockedRead(t *testing.T) {
	t.Parallel()
	_, c := newKefu(t)
	r := &blockingReader{entered: make(chan struct{}), release: make(chan struct{})}
	defer close(r.release) // lets the transport's read end, for goleak
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.UploadMedia(ctx, kefu.MediaImage, "photo.png", r)
		done <- err
	}()
	<-r.entered // the transport is blocked in the caller's reader
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
		assert.NotErrorIs(t, err, kefu.ErrDeliveryUnknown, "the body never ended: WeChat cannot have acted on it")
	case <-time.After(10 * time.Second): // a guard against a hang, not a wait
		t.Fatal("UploadMedia did not return when its context ended")
	}
}
