package kefutest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu/kefutest"
)

// The admin API seen as a test in another language sees it: after
// NewServer(WithAdminAPI()), only HTTP requests and JSON, and of the Server
// only its URL and credentials (what "kefu fake" prints).

// outsider is a test outside Go, driving a fake over HTTP.
type outsider struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newOutsider(t *testing.T, opts ...kefutest.ServerOption) (*outsider, string, string) {
	srv := newServer(t, append([]kefutest.ServerOption{kefutest.WithAdminAPI()}, opts...)...)
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	return &outsider{t: t, base: srv.URL, hc: hc}, srv.AppID, srv.AppSecret
}

// try makes a request; body, unless nil, is sent as JSON (a string as is).
func (o *outsider) try(method, pathQuery string, body any) (status int, ctype string, b []byte, err error) {
	o.t.Helper()
	var r io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(v)
	default:
		j, err := json.Marshal(v)
		require.NoError(o.t, err)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, o.base+pathQuery, r)
	require.NoError(o.t, err)
	resp, err := o.hc.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err = io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b, err
}

// call makes a request that must be answered, decodes a JSON answer into
// out (unless nil), and returns the status and the raw answer.
func (o *outsider) call(method, pathQuery string, body, out any) (int, string) {
	o.t.Helper()
	status, _, b, err := o.try(method, pathQuery, body)
	require.NoError(o.t, err, "%s %s", method, pathQuery)
	if out != nil {
		require.NoError(o.t, json.Unmarshal(b, out), "%s %s: %s", method, pathQuery, b)
	}
	return status, string(b)
}

// admin posts an admin request that must succeed.
func (o *outsider) admin(path string, body any) {
	o.t.Helper()
	status, b := o.call(http.MethodPost, path, body, nil)
	require.Equal(o.t, http.StatusOK, status, "%s: %s", path, b)
	require.JSONEq(o.t, okBody, b, path)
}

// get reads an admin GET endpoint into out.
func (o *outsider) get(pathQuery string, out any) {
	o.t.Helper()
	status, b := o.call(http.MethodGet, pathQuery, nil, out)
	require.Equal(o.t, http.StatusOK, status, "%s: %s", pathQuery, b)
}

// token fetches a classic token with the app's credentials.
func (o *outsider) token(appID, secret string) string {
	o.t.Helper()
	var a answer
	q := url.Values{"grant_type": {"client_credential"}, "appid": {appID}, "secret": {secret}}
	o.get(kefutest.PathToken+"?"+q.Encode(), &a)
	require.NotEmpty(o.t, a.AccessToken, a.ErrMsg)
	return a.AccessToken
}

// wechat calls a WeChat JSON endpoint with tok and returns the errcode.
func (o *outsider) wechat(path, tok string, body any) int {
	o.t.Helper()
	var a answer
	status, b := o.call(http.MethodPost, path+"?access_token="+url.QueryEscape(tok), body, &a)
	require.Equal(o.t, http.StatusOK, status, b)
	return a.ErrCode
}

func textTo(openID, content string) map[string]any {
	return map[string]any{"touser": openID, "msgtype": "text", "text": map[string]string{"content": content}}
}

// logEntry is an entry of the request log.
type logEntry struct {
	Method  string `json:"method"`
	Path    string `json:"path"`
	Query   string `json:"query"`
	Status  int    `json:"status"`
	ErrCode *int   `json:"errcode"`
	Fault   string `json:"fault"`
	Time    int64  `json:"time"`
}

type window struct {
	Open   bool  `json:"open"`
	Closes int64 `json:"closes"`
	Left   int   `json:"left"`
}

