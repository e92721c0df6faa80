package kefu

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// updateGolden rewrites testdata/golden/*.json from the current encoding:
//
//	go test -run Golden -update .
var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// wire is the encoding/json reference encoding of m: compact, HTML
// escaping off, no trailing newline.
func wire(m *Message) []byte {
	type plain Message
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode((*plain)(m)); err != nil {
		panic("encoding: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// sendWire returns the bytes Client.Send puts on the wire for m: since Send
// encodes with appendMessage, every test checks both it and wire (the
// encoding/json reference), which agree but on U+2028 and U+2029.
func sendWire(m *Message) []byte {
	return marshalMessage(m)
}

// encoders are the two encodings of a Message the tests hold to the same
// rules.
var encoders = []struct {
	name   string
	encode func(*Message) []byte
}{{"encoding/json", wire}, {"appendMessage", sendWire}}

// hasHTMLEscape reports whether the JSON text w holds one of the escapes
// json.Marshal uses for HTML (\u003c, \u003e, \u0026). It reads escapes as
// JSON does, so an escaped backslash followed by "u003c" is not one.
func hasHTMLEscape(w []byte) bool {
	for i := 0; i < len(w); i++ {
		if w[i] != '\\' || i+1 >= len(w) {
			continue
		}
		if w[i+1] == 'u' && i+6 <= len(w) {
			switch strings.ToLower(string(w[i+2 : i+6])) {
			case "003c", "003e", "0026":
				return true
			}
			i += 5
			continue
		}
		i++ // skip the escaped character (\\, \", \n, ...)
	}
	return false
}

// goldenFile is the path of the golden file name.
func goldenFile(name string) string { return filepath.Join("testdata", "golden", name+".json") }

// goldenCase is one golden wire file: the message the constructors build,
// and, for WeChat's official examples (wechat-api.md §1), the example text.
type goldenCase struct {
	name  string
	msg   func() *Message
	doc   string // the official example, byte for byte, or ""
	valid bool   // whether Validate accepts it: doc placeholders like "URL" are no URLs
}

const miniProgramLink = `<a href="http://www.qq.com" data-miniprogram-appid="APPID" data-miniprogram-path="pages/index/index">x</a>`

func goldenCases() []goldenCase {
	return []goldenCase{
		// The official examples of wechat-api.md §1.
		{name: "text", valid: true,
			msg: func() *Message { return NewText("OPENID", "Hello World") },
			doc: `{"touser":"OPENID","msgtype":"text","text":{"content":"Hello World"}}`},
		{name: "image", valid: true,
			msg: func() *Message { return NewImage("OPENID", "MEDIA_ID") },
			doc: `{"touser":"OPENID","msgtype":"image","image":{"media_id":"MEDIA_ID"}}`},
		{name: "voice", valid: true,
			msg: func() *Message { return NewVoice("OPENID", "MEDIA_ID") },
			doc: `{"touser":"OPENID","msgtype":"voice","voice":{"media_id":"MEDIA_ID"}}`},
		{name: "video", valid: true,
			msg: func() *Message {
				return NewVideo("OPENID", Video{MediaID: "MEDIA_ID", ThumbMediaID: "MEDIA_ID", Title: "TITLE", Description: "DESCRIPTION"})
			},
			doc: `{"touser":"OPENID","msgtype":"video","video":{"media_id":"MEDIA_ID","thumb_media_id":"MEDIA_ID","title":"TITLE","description":"DESCRIPTION"}}`},
		{name: "music", valid: false, // MUSIC_URL is no http(s) URL
			msg: func() *Message {
				return NewMusic("OPENID", Music{Title: "MUSIC_TITLE", Description: "MUSIC_DESCRIPTION",
					MusicURL: "MUSIC_URL", HQMusicURL: "HQ_MUSIC_URL", ThumbMediaID: "THUMB_MEDIA_ID"})
			},
			doc: `{"touser":"OPENID","msgtype":"music","music":{"title":"MUSIC_TITLE","description":"MUSIC_DESCRIPTION","musicurl":"MUSIC_URL","hqmusicurl":"HQ_MUSIC_URL","thumb_media_id":"THUMB_MEDIA_ID"}}`},
		{name: "news", valid: false, // URL is no http(s) URL
			msg: func() *Message {
				return NewNews("OPENID", Article{Title: "Happy Day", Description: "Is Really A Happy Day", URL: "URL", PicURL: "PIC_URL"})
			},
			doc: `{"touser":"OPENID","msgtype":"news","news":{"articles":[{"title":"Happy Day","description":"Is Really A Happy Day","url":"URL","picurl":"PIC_URL"}]}}`},
		{name: "mpnews", valid: true,
			msg: func() *Message { return NewMPNews("OPENID", "MEDIA_ID") },
			doc: `{"touser":"OPENID","msgtype":"mpnews","mpnews":{"media_id":"MEDIA_ID"}}`},
		{name: "mpnewsarticle", valid: true,
			msg: func() *Message { return NewMPNewsArticle("OPENID", "ARTICLE_ID") },
			doc: `{"touser":"OPENID","msgtype":"mpnewsarticle","mpnewsarticle":{"article_id":"ARTICLE_ID"}}`},
		{name: "msgmenu", valid: true,
			msg: func() *Message {
				return NewMsgMenu("OPENID", MsgMenu{HeadContent: "您对本次服务是否满意呢? ",
					List:        []MenuItem{{ID: "101", Content: "满意"}, {ID: "102", Content: "不满意"}},
					TailContent: "欢迎再次光临"})
			},
			doc: `{"touser":"OPENID","msgtype":"msgmenu","msgmenu":{"head_content":"您对本次服务是否满意呢? ","list":[{"id":"101","content":"满意"},{"id":"102","content":"不满意"}],"tail_content":"欢迎再次光临"}}`},
		{name: "wxcard", valid: true,
			msg: func() *Message { return NewWxCard("OPENID", "123dsdajkasd231jhksad") },
			doc: `{"touser":"OPENID","msgtype":"wxcard","wxcard":{"card_id":"123dsdajkasd231jhksad"}}`},
		{name: "miniprogrampage", valid: true,
			msg: func() *Message {
				return NewMiniProgramPage("OPENID", MiniProgramPage{Title: "title", AppID: "appid", PagePath: "pages/index/index", ThumbMediaID: "thumb_media_id"})
			},
			doc: `{"touser":"OPENID","msgtype":"miniprogrampage","miniprogrampage":{"title":"title","appid":"appid","pagepath":"pages/index/index","thumb_media_id":"thumb_media_id"}}`},
		{name: "link", valid: false, // URL, THUMB_URL are no http(s) URLs
			msg: func() *Message {
				return NewLink("OPENID", Link{Title: "T", Description: "D", URL: "URL", ThumbURL: "THUMB_URL"})
			},
			doc: `{"touser":"OPENID","msgtype":"link","link":{"title":"T","description":"D","url":"URL","thumb_url":"THUMB_URL"}}`},
		{name: "text_customservice", valid: true,
			msg: func() *Message { return NewText("OPENID", "Hello World").From("test1@kftest") },
			doc: `{"touser":"OPENID","msgtype":"text","text":{"content":"Hello World"},"customservice":{"kf_account":"test1@kftest"}}`},

		// Ours.
		{name: "text_chinese", valid: true,
			msg: func() *Message { return NewText("OPENID", "您好，欢迎咨询客服！") }},
		{name: "text_emoji", valid: true,
			msg: func() *Message { return NewText("OPENID", "Hi 👋 😀🎉 👨‍👩‍👧") }},
		{name: "text_miniprogram_link", valid: true,
			msg: func() *Message { return NewText("OPENID", miniProgramLink) }},
		{name: "text_link_query", valid: true,
			msg: func() *Message { return NewText("OPENID", `<a href="http://www.qq.com/?a=1&b=2">x</a>`) }},
		{name: "link_query", valid: true,
			msg: func() *Message {
				return NewLink("OPENID", Link{Title: "T", Description: "D",
					URL: "https://www.qq.com/?a=1&b=2", ThumbURL: "https://mmbiz.qpic.cn/thumb.png?a=1&b=2"})
			}},
		{name: "news_https", valid: true,
			msg: func() *Message {
				return NewNews("OPENID", Article{Title: "Happy Day", Description: "Is Really A Happy Day",
					URL: "https://www.qq.com/a?x=1&y=2", PicURL: "https://mmbiz.qpic.cn/pic.jpg"})
			}},
		{name: "miniprogrampage_no_appid", valid: true,
			msg: func() *Message {
				return NewMiniProgramPage("OPENID", MiniProgramPage{Title: "title", PagePath: "pages/index/index", ThumbMediaID: "thumb_media_id"})
			}},
		{name: "video_media_only", valid: true,
			msg: func() *Message { return NewVideo("OPENID", Video{MediaID: "MEDIA_ID"}) }},
		{name: "music_thumb_only", valid: true,
			msg: func() *Message { return NewMusic("OPENID", Music{ThumbMediaID: "THUMB_MEDIA_ID"}) }},
		{name: "aimsgcontext", valid: true,
			msg: func() *Message {
				m := NewText("OPENID", "Hello World")
				m.AIMsgContext = &AIMsgContext{IsAIMsg: 1}
				return m
			}},
		{name: "text_customservice_aimsgcontext", valid: true,
			msg: func() *Message {
				m := NewText("OPENID", "Hello World").From("test1@kftest")
				m.AIMsgContext = &AIMsgContext{IsAIMsg: 1}
				return m
			}},
	}
}

// TestGoldenWire compares the wire bytes of every message type with its
// golden file, and the official examples with the documentation's text.
func TestGoldenWire(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := wire(c.msg())
			require.Equal(t, string(got), string(sendWire(c.msg())), "appendMessage and encoding/json differ")
			if *updateGolden {
				require.NoError(t, os.MkdirAll(filepath.Dir(goldenFile(c.name)), 0o755))
				require.NoError(t, os.WriteFile(goldenFile(c.name), got, 0o644))
			}
			want, err := os.ReadFile(goldenFile(c.name))
			require.NoError(t, err, "run go test -run Golden -update . to create it")
			require.Equal(t, string(want), string(got), "wire bytes differ from %s", goldenFile(c.name))
			if c.doc != "" {
				require.Equal(t, c.doc, string(got), "wire bytes differ from the official example")
			}

			assert.True(t, json.Valid(got), "not JSON")
			assert.True(t, utf8.Valid(got), "not UTF-8")
			assert.False(t, bytes.HasSuffix(got, []byte("\n")), "trailing newline")
			assert.False(t, hasHTMLEscape(got), "HTML-escaped: %s", got)
			if c.valid {
				assert.NoError(t, c.msg().Validate())
			} else {
				assert.ErrorIs(t, c.msg().Validate(), ErrInvalidMessage)
			}
		})
	}
}

