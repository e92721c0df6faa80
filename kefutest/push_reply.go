package kefutest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/callback"
)

// PassiveReply is a service's passive reply (被动回复) to a push, as the
// server read it.
type PassiveReply struct {
	// MsgType is the reply's type: text, image, voice, video, music, news,
	// or transfer_customer_service (callback.MsgTypeTransfer).
	MsgType string
	// Message is the reply as the user sees it, in the shape of a
	// customer-service message (kefu.NewText, kefu.NewImage...; a video has
	// no thumb); nil for a transfer, which shows the user nothing.
	Message *kefu.Message
	// KfAccount is a transfer's TransInfo/KfAccount: the customer-service
	// account asked for, "" for any.
	KfAccount string
	// Encrypted reports that the reply came in the encrypted envelope.
	Encrypted bool
	// CreateTime is the reply's CreateTime.
	CreateTime int64
	// Raw is the reply's XML (decrypted when it came encrypted).
	Raw []byte
}

// replyXML is every field of a passive reply and of its encrypted envelope.
type replyXML struct {
	XMLName      xml.Name `xml:"xml"`
	ToUserName   string
	FromUserName string
	CreateTime   string
	MsgType      string
	Content      string
	Image        *struct {
		MediaID string `xml:"MediaId"`
	}
	Voice *struct {
		MediaID string `xml:"MediaId"`
	}
	Video *struct {
		MediaID     string `xml:"MediaId"`
		Title       string
		Description string
	}
	Music *struct {
		Title        string
		Description  string
		MusicURL     string `xml:"MusicUrl"`
		HQMusicURL   string `xml:"HQMusicUrl"`
		ThumbMediaID string `xml:"ThumbMediaId"`
	}
	ArticleCount string
	Articles     []struct {
		Title       string
		Description string
		PicURL      string `xml:"PicUrl"`
		URL         string `xml:"Url"`
	} `xml:"Articles>item"`
	TransInfo *struct{ KfAccount string }

	Encrypt      string
	MsgSignature string
	TimeStamp    string
	Nonce        string
}

// readReply reads the service's answer to a POST of m: nil for "success"
// or an empty body, else a passive reply, checked as WeChat checks it; an
// error says what makes it unusable.
func (p *pusher) readReply(answer []byte, m *callback.Message) (*PassiveReply, error) {
	answer = bytes.TrimSpace(answer)
	if len(answer) == 0 || string(answer) == "success" {
		return nil, nil
	}
	var x replyXML
	if err := xml.Unmarshal(answer, &x); err != nil {
		return nil, fmt.Errorf("the answer is neither \"success\" nor a passive reply's XML: %v", err)
	}
	r := &PassiveReply{Raw: answer}
	if x.Encrypt != "" || x.MsgSignature != "" {
		plain, err := p.open(&x)
		if err != nil {
			return nil, err
		}
		x = replyXML{}
		if err := xml.Unmarshal(plain, &x); err != nil {
			return nil, fmt.Errorf("the decrypted reply is not XML: %v", err)
		}
		r.Raw, r.Encrypted = plain, true
	} else if p.mode == ModeSafe {
		return nil, errors.New("a plain reply in safe mode: it must be encrypted")
	}
	if err := x.fill(r, m); err != nil {
		return nil, err
	}
	return r, nil
}

// open checks an encrypted reply's envelope and returns its plaintext. Its
// MsgSignature is checked over its own TimeStamp and Nonce, as WeChat does:
// services often answer with a nonce of their own (the npm wechat
// middleware does), not the request's.
func (p *pusher) open(x *replyXML) ([]byte, error) {
	switch {
	case p.crypter == nil:
		return nil, errors.New("an encrypted reply to a plain-mode request")
	case x.Encrypt == "" || x.MsgSignature == "" || x.TimeStamp == "" || x.Nonce == "":
		return nil, errors.New("an encrypted reply needs Encrypt, MsgSignature, TimeStamp and Nonce")
	}
	plain, err := p.crypter.Decrypt(x.MsgSignature, x.TimeStamp, x.Nonce, x.Encrypt)
	if err != nil {
		return nil, fmt.Errorf("the encrypted reply: %v", err)
	}
	return plain, nil
}

