package kefutest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// The request log of WithAdminAPI (PathAdminRequests).

// The log's bounds: it keeps the latest maxLogged requests, each with at
// most maxLoggedQuery bytes of query and maxLoggedMethod of method, so that
// a flood of requests holds a bounded amount of memory.
const (
	maxLogged       = 1000
	maxLoggedQuery  = 1024
	maxLoggedMethod = 16
)

// redacted replaces the value of the query parameters that are credentials.
const redacted = "REDACTED"

// credentials are the query parameters the log redacts.
var credentials = []string{"access_token", "secret"}

// loggedRequest is one entry of the request log.
type loggedRequest struct {
	Method  string `json:"method"`
	Path    string `json:"path"`
	Query   string `json:"query"`           // credentials redacted
	Status  int    `json:"status"`          // 0: no answer (DropNext, or the client went away)
	ErrCode *int   `json:"errcode"`         // of a JSON answer (0 if it has none); null otherwise
	Fault   string `json:"fault,omitempty"` // the fault applied: fail, status, raw, drop or delay
	Time    int64  `json:"time"`            // arrival, Unix seconds of the server's clock
}

// reqLog is a ring of the latest maxLogged requests.
type reqLog struct {
	ring []loggedRequest
	next int // the oldest entry, once the ring is full
}

func (l *reqLog) add(e loggedRequest) {
	if len(l.ring) < maxLogged {
		l.ring = append(l.ring, e)
		return
	}
	l.ring[l.next] = e
	l.next = (l.next + 1) % maxLogged
}

// entries returns the entries for path (every one if path is ""), oldest
// first; [] when none.
func (l *reqLog) entries(path string) []loggedRequest {
	out := []loggedRequest{}
	for i := range l.ring {
		if e := l.ring[(l.next+i)%len(l.ring)]; path == "" || e.Path == path {
			out = append(out, e)
		}
	}
	return out
}

// faultNames name the fault kinds in the log.
var faultNames = map[faultKind]string{
	faultFail: "fail", faultStatus: "status", faultRaw: "raw", faultDrop: "drop", faultDelay: "delay",
}

// logRequest logs a request to one of the WeChat paths that arrived at at,
// took fault f (nil for none) and ended with rep and out. Requests to other
// paths are not logged: they keep nothing.
func (s *Server) logRequest(r *http.Request, at time.Time, f *fault, rep reply, out outcome) {
	if _, ok := routes[r.URL.Path]; !ok {
		return
	}
	e := loggedRequest{
		Method: truncate(r.Method, maxLoggedMethod),
		Path:   r.URL.Path,
		Query:  truncate(redactQuery(r.URL.RawQuery), maxLoggedQuery),
		Time:   at.Unix(),
	}
	if f != nil {
		e.Fault = faultNames[f.kind]
	}
	if out == answered {
		e.Status, e.ErrCode = rep.status, errcodeOf(rep)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log.add(e)
}

// redactQuery returns the query raw with the credentials' values replaced
// by "REDACTED", re-encoded (sorted by key; malformed pairs dropped).
func redactQuery(raw string) string {
	q, _ := url.ParseQuery(raw) // q holds the pairs that parse
	for _, k := range credentials {
		for i := range q[k] {
			q[k][i] = redacted
		}
	}
	return q.Encode()
}

// truncate cuts s to at most n bytes.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// errcodeOf returns the errcode of a JSON answer, 0 if it has none, or nil
// if the answer is not a JSON object.
func errcodeOf(rep reply) *int {
	var a struct {
		ErrCode int `json:"errcode"`
	}
	if rep.contentType != contentJSON || json.Unmarshal(rep.body, &a) != nil {
		return nil
	}
	return &a.ErrCode
}
