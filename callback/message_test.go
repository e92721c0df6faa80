package callback

import (
	"errors"
	"testing"

	"github.com/kefu-go/kefu"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseMessageXML(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		body string
		want Message
	}{
		{"text", `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[this is a test]]></Content><MsgId>1234567890123456</MsgId><MsgDataId>xxxx</MsgDataId><Idx>2</Idx></xml>`,
			Message{ToUserName: "gh_1", FromUserName: "o1", CreateTime: 1348831860, MsgType: "text", Content: "this is a test", MsgID: 1234567890123456, MsgDataID: "xxxx", Idx: 2}},
		{"msgmenu tap", `<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>满意</Content><MsgId>7</MsgId><bizmsgmenuid>101</bizmsgmenuid></xml>`,
			Message{ToUserName: "gh_1", FromUserName: "o1", CreateTime: 1, MsgType: "text", Content: "满意", MsgID: 7, BizMsgMenuID: "101"}},
		{"image", `<xml><MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://p/1.jpg]]></PicUrl><MediaId><![CDATA[m1]]></MediaId><MsgId>9</MsgId></xml>`,
			Message{MsgType: "image", PicURL: "http://p/1.jpg", MediaID: "m1", MsgID: 9}},
		{"voice", `<xml><MsgType>voice</MsgType><MediaId>m</MediaId><Format>amr</Format><Recognition><![CDATA[]]></Recognition></xml>`,
			Message{MsgType: "voice", MediaID: "m", Format: "amr"}},
		{"shortvideo", `<xml><MsgType>shortvideo</MsgType><MediaId>m</MediaId><ThumbMediaId>t</ThumbMediaId></xml>`,
			Message{MsgType: "shortvideo", MediaID: "m", ThumbMediaID: "t"}},
		{"location", `<xml><MsgType>location</MsgType><Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[位置信息]]></Label></xml>`,
			Message{MsgType: "location", LocationX: 23.134521, LocationY: 113.358803, Scale: 20, Label: "位置信息"}},
		{"link", `<xml><MsgType>link</MsgType><Title>t</Title><Description>d</Description><Url>http://u</Url></xml>`,
			Message{MsgType: "link", Title: "t", Description: "d", URL: "http://u"}},
		{"miniprogrampage", `<xml><MsgType>miniprogrampage</MsgType><AppId>wxapp</AppId><Title>t</Title><PagePath>p/i</PagePath><ThumbUrl>http://t</ThumbUrl><ThumbMediaId>tm</ThumbMediaId></xml>`,
			Message{MsgType: "miniprogrampage", AppID: "wxapp", Title: "t", PagePath: "p/i", ThumbURL: "http://t", ThumbMediaID: "tm"}},
		{"subscribe by QR", `<xml><MsgType>event</MsgType><Event>subscribe</Event><EventKey>qrscene_123</EventKey><Ticket>TK</Ticket></xml>`,
			Message{MsgType: "event", Event: "subscribe", EventKey: "qrscene_123", Ticket: "TK"}},
		{"LOCATION", `<xml><MsgType>event</MsgType><Event>LOCATION</Event><Latitude>23.137466</Latitude><Longitude>113.352425</Longitude><Precision>119.385040</Precision></xml>`,
			Message{MsgType: "event", Event: "LOCATION", Latitude: 23.137466, Longitude: 113.352425, Precision: 119.38504}},
		{"CLICK", `<xml><MsgType>event</MsgType><Event>CLICK</Event><EventKey>K</EventKey><MenuId>5</MenuId></xml>`,
			Message{MsgType: "event", Event: "CLICK", EventKey: "K", MenuID: "5"}},
		{"scancode_push", `<xml><MsgType>event</MsgType><Event>scancode_push</Event><EventKey>6</EventKey><ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult>1</ScanResult></ScanCodeInfo></xml>`,
			Message{MsgType: "event", Event: "scancode_push", EventKey: "6", ScanType: "qrcode", ScanResult: "1"}},
		{"kf_switch_session", `<xml><MsgType>event</MsgType><Event>kf_switch_session</Event><FromKfAccount>a@x</FromKfAccount><ToKfAccount>b@x</ToKfAccount></xml>`,
			Message{MsgType: "event", Event: "kf_switch_session", FromKfAccount: "a@x", ToKfAccount: "b@x"}},
		{"TEMPLATESENDJOBFINISH", `<xml><MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event><MsgID>200163836</MsgID><Status><![CDATA[failed:user block]]></Status></xml>`,
			Message{MsgType: "event", Event: "TEMPLATESENDJOBFINISH", MsgID: 200163836, Status: "failed:user block"}},
		{"entities, comments, declaration, empty elements, unknown fields", "<?xml version=\"1.0\"?>\n<!-- c --><xml>\n <Content>a &lt;b&gt; &amp; &#20320;&#x597D;<![CDATA[<c>]]></Content><Unknown><Deep>x</Deep></Unknown><Label/><MsgType>text</MsgType>\n</xml>",
			Message{MsgType: "text", Content: "a <b> & 你好<c>"}},
		{"CDATA holding markup", `<xml><Content><![CDATA[</Content><MsgType>x</MsgType>]]></Content><MsgType>text</MsgType></xml>`,
			Message{MsgType: "text", Content: "</Content><MsgType>x</MsgType>"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := ParseMessage([]byte(tc.body))
			require.NoError(t, err)
			assert.Equal(t, tc.body, string(m.Raw))
			m.Raw = nil
			assert.Equal(t, tc.want, *m)
		})
	}
}

