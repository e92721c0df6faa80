package compare

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/kefu-go/kefu/callback"
	"github.com/silenceper/wechat/v2"
	"github.com/silenceper/wechat/v2/cache"
	offConfig "github.com/silenceper/wechat/v2/officialaccount/config"
	"github.com/silenceper/wechat/v2/officialaccount/message"
	"github.com/silenceper/wechat/v2/officialaccount/server"
	"github.com/sirupsen/logrus"
)

// An Official Account in safe mode, as both SDKs are configured.
const (
	token  = "kefuBenchToken"
	aesKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	appID  = "wxb11529c136998cb6"
	nonce  = "1320562132"
	stamp  = "1714112445"
)

// wire is one request as WeChat sends it: a query and a safe-mode body.
type wire struct {
	query url.Values
	body  []byte
}

// safeTexts returns n safe-mode text messages, each with its own MsgId.
func safeTexts(tb testing.TB, n int) []wire {
	c, err := callback.NewCrypter(token, aesKey, appID)
	if err != nil {
		tb.Fatal(err)
	}
	out := make([]wire, n)
	for i := range out {
		msg := fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><FromUserName><![CDATA[oia2TjjewbmiOUlr6X-1crbLOvLw]]></FromUserName><CreateTime>%s</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好，请问订单 %d 什么时候发货？]]></Content><MsgId>%d</MsgId></xml>`, stamp, i, 24000000000000000+i)
		enc, sig, err := c.Encrypt([]byte(msg), stamp, nonce)
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = wire{
			query: url.Values{"signature": {callback.Signature(token, stamp, nonce)}, "timestamp": {stamp}, "nonce": {nonce},
				"openid": {"oia2TjjewbmiOUlr6X-1crbLOvLw"}, "encrypt_type": {"aes"}, "msg_signature": {sig}},
			body: []byte("<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>"),
		}
	}
	return out
}

// requests builds the http.Requests ahead of the measured part.
func requests(ws []wire) []*http.Request {
	out := make([]*http.Request, len(ws))
	for i, w := range ws {
		u := &url.URL{Path: "/wx", RawQuery: w.query.Encode()}
		out[i] = &http.Request{Method: http.MethodPost, URL: u, Header: http.Header{"Content-Type": {"text/xml"}},
			Body: io.NopCloser(bytes.NewReader(w.body)), ContentLength: int64(len(w.body))}
	}
	return out
}

// sink is a ResponseWriter that keeps the last answer, reused for every
// request so that neither side pays for the recorder.
type sink struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (s *sink) Header() http.Header { return s.h }
func (s *sink) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = 200
	}
	return s.body.Write(b)
}
func (s *sink) WriteHeader(code int) { s.code = code }
func (s *sink) reset() {
	clear(s.h)
	s.code = 0
	s.body.Reset()
}

func newSink() *sink { return &sink{h: make(http.Header)} }

// kefuHandler answers every text with a text reply.
func kefuHandler(tb testing.TB) http.Handler {
	h, err := callback.NewHandler(callback.Config{Token: token, AppID: appID, EncodingAESKey: aesKey},
		func(_ context.Context, m *callback.Message) (callback.Reply, error) {
			return callback.ReplyText("收到：" + m.Content), nil
		})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close(context.Background()) })
	return h
}

// silenceperServe is silenceper/wechat v2's official-account server as its
// README uses it: a Server per request, a message handler, Serve, Send.
func silenceperServe() func(w http.ResponseWriter, r *http.Request) error {
	oa := wechat.NewWechat().GetOfficialAccount(&offConfig.Config{AppID: appID, AppSecret: "unused", Token: token,
		EncodingAESKey: aesKey, Cache: cache.NewMemory()})
	handler := func(m *message.MixMessage) *message.Reply {
		return &message.Reply{MsgType: message.MsgTypeText, MsgData: message.NewText("收到：" + m.Content)}
	}
	// Its init logs at debug level to stdout: measure it as a production
	// service would run it, quiet, so that its cost is its own work.
	logrus.SetLevel(logrus.WarnLevel)
	logrus.SetOutput(io.Discard)
	return func(w http.ResponseWriter, r *http.Request) error {
		srv := oa.GetServer(r, w)
		srv.SetMessageHandler(handler)
		if err := srv.Serve(); err != nil {
			return err
		}
		return srv.Send()
	}
}

var _ *server.Server // the package the benchmark measures

// TestBothAnswerAlike: on the same request both SDKs answer 200 with an
// encrypted reply that kefu's Crypter opens to the same text: the
// benchmark compares equal work.
func TestBothAnswerAlike(t *testing.T) {
	ws := safeTexts(t, 1)
	c, _ := callback.NewCrypter(token, aesKey, appID)
	open := func(body []byte) string {
		var env struct {
			Encrypt, MsgSignature, TimeStamp, Nonce string
		}
		if err := xml.Unmarshal(body, &env); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		plain, err := c.Decrypt(env.MsgSignature, env.TimeStamp, env.Nonce, env.Encrypt)
		if err != nil {
			t.Fatal(err)
		}
		var m struct{ Content string }
		if err := xml.Unmarshal(plain, &m); err != nil {
			t.Fatal(err)
		}
		return m.Content
	}
	ours, theirs := newSink(), newSink()
	kefuHandler(t).ServeHTTP(ours, requests(ws)[0])
	if err := silenceperServe()(theirs, requests(ws)[0]); err != nil {
		t.Fatal(err)
	}
	if ours.code != 200 || theirs.code != 200 {
		t.Fatalf("status: kefu %d, silenceper %d", ours.code, theirs.code)
	}
	a, b := open(ours.body.Bytes()), open(theirs.body.Bytes())
	if a != b || a != "收到：你好，请问订单 0 什么时候发货？" {
		t.Fatalf("replies differ: kefu %q, silenceper %q", a, b)
	}
}

// usage is the process's CPU time and heap allocations so far.
type usage struct {
	cpu    time.Duration
	allocs uint64
}

func measure() usage {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return usage{cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), allocs: ms.Mallocs}
}

func (u usage) since(before usage) usage {
	return usage{cpu: u.cpu - before.cpu, allocs: u.allocs - before.allocs}
}

// BenchmarkCallbackSafeText serves b.N safe-mode text messages (verify,
// decrypt, parse, encrypted text reply) with kefu's callback.Handler and
// the same b.N with silenceper/wechat v2, in one run, and reports each
// side's CPU ns and allocations per request and the ratios (kefu over
// silenceper; the target is at most 0.5 for both):
//
//	cd compare && go test -run '^$' -bench CallbackSafeText -benchtime 20000x -count 6
func BenchmarkCallbackSafeText(b *testing.B) {
	ws := safeTexts(b, b.N)
	ours, theirs := requests(ws), requests(ws)
	kefu, silenceper := kefuHandler(b), silenceperServe()
	w := newSink()
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()

	start := measure()
	for _, r := range ours {
		w.reset()
		kefu.ServeHTTP(w, r)
		if w.code != 200 {
			b.Fatalf("kefu: %d %s", w.code, w.body.String())
		}
	}
	k := measure().since(start)
	b.StopTimer()
	runtime.GC()
	b.StartTimer()
	start = measure()
	for _, r := range theirs {
		w.reset()
		if err := silenceper(w, r); err != nil {
			b.Fatal(err)
		}
	}
	s := measure().since(start)

	n := float64(b.N)
	b.ReportMetric(float64(k.cpu.Nanoseconds())/n, "kefu-cpu-ns/op")
	b.ReportMetric(float64(s.cpu.Nanoseconds())/n, "silenceper-cpu-ns/op")
	b.ReportMetric(float64(k.cpu)/float64(s.cpu), "cpu-ratio")
	b.ReportMetric(float64(k.allocs)/n, "kefu-allocs/op")
	b.ReportMetric(float64(s.allocs)/n, "silenceper-allocs/op")
	b.ReportMetric(float64(k.allocs)/float64(s.allocs), "alloc-ratio")
}
