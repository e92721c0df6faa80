package kefutest_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/callback"
	"github.com/kefu-go/kefu/kefutest"
)

// conversation is the inbox's conversation fragment for openID.
func conversation(t *testing.T, srv *kefutest.Server, openID string) string {
	t.Helper()
	p := inboxGet(t, srv, "/kefutest/inbox/conversation?openid="+url.QueryEscape(openID))
	require.Equal(t, http.StatusOK, p.status, p.body)
	assert.Equal(t, "text/html; charset=utf-8", p.header.Get("Content-Type"))
	return p.body
}

func TestInboxUsers(t *testing.T) {
	t.Parallel()
	srv := inboxServer(t)
	srv.AddUser("quiet")
	srv.Interact("early", kefutest.UserMessage)
	srv.Advance(time.Minute)
	srv.Interact("payer", kefutest.Payment)
	srv.Interact("gone", kefutest.Follow)
	srv.Unfollow("gone")

	p := inboxGet(t, srv, "/kefutest/inbox/users?openid=payer")
	require.Equal(t, http.StatusOK, p.status)
	b := p.body
	assert.Contains(t, b, "server clock <time>"+start.Add(time.Minute).Local().Format("2006-01-02 15:04:05")+"</time>")
	order := []string{`data-openid="gone"`, `data-openid="payer"`, `data-openid="early"`, `data-openid="quiet"`}
	last := -1
	for _, o := range order {
		i := strings.Index(b, o)
		require.Greater(t, i, last, "newest activity first: %s in\n%s", o, b)
		last = i
	}
	assert.Contains(t, b, `data-openid="payer" class="user selected"`)
	assert.Contains(t, b, "Payment: unlimited, closes in 48h00m")
	assert.Contains(t, b, "UserMessage: 5 left, closes in 47h59m")
	assert.Contains(t, b, "not following")
	assert.Equal(t, 2, strings.Count(b, "no open window"), "gone and quiet")

	// Typing shows.
	c := srv.Client()
	require.NoError(t, c.Typing(context.Background(), "payer"))
	assert.Contains(t, inboxGet(t, srv, "/kefutest/inbox/users").body, "typing…")

	empty := inboxServer(t)
	assert.Contains(t, inboxGet(t, empty, "/kefutest/inbox/users").body, "No users yet.")
}

