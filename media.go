package kefu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MediaKind is the kind of a temporary media upload: the "type" parameter of
// POST /cgi-bin/media/upload.
type MediaKind string

// The kinds UploadMedia accepts, with WeChat's limits. UploadMedia checks the
// size (when it can know it before reading) and the file type (by the
// filename's extension, case-insensitively) before it uploads anything.
const (
	MediaImage MediaKind = "image" // at most 2 MB; .png, .jpeg, .jpg, .gif
	MediaVoice MediaKind = "voice" // at most 2 MB (and 60 s); .amr, .mp3
	MediaVideo MediaKind = "video" // at most 10 MB; .mp4
	MediaThumb MediaKind = "thumb" // at most 64 KB; .jpg, .jpeg
)

// UploadedMedia is WeChat's answer to UploadMedia.
type UploadedMedia struct {
	Type string // the kind, as WeChat echoes it: "image", "voice", "video" or "thumb"
	// MediaID names the upload in messages (NewImage, NewVoice, Video,
	// thumb_media_id fields) for 3 days; after that WeChat answers 40007.
	MediaID   string
	CreatedAt time.Time
}

const (
	mediaUploadPath = "/cgi-bin/media/upload"
	uploadImgPath   = "/cgi-bin/media/uploadimg"
	headImgPath     = "/customservice/kfaccount/uploadheadimg"
)

// mediaRule is the size and file-type limit of one kind of upload.
type mediaRule struct {
	max  int64    // largest file accepted, in bytes
	says string   // the limit in words, for errors
	exts []string // file types accepted, by extension
}

var (
	mediaRules = map[MediaKind]*mediaRule{
		MediaImage: {max: 2 << 20, says: "at most 2 MB", exts: []string{".png", ".jpeg", ".jpg", ".gif"}},
		MediaVoice: {max: 2 << 20, says: "at most 2 MB", exts: []string{".amr", ".mp3"}},
		MediaVideo: {max: 10 << 20, says: "at most 10 MB", exts: []string{".mp4"}},
		MediaThumb: {max: 64 << 10, says: "at most 64 KB", exts: []string{".jpg", ".jpeg"}},
	}
	articleImageRule = &mediaRule{max: 1<<20 - 1, says: "under 1 MB", exts: []string{".jpg", ".jpeg", ".png"}}
	avatarRule       = &mediaRule{max: 5 << 20, says: "at most 5 MB", exts: []string{".jpg", ".jpeg", ".png"}}
)

// partTypes are the Content-Types of the file part, by extension.
var partTypes = map[string]string{
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
	".amr": "audio/amr", ".mp3": "audio/mpeg", ".mp4": "video/mp4",
}

// UploadMedia uploads a temporary media file (POST /cgi-bin/media/upload,
// multipart field "media") of the given kind, named filename, read from r.
// The file is streamed, never held in memory whole.
//
// Before sending anything it checks, as validation errors matching
// ErrInvalidMessage: kind is known; filename is set and its extension is a
// file type of kind; and, when r's size is known beforehand (*os.File,
// *bytes.Reader, *strings.Reader, *bytes.Buffer, any io.Seeker or any reader
// with a Len() int method), the size limit of kind. A reader of unknown size
// is cut off, with the same validation error, once it passes the limit.
// WeChat's refusals (40004, 40005, 40006, 40009, 45001) match
// ErrMediaRejected.
//
// filename is the name WeChat sees; a path is cut to its last element, so
// f.Name() of an *os.File works. Retries re-send the file from where r stood
// when UploadMedia was called: an io.Seeker (or a *bytes.Buffer, read without
// draining it) is rewound for each attempt. Any other reader can be read only
// once, so once WeChat has read some of it there is no further attempt, not
// even after a rejected access token. An upload is a write: an attempt whose
// outcome is unknown is retried only under RetryPolicy.RetryUnknown.
//
// UploadMedia returns once no read of r is in progress, so r is the
// caller's again, or as soon as ctx ends: a read that blocks in r.Read then
// goes on in a goroutine of its own until r returns (its bytes are dropped),
// and no read follows it. After a return whose error matches ctx.Err(), do
// not reuse r.
//
// https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/New_temporary_materials.html
func (c *Client) UploadMedia(ctx context.Context, kind MediaKind, filename string, r io.Reader) (*UploadedMedia, error) {
	var v validator
	rule, ok := mediaRules[kind]
	if !ok {
		v.add("type", `must be one of "image", "voice", "video", "thumb"`)
	}
	var a uploadAnswer
	if err := c.upload(ctx, mediaUploadPath, "type="+url.QueryEscape(string(kind)), &v, rule, filename, r, &a); err != nil {
		return nil, err
	}
	id := a.MediaID
	if id == "" {
		id = a.ThumbMediaID // WeChat answers a thumb upload with thumb_media_id
	}
	if id == "" {
		return nil, &HTTPError{Path: mediaUploadPath, StatusCode: http.StatusOK, Problem: "upload answer has no media_id"}
	}
	return &UploadedMedia{Type: a.Type, MediaID: id, CreatedAt: time.Unix(a.CreatedAt, 0)}, nil
}

