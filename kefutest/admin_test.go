package kefutest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

// adminAnswer is an admin endpoint's answer.
type adminAnswer struct {
	status int
	allow  string
	body   string
}

// admin calls an admin endpoint with a raw HTTP client.
func admin(t *testing.T, srv *kefutest.Server, method, pathQuery, body string) adminAnswer {
	t.Helper()
	w := &wire{t: t, srv: srv, hc: &http.Client{Transport: &http.Transport{}}}
	defer w.hc.CloseIdleConnections()
	status, h, b := w.roundTrip(method, pathQuery, "", stringBody(body))
	return adminAnswer{status: status, allow: h.Get("Allow"), body: string(b)}
}

const okBody = `{"errcode":0,"errmsg":"ok"}`

func TestAdminAPIOffByDefault(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodPost, kefutest.PathAdminInteract, `{"openid":"o1","action":"UserMessage"}`},
		{http.MethodPost, kefutest.PathAdminAdvance, `{"seconds":3600}`},
		{http.MethodPost, kefutest.PathAdminRotateTokens, ""},
		{http.MethodGet, kefutest.PathAdminMessages + "?openid=o1", ""},
	} {
		a := admin(t, srv, tc.method, tc.path, tc.body)
		assert.Equal(t, http.StatusNotFound, a.status, tc.path)
		assert.Equal(t, "404 page not found\n", a.body, tc.path)
	}
	// Nothing happened, and the calls count: the admin paths are the
	// server's own, though it answers 404 there.
	assert.Equal(t, kefutest.ActionWindow{}, srv.Window("o1", kefutest.UserMessage))
	assert.Equal(t, 1, srv.Calls(kefutest.PathAdminInteract))
}

func TestAdminInteract(t *testing.T) {
	t.Parallel()
	srv := frozen(t, kefutest.WithAdminAPI())
	for _, tc := range []struct {
		action string
		want   kefutest.Action
		left   int
		closes time.Duration
	}{
		{"UserMessage", kefutest.UserMessage, 5, 48 * time.Hour},
		{"MenuClick", kefutest.MenuClick, 3, time.Minute},
		{"Follow", kefutest.Follow, 3, time.Minute},
		{"Scan", kefutest.Scan, 3, time.Minute},
		{"payment", kefutest.Payment, -1, 48 * time.Hour}, // any case
	} {
		a := admin(t, srv, http.MethodPost, kefutest.PathAdminInteract, `{"openid":"o-`+tc.action+`","action":"`+tc.action+`"}`)
		assert.Equal(t, http.StatusOK, a.status, a.body)
		assert.JSONEq(t, okBody, a.body)
		assert.Equal(t, kefutest.ActionWindow{Open: true, Closes: start.Add(tc.closes), Left: tc.left},
			srv.Window("o-"+tc.action, tc.want), tc.action)
	}
	// The window opened over HTTP is the one Send uses.
	c := srv.Client()
	defer c.CloseIdleConnections()
	_, err := c.Send(context.Background(), kefu.NewText("o-UserMessage", "hi"))
	require.NoError(t, err)
	assert.Equal(t, 4, srv.Window("o-UserMessage", kefutest.UserMessage).Left)
	// Admin calls are not counted.
	assert.Zero(t, srv.Calls(kefutest.PathAdminInteract))
}

func TestAdminInteractEnterSession(t *testing.T) {
	t.Parallel()
	srv := frozen(t, kefutest.WithAdminAPI())
	a := admin(t, srv, http.MethodPost, kefutest.PathAdminInteract, `{"openid":"o1","action":"entersession"}`)
	assert.Equal(t, http.StatusOK, a.status, a.body)
	assert.Equal(t, kefutest.ActionWindow{Open: true, Closes: start.Add(time.Minute), Left: 2},
		srv.Window("o1", kefutest.EnterSession))

	a = admin(t, srv, http.MethodPost, kefutest.PathAdminInteract, `{"openid":"o1","action":"Wave"}`)
	assert.Equal(t, http.StatusBadRequest, a.status)
	assert.Contains(t, a.body, `"kefutest: unknown action \"Wave\": want one of UserMessage, MenuClick, Follow, Scan, Payment, EnterSession"`)
}

func TestAdminAdvance(t *testing.T) {
	t.Parallel()
	srv := frozen(t, kefutest.WithAdminAPI())
	srv.Interact("o1", kefutest.UserMessage)

	a := admin(t, srv, http.MethodPost, kefutest.PathAdminAdvance, `{"seconds":3600}`)
	assert.Equal(t, http.StatusOK, a.status, a.body)
	assert.JSONEq(t, `{"errcode":0,"errmsg":"ok","now":`+strconv.FormatInt(start.Add(time.Hour).Unix(), 10)+`}`, a.body)
	assert.Equal(t, start.Add(time.Hour), srv.Now())

	a = admin(t, srv, http.MethodPost, kefutest.PathAdminAdvance, `{"seconds":0.5}`)
	assert.Equal(t, http.StatusOK, a.status, a.body)
	assert.Equal(t, start.Add(time.Hour+500*time.Millisecond), srv.Now())

	// Past the window: the send endpoint now answers 45015.
	a = admin(t, srv, http.MethodPost, kefutest.PathAdminAdvance, `{"seconds":172800}`)
	assert.Equal(t, http.StatusOK, a.status, a.body)
	c := srv.Client()
	defer c.CloseIdleConnections()
	_, err := c.Send(context.Background(), kefu.NewText("o1", "too late"))
	assert.ErrorIs(t, err, kefu.ErrOutsideWindow)
}