func TestInboxConversationRendersEveryType(t *testing.T) {
	t.Parallel()
	srv := inboxServer(t)
	srv.AddTemplate("t1")
	srv.Interact("o1", kefutest.Payment)
	for _, m := range []struct {
		kind kefutest.MediaKind
		id   string
	}{{kefutest.MediaVoice, "voice-1"}, {kefutest.MediaVideo, "video-1"}, {kefutest.MediaThumb, "thumb-1"},
		{kefutest.MediaMPNews, "mpnews-1"}, {kefutest.MediaArticle, "article-1"}, {kefutest.MediaCard, "card-1"}} {
		srv.AddMedia(m.kind, m.id)
	}
	c := srv.Client()
	ctx := context.Background()
	up, err := c.UploadMedia(ctx, kefu.MediaImage, "cat photo.png", bytes.NewReader([]byte("\x89PNG fake")))
	require.NoError(t, err)
	for _, m := range []*kefu.Message{
		text("o1", `see <a href="https://example.com/a?b=1&c=2">the page</a> or https://example.org/x, `+
			`<a data-miniprogram-appid="wxmini" data-miniprogram-path="pages/i">the app</a>`),
		text("o1", "from Alice").From("kf01@shop"),
		kefu.NewImage("o1", up.MediaID),
		kefu.NewVoice("o1", "voice-1"),
		kefu.NewVideo("o1", kefu.Video{MediaID: "video-1", ThumbMediaID: "thumb-1", Title: "Clip"}),
		kefu.NewMusic("o1", kefu.Music{Title: "Song", MusicURL: "https://example.com/song.mp3", ThumbMediaID: "thumb-1"}),
		kefu.NewNews("o1", kefu.Article{Title: "Big news", Description: "read me", URL: "https://example.com/news"}),
		kefu.NewMPNews("o1", "mpnews-1"),
		kefu.NewMPNewsArticle("o1", "article-1"),
		kefu.NewMsgMenu("o1", kefu.MsgMenu{HeadContent: "Happy?", List: []kefu.MenuItem{{ID: "101", Content: "Yes"}, {ID: "102", Content: "No"}}, TailContent: "Thanks"}),
		kefu.NewWxCard("o1", "card-1"),
		kefu.NewMiniProgramPage("o1", kefu.MiniProgramPage{Title: "Shop", AppID: "wxmini", PagePath: "pages/index", ThumbMediaID: "thumb-1"}),
	} {
		_, err := c.Send(ctx, m)
		require.NoError(t, err, m.MsgType)
	}
	_, err = c.SendTemplate(ctx, &kefu.TemplateMessage{ToUser: "o1", TemplateID: "t1", URL: "https://example.com/order",
		Data: map[string]kefu.TemplateValue{"thing1": {Value: "shipped"}}})
	require.NoError(t, err)

	b := conversation(t, srv, "o1")
	for _, want := range []string{
		`<a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">the page</a>`,
		`<a href="https://example.org/x," target="_blank" rel="noopener noreferrer">https://example.org/x,</a>`,
		`<span class="mplink" title="Mini Program wxmini pages/i">the app</span>`,
		`<span class="tag kf">from kf01@shop</span>`,
		`<span class="kind">image</span> <code>` + up.MediaID + `</code> <span class="file">cat photo.png</span>`,
		`<span class="kind">voice</span> <code>voice-1</code>`,
		`<span class="kind">video</span> <code>video-1</code>`, `<div class="card-title">Clip</div>`,
		`<div class="card-title">♪ Song</div>`, `https://example.com/song.mp3`,
		`<a href="https://example.com/news" target="_blank" rel="noopener noreferrer">Big news</a>`, "read me",
		`<span class="kind">mpnews</span> <code>mpnews-1</code>`,
		`<span class="kind">article</span> <code>article-1</code>`,
		`data-act="menu" data-openid="o1" data-menuid="101" data-text="Yes">Yes</button>`, "Happy?", "Thanks",
		`<span class="kind">card</span> <code>card-1</code>`,
		`<div class="card-title">Shop</div><div class="hint">Mini Program wxmini page pages/index</div>`,
		`template t1`, `<dt>thing1</dt><dd>shipped</dd>`,
		`Payment: unlimited, closes`,
	} {
		assert.Contains(t, b, want)
	}
	assert.Equal(t, 13, strings.Count(b, `<li class="entry out sent">`)+strings.Count(b, `<li class="entry out template">`))
}

func TestInboxConversationShowsRefusalsAndThePushes(t *testing.T) {
	t.Parallel()
	u, _ := service(t, kefutest.ModeSafe, callback.Config{}, func(_ context.Context, m *callback.Message) (callback.Reply, error) {
		switch {
		case m.Content == "agent":
			return callback.TransferToCustomerService("kf01@shop"), nil
		case m.Content == "fail":
			return callback.ReplyImage("no-such-media"), nil
		case m.MsgType == callback.MsgTypeText:
			return callback.ReplyText("re: " + m.Content), nil
		}
		return nil, nil
	})
	srv := inboxServer(t, kefutest.WithApp(cbAppID, cbSecret), kefutest.WithCallback(u, cbToken, cbKey, kefutest.ModeSafe))
	c := srv.Client(kefu.WithRetry(kefu.RetryPolicy{MaxAttempts: 1}))
	ctx := context.Background()
	srv.AddUser("o1")
	_, err := c.Send(ctx, text("o1", "too early"))
	require.Error(t, err)
	_, err = srv.PushFollow("o1", "7")
	require.NoError(t, err)
	_, err = srv.Say("o1", "hi <b>")
	require.NoError(t, err)
	_, err = srv.Say("o1", "agent")
	require.NoError(t, err)
	_, err = srv.Say("o1", "fail")
	require.NoError(t, err)
	_, err = srv.PushMenuTap("o1", "101", "Yes")
	require.NoError(t, err)

	b := conversation(t, srv, "o1")
	for _, want := range []string{
		`<li class="entry out refused">`, `<span class="tag refused">refused: errcode 45015</span>`,
		"too early", `response out of time limit or subscription is canceled`,
		`<li class="entry in user">`, `<div class="event">subscribe</div>`, `<dt>EventKey</dt><dd>qrscene_7</dd>`,
		`<div class="text">hi &lt;b&gt;</div>`,
		`<span class="tag passive">passive reply</span>`, `re: hi &lt;b&gt;`,
		`transferred to customer service (kf01@shop)`,
		`<div class="bubble shown">` + kefutest.UnavailableText + `</div>`, "the service failed: ",
		`<div class="hint">tapped msgmenu item 101</div>`,
		`MenuClick: 3 left`, `UserMessage: 5 left`, `Follow: 3 left`,
	} {
		assert.Contains(t, b, want)
	}
	assert.NotContains(t, b, cbToken)
	assert.NotContains(t, b, cbKey)

	p := inboxGet(t, srv, "/?openid=o1")
	assert.Contains(t, p.body, "callback: "+u)
	assert.Contains(t, inboxGet(t, inboxServer(t), "/").body, "no callback")
}