// UploadImage uploads an image for use inside articles and news messages
// (POST /cgi-bin/media/uploadimg, multipart field "media") and returns its
// URL on mmbiz.qpic.cn: a .jpg, .jpeg or .png file under 1 MB. It checks and
// streams r as UploadMedia does.
//
// https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/Adding_Permanent_Assets.html
func (c *Client) UploadImage(ctx context.Context, filename string, r io.Reader) (url string, err error) {
	var v validator
	var a uploadAnswer
	if err := c.upload(ctx, uploadImgPath, "", &v, articleImageRule, filename, r, &a); err != nil {
		return "", err
	}
	if a.URL == "" {
		return "", &HTTPError{Path: uploadImgPath, StatusCode: http.StatusOK, Problem: "upload answer has no url"}
	}
	return a.URL, nil
}

// SetAccountAvatar sets the head image of the customer-service account
// kfAccount (POST /customservice/kfaccount/uploadheadimg, multipart field
// "media"): a .jpg, .jpeg or .png file of at most 5 MB (640x640 looks best).
// It checks and streams r as UploadMedia does. An unknown account matches
// ErrAccountNotFound.
//
// https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Customer_Service_Management.html
func (c *Client) SetAccountAvatar(ctx context.Context, kfAccount, filename string, r io.Reader) error {
	var v validator
	v.kfAccount("kf_account", kfAccount)
	return c.upload(ctx, headImgPath, "kf_account="+url.QueryEscape(kfAccount), &v, avatarRule, filename, r, nil)
}

// upload checks an upload (v may hold earlier problems) and makes it. a,
// when not nil, receives the answer's data; without it the answer must
// carry an errcode.
func (c *Client) upload(ctx context.Context, path, query string, v *validator, rule *mediaRule, filename string, r io.Reader, a *uploadAnswer) error {
	if ctx == nil {
		return errNilContext
	}
	up, err := newUpload(v, rule, filename, r, c.boundary)
	if err != nil {
		return err
	}
	req := &request{method: http.MethodPost, path: path, query: query, body: up, retryUnknown: c.ep.retry.RetryUnknown}
	if a != nil {
		req.out, req.hasData = a, func() bool { return a.MediaID != "" || a.ThumbMediaID != "" || a.URL != "" }
	}
	return c.do(ctx, req)
}

// uploadAnswer is the data of the upload endpoints' answers.
type uploadAnswer struct {
	Type         string `json:"type"`
	MediaID      string `json:"media_id"`
	ThumbMediaID string `json:"thumb_media_id"`
	CreatedAt    int64  `json:"created_at"`
	URL          string `json:"url"`
}

// upload is a multipart/form-data body of one file part, "media", streamed
// from the caller's reader between a prefix (boundary and part headers) and
// a suffix (closing boundary). It is a requestBody.
type upload struct {
	ctype          string
	prefix, suffix []byte
	size           int64 // of the file; -1 when unknown
	max            int64 // largest file accepted
	says           string

	src     io.Reader
	seeker  io.Seeker // rewound to start for each attempt, when set
	start   int64
	touched bool // a one-shot src was read; guarded by the bodies' Close
}

