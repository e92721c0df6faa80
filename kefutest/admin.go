package kefutest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/kefu-go/kefu"
)

// The admin API of WithAdminAPI (its paths are the PathAdmin constants).

// adminPrefix starts every admin path.
const adminPrefix = "/kefutest/"

// maxAdminBody bounds an admin request's body.
const maxAdminBody = 64 << 10

// maxAdminOpenID bounds an openid the admin API takes, in bytes. WeChat's
// are 28 characters; the bound keeps what a flood of admin calls can make
// the server keep to a small amount per user.
const maxAdminOpenID = 128

// maxAdvance bounds an admin advance, in seconds: what a time.Duration holds.
// Its nanoseconds, as a float64, still fit in an int64 (9223372036e9 rounds
// to within 512 of itself, under math.MaxInt64), so the conversion in
// adminAdvance cannot overflow.
const maxAdvance = float64(math.MaxInt64 / int64(time.Second))

// maxQueuedFaults bounds the faults the admin API queues for one path.
const maxQueuedFaults = 1000

// adminRoute is how the admin API answers one path: the HTTP method it
// takes, and its handler. The handlers run without s.mu: they call the
// Server's methods, or take s.mu themselves.
type adminRoute struct {
	method string
	route
}

// adminRoutes are the admin paths; any other path under adminPrefix answers
// 404.
var adminRoutes = map[string]adminRoute{
	PathAdminInteract:     {http.MethodPost, withAdmin((*Server).adminInteract)},
	PathAdminAddUser:      {http.MethodPost, withAdmin((*Server).adminAddUser)},
	PathAdminUnfollow:     {http.MethodPost, withAdmin((*Server).adminUnfollow)},
	PathAdminWindow:       {http.MethodGet, withQuery((*Server).adminWindow)},
	PathAdminWindows:      {http.MethodGet, withOpenID((*Server).adminWindows)},
	PathAdminTyping:       {http.MethodGet, withOpenID((*Server).adminTyping)},
	PathAdminMessages:     {http.MethodGet, withOpenID((*Server).adminMessages)},
	PathAdminAdvance:      {http.MethodPost, withAdmin((*Server).adminAdvance)},
	PathAdminNow:          {http.MethodGet, withNothing((*Server).adminNow)},
	PathAdminRotateTokens: {http.MethodPost, withNothing((*Server).adminRotateTokens)},
	PathAdminTokens:       {http.MethodGet, withNothing((*Server).adminTokens)},
	PathAdminReset:        {http.MethodPost, withNothing((*Server).adminReset)},
	PathAdminFailNext:     {http.MethodPost, faultRoute(faultFail)},
	PathAdminDropNext:     {http.MethodPost, faultRoute(faultDrop)},
	PathAdminStatusNext:   {http.MethodPost, faultRoute(faultStatus)},
	PathAdminDelayNext:    {http.MethodPost, faultRoute(faultDelay)},
	PathAdminRawNext:      {http.MethodPost, faultRoute(faultRaw)},
	PathAdminCalls:        {http.MethodGet, withWeChatPath((*Server).adminCalls)},
	PathAdminRequests:     {http.MethodGet, withWeChatPath((*Server).adminRequests)},
	PathAdminAddMedia:     {http.MethodPost, withAdmin((*Server).adminAddMedia)},
	PathAdminUploads:      {http.MethodGet, withNothing((*Server).adminUploads)},
	PathAdminAddAccount:   {http.MethodPost, withAdmin((*Server).adminAddAccount)},
	PathAdminSetOnline:    {http.MethodPost, withAdmin((*Server).adminSetOnline)},
	PathAdminAcceptInvite: {http.MethodPost, withAdmin((*Server).adminAcceptInvite)},
	PathAdminAddWaiting:   {http.MethodPost, withAdmin((*Server).adminAddWaiting)},
	PathAdminSession:      {http.MethodGet, withOpenID((*Server).adminSession)},
	PathAdminAddRecord:    {http.MethodPost, withAdmin((*Server).adminAddRecord)},
	PathAdminSay:          {http.MethodPost, withAdmin((*Server).adminSay)},
	PathAdminPush:         {http.MethodPost, withAdmin((*Server).adminPush)},
	PathAdminConversation: {http.MethodGet, withOpenID((*Server).adminConversation)},

	PathAdminDailyQuota:      {http.MethodPost, limitRoute(dailySpec)},
	PathAdminRateLimit:       {http.MethodPost, limitRoute(rateSpec)},
	PathAdminAddTemplate:     {http.MethodPost, withAdmin((*Server).adminAddTemplate)},
	PathAdminRefuseTemplates: {http.MethodPost, withAdmin((*Server).adminRefuseTemplates)},
	PathAdminTemplates:       {http.MethodGet, withOpenID((*Server).adminTemplates)},
}

