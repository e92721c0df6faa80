package kefutest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/callback"
	"github.com/kefu-go/kefu/kefutest"
)

// A service under test is a callback.Handler on an httptest server; the fake
// pushes to it as WeChat would.

const (
	cbToken  = "kefuToken123"
	cbKey    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	cbAppID  = "wxb11529c136998cb6"
	cbSecret = "push-test-secret"
)

var modes = []kefutest.CallbackMode{kefutest.ModePlain, kefutest.ModeCompatible, kefutest.ModeSafe}

// keyFor is the EncodingAESKey a mode needs.
func keyFor(mode kefutest.CallbackMode) string {
	if mode == kefutest.ModePlain {
		return ""
	}
	return cbKey
}

// serve starts h as the callback service and returns its URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL + "/wx"
}

// service starts a callback.Handler calling fn, in mode, and returns its URL
// and the handler; cfg's Token, AppID and key are set here.
func service(t *testing.T, mode kefutest.CallbackMode, cfg callback.Config, fn callback.HandlerFunc) (string, *callback.Handler) {
	t.Helper()
	cfg.Token, cfg.AppID, cfg.EncodingAESKey = cbToken, cbAppID, keyFor(mode)
	cfg.RequireEncryption = mode == kefutest.ModeSafe
	h, err := callback.NewHandler(cfg, fn)
	require.NoError(t, err)
	u := serve(t, h)
	t.Cleanup(func() { require.NoError(t, h.Close(context.Background())) })
	return u, h
}

// pushServer is a fake that pushes to callbackURL in mode.
func pushServer(t *testing.T, callbackURL string, mode kefutest.CallbackMode, opts ...kefutest.ServerOption) *kefutest.Server {
	t.Helper()
	return frozen(t, append([]kefutest.ServerOption{kefutest.WithApp(cbAppID, cbSecret),
		kefutest.WithCallback(callbackURL, cbToken, keyFor(mode), mode)}, opts...)...)
}

// echo replies to a text with "re: " and the text, and records what it saw.
func echo(seen chan<- *callback.Message) callback.HandlerFunc {
	return func(_ context.Context, m *callback.Message) (callback.Reply, error) {
		seen <- m
		if m.MsgType == callback.MsgTypeText {
			return callback.ReplyText("re: " + m.Content), nil
		}
		return nil, nil
	}
}

func TestSayPassiveReply(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			seen := make(chan *callback.Message, 1)
			u, _ := service(t, mode, callback.Config{}, echo(seen))
			srv := pushServer(t, u, mode)

			res, err := srv.Say("o1", "hello <&> ]]> world")
			require.NoError(t, err)
			require.False(t, res.Unavailable, "%v", res.Err)
			require.Len(t, res.Attempts, 1)
			assert.Equal(t, http.StatusOK, res.Attempts[0].Status)
			assert.NoError(t, res.Attempts[0].Err)

			m := <-seen
			assert.Equal(t, "o1", m.FromUserName)
			assert.Equal(t, srv.OriginalID, m.ToUserName)
			assert.Equal(t, "hello <&> ]]> world", m.Content)
			assert.Equal(t, start.Unix(), m.CreateTime)
			assert.NotZero(t, m.MsgID)
			assert.Equal(t, res.Message.MsgID, m.MsgID)

			want := kefu.NewText("o1", "re: hello <&> ]]> world")
			require.NotNil(t, res.Reply)
			assert.Equal(t, want, res.Reply.Message)
			assert.Equal(t, "text", res.Reply.MsgType)
			assert.Equal(t, mode != kefutest.ModePlain, res.Reply.Encrypted)
			assert.Equal(t, []kefu.Message{*want}, srv.Messages("o1"))

			conv := srv.Conversation("o1")
			require.Len(t, conv, 2)
			assert.Equal(t, kefutest.EntryUser, conv[0].Kind)
			assert.Equal(t, "hello <&> ]]> world", conv[0].Push.Content)
			assert.Equal(t, kefutest.EntryPassive, conv[1].Kind)
			assert.Equal(t, want, conv[1].Message)

			// The passive reply spent no quota: 5 sends are left.
			assert.Equal(t, 5, srv.Window("o1", kefutest.UserMessage).Left)
			c := srv.Client()
			_, err = c.Send(context.Background(), kefu.NewText("o1", "sent"))
			require.NoError(t, err)
			assert.Equal(t, 4, srv.Window("o1", kefutest.UserMessage).Left)
			conv = srv.Conversation("o1")
			assert.Equal(t, kefutest.EntrySent, conv[2].Kind)
			assert.Len(t, srv.Messages("o1"), 2)

			// A second message gets a fresh MsgId.
			res2, err := srv.Say("o1", "again")
			require.NoError(t, err)
			assert.Greater(t, res2.Message.MsgID, res.Message.MsgID)
			<-seen
		})
	}
}