// TestGoldenRoundTrip decodes every golden file into a Message, which must
// equal the constructed one and encode back to the same bytes.
func TestGoldenRoundTrip(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			golden, err := os.ReadFile(goldenFile(c.name))
			require.NoError(t, err)
			var m Message
			require.NoError(t, json.Unmarshal(golden, &m))
			require.Equal(t, c.msg(), &m)
			require.Equal(t, string(golden), string(wire(&m)))
			require.Equal(t, string(golden), string(sendWire(&m)))
		})
	}
}

// TestGoldenFilesHaveCases catches golden files left over from removed cases.
func TestGoldenFilesHaveCases(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	require.NoError(t, err)
	var names, want []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	for _, c := range goldenCases() {
		want = append(want, c.name)
	}
	sort.Strings(want)
	require.Equal(t, want, names)
}

// TestWireNoHTMLEscape shows what the golden files guard against: the
// standard encoding escapes <, > and &, which WeChat rejects (40033).
func TestWireNoHTMLEscape(t *testing.T) {
	m := NewText("OPENID", miniProgramLink+` a=1&b=2 <>`)
	std, err := json.Marshal(m)
	require.NoError(t, err)
	require.True(t, hasHTMLEscape(std), "json.Marshal no longer escapes HTML? %s", std)

	for _, e := range encoders {
		got := e.encode(m)
		require.False(t, hasHTMLEscape(got), e.name)
		require.Contains(t, string(got), `"content":"`+strings.ReplaceAll(miniProgramLink, `"`, `\"`)+` a=1&b=2 <>"`, e.name)
	}

	// A literal backslash-u in the text is escaped as \\u003c: not an HTML escape.
	lit := wire(NewText("OPENID", `\u003c`))
	require.Equal(t, `{"touser":"OPENID","msgtype":"text","text":{"content":"\\u003c"}}`, string(lit))
	require.False(t, hasHTMLEscape(lit))
	require.True(t, hasHTMLEscape([]byte(`"\u003C"`)))
	require.True(t, hasHTMLEscape([]byte(`"\\\u0026"`)))
}

