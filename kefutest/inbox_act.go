package kefutest

import (
	"github.com/kefu-go/kefu/callback"
)

// The inbox's "act as the user" endpoint: what a person does in WeChat, as
// a push to the service (WithCallback) or, without one, recorded as if
// pushed.

// inboxActions are the actions the inbox offers, by their name in actReq:
// each builds the message or event the user sends, nil for payment (no push:
// WeChat's payment notice goes elsewhere, only the window opens).
var inboxActions = map[string]func(r *actReq) *callback.Message{
	"say":      func(r *actReq) *callback.Message { return say(r.OpenID, r.Text) },
	"menu":     func(r *actReq) *callback.Message { return menuTap(r.OpenID, r.MenuID, r.Text) },
	"follow":   func(r *actReq) *callback.Message { return follow(r.OpenID, r.Key) },
	"unfollow": func(r *actReq) *callback.Message { return event(r.OpenID, callback.EventUnsubscribe) },
	"scan":     func(r *actReq) *callback.Message { return scan(r.OpenID, r.Key) },
	"click":    func(r *actReq) *callback.Message { return click(r.OpenID, r.Key) },
	"payment":  nil,
}

// actReq is the body of pathInboxAct: {"openid":"o1","action":"say",
// "text":"hi"}; "menu" takes menu_id and text, "scan" and "click" a key
// (default "inbox"), "follow" an optional key (the QR code's scene).
type actReq struct {
	OpenID string `json:"openid"`
	Action string `json:"action"`
	Text   string `json:"text"`
	MenuID string `json:"menu_id"`
	Key    string `json:"key"`
}

func (*actReq) want() string {
	return `{"openid":"o1","action":"say","text":"hi"}, action one of say, menu, follow, unfollow, scan, click, payment`
}

func (r *actReq) check() string {
	if p := idProblem("openid", r.OpenID, r.want()); p != "" {
		return p
	}
	if _, ok := inboxActions[r.Action]; !ok {
		return "unknown action " + r.Action + ": want " + r.want()
	}
	switch {
	case (r.Action == "say" || r.Action == "menu") && r.Text == "":
		return "text missing: want " + r.want()
	case r.Action == "menu" && r.MenuID == "":
		return `menu_id missing: want {"openid":"o1","action":"menu","menu_id":"1","text":"Yes"}`
	case (r.Action == "scan" || r.Action == "click") && r.Key == "":
		r.Key = "inbox"
	}
	return ""
}

// inboxAct answers pathInboxAct: the user does the action. With a callback
// the answer is PathAdminSay's; without, {"errcode":0,"errmsg":"ok",
// "pushed":false}.
func (s *Server) inboxAct(req *actReq) reply {
	build := inboxActions[req.Action]
	switch {
	case build == nil:
		s.Interact(req.OpenID, Payment)
	case s.pusher != nil:
		return pushReply(s.push(build(req)))
	default: // no callback URL: the action counts and enters the Conversation, no service hears of it
		s.keepPush(build(req))
	}
	return jsonReply(struct {
		wechatAnswer
		Pushed bool `json:"pushed"`
	}{wechatAnswer{0, "ok"}, false})
}
