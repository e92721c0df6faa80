package kefutest

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
)

// The inbox: a web page on the fake (WithInbox) to watch and drive each
// user's conversation, like Mailpit for e-mail. The page, its script and its
// style are embedded; the page and its fragments are html/template
// renderings (inbox_view.go), the script refreshes them when the events
// stream (inbox_events.go) says something changed, and the actions a user
// takes are inbox_act.go's.

//go:embed inbox
var inboxFiles embed.FS

// The inbox's paths: the page at "/", the rest under inboxPrefix.
const (
	pathInboxPage = "/"
	inboxPrefix   = "/kefutest/inbox/"

	pathInboxUsers        = inboxPrefix + "users"         // GET: the user list (HTML)
	pathInboxConversation = inboxPrefix + "conversation"  // GET ?openid=: a conversation (HTML)
	pathInboxEvents       = inboxPrefix + "events"        // GET: text/event-stream of changes
	pathInboxAct          = inboxPrefix + "act"           // POST: act as a user
	pathInboxAddUser      = inboxPrefix + "add_user"      // POST: AddUser
	pathInboxAdvance      = inboxPrefix + "advance"       // POST: Advance
	pathInboxRotateTokens = inboxPrefix + "rotate_tokens" // POST: RotateTokens
)

// inboxCSP is the page's Content-Security-Policy: its own script and style
// files only, nothing inline, nothing from elsewhere.
const inboxCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// WithInbox serves the inbox, a web page for people, at "/" of the server's
// URL: every user (following or not, open windows with the messages left and
// when each closes, typing), newest activity first; each user's
// conversation rendered like a chat (what the user sent, every message sent
// or refused with WeChat's errcode, passive replies, template messages,
// transfers, the times the user saw UnavailableText); and buttons that act
// as the user (write, follow, unfollow, scan, click the menu, pay, tap a
// msgmenu item), add users, move the clock and rotate tokens. The page
// updates itself (server-sent events) as tests and clients change the
// server. kefu fake serves it by default.
//
// With WithCallback the user's messages and events are pushed to the
// service as Push does; without it they are recorded as if pushed (the
// window opens as Interact opens it, and the Conversation shows them), but
// no service hears of them. A payment opens its window as Interact does.
//
// The page and what it calls live under /kefutest/inbox/ (for the page's own
// use: they may change between versions); they need neither WithAdminAPI nor
// credentials, are not counted by Calls and take no fault. The page never
// shows an access token or the app secret, escapes everything users and
// services wrote, and sends a Content-Security-Policy that allows no inline
// script. Without this option "/" answers 404, as WeChat does.
func WithInbox() ServerOption {
	return func(c *config) { c.inbox = true }
}

// inboxRoutes are the inbox's endpoints but the page and the events stream.
var inboxRoutes = map[string]adminRoute{
	pathInboxUsers:        {http.MethodGet, withQuery((*Server).inboxUsers)},
	pathInboxConversation: {http.MethodGet, withOpenID((*Server).inboxConversation)},
	pathInboxAct:          {http.MethodPost, withAdmin((*Server).inboxAct)},
	pathInboxAddUser:      {http.MethodPost, withAdmin((*Server).adminAddUser)},
	pathInboxAdvance:      {http.MethodPost, withAdmin((*Server).adminAdvance)},
	pathInboxRotateTokens: {http.MethodPost, withNothing((*Server).adminRotateTokens)},
}

// inboxAssets are the static files the page loads, by their path.
var inboxAssets = map[string]string{
	inboxPrefix + "inbox.js":  "text/javascript; charset=utf-8",
	inboxPrefix + "inbox.css": "text/css; charset=utf-8",
}

// serveInbox answers r if it is for the inbox, and reports whether it was.
func (s *Server) serveInbox(w http.ResponseWriter, r *http.Request) bool {
	p := r.URL.Path
	if p != pathInboxPage && !strings.HasPrefix(p, inboxPrefix) {
		return false
	}
	h := w.Header()
	h.Set("Content-Security-Policy", inboxCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if rep, refused := crossSite(r); refused {
		rep.write(w)
		return true
	}
	switch {
	case p == pathInboxPage:
		s.inboxPage(r).write(w)
	case p == pathInboxEvents && r.Method == http.MethodGet:
		s.inboxEvents(w, r)
	case inboxAssets[p] != "":
		inboxAsset(p).write(w)
	default:
		rt, ok := inboxRoutes[p]
		s.serveRoute(rt, ok, w, r).write(w)
	}
	return true
}

// crossSite refuses a POST that another site's page made, or that is not
// JSON (which a form on another site could send without the browser asking
// first): the inbox's actions come from its own page only.
func crossSite(r *http.Request) (reply, bool) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return reply{}, false
	}
	site := r.Header.Get("Sec-Fetch-Site")
	ct := r.Header.Get("Content-Type")
	if (site != "" && site != "same-origin" && site != "none") || !strings.HasPrefix(ct, "application/json") {
		return adminError(http.StatusForbidden, 47001, "kefutest: the inbox takes JSON from its own page only"), true
	}
	return reply{}, false
}

// inboxAsset answers the embedded file at path p.
func inboxAsset(p string) reply {
	b, err := inboxFiles.ReadFile("inbox/" + path.Base(p))
	if err != nil {
		return notFound()
	}
	return reply{status: http.StatusOK, contentType: inboxAssets[p], body: b}
}

// inboxTemplates parses the page's templates once, when first needed.
var inboxTemplates = sync.OnceValue(func() *template.Template {
	sub, err := fs.Sub(inboxFiles, "inbox")
	if err != nil {
		panic("kefutest: the inbox's files: " + err.Error())
	}
	return template.Must(template.New("inbox").Funcs(template.FuncMap{
		"textParts": textParts,
		"httpURL":   httpURL,
	}).ParseFS(sub, "*.html"))
})

// renderHTML renders the template name with data as an HTML answer.
func renderHTML(name string, data any) reply {
	var b bytes.Buffer
	if err := inboxTemplates().ExecuteTemplate(&b, name, data); err != nil {
		panic("kefutest: rendering the inbox: " + err.Error()) // our own templates and data
	}
	return reply{status: http.StatusOK, contentType: "text/html; charset=utf-8", body: b.Bytes()}
}
