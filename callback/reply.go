package callback

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kefu-go/kefu"
)

// Reply is a passive reply: the answer to a callback request, shown to the
// user at once. It is not a customer-service message and spends no window
// quota. Only this package's constructors make one; a nil Reply answers
// "success" (no reply).
type Reply interface {
	passive() *reply
}

// MsgTypeTransfer is the MsgType of TransferToCustomerService's reply.
const MsgTypeTransfer = "transfer_customer_service"

type reply struct {
	msgType   string
	content   string
	mediaID   string
	video     kefu.Video
	music     kefu.Music
	articles  []kefu.Article
	kfAccount string
}

func (r *reply) passive() *reply { return r }

// ReplyText answers with a text message.
func ReplyText(content string) Reply { return &reply{msgType: MsgTypeText, content: content} }

// ReplyImage answers with an image uploaded as media (kefu.MediaImage).
func ReplyImage(mediaID string) Reply { return &reply{msgType: MsgTypeImage, mediaID: mediaID} }

// ReplyVoice answers with a voice message uploaded as media.
func ReplyVoice(mediaID string) Reply { return &reply{msgType: MsgTypeVoice, mediaID: mediaID} }

// ReplyVideo answers with a video: MediaID is required, Title and
// Description optional. ThumbMediaID is not part of a passive reply; it is
// used when the reply comes late and is sent with the send API instead.
func ReplyVideo(v kefu.Video) Reply { return &reply{msgType: MsgTypeVideo, video: v} }

// ReplyMusic answers with a music card; ThumbMediaID is required.
func ReplyMusic(m kefu.Music) Reply { return &reply{msgType: "music", music: m} }

// ReplyNews answers with article cards: exactly one in a reply to a message,
// up to 8 in a reply to an event (WeChat's rule; the handler checks it).
// Each needs a Title. The articles are copied.
func ReplyNews(articles ...kefu.Article) Reply {
	return &reply{msgType: "news", articles: append([]kefu.Article(nil), articles...)}
}

// TransferToCustomerService hands the conversation to the customer-service
// desk: to kfAccount ("worker@account"), or to any worker when it is empty.
// It is the only passive reply Mini Programs accept.
func TransferToCustomerService(kfAccount string) Reply {
	return &reply{msgType: MsgTypeTransfer, kfAccount: kfAccount}
}

// check returns a *kefu.ValidationError naming the first field that breaks a
// rule, for a reply to m.
func (r *reply) check(m *Message) error {
	bad := func(field, rule string) error {
		return &kefu.ValidationError{Field: "reply." + field, Rule: rule}
	}
	switch r.msgType {
	case MsgTypeText:
		if r.content == "" {
			return bad("content", "required")
		}
		if !utf8.ValidString(r.content) {
			return bad("content", "must be valid UTF-8")
		}
	case MsgTypeImage, MsgTypeVoice:
		if r.mediaID == "" {
			return bad("media_id", "required")
		}
	case MsgTypeVideo:
		if r.video.MediaID == "" {
			return bad("video.media_id", "required")
		}
	case "music":
		if r.music.ThumbMediaID == "" {
			return bad("music.thumb_media_id", "required")
		}
	case "news":
		return r.checkNews(m, bad)
	case MsgTypeTransfer:
		if r.kfAccount != "" {
			return kefu.ValidateKfAccount(r.kfAccount)
		}
	}
	return nil
}

func (r *reply) checkNews(m *Message, bad func(field, rule string) error) error {
	max := 1
	if m.MsgType == MsgTypeEvent {
		max = 8
	}
	if n := len(r.articles); n == 0 || n > max {
		return bad("articles", "want 1 to "+strconv.Itoa(max)+" in a reply to "+m.MsgType+", got "+strconv.Itoa(n))
	}
	for i, a := range r.articles {
		if a.Title == "" {
			return bad("articles["+strconv.Itoa(i)+"].title", "required")
		}
	}
	return nil
}

// message returns r as a customer-service message to openID, for a reply
// that came too late to be passive; false for a transfer, which has none.
func (r *reply) message(openID string) (*kefu.Message, bool) {
	switch r.msgType {
	case MsgTypeText:
		return kefu.NewText(openID, r.content), true
	case MsgTypeImage:
		return kefu.NewImage(openID, r.mediaID), true
	case MsgTypeVoice:
		return kefu.NewVoice(openID, r.mediaID), true
	case MsgTypeVideo:
		return kefu.NewVideo(openID, r.video), true
	case "music":
		return kefu.NewMusic(openID, r.music), true
	case "news":
		return kefu.NewNews(openID, r.articles...), true
	}
	return nil, false
}

// appendXML appends r as WeChat's reply XML to m (To and From swapped).
func (r *reply) appendXML(b []byte, m *Message, now int64) []byte {
	b = append(b, "<xml>"...)
	b = appendCDATA(b, "ToUserName", m.FromUserName)
	b = appendCDATA(b, "FromUserName", m.ToUserName)
	b = append(b, "<CreateTime>"...)
	b = strconv.AppendInt(b, now, 10)
	b = append(b, "</CreateTime>"...)
	b = appendCDATA(b, "MsgType", r.msgType)
	switch r.msgType {
	case MsgTypeText:
		b = appendCDATA(b, "Content", r.content)
	case MsgTypeImage:
		b = append(b, "<Image>"...)
		b = appendCDATA(b, "MediaId", r.mediaID)
		b = append(b, "</Image>"...)
	case MsgTypeVoice:
		b = append(b, "<Voice>"...)
		b = appendCDATA(b, "MediaId", r.mediaID)
		b = append(b, "</Voice>"...)
	case MsgTypeVideo:
		b = append(b, "<Video>"...)
		b = appendCDATA(b, "MediaId", r.video.MediaID)
		b = appendCDATA(b, "Title", r.video.Title)
		b = appendCDATA(b, "Description", r.video.Description)
		b = append(b, "</Video>"...)
	case "music":
		b = r.appendMusic(b)
	case "news":
		b = r.appendNews(b)
	case MsgTypeTransfer:
		if r.kfAccount != "" {
			b = append(b, "<TransInfo>"...)
			b = appendCDATA(b, "KfAccount", r.kfAccount)
			b = append(b, "</TransInfo>"...)
		}
	}
	return append(b, "</xml>"...)
}