// TestPushWindows: each push opens the window WeChat opens for it (§3).
func TestPushWindows(t *testing.T) {
	t.Parallel()
	seen := make(chan *callback.Message, 1)
	u, _ := service(t, kefutest.ModePlain, callback.Config{}, func(_ context.Context, m *callback.Message) (callback.Reply, error) {
		seen <- m
		return nil, nil
	})
	srv := pushServer(t, u, kefutest.ModePlain)
	type pushFn func(openID string) (*kefutest.PushResult, error)
	none := kefutest.Action(-1)
	for _, tc := range []struct {
		name   string
		push   pushFn
		action kefutest.Action
		check  func(t *testing.T, m *callback.Message)
	}{
		{"text", func(o string) (*kefutest.PushResult, error) { return srv.Say(o, "hi") }, kefutest.UserMessage, nil},
		{"image", func(o string) (*kefutest.PushResult, error) { return srv.PushImage(o, "http://p/1.jpg", "img1") }, kefutest.UserMessage,
			func(t *testing.T, m *callback.Message) {
				assert.Equal(t, "img1", m.MediaID)
				assert.Equal(t, "http://p/1.jpg", m.PicURL)
			}},
		{"voice", func(o string) (*kefutest.PushResult, error) { return srv.PushVoice(o, "v1", "amr", "你好") }, kefutest.UserMessage,
			func(t *testing.T, m *callback.Message) {
				assert.Equal(t, "amr", m.Format)
				assert.Equal(t, "你好", m.Recognition)
			}},
		{"location", func(o string) (*kefutest.PushResult, error) {
			return srv.PushLocation(o, 23.134521, 113.358803, 20, "广州")
		},
			kefutest.UserMessage, func(t *testing.T, m *callback.Message) {
				assert.Equal(t, 23.134521, m.LocationX)
				assert.Equal(t, 113.358803, m.LocationY)
				assert.Equal(t, 20, m.Scale)
			}},
		{"link", func(o string) (*kefutest.PushResult, error) { return srv.PushLink(o, "T", "D", "http://x/") }, kefutest.UserMessage,
			func(t *testing.T, m *callback.Message) { assert.Equal(t, "http://x/", m.URL) }},
		{"menu tap", func(o string) (*kefutest.PushResult, error) { return srv.PushMenuTap(o, "101", "yes") }, kefutest.MenuClick,
			func(t *testing.T, m *callback.Message) { assert.Equal(t, "101", m.BizMsgMenuID) }},
		{"follow", func(o string) (*kefutest.PushResult, error) { return srv.PushFollow(o, "") }, kefutest.Follow, nil},
		{"follow by QR", func(o string) (*kefutest.PushResult, error) { return srv.PushFollow(o, "42") }, kefutest.Follow,
			func(t *testing.T, m *callback.Message) {
				assert.Equal(t, "qrscene_42", m.EventKey)
				assert.NotEmpty(t, m.Ticket)
			}},
		{"scan", func(o string) (*kefutest.PushResult, error) { return srv.PushScan(o, "42") }, kefutest.Scan,
			func(t *testing.T, m *callback.Message) { assert.Equal(t, "42", m.EventKey) }},
		{"click", func(o string) (*kefutest.PushResult, error) { return srv.PushClick(o, "V1001") }, kefutest.MenuClick,
			func(t *testing.T, m *callback.Message) { assert.Equal(t, "V1001", m.EventKey); assert.Zero(t, m.MsgID) }},
		{"kf create", func(o string) (*kefutest.PushResult, error) { return srv.PushKfCreateSession(o, "kf01@shop") }, none,
			func(t *testing.T, m *callback.Message) { assert.Equal(t, "kf01@shop", m.KfAccount) }},
		{"kf close", func(o string) (*kefutest.PushResult, error) { return srv.PushKfCloseSession(o, "kf01@shop") }, none, nil},
		{"kf switch", func(o string) (*kefutest.PushResult, error) {
			return srv.PushKfSwitchSession(o, "kf01@shop", "kf02@shop")
		}, none,
			func(t *testing.T, m *callback.Message) { assert.Equal(t, "kf02@shop", m.ToKfAccount) }},
		{"view (generic)", func(o string) (*kefutest.PushResult, error) {
			return srv.Push(&callback.Message{FromUserName: o, MsgType: "event", Event: callback.EventView, EventKey: "http://v/"})
		}, none, nil},
		{"scancode_push (generic)", func(o string) (*kefutest.PushResult, error) {
			return srv.Push(&callback.Message{FromUserName: o, MsgType: "event", Event: callback.EventScancodePush, ScanType: "qrcode", ScanResult: "r"})
		}, kefutest.MenuClick, func(t *testing.T, m *callback.Message) { assert.Equal(t, "r", m.ScanResult) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			openID := "o-" + tc.name
			res, err := tc.push(openID)
			require.NoError(t, err)
			assert.False(t, res.Unavailable, "%v", res.Err)
			m := <-seen
			if tc.check != nil {
				tc.check(t, m)
			}
			for _, a := range kefu.Actions() {
				w := srv.Window(openID, a)
				if a != tc.action {
					assert.False(t, w.Open, "%v", a)
					continue
				}
				rule, _ := a.Rule()
				assert.True(t, w.Open, "%v", a)
				assert.Equal(t, rule.Messages, w.Left, "%v", a)
			}
		})
	}
}

