package callback

import (
	"errors"
	"testing"

	"github.com/kefu-go/kefu"
	"github.com/stretchr/testify/assert"
)

func TestReplyXML(t *testing.T) {
	t.Parallel()
	to := &Message{ToUserName: "gh_1", FromUserName: "o1", MsgType: "event", Event: "subscribe"}
	const head = `<xml><ToUserName><![CDATA[o1]]></ToUserName><FromUserName><![CDATA[gh_1]]></FromUserName><CreateTime>99</CreateTime>`
	cases := []struct {
		reply Reply
		want  string
	}{
		{ReplyText("你好 ]]> <b>"), `<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好 ]]]]><![CDATA[> <b>]]></Content>`},
		{ReplyImage("m1"), `<MsgType><![CDATA[image]]></MsgType><Image><MediaId><![CDATA[m1]]></MediaId></Image>`},
		{ReplyVoice("m2"), `<MsgType><![CDATA[voice]]></MsgType><Voice><MediaId><![CDATA[m2]]></MediaId></Voice>`},
		{ReplyVideo(kefu.Video{MediaID: "v", ThumbMediaID: "th", Title: "t", Description: "d"}),
			`<MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[v]]></MediaId><Title><![CDATA[t]]></Title><Description><![CDATA[d]]></Description></Video>`},
		{ReplyMusic(kefu.Music{Title: "t", Description: "d", MusicURL: "http://m", HQMusicURL: "http://h", ThumbMediaID: "th"}),
			`<MsgType><![CDATA[music]]></MsgType><Music><Title><![CDATA[t]]></Title><Description><![CDATA[d]]></Description><MusicUrl><![CDATA[http://m]]></MusicUrl><HQMusicUrl><![CDATA[http://h]]></HQMusicUrl><ThumbMediaId><![CDATA[th]]></ThumbMediaId></Music>`},
		{ReplyNews(kefu.Article{Title: "a", Description: "b", URL: "http://u", PicURL: "http://p"}, kefu.Article{Title: "c"}),
			`<MsgType><![CDATA[news]]></MsgType><ArticleCount>2</ArticleCount><Articles><item><Title><![CDATA[a]]></Title><Description><![CDATA[b]]></Description><PicUrl><![CDATA[http://p]]></PicUrl><Url><![CDATA[http://u]]></Url></item><item><Title><![CDATA[c]]></Title><Description><![CDATA[]]></Description><PicUrl><![CDATA[]]></PicUrl><Url><![CDATA[]]></Url></item></Articles>`},
		{TransferToCustomerService(""), `<MsgType><![CDATA[transfer_customer_service]]></MsgType>`},
		{TransferToCustomerService("kf2001@gh"), `<MsgType><![CDATA[transfer_customer_service]]></MsgType><TransInfo><KfAccount><![CDATA[kf2001@gh]]></KfAccount></TransInfo>`},
	}
	for _, tc := range cases {
		r := tc.reply.passive()
		assert.NoError(t, r.check(to), r.msgType)
		got := string(r.appendXML(nil, to, 99))
		assert.Equal(t, head+tc.want+"</xml>", got)
		// What we write, we read back.
		back, err := ParseMessage([]byte(got))
		if assert.NoError(t, err) {
			assert.Equal(t, "o1", back.ToUserName)
			assert.Equal(t, r.msgType, back.MsgType)
		}
	}
	back, _ := ParseMessage(ReplyText("a]]>b").passive().appendXML(nil, to, 1))
	assert.Equal(t, "a]]>b", back.Content)
}

func TestReplyJSON(t *testing.T) {
	t.Parallel()
	to := &Message{ToUserName: "gh_1", FromUserName: "o1", MsgType: "text"}
	assert.Equal(t, `{"ToUserName":"o1","FromUserName":"gh_1","CreateTime":7,"MsgType":"transfer_customer_service","TransInfo":{"KfAccount":"a@b"}}`,
		string(TransferToCustomerService("a@b").passive().appendJSON(nil, to, 7)))
	assert.Equal(t, `{"ToUserName":"o1","FromUserName":"gh_1","CreateTime":7,"MsgType":"text","Content":"<&>"}`,
		string(ReplyText("<&>").passive().appendJSON(nil, to, 7)))
	assert.Equal(t, `{"ToUserName":"o1","FromUserName":"gh_1","CreateTime":7,"MsgType":"news","ArticleCount":1,"Articles":[{"Title":"t","Url":"http://u"}]}`,
		string(ReplyNews(kefu.Article{Title: "t", URL: "http://u"}).passive().appendJSON(nil, to, 7)))
	assert.Equal(t, `{"ToUserName":"o1","FromUserName":"gh_1","CreateTime":7,"MsgType":"image","Image":{"MediaId":"m"}}`,
		string(ReplyImage("m").passive().appendJSON(nil, to, 7)))
}

func TestReplyCheck(t *testing.T) {
	t.Parallel()
	msg := &Message{MsgType: "text"}
	event := &Message{MsgType: "event", Event: "subscribe"}
	eight := make([]kefu.Article, 8)
	for i := range eight {
		eight[i].Title = "t"
	}
	cases := []struct {
		reply Reply
		to    *Message
		field string // "" for valid
	}{
		{ReplyText(""), msg, "reply.content"},
		{ReplyText("\xff"), msg, "reply.content"},
		{ReplyImage(""), msg, "reply.media_id"},
		{ReplyVoice(""), msg, "reply.media_id"},
		{ReplyVideo(kefu.Video{}), msg, "reply.video.media_id"},
		{ReplyMusic(kefu.Music{Title: "x"}), msg, "reply.music.thumb_media_id"},
		{ReplyNews(), msg, "reply.articles"},
		{ReplyNews(eight[:2]...), msg, "reply.articles"},
		{ReplyNews(eight...), event, ""},
		{ReplyNews(append(eight, eight[0])...), event, "reply.articles"},
		{ReplyNews(kefu.Article{}), msg, "reply.articles[0].title"},
		{TransferToCustomerService("no-at-sign"), msg, "kf_account"},
		{TransferToCustomerService(""), msg, ""},
		{ReplyText("ok"), msg, ""},
	}
	for _, tc := range cases {
		err := tc.reply.passive().check(tc.to)
		if tc.field == "" {
			assert.NoError(t, err)
			continue
		}
		var ve *kefu.ValidationError
		if assert.True(t, errors.As(err, &ve), "%v", err) {
			assert.Equal(t, tc.field, ve.Field)
			assert.ErrorIs(t, err, kefu.ErrInvalidMessage)
		}
	}
}

func TestReplyAsMessage(t *testing.T) {
	t.Parallel()
	for _, r := range []Reply{ReplyText("x"), ReplyImage("m"), ReplyVoice("m"), ReplyVideo(kefu.Video{MediaID: "m"}),
		ReplyMusic(kefu.Music{ThumbMediaID: "t"}), ReplyNews(kefu.Article{Title: "t", URL: "https://u"})} {
		m, ok := r.passive().message("o1")
		if assert.True(t, ok) {
			assert.Equal(t, "o1", m.ToUser)
			assert.Equal(t, r.passive().msgType, string(m.MsgType))
		}
	}
	_, ok := TransferToCustomerService("").passive().message("o1")
	assert.False(t, ok)
}
