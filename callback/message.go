package callback

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/kefu-go/kefu"
)

// Message types of inbound messages (Message.MsgType).
const (
	MsgTypeText            = "text"
	MsgTypeImage           = "image"
	MsgTypeVoice           = "voice"
	MsgTypeVideo           = "video"
	MsgTypeShortVideo      = "shortvideo"
	MsgTypeLocation        = "location"
	MsgTypeLink            = "link"
	MsgTypeMiniProgramPage = "miniprogrampage" // Mini Programs: a card the user sent
	MsgTypeEvent           = "event"           // Message.Event says which
)

// Events (Message.Event, with MsgType "event"). WeChat spells some in upper
// case; compare with strings.EqualFold, or use Message.IsEvent.
const (
	EventSubscribe             = "subscribe"   // followed; EventKey "qrscene_<scene>" and Ticket when by a QR code
	EventUnsubscribe           = "unsubscribe" // unfollowed
	EventScan                  = "SCAN"        // a follower scanned a QR code: EventKey is the scene, Ticket
	EventLocation              = "LOCATION"    // reported location: Latitude, Longitude, Precision
	EventClick                 = "CLICK"       // a click menu: EventKey, MenuID
	EventView                  = "VIEW"        // a link menu: EventKey is the URL
	EventViewMiniProgram       = "view_miniprogram"
	EventScancodePush          = "scancode_push"    // ScanType, ScanResult
	EventScancodeWaitmsg       = "scancode_waitmsg" // ScanType, ScanResult
	EventKfCreateSession       = "kf_create_session"
	EventKfCloseSession        = "kf_close_session"
	EventKfSwitchSession       = "kf_switch_session" // FromKfAccount, ToKfAccount
	EventTemplateSendJobFinish = "TEMPLATESENDJOBFINISH"
	EventUserEnterTempSession  = "user_enter_tempsession" // Mini Programs: SessionFrom
)

// Message is one inbound message or event, flat: WeChat's fields under Go
// names, empty when the message has none. Unknown fields are kept only in
// Raw.
type Message struct {
	ToUserName   string // the account's original id (gh_...)
	FromUserName string // the user's openid
	CreateTime   int64  // seconds since 1970, WeChat's clock
	MsgType      string // a MsgType constant
	MsgID        int64  // MsgId of messages; MsgID of TEMPLATESENDJOBFINISH

	Content      string // text
	BizMsgMenuID string // bizmsgmenuid: the msgmenu item the user tapped
	MsgDataID    string // MsgDataId: the article a message came from
	Idx          int    // the article's position

	PicURL       string // image
	MediaID      string // image, voice, video, shortvideo
	Format       string // voice: amr, speex...
	Recognition  string // voice: speech recognition (often empty)
	ThumbMediaID string // video, shortvideo, miniprogrampage

	LocationX float64 // Location_X: latitude
	LocationY float64 // Location_Y: longitude
	Scale     int
	Label     string

	Title       string // link, miniprogrampage
	Description string // link
	URL         string // link (Url)

	AppID    string // miniprogrampage: the Mini Program
	PagePath string // miniprogrampage
	ThumbURL string // miniprogrampage

	Event     string // an Event constant
	EventKey  string
	Ticket    string
	Latitude  float64 // LOCATION
	Longitude float64
	Precision float64
	MenuID    string

	ScanType   string // scancode_*: ScanCodeInfo
	ScanResult string

	KfAccount     string // kf_create_session, kf_close_session
	FromKfAccount string // kf_switch_session
	ToKfAccount   string
	Status        string // TEMPLATESENDJOBFINISH: success, failed:user block...
	SessionFrom   string // user_enter_tempsession

	// Raw is the message as received (decrypted when it came encrypted).
	Raw []byte
}

// IsEvent reports whether m is the event named (in any case).
func (m *Message) IsEvent(event string) bool {
	return m.MsgType == MsgTypeEvent && strings.EqualFold(m.Event, event)
}