// sameAsStd compares appendMessage, and marshalWire which encodes other
// bodies, with encoding/json, which writes U+2028 and U+2029 as escapes
// where they keep them.
func sameAsStd(t testing.TB, m *Message) {
	t.Helper()
	want := strings.NewReplacer(`\u2028`, "\u2028", `\u2029`, "\u2029").Replace(string(wire(m)))
	assert.Equal(t, want, string(sendWire(m)))
	type plain Message // marshalWire of a Message is encoding/json's, separators kept
	mw, err := marshalWire((*plain)(m))
	assert.NoError(t, err)
	assert.Equal(t, want, string(mw))
}

func TestAppendMessageMatchesEncodingJSON(t *testing.T) {
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

func FuzzAppendMessage(f *testing.F) {
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

// TestConstructors checks that each constructor sets msgtype and exactly its
// body, and that From chains.
func TestConstructors(t *testing.T) {
	t.Parallel()
	for _, typ := range knownTypes {
		m := validMessage(typ)
		require.Equal(t, typ, m.MsgType)
		require.Equal(t, "OPENID", m.ToUser)
		set := bodies(m)
		for i, k := range knownTypes {
			require.Equal(t, k == typ, set[i], "%s: body %s", typ, k)
		}
		require.Nil(t, m.CustomService)
		require.Nil(t, m.AIMsgContext)
		require.Same(t, m, m.From("a@b"))
		require.Equal(t, &CustomService{KfAccount: "a@b"}, m.CustomService)
		require.Same(t, m, m.From(""))
		require.Nil(t, m.CustomService)
	}
}

// TestConstructorsCopy checks that the constructors copy what they are given.
func TestConstructorsCopy(t *testing.T) {
	t.Parallel()

	arts := []Article{{Title: "A", URL: "https://a.example/"}}
	news := NewNews("OPENID", arts...)
	arts[0].Title = "changed"
	arts = append(arts[:1], Article{Title: "B"})
	require.Equal(t, []Article{{Title: "A", URL: "https://a.example/"}}, news.News.Articles)
	news.News.Articles[0].URL = "https://b.example/"
	require.Equal(t, "https://a.example/", arts[0].URL)

	items := []MenuItem{{ID: "1", Content: "yes"}, {ID: "2", Content: "no"}}
	menu := NewMsgMenu("OPENID", MsgMenu{List: items})
	items[0].Content = "changed"
	require.Equal(t, []MenuItem{{ID: "1", Content: "yes"}, {ID: "2", Content: "no"}}, menu.MsgMenu.List)
	menu.MsgMenu.List[1].ID = "3"
	require.Equal(t, "2", items[1].ID)

	v := Video{MediaID: "M"}
	video := NewVideo("OPENID", v)
	v.MediaID = "changed"
	require.Equal(t, "M", video.Video.MediaID)
}

// validMessage returns a valid message of type typ, built by its constructor.
func validMessage(typ MsgType) *Message {
	switch typ {
	case TypeText:
		return NewText("OPENID", "Hello World")
	case TypeImage:
		return NewImage("OPENID", "MEDIA_ID")
	case TypeVoice:
		return NewVoice("OPENID", "MEDIA_ID")
	case TypeVideo:
		return NewVideo("OPENID", Video{MediaID: "MEDIA_ID", ThumbMediaID: "THUMB", Title: "TITLE", Description: "DESCRIPTION"})
	case TypeMusic:
		return NewMusic("OPENID", Music{Title: "MUSIC_TITLE", Description: "MUSIC_DESCRIPTION",
			MusicURL: "http://music.example.com/a.mp3", HQMusicURL: "https://music.example.com/a-hq.mp3", ThumbMediaID: "THUMB"})
	case TypeNews:
		return NewNews("OPENID", Article{Title: "Happy Day", Description: "Is Really A Happy Day",
			URL: "https://www.qq.com/a?x=1&y=2", PicURL: "https://mmbiz.qpic.cn/pic.jpg"})
	case TypeMPNews:
		return NewMPNews("OPENID", "MEDIA_ID")
	case TypeMPNewsArticle:
		return NewMPNewsArticle("OPENID", "ARTICLE_ID")
	case TypeMsgMenu:
		return NewMsgMenu("OPENID", MsgMenu{HeadContent: "您对本次服务是否满意呢? ",
			List:        []MenuItem{{ID: "101", Content: "满意"}, {ID: "102", Content: "不满意"}},
			TailContent: "欢迎再次光临"})
	case TypeWxCard:
		return NewWxCard("OPENID", "123dsdajkasd231jhksad")
	case TypeMiniProgramPage:
		return NewMiniProgramPage("OPENID", MiniProgramPage{Title: "title", AppID: "appid", PagePath: "pages/index/index", ThumbMediaID: "thumb_media_id"})
	case TypeLink:
		return NewLink("OPENID", Link{Title: "T", Description: "D", URL: "https://www.qq.com/?a=1&b=2", ThumbURL: "https://mmbiz.qpic.cn/t.png"})
	}
	panic("unknown type " + string(typ))
}

// stringField is one string field of a Message: its JSON path (the Field a
// ValidationError names), the type whose body holds it ("" for the
// envelope), the rules Validate applies, and how to set it.
type stringField struct {
	path     string
	typ      MsgType
	required bool
	url      bool // absolute http(s) URL when set
	set      func(m *Message, s string)
}

// stringFields lists every string field of a Message but msgtype.
var stringFields = []stringField{
	{"touser", "", true, false, func(m *Message, s string) { m.ToUser = s }},
	{"customservice.kf_account", "", true, false, func(m *Message, s string) { m.CustomService = &CustomService{KfAccount: s} }},
	{"text.content", TypeText, true, false, func(m *Message, s string) { m.Text.Content = s }},
	{"image.media_id", TypeImage, true, false, func(m *Message, s string) { m.Image.MediaID = s }},
	{"voice.media_id", TypeVoice, true, false, func(m *Message, s string) { m.Voice.MediaID = s }},
	{"video.media_id", TypeVideo, true, false, func(m *Message, s string) { m.Video.MediaID = s }},
	{"video.thumb_media_id", TypeVideo, false, false, func(m *Message, s string) { m.Video.ThumbMediaID = s }},
	{"video.title", TypeVideo, false, false, func(m *Message, s string) { m.Video.Title = s }},
	{"video.description", TypeVideo, false, false, func(m *Message, s string) { m.Video.Description = s }},
	{"music.title", TypeMusic, false, false, func(m *Message, s string) { m.Music.Title = s }},
	{"music.description", TypeMusic, false, false, func(m *Message, s string) { m.Music.Description = s }},
	{"music.musicurl", TypeMusic, false, true, func(m *Message, s string) { m.Music.MusicURL = s }},
	{"music.hqmusicurl", TypeMusic, false, true, func(m *Message, s string) { m.Music.HQMusicURL = s }},
	{"music.thumb_media_id", TypeMusic, true, false, func(m *Message, s string) { m.Music.ThumbMediaID = s }},
	{"news.articles[0].title", TypeNews, true, false, func(m *Message, s string) { m.News.Articles[0].Title = s }},
	{"news.articles[0].description", TypeNews, false, false, func(m *Message, s string) { m.News.Articles[0].Description = s }},
	{"news.articles[0].url", TypeNews, true, true, func(m *Message, s string) { m.News.Articles[0].URL = s }},
	{"news.articles[0].picurl", TypeNews, false, true, func(m *Message, s string) { m.News.Articles[0].PicURL = s }},
	{"mpnews.media_id", TypeMPNews, true, false, func(m *Message, s string) { m.MPNews.MediaID = s }},
	{"mpnewsarticle.article_id", TypeMPNewsArticle, true, false, func(m *Message, s string) { m.MPNewsArticle.ArticleID = s }},
	{"msgmenu.head_content", TypeMsgMenu, false, false, func(m *Message, s string) { m.MsgMenu.HeadContent = s }},
	{"msgmenu.list[0].id", TypeMsgMenu, true, false, func(m *Message, s string) { m.MsgMenu.List[0].ID = s }},
	{"msgmenu.list[0].content", TypeMsgMenu, true, false, func(m *Message, s string) { m.MsgMenu.List[0].Content = s }},
	{"msgmenu.tail_content", TypeMsgMenu, false, false, func(m *Message, s string) { m.MsgMenu.TailContent = s }},
	{"wxcard.card_id", TypeWxCard, true, false, func(m *Message, s string) { m.WxCard.CardID = s }},
	{"miniprogrampage.title", TypeMiniProgramPage, true, false, func(m *Message, s string) { m.MiniProgramPage.Title = s }},
	{"miniprogrampage.appid", TypeMiniProgramPage, false, false, func(m *Message, s string) { m.MiniProgramPage.AppID = s }},
	{"miniprogrampage.pagepath", TypeMiniProgramPage, true, false, func(m *Message, s string) { m.MiniProgramPage.PagePath = s }},
	{"miniprogrampage.thumb_media_id", TypeMiniProgramPage, true, false, func(m *Message, s string) { m.MiniProgramPage.ThumbMediaID = s }},
	{"link.title", TypeLink, true, false, func(m *Message, s string) { m.Link.Title = s }},
	{"link.description", TypeLink, false, false, func(m *Message, s string) { m.Link.Description = s }},
	{"link.url", TypeLink, true, true, func(m *Message, s string) { m.Link.URL = s }},
	{"link.thumb_url", TypeLink, true, true, func(m *Message, s string) { m.Link.ThumbURL = s }},
}

// messageFor returns a valid message that holds field f.
func (f stringField) messageFor() *Message {
	if f.typ == "" {
		return validMessage(TypeText)
	}
	return validMessage(f.typ)
}

// TestStringFieldsCoverMessage keeps stringFields complete: every string in
// a Message (found by reflection, JSON names, [0] for slices) is listed.
func TestStringFieldsCoverMessage(t *testing.T) {
	t.Parallel()
	var paths []string
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, prefix string) {
		switch typ.Kind() {
		case reflect.Pointer:
			walk(typ.Elem(), prefix)
		case reflect.Slice:
			walk(typ.Elem(), prefix+"[0]")
		case reflect.Struct:
			for i := 0; i < typ.NumField(); i++ {
				name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
				if prefix != "" {
					name = prefix + "." + name
				}
				walk(typ.Field(i).Type, name)
			}
		case reflect.String:
			paths = append(paths, prefix)
		}
	}
	walk(reflect.TypeOf(Message{}), "")
	want := []string{"msgtype"}
	for _, f := range stringFields {
		want = append(want, f.path)
	}
	require.ElementsMatch(t, want, paths)
}

// validationErrors walks err's tree and returns its *ValidationErrors; any
// other leaf fails the test.
func validationErrors(t testing.TB, err error) []*ValidationError {
	t.Helper()
	var out []*ValidationError
	var walk func(error)
	walk = func(e error) {
		switch x := e.(type) {
		case *ValidationError:
			out = append(out, x)
		case interface{ Unwrap() []error }:
			for _, c := range x.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			walk(x.Unwrap())
		default:
			t.Errorf("unexpected %T in a validation error: %v", e, e)
		}
	}
	walk(err)
	return out
}

// deepCopy returns a copy of v that shares no pointer or slice with it.
func deepCopy[T any](v T) T {
	return deepCopyValue(reflect.ValueOf(&v).Elem()).Interface().(T)
}

func deepCopyValue(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		n := reflect.New(v.Type().Elem())
		n.Elem().Set(deepCopyValue(v.Elem()))
		return n
	case reflect.Struct:
		n := reflect.New(v.Type()).Elem()
		for i := 0; i < v.NumField(); i++ {
			n.Field(i).Set(deepCopyValue(v.Field(i)))
		}
		return n
	case reflect.Slice:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		n := reflect.MakeSlice(v.Type(), v.Len(), v.Cap())
		for i := 0; i < v.Len(); i++ {
			n.Index(i).Set(deepCopyValue(v.Index(i)))
		}
		return n
	case reflect.Map, reflect.Interface, reflect.Chan, reflect.Func:
		panic("deepCopy: unsupported kind " + v.Kind().String())
	}
	return v
}

