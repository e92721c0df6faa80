package kefutest

import (
	"crypto/sha256"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
)

// WeChat's upload rules, as the fake applies them.
const (
	maxUpload   = 20 << 20       // a larger multipart body answers 45001 (media size out of limit)
	mediaLife   = 72 * time.Hour // a temporary media id lives 3 days, then 40007
	maxImageURL = 1<<20 - 1      // uploadimg: under 1 MB
	maxAvatar   = 5 << 20        // uploadheadimg: at most 5 MB
)

// uploadRule is the file-type and size limit of one kind of upload, and the
// errcode of a file over the size limit.
type uploadRule struct {
	exts     []string
	max      int64
	sizeCode int
}

// uploadRules are the temporary media kinds: over-size images and thumbs
// answer 40009 (invalid image size), voice and video 40006 (invalid media
// size).
var uploadRules = map[MediaKind]uploadRule{
	MediaImage: {exts: []string{".png", ".jpeg", ".jpg", ".gif"}, max: 2 << 20, sizeCode: 40009},
	MediaVoice: {exts: []string{".amr", ".mp3"}, max: 2 << 20, sizeCode: 40006},
	MediaVideo: {exts: []string{".mp4"}, max: 10 << 20, sizeCode: 40006},
	MediaThumb: {exts: []string{".jpg", ".jpeg"}, max: 64 << 10, sizeCode: 40009},
}

var (
	imageURLRule = uploadRule{exts: []string{".jpg", ".jpeg", ".png"}, max: maxImageURL, sizeCode: 40009}
	avatarRule   = uploadRule{exts: []string{".jpg", ".jpeg", ".png"}, max: maxAvatar, sizeCode: 40009}
)

// Upload is a file the server received on an upload path.
type Upload struct {
	Path     string // PathMediaUpload, PathUploadImg or PathAccountAvatar
	Kind     string // the media kind ("image", ...); "" for the other paths
	Filename string
	Size     int64
	SHA256   [32]byte // of the file's bytes
	Created  time.Time
}

// Uploaded returns the upload that produced id: a media id of
// PathMediaUpload, or the URL answered by PathUploadImg or set by
// PathAccountAvatar.
func (s *Server) Uploaded(id string) (Upload, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.mg.uploads[id]
	if !ok {
		return Upload{}, false
	}
	return *u, true
}

// upload is the multipart body of an upload path: its "media" part, read
// through a hash and never held in memory.
type upload struct {
	code     int // set when the body itself is refused: 41005 no media part, 45001 too large
	filename string
	size     int64
	sum      [32]byte
}

// bodyErr remembers the error of the connection under a multipart reader,
// to tell a client that went away from a malformed body.
type bodyErr struct {
	r   io.Reader
	err error
}

func (b *bodyErr) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// readUpload reads an upload's multipart body to its end. It returns an
// error only when the client went away.
func readUpload(w http.ResponseWriter, r *http.Request) (*upload, error) {
	body := &bodyErr{r: http.MaxBytesReader(w, r.Body, maxUpload)}
	up := &upload{code: 41005}
	drain := func() (*upload, error) {
		io.Copy(io.Discard, body)
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(body.err, &tooBig):
			return &upload{code: 45001}, nil
		case body.err != nil:
			return nil, body.err
		}
		return up, nil
	}
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "multipart/form-data" || params["boundary"] == "" {
		return drain()
	}
	mr := multipart.NewReader(body, params["boundary"])
	found := false
	for {
		p, err := mr.NextPart()
		if err != nil {
			if err != io.EOF {
				up = &upload{code: 41005} // malformed: no usable media part
			}
			return drain()
		}
		if p.FormName() != "media" || found {
			io.Copy(io.Discard, p)
			continue
		}
		found = true
		h := sha256.New()
		n, err := io.Copy(h, p)
		if err != nil {
			up = &upload{code: 41005}
			return drain()
		}
		up = &upload{filename: p.FileName(), size: n}
		h.Sum(up.sum[:0])
	}
}

// extension returns the lower-case extension of filename.
func extension(filename string) string { return strings.ToLower(path.Ext(filename)) }

