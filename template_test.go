package kefu_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

// order is a template message to alice with template "t_order".
func order(clientMsgID string) *kefu.TemplateMessage {
	return &kefu.TemplateMessage{
		ToUser: "alice", TemplateID: "t_order", URL: "https://shop.example/o?id=1&x=<2>",
		ClientMsgID: clientMsgID,
		Data: map[string]kefu.TemplateValue{
			"thing1": {Value: "茶 & 点心"},
			"time2":  {Value: "2026-03-02 09:00", Color: "#173177"},
		},
	}
}

func newTemplateKefu(t *testing.T, opts ...kefu.Option) (*kefutest.Server, *kefu.Client) {
	srv, c := newKefu(t, opts...)
	srv.AddTemplate("t_order")
	srv.AddUser("alice") // a follower without a window: templates need none
	return srv, c
}

func TestSendTemplate(t *testing.T) {
	t.Parallel()
	srv, c := newTemplateKefu(t)
	m := order("")
	resp, err := c.SendTemplate(context.Background(), m)
	require.NoError(t, err)
	assert.NotZero(t, resp.MsgID)
	assert.Equal(t, "ok", resp.ErrMsg)
	assert.Equal(t, order(""), m, "SendTemplate never changes the message")

	sent := srv.Templates("alice")
	require.Len(t, sent, 1)
	assert.Equal(t, resp.MsgID, sent[0].MsgID)
	assert.Equal(t, *m, sent[0].Message)
	assert.Equal(t, day0, sent[0].Time.UTC())
	assert.Empty(t, srv.Messages("alice"), "a template is not a customer-service message")
}

func TestSendTemplateErrors(t *testing.T) {
	t.Parallel()
	srv, c := newTemplateKefu(t)
	srv.AddUser("gone")
	srv.Unfollow("gone")
	srv.AddUser("shy")
	srv.RefuseTemplates("shy")
	ctx := context.Background()
	to := func(user, tmpl string) *kefu.TemplateMessage {
		m := order("")
		m.ToUser, m.TemplateID = user, tmpl
		return m
	}
	cases := []struct {
		name string
		m    *kefu.TemplateMessage
		want error
		code int
	}{
		{"unknown template", to("alice", "t_nope"), kefu.ErrBadTemplate, 40037},
		{"unknown user", to("nobody", "t_order"), kefu.ErrInvalidOpenID, 40003},
		{"not following", to("gone", "t_order"), kefu.ErrNotFollowing, 43004},
		{"refuses templates", to("shy", "t_order"), kefu.ErrTemplateRefused, 43101},
	}
	for _, tc := range cases {
		_, err := c.SendTemplate(ctx, tc.m)
		assert.ErrorIs(t, err, tc.want, tc.name)
		assert.Equal(t, tc.code, codeOf(t, err), tc.name)
	}

	srv.SetDailyQuota(kefutest.PathTemplateSend, 0)
	_, err := c.SendTemplate(ctx, order(""))
	assert.ErrorIs(t, err, kefu.ErrDailyQuota)
	assert.Empty(t, srv.Templates("alice"))
}