// validationCase is one message and every Field its Validate error names
// (in any order); no fields means the message is valid.
type validationCase struct {
	name   string
	msg    func() *Message
	fields []string
	rule   string // when set, some error's Rule contains it
}

func validationCases() []validationCase {
	with := func(typ MsgType, f func(m *Message)) func() *Message {
		return func() *Message { m := validMessage(typ); f(m); return m }
	}
	text := func(f func(m *Message)) func() *Message { return with(TypeText, f) }
	bad := "ok\xffbad" // invalid UTF-8
	twoArticles := []Article{
		{Title: "A", URL: "https://a.example/"},
		{Title: "B", URL: "http://b.example/"},
	}

	cs := []validationCase{
		{name: "nil message", msg: func() *Message { return nil }, fields: []string{"message"}},
		{name: "zero message", msg: func() *Message { return &Message{} }, fields: []string{"touser", "msgtype"}},

		// Envelope.
		{name: "touser missing", msg: text(func(m *Message) { m.ToUser = "" }), fields: []string{"touser"}},
		{name: "msgtype missing", msg: func() *Message { return &Message{ToUser: "OPENID"} }, fields: []string{"msgtype"}},
		{name: "msgtype missing with body", msg: text(func(m *Message) { m.MsgType = "" }),
			fields: []string{"msgtype", "text"}, rule: "exactly one body"},
		{name: "msgtype unknown", msg: func() *Message { return &Message{ToUser: "OPENID", MsgType: "location"} },
			fields: []string{"msgtype"}, rule: `"location"`},
		{name: "msgtype unknown with body", msg: text(func(m *Message) { m.MsgType = "TEXT" }),
			fields: []string{"msgtype", "text"}},
		{name: "msgtype invalid UTF-8", msg: func() *Message { return &Message{ToUser: "OPENID", MsgType: MsgType(bad)} },
			fields: []string{"msgtype", "msgtype"}, rule: "UTF-8"},
		{name: "second body", msg: text(func(m *Message) { m.Image = &Media{MediaID: "MEDIA_ID"} }),
			fields: []string{"image"}, rule: `msgtype is "text"`},
		{name: "second and third body", msg: with(TypeNews, func(m *Message) {
			m.Text = &Text{Content: "x"}
			m.Link = &Link{Title: "T", URL: "https://a.example/", ThumbURL: "https://a.example/t.png"}
		}), fields: []string{"text", "link"}},
		{name: "second body is checked too", msg: text(func(m *Message) { m.Image = &Media{} }),
			fields: []string{"image", "image.media_id"}},
		{name: "wrong body", msg: func() *Message { return &Message{ToUser: "OPENID", MsgType: TypeText, Image: &Media{MediaID: "M"}} },
			fields: []string{"text", "image"}},

		// Per-type rules beyond required and UTF-8 (those come below for every field).
		{name: "text too long", msg: text(func(m *Message) { m.Text.Content = strings.Repeat("a", MaxTextBytes+1) }),
			fields: []string{"text.content"}, rule: "at most"},
		{name: "text at the limit", msg: text(func(m *Message) { m.Text.Content = strings.Repeat("a", MaxTextBytes) })},
		{name: "Chinese text under the limit", msg: text(func(m *Message) { m.Text.Content = strings.Repeat("字", MaxTextBytes/3) })},
		{name: "Chinese text over the limit", msg: text(func(m *Message) { m.Text.Content = strings.Repeat("字", MaxTextBytes/3+1) }),
			fields: []string{"text.content"}, rule: "bytes"},
		{name: "text too long and invalid UTF-8", msg: text(func(m *Message) { m.Text.Content = strings.Repeat("a", MaxTextBytes) + bad }),
			fields: []string{"text.content", "text.content"}},
		{name: "news no articles", msg: func() *Message { return NewNews("OPENID") }, fields: []string{"news.articles"}},
		{name: "news empty articles", msg: with(TypeNews, func(m *Message) { m.News.Articles = []Article{} }), fields: []string{"news.articles"}},
		{name: "news two articles", msg: func() *Message { return NewNews("OPENID", twoArticles...) },
			fields: []string{"news.articles"}, rule: "45008"},
		{name: "news eight articles", msg: func() *Message {
			arts := make([]Article, 8)
			for i := range arts {
				arts[i] = Article{Title: "T", URL: "https://a.example/" + strings.Repeat("x", i)}
			}
			return NewNews("OPENID", arts...)
		}, fields: []string{"news.articles"}, rule: "(got 8)"},
		{name: "news three articles third title missing", msg: func() *Message {
			return NewNews("OPENID", append(twoArticles, Article{URL: "https://c.example/"})...)
		}, fields: []string{"news.articles", "news.articles[2].title"}, rule: "45008"},
		{name: "news two articles second url bad", msg: func() *Message {
			return NewNews("OPENID", twoArticles[0], Article{Title: "B", URL: "b.example/x"})
		}, fields: []string{"news.articles", "news.articles[1].url"}},
		{name: "news two bad articles", msg: func() *Message {
			return NewNews("OPENID", Article{PicURL: "ftp://x/y"}, Article{Title: "B", URL: "https://b/", Description: bad})
		}, fields: []string{"news.articles", "news.articles[0].title", "news.articles[0].url", "news.articles[0].picurl", "news.articles[1].description"}},
		{name: "msgmenu nil list", msg: with(TypeMsgMenu, func(m *Message) { m.MsgMenu.List = nil }), fields: []string{"msgmenu.list"}},
		{name: "msgmenu empty list", msg: func() *Message { return NewMsgMenu("OPENID", MsgMenu{List: []MenuItem{}}) }, fields: []string{"msgmenu.list"}},
		{name: "msgmenu one item", msg: func() *Message { return NewMsgMenu("OPENID", MsgMenu{List: []MenuItem{{ID: "1", Content: "ok"}}}) }},
		{name: "msgmenu empty id", msg: with(TypeMsgMenu, func(m *Message) { m.MsgMenu.List[1].ID = "" }), fields: []string{"msgmenu.list[1].id"}},
		{name: "msgmenu duplicate id", msg: with(TypeMsgMenu, func(m *Message) { m.MsgMenu.List[1].ID = "101" }),
			fields: []string{"msgmenu.list[1].id"}, rule: "msgmenu.list[0].id"},
		{name: "msgmenu three same ids", msg: func() *Message {
			return NewMsgMenu("OPENID", MsgMenu{List: []MenuItem{{"1", "a"}, {"2", "b"}, {"1", "c"}, {"1", "d"}}})
		}, fields: []string{"msgmenu.list[2].id", "msgmenu.list[3].id"}, rule: "msgmenu.list[0].id"},
		{name: "msgmenu two empty ids", msg: func() *Message {
			return NewMsgMenu("OPENID", MsgMenu{List: []MenuItem{{"", "a"}, {"", "b"}}})
		}, fields: []string{"msgmenu.list[0].id", "msgmenu.list[1].id"}, rule: "required"},
		{name: "msgmenu empty content", msg: with(TypeMsgMenu, func(m *Message) { m.MsgMenu.List[1].Content = "" }),
			fields: []string{"msgmenu.list[1].content"}},
		{name: "miniprogrampage all missing", msg: func() *Message { return NewMiniProgramPage("OPENID", MiniProgramPage{AppID: "appid"}) },
			fields: []string{"miniprogrampage.title", "miniprogrampage.pagepath", "miniprogrampage.thumb_media_id"}},
		{name: "link all missing", msg: func() *Message { return NewLink("OPENID", Link{}) },
			fields: []string{"link.title", "link.url", "link.thumb_url"}},
		{name: "music only thumb", msg: func() *Message { return NewMusic("OPENID", Music{ThumbMediaID: "T"}) }},
		{name: "video only media_id", msg: func() *Message { return NewVideo("OPENID", Video{MediaID: "M"}) }},

		// customservice.kf_account.
		{name: "kf_account a@b", msg: text(func(m *Message) { m.From("a@b") })},
		{name: "kf_account test1@kftest", msg: text(func(m *Message) { m.From("test1@kftest") })},
		{name: "kf_account prefix of 10", msg: text(func(m *Message) { m.From("Ab_3456789@x") })},
		{name: "kf_account prefix of 11", msg: text(func(m *Message) { m.From("Ab_34567890@x") }),
			fields: []string{"customservice.kf_account"}, rule: "1 to 10"},
		{name: "kf_account toolongprefix1@x", msg: text(func(m *Message) { m.From("toolongprefix1@x") }),
			fields: []string{"customservice.kf_account"}},
		{name: "kf_account bad-char@x", msg: text(func(m *Message) { m.From("bad-char@x") }),
			fields: []string{"customservice.kf_account"}, rule: "A-Z"},
		{name: "kf_account non-ASCII prefix", msg: text(func(m *Message) { m.From("客服@x") }),
			fields: []string{"customservice.kf_account"}},
		{name: "kf_account noat", msg: text(func(m *Message) { m.From("noat") }),
			fields: []string{"customservice.kf_account"}, rule: "prefix@account"},
		{name: "kf_account a@", msg: text(func(m *Message) { m.From("a@") }),
			fields: []string{"customservice.kf_account"}},
		{name: "kf_account @b", msg: text(func(m *Message) { m.From("@b") }),
			fields: []string{"customservice.kf_account"}},
		{name: "kf_account a@b c", msg: text(func(m *Message) { m.From("a@b c") }),
			fields: []string{"customservice.kf_account"}, rule: "spaces"},
		{name: "kf_account a@b@c", msg: text(func(m *Message) { m.From("a@b@c") }),
			fields: []string{"customservice.kf_account"}, rule: "another @"},
		{name: "kf_account empty struct", msg: text(func(m *Message) { m.CustomService = &CustomService{} }),
			fields: []string{"customservice.kf_account"}, rule: "required"},
		{name: "From empty removes customservice", msg: text(func(m *Message) { m.From("noat").From("") })},

		// aimsgcontext.is_ai_msg.
		{name: "is_ai_msg 0", msg: text(func(m *Message) { m.AIMsgContext = &AIMsgContext{IsAIMsg: 0} })},
		{name: "is_ai_msg 1", msg: text(func(m *Message) { m.AIMsgContext = &AIMsgContext{IsAIMsg: 1} })},
		{name: "is_ai_msg 2", msg: text(func(m *Message) { m.AIMsgContext = &AIMsgContext{IsAIMsg: 2} }),
			fields: []string{"aimsgcontext.is_ai_msg"}, rule: "0 or 1"},
		{name: "is_ai_msg -1", msg: text(func(m *Message) { m.AIMsgContext = &AIMsgContext{IsAIMsg: -1} }),
			fields: []string{"aimsgcontext.is_ai_msg"}},

		// Many problems at once: all are reported.
		{name: "everything wrong", msg: func() *Message {
			m := NewNews("", Article{}, Article{URL: "x"})
			m.From("bad-char@x")
			m.AIMsgContext = &AIMsgContext{IsAIMsg: 7}
			m.Voice = &Media{}
			return m
		}, fields: []string{"touser", "voice", "voice.media_id", "news.articles",
			"news.articles[0].title", "news.articles[0].url", "news.articles[1].title", "news.articles[1].url",
			"customservice.kf_account", "aimsgcontext.is_ai_msg"}},
	}

	// Every type: valid as built, and its body is required.
	for _, typ := range knownTypes {
		cs = append(cs,
			validationCase{name: string(typ) + " valid", msg: func() *Message { return validMessage(typ) }},
			validationCase{name: string(typ) + " body missing", msg: func() *Message { return &Message{ToUser: "OPENID", MsgType: typ} },
				fields: []string{string(typ)}, rule: "required for msgtype"},
		)
	}
	// Every string field: invalid UTF-8; required or optional; URL rules.
	for _, f := range stringFields {
		set := func(s string) func() *Message {
			return func() *Message { m := f.messageFor(); f.set(m, s); return m }
		}
		cs = append(cs, validationCase{name: f.path + " invalid UTF-8", msg: set(bad), fields: []string{f.path}, rule: "UTF-8"})
		if f.required {
			cs = append(cs, validationCase{name: f.path + " empty", msg: set(""), fields: []string{f.path}, rule: "required"})
		} else {
			cs = append(cs, validationCase{name: f.path + " empty", msg: set("")})
		}
		if f.url {
			for _, u := range []string{"URL", "/relative/path", "www.qq.com/x", "ftp://www.qq.com/x", "http://", "https:///x", "javascript:alert(1)", "http://a b/", "http://[::1"} {
				cs = append(cs, validationCase{name: f.path + " " + u, msg: set(u), fields: []string{f.path}, rule: "http"})
			}
			for _, u := range []string{"http://www.qq.com", "https://www.qq.com/a?x=1&y=2#f", "HTTPS://MMBIZ.QPIC.CN/x.jpg", "http://127.0.0.1:8080/p"} {
				cs = append(cs, validationCase{name: f.path + " " + u, msg: set(u)})
			}
		} else {
			// Anything valid UTF-8 goes, for fields without a shape rule.
			if f.path != "customservice.kf_account" {
				cs = append(cs, validationCase{name: f.path + " any text", msg: set("<a href=\"x\">&amp;</a> 你好 😀 \x00\t\n\u2028")})
			}
		}
	}
	return cs
}

