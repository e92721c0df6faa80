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

// adminRoute is how the admin API answers one path: the HTTP method it
// takes, and its handler. The handlers run without s.mu: they call the
// Server's methods.
type adminRoute struct {
	method string
	route
}

// adminRoutes are the admin paths; any other path under adminPrefix answers
// 404.
var adminRoutes = map[string]adminRoute{
	PathAdminInteract:     {http.MethodPost, withBody((*Server).adminInteract)},
	PathAdminAdvance:      {http.MethodPost, withBody((*Server).adminAdvance)},
	PathAdminRotateTokens: {http.MethodPost, withNothing((*Server).adminRotateTokens)},
	PathAdminMessages:     {http.MethodGet, withQuery((*Server).adminMessages)},
}

// serveAdmin answers an admin request (WithAdminAPI): 404 for an unknown
// path, 405 for a wrong method, 400 for a body that cannot be read.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) reply {
	rt, ok := adminRoutes[r.URL.Path]
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

// adminInteract answers PathAdminInteract: Interact.
func (s *Server) adminInteract(body []byte) reply {
	var req struct {
		OpenID string `json:"openid"`
		Action string `json:"action"`
	}
	const want = `want {"openid":"o1","action":"UserMessage"}`
	if err := decodeAdmin(body, &req); err != nil {
		return badRequest(want + ": " + err.Error())
	}
	switch {
	case req.OpenID == "":
		return badRequest("openid missing: " + want)
	case len(req.OpenID) > maxAdminOpenID:
		return badRequest(fmt.Sprintf("openid longer than %d bytes", maxAdminOpenID))
	}
	a, err := kefu.ParseAction(req.Action)
	if err != nil {
		return badRequest(ruleOf(err))
	}
	s.Interact(req.OpenID, a)
	return okReply()
}

// adminAdvance answers PathAdminAdvance: Advance, and the server's new time.
func (s *Server) adminAdvance(body []byte) reply {
	var req struct {
		Seconds *float64 `json:"seconds"`
	}
	const want = `want {"seconds":N}, N >= 0`
	if err := decodeAdmin(body, &req); err != nil {
		return badRequest(want + ": " + err.Error())
	}
	switch {
	case req.Seconds == nil:
		return badRequest("seconds missing: " + want)
	case *req.Seconds < 0:
		return badRequest("negative seconds: the server clock does not go back")
	case *req.Seconds > maxAdvance:
		return badRequest(fmt.Sprintf("seconds above %.0f", maxAdvance))
	}
	s.Advance(time.Duration(*req.Seconds * float64(time.Second)))
	return jsonReply(struct {
		wechatAnswer
		Now int64 `json:"now"`
	}{wechatAnswer{0, "ok"}, s.Now().Unix()})
}

// adminRotateTokens answers PathAdminRotateTokens: RotateTokens.
func (s *Server) adminRotateTokens() reply {
	s.RotateTokens()
	return okReply()
}

// adminMessages answers PathAdminMessages: Messages, [] when none.
func (s *Server) adminMessages(q url.Values) reply {
	openID := q.Get("openid")
	if openID == "" {
		return badRequest("openid missing: want " + PathAdminMessages + "?openid=OPENID")
	}
	msgs := s.Messages(openID)
	if msgs == nil {
		msgs = []kefu.Message{}
	}
	return jsonReply(msgs)
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
