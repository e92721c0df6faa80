package kefutest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/callback"
)

// The admin endpoints that push as a user (PathAdminSay, PathAdminPush) and
// show a conversation (PathAdminConversation).

// sayReq is the body of PathAdminSay.
type sayReq struct {
	OpenID string `json:"openid"`
	Text   string `json:"text"`
}

func (*sayReq) want() string { return `{"openid":"o1","text":"hello"}` }

func (r *sayReq) check() string {
	if p := idProblem("openid", r.OpenID, r.want()); p != "" {
		return p
	}
	if r.Text == "" {
		return "text missing: want " + r.want()
	}
	return ""
}

// adminSay answers PathAdminSay: Say.
func (s *Server) adminSay(req *sayReq) reply {
	return pushReply(s.Say(req.OpenID, req.Text))
}

// pushReq is the body of PathAdminPush: the openid and callback.Message's
// fields.
type pushReq struct {
	OpenID string `json:"openid"`
	callback.Message
}

func (*pushReq) want() string {
	return `{"openid":"o1","MsgType":"event","Event":"subscribe","EventKey":"qrscene_7"}`
}

func (r *pushReq) check() string {
	if p := idProblem("openid", r.OpenID, r.want()); p != "" {
		return p
	}
	if r.FromUserName != "" && r.FromUserName != r.OpenID {
		return "FromUserName differs from openid: give openid only"
	}
	r.FromUserName, r.Raw = r.OpenID, nil
	if err := checkPush(&r.Message); err != nil {
		return strings.TrimPrefix(err.Error(), "kefutest: push: ") + ": want " + r.want()
	}
	return ""
}

// adminPush answers PathAdminPush: Push.
func (s *Server) adminPush(req *pushReq) reply {
	return pushReply(s.push(&req.Message))
}

// pushAnswer is the answer of PathAdminSay and PathAdminPush.
type pushAnswer struct {
	wechatAnswer
	MsgID       int64         `json:"msgid,omitempty"`
	Attempts    []attemptJSON `json:"attempts"`
	Reply       *replyJSON    `json:"reply"`
	Unavailable bool          `json:"unavailable"`
	ErrorShown  string        `json:"error_shown"`
	Problem     string        `json:"problem"`
}

type attemptJSON struct {
	Status   int     `json:"status"`
	Seconds  float64 `json:"seconds"`
	TimedOut bool    `json:"timed_out"`
	Error    string  `json:"error"`
}

type replyJSON struct {
	MsgType   string        `json:"msgtype"`
	Message   *kefu.Message `json:"message"`
	KfAccount string        `json:"kf_account"`
	Encrypted bool          `json:"encrypted"`
}

// pushReply is the admin answer for a push's result, or its error.
func pushReply(res *PushResult, err error) reply {
	switch {
	case errors.Is(err, ErrNoCallback):
		return badRequest("no callback URL: start the fake with --callback (WithCallback)")
	case errors.Is(err, errClosed):
		return adminError(http.StatusServiceUnavailable, -1, "kefutest: the server is closing")
	case err != nil:
		return badRequest(err.Error())
	}
	a := pushAnswer{wechatAnswer: wechatAnswer{0, "ok"}, MsgID: res.Message.MsgID, Attempts: []attemptJSON{},
		Unavailable: res.Unavailable}
	for _, at := range res.Attempts {
		j := attemptJSON{Status: at.Status, Seconds: at.Duration.Seconds(), TimedOut: at.TimedOut}
		if at.Err != nil {
			j.Error = at.Err.Error()
		}
		a.Attempts = append(a.Attempts, j)
	}
	if r := res.Reply; r != nil {
		a.Reply = &replyJSON{MsgType: r.MsgType, Message: r.Message, KfAccount: r.KfAccount, Encrypted: r.Encrypted}
	}
	if res.Unavailable {
		a.ErrorShown, a.Problem = UnavailableText, res.Err.Error()
	}
	return jsonReply(a)
}

// entryJSON is an Entry in PathAdminConversation.
type entryJSON struct {
	Kind      string         `json:"kind"`
	Time      int64          `json:"time"`
	Push      map[string]any `json:"push,omitempty"`
	Message   *kefu.Message  `json:"message,omitempty"`
	KfAccount *string        `json:"kf_account,omitempty"`
	Problem   string         `json:"problem,omitempty"`
	Template  *templateJSON  `json:"template,omitempty"`
	ErrCode   int            `json:"errcode,omitempty"`
}

// adminConversation answers PathAdminConversation: Conversation, [] when
// none.
func (s *Server) adminConversation(openID string) reply {
	conv := s.Conversation(openID)
	out := make([]entryJSON, len(conv))
	for i, e := range conv {
		out[i] = entryJSON{Kind: e.Kind.String(), Time: e.Time.Unix(), Message: e.Message, Problem: e.Problem, ErrCode: e.Code}
		if e.Push != nil {
			out[i].Push = pushFieldsJSON(e.Push)
		}
		if e.Template != nil {
			out[i].Template = newTemplateJSON(e.Template)
		}
		if e.Kind == EntryTransfer {
			out[i].KfAccount = &e.KfAccount
		}
	}
	return jsonReply(out)
}

// pushFieldsJSON is m's non-empty fields by their Go names, without Raw.
func pushFieldsJSON(m *callback.Message) map[string]any {
	c := *m
	c.Raw = nil
	b, _ := json.Marshal(&c) // strings and numbers: cannot fail
	var out map[string]any
	json.Unmarshal(b, &out)
	for k, v := range out {
		if v == nil || v == "" || v == 0.0 {
			delete(out, k)
		}
	}
	return out
}