func TestPushUnfollow(t *testing.T) {
	t.Parallel()
	u, _ := service(t, kefutest.ModeSafe, callback.Config{}, func(context.Context, *callback.Message) (callback.Reply, error) {
		return callback.ReplyText("welcome"), nil
	})
	srv := pushServer(t, u, kefutest.ModeSafe)
	res, err := srv.PushFollow("o1", "")
	require.NoError(t, err)
	require.NotNil(t, res.Reply)
	assert.True(t, srv.Window("o1", kefutest.Follow).Open)

	res, err = srv.PushUnfollow("o1")
	require.NoError(t, err)
	assert.False(t, res.Unavailable, "%v", res.Err)
	assert.False(t, srv.Window("o1", kefutest.Follow).Open)
	_, err = srv.Client().Send(context.Background(), kefu.NewText("o1", "bye?"))
	assert.Equal(t, 45015, codeOf(t, err))
}

// TestPushSlowService: a handler slower than the fake's timeout makes the
// fake POST three times, and the user sees UnavailableText; callback's
// dedup runs the handler once.
func TestPushSlowService(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	entered := make(chan struct{}, 3)
	var runs atomic.Int32
	u, h := service(t, kefutest.ModeCompatible, callback.Config{Budget: time.Hour},
		func(context.Context, *callback.Message) (callback.Reply, error) {
			runs.Add(1)
			entered <- struct{}{}
			<-release
			return callback.ReplyText("too late"), nil
		})
	srv := pushServer(t, u, kefutest.ModeCompatible, kefutest.WithCallbackTimeout(50*time.Millisecond))

	res, err := srv.Say("o1", "anyone?")
	require.NoError(t, err)
	close(release)
	require.NoError(t, h.Close(context.Background()))

	assert.Equal(t, int32(1), runs.Load(), "WeChat's retries ran the handler once")
	require.Len(t, res.Attempts, 3)
	for _, a := range res.Attempts {
		assert.True(t, a.TimedOut)
		assert.Zero(t, a.Status)
		assert.ErrorContains(t, a.Err, "no answer within 50ms")
	}
	assert.True(t, res.Unavailable)
	assert.ErrorContains(t, res.Err, "no answer within 50ms in 3 tries")
	assert.Nil(t, res.Reply)
	assert.Empty(t, srv.Messages("o1"))
	conv := srv.Conversation("o1")
	require.Len(t, conv, 2)
	assert.Equal(t, kefutest.EntryUnavailable, conv[1].Kind)
	assert.Contains(t, conv[1].Problem, "no answer")
	assert.True(t, srv.Window("o1", kefutest.UserMessage).Open, "the window opened regardless")
}

