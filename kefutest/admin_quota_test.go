package kefutest_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu/kefutest"
)

func TestAdminQuotasOverHTTP(t *testing.T) {
	t.Parallel()
	o, appID, secret := newOutsider(t, kefutest.WithFrozenClock(start))
	tok := o.token(appID, secret)
	o.admin(kefutest.PathAdminInteract, map[string]string{"openid": "o1", "action": "Payment"})
	send := func() int { return o.wechat(kefutest.PathSend, tok, textTo("o1", "hi")) }

	o.admin(kefutest.PathAdminDailyQuota, map[string]any{"path": kefutest.PathSend, "n": 1})
	assert.Equal(t, 0, send())
	assert.Equal(t, 45009, send())
	o.admin(kefutest.PathAdminDailyQuota, map[string]any{"path": kefutest.PathSend, "n": -1})
	assert.Equal(t, 0, send())

	o.admin(kefutest.PathAdminRateLimit, map[string]any{"path": kefutest.PathSend, "per_minute": 0})
	assert.Equal(t, 45011, send())
	var q struct {
		Quota     map[string]int `json:"quota"`
		RateLimit map[string]int `json:"rate_limit"`
	}
	status, b := o.call(http.MethodPost, kefutest.PathQuota+"?access_token="+tok, map[string]string{"cgi_path": kefutest.PathSend}, &q)
	require.Equal(t, http.StatusOK, status, b)
	assert.Equal(t, map[string]int{"daily_limit": 500000, "used": 2, "remain": 499998}, q.Quota)
	assert.Equal(t, map[string]int{"call_count": 0, "refresh_second": 60}, q.RateLimit)
	assert.Equal(t, 0, o.wechat(kefutest.PathClearQuota, tok, map[string]string{"appid": appID}))

	o.admin(kefutest.PathAdminReset, nil)
	tok = o.token(appID, secret)
	o.admin(kefutest.PathAdminInteract, map[string]string{"openid": "o1", "action": "Payment"})
	assert.Equal(t, 0, send(), "reset drops the limits")
}

func TestAdminTemplatesOverHTTP(t *testing.T) {
	t.Parallel()
	o, appID, secret := newOutsider(t, kefutest.WithFrozenClock(start))
	tok := o.token(appID, secret)
	tmpl := func(to string) map[string]any {
		return map[string]any{"touser": to, "template_id": "t1", "client_msg_id": "c1",
			"data": map[string]any{"thing1": map[string]string{"value": "shipped"}}}
	}
	o.admin(kefutest.PathAdminAddUser, map[string]string{"openid": "o1"})
	assert.Equal(t, 40037, o.wechat(kefutest.PathTemplateSend, tok, tmpl("o1")))
	o.admin(kefutest.PathAdminAddTemplate, map[string]string{"template_id": "t1"})
	var a struct {
		ErrCode int   `json:"errcode"`
		MsgID   int64 `json:"msgid"`
	}
	o.call(http.MethodPost, kefutest.PathTemplateSend+"?access_token="+tok, tmpl("o1"), &a)
	require.Zero(t, a.ErrCode)
	require.NotZero(t, a.MsgID)

	var sent []struct {
		MsgID   int64           `json:"msgid"`
		Time    int64           `json:"time"`
		Message json.RawMessage `json:"message"`
	}
	o.get(kefutest.PathAdminTemplates+"?openid=o1", &sent)
	require.Len(t, sent, 1)
	assert.Equal(t, a.MsgID, sent[0].MsgID)
	assert.Equal(t, start.Unix(), sent[0].Time)
	assert.JSONEq(t, `{"touser":"o1","template_id":"t1","client_msg_id":"c1","data":{"thing1":{"value":"shipped"}}}`, string(sent[0].Message))

	var conv []map[string]any
	o.get(kefutest.PathAdminConversation+"?openid=o1", &conv)
	require.Len(t, conv, 1)
	assert.Equal(t, "template", conv[0]["kind"])
	assert.Equal(t, float64(a.MsgID), conv[0]["template"].(map[string]any)["msgid"])

	o.admin(kefutest.PathAdminRefuseTemplates, map[string]string{"openid": "o2"})
	o.admin(kefutest.PathAdminAddUser, map[string]string{"openid": "o2"})
	assert.Equal(t, 43101, o.wechat(kefutest.PathTemplateSend, tok, tmpl("o2")))

	var none []any
	o.get(kefutest.PathAdminTemplates+"?openid=o2", &none)
	assert.NotNil(t, none, "[] when none")
	assert.Empty(t, none)
}

func TestAdminQuotaBadRequests(t *testing.T) {
	t.Parallel()
	o, _, _ := newOutsider(t)
	cases := []struct {
		path string
		body any
		want string
	}{
		{kefutest.PathAdminDailyQuota, map[string]any{"n": 1}, "path missing"},
		{kefutest.PathAdminDailyQuota, map[string]any{"path": "/nope", "n": 1}, "not one of the fake's WeChat paths"},
		{kefutest.PathAdminDailyQuota, map[string]any{"path": kefutest.PathSend}, "n missing"},
		{kefutest.PathAdminDailyQuota, map[string]any{"path": kefutest.PathSend, "per_minute": 1}, "unknown field"},
		{kefutest.PathAdminRateLimit, map[string]any{"path": kefutest.PathSend}, "per_minute missing"},
		{kefutest.PathAdminRateLimit, map[string]any{"path": kefutest.PathSend, "n": 1}, "unknown field"},
		{kefutest.PathAdminRateLimit, map[string]any{"path": kefutest.PathSend, "per_minute": 1, "x": 1}, "unknown field"},
		{kefutest.PathAdminAddTemplate, map[string]any{}, "template_id missing"},
		{kefutest.PathAdminRefuseTemplates, map[string]any{"openid": ""}, "openid missing"},
	}
	for _, tc := range cases {
		var a answer
		status, b := o.call(http.MethodPost, tc.path, tc.body, &a)
		assert.Equal(t, http.StatusBadRequest, status, "%s %v: %s", tc.path, tc.body, b)
		assert.Equal(t, 47001, a.ErrCode)
		assert.Contains(t, a.ErrMsg, tc.want, tc.path)
	}
	status, _ := o.call(http.MethodGet, kefutest.PathAdminTemplates, nil, nil)
	assert.Equal(t, http.StatusBadRequest, status, "openid missing")
	status, _ = o.call(http.MethodGet, kefutest.PathAdminDailyQuota, nil, nil)
	assert.Equal(t, http.StatusMethodNotAllowed, status)
}
