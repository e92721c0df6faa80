package kefutest

import (
	"maps"
	"math/rand/v2"
	"time"

	"github.com/kefu-go/kefu"
)

// templateBook is the template endpoint's state.
type templateBook struct {
	ids    map[string]bool              // AddTemplate's template ids
	refuse map[string]bool              // RefuseTemplates' openids
	sent   map[templateKey]templateSent // the latest message of each openid + client_msg_id
	lastID int64                        // the last msgid given; 0: none yet
}

// templateKey is what client_msg_id de-duplicates on.
type templateKey struct{ openID, clientMsgID string }

// templateSent is the message a client_msg_id delivered, and when.
type templateSent struct {
	msgID int64
	at    time.Time
}

// maxTemplateKeys is how many client_msg_ids the server keeps before it
// drops those older than kefu.TemplateDedupWindow.
const maxTemplateKeys = 4096

// SentTemplate is a template message the server accepted (Templates).
type SentTemplate struct {
	MsgID   int64     // the msgid the answer carried
	Time    time.Time // when it arrived, on the server's clock
	Message kefu.TemplateMessage
}

// clone returns a copy of t that shares nothing with it.
func (t *SentTemplate) clone() *SentTemplate {
	c := *t
	c.Message.Data = maps.Clone(t.Message.Data)
	if p := t.Message.MiniProgram; p != nil {
		mp := *p
		c.Message.MiniProgram = &mp
	}
	return &c
}

// AddTemplate registers the template id: template messages naming another
// answer 40037. An empty id panics.
func (s *Server) AddTemplate(id string) {
	if id == "" {
		panic("kefutest: AddTemplate needs a template id")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	setIn(&s.tpl.ids, id, true)
}

// RefuseTemplates makes the user openID refuse the account's template
// messages: they answer 43101. An empty openID panics.
func (s *Server) RefuseTemplates(openID string) {
	if openID == "" {
		panic("kefutest: empty openID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	setIn(&s.tpl.refuse, openID, true)
}

// Templates returns the template messages the user openID was sent, oldest
// first, as the template endpoint accepted them (messages delivered by a
// call that DropNext or DelayNext disturbed included; a repeat of a
// client_msg_id is not a message). Conversation shows them too. The result
// is the caller's to change.
func (s *Server) Templates(openID string) []SentTemplate {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[openID]
	if !ok {
		return nil
	}
	var out []SentTemplate
	for _, e := range u.conv {
		if e.kind == EntryTemplate {
			out = append(out, *e.tpl.clone())
		}
	}
	return out
}

// msgIDReply is the template endpoint's success: errcode 0 and the msgid.
func msgIDReply(id int64) reply {
	return jsonReply(struct {
		wechatAnswer
		MsgID int64 `json:"msgid"`
	}{wechatAnswer{0, "ok"}, id})
}

// sendTemplate answers POST /cgi-bin/message/template/send. A repeat of an
// openid + client_msg_id within kefu.TemplateDedupWindow answers the first
// message's msgid and delivers nothing. Otherwise it checks template_id
// (40037 unless AddTemplate registered it), data (47003 without values or
// with an empty one), the user (40003 unknown, 43004 not following, 43101
// refusing), and delivers: no window is needed, and none is used.
func (s *Server) sendTemplate(m kefu.TemplateMessage) reply {
	now := s.Now()
	key := templateKey{m.ToUser, m.ClientMsgID}
	if d, ok := s.tpl.sent[key]; ok && m.ClientMsgID != "" && now.Sub(d.at) < kefu.TemplateDedupWindow {
		return msgIDReply(d.msgID)
	}
	if code := s.checkTemplate(&m); code != 0 {
		return errReply(code)
	}
	id := s.tpl.nextID()
	if m.ClientMsgID != "" {
		s.tpl.remember(key, templateSent{id, now})
	}
	u := s.users[m.ToUser]
	u.conv = append(u.conv, entry{kind: EntryTemplate, at: now, tpl: &SentTemplate{MsgID: id, Time: now, Message: m}})
	return msgIDReply(id)
}

// checkTemplate returns the errcode of a template message the server
// refuses, else 0.
func (s *Server) checkTemplate(m *kefu.TemplateMessage) int {
	if !s.tpl.ids[m.TemplateID] {
		return 40037
	}
	if len(m.Data) == 0 {
		return 47003
	}
	for _, v := range m.Data {
		if v.Value == "" {
			return 47003
		}
	}
	u, ok := s.users[m.ToUser]
	switch {
	case !ok:
		return 40003
	case !u.following:
		return 43004
	case s.tpl.refuse[m.ToUser]:
		return 43101
	}
	return 0
}

// nextID returns a fresh msgid: rising, 10 digits like WeChat's.
func (b *templateBook) nextID() int64 {
	if b.lastID == 0 {
		b.lastID = 2_000_000_000 + rand.Int64N(1_000_000_000)
	}
	b.lastID++
	return b.lastID
}

// remember keeps what key delivered, dropping the keys past
// kefu.TemplateDedupWindow once maxTemplateKeys are kept.
func (b *templateBook) remember(key templateKey, d templateSent) {
	if len(b.sent) >= maxTemplateKeys {
		for k, old := range b.sent {
			if d.at.Sub(old.at) >= kefu.TemplateDedupWindow {
				delete(b.sent, k)
			}
		}
	}
	setIn(&b.sent, key, d)
}
