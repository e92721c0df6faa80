package kefutest

import (
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/kefu-go/kefu"
)

// The endpoint paths the server answers. Pass them to Calls and to the
// fault methods (FailNext, DropNext, ...). Any other path answers 404.
const (
	PathToken       = "/cgi-bin/token"                 // classic token: GET ?grant_type=client_credential&appid=&secret=
	PathStableToken = "/cgi-bin/stable_token"          // stable token: POST {grant_type, appid, secret, force_refresh}
	PathSend        = "/cgi-bin/message/custom/send"   // send a customer-service message
	PathTyping      = "/cgi-bin/message/custom/typing" // Typing / CancelTyping
)

// The media and customer-service management paths (see manage.go and
// upload.go for what each checks).
const (
	PathMediaUpload    = "/cgi-bin/media/upload"                   // temporary media: POST multipart "media", ?type=image|voice|video|thumb
	PathUploadImg      = "/cgi-bin/media/uploadimg"                // article image: POST multipart "media"
	PathAccountAdd     = "/customservice/kfaccount/add"            // POST {kf_account, nickname}
	PathAccountUpdate  = "/customservice/kfaccount/update"         // POST {kf_account, nickname}
	PathAccountDelete  = "/customservice/kfaccount/del"            // POST {kf_account}
	PathInviteWorker   = "/customservice/kfaccount/inviteworker"   // POST {kf_account, invite_wx}
	PathAccountAvatar  = "/customservice/kfaccount/uploadheadimg"  // POST multipart "media", ?kf_account=
	PathAccounts       = "/cgi-bin/customservice/getkflist"        // GET
	PathOnlineAccounts = "/cgi-bin/customservice/getonlinekflist"  // GET
	PathSessionCreate  = "/customservice/kfsession/create"         // POST {kf_account, openid}
	PathSessionClose   = "/customservice/kfsession/close"          // POST {kf_account, openid}
	PathSession        = "/customservice/kfsession/getsession"     // GET ?openid=
	PathSessions       = "/customservice/kfsession/getsessionlist" // GET ?kf_account=
	PathWaitCases      = "/customservice/kfsession/getwaitcase"    // GET
	PathMsgRecords     = "/customservice/msgrecord/getmsglist"     // POST {starttime, endtime, msgid, number}
)

// The quota and template message paths (see quota.go and template.go).
const (
	PathQuota        = "/cgi-bin/openapi/quota/get"     // POST {cgi_path}
	PathClearQuota   = "/cgi-bin/clear_quota"           // POST {appid}
	PathTemplateSend = "/cgi-bin/message/template/send" // POST {touser, template_id, url, miniprogram, client_msg_id, data}
)

// maxBody bounds a request body; larger bodies answer 45002.
const maxBody = 1 << 20

// Server is a fake WeChat API server. Create it with NewServer and Close it
// when done. Its methods are safe for concurrent use.
type Server struct {
	// URL is the server's base URL, "http://127.0.0.1:PORT" (or "http://"
	// and the address of the WithListener listener): pass it to
	// kefu.WithBaseURL, or use Client.
	URL string
	// AppID and AppSecret are the account's credentials, random unless set
	// with WithApp. The token endpoints accept only these.
	AppID     string
	AppSecret string
	// OriginalID is the account's original id (原始ID): "gh_" and 12 hex
	// digits, stable for an AppID. Pushes (WithCallback) carry it as
	// ToUserName, and a passive reply must come from it.
	OriginalID string

	cfg     config
	pusher  *pusher // WithCallback's; nil without
	clock   clock
	ts      *httptest.Server
	closing chan struct{} // closed by Close: cuts DelayNext holds short
	once    sync.Once

	changes changes // what the inbox shows changed; see inbox_events.go

	mu     sync.Mutex
	tokens tokenBook
	users  map[string]*user
	media  map[string]MediaKind // media id -> kind
	calls  map[string]int
	faults map[string][]*fault
	mg     manage       // accounts, sessions, records, uploads; see manage.go
	lim    limits       // daily quotas and per-minute limits; see quota.go
	tpl    templateBook // templates, refusals, client_msg_ids; see template.go
	log    reqLog       // the latest requests, kept with WithAdminAPI only
}

