package kefutest

import (
	"time"

	"github.com/kefu-go/kefu"
)

// send answers POST /cgi-bin/message/custom/send, checking in WeChat's
// order: token, body, message type, content and media, user, window and
// quota. An accepted message is recorded, uses its window's quota and ends
// the typing state.
func (s *Server) send(body []byte) reply {
	var m kefu.Message
	if code := s.decodeBody(body, &m); code != 0 {
		return errReply(code)
	}
	if code := s.checkType(m.MsgType); code != 0 {
		return errReply(code)
	}
	if code := s.checkContent(&m); code != 0 {
		return errReply(code)
	}
	u, ok := s.users[m.ToUser]
	if !ok {
		return errReply(40003)
	}
	if !u.following {
		return errReply(45015)
	}
	now := s.Now()
	w, code := u.pick(now)
	if code != 0 {
		return errReply(code)
	}
	if w.left > 0 {
		w.left--
	}
	u.sent = append(u.sent, append([]byte(nil), body...))
	s.recordSent(&m, now)
	u.lastExchange = now
	u.typingUntil = time.Time{} // a message ends the typing state
	return okReply()
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
// or of the wrong kind. A missing body counts as an empty one.
func (s *Server) checkContent(m *kefu.Message) int {
	switch m.MsgType {
	case kefu.TypeText:
		switch {
		case m.Text == nil || m.Text.Content == "":
			return 44004
		case s.cfg.maxText > 0 && len(m.Text.Content) > s.cfg.maxText:
			return 45002
		}
	case kefu.TypeNews:
		switch {
		case m.News == nil || len(m.News.Articles) == 0:
			return 44003
		case len(m.News.Articles) > 1:
			return 45008
		}
	case kefu.TypeMsgMenu:
		if m.MsgMenu == nil || len(m.MsgMenu.List) == 0 {
			return 44004
		}
	case kefu.TypeImage:
		return mediaCode(m.Image != nil && s.mediaIs(m.Image.MediaID, MediaImage))
	case kefu.TypeVoice:
		return mediaCode(m.Voice != nil && s.mediaIs(m.Voice.MediaID, MediaVoice))
	case kefu.TypeVideo:
		return mediaCode(m.Video != nil && s.mediaIs(m.Video.MediaID, MediaVideo) &&
			(m.Video.ThumbMediaID == "" || s.thumbOK(m.Video.ThumbMediaID)))
	case kefu.TypeMusic:
		return mediaCode(m.Music != nil && s.thumbOK(m.Music.ThumbMediaID))
	case kefu.TypeMPNews:
		return mediaCode(m.MPNews != nil && s.mediaIs(m.MPNews.MediaID, MediaMPNews))
	case kefu.TypeMPNewsArticle:
		return mediaCode(m.MPNewsArticle != nil && s.mediaIs(m.MPNewsArticle.ArticleID, MediaArticle))
	case kefu.TypeWxCard:
		return mediaCode(m.WxCard != nil && s.mediaIs(m.WxCard.CardID, MediaCard))
	case kefu.TypeMiniProgramPage:
		return mediaCode(m.MiniProgramPage != nil && s.thumbOK(m.MiniProgramPage.ThumbMediaID))
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