// checkUpload checks a received upload against rule: 0, or the errcode.
func checkUpload(up *upload, rule uploadRule, typeCode int) int {
	switch {
	case up.code != 0:
		return up.code
	case !slices.Contains(rule.exts, extension(up.filename)):
		return typeCode
	case up.size == 0 || up.size > rule.max:
		return rule.sizeCode
	}
	return 0
}

// keep records an upload under id. s.mu must be held.
func (s *Server) keep(id, path, kind string, up *upload, now time.Time) {
	if s.mg.uploads == nil {
		s.mg.uploads = make(map[string]*Upload)
	}
	s.mg.uploads[id] = &Upload{Path: path, Kind: kind, Filename: up.filename, Size: up.size, SHA256: up.sum, Created: now}
}

// uploadMedia answers POST /cgi-bin/media/upload: token; 40004 for a type
// other than image, voice, video or thumb; 41005 without a "media" file part
// (45001 for a body over 20 MB); 40005 for a file type the kind does not
// take (by extension: image .png .jpeg .jpg .gif, voice .amr .mp3, video
// .mp4, thumb .jpg .jpeg); an empty file or one over the kind's size (image
// and voice 2 MB, video 10 MB, thumb 64 KB) 40009 for images and thumbs,
// 40006 for voice and video. The media id it answers is registered with its
// kind, for Send, and expires 3 days later on the server's clock (then
// 40007). A thumb's id comes back as thumb_media_id, as WeChat does.
func (s *Server) uploadMedia(q url.Values, up *upload) reply {
	kind := MediaKind(q.Get("type"))
	rule, ok := uploadRules[kind]
	if !ok {
		return errReply(40004)
	}
	if code := checkUpload(up, rule, 40005); code != 0 {
		return errReply(code)
	}
	now := s.Now()
	id := randMediaID()
	s.media[id] = kind
	if s.mg.expires == nil {
		s.mg.expires = make(map[string]time.Time)
	}
	s.mg.expires[id] = now.Add(mediaLife)
	s.keep(id, PathMediaUpload, string(kind), up, now)
	a := struct {
		Type         MediaKind `json:"type"`
		MediaID      string    `json:"media_id,omitempty"`
		ThumbMediaID string    `json:"thumb_media_id,omitempty"`
		CreatedAt    int64     `json:"created_at"`
	}{Type: kind, MediaID: id, CreatedAt: now.Unix()}
	if kind == MediaThumb {
		a.MediaID, a.ThumbMediaID = "", id
	}
	return jsonReply(a)
}

// uploadImage answers POST /cgi-bin/media/uploadimg: token; 41005 without a
// "media" part; 40005 unless .jpg, .jpeg or .png; 40009 when empty or not
// under 1 MB. It answers {"url":"http://mmbiz.qpic.cn/..."}.
func (s *Server) uploadImage(_ url.Values, up *upload) reply {
	if code := checkUpload(up, imageURLRule, 40005); code != 0 {
		return errReply(code)
	}
	u := imageURL(up.filename, "0")
	s.keep(u, PathUploadImg, "", up, s.Now())
	return jsonReply(struct {
		URL string `json:"url"`
	}{u})
}

// uploadAvatar answers POST /customservice/kfaccount/uploadheadimg: token;
// 65401 for an unknown kf_account; 41005 without a "media" part; 61457
// unless .jpg, .jpeg or .png; 40009 when empty or over 5 MB. The account's
// kf_headimgurl becomes a new mmbiz.qpic.cn URL.
func (s *Server) uploadAvatar(q url.Values, up *upload) reply {
	a, ok := s.mg.accounts[q.Get("kf_account")]
	if !ok {
		return errReply(65401)
	}
	if code := checkUpload(up, avatarRule, 61457); code != 0 {
		return errReply(code)
	}
	a.headImg = imageURL(up.filename, "300")
	s.keep(a.headImg, PathAccountAvatar, "", up, s.Now())
	return okReply()
}

// imageURL makes a new mmbiz.qpic.cn URL for an image named filename.
func imageURL(filename, size string) string {
	format := "jpeg"
	if extension(filename) == ".png" {
		format = "png"
	}
	return "http://mmbiz.qpic.cn/mmbiz_" + format + "/" + randHex(24) + "/" + size + "?wx_fmt=" + format
}

// randMediaID returns a media id of WeChat's length (64 characters).
func randMediaID() string { return randHex(32) }