// config is what the ServerOptions set.
type config struct {
	appID, secret string
	frozen        bool
	frozenAt      time.Time
	escapeCheck   bool
	maxText       int
	miniProgram   bool
	listener      net.Listener
	admin         bool
	inbox         bool // WithInbox

	dailyQuota map[string]int // WithDailyQuota, by path
	rateLimit  map[string]int // WithRateLimit, by path

	callback        *callbackConfig // WithCallback
	callbackTimeout time.Duration   // WithCallbackTimeout; 0: the default
}

// ServerOption configures NewServer.
type ServerOption func(*config)

// WithFrozenClock starts the server's clock at t and keeps it there: only
// Advance moves it. Without it the clock follows real time (plus whatever
// Advance added).
func WithFrozenClock(t time.Time) ServerOption {
	return func(c *config) { c.frozen, c.frozenAt = true, t }
}

// WithEscapeCheck turns the 40033 check on (the default, as WeChat does) or
// off. When on, a JSON body holding the escapes \u003c, \u003e or \u0026 (in
// any hex case), as Go's json.Marshal writes <, > and &, is refused with
// 40033 on every JSON endpoint.
func WithEscapeCheck(on bool) ServerOption {
	return func(c *config) { c.escapeCheck = on }
}

// WithMaxTextBytes makes text messages whose content is longer than n bytes
// answer 45002 (content size out of limit). WeChat documents no exact
// limit; without this option the server sets none (n <= 0: none).
func WithMaxTextBytes(n int) ServerOption {
	return func(c *config) { c.maxText = n }
}

// WithMiniProgram makes the server act as a Mini Program's API: the send
// endpoint accepts only text, image, link and miniprogrampage messages and
// answers 45162 for other known types, and a user's windows follow the
// Mini Program rule: one counter per user, which each action sets to the
// larger of what is left and its count, with the later deadline (see
// Interact). Without it the server is an Official Account's, which answers
// 40008 for link and keeps one window per action.
func WithMiniProgram() ServerOption {
	return func(c *config) { c.miniProgram = true }
}

// WithApp sets the account's credentials instead of random ones. Both must
// be non-empty.
func WithApp(appID, secret string) ServerOption {
	if appID == "" || secret == "" {
		panic("kefutest: WithApp needs a non-empty app id and secret")
	}
	return func(c *config) { c.appID, c.secret = appID, secret }
}

// WithListener makes NewServer serve on l instead of a random port of
// 127.0.0.1, e.g. a listener on a fixed address for a fake that other
// processes reach. The server owns l: Close closes it. The server's URL is
// "http://" and l.Addr(), so l should be a TCP listener on an address that
// clients can dial as it is (not 0.0.0.0 or [::] for clients that cannot).
// A nil l panics.
func WithListener(l net.Listener) ServerOption {
	if l == nil {
		panic("kefutest: WithListener needs a listener")
	}
	return func(c *config) { c.listener = l }
}

// WithAdminAPI adds the admin endpoints, for driving a fake that runs as a
// process of its own (kefu fake) from a test written in any language. The
// PathAdmin constants list them, each with its body or query: a user's
// state (interact, add_user, unfollow, window, typing, messages), the clock
// (advance, now), tokens (rotate_tokens, tokens), every fault (fail_next,
// drop_next, status_next, delay_next, raw_next), call counts and the
// request log (calls, requests), media (add_media, uploads), accounts,
// sessions and records (add_account, set_online, accept_invite,
// add_waiting, session, add_record), quotas and template messages
// (daily_quota, rate_limit, add_template, refuse_templates, templates), pushes to the callback URL of
// WithCallback (say, push) and a user's conversation (conversation), and
// reset. Each constant's doc names the Server method it calls.
//
// POST endpoints take one JSON object, decoded strictly, and answer
// {"errcode":0,"errmsg":"ok"} (advance adds "now"); reset and
// rotate_tokens ignore their bodies. GET endpoints answer their data as
// JSON. A bad request answers HTTP 400 with errcode 47001 and an errmsg that
// says what is wrong; a wrong method HTTP 405 with errcode 43001 (require
// GET) or 43002 (require POST). Ids (openids, media ids, kf_accounts) have
// at most 128 bytes; at most 1000 faults are queued per path. Admin calls
// are not counted by Calls, not logged, and no fault applies to them.
// Anyone who can reach the server can use them, and no credentials are
// asked for: the server is a fake.
//
// With this option the server also logs the latest 1000 requests to its
// WeChat paths (not those to other paths, which keep nothing), for
// PathAdminRequests: each entry is {"method","path","query","status",
// "errcode","fault","time"}, the query with the values of access_token and
// secret replaced by "REDACTED" (re-encoded, at most 1024 bytes), status 0
// when no answer went out (DropNext, or the client went away), errcode that
// of a JSON answer (0 if it has none) or null, fault the scripted or random
// fault applied ("fail", "status", "raw", "drop", "delay"; absent if none),
// time the arrival in Unix seconds of the server's clock.
//
// Without this option, as on WeChat, those paths answer 404 like any
// unknown path; Calls still counts them.
func WithAdminAPI() ServerOption {
	return func(c *config) { c.admin = true }
}