func TestParseMessageJSON(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"ToUserName":"gh_1","FromUserName":"o1","CreateTime":1482048670,"MsgType":"text","Content":"hi","MsgId":1234567890123456}`,
		`{"ToUserName":"gh_1","FromUserName":"o1","CreateTime":"1482048670","MsgType":"text","Content":"hi","MsgId":"1234567890123456","extra":[1,{"a":2}],"flag":true,"none":null}`,
	} {
		m, err := ParseMessage([]byte(body))
		require.NoError(t, err, body)
		assert.Equal(t, int64(1234567890123456), m.MsgID)
		assert.Equal(t, int64(1482048670), m.CreateTime)
		assert.Equal(t, "hi", m.Content)
		assert.Equal(t, "o1", m.FromUserName)
	}
	m, err := ParseMessage([]byte(`{"MsgType":"event","Event":"user_enter_tempsession","SessionFrom":"s","ScanCodeInfo":{"ScanType":"qrcode"}}`))
	require.NoError(t, err)
	assert.Equal(t, "s", m.SessionFrom)
	assert.Equal(t, "qrcode", m.ScanType)
	a, ok := m.Action()
	assert.True(t, ok)
	assert.Equal(t, kefu.ActionEnterSession, a)
}

func TestParseMessageMalformed(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		``, `hello`, `<xml>`, `<xml><Content>a</xml>`, `<xml><Content><![CDATA[a</Content></xml>`,
		`<xml><CreateTime>soon</CreateTime></xml>`, `<xml><MsgId>1x</MsgId></xml>`, `<xml><Location_X>north</Location_X></xml>`,
		`<xml><Content>&bogus;</Content></xml>`, `<xml><Content>&#xZZ;</Content></xml>`, `<xml><Content>&amp</Content></xml>`,
		`<!DOCTYPE x [<!ENTITY a "b">]><xml/>`, `<xml><a><b><c><d><e><f><g><h><i>deep</i></h></g></f></e></d></c></b></a></xml>`,
		`<>`, `<xml`, `{"MsgId":"abc"}`, `{"MsgType":"text"} {}`, `{"MsgType":}`, `[1]`,
	} {
		_, err := ParseMessage([]byte(body))
		assert.True(t, errors.Is(err, ErrMalformed), "%q: %v", body, err)
	}
}