func TestTemplateValidate(t *testing.T) {
	t.Parallel()
	with := func(f func(m *kefu.TemplateMessage)) *kefu.TemplateMessage {
		m := order("")
		f(m)
		return m
	}
	cases := []struct {
		name  string
		m     *kefu.TemplateMessage
		field string
	}{
		{"nil", nil, "message"},
		{"no touser", with(func(m *kefu.TemplateMessage) { m.ToUser = "" }), "touser"},
		{"no template_id", with(func(m *kefu.TemplateMessage) { m.TemplateID = "" }), "template_id"},
		{"relative url", with(func(m *kefu.TemplateMessage) { m.URL = "/orders/1" }), "url"},
		{"ftp url", with(func(m *kefu.TemplateMessage) { m.URL = "ftp://x.example/1" }), "url"},
		{"miniprogram without appid", with(func(m *kefu.TemplateMessage) {
			m.MiniProgram = &kefu.TemplateMiniProgram{PagePath: "pages/index"}
		}), "miniprogram.appid"},
		{"miniprogram without pagepath", with(func(m *kefu.TemplateMessage) {
			m.MiniProgram = &kefu.TemplateMiniProgram{AppID: "wxmini"}
		}), "miniprogram.pagepath"},
		{"long client_msg_id", with(func(m *kefu.TemplateMessage) {
			m.ClientMsgID = strings.Repeat("x", kefu.MaxClientMsgID+1)
		}), "client_msg_id"},
		{"no data", with(func(m *kefu.TemplateMessage) { m.Data = nil }), "data"},
		{"empty key", with(func(m *kefu.TemplateMessage) { m.Data = map[string]kefu.TemplateValue{"": {Value: "x"}} }), "data"},
		{"empty value", with(func(m *kefu.TemplateMessage) { m.Data["thing1"] = kefu.TemplateValue{} }), "data.thing1.value"},
		{"bad utf-8", with(func(m *kefu.TemplateMessage) { m.Data["thing1"] = kefu.TemplateValue{Value: "\xff"} }), "data.thing1.value"},
		{"bad color", with(func(m *kefu.TemplateMessage) { m.Data["time2"] = kefu.TemplateValue{Value: "x", Color: "red"} }), "data.time2.color"},
	}
	srv, c := newTemplateKefu(t)
	for _, tc := range cases {
		validation(t, tc.m.Validate(), tc.field)
		_, err := c.SendTemplate(context.Background(), tc.m)
		validation(t, err, tc.field)
	}
	assert.Zero(t, srv.Calls(kefutest.PathTemplateSend), "nothing sent")

	ok := with(func(m *kefu.TemplateMessage) {
		m.URL = ""
		m.MiniProgram = &kefu.TemplateMiniProgram{AppID: "wxmini", PagePath: "pages/index?id=1"}
		m.ClientMsgID = strings.Repeat("x", kefu.MaxClientMsgID)
	})
	assert.NoError(t, ok.Validate())

	// Several broken rules come back together, in a stable order.
	err := (&kefu.TemplateMessage{Data: map[string]kefu.TemplateValue{"b": {}, "a": {}}}).Validate()
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		fields = append(fields, e.(*kefu.ValidationError).Field)
	}
	assert.Equal(t, []string{"touser", "template_id", "data.a.value", "data.b.value"}, fields)
}

// TestTemplateClientMsgIDRetries: with a client_msg_id, a lost answer is
// retried under the default policy, and WeChat's de-duplication keeps it
// to one message; without one, it is not retried.
func TestTemplateClientMsgIDRetries(t *testing.T) {
	t.Parallel()
	srv, c := newTemplateKefu(t)
	ctx := context.Background()

	srv.DropNext(kefutest.PathTemplateSend, 1)
	resp, err := c.SendTemplate(ctx, order("order-1-shipped"))
	require.NoError(t, err)
	assert.Equal(t, 2, srv.Calls(kefutest.PathTemplateSend), "retried once")
	sent := srv.Templates("alice")
	require.Len(t, sent, 1, "one message")
	assert.Equal(t, sent[0].MsgID, resp.MsgID, "the retry answers the first message's msgid")

	srv.DropNext(kefutest.PathTemplateSend, 1)
	_, err = c.SendTemplate(ctx, order(""))
	assert.ErrorIs(t, err, kefu.ErrDeliveryUnknown)
	assert.Equal(t, 3, srv.Calls(kefutest.PathTemplateSend), "not retried")
	assert.Len(t, srv.Templates("alice"), 2, "delivered all the same")
}

func TestTemplateMessageJSON(t *testing.T) {
	t.Parallel()
	m := order("id-1")
	m.MiniProgram = &kefu.TemplateMiniProgram{AppID: "wxmini", PagePath: "pages/index"}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	var back kefu.TemplateMessage
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, *m, back)
	assert.JSONEq(t, `{"touser":"alice","template_id":"t_order","url":"https://shop.example/o?id=1&x=<2>",
		"miniprogram":{"appid":"wxmini","pagepath":"pages/index"},"client_msg_id":"id-1",
		"data":{"thing1":{"value":"茶 & 点心"},"time2":{"value":"2026-03-02 09:00","color":"#173177"}}}`, string(b))
	assert.Equal(t, 10*time.Minute, kefu.TemplateDedupWindow)
}