// NewServer starts a fake WeChat server on 127.0.0.1 (or on the listener of
// WithListener). It has no users and no media until the test adds them.
// Close it when done.
func NewServer(opts ...ServerOption) *Server {
	cfg := config{escapeCheck: true}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	s := &Server{
		AppID:     cfg.appID,
		AppSecret: cfg.secret,
		cfg:       cfg,
		closing:   make(chan struct{}),
	}
	s.clear()
	if s.AppID == "" {
		s.AppID = "wx" + randHex(8)
		s.AppSecret = randHex(16)
	}
	s.OriginalID = originalID(s.AppID)
	s.pusher = newPusher(&cfg, s.AppID)
	s.clock.frozen, s.clock.at = cfg.frozen, cfg.frozenAt
	if cfg.listener != nil {
		// As NewUnstartedServer does, without opening a listener of its own.
		s.ts = &httptest.Server{Listener: cfg.listener, Config: &http.Server{Handler: http.HandlerFunc(s.serveHTTP)}}
	} else {
		s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	}
	s.ts.Config.ErrorLog = log.New(io.Discard, "", 0) // silent, like a real remote server
	s.ts.Start()
	s.URL = s.ts.URL
	return s
}

// Close shuts the server down, closing its listener (also one given
// WithListener), and waits for the requests in flight to finish; answers held
// by DelayNext are sent at once. Pushes in flight (WithCallback) stop at
// once: their calls return an error. Calling it again does nothing.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closing)
		if s.pusher != nil {
			s.pusher.close()
		}
		s.ts.Close()
	})
}

// Reset puts the server back in the state of a new one: no users (so no
// windows, messages or typing states), media, uploads, accounts, sessions,
// waiting users or records; every token issued so far is forgotten (a call
// with one answers 40001); no faults, scripted or random; every Calls count
// 0; an empty request log; no quota used, no template registered or sent,
// no user refusing templates, and the daily quotas and per-minute limits of
// the options (SetDailyQuota's and SetRateLimit's are dropped). The
// credentials, the options and the clock stay:
// the clock never goes back. A request in flight during Reset may still act,
// be counted or be logged after it.
func (s *Server) Reset() {
	defer s.changed()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clear()
}

// clear sets the state that calls change to a new server's. s.mu must be
// held, or s not shared yet.
func (s *Server) clear() {
	s.tokens = tokenBook{all: make(map[string]*token)}
	s.users = make(map[string]*user)
	s.media = make(map[string]MediaKind)
	s.calls = make(map[string]int)
	s.faults = make(map[string][]*fault)
	s.mg = manage{}
	s.lim = limits{}
	s.tpl = templateBook{}
	s.log = reqLog{}
}

// FastRetry returns the retry policy Client uses: kefu's default (3
// attempts, retry errcode -1) without the backoff waits. Change a field and
// pass it with kefu.WithRetry to Client to test another policy.
func FastRetry() kefu.RetryPolicy {
	p := kefu.DefaultRetryPolicy()
	p.BaseDelay, p.MaxDelay = 0, 0
	return p
}

// clientOptions returns the options that wire a client to s, then opts.
func (s *Server) clientOptions(opts []kefu.Option) []kefu.Option {
	return append([]kefu.Option{kefu.WithBaseURL(s.URL), kefu.WithRetry(FastRetry())}, opts...)
}

