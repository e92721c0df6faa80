package kefutest

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/kefu-go/kefu"
)

// send answers POST /cgi-bin/message/custom/send, checking in WeChat's
// order: token, body, message type, content and media, user, window and
// quota. An accepted message is recorded, uses its window's quota and ends
// the typing state; one refused for a known user enters the user's
// Conversation as EntryRefused.
func (s *Server) send(body []byte) reply {
	var m kefu.Message
	if code := s.decodeBody(body, &m); code != 0 {
		return errReply(code)
	}
	now := s.Now()
	if code := s.checkType(m.MsgType); code != 0 {
		return s.refuse(m.ToUser, body, code, now)
	}
	if code := s.checkContent(&m); code != 0 {
		return s.refuse(m.ToUser, body, code, now)
	}
	u, ok := s.users[m.ToUser]
	if !ok {
		return errReply(40003)
	}
	if !u.following {
		return s.refuse(m.ToUser, body, 45015, now)
	}
	w, code := u.pick(now)
	if code != 0 {
		return s.refuse(m.ToUser, body, code, now)
	}
	if w.left > 0 {
		w.left--
	}
	u.conv = append(u.conv, entry{kind: EntrySent, at: now, body: append([]byte(nil), body...)})
	s.recordSent(&m, now)
	u.lastExchange = now
	u.typingUntil = time.Time{} // a message ends the typing state
	return okReply()
}

// maxRefused bounds the refused sends a user's conversation keeps: the
// latest ones, so that a flood of refused sends is held in bounded memory.
const maxRefused = 100

// refuse answers errcode code to a send of body to openID, recording the
// refusal in the user's conversation when the user is known (WeChat's
// refusals then show where they happened), dropping the oldest one kept
// past maxRefused.
func (s *Server) refuse(openID string, body []byte, code int, now time.Time) reply {
	u, ok := s.users[openID]
	if !ok {
		return errReply(code)
	}
	if u.refused == maxRefused {
		i := slices.IndexFunc(u.conv, func(e entry) bool { return e.kind == EntryRefused })
		u.conv = slices.Delete(u.conv, i, i+1)
	} else {
		u.refused++
	}
	u.conv = append(u.conv, entry{kind: EntryRefused, at: now, body: append([]byte(nil), body...), code: code})
	return errReply(code)
}

// checkType answers 40008 for a type the account cannot send at all, and,
// on a Mini Program, 45162 for a type a Mini Program may not send.
func (s *Server) checkType(t kefu.MsgType) int {
	switch t {
	case kefu.TypeText, kefu.TypeImage, kefu.TypeMiniProgramPage:
		return 0
	case kefu.TypeLink:
		if s.cfg.miniProgram {
			return 0
		}
		return 40008
	case kefu.TypeVoice, kefu.TypeVideo, kefu.TypeMusic, kefu.TypeNews, kefu.TypeMPNews,
		kefu.TypeMPNewsArticle, kefu.TypeMsgMenu, kefu.TypeWxCard:
		if s.cfg.miniProgram {
			return 45162
		}
		return 0
	}
	return 40008
}

// checkContent checks the body msgtype names: 44004 empty text (or an empty
// menu), 45002 text over WithMaxTextBytes, 44003 news without articles,
// 45008 news with more than one, 40007 a media id that is missing, unknown
// or of the wrong kind. A missing body counts as an empty one. m.MsgType is
// known (checkType).
func (s *Server) checkContent(m *kefu.Message) int {
	body := m.Body()
	if body == nil {
		body = emptyBody(m.MsgType)
	}
	switch b := body.(type) {
	case *kefu.Text:
		return s.checkText(b)
	case *kefu.News:
		return checkNews(b)
	case *kefu.MsgMenu:
		if len(b.List) == 0 {
			return 44004
		}
	case *kefu.Media:
		return mediaCode(s.mediaIs(b.MediaID, mediaKinds[m.MsgType]))
	case *kefu.Video:
		return mediaCode(s.mediaIs(b.MediaID, MediaVideo) && (b.ThumbMediaID == "" || s.thumbOK(b.ThumbMediaID)))
	case *kefu.Music:
		return mediaCode(s.thumbOK(b.ThumbMediaID))
	case *kefu.MPNewsArticle:
		return mediaCode(s.mediaIs(b.ArticleID, MediaArticle))
	case *kefu.WxCard:
		return mediaCode(s.mediaIs(b.CardID, MediaCard))
	case *kefu.MiniProgramPage:
		return mediaCode(s.thumbOK(b.ThumbMediaID))
	}
	return 0 // a link: nothing to look up
}

// mediaKinds is the media kind of a *kefu.Media body, by msgtype.
var mediaKinds = map[kefu.MsgType]MediaKind{
	kefu.TypeImage:  MediaImage,
	kefu.TypeVoice:  MediaVoice,
	kefu.TypeMPNews: MediaMPNews,
}

// emptyBody returns an empty body of the type t names, as a message whose
// body is {} decodes (on the wire a body's key is its msgtype).
func emptyBody(t kefu.MsgType) any {
	var m kefu.Message
	json.Unmarshal([]byte(`{"msgtype":`+strconv.Quote(string(t))+`,`+strconv.Quote(string(t))+`:{}}`), &m) // t is a known type
	return m.Body()
}

// checkText answers 44004 for empty text, 45002 for text over
// WithMaxTextBytes.
func (s *Server) checkText(b *kefu.Text) int {
	switch {
	case b.Content == "":
		return 44004
	case s.cfg.maxText > 0 && len(b.Content) > s.cfg.maxText:
		return 45002
	}
	return 0
}

// checkNews answers 44003 for news without articles, 45008 for more than
// one.
func checkNews(b *kefu.News) int {
	switch {
	case len(b.Articles) == 0:
		return 44003
	case len(b.Articles) > 1:
		return 45008
	}
	return 0
}

// mediaCode is 0 if the ids were fine, else 40007.
func mediaCode(ok bool) int {
	if ok {
		return 0
	}
	return 40007
}
