package kefutest

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/callback"
)

// EntryKind says what an Entry of a Conversation records.
type EntryKind uint8

const (
	// EntryUser: the user sent a message or did an event, pushed to the
	// service (Entry.Push).
	EntryUser EntryKind = iota + 1
	// EntrySent: the send endpoint accepted a customer-service message for
	// the user (Entry.Message).
	EntrySent
	// EntryPassive: the service answered a push with a passive reply the
	// user sees (Entry.Message). It spent no window quota.
	EntryPassive
	// EntryTransfer: the service answered a push with
	// transfer_customer_service (Entry.KfAccount, "" for any account): the
	// user waits for a customer-service session. The user sees nothing.
	EntryTransfer
	// EntryUnavailable: the service did not answer a push usably, and the
	// user saw UnavailableText (Entry.Problem says why).
	EntryUnavailable
	// EntryTemplate: the template endpoint accepted a template message for
	// the user (Entry.Template).
	EntryTemplate
	// EntryRefused: the send endpoint refused a customer-service message
	// for the user (Entry.Message, what was sent; Entry.Code, WeChat's
	// errcode: 45015 no open window or not following, 45047 the windows'
	// quota used up, or a content check's). The user saw nothing. A user's
	// conversation keeps the latest 100.
	EntryRefused
)

// String returns "user", "sent", "passive", "transfer", "unavailable",
// "template" or "refused".
func (k EntryKind) String() string {
	switch k {
	case EntryUser:
		return "user"
	case EntrySent:
		return "sent"
	case EntryPassive:
		return "passive"
	case EntryTransfer:
		return "transfer"
	case EntryUnavailable:
		return "unavailable"
	case EntryTemplate:
		return "template"
	case EntryRefused:
		return "refused"
	}
	return "EntryKind(" + strconv.Itoa(int(k)) + ")"
}

// Entry is one event of a user's conversation with the account.
type Entry struct {
	Kind EntryKind
	// Time is when it happened, on the server's clock.
	Time time.Time
	// Push is what the user sent or did (EntryUser), as the service
	// received it; Raw is its plain XML.
	Push *callback.Message
	// Message is what the user was shown (EntrySent, EntryPassive), or
	// what the send endpoint refused (EntryRefused).
	Message *kefu.Message
	// KfAccount is the account a transfer asked for (EntryTransfer).
	KfAccount string
	// Problem is why the user saw UnavailableText (EntryUnavailable).
	Problem string
	// Template is the template message sent (EntryTemplate).
	Template *SentTemplate
	// Code is WeChat's errcode for a refused send (EntryRefused).
	Code int
}

// entry is an Entry as the server keeps it: a message as its JSON body, so
// that each reader gets its own copy.
type entry struct {
	kind      EntryKind
	at        time.Time
	body      []byte            // EntrySent, EntryPassive, EntryRefused
	push      *callback.Message // EntryUser; never changed once kept
	kfAccount string
	problem   string
	tpl       *SentTemplate // EntryTemplate; never changed once kept
	code      int           // EntryRefused
}

// message decodes the entry's body: one the server decoded when it kept
// it, so it cannot fail.
func (e *entry) message() *kefu.Message {
	m := new(kefu.Message)
	json.Unmarshal(e.body, m)
	return m
}

// Conversation returns what passed between the user openID and the account,
// oldest first: the user's pushes, the messages sent and the passive
// replies, the template messages sent, the messages the send endpoint
// refused (with WeChat's errcode), transfers to customer service, and the
// times the user saw UnavailableText. The result is the caller's to
// change.
func (s *Server) Conversation(openID string) []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[openID]
	if !ok || len(u.conv) == 0 {
		return nil
	}
	out := make([]Entry, len(u.conv))
	for i, e := range u.conv {
		out[i] = Entry{Kind: e.kind, Time: e.at, KfAccount: e.kfAccount, Problem: e.problem, Code: e.code}
		if e.push != nil {
			p := *e.push
			p.Raw = append([]byte(nil), p.Raw...)
			out[i].Push = &p
		}
		if e.body != nil {
			out[i].Message = e.message()
		}
		if e.tpl != nil {
			out[i].Template = e.tpl.clone()
		}
	}
	return out
}

// recordPush records that the user did m at now, before the service hears
// of it: a window opens as Interact opens it, an unsubscribe unfollows.
func (s *Server) recordPush(m *callback.Message, now time.Time) {
	defer s.changed()
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.user(m.FromUserName)
	if a, ok := m.Action(); ok {
		u.interact(a, now, s.cfg.miniProgram)
	} else if m.IsEvent(callback.EventUnsubscribe) {
		u.unfollow()
	}
	kept := *m
	u.conv = append(u.conv, entry{kind: EntryUser, at: now, push: &kept})
}

// recordOutcome records what the user saw of the service's answer to a
// push: a passive reply is delivered (no quota spent), a transfer puts the
// user in the waiting queue unless in a session, a failure shows
// UnavailableText.
func (s *Server) recordOutcome(openID string, res *PushResult) {
	now := s.Now()
	defer s.changed()
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.user(openID)
	switch r := res.Reply; {
	case res.Unavailable:
		u.conv = append(u.conv, entry{kind: EntryUnavailable, at: now, problem: res.Err.Error()})
	case r == nil:
	case r.Message != nil:
		body, _ := json.Marshal(r.Message) // plain data: cannot fail
		u.conv = append(u.conv, entry{kind: EntryPassive, at: now, body: body})
		u.lastExchange = now
		u.typingUntil = time.Time{}
	default:
		u.conv = append(u.conv, entry{kind: EntryTransfer, at: now, kfAccount: r.KfAccount})
		if _, busy := s.mg.sessions[openID]; !busy {
			setIn(&s.mg.waiting, openID, now)
		}
	}
}