// serveAdmin answers an admin request (WithAdminAPI): 404 for an unknown
// path, 405 for a wrong method, 400 for a body that cannot be read.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) reply {
	rt, ok := adminRoutes[r.URL.Path]
	return s.serveRoute(rt, ok, w, r)
}

// serveRoute answers r on rt, an admin route or an inbox one; ok false is
// an unknown path (404).
func (s *Server) serveRoute(rt adminRoute, ok bool, w http.ResponseWriter, r *http.Request) reply {
	if !ok {
		return notFound()
	}
	if r.Method != rt.method {
		w.Header().Set("Allow", rt.method)
		return wrongMethod(rt.method)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		return badRequest(fmt.Sprintf("reading the body: %v", err))
	}
	return rt.serve(s, &request{query: r.URL.Query(), body: body})
}

// adminBody is the body of a POST admin endpoint, as a pointer to the
// struct it decodes into: want is an example of the body, check what is
// wrong with a decoded one ("" if nothing).
type adminBody[T any] interface {
	*T
	want() string
	check() string
}

// withAdmin's route decodes the body strictly into the handler's request
// type and checks it, answering 400 when it cannot, then calls h.
func withAdmin[T any, P adminBody[T]](h func(*Server, P) reply) route {
	return route{serve: func(s *Server, r *request) reply {
		req := P(new(T))
		if err := decodeAdmin(r.body, req); err != nil {
			return badRequest("want " + req.want() + ": " + err.Error())
		}
		if problem := req.check(); problem != "" {
			return badRequest(problem)
		}
		return h(s, req)
	}}
}

// withOpenID's route passes h the query's openid, answering 400 without one.
func withOpenID(h func(*Server, string) reply) route {
	return withQuery(func(s *Server, q url.Values) reply {
		openID := q.Get("openid")
		if openID == "" {
			return badRequest("openid missing: want ?openid=OPENID")
		}
		return h(s, openID)
	})
}

// idProblem says what is wrong with an id the admin API keeps (an openid,
// a media id, a kf_account...) named field: missing, or too long.
func idProblem(field, id, want string) string {
	switch {
	case id == "":
		return field + " missing: want " + want
	case len(id) > maxAdminOpenID:
		return fmt.Sprintf("%s longer than %d bytes", field, maxAdminOpenID)
	}
	return ""
}

// userReq is the body of the endpoints that name a user.
type userReq struct {
	OpenID string `json:"openid"`
}

func (*userReq) want() string    { return `{"openid":"o1"}` }
func (r *userReq) check() string { return idProblem("openid", r.OpenID, r.want()) }

// interactReq is the body of PathAdminInteract.
type interactReq struct {
	OpenID string `json:"openid"`
	Action string `json:"action"`
	action Action // Action, parsed by check
}

func (*interactReq) want() string { return `{"openid":"o1","action":"UserMessage"}` }

func (r *interactReq) check() string {
	if p := idProblem("openid", r.OpenID, r.want()); p != "" {
		return p
	}
	a, err := kefu.ParseAction(r.Action)
	if err != nil {
		return ruleOf(err)
	}
	r.action = a
	return ""
}

// adminInteract answers PathAdminInteract: Interact.
func (s *Server) adminInteract(req *interactReq) reply {
	s.Interact(req.OpenID, req.action)
	return okReply()
}

// adminAddUser answers PathAdminAddUser: AddUser.
func (s *Server) adminAddUser(req *userReq) reply {
	s.AddUser(req.OpenID)
	return okReply()
}

// adminUnfollow answers PathAdminUnfollow: Unfollow.
func (s *Server) adminUnfollow(req *userReq) reply {
	s.Unfollow(req.OpenID)
	return okReply()
}

// adminWindow answers PathAdminWindow: Window.
func (s *Server) adminWindow(q url.Values) reply {
	const want = "want ?openid=OPENID&action=UserMessage"
	openID := q.Get("openid")
	if openID == "" {
		return badRequest("openid missing: " + want)
	}
	a, err := kefu.ParseAction(q.Get("action"))
	if err != nil {
		return badRequest(ruleOf(err))
	}
	w := s.Window(openID, a)
	return jsonReply(struct {
		Open   bool  `json:"open"`
		Closes int64 `json:"closes"`
		Left   int   `json:"left"`
	}{w.Open, unixOrZero(w.Closes), w.Left})
}