// fill checks a plain reply to m and sets r's fields from it.
func (x *replyXML) fill(r *PassiveReply, m *callback.Message) error {
	switch {
	case x.ToUserName != m.FromUserName:
		return fmt.Errorf("the reply's ToUserName %q is not the user %q", x.ToUserName, m.FromUserName)
	case x.FromUserName != m.ToUserName:
		return fmt.Errorf("the reply's FromUserName %q is not the account %q", x.FromUserName, m.ToUserName)
	case x.Encrypt != "":
		return errors.New("an Encrypt inside the encrypted reply")
	}
	t, err := strconv.ParseInt(x.CreateTime, 10, 64)
	if err != nil || t <= 0 {
		return fmt.Errorf("the reply's CreateTime %q is not a time in seconds", x.CreateTime)
	}
	r.CreateTime, r.MsgType = t, x.MsgType
	if x.MsgType == callback.MsgTypeTransfer {
		if x.TransInfo != nil {
			r.KfAccount = x.TransInfo.KfAccount
		}
		return nil
	}
	r.Message, err = x.message(m)
	return err
}

// message is the reply x to m as the user sees it.
func (x *replyXML) message(m *callback.Message) (*kefu.Message, error) {
	switch x.MsgType {
	case "text":
		if x.Content == "" {
			return nil, x.missing("Content")
		}
		return kefu.NewText(m.FromUserName, x.Content), nil
	case "news":
		return x.news(m)
	}
	return x.media(m.FromUserName)
}

func (x *replyXML) missing(field string) error {
	return fmt.Errorf("a %s reply without %s", x.MsgType, field)
}

// media is a reply of media to the user to: image, voice, video or music.
func (x *replyXML) media(to string) (*kefu.Message, error) {
	switch x.MsgType {
	case "image":
		if x.Image == nil || x.Image.MediaID == "" {
			return nil, x.missing("Image/MediaId")
		}
		return kefu.NewImage(to, x.Image.MediaID), nil
	case "voice":
		if x.Voice == nil || x.Voice.MediaID == "" {
			return nil, x.missing("Voice/MediaId")
		}
		return kefu.NewVoice(to, x.Voice.MediaID), nil
	case "video":
		if x.Video == nil || x.Video.MediaID == "" {
			return nil, x.missing("Video/MediaId")
		}
		return kefu.NewVideo(to, kefu.Video{MediaID: x.Video.MediaID, Title: x.Video.Title, Description: x.Video.Description}), nil
	case "music":
		if x.Music == nil || x.Music.ThumbMediaID == "" {
			return nil, x.missing("Music/ThumbMediaId")
		}
		mu := x.Music
		return kefu.NewMusic(to, kefu.Music{Title: mu.Title, Description: mu.Description, MusicURL: mu.MusicURL,
			HQMusicURL: mu.HQMusicURL, ThumbMediaID: mu.ThumbMediaID}), nil
	}
	return nil, fmt.Errorf("a reply of unknown MsgType %q", x.MsgType)
}

// news is a news reply: ArticleCount articles, one in a reply to a message
// and up to 8 in a reply to an event.
func (x *replyXML) news(m *callback.Message) (*kefu.Message, error) {
	max := 1
	if m.MsgType == callback.MsgTypeEvent {
		max = 8
	}
	n := len(x.Articles)
	if x.ArticleCount != strconv.Itoa(n) {
		return nil, fmt.Errorf("a news reply with ArticleCount %q and %d articles", x.ArticleCount, n)
	}
	if n == 0 || n > max {
		return nil, fmt.Errorf("a news reply to a %s with %d articles: want 1 to %d", m.MsgType, n, max)
	}
	articles := make([]kefu.Article, n)
	for i, a := range x.Articles {
		articles[i] = kefu.Article{Title: a.Title, Description: a.Description, URL: a.URL, PicURL: a.PicURL}
	}
	return kefu.NewNews(m.FromUserName, articles...), nil
}

// checkReplyMedia says which media id of r WeChat does not know, as the
// send endpoint checks them (AddMedia or an upload makes one known).
func (s *Server) checkReplyMedia(r *PassiveReply) error {
	m := r.Message
	if m == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var id string
	switch {
	case m.Image != nil && !s.mediaIs(m.Image.MediaID, MediaImage):
		id = m.Image.MediaID
	case m.Voice != nil && !s.mediaIs(m.Voice.MediaID, MediaVoice):
		id = m.Voice.MediaID
	case m.Video != nil && !s.mediaIs(m.Video.MediaID, MediaVideo):
		id = m.Video.MediaID
	case m.Music != nil && !s.thumbOK(m.Music.ThumbMediaID):
		id = m.Music.ThumbMediaID
	default:
		return nil
	}
	return fmt.Errorf("the %s reply's media id %q is unknown (AddMedia, or upload it)", m.MsgType, id)
}
