package kefu

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"
)

const templateSendPath = "/cgi-bin/message/template/send"

// MaxClientMsgID bounds a template message's ClientMsgID, in bytes. WeChat
// documents no limit; this local bound keeps ids to the size of the UUIDs
// and hashes they are usually made of.
const MaxClientMsgID = 64

// TemplateDedupWindow is how long WeChat remembers a template message's
// ClientMsgID: a message with the same ToUser and ClientMsgID within it is
// not sent again.
const TemplateDedupWindow = 10 * time.Minute

// TemplateMessage is a template message (模板消息): a message built from a
// template the account registered, which, unlike a customer-service
// message, needs no open window: the fallback once a user's window closed.
// Its JSON encoding is the request body WeChat expects. Client.SendTemplate
// reads it and never changes it.
type TemplateMessage struct {
	// ToUser is the user's OpenID.
	ToUser string `json:"touser"`
	// TemplateID is the id of one of the account's templates.
	TemplateID string `json:"template_id"`
	// URL, when set, is where a tap on the message leads: an absolute http
	// or https URL.
	URL string `json:"url,omitempty"`
	// MiniProgram, when set, makes a tap open a page of a Mini Program
	// linked to the account (it wins over URL where the Mini Program can
	// be opened).
	MiniProgram *TemplateMiniProgram `json:"miniprogram,omitempty"`
	// ClientMsgID, when set, is WeChat's idempotency key: one message per
	// ToUser and ClientMsgID within TemplateDedupWindow. At most
	// MaxClientMsgID bytes.
	ClientMsgID string `json:"client_msg_id,omitempty"`
	// Data are the values of the template's keys, e.g. "thing1", by key:
	// at least one, none empty.
	Data map[string]TemplateValue `json:"data"`
}

// TemplateMiniProgram is the Mini Program page a template message opens.
type TemplateMiniProgram struct {
	AppID    string `json:"appid"`    // required
	PagePath string `json:"pagepath"` // required, e.g. "pages/index/index?id=1"
}

// TemplateValue is the value of one key of a template.
type TemplateValue struct {
	Value string `json:"value"` // required
	// Color is the value's color, "#RRGGBB"; WeChat ignores it on newer
	// templates.
	Color string `json:"color,omitempty"`
}

// Validate checks m as WeChat would before sending it: ToUser, TemplateID
// and Data set, every value non-empty (WeChat: 47003), URL an absolute http
// or https URL when set, MiniProgram with both AppID and PagePath when set,
// ClientMsgID at most MaxClientMsgID bytes, Color "#RRGGBB" when set. It
// returns nil or *ValidationErrors (matching ErrInvalidMessage) joined with
// errors.Join, each naming its field by its JSON path ("data.thing1.value").
func (m *TemplateMessage) Validate() error {
	if m == nil {
		return &ValidationError{Field: "message", Rule: "must not be nil"}
	}
	var v validator
	v.required("touser", m.ToUser)
	v.required("template_id", m.TemplateID)
	v.optionalURL("url", m.URL)
	if p := m.MiniProgram; p != nil {
		v.required("miniprogram.appid", p.AppID)
		v.required("miniprogram.pagepath", p.PagePath)
	}
	if len(m.ClientMsgID) > MaxClientMsgID {
		v.add("client_msg_id", fmt.Sprintf("at most %d bytes (got %d)", MaxClientMsgID, len(m.ClientMsgID)))
	}
	if len(m.Data) == 0 {
		v.add("data", "at least one value required")
	}
	keys := make([]string, 0, len(m.Data))
	for k := range m.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the errors in a stable order
	for _, k := range keys {
		checkTemplateValue(&v, k, m.Data[k])
	}
	return v.err()
}

// checkTemplateValue checks the value of key k.
func checkTemplateValue(v *validator, k string, tv TemplateValue) {
	if k == "" {
		v.add("data", "a key must not be empty")
		return
	}
	field := "data." + k
	if v.required(field+".value", tv.Value) {
		v.utf8(field+".value", tv.Value)
	}
	if tv.Color != "" && !isHexColor(tv.Color) {
		v.add(field+".color", `must be "#RRGGBB"`)
	}
}

// isHexColor reports whether s is "#" and six hex digits.
func isHexColor(s string) bool {
	if len(s) != 7 || s[0] != '#' {
		return false
	}
	for _, c := range s[1:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// SendTemplate validates m and sends it (POST
// /cgi-bin/message/template/send); the answer's MsgID is WeChat's id of the
// message, which its TEMPLATESENDJOBFINISH event names. No window is
// needed. Errors to branch on: ErrTemplateRefused (43101), ErrBadTemplate
// (40037 unknown template_id, 47003 a bad data value), ErrNotFollowing
// (43004), ErrInvalidOpenID (40003), ErrDailyQuota (45009), ErrRateLimited
// (45011).
//
// Delivery: a message without ClientMsgID is a write like Send's: an
// unknown outcome is retried only under RetryPolicy.RetryUnknown. With a
// ClientMsgID, WeChat sends one message per ToUser and ClientMsgID within
// TemplateDedupWindow, so an unknown outcome is retried under any policy
// that allows more than one attempt: a retry cannot deliver the message
// twice. Keep the ClientMsgID when you send the message again yourself
// after ErrDeliveryUnknown, within the window.
//
// https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html
func (c *Client) SendTemplate(ctx context.Context, m *TemplateMessage) (*Response, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	body, err := marshalWire(m)
	if err != nil {
		return nil, err
	}
	resp := &Response{ErrMsg: "ok"}
	r := &request{method: http.MethodPost, path: templateSendPath,
		retryUnknown: c.ep.retry.RetryUnknown || m.ClientMsgID != "", out: resp}
	if err := c.do(ctx, r.withJSON(body)); err != nil {
		return nil, err
	}
	return resp, nil
}