// newUpload checks filename and r against rule and frames the body. The
// problems found join v's earlier ones.
func newUpload(v *validator, rule *mediaRule, filename string, r io.Reader, boundary string) (*upload, error) {
	name, ext := checkFilename(v, rule, filename)
	up := &upload{size: -1}
	if r == nil {
		v.add("media", "required: a reader of the file")
	} else if err := up.probe(r); err != nil {
		return nil, err
	}
	if rule != nil {
		up.max, up.says = rule.max, rule.says
		switch {
		case up.size == 0:
			v.add("media", "must not be empty")
		case up.size > rule.max:
			v.add("media", strconv.FormatInt(up.size, 10)+" bytes: must be "+rule.says)
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	ctype, ok := partTypes[ext]
	if !ok {
		ctype = "application/octet-stream"
	}
	up.frame(boundary, name, ctype)
	return up, nil
}

// checkFilename cuts filename to its last path element and checks it, and
// its extension against rule. It returns the name and its extension in
// lower case.
func checkFilename(v *validator, rule *mediaRule, filename string) (name, ext string) {
	name = filename
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		ext = strings.ToLower(name[i:])
	}
	if v.required("filename", name) {
		if strings.ContainsFunc(name, func(c rune) bool { return c < ' ' || c == 0x7f }) {
			v.add("filename", "must not hold control characters")
		}
	}
	if rule != nil && name != "" && !slices.Contains(rule.exts, ext) {
		v.add("media", "file type must be one of "+strings.Join(rule.exts, ", ")+" (by the filename's extension)")
	}
	return name, ext
}

// probe finds out how r can be re-read and, if it can tell, its size: the
// bytes from r's position to its end.
func (u *upload) probe(r io.Reader) error {
	u.src = r
	switch x := r.(type) {
	case *bytes.Buffer:
		// Read its unread bytes through a reader of their own: the
		// caller's buffer is not drained, and rewinds like any seeker.
		br := bytes.NewReader(x.Bytes())
		u.src, u.seeker, u.start, u.size = br, br, 0, int64(x.Len())
		return nil
	case *os.File:
		st, err := x.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return nil // a pipe or device: read once, size unknown
		}
		pos, err := x.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil
		}
		u.seeker, u.start, u.size = x, pos, max(st.Size()-pos, 0)
		return nil
	case io.Seeker:
		pos, err := x.Seek(0, io.SeekCurrent)
		if err != nil {
			break // not really seekable: read once
		}
		end, err := x.Seek(0, io.SeekEnd)
		if err == nil {
			_, err = x.Seek(pos, io.SeekStart)
		}
		if err != nil {
			return fmt.Errorf("kefu: finding the size of the media reader: %w", err)
		}
		u.seeker, u.start, u.size = x, pos, max(end-pos, 0)
		return nil
	}
	if l, ok := r.(interface{ Len() int }); ok {
		u.size = int64(l.Len())
	}
	return nil
}

var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// frame writes the multipart prefix and suffix around the file part.
func (u *upload) frame(boundary, filename, ctype string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if boundary != "" {
		w.SetBoundary(boundary) // a test seam, checked by its option
	}
	h := make(textproto.MIMEHeader, 2)
	h.Set("Content-Disposition", `form-data; name="media"; filename="`+quoteEscaper.Replace(filename)+`"`)
	h.Set("Content-Type", ctype)
	w.CreatePart(h) // writes to a bytes.Buffer: cannot fail
	n := buf.Len()
	w.Close()
	b := buf.Bytes()
	u.prefix, u.suffix, u.ctype = b[:n:n], b[n:], w.FormDataContentType()
}

// length is the body's Content-Length, -1 when the file's size is unknown.
func (u *upload) length() int64 {
	if u.size < 0 {
		return -1
	}
	return int64(len(u.prefix)) + u.size + int64(len(u.suffix))
}

func (u *upload) contentType() string { return u.ctype }

// reopenable reports whether another attempt can send the file whole.
func (u *upload) reopenable() bool { return u.seeker != nil || !u.touched }

var errReadOnce = errors.New("kefu: the media reader was read once and cannot be rewound")

