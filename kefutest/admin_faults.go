package kefutest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
)

// The admin API's faults, call counts and request log.

// faultReq is the body of the fault endpoints: the WeChat path, how many
// calls, and the fields of the fault (faultSpecs says which it takes).
type faultReq struct {
	Path    string   `json:"path"`    // one of the WeChat paths
	N       *int     `json:"n"`       // the calls the fault applies to, >= 0
	ErrCode *int     `json:"errcode"` // fail_next
	Status  *int     `json:"status"`  // status_next, raw_next: 200 to 599
	Seconds *float64 `json:"seconds"` // delay_next
	Body    *string  `json:"body"`    // raw_next
}

func (*faultReq) want() string { return `{"path":"` + PathSend + `","n":1,...}` }

func (r *faultReq) check() string {
	if p := wechatPathProblem(r.Path, r.want()); p != "" {
		return p
	}
	switch {
	case r.N == nil:
		return "n missing: want " + r.want()
	case *r.N < 0:
		return "negative n: want the number of calls the fault applies to"
	}
	return ""
}

// faultSpec is what the endpoint of one kind of fault takes besides path
// and n: its fields, and an example body.
type faultSpec struct {
	fields []string
	want   string
}

var faultSpecs = map[faultKind]faultSpec{
	faultFail:   {[]string{"errcode"}, `{"path":"` + PathSend + `","n":1,"errcode":-1}`},
	faultDrop:   {nil, `{"path":"` + PathSend + `","n":1}`},
	faultStatus: {[]string{"status"}, `{"path":"` + PathSend + `","n":1,"status":503}`},
	faultDelay:  {[]string{"seconds"}, `{"path":"` + PathSend + `","n":1,"seconds":0.5}`},
	faultRaw:    {[]string{"status", "body"}, `{"path":"` + PathSend + `","n":1,"status":200,"body":"{"}`},
}

// fault returns the fault of kind that r describes, or what is wrong with r
// for that kind: a field it does not take, one missing, a bad value.
func (r *faultReq) fault(kind faultKind) (fault, string) {
	spec := faultSpecs[kind]
	for _, fld := range []struct {
		name    string
		present bool
	}{{"errcode", r.ErrCode != nil}, {"status", r.Status != nil}, {"seconds", r.Seconds != nil}, {"body", r.Body != nil}} {
		switch takes := slices.Contains(spec.fields, fld.name); {
		case fld.present && !takes:
			return fault{}, fmt.Sprintf("unknown field %q: want %s", fld.name, spec.want)
		case !fld.present && takes:
			return fault{}, fld.name + " missing: want " + spec.want
		}
	}
	f := fault{kind: kind}
	switch {
	case r.Status != nil && (*r.Status < http.StatusOK || *r.Status > 599):
		return fault{}, "status must be 200 to 599"
	case r.Status != nil:
		f.status = *r.Status
	}
	if r.Seconds != nil {
		if p := secondsProblem(r.Seconds, spec.want); p != "" {
			return fault{}, p
		}
		f.delay = duration(r.Seconds)
	}
	if r.ErrCode != nil {
		f.code = *r.ErrCode
	}
	if r.Body != nil {
		f.body = []byte(*r.Body)
	}
	return f, ""
}

// faultRoute is the route of the endpoint that queues faults of kind, at
// most maxQueuedFaults a path: FailNext, DropNext, StatusNext, DelayNext
// or RawNext.
func faultRoute(kind faultKind) route {
	return withAdmin(func(s *Server, req *faultReq) reply {
		f, problem := req.fault(kind)
		if problem != "" {
			return badRequest(problem)
		}
		if !s.addFault(req.Path, *req.N, f, maxQueuedFaults) {
			return badRequest(fmt.Sprintf("%d faults already queued for %s", maxQueuedFaults, req.Path))
		}
		return okReply()
	})
}

// withWeChatPath's route passes h the query's path, "" for none, and
// answers 400 for a path that is not one of the WeChat paths.
func withWeChatPath(h func(*Server, string) reply) route {
	return withQuery(func(s *Server, q url.Values) reply {
		p := q.Get("path")
		if _, ok := routes[p]; p != "" && !ok {
			return badRequest("path is not one of the fake's WeChat paths (GET " + PathAdminCalls + " lists them)")
		}
		return h(s, p)
	})
}

// adminCalls answers PathAdminCalls: Calls of every WeChat path, or of
// path alone.
func (s *Server) adminCalls(path string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for p := range routes {
		if path == "" || p == path {
			out[p] = s.calls[p]
		}
	}
	return jsonReply(out)
}

// adminRequests answers PathAdminRequests: the request log, or the part of
// it for path.
func (s *Server) adminRequests(path string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	return jsonReply(s.log.entries(path))
}