func TestAdminOverHTTPOnly(t *testing.T) {
	t.Parallel()
	o, appID, secret := newOutsider(t, kefutest.WithFrozenClock(start))
	tok := o.token(appID, secret)
	send := func(to, s string) int { return o.wechat(kefutest.PathSend, tok, textTo(to, s)) }

	// A follower without a window: 45015, one step away.
	o.admin(kefutest.PathAdminAddUser, map[string]string{"openid": "o1"})
	assert.Equal(t, 45015, send("o1", "too early"))
	var w window
	o.get(kefutest.PathAdminWindow+"?openid=o1&action=UserMessage", &w)
	assert.Equal(t, window{}, w)

	// The user writes: 5 replies, then 45047.
	o.admin(kefutest.PathAdminInteract, map[string]string{"openid": "o1", "action": "UserMessage"})
	o.get(kefutest.PathAdminWindow+"?openid=o1&action=usermessage", &w)
	assert.Equal(t, window{Open: true, Closes: start.Unix() + 48*3600, Left: 5}, w)
	for i := range 5 {
		require.Zero(t, send("o1", fmt.Sprint("reply ", i)), i)
	}
	assert.Equal(t, 45047, send("o1", "6th"))
	o.get(kefutest.PathAdminWindow+"?openid=o1&action=UserMessage", &w)
	assert.Equal(t, 0, w.Left)

	// Typing, over WeChat's endpoint, seen through the admin API.
	var typing struct{ Typing bool }
	o.get(kefutest.PathAdminTyping+"?openid=o1", &typing)
	assert.False(t, typing.Typing)
	require.Zero(t, o.wechat(kefutest.PathTyping, tok, map[string]string{"touser": "o1", "command": "Typing"}))
	o.get(kefutest.PathAdminTyping+"?openid=o1", &typing)
	assert.True(t, typing.Typing)

	// Every fault once, on a user who paid (unlimited replies).
	o.admin(kefutest.PathAdminInteract, map[string]string{"openid": "o2", "action": "Payment"})
	o.admin(kefutest.PathAdminFailNext, map[string]any{"path": kefutest.PathSend, "n": 1, "errcode": -1})
	assert.Equal(t, -1, send("o2", "busy"))
	assert.Zero(t, send("o2", "after busy"))

	o.admin(kefutest.PathAdminDropNext, map[string]any{"path": kefutest.PathSend, "n": 1})
	_, _, _, err := o.try(http.MethodPost, kefutest.PathSend+"?access_token="+tok, textTo("o2", "dropped"))
	assert.Error(t, err, "the connection is cut unanswered")

	o.admin(kefutest.PathAdminStatusNext, map[string]any{"path": kefutest.PathSend, "n": 1, "status": 503})
	status, ctype, b, err := o.try(http.MethodPost, kefutest.PathSend+"?access_token="+tok, textTo("o2", "proxy"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, "text/html", ctype)
	assert.Contains(t, string(b), "503 Service Unavailable")

	o.admin(kefutest.PathAdminDelayNext, map[string]any{"path": kefutest.PathSend, "n": 1, "seconds": 0.001})
	assert.Zero(t, send("o2", "late"))

	o.admin(kefutest.PathAdminRawNext, map[string]any{"path": kefutest.PathSend, "n": 1, "status": 200, "body": `{"errcode":0`})
	status, _, b, err = o.try(http.MethodPost, kefutest.PathSend+"?access_token="+tok, textTo("o2", "garbled"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, `{"errcode":0`, string(b))

	// What was delivered: the dropped and the delayed messages were.
	var msgs []struct {
		Text struct{ Content string } `json:"text"`
	}
	o.get(kefutest.PathAdminMessages+"?openid=o2", &msgs)
	var got []string
	for _, m := range msgs {
		got = append(got, m.Text.Content)
	}
	assert.Equal(t, []string{"after busy", "dropped", "late"}, got)

	// Call counts: 7 sends to o1, 6 to o2; one token, one typing.
	var calls map[string]int
	o.get(kefutest.PathAdminCalls+"?path="+url.QueryEscape(kefutest.PathSend), &calls)
	assert.Equal(t, map[string]int{kefutest.PathSend: 13}, calls)
	o.get(kefutest.PathAdminCalls, &calls)
	assert.Equal(t, 1, calls[kefutest.PathToken])
	assert.Equal(t, 1, calls[kefutest.PathTyping])
	assert.Equal(t, 0, calls[kefutest.PathMsgRecords])
	assert.Len(t, calls, 22, "every WeChat path")

	// The request log: every send, the token redacted, answers and faults.
	var log []logEntry
	status, raw := o.call(http.MethodGet, kefutest.PathAdminRequests, nil, &log)
	require.Equal(t, http.StatusOK, status)
	assert.NotContains(t, raw, tok)
	assert.NotContains(t, raw, secret)
	require.Len(t, log, 15)
	assert.Equal(t, kefutest.PathToken, log[0].Path)
	assert.Equal(t, "appid="+appID+"&grant_type=client_credential&secret=REDACTED", log[0].Query)
	o.get(kefutest.PathAdminRequests+"?path="+url.QueryEscape(kefutest.PathSend), &log)
	require.Len(t, log, 13)
	type seen struct {
		status  int
		errcode any
		fault   string
	}
	var sends []seen
	for _, e := range log {
		assert.Equal(t, http.MethodPost, e.Method)
		assert.Equal(t, "access_token=REDACTED", e.Query)
		assert.Equal(t, start.Unix(), e.Time)
		var code any
		if e.ErrCode != nil {
			code = *e.ErrCode
		}
		sends = append(sends, seen{e.Status, code, e.Fault})
	}
	assert.Equal(t, []seen{
		{200, 45015, ""}, {200, 0, ""}, {200, 0, ""}, {200, 0, ""}, {200, 0, ""}, {200, 0, ""}, {200, 45047, ""},
		{200, -1, "fail"}, {200, 0, ""}, {0, nil, "drop"}, {503, nil, "status"}, {200, 0, "delay"}, {200, nil, "raw"},
	}, sends)

	// Unfollowing closes the windows.
	o.admin(kefutest.PathAdminUnfollow, map[string]string{"openid": "o2"})
	assert.Equal(t, 45015, send("o2", "gone"))

	// The clock.
	var now struct {
		Now  int64
		Time string
	}
	o.get(kefutest.PathAdminNow, &now)
	assert.Equal(t, start.Unix(), now.Now)
	assert.Equal(t, "2024-05-01T02:00:00Z", now.Time)
	o.call(http.MethodPost, kefutest.PathAdminAdvance, map[string]any{"seconds": 60}, nil)
	o.get(kefutest.PathAdminNow, &now)
	assert.Equal(t, start.Unix()+60, now.Now)

	// Media: an id added, one uploaded.
	o.admin(kefutest.PathAdminInteract, map[string]string{"openid": "o3", "action": "Payment"})
	o.admin(kefutest.PathAdminAddMedia, map[string]string{"kind": "image", "media_id": "m1"})
	image := func(id string) map[string]any {
		return map[string]any{"touser": "o3", "msgtype": "image", "image": map[string]string{"media_id": id}}
	}
	assert.Zero(t, o.wechat(kefutest.PathSend, tok, image("m1")))
	assert.Equal(t, 40007, o.wechat(kefutest.PathSend, tok, image("m2")))
	uploaded := o.upload(tok, "a.png", []byte("png bytes"))
	assert.Zero(t, o.wechat(kefutest.PathSend, tok, image(uploaded)))
	var ups []map[string]any
	o.get(kefutest.PathAdminUploads, &ups)
	require.Len(t, ups, 1)
	assert.Equal(t, uploaded, ups[0]["id"])
	assert.Equal(t, "image", ups[0]["kind"])
	assert.Equal(t, "a.png", ups[0]["filename"])
	assert.EqualValues(t, 9, ups[0]["size"])
	assert.EqualValues(t, start.Unix()+60, ups[0]["created"])
	assert.Len(t, ups[0]["sha256"], 64)

	// Accounts: added, invited (WeChat's endpoint), accepted, online; a
	// waiting user, a session, a record.
	o.admin(kefutest.PathAdminAddAccount, map[string]string{"kf_account": "kf01@shop", "nickname": "Alice"})
	require.Zero(t, o.wechat(kefutest.PathInviteWorker, tok, map[string]string{"kf_account": "kf01@shop", "invite_wx": "alice_wx"}))
	o.admin(kefutest.PathAdminAcceptInvite, map[string]string{"kf_account": "kf01@shop"})
	assert.Equal(t, 65415, o.wechat(kefutest.PathSessionCreate, tok, map[string]string{"kf_account": "kf01@shop", "openid": "o3"}))
	o.admin(kefutest.PathAdminSetOnline, map[string]any{"kf_account": "kf01@shop", "online": true})
	o.admin(kefutest.PathAdminAddWaiting, map[string]string{"openid": "o4"})
	require.Zero(t, o.wechat(kefutest.PathSessionCreate, tok, map[string]string{"kf_account": "kf01@shop", "openid": "o4"}))
	var session struct {
		KfAccount string `json:"kf_account"`
	}
	o.get(kefutest.PathAdminSession+"?openid=o4", &session)
	assert.Equal(t, "kf01@shop", session.KfAccount)
	o.admin(kefutest.PathAdminAddRecord, map[string]any{"openid": "o4", "opercode": 2001, "text": "hello", "time": start.Unix()})
	var records struct {
		List []struct {
			OpenID   string `json:"openid"`
			OperCode int    `json:"opercode"`
			Text     string `json:"text"`
		} `json:"recordlist"`
	}
	o.call(http.MethodPost, kefutest.PathMsgRecords+"?access_token="+tok,
		map[string]any{"starttime": start.Unix(), "endtime": start.Unix() + 3600, "msgid": 1, "number": 100}, &records)
	require.NotEmpty(t, records.List)
	last := records.List[len(records.List)-1]
	assert.Equal(t, "o4 2001 hello", fmt.Sprint(last.OpenID, " ", last.OperCode, " ", last.Text))

	var tokens []string
	o.get(kefutest.PathAdminTokens, &tokens)
	assert.Equal(t, []string{tok}, tokens)

	// Reset: a new server's state, with the same credentials and clock.
	o.admin(kefutest.PathAdminReset, nil)
	o.get(kefutest.PathAdminTokens, &tokens)
	assert.Empty(t, tokens)
	o.get(kefutest.PathAdminCalls, &calls)
	assert.Len(t, calls, 22)
	for p, n := range calls {
		assert.Zero(t, n, p)
	}
	o.get(kefutest.PathAdminRequests, &log)
	assert.Empty(t, log)
	o.get(kefutest.PathAdminMessages+"?openid=o2", &msgs)
	assert.Empty(t, msgs)
	o.get(kefutest.PathAdminWindow+"?openid=o1&action=UserMessage", &w)
	assert.Equal(t, window{}, w)
	o.get(kefutest.PathAdminUploads, &ups)
	assert.Empty(t, ups)
	o.get(kefutest.PathAdminSession+"?openid=o4", &session)
	assert.Empty(t, session.KfAccount)
	o.get(kefutest.PathAdminNow, &now)
	assert.Equal(t, start.Unix()+60, now.Now, "the clock does not go back")
	assert.Equal(t, 40001, o.wechat(kefutest.PathTyping, tok, map[string]string{"touser": "o1", "command": "CancelTyping"}),
		"tokens are forgotten")

	tok = o.token(appID, secret)
	assert.Equal(t, 40003, send("o1", "who?"), "users are gone")
	assert.Equal(t, 40007, o.wechat(kefutest.PathSend, tok, image("m1")), "media are gone")
	assert.Equal(t, 65401, o.wechat(kefutest.PathSessionClose, tok, map[string]string{"kf_account": "kf01@shop", "openid": "o4"}),
		"accounts are gone")
	o.admin(kefutest.PathAdminFailNext, map[string]any{"path": kefutest.PathSend, "n": 1, "errcode": 45009})
	o.admin(kefutest.PathAdminReset, nil)
	tok = o.token(appID, secret)
	o.admin(kefutest.PathAdminInteract, map[string]string{"openid": "o1", "action": "Follow"})
	assert.Zero(t, send("o1", "no fault left"))
	var sendCalls map[string]int
	o.get(kefutest.PathAdminCalls+"?path="+url.QueryEscape(kefutest.PathSend), &sendCalls)
	assert.Equal(t, map[string]int{kefutest.PathSend: 1}, sendCalls)
}

// upload uploads an image as a temporary media and returns its media id.
func (o *outsider) upload(tok, filename string, content []byte) string {
	o.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, err := mw.CreateFormFile("media", filename)
	require.NoError(o.t, err)
	fw.Write(content)
	require.NoError(o.t, mw.Close())
	req, err := http.NewRequest(http.MethodPost, o.base+kefutest.PathMediaUpload+"?type=image&access_token="+tok, &b)
	require.NoError(o.t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := o.hc.Do(req)
	require.NoError(o.t, err)
	defer resp.Body.Close()
	var a struct {
		MediaID string `json:"media_id"`
	}
	require.NoError(o.t, json.NewDecoder(resp.Body).Decode(&a))
	require.NotEmpty(o.t, a.MediaID)
	return a.MediaID
}

func TestAdminNewEndpointsBadRequests(t *testing.T) {
	t.Parallel()
	o, _, _ := newOutsider(t)
	send := kefutest.PathSend
	for _, tc := range []struct {
		method, path string
		body         any
		status, code int
		msg          string
	}{
		{http.MethodGet, kefutest.PathAdminAddUser, nil, 405, 43002, "require POST method"},
		{http.MethodPost, kefutest.PathAdminCalls, nil, 405, 43001, "require GET method"},
		{http.MethodPost, kefutest.PathAdminReset + "x", nil, 404, 0, ""},
		{http.MethodPost, kefutest.PathAdminAddUser, `{}`, 400, 47001, "openid missing"},
		{http.MethodPost, kefutest.PathAdminAddUser, `{"openid":"` + strings.Repeat("o", 129) + `"}`, 400, 47001, "openid longer than 128 bytes"},
		{http.MethodPost, kefutest.PathAdminUnfollow, `{"openid":"o1","x":1}`, 400, 47001, `unknown field "x"`},
		{http.MethodGet, kefutest.PathAdminWindow + "?openid=o1", nil, 400, 47001, `unknown action ""`},
		{http.MethodGet, kefutest.PathAdminWindow + "?action=Follow", nil, 400, 47001, "openid missing"},
		{http.MethodGet, kefutest.PathAdminTyping, nil, 400, 47001, "openid missing"},
		{http.MethodGet, kefutest.PathAdminSession, nil, 400, 47001, "openid missing"},
		{http.MethodPost, kefutest.PathAdminFailNext, map[string]any{"path": "/nope", "n": 1, "errcode": -1}, 400, 47001, "not one of the fake's WeChat paths"},
		{http.MethodPost, kefutest.PathAdminFailNext, map[string]any{"path": kefutest.PathAdminInteract, "n": 1, "errcode": -1}, 400, 47001, "not one of the fake's WeChat paths"},
		{http.MethodPost, kefutest.PathAdminFailNext, map[string]any{"n": 1, "errcode": -1}, 400, 47001, "path missing"},
		{http.MethodPost, kefutest.PathAdminFailNext, map[string]any{"path": send, "errcode": -1}, 400, 47001, "n missing"},
		{http.MethodPost, kefutest.PathAdminFailNext, map[string]any{"path": send, "n": -1, "errcode": -1}, 400, 47001, "negative n"},
		{http.MethodPost, kefutest.PathAdminFailNext, map[string]any{"path": send, "n": 1}, 400, 47001, "errcode missing"},
		{http.MethodPost, kefutest.PathAdminDropNext, map[string]any{"path": send, "n": 1, "errcode": -1}, 400, 47001, `unknown field "errcode"`},
		{http.MethodPost, kefutest.PathAdminStatusNext, map[string]any{"path": send, "n": 1, "status": 600}, 400, 47001, "status must be 200 to 599"},
		{http.MethodPost, kefutest.PathAdminStatusNext, map[string]any{"path": send, "n": 1}, 400, 47001, "status missing"},
		{http.MethodPost, kefutest.PathAdminDelayNext, map[string]any{"path": send, "n": 1, "seconds": -1}, 400, 47001, "negative seconds"},
		{http.MethodPost, kefutest.PathAdminDelayNext, map[string]any{"path": send, "n": 1}, 400, 47001, "seconds missing"},
		{http.MethodPost, kefutest.PathAdminRawNext, map[string]any{"path": send, "n": 1, "status": 200}, 400, 47001, "body missing"},
		{http.MethodPost, kefutest.PathAdminRawNext, map[string]any{"path": send, "n": 1, "body": ""}, 400, 47001, "status missing"},
		{http.MethodGet, kefutest.PathAdminCalls + "?path=/nope", nil, 400, 47001, "not one of the fake's WeChat paths"},
		{http.MethodGet, kefutest.PathAdminRequests + "?path=/nope", nil, 400, 47001, "not one of the fake's WeChat paths"},
		{http.MethodPost, kefutest.PathAdminAddMedia, map[string]string{"kind": "gif", "media_id": "m1"}, 400, 47001,
			"unknown media kind: want one of image, voice, video, thumb, mpnews, article, card"},
		{http.MethodPost, kefutest.PathAdminAddMedia, map[string]string{"kind": "image"}, 400, 47001, "media_id missing"},
		{http.MethodPost, kefutest.PathAdminAddAccount, map[string]string{"kf_account": "kf01", "nickname": "A"}, 400, 47001, "kf_account"},
		{http.MethodPost, kefutest.PathAdminAddAccount, map[string]string{"kf_account": "kf01@shop", "nickname": ""}, 400, 47001, "nickname must be 1 to 16 characters"},
		{http.MethodPost, kefutest.PathAdminSetOnline, map[string]any{"kf_account": "kf09@shop", "online": true}, 400, 47001, "unknown kf_account"},
		{http.MethodPost, kefutest.PathAdminSetOnline, map[string]any{"kf_account": "kf09@shop"}, 400, 47001, "online missing"},
		{http.MethodPost, kefutest.PathAdminAcceptInvite, map[string]any{"kf_account": "kf09@shop"}, 400, 47001, "no pending invitation"},
		{http.MethodPost, kefutest.PathAdminAddWaiting, `{"openid":""}`, 400, 47001, "openid missing"},
		{http.MethodPost, kefutest.PathAdminAddRecord, map[string]any{"openid": "o1"}, 400, 47001, "opercode missing"},
		{http.MethodPost, kefutest.PathAdminAddRecord, map[string]any{"openid": "o1", "opercode": 2002, "time": -1}, 400, 47001, "negative time"},
	} {
		var a answer
		var out any = &a
		if tc.status == 404 {
			out = nil
		}
		status, b := o.call(tc.method, tc.path, tc.body, out)
		assert.Equal(t, tc.status, status, "%s %s %v: %s", tc.method, tc.path, tc.body, b)
		assert.Equal(t, tc.code, a.ErrCode, b)
		assert.Contains(t, a.ErrMsg, tc.msg, "%s %v", tc.path, tc.body)
	}
	// Nothing was kept: no user, no fault, no account.
	var calls map[string]int
	o.get(kefutest.PathAdminCalls, &calls)
	for p, n := range calls {
		assert.Zero(t, n, p)
	}
}

// TestAdminLimits checks the admin API's bounds over HTTP: 1000 faults
// queued per path, the log's latest 1000 requests, and nothing logged for
// made-up paths.
func TestAdminLimits(t *testing.T) {
	t.Parallel()
	srv := newServer(t, kefutest.WithAdminAPI())
	o := &outsider{t: t, base: srv.URL, hc: &http.Client{Transport: &http.Transport{}}}
	defer o.hc.CloseIdleConnections()

	fail := map[string]any{"path": kefutest.PathTyping, "n": 1, "errcode": -1}
	for range 1000 {
		o.admin(kefutest.PathAdminFailNext, fail)
	}
	status, b := o.call(http.MethodPost, kefutest.PathAdminFailNext, fail, nil)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, b, "1000 faults already queued for "+kefutest.PathTyping)

	for i := range 1010 {
		o.call(http.MethodPost, fmt.Sprintf("%s?access_token=t%d&%s", kefutest.PathTyping, i, strings.Repeat("x", 2000)), `{}`, nil)
		o.call(http.MethodGet, fmt.Sprintf("/made/up/%d", i), nil, nil)
	}
	var log []logEntry
	o.get(kefutest.PathAdminRequests, &log)
	require.Len(t, log, 1000, "the latest 1000")
	for _, e := range log {
		require.Equal(t, kefutest.PathTyping, e.Path)
		require.LessOrEqual(t, len(e.Query), 1024)
		require.True(t, strings.HasPrefix(e.Query, "access_token=REDACTED&x"), e.Query)
	}
	assert.Equal(t, "fail", log[989].Fault, "the 1000th faulted call")
	assert.Empty(t, log[990].Fault)
	assert.Equal(t, 1010, srv.Calls(kefutest.PathTyping))
	assert.Equal(t, map[string]int{"requests": 1000}, srv.Kept(), "the faults are used up; bad tokens keep nothing")
}