// TestAdminAdvanceSaturates advances the clock by the most the admin API
// takes, again and again: the clock stops at the latest time and never goes
// back, frozen or running.
func TestAdminAdvanceSaturates(t *testing.T) {
	t.Parallel()
	for _, srv := range []*kefutest.Server{frozen(t, kefutest.WithAdminAPI()), newServer(t, kefutest.WithAdminAPI())} {
		before := srv.Now()
		var nows []int64
		for range 3 {
			a := admin(t, srv, http.MethodPost, kefutest.PathAdminAdvance, `{"seconds":9223372036}`)
			require.Equal(t, http.StatusOK, a.status, a.body)
			var ans struct {
				Now int64 `json:"now"`
			}
			require.NoError(t, json.Unmarshal([]byte(a.body), &ans), a.body)
			nows = append(nows, ans.Now)
		}
		assert.IsNonDecreasing(t, nows, "the clock never goes back")
		assert.GreaterOrEqual(t, nows[0], before.Add(9223372036*time.Second).Unix())
		assert.Equal(t, nows[2], srv.Now().Unix())
	}
	srv := frozen(t, kefutest.WithAdminAPI())
	for range 2 {
		admin(t, srv, http.MethodPost, kefutest.PathAdminAdvance, `{"seconds":9223372036}`)
	}
	assert.Equal(t, start.Add(forever), srv.Now(), "pinned at the latest time")
}

func TestAdminRotateTokens(t *testing.T) {
	t.Parallel()
	srv := newServer(t, kefutest.WithAdminAPI())
	srv.Interact("o1", kefutest.Payment)
	c := srv.Client()
	defer c.CloseIdleConnections()
	ctx := context.Background()
	_, err := c.Send(ctx, kefu.NewText("o1", "before"))
	require.NoError(t, err)
	require.Len(t, srv.IssuedTokens(), 1)

	a := admin(t, srv, http.MethodPost, kefutest.PathAdminRotateTokens, "")
	assert.Equal(t, http.StatusOK, a.status, a.body)
	assert.JSONEq(t, okBody, a.body)

	// The cached token is dead: 40001, a new token, and the send again.
	_, err = c.Send(ctx, kefu.NewText("o1", "after"))
	require.NoError(t, err)
	assert.Len(t, srv.IssuedTokens(), 2)
	assert.Equal(t, 3, srv.Calls(kefutest.PathSend))
}

func TestAdminMessages(t *testing.T) {
	t.Parallel()
	srv := newServer(t, kefutest.WithAdminAPI())
	srv.Interact("o1", kefutest.UserMessage)
	srv.AddMedia(kefutest.MediaImage, "m1")
	c := srv.Client()
	defer c.CloseIdleConnections()
	ctx := context.Background()
	const link = `<a href="https://example.com/?a=1&b=2">x</a>`
	_, err := c.Send(ctx, kefu.NewText("o1", link))
	require.NoError(t, err)
	_, err = c.Send(ctx, kefu.NewImage("o1", "m1").From("kf01@account"))
	require.NoError(t, err)

	a := admin(t, srv, http.MethodGet, kefutest.PathAdminMessages+"?openid=o1", "")
	require.Equal(t, http.StatusOK, a.status, a.body)
	assert.Contains(t, a.body, `<a href=\"https://example.com/?a=1&b=2\">`, "no HTML escaping")
	var got []kefu.Message
	require.NoError(t, json.Unmarshal([]byte(a.body), &got))
	assert.Equal(t, srv.Messages("o1"), got)
	require.Len(t, got, 2)
	assert.Equal(t, "m1", got[1].Image.MediaID)
	assert.Equal(t, "kf01@account", got[1].CustomService.KfAccount)

	// A user without messages: an empty array, not null.
	a = admin(t, srv, http.MethodGet, kefutest.PathAdminMessages+"?openid=o-nobody", "")
	assert.Equal(t, http.StatusOK, a.status)
	assert.Equal(t, "[]", a.body)
}