// TestPushServiceError: a 500 is not retried; the user sees the error.
func TestPushServiceError(t *testing.T) {
	t.Parallel()
	u, _ := service(t, kefutest.ModePlain, callback.Config{}, func(context.Context, *callback.Message) (callback.Reply, error) {
		return nil, errors.New("database down")
	})
	srv := pushServer(t, u, kefutest.ModePlain)
	res, err := srv.Say("o1", "hi")
	require.NoError(t, err)
	require.Len(t, res.Attempts, 1)
	assert.Equal(t, http.StatusInternalServerError, res.Attempts[0].Status)
	assert.True(t, res.Unavailable)
	assert.EqualError(t, res.Err, "HTTP 500 Internal Server Error")
}

// TestPushReplies: every passive reply shape, as the user sees it.
func TestPushReplies(t *testing.T) {
	t.Parallel()
	replies := map[string]callback.Reply{
		"text":     callback.ReplyText("hi"),
		"image":    callback.ReplyImage("img1"),
		"voice":    callback.ReplyVoice("voice1"),
		"video":    callback.ReplyVideo(kefu.Video{MediaID: "vid1", Title: "T", Description: "D"}),
		"music":    callback.ReplyMusic(kefu.Music{Title: "M", MusicURL: "http://m/1.mp3", ThumbMediaID: "th1"}),
		"news":     callback.ReplyNews(kefu.Article{Title: "A", Description: "d", URL: "http://a/", PicURL: "http://a/p.jpg"}),
		"transfer": callback.TransferToCustomerService("kf01@shop"),
		"unknown":  callback.ReplyImage("nope"),
	}
	u, _ := service(t, kefutest.ModeSafe, callback.Config{}, func(_ context.Context, m *callback.Message) (callback.Reply, error) {
		return replies[m.Content], nil
	})
	srv := pushServer(t, u, kefutest.ModeSafe)
	srv.AddMedia(kefutest.MediaImage, "img1")
	srv.AddMedia(kefutest.MediaVoice, "voice1")
	srv.AddMedia(kefutest.MediaVideo, "vid1")
	srv.AddMedia(kefutest.MediaThumb, "th1")
	for name, want := range map[string]*kefu.Message{
		"text":  kefu.NewText("o1", "hi"),
		"image": kefu.NewImage("o1", "img1"),
		"voice": kefu.NewVoice("o1", "voice1"),
		"video": kefu.NewVideo("o1", kefu.Video{MediaID: "vid1", Title: "T", Description: "D"}),
		"music": kefu.NewMusic("o1", kefu.Music{Title: "M", MusicURL: "http://m/1.mp3", ThumbMediaID: "th1"}),
		"news":  kefu.NewNews("o1", kefu.Article{Title: "A", Description: "d", URL: "http://a/", PicURL: "http://a/p.jpg"}),
	} {
		res, err := srv.Say("o1", name)
		require.NoError(t, err)
		require.False(t, res.Unavailable, "%s: %v", name, res.Err)
		assert.Equal(t, want, res.Reply.Message, name)
		assert.True(t, res.Reply.Encrypted, name)
	}
	assert.Len(t, srv.Messages("o1"), 6)

	res, err := srv.Say("o2", "transfer")
	require.NoError(t, err)
	require.False(t, res.Unavailable, "%v", res.Err)
	assert.Equal(t, callback.MsgTypeTransfer, res.Reply.MsgType)
	assert.Equal(t, "kf01@shop", res.Reply.KfAccount)
	assert.Nil(t, res.Reply.Message)
	assert.Empty(t, srv.Messages("o2"), "a transfer shows the user nothing")
	conv := srv.Conversation("o2")
	require.Len(t, conv, 2)
	assert.Equal(t, kefutest.EntryTransfer, conv[1].Kind)
	assert.Equal(t, "kf01@shop", conv[1].KfAccount)

	res, err = srv.Say("o3", "unknown")
	require.NoError(t, err)
	assert.True(t, res.Unavailable)
	assert.ErrorContains(t, res.Err, `media id "nope" is unknown`)
}

