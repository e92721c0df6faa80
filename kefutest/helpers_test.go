package kefutest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

// The helpers shared by the tests of this package: servers, a raw HTTP view
// of them, and the management endpoints seen through it.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start is a fixed instant for frozen clocks: 2024-05-01 10:00 in UTC+8.
var start = time.Date(2024, 5, 1, 2, 0, 0, 0, time.UTC)

var ridSuffix = regexp.MustCompile(`^(.+) rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`)

func newServer(t *testing.T, opts ...kefutest.ServerOption) *kefutest.Server {
	t.Helper()
	srv := kefutest.NewServer(opts...)
	t.Cleanup(srv.Close)
	return srv
}

func frozen(t *testing.T, opts ...kefutest.ServerOption) *kefutest.Server {
	t.Helper()
	return newServer(t, append([]kefutest.ServerOption{kefutest.WithFrozenClock(start)}, opts...)...)
}

// wire is a raw HTTP view of a server, for what a kefu client would not send.
type wire struct {
	t   *testing.T
	srv *kefutest.Server
	hc  *http.Client
}

func rawClient(t *testing.T, srv *kefutest.Server) *wire {
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	return &wire{t: t, srv: srv, hc: hc}
}

// answer is any JSON answer of the fake.
type answer struct {
	ErrCode     int    `json:"errcode"`
	ErrMsg      string `json:"errmsg"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`

	status      int
	contentType string
}

// roundTrip sends a request to the server, with a Content-Type header
// unless contentType is empty, and returns the answer's status, header and
// whole body. A failed request fails the test.
func (w *wire) roundTrip(method, pathQuery, contentType string, body io.Reader) (status int, h http.Header, b []byte) {
	w.t.Helper()
	req, err := http.NewRequest(method, w.srv.URL+pathQuery, body)
	require.NoError(w.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := w.hc.Do(req)
	require.NoError(w.t, err)
	defer resp.Body.Close()
	b, err = io.ReadAll(resp.Body)
	require.NoError(w.t, err)
	return resp.StatusCode, resp.Header, b
}

// stringBody is body as a request body, none when body is empty.
func stringBody(body string) io.Reader {
	if body == "" {
		return nil
	}
	return strings.NewReader(body)
}

func (w *wire) do(method, pathQuery, body string) answer {
	w.t.Helper()
	status, h, b := w.roundTrip(method, pathQuery, "", stringBody(body))
	a := answer{status: status, contentType: h.Get("Content-Type")}
	if strings.HasPrefix(a.contentType, "application/json") {
		require.NoError(w.t, json.Unmarshal(b, &a), "answer %q", b)
	}
	return a
}

func (w *wire) post(path, token, body string) answer {
	w.t.Helper()
	if token != "" {
		path += "?access_token=" + url.QueryEscape(token)
	}
	return w.do(http.MethodPost, path, body)
}

func (w *wire) classic() answer {
	w.t.Helper()
	q := url.Values{"grant_type": {"client_credential"}, "appid": {w.srv.AppID}, "secret": {w.srv.AppSecret}}
	return w.do(http.MethodGet, kefutest.PathToken+"?"+q.Encode(), "")
}

func (w *wire) stable(force bool) answer {
	w.t.Helper()
	return w.do(http.MethodPost, kefutest.PathStableToken,
		fmt.Sprintf(`{"grant_type":"client_credential","appid":%q,"secret":%q,"force_refresh":%t}`,
			w.srv.AppID, w.srv.AppSecret, force))
}

// token returns a fresh valid (classic) token.
func (w *wire) token() string {
	w.t.Helper()
	a := w.classic()
	require.Zero(w.t, a.ErrCode, a.ErrMsg)
	return a.AccessToken
}

// probe returns the errcode a call with token meets: CancelTyping succeeds
// whenever the token is good.
func (w *wire) probe(token string) int {
	w.t.Helper()
	return w.post(kefutest.PathTyping, token, `{"touser":"nobody","command":"CancelTyping"}`).ErrCode
}

func (w *wire) send(token, body string) answer {
	w.t.Helper()
	return w.post(kefutest.PathSend, token, body)
}

func codeOf(t *testing.T, err error) int {
	t.Helper()
	var ae *kefu.APIError
	require.ErrorAs(t, err, &ae)
	return ae.Code
}

func text(to, s string) *kefu.Message { return kefu.NewText(to, s) }

// mgmt is a raw HTTP view of the management endpoints.
type mgmt struct {
	*wire
	tok string
}

func newMgmt(t *testing.T) (*kefutest.Server, *mgmt) {
	srv := frozen(t)
	w := rawClient(t, srv)
	return srv, &mgmt{wire: w, tok: w.token()}
}

// call makes a request with the token and decodes any JSON answer.
func (m *mgmt) call(method, path, query, ctype string, body io.Reader) map[string]any {
	m.t.Helper()
	q, err := url.ParseQuery(query)
	require.NoError(m.t, err)
	q.Set("access_token", m.tok)
	_, _, b := m.roundTrip(method, path+"?"+q.Encode(), ctype, body)
	var a map[string]any
	require.NoError(m.t, json.Unmarshal(b, &a), "answer %q", b)
	return a
}

func (m *mgmt) json(path, body string) map[string]any {
	m.t.Helper()
	return m.call(http.MethodPost, path, "", "application/json", strings.NewReader(body))
}

func (m *mgmt) get(path, query string) map[string]any {
	m.t.Helper()
	return m.call(http.MethodGet, path, query, "", nil)
}

// upload posts one file part named field.
func (m *mgmt) upload(path, query, field, filename string, content []byte) map[string]any {
	m.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	require.NoError(m.t, mw.WriteField("description", "ignored"))
	fw, err := mw.CreateFormFile(field, filename)
	require.NoError(m.t, err)
	fw.Write(content)
	require.NoError(m.t, mw.Close())
	return m.call(http.MethodPost, path, query, mw.FormDataContentType(), &b)
}

func errcode(a map[string]any) int {
	if c, ok := a["errcode"].(float64); ok {
		return int(c)
	}
	return 0
}