// Action returns the window this message opens (../shared/wechat-api.md
// §3): a user message opens ActionUserMessage, a tapped msgmenu item and the
// CLICK and scancode_* menus ActionMenuClick, subscribe ActionFollow, SCAN
// ActionScan, user_enter_tempsession ActionEnterSession. Other events open
// none (false).
func (m *Message) Action() (kefu.Action, bool) {
	switch m.MsgType {
	case MsgTypeText:
		if m.BizMsgMenuID != "" {
			return kefu.ActionMenuClick, true
		}
		return kefu.ActionUserMessage, true
	case MsgTypeImage, MsgTypeVoice, MsgTypeVideo, MsgTypeShortVideo, MsgTypeLocation, MsgTypeLink, MsgTypeMiniProgramPage:
		return kefu.ActionUserMessage, true
	case MsgTypeEvent:
		return eventAction(m.Event)
	}
	return 0, false
}

func eventAction(event string) (kefu.Action, bool) {
	switch {
	case strings.EqualFold(event, EventClick), strings.EqualFold(event, EventScancodePush), strings.EqualFold(event, EventScancodeWaitmsg):
		return kefu.ActionMenuClick, true
	case strings.EqualFold(event, EventSubscribe):
		return kefu.ActionFollow, true
	case strings.EqualFold(event, EventScan):
		return kefu.ActionScan, true
	case strings.EqualFold(event, EventUserEnterTempSession):
		return kefu.ActionEnterSession, true
	}
	return 0, false
}

// DedupKey is the key WeChat's retries of m share: the account and MsgId for
// a message; for an event the account, FromUserName, CreateTime, Event and
// EventKey (two events can share a second).
func (m *Message) DedupKey() string {
	if m.MsgType != MsgTypeEvent && m.MsgID != 0 {
		return m.ToUserName + "/m/" + strconv.FormatInt(m.MsgID, 10)
	}
	return m.ToUserName + "/e/" + m.FromUserName + "/" + strconv.FormatInt(m.CreateTime, 10) + "/" + m.Event + "/" + m.EventKey
}