func TestValidate(t *testing.T) {
	for _, c := range validationCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := c.msg()
			before := deepCopy(m)
			err := m.Validate()
			require.Equal(t, before, m, "Validate changed the message")

			if len(c.fields) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.ErrorIs(t, err, ErrInvalidMessage)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			require.Contains(t, c.fields, ve.Field)

			all := validationErrors(t, err)
			var fields []string
			ruleFound := c.rule == ""
			for _, e := range all {
				fields = append(fields, e.Field)
				require.NotEmpty(t, e.Rule)
				require.ErrorIs(t, e, ErrInvalidMessage)
				require.Equal(t, "kefu: invalid message: "+e.Field+": "+e.Rule, e.Error())
				require.Contains(t, err.Error(), e.Error())
				if c.rule != "" && strings.Contains(e.Rule, c.rule) {
					ruleFound = true
				}
			}
			require.ElementsMatch(t, c.fields, fields, "error: %v", err)
			require.True(t, ruleFound, "no rule mentions %q: %v", c.rule, err)
			if len(c.fields) == 1 {
				require.Same(t, all[0], err, "one problem: the error is the *ValidationError itself")
			}
		})
	}
}

// TestValidateGoldens checks that the valid golden messages stay valid after
// a trip through JSON (what a caller loading messages from config does).
func TestValidateGoldens(t *testing.T) {
	t.Parallel()
	for _, c := range goldenCases() {
		var m Message
		require.NoError(t, json.Unmarshal(wire(c.msg()), &m))
		if c.valid {
			require.NoError(t, m.Validate(), c.name)
		} else {
			require.ErrorIs(t, m.Validate(), ErrInvalidMessage, c.name)
		}
	}
}