func (r *reply) appendMusic(b []byte) []byte {
	b = append(b, "<Music>"...)
	b = appendCDATA(b, "Title", r.music.Title)
	b = appendCDATA(b, "Description", r.music.Description)
	b = appendCDATA(b, "MusicUrl", r.music.MusicURL)
	b = appendCDATA(b, "HQMusicUrl", r.music.HQMusicURL)
	b = appendCDATA(b, "ThumbMediaId", r.music.ThumbMediaID)
	return append(b, "</Music>"...)
}

func (r *reply) appendNews(b []byte) []byte {
	b = append(b, "<ArticleCount>"...)
	b = strconv.AppendInt(b, int64(len(r.articles)), 10)
	b = append(b, "</ArticleCount><Articles>"...)
	for _, a := range r.articles {
		b = append(b, "<item>"...)
		b = appendCDATA(b, "Title", a.Title)
		b = appendCDATA(b, "Description", a.Description)
		b = appendCDATA(b, "PicUrl", a.PicURL)
		b = appendCDATA(b, "Url", a.URL)
		b = append(b, "</item>"...)
	}
	return append(b, "</Articles>"...)
}

// appendCDATA appends <name><![CDATA[v]]></name>; a "]]>" inside v is split
// across two sections.
func appendCDATA(b []byte, name, v string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, "><![CDATA["...)
	for {
		i := strings.Index(v, "]]>")
		if i < 0 {
			break
		}
		b = append(b, v[:i+2]...)
		b = append(b, "]]><![CDATA["...)
		v = v[i+2:]
	}
	b = append(b, v...)
	b = append(b, "]]></"...)
	b = append(b, name...)
	return append(b, '>')
}

// jsonReply is a reply in a JSON request's shape: the XML's field names as
// keys.
type jsonReply struct {
	ToUserName   string         `json:"ToUserName"`
	FromUserName string         `json:"FromUserName"`
	CreateTime   int64          `json:"CreateTime"`
	MsgType      string         `json:"MsgType"`
	Content      string         `json:"Content,omitempty"`
	Image        *jsonMedia     `json:"Image,omitempty"`
	Voice        *jsonMedia     `json:"Voice,omitempty"`
	Video        *jsonVideo     `json:"Video,omitempty"`
	Music        *jsonMusic     `json:"Music,omitempty"`
	ArticleCount int            `json:"ArticleCount,omitempty"`
	Articles     []jsonArticle  `json:"Articles,omitempty"`
	TransInfo    *jsonTransInfo `json:"TransInfo,omitempty"`
}

type jsonMedia struct {
	MediaID string `json:"MediaId"`
}

type jsonVideo struct {
	MediaID     string `json:"MediaId"`
	Title       string `json:"Title,omitempty"`
	Description string `json:"Description,omitempty"`
}

type jsonMusic struct {
	Title        string `json:"Title,omitempty"`
	Description  string `json:"Description,omitempty"`
	MusicURL     string `json:"MusicUrl,omitempty"`
	HQMusicURL   string `json:"HQMusicUrl,omitempty"`
	ThumbMediaID string `json:"ThumbMediaId"`
}

type jsonArticle struct {
	Title       string `json:"Title"`
	Description string `json:"Description,omitempty"`
	PicURL      string `json:"PicUrl,omitempty"`
	URL         string `json:"Url,omitempty"`
}

type jsonTransInfo struct {
	KfAccount string `json:"KfAccount"`
}

// appendJSON appends r as a JSON reply to m.
func (r *reply) appendJSON(b []byte, m *Message, now int64) []byte {
	j := jsonReply{ToUserName: m.FromUserName, FromUserName: m.ToUserName, CreateTime: now, MsgType: r.msgType}
	switch r.msgType {
	case MsgTypeText:
		j.Content = r.content
	case MsgTypeImage:
		j.Image = &jsonMedia{r.mediaID}
	case MsgTypeVoice:
		j.Voice = &jsonMedia{r.mediaID}
	case MsgTypeVideo:
		j.Video = &jsonVideo{r.video.MediaID, r.video.Title, r.video.Description}
	case "music":
		j.Music = &jsonMusic{r.music.Title, r.music.Description, r.music.MusicURL, r.music.HQMusicURL, r.music.ThumbMediaID}
	case "news":
		j.ArticleCount = len(r.articles)
		for _, a := range r.articles {
			j.Articles = append(j.Articles, jsonArticle{a.Title, a.Description, a.PicURL, a.URL})
		}
	case MsgTypeTransfer:
		if r.kfAccount != "" {
			j.TransInfo = &jsonTransInfo{r.kfAccount}
		}
	}
	return appendJSONValue(b, j)
}

// appendJSONValue appends v encoded without HTML escaping and without the
// encoder's trailing newline.
func appendJSONValue(b []byte, v any) []byte {
	buf := bytes.NewBuffer(b)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("callback: encoding a reply: " + err.Error()) // only strings and numbers: cannot fail
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
