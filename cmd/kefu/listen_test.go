package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu/callback"
)

// The account of the listen tests; no output may show its token or key.
const (
	listenToken  = "listen-test-token"
	listenAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	listenAppID  = "wx-listen"
)

// textMessage is a text message as WeChat POSTs it.
const textMessage = `<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName>` +
	`<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi <b>&]]></Content><MsgId>42</MsgId></xml>`

// textLine is textMessage as kefu listen prints it.
var textLine = `{"ToUserName":"gh_x","FromUserName":"o1","CreateTime":1700000000,"MsgType":"text","MsgID":42,` +
	`"Content":"hi <b>&","Raw":` + string(jsonValue(textMessage)) + "}\n"

// syncBuffer is a bytes.Buffer for concurrent writers; announce, when set,
// receives the URL of kefu listen's "listening on" line, once.
type syncBuffer struct {
	mu       sync.Mutex
	b        bytes.Buffer
	announce chan string
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, rest, ok := strings.Cut(string(p), "kefu listen: listening on "); ok && s.announce != nil {
		s.announce <- strings.Fields(rest)[0]
		s.announce = nil
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// listener is a kefu listen running in this process (so the race detector
// sees it).
type listener struct {
	URL            string // the callback URL
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	exited         chan int
	client         *http.Client
}

// startListen runs "kefu listen --addr 127.0.0.1:0 args..." with the
// environment vars, and waits until it listens. It is interrupted at the
// end of the test, which checks that it exited 130 and never printed the
// token or the key.
func startListen(t *testing.T, vars vars, args ...string) *listener {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	announce := make(chan string, 1)
	l := &listener{stdout: &syncBuffer{}, stderr: &syncBuffer{announce: announce}, cancel: cancel,
		exited: make(chan int, 1), client: &http.Client{Transport: &http.Transport{}, Timeout: waitLimit}}
	e := &env{stdin: strings.NewReader(""), stdout: l.stdout, stderr: l.stderr, getenv: vars.get}
	go func() { l.exited <- run(ctx, append([]string{"listen", "--addr", "127.0.0.1:0"}, args...), e) }()
	t.Cleanup(func() { l.stop(t) })
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	select {
	case l.URL = <-announce:
	case code := <-l.exited:
		l.exited <- code
		t.Fatalf("kefu listen exited %d before listening:\n%s", code, l.stderr)
	case <-timer.C:
		t.Fatalf("kefu listen did not listen within %v:\n%s", waitLimit, l.stderr)
	}
	return l
}

// stop interrupts kefu listen, as Ctrl-C does, and checks how it ended.
func (l *listener) stop(t *testing.T) {
	t.Helper()
	if l.cancel == nil {
		return
	}
	l.cancel()
	l.cancel = nil
	l.client.CloseIdleConnections()
	assert.Equal(t, exitInterrupted, <-l.exited, l.stderr.String())
	assert.Contains(t, l.stderr.String(), "kefu listen: stopped (interrupted)\n")
	for _, secret := range []string{listenToken, listenAESKey} {
		assert.NotContains(t, l.stdout.String()+l.stderr.String(), secret, "kefu listen printed a secret")
	}
}

// post POSTs body to the callback URL with the query q and returns the
// answer's status and body.
func (l *listener) post(t *testing.T, q url.Values, body string) (int, string) {
	t.Helper()
	resp, err := l.client.Post(l.URL+"?"+q.Encode(), "text/xml", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// signed is the query of a plain-mode request: WeChat's signature over the
// token, timestamp and nonce.
func signed(nonce string) url.Values {
	const timestamp = "1700000000"
	return url.Values{"signature": {callback.Signature(listenToken, timestamp, nonce)}, "timestamp": {timestamp},
		"nonce": {nonce}, "openid": {"o1"}}
}

// sealed is a safe-mode request of msg: the body holds only the encrypted
// message, and the query its msg_signature too.
func sealed(t *testing.T, msg, nonce string) (url.Values, string) {
	t.Helper()
	c, err := callback.NewCrypter(listenToken, listenAESKey, listenAppID)
	require.NoError(t, err)
	q := signed(nonce)
	enc, msgSig, err := c.Encrypt([]byte(msg), q.Get("timestamp"), nonce)
	require.NoError(t, err)
	q.Set("encrypt_type", "aes")
	q.Set("msg_signature", msgSig)
	return q, "<xml><ToUserName><![CDATA[gh_x]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>"
}

// TestListenPlain: a signed plain-mode message prints as one JSON line and
// is answered "success"; WeChat's retry of it prints nothing more; the URL
// check is answered; other paths are 404.
func TestListenPlain(t *testing.T) {
	t.Parallel()
	l := startListen(t, vars{"KEFU_TOKEN": listenToken}, "--path", "/wechat")
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/wechat$`, l.URL)
	assert.Contains(t, l.stderr.String(), "(plain mode only: set KEFU_AES_KEY for safe mode)")

	status, body := l.post(t, signed("1001"), textMessage)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "success", body)
	assert.Equal(t, textLine, l.stdout.String())
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(l.stdout.String()), &m))
	assert.Equal(t, textMessage, m["Raw"])

	status, body = l.post(t, signed("1002"), textMessage) // WeChat's retry
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "success", body)
	assert.Equal(t, textLine, l.stdout.String(), "a retry prints nothing")

	q := signed("1003")
	q.Set("echostr", "echo-1003")
	resp, err := l.client.Get(l.URL + "?" + q.Encode())
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, "echo-1003", string(b), "the URL check")

	resp, err = l.client.Post(strings.TrimSuffix(l.URL, "/wechat")+"/other?"+signed("1004").Encode(), "text/xml", strings.NewReader(textMessage))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, textLine, l.stdout.String())
}

// TestListenSafeMode: an encrypted (safe-mode) message is checked,
// decrypted and printed; with --json the output is the same.
func TestListenSafeMode(t *testing.T) {
	t.Parallel()
	l := startListen(t, vars{"KEFU_TOKEN": listenToken, "KEFU_AES_KEY": listenAESKey, "KEFU_APPID": listenAppID}, "--json")
	assert.Contains(t, l.stderr.String(), "(plain, compatible and safe modes)")
	q, body := sealed(t, textMessage, "2001")
	status, answer := l.post(t, q, body)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "success", answer)
	assert.Equal(t, textLine, l.stdout.String())

	// Encrypted for another app: refused, nothing printed.
	other, err := callback.NewCrypter(listenToken, listenAESKey, "wx-other")
	require.NoError(t, err)
	q = signed("2002")
	enc, msgSig, err := other.Encrypt([]byte(strings.Replace(textMessage, "42", "43", 1)), q.Get("timestamp"), "2002")
	require.NoError(t, err)
	q.Set("encrypt_type", "aes")
	q.Set("msg_signature", msgSig)
	status, _ = l.post(t, q, "<xml><ToUserName><![CDATA[gh_x]]></ToUserName><Encrypt><![CDATA["+enc+"]]></Encrypt></xml>")
	assert.Equal(t, http.StatusForbidden, status)
	assert.Equal(t, textLine, l.stdout.String())
}

// TestListenFlags: --token, --aes-key and --appid stand for the
// environment, and win over it.
func TestListenFlags(t *testing.T) {
	t.Parallel()
	l := startListen(t, vars{"KEFU_TOKEN": "not-this-one", "KEFU_APPID": "wx-not-this"},
		"--token", listenToken, "--aes-key", listenAESKey, "--appid", listenAppID)
	q, body := sealed(t, textMessage, "3001")
	status, answer := l.post(t, q, body)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "success", answer)
	assert.Equal(t, textLine, l.stdout.String())
}

// TestListenBadSignature: a request that is not WeChat's is refused with
// 403 and printed nowhere (stderr logs the refusal).
func TestListenBadSignature(t *testing.T) {
	t.Parallel()
	l := startListen(t, vars{"KEFU_TOKEN": listenToken})
	q := signed("4001")
	q.Set("signature", callback.Signature("another-token", q.Get("timestamp"), "4001"))
	status, _ := l.post(t, q, textMessage)
	assert.Equal(t, http.StatusForbidden, status)
	assert.Empty(t, l.stdout.String())
	assert.Contains(t, l.stderr.String(), "request refused")
	assert.Contains(t, l.stderr.String(), "status=403")
}

// forwardTarget is a local service kefu listen forwards to: it keeps what
// it received and answers status.
type forwardTarget struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
	types  []string
	status int
}

func newForwardTarget(t *testing.T, status int) *forwardTarget {
	f := &forwardTarget{status: status}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.bodies = append(f.bodies, r.Method+" "+r.URL.Path+" "+string(b))
		f.types = append(f.types, r.Header.Get("Content-Type"))
		f.mu.Unlock()
		w.WriteHeader(f.status)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *forwardTarget) got() ([]string, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies, f.types
}

// TestListenForward: --forward POSTs the printed JSON line to the URL
// before WeChat is answered.
func TestListenForward(t *testing.T) {
	t.Parallel()
	target := newForwardTarget(t, http.StatusNoContent)
	l := startListen(t, vars{"KEFU_TOKEN": listenToken}, "--forward", target.URL+"/hook")
	assert.Contains(t, l.stderr.String(), ", forwarding to "+target.URL+"/hook")
	status, body := l.post(t, signed("5001"), textMessage)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "success", body)
	bodies, types := target.got()
	assert.Equal(t, []string{"POST /hook " + textLine}, bodies)
	assert.Equal(t, []string{"application/json"}, types)
	assert.Equal(t, textLine, l.stdout.String())
}

// TestListenForwardFails: a forward that fails is logged on stderr; WeChat
// still gets "success" and the line is printed.
func TestListenForwardFails(t *testing.T) {
	t.Parallel()
	target := newForwardTarget(t, http.StatusInternalServerError)
	l := startListen(t, vars{"KEFU_TOKEN": listenToken}, "--forward", target.URL)
	status, body := l.post(t, signed("6001"), textMessage)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "success", body)
	assert.Equal(t, textLine, l.stdout.String())
	assert.Contains(t, l.stderr.String(), "kefu listen: forward to "+target.URL+": HTTP 500 Internal Server Error\n")

	closed := closedURL(t)
	l = startListen(t, vars{"KEFU_TOKEN": listenToken}, "--forward", strings.Replace(closed, "http://", "http://user:hunter2@", 1))
	status, body = l.post(t, signed("6002"), textMessage)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "success", body)
	assert.Equal(t, textLine, l.stdout.String())
	assert.Contains(t, l.stderr.String(), "kefu listen: forward to http://user:xxxxx@"+strings.TrimPrefix(closed, "http://")+": ")
	assert.Contains(t, l.stderr.String(), "connection refused")
	assert.NotContains(t, l.stderr.String(), "hunter2")
}

func TestListenUsageErrors(t *testing.T) {
	t.Parallel()
	token := []string{"KEFU_TOKEN=" + listenToken}
	testUsageErrors(t, []usageCase{
		{args: []string{"listen"}, want: "kefu listen: no token: set KEFU_TOKEN"},
		{args: []string{"listen"}, env: usageCreds(), want: "set KEFU_TOKEN"},
		{args: []string{"listen", "--aes-key", listenAESKey}, env: token, want: "an EncodingAESKey needs the app id: set KEFU_APPID or pass --appid"},
		{args: []string{"listen", "--appid", "wx1"}, env: append(token, "KEFU_AES_KEY=short"),
			want: "KEFU_AES_KEY (or --aes-key): EncodingAESKey must be 43 characters, got 5"},
		{args: []string{"listen", "--forward", "localhost:3000"}, env: token, want: `--forward must be an absolute http or https URL, got "localhost:3000"`},
		{args: []string{"listen", "--path", "wechat"}, env: token, want: `--path must start with /, got "wechat"`},
		{args: []string{"listen", "--secret", "s"}, env: token, want: "--secret goes with the commands that call WeChat, not with listen"},
		{args: []string{"listen", "extra"}, env: token, want: `unexpected argument "extra"`},
	})
}

func TestListenAddrInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	r := kefuRun(t, "", []string{"KEFU_TOKEN=" + listenToken}, []string{listenToken}, "listen", "--addr", ln.Addr().String())
	assert.Equal(t, exitNotSent, r.code, r)
	assert.Contains(t, r.stderr, "kefu listen: listen tcp "+ln.Addr().String(), r)
	assert.Contains(t, r.stderr, "pass --addr 127.0.0.1:0 for any free port", r)
}

func TestListenHelp(t *testing.T) {
	t.Parallel()
	r := kefuRun(t, "", []string{"KEFU_TOKEN=" + listenToken, "KEFU_AES_KEY=" + listenAESKey}, []string{listenToken, listenAESKey},
		"help", "listen")
	assert.Equal(t, 0, r.code, r)
	for _, want := range []string{"kefu listen: ", "KEFU_TOKEN", "KEFU_AES_KEY", "KEFU_APPID", "shows in ps", "--forward",
		`"MsgID":42`, "--addr 127.0.0.1:0"} {
		assert.Contains(t, r.stdout, want)
	}
	assert.NotContains(t, r.stdout, "--base-url", "no global flags")
}

// TestMessageJSON: every field of a message, in its order, zero ones left
// out; a float JSON cannot hold is a string.
func TestMessageJSON(t *testing.T) {
	t.Parallel()
	m := &callback.Message{MsgType: "location", LocationX: 23.134521, LocationY: 113.358803, Scale: 20, Label: "广州 <塔>",
		Raw: []byte("<xml/>")}
	assert.Equal(t, `{"MsgType":"location","LocationX":23.134521,"LocationY":113.358803,"Scale":20,"Label":"广州 <塔>","Raw":"<xml/>"}`+"\n",
		string(messageJSON(m)))
	assert.Equal(t, "{}\n", string(messageJSON(&callback.Message{})))
	assert.Equal(t, `{"Latitude":"NaN"}`+"\n", string(messageJSON(&callback.Message{Latitude: math.NaN()})))
}