// adminWindows answers PathAdminWindows: Windows, with each action's window.
func (s *Server) adminWindows(openID string) reply {
	type actionWindow struct {
		Action string `json:"action"`
		Open   bool   `json:"open"`
		Closes int64  `json:"closes"`
		Left   int    `json:"left"`
	}
	st := s.Windows(openID)
	all := []actionWindow{}
	for _, a := range kefu.Actions() {
		if w := s.Window(openID, a); !w.Closes.IsZero() {
			all = append(all, actionWindow{a.String(), w.Open, w.Closes.Unix(), w.Left})
		}
	}
	return jsonReply(struct {
		Known     bool           `json:"known"`
		Open      bool           `json:"open"`
		Remaining int            `json:"remaining"`
		Closes    int64          `json:"closes"`
		Windows   []actionWindow `json:"windows"`
	}{st.Known, st.Open, st.Remaining, unixOrZero(st.Closes), all})
}

// adminTyping answers PathAdminTyping: Typing.
func (s *Server) adminTyping(openID string) reply {
	return jsonReply(struct {
		Typing bool `json:"typing"`
	}{s.Typing(openID)})
}

// adminMessages answers PathAdminMessages: Messages, [] when none, a
// passive reply marked "passive":true.
func (s *Server) adminMessages(openID string) reply {
	msgs, passive := s.messages(openID)
	out := make([]any, len(msgs))
	for i := range msgs {
		if passive[i] {
			out[i] = passiveJSON{msgs[i], true}
		} else {
			out[i] = msgs[i]
		}
	}
	return jsonReply(out)
}

// passiveJSON is a passive reply in PathAdminMessages: the message's keys
// and "passive":true.
type passiveJSON struct {
	kefu.Message
	Passive bool `json:"passive"`
}

// advanceReq is the body of PathAdminAdvance.
type advanceReq struct {
	Seconds *float64 `json:"seconds"`
}

func (*advanceReq) want() string    { return `{"seconds":N}, N >= 0` }
func (r *advanceReq) check() string { return secondsProblem(r.Seconds, r.want()) }

// secondsProblem says what is wrong with a duration in seconds.
func secondsProblem(seconds *float64, want string) string {
	switch {
	case seconds == nil:
		return "seconds missing: want " + want
	case *seconds < 0:
		return "negative seconds: the server clock does not go back"
	case *seconds > maxAdvance:
		return fmt.Sprintf("seconds above %.0f", maxAdvance)
	}
	return ""
}

// duration is seconds, which secondsProblem accepted, as a time.Duration.
func duration(seconds *float64) time.Duration {
	return time.Duration(*seconds * float64(time.Second))
}

// adminAdvance answers PathAdminAdvance: Advance, and the server's new time.
func (s *Server) adminAdvance(req *advanceReq) reply {
	s.Advance(duration(req.Seconds))
	return jsonReply(struct {
		wechatAnswer
		Now int64 `json:"now"`
	}{wechatAnswer{0, "ok"}, s.Now().Unix()})
}

// adminNow answers PathAdminNow: Now.
func (s *Server) adminNow() reply {
	now := s.Now()
	return jsonReply(struct {
		Now  int64  `json:"now"`
		Time string `json:"time"`
	}{now.Unix(), now.Format(time.RFC3339Nano)})
}

// adminRotateTokens answers PathAdminRotateTokens: RotateTokens.
func (s *Server) adminRotateTokens() reply {
	s.RotateTokens()
	return okReply()
}

// adminTokens answers PathAdminTokens: IssuedTokens.
func (s *Server) adminTokens() reply { return jsonReply(s.IssuedTokens()) }

// adminReset answers PathAdminReset: Reset.
func (s *Server) adminReset() reply {
	s.Reset()
	return okReply()
}

// unixOrZero is t in Unix seconds, 0 for the zero time.
func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// adminError is an admin endpoint's error answer: WeChat's shape, without
// a rid (the admin API is not WeChat's), with an HTTP status that curl -f and
// the like notice.
func adminError(status, code int, msg string) reply {
	r := jsonReply(wechatAnswer{code, msg})
	r.status = status
	return r
}

// badRequest is the answer to an admin request that cannot be carried out:
// HTTP 400, errcode 47001, and what is wrong.
func badRequest(problem string) reply {
	return adminError(http.StatusBadRequest, 47001, "kefutest: "+problem)
}

// wrongMethod is the answer to an admin request with a method other than
// want: HTTP 405, errcode 43001 (require GET) or 43002 (require POST).
func wrongMethod(want string) reply {
	code := 43002
	if want == http.MethodGet {
		code = 43001
	}
	return adminError(http.StatusMethodNotAllowed, code, "require "+want+" method")
}

// decodeAdmin decodes an admin request's body, one JSON object, into v.
// Unknown fields are errors: a typo would otherwise go unnoticed.
func decodeAdmin(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New("empty body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

// ruleOf returns the rule a *kefu.ValidationError names (e.g. `unknown
// action "Wave": want one of ...`), or the error's text.
func ruleOf(err error) string {
	if ve := (*kefu.ValidationError)(nil); errors.As(err, &ve) {
		return ve.Rule
	}
	return err.Error()
}