// TokenSource returns a kefu token source for the server's account,
// configured with kefu.WithBaseURL(s.URL), kefu.WithRetry(FastRetry()) and
// then opts. A bad option panics: it is an error in the test's set-up.
func (s *Server) TokenSource(opts ...kefu.Option) kefu.TokenSource {
	ts, err := kefu.NewTokenSource(s.AppID, s.AppSecret, s.clientOptions(opts)...)
	if err != nil {
		panic(fmt.Sprintf("kefutest: TokenSource: %v", err))
	}
	return ts
}

// Client returns a kefu client wired to the server: its token source and
// the client itself get kefu.WithBaseURL(s.URL), kefu.WithRetry(FastRetry())
// and then opts, so a later option (another WithRetry, WithClassicToken,
// WithLogger...) wins. The client uses its own HTTP client, not the
// server's. A bad option panics: it is an error in the test's set-up.
func (s *Server) Client(opts ...kefu.Option) *kefu.Client {
	all := s.clientOptions(opts)
	ts, err := kefu.NewTokenSource(s.AppID, s.AppSecret, all...)
	if err != nil {
		panic(fmt.Sprintf("kefutest: Client: %v", err))
	}
	c, err := kefu.NewClient(ts, all...)
	if err != nil {
		panic(fmt.Sprintf("kefutest: Client: %v", err))
	}
	return c
}

// Calls returns how many requests arrived at path (e.g. PathSend) so far,
// every request counted, faulted or not. Only the server's own paths are
// counted: the Path constants, and the PathAdmin ones while WithAdminAPI is
// off (with it, admin calls are not counted). Any other path is not
// counted, even one a fault was queued for: its Calls stays 0, so that
// requests to made-up paths, however many and however long, keep nothing in
// memory.
func (s *Server) Calls(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// known reports whether path is one of the server's paths, a WeChat or an
// admin one: the paths Calls counts.
func known(path string) bool {
	_, wechat := routes[path]
	_, admin := adminRoutes[path]
	return wechat || admin
}

// serveHTTP counts the request, applies the path's next fault if any, and
// otherwise answers as WeChat would; with WithAdminAPI, it logs the request
// before the answer goes out. With WithInbox the inbox answers its own paths
// first (inbox.go).
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cfg.inbox && s.serveInbox(w, r) {
		return
	}
	if r.Method != http.MethodGet {
		defer s.changed() // whatever it changed, the inbox's pages look again
	}
	if s.cfg.admin && strings.HasPrefix(r.URL.Path, adminPrefix) {
		s.serveAdmin(w, r).write(w)
		return
	}
	at := s.Now()
	f := s.arrive(r.URL.Path)
	rep, out := s.respond(w, r, f)
	if s.cfg.admin {
		s.logRequest(r, at, f, rep, out)
	}
	switch out {
	case answered:
		rep.write(w)
	case hungUp:
		hangUp(w)
	}
}

// outcome is what becomes of a request: answered, cut off unanswered
// (DropNext), or gone (the client went away first).
type outcome uint8

const (
	answered outcome = iota
	hungUp
	gone
)

// respond carries out a request that took fault f (nil for none) and
// returns the answer and what to do with it.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, f *fault) (reply, outcome) {
	rt := routes[r.URL.Path]
	req := &request{path: r.URL.Path, query: r.URL.Query()}
	var err error
	var tooBig *http.MaxBytesError
	if rt.multipart {
		req.up, err = readUpload(w, r) // streamed: an upload is never held in memory
	} else {
		req.body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	}
	if err != nil && !errors.As(err, &tooBig) {
		return reply{}, gone
	}
	if f != nil && !f.acts() {
		return f.reply(), answered
	}
	var rep reply
	if tooBig != nil {
		rep = errReply(45002)
	} else {
		rep = s.handle(rt, req)
	}
	switch {
	case f == nil:
	case f.kind == faultDrop:
		return rep, hungUp
	case f.kind == faultDelay && !s.hold(r, f.delay):
		return rep, gone
	}
	return rep, answered
}

// request is what a handler reads of a call: its query and its body, the
// bytes of a JSON endpoint's or the parsed multipart body of an upload
// path's.
type request struct {
	path  string
	query url.Values
	body  []byte
	up    *upload
}