// TestPushBadReplies: what WeChat would not show, the user sees as
// UnavailableText; none is retried.
// TestPushReplyWithItsOwnNonce: an encrypted reply signed over a nonce of
// the service's own (as the npm wechat middleware answers) is accepted, as
// WeChat accepts it: the signature covers the reply's own TimeStamp and
// Nonce.
func TestPushReplyWithItsOwnNonce(t *testing.T) {
	t.Parallel()
	crypter, err := callback.NewCrypter(cbToken, cbKey, cbAppID)
	require.NoError(t, err)
	var srv atomic.Pointer[kefutest.Server]
	u := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plain := "<xml><ToUserName><![CDATA[o1]]></ToUserName><FromUserName><![CDATA[" + srv.Load().OriginalID +
			"]]></FromUserName><CreateTime>1714000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[mine]]></Content></xml>"
		enc, sig, err := crypter.Encrypt([]byte(plain), "1714000001", "424242")
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Write([]byte("<xml><Encrypt><![CDATA[" + enc + "]]></Encrypt><MsgSignature><![CDATA[" + sig +
			"]]></MsgSignature><TimeStamp>1714000001</TimeStamp><Nonce><![CDATA[424242]]></Nonce></xml>"))
	}))
	srv.Store(pushServer(t, u, kefutest.ModeSafe))
	res, err := srv.Load().Say("o1", "hi")
	require.NoError(t, err)
	require.False(t, res.Unavailable, "%v", res.Err)
	assert.Equal(t, "mine", res.Reply.Message.Text.Content)
}

func TestPushBadReplies(t *testing.T) {
	t.Parallel()
	crypter, err := callback.NewCrypter(cbToken, cbKey, cbAppID)
	require.NoError(t, err)
	other, err := callback.NewCrypter(cbToken, cbKey, "wxother")
	require.NoError(t, err)
	var srv atomic.Pointer[kefutest.Server]
	plainReply := func() string {
		return "<xml><ToUserName><![CDATA[o1]]></ToUserName><FromUserName><![CDATA[" + srv.Load().OriginalID +
			"]]></FromUserName><CreateTime>1714000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content></xml>"
	}
	sealed := func(c *callback.Crypter, r *http.Request, sig, nonce string) string {
		ts := "1714000000"
		if nonce == "" {
			nonce = r.URL.Query().Get("nonce")
		}
		enc, msgSig, err := c.Encrypt([]byte(plainReply()), ts, nonce)
		require.NoError(t, err)
		if sig != "" {
			msgSig = sig
		}
		return "<xml><Encrypt><![CDATA[" + enc + "]]></Encrypt><MsgSignature><![CDATA[" + msgSig +
			"]]></MsgSignature><TimeStamp>" + ts + "</TimeStamp><Nonce><![CDATA[" + nonce + "]]></Nonce></xml>"
	}
	cases := map[string]struct {
		answer func(r *http.Request) string
		want   string
	}{
		"plain in safe mode": {func(*http.Request) string { return plainReply() }, "a plain reply in safe mode"},
		"bad signature":      {func(r *http.Request) string { return sealed(crypter, r, "0123", "") }, "bad signature"},
		"other appid":        {func(r *http.Request) string { return sealed(other, r, "", "") }, "wrong appid"},
		"not XML":            {func(*http.Request) string { return "ok" }, `neither "success" nor`},
	}
	var which atomic.Value
	u := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(cases[which.Load().(string)].answer(r)))
	}))
	srv.Store(pushServer(t, u, kefutest.ModeSafe))
	for name, tc := range cases {
		which.Store(name)
		res, err := srv.Load().Say("o1", "hi")
		require.NoError(t, err)
		assert.Len(t, res.Attempts, 1, name)
		assert.True(t, res.Unavailable, name)
		assert.ErrorContains(t, res.Err, tc.want, name)
		assert.Nil(t, res.Reply, name)
	}
	assert.Empty(t, srv.Load().Messages("o1"))

	// The same plain reply is fine in compatible mode.
	compat := pushServer(t, u, kefutest.ModeCompatible)
	srv.Store(compat)
	which.Store("plain in safe mode")
	res, err := compat.Say("o1", "hi")
	require.NoError(t, err)
	require.False(t, res.Unavailable, "%v", res.Err)
	assert.False(t, res.Reply.Encrypted)
	assert.Equal(t, kefu.NewText("o1", "hi"), res.Reply.Message)
}

