package kefutest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

// notice is a template message of template "t1" to to.
func notice(to, clientMsgID string) *kefu.TemplateMessage {
	return &kefu.TemplateMessage{ToUser: to, TemplateID: "t1", ClientMsgID: clientMsgID,
		Data: map[string]kefu.TemplateValue{"thing1": {Value: "shipped"}}}
}

func TestTemplateChecksLikeWeChat(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	srv.AddTemplate("t1")
	srv.AddUser("alice") // no window: templates need none
	srv.AddUser("gone")
	srv.Unfollow("gone")
	srv.AddUser("shy")
	srv.RefuseTemplates("shy")
	w := rawClient(t, srv)
	tok := w.token()
	cases := []struct {
		name string
		body string
		code int
	}{
		{"empty body", ``, 44002},
		{"not JSON", `{"touser":`, 47001},
		{"unknown template", `{"touser":"alice","template_id":"t9","data":{"k":{"value":"v"}}}`, 40037},
		{"no template", `{"touser":"alice","data":{"k":{"value":"v"}}}`, 40037},
		{"no data", `{"touser":"alice","template_id":"t1"}`, 47003},
		{"empty value", `{"touser":"alice","template_id":"t1","data":{"k":{"value":""}}}`, 47003},
		{"unknown user", `{"touser":"nobody","template_id":"t1","data":{"k":{"value":"v"}}}`, 40003},
		{"not following", `{"touser":"gone","template_id":"t1","data":{"k":{"value":"v"}}}`, 43004},
		{"refuses", `{"touser":"shy","template_id":"t1","data":{"k":{"value":"v"}}}`, 43101},
		{"escaped HTML", `{"touser":"alice","template_id":"t1","data":{"k":{"value":"\u003c"}}}`, 40033},
		{"accepted", `{"touser":"alice","template_id":"t1","data":{"k":{"value":"<v>"}}}`, 0},
	}
	for _, tc := range cases {
		a := w.post(kefutest.PathTemplateSend, tok, tc.body)
		assert.Equal(t, tc.code, a.ErrCode, "%s: %s", tc.name, a.ErrMsg)
		if tc.code != 0 {
			assert.Regexp(t, ridSuffix, a.ErrMsg, tc.name)
		}
	}
	sent := srv.Templates("alice")
	require.Len(t, sent, 1)
	assert.Equal(t, "<v>", sent[0].Message.Data["k"].Value)
	assert.Equal(t, start, sent[0].Time.UTC())
	assert.Nil(t, srv.Templates("shy"))
	assert.Equal(t, kefu.WindowState{Known: true}, srv.Windows("alice"), "no window opened or used")
}

// TestTemplateClientMsgIDDedup: one message per openid + client_msg_id
// within 10 minutes of the fake's clock; a lost answer retried with the
// same id gets the first message's msgid.
func TestTemplateClientMsgIDDedup(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	srv.AddTemplate("t1")
	srv.AddUser("alice")
	srv.AddUser("bob")
	c := srv.Client()
	ctx := context.Background()

	srv.DropNext(kefutest.PathTemplateSend, 1)
	first, err := c.SendTemplate(ctx, notice("alice", "order-7"))
	require.NoError(t, err, "retried: the id makes it safe")
	assert.Equal(t, 2, srv.Calls(kefutest.PathTemplateSend))
	sent := srv.Templates("alice")
	require.Len(t, sent, 1)
	assert.Equal(t, sent[0].MsgID, first.MsgID)

	srv.Advance(kefu.TemplateDedupWindow - time.Second)
	again, err := c.SendTemplate(ctx, notice("alice", "order-7"))
	require.NoError(t, err)
	assert.Equal(t, first.MsgID, again.MsgID, "a repeat within 10 minutes")
	assert.Len(t, srv.Templates("alice"), 1)

	other, err := c.SendTemplate(ctx, notice("bob", "order-7"))
	require.NoError(t, err)
	assert.NotEqual(t, first.MsgID, other.MsgID, "the id is per openid")

	srv.Advance(time.Second)
	late, err := c.SendTemplate(ctx, notice("alice", "order-7"))
	require.NoError(t, err)
	assert.Greater(t, late.MsgID, first.MsgID, "10 minutes on, a new message")
	assert.Len(t, srv.Templates("alice"), 2)

	plain1, err := c.SendTemplate(ctx, notice("alice", ""))
	require.NoError(t, err)
	plain2, err := c.SendTemplate(ctx, notice("alice", ""))
	require.NoError(t, err)
	assert.NotEqual(t, plain1.MsgID, plain2.MsgID, "no id, no de-duplication")
	assert.Len(t, srv.Templates("alice"), 4)
}