// route is how the server answers one path.
type route struct {
	serve     func(*Server, *request) reply
	public    bool // no access token needed: the token endpoints
	multipart bool // an upload: the body is streamed through readUpload
}

// routes are WeChat's paths, each with its handler (see the Path constants;
// any other path answers 404). The handlers run under s.mu.
var routes = map[string]route{
	PathToken:          public(withQuery((*Server).classicToken)),
	PathStableToken:    public(withJSON((*Server).stableToken)),
	PathSend:           withBody((*Server).send),
	PathTyping:         withJSON((*Server).typing),
	PathMediaUpload:    withUpload((*Server).uploadMedia),
	PathUploadImg:      withUpload((*Server).uploadImage),
	PathAccountAvatar:  withUpload((*Server).uploadAvatar),
	PathAccountAdd:     withJSON((*Server).addAccount),
	PathAccountUpdate:  withAccount((*Server).updateAccount),
	PathAccountDelete:  withAccount((*Server).deleteAccount),
	PathInviteWorker:   withAccount((*Server).inviteWorker),
	PathAccounts:       withNothing((*Server).listAccounts),
	PathOnlineAccounts: withNothing((*Server).listOnline),
	PathSessionCreate:  withAccount((*Server).createSession),
	PathSessionClose:   withAccount((*Server).closeSession),
	PathSession:        withQuery((*Server).getSession),
	PathSessions:       withQuery((*Server).listSessions),
	PathWaitCases:      withNothing((*Server).waitCases),
	PathMsgRecords:     withJSON((*Server).msgRecords),
	PathQuota:          withJSON((*Server).quotaGet),
	PathClearQuota:     withJSON((*Server).clearQuota),
	PathTemplateSend:   withJSON((*Server).sendTemplate),
}

// withBody, withJSON, withQuery, withUpload and withNothing make a handler
// a route that passes it the part of the request it reads.

func withBody(h func(*Server, []byte) reply) route {
	return route{serve: func(s *Server, r *request) reply { return h(s, r.body) }}
}

// withJSON's route decodes the body into the handler's request type first,
// answering decodeBody's errcode (44002, 47001, 40033) when it cannot.
func withJSON[T any](h func(*Server, T) reply) route {
	return route{serve: func(s *Server, r *request) reply {
		var req T
		if code := s.decodeBody(r.body, &req); code != 0 {
			return errReply(code)
		}
		return h(s, req)
	}}
}

func withQuery(h func(*Server, url.Values) reply) route {
	return route{serve: func(s *Server, r *request) reply { return h(s, r.query) }}
}

// withUpload's route streams the body through readUpload (multipart).
func withUpload(h func(*Server, url.Values, *upload) reply) route {
	return route{serve: func(s *Server, r *request) reply { return h(s, r.query, r.up) }, multipart: true}
}

func withNothing(h func(*Server) reply) route {
	return route{serve: func(s *Server, _ *request) reply { return h(s) }}
}

// public makes rt answer without an access token.
func public(rt route) route {
	rt.public = true
	return rt
}

// handle answers a request on route rt as WeChat would: 404 for an unknown
// path; otherwise, but on the token endpoints, the access token first, as
// WeChat does, then the path's daily quota and per-minute limit (quota.go),
// before the handler's own checks.
func (s *Server) handle(rt route, req *request) reply {
	if rt.serve == nil {
		return notFound()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !rt.public {
		if code := s.checkToken(req.query); code != 0 {
			return errReply(code)
		}
	}
	if code := s.admit(req.path, s.Now()); code != 0 {
		return errReply(code)
	}
	return rt.serve(s, req)
}

// hangUp closes the connection without an answer.
func hangUp(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // HTTP/2, or hijacking failed: abort the response
}

// hold waits d of real time before an answer. It returns false if the client
// gave up meanwhile (nothing left to answer), true when the wait is over or
// the server is closing.
func (s *Server) hold(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.closing:
		return true
	case <-r.Context().Done():
		return false
	}
}

// randHex returns n random bytes in lowercase hex.
func randHex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 2*n)
	for i := range b {
		b[i] = digits[rand.IntN(16)]
	}
	return string(b)
}