// TestValidateConcurrent validates and encodes one message from several
// goroutines at once: under -race this proves neither writes to it.
func TestValidateConcurrent(t *testing.T) {
	t.Parallel()
	msgs := []*Message{validMessage(TypeNews), validMessage(TypeMsgMenu).From("a@b"),
		NewNews("", Article{}, Article{}), NewMsgMenu("OPENID", MsgMenu{List: []MenuItem{{"1", ""}, {"1", "x"}}})}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, m := range msgs {
				_ = m.Validate()
				_ = wire(m)
				_ = sendWire(m)
			}
		}()
	}
	wg.Wait()
	require.NoError(t, msgs[0].Validate())
	require.NoError(t, msgs[1].Validate())
	require.ErrorIs(t, msgs[2].Validate(), ErrInvalidMessage)
	require.ErrorIs(t, msgs[3].Validate(), ErrInvalidMessage)
}

// TestValidationErrorsJoin checks the error of several problems: errors.As
// finds the first, and errors.Is matches through the join.
func TestValidationErrorsJoin(t *testing.T) {
	t.Parallel()
	err := (&Message{}).Validate()
	require.ErrorIs(t, err, ErrInvalidMessage)
	_, ok := err.(interface{ Unwrap() []error })
	require.True(t, ok, "several problems are joined: %T", err)
	var ve *ValidationError
	require.True(t, errors.As(err, &ve))
	require.Equal(t, "touser", ve.Field)
	require.False(t, errors.Is(err, ErrDeliveryUnknown))
}

// knownTypes lists every MsgType, in the order of the message type table.
var knownTypes = MsgTypes()

// bodies reports, in knownTypes order, whether each body of m is set.
func bodies(m *Message) []bool {
	set := make([]bool, len(msgKinds))
	for i := range msgKinds {
		set[i] = msgKinds[i].body(m) != nil
	}
	return set
}

func TestBody(t *testing.T) {
	t.Parallel()
	for _, typ := range knownTypes {
		m := validMessage(typ)
		b := m.Body()
		require.NotNil(t, b, typ)
		got, err := json.Marshal(b)
		require.NoError(t, err)
		var whole map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(sendWire(m), &whole))
		assert.JSONEq(t, string(whole[string(typ)]), string(got), "%s: Body is the body msgtype names", typ)
		m.MsgType = "location"
		assert.Nil(t, m.Body(), "unknown type")
	}
	assert.Nil(t, (&Message{MsgType: TypeText}).Body(), "unset body: untyped nil")
}
