package kefutest

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/callback"
)

// What the inbox's templates render (kefutest/inbox/*.html): plain values
// made under s.mu, so that a template never reaches into the server.

// pageView is the page: the server's public face, the user list and the
// selected user's conversation (nil when none is).
type pageView struct {
	AppID      string
	OriginalID string
	Callback   string // the callback URL without its query; "" without one
	Users      usersView
	Conv       *convView
}

// usersView is the user list.
type usersView struct {
	Now      string
	Selected string
	Users    []userView
}

// userView is one user in the list.
type userView struct {
	OpenID    string
	Following bool
	Typing    bool
	Windows   []windowView // the open ones
	Last      string       // the last activity, "" for none
	last      time.Time
}

// windowView is the window one action opened.
type windowView struct {
	Action string
	Open   bool
	Left   string // "5 left", "unlimited", "none left"
	Closes string // when it closes (or closed), on the server's clock
	In     string // how long until it closes, "" once closed
}

// convView is one user's conversation.
type convView struct {
	userView
	Known   bool
	AllWin  []windowView // every window an action opened, open or not
	Entries []entryView
}

// entryView is one entry of a conversation.
type entryView struct {
	Kind    string // EntryKind's String
	Side    string // "in" from the user, "out" to the user, "note" neither
	Time    string
	OpenID  string // for msgmenu items' buttons
	Message *kefu.Message
	From    string      // the kf_account a message came from
	Cards   []mediaCard // the media a message names
	Push    *pushView
	Tpl     *SentTemplate
	Account string // EntryTransfer's kf_account
	Problem string // EntryUnavailable's
	Shown   string // what the user saw instead (UnavailableText)
	Code    int    // EntryRefused's errcode
	ErrMsg  string // and WeChat's errmsg for it
}

// mediaCard is a media id a message names, and the uploaded file it came
// from ("" when it was not uploaded, e.g. AddMedia's).
type mediaCard struct {
	Label, ID, File string
}

// pushView is what the user sent or did.
type pushView struct {
	Type   string // MsgType, or the event's name
	Text   string // Content
	MenuID string // bizmsgmenuid: a tap on a msgmenu item
	Fields []field
}

// field is one named value of a push.
type field struct{ Name, Value string }

// clockFormat is how the inbox shows instants of the server's clock.
const clockFormat = "2006-01-02 15:04:05"

// inboxPage answers pathInboxPage: the page, with the user list and, for
// ?openid=, that user's conversation, so it reads without its script too.
func (s *Server) inboxPage(r *http.Request) reply {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return wrongMethod(http.MethodGet)
	}
	openID := r.URL.Query().Get("openid")
	v := pageView{AppID: s.AppID, OriginalID: s.OriginalID, Users: s.usersView(openID)}
	if cb := s.cfg.callback; cb != nil {
		v.Callback = withoutQuery(cb.url)
	}
	if openID != "" {
		v.Conv = s.convView(openID)
	}
	return renderHTML("page.html", v)
}

// withoutQuery is u without its user info, query and fragment: what the
// page may show of a callback URL (a query might hold a key).
func withoutQuery(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	p.User, p.RawQuery, p.ForceQuery, p.Fragment = nil, "", false, ""
	return p.String()
}

// inboxUsers answers pathInboxUsers: the user list, ?openid= marked.
func (s *Server) inboxUsers(q url.Values) reply {
	return renderHTML("users", s.usersView(q.Get("openid")))
}

// inboxConversation answers pathInboxConversation.
func (s *Server) inboxConversation(openID string) reply {
	return renderHTML("conversation", s.convView(openID))
}

// usersView returns the user list, newest activity first.
func (s *Server) usersView(selected string) usersView {
	now := s.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	v := usersView{Now: now.Format(clockFormat), Selected: selected}
	for id, u := range s.users {
		v.Users = append(v.Users, u.view(id, now))
	}
	slices.SortFunc(v.Users, func(a, b userView) int {
		return cmp.Or(b.last.Compare(a.last), strings.Compare(a.OpenID, b.OpenID))
	})
	return v
}

