package kefutest

import (
	"github.com/kefu-go/kefu"
)

// The admin API's quotas, limits and template messages.

// limitReq is the body of PathAdminDailyQuota and PathAdminRateLimit: a
// WeChat path and its limit (n or per_minute, whichever the endpoint
// takes).
type limitReq struct {
	Path      string `json:"path"`
	N         *int   `json:"n"`
	PerMinute *int   `json:"per_minute"`
}

// limitSpec is what one limit endpoint takes: its count field, an example
// body, and the Server method it calls.
type limitSpec struct {
	field string
	want  string
	set   func(s *Server, path string, n int)
}

var (
	dailySpec = limitSpec{"n", `{"path":"` + PathSend + `","n":100}`, (*Server).SetDailyQuota}
	rateSpec  = limitSpec{"per_minute", `{"path":"` + PathSend + `","per_minute":10}`, (*Server).SetRateLimit}
)

func (*limitReq) want() string    { return `{"path":"` + PathSend + `",...}` }
func (r *limitReq) check() string { return wechatPathProblem(r.Path, r.want()) }

// wechatPathProblem says what is wrong with path, which must be one of the
// WeChat paths.
func wechatPathProblem(path, want string) string {
	_, wechat := routes[path]
	switch {
	case path == "":
		return "path missing: want " + want
	case !wechat:
		return "path is not one of the fake's WeChat paths (GET " + PathAdminCalls + " lists them)"
	}
	return ""
}

// limitRoute is the route of the limit endpoint spec describes.
func limitRoute(spec limitSpec) route {
	return withAdmin(func(s *Server, req *limitReq) reply {
		n, other := req.N, req.PerMinute
		if spec.field == "per_minute" {
			n, other = other, n
		}
		switch {
		case other != nil:
			return badRequest("unknown field: want " + spec.want)
		case n == nil:
			return badRequest(spec.field + " missing: want " + spec.want)
		}
		spec.set(s, req.Path, *n)
		return okReply()
	})
}

// templateIDReq is the body of PathAdminAddTemplate.
type templateIDReq struct {
	TemplateID string `json:"template_id"`
}

func (*templateIDReq) want() string { return `{"template_id":"t1"}` }
func (r *templateIDReq) check() string {
	return idProblem("template_id", r.TemplateID, r.want())
}

// adminAddTemplate answers PathAdminAddTemplate: AddTemplate.
func (s *Server) adminAddTemplate(req *templateIDReq) reply {
	s.AddTemplate(req.TemplateID)
	return okReply()
}

// adminRefuseTemplates answers PathAdminRefuseTemplates: RefuseTemplates.
func (s *Server) adminRefuseTemplates(req *userReq) reply {
	s.RefuseTemplates(req.OpenID)
	return okReply()
}

// templateJSON is a SentTemplate in PathAdminTemplates and
// PathAdminConversation.
type templateJSON struct {
	MsgID   int64                 `json:"msgid"`
	Time    int64                 `json:"time"`
	Message *kefu.TemplateMessage `json:"message"`
}

func newTemplateJSON(t *SentTemplate) *templateJSON {
	return &templateJSON{t.MsgID, t.Time.Unix(), &t.Message}
}

// adminTemplates answers PathAdminTemplates: Templates, [] when none.
func (s *Server) adminTemplates(openID string) reply {
	sent := s.Templates(openID)
	out := make([]*templateJSON, len(sent))
	for i := range sent {
		out[i] = newTemplateJSON(&sent[i])
	}
	return jsonReply(out)
}
