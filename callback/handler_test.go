package callback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	tToken = "tokenT0k3n"
	tAppID = "wx0123456789abcdef"
	tKey   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	tOld   = "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj"
	tNow   = 1714112445
)

func fixedNow() time.Time { return time.Unix(tNow, 0) }

// wechat builds requests as WeChat sends them.
type wechat struct {
	t     *testing.T
	token string
	c     *Crypter
	ts    string
	nonce string
}

func newWeChat(t *testing.T, key string) *wechat {
	c, err := NewCrypter(tToken, key, tAppID)
	require.NoError(t, err)
	return &wechat{t: t, token: tToken, c: c, ts: strconv.Itoa(tNow), nonce: "260774613"}
}

func (w *wechat) query(extra ...string) url.Values {
	q := url.Values{"signature": {Signature(w.token, w.ts, w.nonce)}, "timestamp": {w.ts}, "nonce": {w.nonce}, "openid": {"o1"}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return q
}

func post(q url.Values, body string) *http.Request {
	return httptest.NewRequest(http.MethodPost, "/wx?"+q.Encode(), strings.NewReader(body))
}

// plain is a plain-mode request.
func (w *wechat) plain(body string) *http.Request { return post(w.query(), body) }

// safe is a safe-mode request: only ToUserName and Encrypt.
func (w *wechat) safe(msg string) *http.Request {
	enc, sig, err := w.c.Encrypt([]byte(msg), w.ts, w.nonce)
	require.NoError(w.t, err)
	body := "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>"
	return post(w.query("encrypt_type", "aes", "msg_signature", sig), body)
}

// compatible is a compatible-mode request: plain fields (here different
// from the encrypted ones) and Encrypt.
func (w *wechat) compatible(msg, plainCopy string) *http.Request {
	enc, sig, err := w.c.Encrypt([]byte(msg), w.ts, w.nonce)
	require.NoError(w.t, err)
	body := strings.Replace(plainCopy, "</xml>", "<Encrypt><![CDATA["+enc+"]]></Encrypt></xml>", 1)
	return post(w.query("encrypt_type", "aes", "msg_signature", sig), body)
}

func textMsg(id int, content string) string {
	return fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content><MsgId>%d</MsgId></xml>`, tNow, content, id)
}

// recorder counts calls and keeps the messages a HandlerFunc saw.
type recorder struct {
	mu    sync.Mutex
	calls int
	seen  []*Message
}

func (r *recorder) fn(reply func(m *Message) (Reply, error)) HandlerFunc {
	return func(ctx context.Context, m *Message) (Reply, error) {
		r.mu.Lock()
		r.calls++
		r.seen = append(r.seen, m)
		r.mu.Unlock()
		return reply(m)
	}
}

func (r *recorder) count() int { r.mu.Lock(); defer r.mu.Unlock(); return r.calls }

func echo(m *Message) (Reply, error) { return ReplyText("echo: " + m.Content), nil }

func newTestHandler(t *testing.T, cfg Config, fn HandlerFunc) *Handler {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = tToken
	}
	if cfg.Now == nil {
		cfg.Now = fixedNow
	}
	h, err := NewHandler(cfg, fn)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, h.Close(context.Background())) })
	return h
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestURLCheck(t *testing.T) {
	t.Parallel()
	var rec recorder
	h := newTestHandler(t, Config{}, rec.fn(echo))
	q := url.Values{"signature": {"f464b24fc39322e44b38aa78f5edd27bd1441696"}, "timestamp": {"1714036504"}, "nonce": {"1514711492"}, "echostr": {"7423497029583716397"}}
	h2 := newTestHandler(t, Config{Token: "AAAAA"}, rec.fn(echo))
	w := serve(h2, httptest.NewRequest(http.MethodGet, "/?"+q.Encode(), nil))
	assert.Equal(t, 200, w.Code)
	assert.Equal(t, "7423497029583716397", w.Body.String())

	// Any other token: 403, echostr not echoed.
	w = serve(h, httptest.NewRequest(http.MethodGet, "/?"+q.Encode(), nil))
	assert.Equal(t, 403, w.Code)
	assert.NotContains(t, w.Body.String(), "7423497029583716397")
	// Other methods: 405.
	w = serve(h, httptest.NewRequest(http.MethodPut, "/", nil))
	assert.Equal(t, 405, w.Code)
	assert.Equal(t, "GET, POST", w.Header().Get("Allow"))
	assert.Zero(t, rec.count())
}

func TestPlainMode(t *testing.T) {
	t.Parallel()
	var rec recorder
	h := newTestHandler(t, Config{}, rec.fn(echo))
	wc := newWeChat(t, tKey)
	w := serve(h, wc.plain(textMsg(1, "hello")))
	require.Equal(t, 200, w.Code, w.Body.String())
	assert.Equal(t, `<xml><ToUserName><![CDATA[o1]]></ToUserName><FromUserName><![CDATA[gh_1]]></FromUserName><CreateTime>1714112445</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[echo: hello]]></Content></xml>`, w.Body.String())
	assert.Equal(t, "text/xml; charset=utf-8", w.Header().Get("Content-Type"))
	require.Equal(t, 1, rec.count())
	assert.Equal(t, textMsg(1, "hello"), string(rec.seen[0].Raw))

	// A nil reply answers success.
	h = newTestHandler(t, Config{}, rec.fn(func(*Message) (Reply, error) { return nil, nil }))
	w = serve(h, wc.plain(textMsg(2, "x")))
	assert.Equal(t, "success", w.Body.String())
}

// openReply checks an encrypted reply envelope and returns its plaintext.
func openReply(t *testing.T, c *Crypter, body, nonce string) string {
	t.Helper()
	env, err := ParseMessage([]byte(body))
	require.NoError(t, err, body)
	var enc, sig, ts, gotNonce string
	require.NoError(t, scanXML([]byte(body), func(name []byte, v xmlValue) error {
		switch string(name) {
		case "Encrypt":
			enc = v.text(body)
		case "MsgSignature":
			sig = v.text(body)
		case "TimeStamp":
			ts = v.text(body)
		case "Nonce":
			gotNonce = v.text(body)
		}
		return nil
	}))
	_ = env
	assert.Equal(t, strconv.Itoa(tNow), ts)
	assert.Equal(t, nonce, gotNonce)
	plain, err := c.Decrypt(sig, ts, gotNonce, enc)
	require.NoError(t, err)
	return string(plain)
}

func TestSafeMode(t *testing.T) {
	t.Parallel()
	var rec recorder
	h := newTestHandler(t, Config{AppID: tAppID, EncodingAESKey: tKey, RequireEncryption: true}, rec.fn(echo))
	wc := newWeChat(t, tKey)
	w := serve(h, wc.safe(textMsg(1, "secret")))
	require.Equal(t, 200, w.Code, w.Body.String())
	assert.NotContains(t, w.Body.String(), "echo")
	got := openReply(t, wc.c, w.Body.String(), wc.nonce)
	assert.Contains(t, got, "<Content><![CDATA[echo: secret]]></Content>")
	assert.Equal(t, "secret", rec.seen[0].Content)
	assert.Equal(t, textMsg(1, "secret"), string(rec.seen[0].Raw))

	// success needs no encryption.
	h = newTestHandler(t, Config{AppID: tAppID, EncodingAESKey: tKey}, rec.fn(func(*Message) (Reply, error) { return nil, nil }))
	assert.Equal(t, "success", serve(h, wc.safe(textMsg(2, "x"))).Body.String())
}

func TestCompatibleModeReadsOnlyTheEncryptedCopy(t *testing.T) {
	t.Parallel()
	var rec recorder
	h := newTestHandler(t, Config{AppID: tAppID, EncodingAESKey: tKey}, rec.fn(echo))
	wc := newWeChat(t, tKey)
	w := serve(h, wc.compatible(textMsg(1, "signed"), textMsg(1, "<Encrypt>forged</Encrypt>")))
	require.Equal(t, 200, w.Code, w.Body.String())
	require.Equal(t, 1, rec.count())
	assert.Equal(t, "signed", rec.seen[0].Content)
	// Compatible mode: the reply is encrypted too.
	assert.Contains(t, openReply(t, wc.c, w.Body.String(), wc.nonce), "echo: signed")
}

func TestVectorV1JSONEndToEnd(t *testing.T) {
	t.Parallel()
	var rec recorder
	h := newTestHandler(t, Config{Token: v1Token, AppID: v1AppID, EncodingAESKey: v1Key, Now: func() time.Time { return time.Unix(1713424427, 0) }},
		rec.fn(func(*Message) (Reply, error) { return TransferToCustomerService(""), nil }))
	q := url.Values{"signature": {v1Signature}, "timestamp": {v1Timestamp}, "nonce": {v1Nonce}, "encrypt_type": {"aes"}, "msg_signature": {v1MsgSig}}
	w := serve(h, post(q, `{"ToUserName":"gh_97417a04a28d","Encrypt":"`+v1Encrypt+`"}`))
	require.Equal(t, 200, w.Code, w.Body.String())
	require.Equal(t, 1, rec.count())
	m := rec.seen[0]
	assert.Equal(t, "debug_demo", m.Event)
	assert.Equal(t, "o9AgO5Kd5ggOC-bXrbNODIiE3bGY", m.FromUserName)
	assert.Equal(t, v1Msg, string(m.Raw))

	assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	var env struct {
		Encrypt, MsgSignature, Nonce string
		TimeStamp                    int64 // a number in JSON
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &env))
	assert.Equal(t, int64(1713424427), env.TimeStamp)
	assert.Equal(t, v1Nonce, env.Nonce)
	c, _ := NewCrypter(v1Token, v1Key, v1AppID)
	plain, err := c.Decrypt(env.MsgSignature, "1713424427", v1Nonce, env.Encrypt)
	require.NoError(t, err)
	assert.Equal(t, `{"ToUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","FromUserName":"gh_97417a04a28d","CreateTime":1713424427,"MsgType":"transfer_customer_service"}`, string(plain))
}

// TestCheckOrder: each check answers its status, in the documented order,
// and the handler never runs.
func TestCheckOrder(t *testing.T) {
	t.Parallel()
	wc := newWeChat(t, tKey)
	other := newWeChat(t, tKey)
	other.c, _ = NewCrypter(tToken, tKey, "wxffffffffffffffff")
	msg := textMsg(1, "x")
	enc, sig, _ := wc.c.Encrypt([]byte(msg), wc.ts, wc.nonce)
	safeBody := "<xml><ToUserName>gh_1</ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>"
	aes := func(s string) url.Values { return wc.query("encrypt_type", "aes", "msg_signature", s) }
	resigned := func(encrypted string) *http.Request {
		return post(aes(Signature(tToken, wc.ts, wc.nonce, encrypted)), "<xml><Encrypt>"+encrypted+"</Encrypt></xml>")
	}
	notXML, _, _ := wc.c.Encrypt([]byte("not a message"), wc.ts, wc.nonce)
	badPad := reseal(wc.c, bytes.Repeat([]byte{0}, 64))
	badQuery := wc.query()
	badQuery.Set("signature", Signature("wrong", wc.ts, wc.nonce))
	big := strings.Repeat("x", 2000)

	cases := []struct {
		name string
		cfg  Config
		req  *http.Request
		code int
	}{
		{"bad signature, before size", Config{MaxBodyBytes: 100}, post(badQuery, big), 403},
		{"no signature", Config{}, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(msg)), 403},
		{"too large", Config{MaxBodyBytes: 100}, wc.plain(big), 413},
		{"too large, chunked", Config{MaxBodyBytes: 100}, chunked(wc.plain(big)), 413},
		{"bad envelope", Config{AppID: tAppID, EncodingAESKey: tKey}, post(aes(sig), "<xml><Encrypt><![CDATA[abc</Encrypt>"), 400},
		{"bad msg_signature", Config{AppID: tAppID, EncodingAESKey: tKey}, post(aes(Signature(tToken, wc.ts, wc.nonce, "other")), safeBody), 403},
		{"signatures replayed with another body", Config{AppID: tAppID, EncodingAESKey: tKey}, post(aes(sig), "<xml><Encrypt>"+notXML+"</Encrypt></xml>"), 403},
		{"no key for an encrypted body", Config{}, post(aes(sig), safeBody), 403},
		{"undecryptable", Config{AppID: tAppID, EncodingAESKey: tKey}, resigned(badPad), 400},
		{"truncated base64", Config{AppID: tAppID, EncodingAESKey: tKey}, resigned(enc[:len(enc)-3]), 400},
		{"wrong appid", Config{AppID: tAppID, EncodingAESKey: tKey}, other.safe(msg), 403},
		{"unparsable plaintext", Config{AppID: tAppID, EncodingAESKey: tKey}, resigned(notXML), 400},
		{"unparsable plain body", Config{}, wc.plain("<xml><Content>"), 400},
		{"plain under RequireEncryption", Config{AppID: tAppID, EncodingAESKey: tKey, RequireEncryption: true}, wc.plain(msg), 403},
		{"encrypt_type=aes without Encrypt", Config{AppID: tAppID, EncodingAESKey: tKey}, post(aes(sig), msg), 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rec recorder
			var logs bytes.Buffer
			tc.cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			h := newTestHandler(t, tc.cfg, rec.fn(echo))
			w := serve(h, tc.req)
			assert.Equal(t, tc.code, w.Code, w.Body.String())
			assert.Zero(t, rec.count())
			assert.Contains(t, logs.String(), "refused")
			assert.NotContains(t, logs.String(), tToken)
			assert.NotContains(t, logs.String(), tKey[:20])
		})
	}
}

func chunked(r *http.Request) *http.Request {
	r.ContentLength = -1
	return r
}

func TestPreviousKey(t *testing.T) {
	t.Parallel()
	var rec recorder
	h := newTestHandler(t, Config{AppID: tAppID, EncodingAESKey: tKey, PreviousEncodingAESKey: tOld}, rec.fn(echo))
	old := newWeChat(t, tOld)
	w := serve(h, old.safe(textMsg(1, "from the old key")))
	require.Equal(t, 200, w.Code, w.Body.String())
	// The reply is encrypted with the key that worked.
	assert.Contains(t, openReply(t, old.c, w.Body.String(), old.nonce), "echo: from the old key")
	cur := newWeChat(t, tKey)
	w = serve(h, cur.safe(textMsg(2, "new")))
	assert.Contains(t, openReply(t, cur.c, w.Body.String(), cur.nonce), "echo: new")
}

func TestNewHandlerRefuses(t *testing.T) {
	t.Parallel()
	fn := func(context.Context, *Message) (Reply, error) { return nil, nil }
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "Token"},
		{Config{Token: "t", EncodingAESKey: tKey}, "AppID"},
		{Config{Token: "t", PreviousEncodingAESKey: tKey}, "PreviousEncodingAESKey"},
		{Config{Token: "t", RequireEncryption: true}, "RequireEncryption"},
		{Config{Token: "t", AppID: "a", EncodingAESKey: "short"}, "43 characters"},
		{Config{Token: "t", AppID: "a", EncodingAESKey: tKey, PreviousEncodingAESKey: "bad"}, "43 characters"},
		{Config{Token: "t", Budget: -1}, "negative"},
	} {
		_, err := NewHandler(tc.cfg, fn)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
	}
	_, err := NewHandler(Config{Token: "t"}, nil)
	assert.ErrorContains(t, err, "HandlerFunc")
}

// TestRetryWaitsForTheFirstRun: a retry arriving while the handler runs
// waits and gets the same reply; one arriving later gets it at once; the
// handler runs once.
func TestRetryWaitsForTheFirstRun(t *testing.T) {
	t.Parallel()
	var rec recorder
	entered, release := make(chan struct{}), make(chan struct{})
	h := newTestHandler(t, Config{AppID: tAppID, EncodingAESKey: tKey}, rec.fn(func(m *Message) (Reply, error) {
		close(entered)
		<-release
		return ReplyText("once"), nil
	}))
	wc := newWeChat(t, tKey)
	first := make(chan *httptest.ResponseRecorder)
	go func() { first <- serve(h, wc.safe(textMsg(7, "x"))) }()
	<-entered
	retry := *wc
	retry.nonce = "99999" // WeChat's retry: new nonce, same MsgId
	second := make(chan *httptest.ResponseRecorder)
	go func() { second <- serve(h, retry.safe(textMsg(7, "x"))) }()
	waitFlightWaiters(h)
	close(release)
	w1, w2 := <-first, <-second
	assert.Contains(t, openReply(t, wc.c, w1.Body.String(), wc.nonce), "once")
	assert.Contains(t, openReply(t, wc.c, w2.Body.String(), "99999"), "once")
	w3 := serve(h, wc.safe(textMsg(7, "x")))
	assert.Contains(t, openReply(t, wc.c, w3.Body.String(), wc.nonce), "once")
	assert.Equal(t, 1, rec.count())
}

// waitFlightWaiters gives the second request time to join the flight:
// it polls the handler's own state, not the clock.
func waitFlightWaiters(h *Handler) {
	for h.waiting.Load() == 0 {
		runtime.Gosched()
	}
}

// TestFailedHandlerReleasesTheKey: an error answers 500 with an empty body
// and lets a waiting retry run the handler again.
func TestFailedHandlerReleasesTheKey(t *testing.T) {
	t.Parallel()
	var rec recorder
	var n atomic.Int32
	entered, release := make(chan struct{}), make(chan struct{})
	var logs bytes.Buffer
	h := newTestHandler(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, rec.fn(func(m *Message) (Reply, error) {
		if n.Add(1) == 1 {
			close(entered)
			<-release
			return nil, errors.New("database down")
		}
		return ReplyText("second try"), nil
	}))
	wc := newWeChat(t, tKey)
	first := make(chan *httptest.ResponseRecorder)
	go func() { first <- serve(h, wc.plain(textMsg(8, "x"))) }()
	<-entered
	second := make(chan *httptest.ResponseRecorder)
	go func() { second <- serve(h, wc.plain(textMsg(8, "x"))) }()
	waitFlightWaiters(h)
	close(release)
	w1, w2 := <-first, <-second
	assert.Equal(t, 500, w1.Code)
	assert.Empty(t, w1.Body.String())
	assert.Contains(t, w2.Body.String(), "second try")
	assert.Equal(t, 2, rec.count())
	assert.Contains(t, logs.String(), "database down")
}

func TestPanicAndInvalidReplyAnswer500(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	wc := newWeChat(t, tKey)
	h := newTestHandler(t, Config{Logger: log}, func(context.Context, *Message) (Reply, error) { panic("boom") })
	assert.Equal(t, 500, serve(h, wc.plain(textMsg(1, "x"))).Code)
	assert.Contains(t, logs.String(), "panicked: boom")

	h = newTestHandler(t, Config{Logger: log}, func(context.Context, *Message) (Reply, error) { return ReplyText(""), nil })
	assert.Equal(t, 500, serve(h, wc.plain(textMsg(1, "x"))).Code)
	assert.Contains(t, logs.String(), "reply.content")
}

// TestSharedDeduper: two instances share a Deduper; the second answers
// success without running its handler.
func TestSharedDeduper(t *testing.T) {
	t.Parallel()
	d := NewMemoryDeduper(fixedNow)
	var a, b recorder
	ha := newTestHandler(t, Config{Dedup: d}, a.fn(echo))
	hb := newTestHandler(t, Config{Dedup: d}, b.fn(echo))
	wc := newWeChat(t, tKey)
	assert.Contains(t, serve(ha, wc.plain(textMsg(3, "x"))).Body.String(), "echo: x")
	assert.Equal(t, "success", serve(hb, wc.plain(textMsg(3, "x"))).Body.String())
	assert.Equal(t, 1, a.count())
	assert.Zero(t, b.count())
	// Another message goes through on either.
	assert.Contains(t, serve(hb, wc.plain(textMsg(4, "y"))).Body.String(), "echo: y")
}

type brokenDeduper struct{}

func (brokenDeduper) Claim(context.Context, string, time.Duration) (bool, error) {
	return false, errors.New("redis: connection refused")
}
func (brokenDeduper) Release(context.Context, string) error { return errors.New("down") }

func TestBrokenDeduperFailsOpen(t *testing.T) {
	t.Parallel()
	var rec recorder
	var logs bytes.Buffer
	h := newTestHandler(t, Config{Dedup: brokenDeduper{}, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, rec.fn(echo))
	w := serve(h, newWeChat(t, tKey).plain(textMsg(1, "x")))
	assert.Contains(t, w.Body.String(), "echo: x")
	assert.Contains(t, logs.String(), "connection refused")
}

func TestMemoryDeduperExpires(t *testing.T) {
	t.Parallel()
	now := fixedNow()
	d := NewMemoryDeduper(func() time.Time { return now })
	ctx := context.Background()
	ok, _ := d.Claim(ctx, "k", 30*time.Second)
	assert.True(t, ok)
	ok, _ = d.Claim(ctx, "k", 30*time.Second)
	assert.False(t, ok)
	now = now.Add(30 * time.Second)
	ok, _ = d.Claim(ctx, "k", 30*time.Second)
	assert.True(t, ok, "expired")
	require.NoError(t, d.Release(ctx, "k"))
	ok, _ = d.Claim(ctx, "k", 30*time.Second)
	assert.True(t, ok, "released")
}

func TestDedupKeyExpires(t *testing.T) {
	t.Parallel()
	now := fixedNow()
	var rec recorder
	h := newTestHandler(t, Config{Now: func() time.Time { return now }, DedupTTL: 20 * time.Second}, rec.fn(echo))
	wc := newWeChat(t, tKey)
	serve(h, wc.plain(textMsg(5, "x")))
	now = now.Add(19 * time.Second)
	serve(h, wc.plain(textMsg(5, "x")))
	assert.Equal(t, 1, rec.count())
	now = now.Add(time.Second)
	serve(h, wc.plain(textMsg(5, "x")))
	assert.Equal(t, 2, rec.count())
}

func TestMaxAgeAndNonces(t *testing.T) {
	t.Parallel()
	now := fixedNow()
	var rec recorder
	h := newTestHandler(t, Config{Now: func() time.Time { return now }, MaxAge: 5 * time.Minute}, rec.fn(echo))
	wc := newWeChat(t, tKey)
	assert.Equal(t, 200, serve(h, wc.plain(textMsg(1, "x"))).Code)
	// WeChat's retry: same query, same body.
	assert.Equal(t, 200, serve(h, wc.plain(textMsg(1, "x"))).Code)
	// The signed query replayed with another body.
	assert.Equal(t, 403, serve(h, wc.plain(textMsg(2, "forged"))).Code)
	assert.Equal(t, 1, rec.count())
	now = now.Add(6 * time.Minute)
	fresh := *wc
	fresh.nonce = "1"
	assert.Equal(t, 403, serve(h, fresh.plain(textMsg(3, "late"))).Code)
	fresh.ts = strconv.FormatInt(now.Unix(), 10)
	assert.Equal(t, 200, serve(h, fresh.plain(textMsg(3, "on time"))).Code)
}

func TestCloseRefusesNewRequests(t *testing.T) {
	t.Parallel()
	var rec recorder
	h, err := NewHandler(Config{Token: tToken, Now: fixedNow}, rec.fn(echo))
	require.NoError(t, err)
	require.NoError(t, h.Close(context.Background()))
	assert.Equal(t, 503, serve(h, newWeChat(t, tKey).plain(textMsg(1, "x"))).Code)
	assert.Zero(t, rec.count())
}