// view returns u, whose openid is id, as the user list shows it at now.
func (u *user) view(id string, now time.Time) userView {
	v := userView{OpenID: id, Following: u.following, Typing: now.Before(u.typingUntil), last: u.lastExchange}
	if n := len(u.conv); n > 0 && u.conv[n-1].at.After(v.last) {
		v.last = u.conv[n-1].at
	}
	if !v.last.IsZero() {
		v.Last = v.last.Format(clockFormat)
	}
	for _, w := range u.windowViews(now) {
		if w.Open {
			v.Windows = append(v.Windows, w)
		}
	}
	return v
}

// windowViews returns every window of u, in the order of the Action
// constants.
func (u *user) windowViews(now time.Time) []windowView {
	var out []windowView
	for _, a := range kefu.Actions() {
		w := u.windows[a]
		if w == nil {
			continue
		}
		wv := windowView{Action: a.String(), Open: w.open(now), Closes: w.closes.Format(clockFormat)}
		switch {
		case w.left == kefu.Unlimited:
			wv.Left = "unlimited"
		case w.left == 0:
			wv.Left = "none left"
		default:
			wv.Left = fmt.Sprintf("%d left", w.left)
		}
		if wv.Open {
			wv.In = roughly(w.closes.Sub(now))
		}
		out = append(out, wv)
	}
	return out
}