func TestMessageAction(t *testing.T) {
	t.Parallel()
	cases := []struct {
		m    Message
		want kefu.Action
		ok   bool
	}{
		{Message{MsgType: "text"}, kefu.ActionUserMessage, true},
		{Message{MsgType: "text", BizMsgMenuID: "1"}, kefu.ActionMenuClick, true},
		{Message{MsgType: "image"}, kefu.ActionUserMessage, true},
		{Message{MsgType: "voice"}, kefu.ActionUserMessage, true},
		{Message{MsgType: "video"}, kefu.ActionUserMessage, true},
		{Message{MsgType: "shortvideo"}, kefu.ActionUserMessage, true},
		{Message{MsgType: "location"}, kefu.ActionUserMessage, true},
		{Message{MsgType: "link"}, kefu.ActionUserMessage, true},
		{Message{MsgType: "miniprogrampage"}, kefu.ActionUserMessage, true},
		{Message{MsgType: "event", Event: "CLICK"}, kefu.ActionMenuClick, true},
		{Message{MsgType: "event", Event: "click"}, kefu.ActionMenuClick, true},
		{Message{MsgType: "event", Event: "scancode_push"}, kefu.ActionMenuClick, true},
		{Message{MsgType: "event", Event: "scancode_waitmsg"}, kefu.ActionMenuClick, true},
		{Message{MsgType: "event", Event: "subscribe", EventKey: "qrscene_1"}, kefu.ActionFollow, true},
		{Message{MsgType: "event", Event: "SCAN"}, kefu.ActionScan, true},
		{Message{MsgType: "event", Event: "user_enter_tempsession"}, kefu.ActionEnterSession, true},
		{Message{MsgType: "event", Event: "VIEW"}, 0, false},
		{Message{MsgType: "event", Event: "view_miniprogram"}, 0, false},
		{Message{MsgType: "event", Event: "pic_sysphoto"}, 0, false},
		{Message{MsgType: "event", Event: "location_select"}, 0, false},
		{Message{MsgType: "event", Event: "unsubscribe"}, 0, false},
		{Message{MsgType: "event", Event: "LOCATION"}, 0, false},
		{Message{MsgType: "event", Event: "TEMPLATESENDJOBFINISH"}, 0, false},
		{Message{MsgType: "event", Event: "kf_create_session"}, 0, false},
		{Message{MsgType: "somethingnew"}, 0, false},
	}
	for _, tc := range cases {
		a, ok := tc.m.Action()
		assert.Equal(t, tc.ok, ok, "%+v", tc.m)
		assert.Equal(t, tc.want, a, "%+v", tc.m)
	}
}

func TestDedupKey(t *testing.T) {
	t.Parallel()
	msg := Message{ToUserName: "gh", FromUserName: "o1", CreateTime: 5, MsgType: "text", MsgID: 42}
	assert.Equal(t, "gh/m/42", msg.DedupKey())
	again := msg
	again.CreateTime = 6 // a retry keeps its MsgId
	assert.Equal(t, msg.DedupKey(), again.DedupKey())

	ev := Message{ToUserName: "gh", FromUserName: "o1", CreateTime: 5, MsgType: "event", Event: "CLICK", EventKey: "A"}
	other := ev
	other.EventKey = "B" // two events in one second
	assert.NotEqual(t, ev.DedupKey(), other.DedupKey())
	tpl := Message{ToUserName: "gh", FromUserName: "o1", CreateTime: 5, MsgType: "event", Event: "TEMPLATESENDJOBFINISH", MsgID: 3}
	assert.NotEqual(t, "gh/m/3", tpl.DedupKey())
}

func TestIsEvent(t *testing.T) {
	t.Parallel()
	m := Message{MsgType: "event", Event: "subscribe"}
	assert.True(t, m.IsEvent(EventSubscribe))
	assert.True(t, m.IsEvent("SUBSCRIBE"))
	assert.False(t, m.IsEvent(EventScan))
	assert.False(t, (&Message{MsgType: "text", Event: "subscribe"}).IsEvent(EventSubscribe))
}