func TestTemplatesInConversation(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	srv.AddTemplate("t1")
	srv.Interact("alice", kefutest.UserMessage)
	c := srv.Client()
	ctx := context.Background()
	_, err := c.Send(ctx, text("alice", "hello"))
	require.NoError(t, err)
	resp, err := c.SendTemplate(ctx, notice("alice", ""))
	require.NoError(t, err)

	conv := srv.Conversation("alice")
	require.Len(t, conv, 2)
	assert.Equal(t, kefutest.EntrySent, conv[0].Kind)
	assert.Equal(t, kefutest.EntryTemplate, conv[1].Kind)
	assert.Equal(t, "template", conv[1].Kind.String())
	require.NotNil(t, conv[1].Template)
	assert.Equal(t, resp.MsgID, conv[1].Template.MsgID)
	assert.Equal(t, *notice("alice", ""), conv[1].Template.Message)
	assert.Nil(t, conv[1].Message)
	assert.Len(t, srv.Messages("alice"), 1, "Messages shows customer-service messages only")

	// The results are the caller's.
	conv[1].Template.Message.Data["thing1"] = kefu.TemplateValue{Value: "changed"}
	got := srv.Templates("alice")
	got[0].Message.Data["thing1"] = kefu.TemplateValue{Value: "changed too"}
	assert.Equal(t, "shipped", srv.Templates("alice")[0].Message.Data["thing1"].Value)
}

func TestTemplateDailyQuota(t *testing.T) {
	t.Parallel()
	srv := frozen(t, kefutest.WithDailyQuota(kefutest.PathTemplateSend, 1))
	srv.AddTemplate("t1")
	srv.AddUser("alice")
	c := srv.Client()
	_, err := c.SendTemplate(context.Background(), notice("alice", "a"))
	require.NoError(t, err)
	_, err = c.SendTemplate(context.Background(), notice("alice", "b"))
	assert.ErrorIs(t, err, kefu.ErrDailyQuota)
	srv.Interact("alice", kefutest.UserMessage)
	_, err = c.Send(context.Background(), text("alice", "the send API has its own quota"))
	assert.NoError(t, err)
}

// TestResetClearsQuotasAndTemplates: Reset forgets templates, refusals,
// client_msg_ids, counts and the run-time limits, and keeps the options'.
func TestResetClearsQuotasAndTemplates(t *testing.T) {
	t.Parallel()
	srv := frozen(t, kefutest.WithDailyQuota(kefutest.PathSend, 1))
	srv.AddTemplate("t1")
	srv.AddUser("alice")
	srv.RefuseTemplates("bob")
	srv.SetRateLimit(kefutest.PathTemplateSend, 0)
	srv.SetDailyQuota(kefutest.PathSend, 5)
	srv.Reset()
	assert.Empty(t, srv.Kept())

	srv.AddUser("alice")
	c := srv.Client()
	_, err := c.SendTemplate(context.Background(), notice("alice", "x"))
	assert.Equal(t, 40037, codeOf(t, err), "no template, and no rate limit any more")
	srv.AddTemplate("t1")
	srv.AddUser("bob")
	_, err = c.SendTemplate(context.Background(), notice("bob", "x"))
	assert.NoError(t, err, "bob no longer refuses")

	srv.Interact("alice", kefutest.Payment)
	assert.Equal(t, 0, sendCode(t, c, "alice"))
	assert.Equal(t, 45009, sendCode(t, c, "alice"), "the option's quota is back")
}