// roughly is d as a person reads it: "47h59m", "59s".
func roughly(d time.Duration) string {
	if d >= time.Hour {
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return d.Truncate(time.Second).String()
}

// convView returns openID's conversation.
func (s *Server) convView(openID string) *convView {
	now := s.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[openID]
	if !ok {
		return &convView{userView: userView{OpenID: openID}}
	}
	v := &convView{userView: u.view(openID, now), Known: true, AllWin: u.windowViews(now)}
	for _, e := range u.conv {
		v.Entries = append(v.Entries, s.entryView(openID, e))
	}
	return v
}

// entryView returns e as the conversation shows it. s.mu must be held.
func (s *Server) entryView(openID string, e entry) entryView {
	v := entryView{Kind: e.kind.String(), Side: "out", Time: e.at.Format(clockFormat), OpenID: openID,
		Tpl: e.tpl, Account: e.kfAccount, Problem: e.problem, Code: e.code}
	switch e.kind {
	case EntryUser:
		v.Side, v.Push = "in", pushViewOf(e.push)
	case EntryTransfer:
		v.Side = "note"
	case EntryUnavailable:
		v.Side, v.Shown = "note", UnavailableText
	case EntryRefused:
		v.ErrMsg = errmsg(e.code)
	}
	if e.body != nil {
		v.Message = e.message()
		if cs := v.Message.CustomService; cs != nil {
			v.From = cs.KfAccount
		}
		v.Cards = s.mediaCards(v.Message)
	}
	return v
}

// mediaCards returns the media ids m names, each with the file it was
// uploaded from. s.mu must be held.
func (s *Server) mediaCards(m *kefu.Message) []mediaCard {
	var ids []mediaCard
	add := func(label, id string) {
		if id != "" {
			ids = append(ids, mediaCard{Label: label, ID: id})
		}
	}
	switch {
	case m.Image != nil:
		add("image", m.Image.MediaID)
	case m.Voice != nil:
		add("voice", m.Voice.MediaID)
	case m.Video != nil:
		add("video", m.Video.MediaID)
		add("thumb", m.Video.ThumbMediaID)
	case m.Music != nil:
		add("thumb", m.Music.ThumbMediaID)
	case m.MPNews != nil:
		add("mpnews", m.MPNews.MediaID)
	case m.MPNewsArticle != nil:
		add("article", m.MPNewsArticle.ArticleID)
	case m.WxCard != nil:
		add("card", m.WxCard.CardID)
	case m.MiniProgramPage != nil:
		add("thumb", m.MiniProgramPage.ThumbMediaID)
	}
	for i, c := range ids {
		if up, ok := s.mg.uploads[c.ID]; ok {
			ids[i].File = up.Filename
		}
	}
	return ids
}

// pushViewOf returns what the user sent or did in m.
func pushViewOf(m *callback.Message) *pushView {
	v := &pushView{Type: m.MsgType, Text: m.Content, MenuID: m.BizMsgMenuID}
	if m.MsgType == callback.MsgTypeEvent {
		v.Type = m.Event
	}
	for name, val := range pushFieldsJSON(m) {
		switch name {
		case "ToUserName", "FromUserName", "CreateTime", "MsgType", "Event", "Content", "BizMsgMenuID", "MsgID":
			continue
		}
		v.Fields = append(v.Fields, field{name, fmt.Sprint(val)})
	}
	slices.SortFunc(v.Fields, func(a, b field) int { return strings.Compare(a.Name, b.Name) })
	return v
}

// textPart is a piece of a text message: plain text, a link (URL), or a
// Mini Program link (MiniApp, MiniPath).
type textPart struct {
	Text              string
	URL               string
	MiniApp, MiniPath string
}

var (
	// anchor is a link WeChat renders in a text message: <a ...>label</a>.
	anchor = regexp.MustCompile(`(?is)<a\s([^>]*)>(.*?)</a>`)
	// attr is one attribute of an anchor, its value quoted.
	attr = regexp.MustCompile(`([a-zA-Z][\w-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')`)
	// bareURL is an http(s) URL in plain text.
	bareURL = regexp.MustCompile(`https?://[^\s<>"'\x{3000}-\x{303f}\x{ff00}-\x{ffef}]+`)
)

// textParts splits a text message's content into what the page shows as
// text and what as links: <a href> anchors to http(s) URLs, Mini Program
// anchors (data-miniprogram-appid), and bare http(s) URLs. Anything else,
// an anchor to a javascript: URL included, stays text (html/template
// escapes it).
func textParts(content string) []textPart {
	var out []textPart
	rest := content
	for {
		loc := anchor.FindStringSubmatchIndex(rest)
		if loc == nil {
			return append(out, bareURLs(rest)...)
		}
		out = append(out, bareURLs(rest[:loc[0]])...)
		out = append(out, anchorPart(rest[loc[0]:loc[1]], rest[loc[2]:loc[3]], rest[loc[4]:loc[5]]))
		rest = rest[loc[1]:]
	}
}

// anchorPart is the part an anchor makes: whole the raw markup, attrs its
// attributes, label its text.
func anchorPart(whole, attrs, label string) textPart {
	a := map[string]string{}
	for _, m := range attr.FindAllStringSubmatch(attrs, -1) {
		a[strings.ToLower(m[1])] = m[2] + m[3]
	}
	switch {
	case a["data-miniprogram-appid"] != "":
		return textPart{Text: label, MiniApp: a["data-miniprogram-appid"], MiniPath: a["data-miniprogram-path"]}
	case httpURL(a["href"]):
		return textPart{Text: label, URL: a["href"]}
	}
	return textPart{Text: whole}
}

// bareURLs splits plain text around the http(s) URLs in it.
func bareURLs(s string) []textPart {
	var out []textPart
	for s != "" {
		loc := bareURL.FindStringIndex(s)
		if loc == nil || !httpURL(s[loc[0]:loc[1]]) {
			return append(out, textPart{Text: s})
		}
		if loc[0] > 0 {
			out = append(out, textPart{Text: s[:loc[0]]})
		}
		out = append(out, textPart{Text: s[loc[0]:loc[1]], URL: s[loc[0]:loc[1]]})
		s = s[loc[1]:]
	}
	return out
}

// httpURL reports whether u is an absolute http or https URL: the only
// links the page makes.
func httpURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != ""
}