func TestPushErrors(t *testing.T) {
	t.Parallel()
	plain := newServer(t)
	_, err := plain.Say("o1", "hi")
	assert.ErrorIs(t, err, kefutest.ErrNoCallback)

	u := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("success")) }))
	srv := pushServer(t, u, kefutest.ModePlain)
	_, err = srv.Say("o1", "")
	assert.ErrorContains(t, err, "empty text")
	_, err = srv.Push(&callback.Message{MsgType: "text", Content: "x"})
	assert.ErrorContains(t, err, "FromUserName")
	_, err = srv.Push(&callback.Message{FromUserName: "o1", MsgType: "event"})
	assert.ErrorContains(t, err, "Event")
	assert.Empty(t, srv.Conversation("o1"), "a push that could not be made records nothing")

	m := &callback.Message{FromUserName: "o1", MsgType: "text", Content: "x", Raw: []byte("mine")}
	res, err := srv.Push(m)
	require.NoError(t, err)
	assert.Nil(t, res.Reply, "success is no reply")
	assert.False(t, res.Unavailable)
	assert.Equal(t, &callback.Message{FromUserName: "o1", MsgType: "text", Content: "x", Raw: []byte("mine")}, m, "the caller's message is not changed")

	srv.Close()
	_, err = srv.Say("o1", "hi")
	assert.ErrorContains(t, err, "closed")
}

// TestCloseStopsPushes: Close cuts a push in flight short.
func TestCloseStopsPushes(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	u := serve(t, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // then net/http notices a hang-up
		close(entered)
		<-r.Context().Done() // until the fake hangs up
	}))
	srv := pushServer(t, u, kefutest.ModePlain, kefutest.WithCallbackTimeout(time.Hour))
	done := make(chan error)
	go func() {
		_, err := srv.Say("o1", "hi")
		done <- err
	}()
	<-entered
	srv.Close()
	assert.ErrorContains(t, <-done, "closed")
}

func TestWithCallbackPanics(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]func(){
		"relative URL":     func() { kefutest.WithCallback("/wx", cbToken, "", kefutest.ModePlain) },
		"short token":      func() { kefutest.WithCallback("http://x/", "ab", "", kefutest.ModePlain) },
		"token with space": func() { kefutest.WithCallback("http://x/", "a b c", "", kefutest.ModePlain) },
		"safe without key": func() { kefutest.WithCallback("http://x/", cbToken, "", kefutest.ModeSafe) },
		"compat no key":    func() { kefutest.WithCallback("http://x/", cbToken, "", kefutest.ModeCompatible) },
		"bad key":          func() { kefutest.WithCallback("http://x/", cbToken, "short", kefutest.ModeSafe) },
		"unknown mode":     func() { kefutest.WithCallback("http://x/", cbToken, cbKey, kefutest.CallbackMode(9)) },
		"zero timeout":     func() { kefutest.WithCallbackTimeout(0) },
	} {
		assert.Panics(t, f, name)
	}
	assert.PanicsWithValue(t, "kefutest: WithCallback: safe mode needs an EncodingAESKey (only plain mode does without)",
		func() { kefutest.WithCallback("http://x/", cbToken, "", kefutest.ModeSafe) })
	assert.NotPanics(t, func() { kefutest.WithCallback("http://x/", cbToken, cbKey, kefutest.ModePlain) })
}

func TestParseCallbackMode(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		got, err := kefutest.ParseCallbackMode(m.String())
		require.NoError(t, err)
		assert.Equal(t, m, got)
	}
	got, err := kefutest.ParseCallbackMode("SAFE")
	require.NoError(t, err)
	assert.Equal(t, kefutest.ModeSafe, got)
	_, err = kefutest.ParseCallbackMode("aes")
	assert.EqualError(t, err, `kefutest: unknown callback mode "aes": want plain, compatible or safe`)
}