func TestInboxEscapesWhatUsersWrote(t *testing.T) {
	t.Parallel()
	srv := inboxServer(t)
	evil := `"><img src=x onerror=alert(1)>`
	srv.Interact(evil, kefutest.UserMessage)
	c := srv.Client(kefu.WithRetry(kefu.RetryPolicy{MaxAttempts: 1}))
	for _, s := range []string{
		"<script>alert(1)</script>",
		`<a href="javascript:alert(2)">click</a>`,
		`<a href="https://ok.example" onclick="alert(3)">fine</a>`,
	} {
		_, err := c.Send(context.Background(), text(evil, s))
		require.NoError(t, err)
	}
	_, err := c.Send(context.Background(), kefu.NewMsgMenu(evil, kefu.MsgMenu{List: []kefu.MenuItem{{ID: `1" onclick="x`, Content: `<i>x</i>`}}}))
	require.NoError(t, err)
	for _, b := range []string{conversation(t, srv, evil), inboxGet(t, srv, "/kefutest/inbox/users").body} {
		assert.NotContains(t, b, "<script")
		assert.NotContains(t, b, "<img")
		assert.NotContains(t, b, "<i>")
		assert.NotContains(t, b, `href="javascript`)
		assert.Empty(t, handlers(b))
	}
	b := conversation(t, srv, evil)
	assert.Contains(t, b, "&lt;script&gt;alert(1)&lt;/script&gt;")
	assert.Contains(t, b, `&lt;a href=&#34;javascript:alert(2)&#34;&gt;click&lt;/a&gt;`, "an unsafe link stays text")
	assert.Contains(t, b, `<a href="https://ok.example" target="_blank" rel="noopener noreferrer">fine</a>`, "only the href is kept")
}

func TestInboxConversationOfAnUnknownUser(t *testing.T) {
	t.Parallel()
	srv := inboxServer(t)
	assert.Contains(t, conversation(t, srv, "nobody"), "Unknown user: a send answers 40003.")
	p := inboxGet(t, srv, "/kefutest/inbox/conversation")
	assert.Equal(t, http.StatusBadRequest, p.status)
	srv.AddUser("new")
	assert.Contains(t, conversation(t, srv, "new"), "no window: a send answers 45015")
}

var (
	tag    = regexp.MustCompile(`<[a-zA-Z][^>]*>`)
	quoted = regexp.MustCompile(`"[^"]*"`)
	onAttr = regexp.MustCompile(`\son[a-zA-Z]+\s*=`)
)

// handlers returns the event handler attributes (onclick=...) of the tags in
// page, not counting text that only looks like one.
func handlers(page string) []string {
	var out []string
	for _, t := range tag.FindAllString(page, -1) {
		if h := onAttr.FindString(quoted.ReplaceAllString(t, `""`)); h != "" {
			out = append(out, t)
		}
	}
	return out
}