// ParseMessage reads a decrypted callback body, XML or JSON (recognised from
// its first byte). Unknown fields and types are kept in Raw only. A body
// that is neither, or a known field with a bad value, matches ErrMalformed.
// m.Raw is body itself.
func ParseMessage(body []byte) (*Message, error) {
	m := &Message{Raw: body}
	var err error
	switch firstByte(body) {
	case '<':
		err = m.parseXML(body)
	case '{':
		err = m.parseJSON(body)
	default:
		err = malformed("the body is neither XML nor JSON")
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

func firstByte(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n\ufeff")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// parseXML fills m from XML in one pass; values share one string made from
// body.
func (m *Message) parseXML(body []byte) error {
	s := string(body)
	return scanXML(body, func(name []byte, v xmlValue) error {
		return m.set(name, v.text(s))
	})
}

// parseJSON fills m from a Mini Program's JSON: every string or number
// value, in nested objects too, goes to the field of its key.
func (m *Message) parseJSON(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := m.jsonObject(dec, 0); err != nil {
		if errors.Is(err, ErrMalformed) {
			return err
		}
		return malformed("JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return malformed("JSON: data after the object")
	}
	return nil
}

func (m *Message) jsonObject(dec *json.Decoder, depth int) error {
	if depth > maxDepth {
		return malformed("objects nested deeper than %d", maxDepth)
	}
	if t, err := dec.Token(); err != nil {
		return err
	} else if t != json.Delim('{') {
		return malformed("JSON: want an object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		if err := m.jsonValue(dec, key, depth); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

func (m *Message) jsonValue(dec *json.Decoder, key string, depth int) error {
	if !dec.More() {
		return malformed("JSON: %q has no value", key)
	}
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	switch firstByte(raw) {
	case '{':
		inner := json.NewDecoder(bytes.NewReader(raw))
		inner.UseNumber()
		return m.jsonObject(inner, depth+1)
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		return m.set([]byte(key), s)
	case '[', 'n', 't', 'f':
		return nil // arrays, null and booleans carry nothing kefu reads
	default:
		return m.set([]byte(key), string(raw))
	}
}

// set stores one field by WeChat's name; unknown names are ignored.
func (m *Message) set(name []byte, v string) error {
	f, ok := fields[string(name)]
	if !ok {
		return nil
	}
	if err := f(m, v); err != nil {
		return malformed("%s: %q is not a number", name, v)
	}
	return nil
}

// fields maps WeChat's field names (XML elements, JSON keys) to the Message
// field each fills: one row a name.
var fields = map[string]func(*Message, string) error{
	"ToUserName":    text(func(m *Message) *string { return &m.ToUserName }),
	"FromUserName":  text(func(m *Message) *string { return &m.FromUserName }),
	"CreateTime":    integer(func(m *Message) *int64 { return &m.CreateTime }),
	"MsgType":       text(func(m *Message) *string { return &m.MsgType }),
	"MsgId":         integer(func(m *Message) *int64 { return &m.MsgID }),
	"MsgID":         integer(func(m *Message) *int64 { return &m.MsgID }), // TEMPLATESENDJOBFINISH
	"Content":       text(func(m *Message) *string { return &m.Content }),
	"bizmsgmenuid":  text(func(m *Message) *string { return &m.BizMsgMenuID }),
	"MsgDataId":     text(func(m *Message) *string { return &m.MsgDataID }),
	"Idx":           small(func(m *Message) *int { return &m.Idx }),
	"PicUrl":        text(func(m *Message) *string { return &m.PicURL }),
	"MediaId":       text(func(m *Message) *string { return &m.MediaID }),
	"Format":        text(func(m *Message) *string { return &m.Format }),
	"Recognition":   text(func(m *Message) *string { return &m.Recognition }),
	"ThumbMediaId":  text(func(m *Message) *string { return &m.ThumbMediaID }),
	"Location_X":    float(func(m *Message) *float64 { return &m.LocationX }),
	"Location_Y":    float(func(m *Message) *float64 { return &m.LocationY }),
	"Scale":         small(func(m *Message) *int { return &m.Scale }),
	"Label":         text(func(m *Message) *string { return &m.Label }),
	"Title":         text(func(m *Message) *string { return &m.Title }),
	"Description":   text(func(m *Message) *string { return &m.Description }),
	"Url":           text(func(m *Message) *string { return &m.URL }),
	"AppId":         text(func(m *Message) *string { return &m.AppID }),
	"PagePath":      text(func(m *Message) *string { return &m.PagePath }),
	"ThumbUrl":      text(func(m *Message) *string { return &m.ThumbURL }),
	"Event":         text(func(m *Message) *string { return &m.Event }),
	"EventKey":      text(func(m *Message) *string { return &m.EventKey }),
	"Ticket":        text(func(m *Message) *string { return &m.Ticket }),
	"Latitude":      float(func(m *Message) *float64 { return &m.Latitude }),
	"Longitude":     float(func(m *Message) *float64 { return &m.Longitude }),
	"Precision":     float(func(m *Message) *float64 { return &m.Precision }),
	"MenuId":        text(func(m *Message) *string { return &m.MenuID }),
	"MenuID":        text(func(m *Message) *string { return &m.MenuID }),
	"ScanType":      text(func(m *Message) *string { return &m.ScanType }),
	"ScanResult":    text(func(m *Message) *string { return &m.ScanResult }),
	"KfAccount":     text(func(m *Message) *string { return &m.KfAccount }),
	"FromKfAccount": text(func(m *Message) *string { return &m.FromKfAccount }),
	"ToKfAccount":   text(func(m *Message) *string { return &m.ToKfAccount }),
	"Status":        text(func(m *Message) *string { return &m.Status }),
	"SessionFrom":   text(func(m *Message) *string { return &m.SessionFrom }),
}

func text(field func(*Message) *string) func(*Message, string) error {
	return func(m *Message, v string) error { *field(m) = v; return nil }
}

func integer(field func(*Message) *int64) func(*Message, string) error {
	return func(m *Message, v string) (err error) { *field(m), err = parseInt(v); return err }
}

func small(field func(*Message) *int) func(*Message, string) error {
	return func(m *Message, v string) (err error) { *field(m), err = parseSmall(v); return err }
}

func float(field func(*Message) *float64) func(*Message, string) error {
	return func(m *Message, v string) (err error) { *field(m), err = parseFloat(v); return err }
}

// parseInt reads an integer; an empty value is 0 (WeChat sends empty
// elements for fields it has nothing for).
func parseInt(v string) (int64, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	return strconv.ParseInt(v, 10, 64)
}

func parseSmall(v string) (int, error) {
	n, err := parseInt(v)
	if err != nil || n != int64(int(n)) {
		return 0, errors.New("out of range")
	}
	return int(n), nil
}

func parseFloat(v string) (float64, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	return strconv.ParseFloat(v, 64)
}
