package kefutest

import (
	"fmt"
	"net/http"
	"net/url"
)

// The admin API's faults, call counts and request log.

// faultReq is the body of PathAdminDropNext, and the start of every fault
// endpoint's: the WeChat path and how many calls.
type faultReq struct {
	Path string `json:"path"`
	N    *int   `json:"n"`
}

func (*faultReq) want() string    { return `{"path":"` + PathSend + `","n":1}` }
func (r *faultReq) check() string { return r.problem(r.want()) }

// problem says what is wrong with the path and n of a fault endpoint's body.
func (r *faultReq) problem(want string) string {
	_, wechat := routes[r.Path]
	switch {
	case r.Path == "":
		return "path missing: want " + want
	case !wechat:
		return "path is not one of the fake's WeChat paths (GET " + PathAdminCalls + " lists them)"
	case r.N == nil:
		return "n missing: want " + want
	case *r.N < 0:
		return "negative n: want the number of calls the fault applies to"
	}
	return ""
}

// failReq is the body of PathAdminFailNext.
type failReq struct {
	faultReq
	ErrCode *int `json:"errcode"`
}

func (*failReq) want() string { return `{"path":"` + PathSend + `","n":1,"errcode":-1}` }

func (r *failReq) check() string {
	if p := r.problem(r.want()); p != "" {
		return p
	}
	if r.ErrCode == nil {
		return "errcode missing: want " + r.want()
	}
	return ""
}

// statusReq is the body of PathAdminStatusNext.
type statusReq struct {
	faultReq
	Status *int `json:"status"`
}

func (*statusReq) want() string { return `{"path":"` + PathSend + `","n":1,"status":503}` }

func (r *statusReq) check() string {
	if p := r.problem(r.want()); p != "" {
		return p
	}
	return statusProblem(r.Status, r.want())
}

// statusProblem says what is wrong with a fault's HTTP status.
func statusProblem(status *int, want string) string {
	switch {
	case status == nil:
		return "status missing: want " + want
	case *status < http.StatusOK || *status > 599:
		return "status must be 200 to 599"
	}
	return ""
}

// delayReq is the body of PathAdminDelayNext.
type delayReq struct {
	faultReq
	Seconds *float64 `json:"seconds"`
}

func (*delayReq) want() string { return `{"path":"` + PathSend + `","n":1,"seconds":0.5}` }

func (r *delayReq) check() string {
	if p := r.problem(r.want()); p != "" {
		return p
	}
	return secondsProblem(r.Seconds, r.want())
}

// rawReq is the body of PathAdminRawNext.
type rawReq struct {
	faultReq
	Status *int    `json:"status"`
	Body   *string `json:"body"`
}

func (*rawReq) want() string { return `{"path":"` + PathSend + `","n":1,"status":200,"body":"{"}` }

func (r *rawReq) check() string {
	if p := r.problem(r.want()); p != "" {
		return p
	}
	if p := statusProblem(r.Status, r.want()); p != "" {
		return p
	}
	if r.Body == nil {
		return "body missing: want " + r.want()
	}
	return ""
}

// adminFault queues f for the next n calls to the path of req, at most
// maxQueuedFaults a path.
func (s *Server) adminFault(req *faultReq, f fault) reply {
	if !s.addFault(req.Path, *req.N, f, maxQueuedFaults) {
		return badRequest(fmt.Sprintf("%d faults already queued for %s", maxQueuedFaults, req.Path))
	}
	return okReply()
}

// adminFailNext answers PathAdminFailNext: FailNext.
func (s *Server) adminFailNext(req *failReq) reply {
	return s.adminFault(&req.faultReq, fault{kind: faultFail, code: *req.ErrCode})
}

// adminDropNext answers PathAdminDropNext: DropNext.
func (s *Server) adminDropNext(req *faultReq) reply {
	return s.adminFault(req, fault{kind: faultDrop})
}

// adminStatusNext answers PathAdminStatusNext: StatusNext.
func (s *Server) adminStatusNext(req *statusReq) reply {
	return s.adminFault(&req.faultReq, fault{kind: faultStatus, status: *req.Status})
}

// adminDelayNext answers PathAdminDelayNext: DelayNext.
func (s *Server) adminDelayNext(req *delayReq) reply {
	return s.adminFault(&req.faultReq, fault{kind: faultDelay, delay: duration(req.Seconds)})
}

// adminRawNext answers PathAdminRawNext: RawNext.
func (s *Server) adminRawNext(req *rawReq) reply {
	return s.adminFault(&req.faultReq, fault{kind: faultRaw, status: *req.Status, body: []byte(*req.Body)})
}

// wechatPath returns the query's path, "" for none, or a 400 answer when it
// is not one of the WeChat paths.
func wechatPath(q url.Values) (string, *reply) {
	p := q.Get("path")
	if _, ok := routes[p]; p != "" && !ok {
		r := badRequest("path is not one of the fake's WeChat paths (GET " + PathAdminCalls + " lists them)")
		return "", &r
	}
	return p, nil
}

// adminCalls answers PathAdminCalls: Calls of every WeChat path, or of
// ?path= alone.
func (s *Server) adminCalls(q url.Values) reply {
	p, bad := wechatPath(q)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for path := range routes {
		if p == "" || path == p {
			out[path] = s.calls[path]
		}
	}
	return jsonReply(out)
}

// adminRequests answers PathAdminRequests: the request log, or the part of
// it for ?path=.
func (s *Server) adminRequests(q url.Values) reply {
	p, bad := wechatPath(q)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return jsonReply(s.log.entries(p))
}