func TestAdminBadRequests(t *testing.T) {
	t.Parallel()
	srv := frozen(t, kefutest.WithAdminAPI())
	for _, tc := range []struct {
		method, path, body string
		status, code       int
		msg                string // in errmsg
		allow              string
	}{
		{http.MethodGet, kefutest.PathAdminInteract, "", 405, 43002, "require POST method", "POST"},
		{http.MethodPost, kefutest.PathAdminMessages + "?openid=o1", "", 405, 43001, "require GET method", "GET"},
		{http.MethodPost, kefutest.PathAdminInteract, "", 400, 47001, "empty body", ""},
		{http.MethodPost, kefutest.PathAdminInteract, `{"openid":"o1","action":"Wave"}`, 400, 47001,
			`unknown action "Wave": want one of UserMessage, MenuClick, Follow, Scan, Payment`, ""},
		{http.MethodPost, kefutest.PathAdminInteract, `{"openid":"o1"}`, 400, 47001, `unknown action ""`, ""},
		{http.MethodPost, kefutest.PathAdminInteract, `{"action":"Follow"}`, 400, 47001, "openid missing", ""},
		{http.MethodPost, kefutest.PathAdminInteract, `{"openid":"` + strings.Repeat("o", 129) + `","action":"Follow"}`, 400, 47001,
			"openid longer than 128 bytes", ""},
		{http.MethodPost, kefutest.PathAdminInteract, `{"open_id":"o1","action":"Follow"}`, 400, 47001, `unknown field "open_id"`, ""},
		{http.MethodPost, kefutest.PathAdminInteract, `{"openid":"o1","action":"Follow"} {}`, 400, 47001, "more than one JSON value", ""},
		{http.MethodPost, kefutest.PathAdminInteract, `["o1"]`, 400, 47001, "cannot unmarshal array", ""},
		{http.MethodPost, kefutest.PathAdminAdvance, `{}`, 400, 47001, "seconds missing", ""},
		{http.MethodPost, kefutest.PathAdminAdvance, `{"seconds":-1}`, 400, 47001, "negative seconds", ""},
		{http.MethodPost, kefutest.PathAdminAdvance, `{"seconds":1e300}`, 400, 47001, "seconds above", ""},
		{http.MethodPost, kefutest.PathAdminAdvance, `{"seconds":"60"}`, 400, 47001, "cannot unmarshal string", ""},
		{http.MethodGet, kefutest.PathAdminMessages, "", 400, 47001, "openid missing", ""},
	} {
		a := admin(t, srv, tc.method, tc.path, tc.body)
		assert.Equal(t, tc.status, a.status, "%s %s %s: %s", tc.method, tc.path, tc.body, a.body)
		assert.Equal(t, tc.allow, a.allow, tc.path)
		var ans struct {
			ErrCode int    `json:"errcode"`
			ErrMsg  string `json:"errmsg"`
		}
		require.NoError(t, json.Unmarshal([]byte(a.body), &ans), a.body)
		assert.Equal(t, tc.code, ans.ErrCode, a.body)
		assert.Contains(t, ans.ErrMsg, tc.msg, "%s %s", tc.path, tc.body)
	}
	// An unknown admin path is not found; nothing changed.
	a := admin(t, srv, http.MethodPost, "/kefutest/nope", "")
	assert.Equal(t, http.StatusNotFound, a.status)
	assert.Equal(t, start, srv.Now())
	assert.Equal(t, kefutest.ActionWindow{}, srv.Window("o1", kefutest.Follow))
}

// TestAdminGarbageKeepsNothing floods the admin API with requests it
// refuses: made-up admin paths, wrong methods, bad bodies, over-long
// openids. None is counted or kept.
func TestAdminGarbageKeepsNothing(t *testing.T) {
	t.Parallel()
	srv := frozen(t, kefutest.WithAdminAPI())
	long := strings.Repeat("x", 16<<10)
	for i := range 20 {
		openID := fmt.Sprintf("o-%d-%s", i, long)
		for _, tc := range []struct{ method, path, body string }{
			{http.MethodPost, fmt.Sprintf("/kefutest/%d-%s", i, long), `{"openid":"o1","action":"Payment"}`},
			{http.MethodGet, kefutest.PathAdminInteract + "?openid=" + openID, ""},
			{http.MethodPost, kefutest.PathAdminInteract, `{"openid":"` + openID + `","action":"Wave"}`},
			{http.MethodPost, kefutest.PathAdminInteract, `{"openid":"` + openID + `","action":"Payment"}`},
			{http.MethodPost, kefutest.PathAdminAdvance, `{"seconds":"` + openID + `"}`},
		} {
			a := admin(t, srv, tc.method, tc.path, tc.body)
			assert.GreaterOrEqual(t, a.status, 400, "%s %.40s", tc.method, tc.path)
		}
		a := admin(t, srv, http.MethodGet, kefutest.PathAdminMessages+"?openid="+openID, "")
		assert.Equal(t, "[]", a.body)
	}
	assert.Empty(t, srv.CountedPaths())
	assert.Empty(t, srv.Kept())
	assert.Equal(t, start, srv.Now())
}

func TestAdminNoFaults(t *testing.T) {
	t.Parallel()
	srv := newServer(t, kefutest.WithAdminAPI())
	srv.FailNext(kefutest.PathAdminInteract, 1, -1)
	a := admin(t, srv, http.MethodPost, kefutest.PathAdminInteract, `{"openid":"o1","action":"UserMessage"}`)
	assert.JSONEq(t, okBody, a.body, "faults do not apply to the admin API")
	assert.True(t, srv.Window("o1", kefutest.UserMessage).Open)
}
