package kefu

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// sameAsStd compares marshalWire with encoding/json, which writes U+2028
// and U+2029 as escapes where marshalWire keeps them.
func sameAsStd(t testing.TB, m *Message) {
	t.Helper()
	want := strings.NewReplacer(`\u2028`, "\u2028", `\u2029`, "\u2029").Replace(string(wire(m)))
	assert.Equal(t, want, string(sendWire(m)))
}

func TestMarshalWireMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	tricky := "q\"b\\s/ <a href=\"x?a=1&b=2\">\u2028\u2029\x00\x01\x1f\b\f\n\r\t é 😀 \xff\xfe end"
	full := []*Message{
		NewText("u", tricky).From("kf@acct"),
		NewImage("u", tricky), NewVoice("u", "v"), NewMPNews("u", "m"), NewMPNewsArticle("u", "a"),
		NewVideo("u", Video{MediaID: "m"}), NewVideo("u", Video{MediaID: "m", ThumbMediaID: "t", Title: tricky, Description: "d"}),
		NewVideo("u", Video{MediaID: "m", Description: "d"}),
		NewMusic("u", Music{ThumbMediaID: "t"}), NewMusic("u", Music{Title: "t", Description: "d", MusicURL: "m", HQMusicURL: "h", ThumbMediaID: "t"}),
		NewMusic("u", Music{HQMusicURL: "h", ThumbMediaID: "t"}), NewMusic("u", Music{Description: "d", ThumbMediaID: "t"}),
		NewNews("u", Article{Title: "t", URL: "u"}, Article{Title: "t", Description: "d", URL: "u", PicURL: "p"}),
		{ToUser: "u", MsgType: TypeNews, News: &News{}},
		NewMsgMenu("u", MsgMenu{List: []MenuItem{{"1", "a"}}}),
		NewMsgMenu("u", MsgMenu{HeadContent: "h", List: []MenuItem{{"1", "a"}, {"2", tricky}}, TailContent: "t"}),
		NewMsgMenu("u", MsgMenu{TailContent: "t"}),
		{ToUser: "u", MsgType: TypeMsgMenu, MsgMenu: &MsgMenu{HeadContent: "h"}},
		NewWxCard("u", "c"),
		NewMiniProgramPage("u", MiniProgramPage{Title: "t", PagePath: "p", ThumbMediaID: "m"}),
		NewMiniProgramPage("u", MiniProgramPage{Title: "t", AppID: "a", PagePath: "p", ThumbMediaID: "m"}),
		NewLink("u", Link{Title: "t", URL: "u", ThumbURL: "t"}), NewLink("u", Link{Title: "t", Description: "d", URL: "u", ThumbURL: "t"}),
		{}, {MsgType: "x", AIMsgContext: &AIMsgContext{IsAIMsg: 1}, CustomService: &CustomService{}},
		{ToUser: "u", MsgType: TypeText, Text: &Text{}, Image: &Media{}, Voice: &Media{}, Video: &Video{}, Music: &Music{},
			News: &News{}, MPNews: &Media{}, MPNewsArticle: &MPNewsArticle{}, MsgMenu: &MsgMenu{}, WxCard: &WxCard{},
			MiniProgramPage: &MiniProgramPage{}, Link: &Link{}, CustomService: &CustomService{}, AIMsgContext: &AIMsgContext{IsAIMsg: -7}},
	}
	for _, m := range full {
		sameAsStd(t, m)
		assert.True(t, json.Valid(sendWire(m)))
	}
}

func FuzzMarshalWire(f *testing.F) {
	f.Add("o", "text", "hello <b>&</b>", "k@a", "x", "y")
	f.Add("o\u2028", "music", "\x00\xff", "", "", "z")
	f.Fuzz(func(t *testing.T, to, typ, a, b, c, d string) {
		ms := []*Message{
			{ToUser: to, MsgType: MsgType(typ), Text: &Text{Content: a}},
			NewVideo(to, Video{MediaID: a, ThumbMediaID: b, Title: c, Description: d}),
			NewMusic(to, Music{Title: a, Description: b, MusicURL: c, HQMusicURL: d, ThumbMediaID: a}).From(b),
			NewNews(to, Article{Title: a, Description: b, URL: c, PicURL: d}),
			NewMsgMenu(to, MsgMenu{HeadContent: a, List: []MenuItem{{b, c}}, TailContent: d}),
			NewMiniProgramPage(to, MiniProgramPage{Title: a, AppID: b, PagePath: c, ThumbMediaID: d}),
			NewLink(to, Link{Title: a, Description: b, URL: c, ThumbURL: d}),
		}
		for _, m := range ms {
			sameAsStd(t, m)
		}
	})
}

func TestKeepLineSeparators(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`"a"`:                     `"a"`,
		`"\u2028"`:                "\"\u2028\"",
		`"x\u2029y\u2028"`:        "\"x\u2029y\u2028\"",
		`"\\u2028"`:               `"\\u2028"`,
		`"\\\u2028"`:              "\"\\\\\u2028\"",
		`"\u2027\u202a\u202"`:     `"\u2027\u202a\u202"`,
		`{"a":"\u2028","b":"\\"}`: "{\"a\":\"\u2028\",\"b\":\"\\\\\"}",
	} {
		assert.Equal(t, want, string(keepLineSeparators([]byte(in))), in)
	}
}
