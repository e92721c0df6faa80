package kefutest

import (
	"time"
)

// WeChat's typing rules.
const (
	typingLasts    = 15 * time.Second // a Typing state lasts this long
	exchangeWithin = 30 * time.Second // Typing needs a message exchange this recent
)

// typingReq is the body of the typing endpoint.
type typingReq struct {
	ToUser  string `json:"touser"`
	Command string `json:"command"`
}

// typing answers POST /cgi-bin/message/custom/typing: token, body, then
// 45072 for a command other than Typing or CancelTyping. CancelTyping always
// succeeds. Typing needs a known user (40003) who follows and has an open
// window (45015), a message exchange in the last 30 s (45080), and no typing
// state already running (45081); it starts one for 15 s.
func (s *Server) typing(req typingReq) reply {
	now := s.Now()
	u := s.users[req.ToUser]
	switch req.Command {
	case "CancelTyping":
		if u != nil {
			u.typingUntil = time.Time{}
		}
		return okReply()
	case "Typing":
	default:
		return errReply(45072)
	}
	switch {
	case u == nil:
		return errReply(40003)
	case !u.following || !u.anyOpen(now):
		return errReply(45015)
	case now.Sub(u.lastExchange) > exchangeWithin:
		return errReply(45080)
	case now.Before(u.typingUntil):
		return errReply(45081)
	}
	u.typingUntil = now.Add(typingLasts)
	return okReply()
}