// open readies the body of the next attempt, rewinding the file.
func (u *upload) open(ctx context.Context, ab *attemptBody) error {
	src := u.src
	switch {
	case u.seeker != nil:
		if _, err := u.seeker.Seek(u.start, io.SeekStart); err != nil {
			return fmt.Errorf("kefu: rewinding the media reader: %w", err)
		}
	case u.touched:
		return errReadOnce
	}
	if u.size >= 0 {
		src = io.LimitReader(src, u.size) // the size sent as Content-Length, even if the file grows
	}
	b := &uploadBody{ctx: ctx, u: u, file: src}
	ab.r, ab.n, ab.end = b, u.length(), b.end
	return nil
}

// uploadBody is one attempt's body: prefix, file, suffix. end ends it:
// reads after end fail, and end waits for a read of the caller's reader in
// progress (unless the attempt's context ends first), so the caller's reader
// is not read once the attempt is over (the transport may still be writing
// from another goroutine when the request fails).
type uploadBody struct {
	mu      sync.Mutex
	ctx     context.Context // the attempt's
	u       *upload
	file    io.Reader
	part    int   // 0 prefix, 1 file, 2 suffix, 3 all read
	off     int   // read offset in prefix or suffix
	n       int64 // file bytes read
	over    bool  // the file passed the size limit
	closed  bool
	reading chan struct{} // while the caller's reader is read: closed when that read returns
	buf     []byte        // what readFile reads into, reused
}

var errBodyClosed = errors.New("kefu: upload body closed")

func (b *uploadBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errBodyClosed
	}
	for len(p) > 0 {
		switch b.part {
		case 0, 2:
			s := b.u.prefix
			if b.part == 2 {
				s = b.u.suffix
			}
			n := copy(p, s[b.off:])
			if b.off += n; b.off == len(s) {
				b.part, b.off = b.part+1, 0
			}
			return n, nil
		case 1:
			b.u.touched = true
			n, err := b.readFile(p)
			b.n += int64(n)
			if b.u.max > 0 && b.n > b.u.max {
				b.over = true
				return n, errors.New("kefu: media larger than its limit")
			}
			if err == io.EOF {
				if b.u.size >= 0 && b.n < b.u.size {
					return n, io.ErrUnexpectedEOF // shorter than its size said
				}
				b.part, err = 2, nil
			}
			if n > 0 || err != nil {
				return n, err
			}
		default:
			return 0, io.EOF
		}
	}
	return 0, nil
}

// readFile reads the caller's reader with b.mu unlocked (held on entry and
// on return). The read runs in a goroutine of its own, into a buffer of its
// own, so that it returns ctx's error as soon as the attempt's context ends
// even if the reader blocks: net/http waits for the body's Read before its
// RoundTrip returns. An abandoned read goes on for as long as the reader
// blocks, and its bytes are dropped.
func (b *uploadBody) readFile(p []byte) (int, error) {
	done := make(chan struct{})
	b.reading = done
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.reading = nil
		close(done)
	}()
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	if len(b.buf) < min(len(p), maxFileRead) {
		b.buf = make([]byte, min(len(p), maxFileRead))
	}
	buf := b.buf[:min(len(p), len(b.buf))]
	type result struct {
		n   int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		n, err := b.file.Read(buf)
		ch <- result{n, err}
	}()
	select {
	case r := <-ch:
		return copy(p, buf[:r.n]), r.err
	case <-b.ctx.Done():
		b.buf = nil // the abandoned read may still write to it
		return 0, b.ctx.Err()
	}
}

// maxFileRead bounds one read of the caller's reader.
const maxFileRead = 64 << 10

// end ends the attempt's body: later reads fail, and it waits for a read of
// the caller's reader in progress, unless ctx ends first (the read then goes
// on in the transport's goroutine for as long as the reader blocks, and
// nothing reads the reader after it). It reports whether the transport read
// the whole body, and the validation error of a file of unknown size that
// passed its limit while it was sent.
func (b *uploadBody) end(ctx context.Context) (complete bool, err error) {
	b.mu.Lock()
	b.closed = true
	reading := b.reading
	b.mu.Unlock()
	if reading != nil {
		select {
		case <-reading:
		case <-ctx.Done():
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.over {
		err = &ValidationError{Field: "media", Rule: "more than " + strconv.FormatInt(b.u.max, 10) + " bytes: must be " + b.u.says}
	}
	return b.part == 3, err
}
