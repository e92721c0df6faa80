package kefutest

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kefu-go/kefu/callback"
)

// The fake pushes callbacks: acting as a user, it POSTs the user's messages
// and events to a service's callback URL as WeChat does (../shared/wechat-api.md
// §7), with WeChat's signatures, encryption, 5-second wait and three tries,
// and reads the service's passive reply.

// CallbackMode is the message encryption mode (消息加解密方式) of the
// account's callback, as chosen in WeChat's console.
type CallbackMode uint8

const (
	// ModePlain (明文模式): the XML as it is; the query is signed, the body
	// is not.
	ModePlain CallbackMode = iota
	// ModeCompatible (兼容模式): the plain fields and <Encrypt> beside them;
	// the reply may be plain or encrypted.
	ModeCompatible
	// ModeSafe (安全模式): only <ToUserName> and <Encrypt>; the reply must be
	// encrypted.
	ModeSafe
)

// String returns "plain", "compatible" or "safe".
func (m CallbackMode) String() string {
	switch m {
	case ModePlain:
		return "plain"
	case ModeCompatible:
		return "compatible"
	case ModeSafe:
		return "safe"
	}
	return "CallbackMode(" + strconv.Itoa(int(m)) + ")"
}

// ParseCallbackMode returns the mode String names ("plain", "compatible" or
// "safe", in any case).
func ParseCallbackMode(s string) (CallbackMode, error) {
	for _, m := range []CallbackMode{ModePlain, ModeCompatible, ModeSafe} {
		if strings.EqualFold(s, m.String()) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("kefutest: unknown callback mode %q: want plain, compatible or safe", s)
}

// DefaultCallbackTimeout is how long the fake waits for the service's answer
// to a push before it tries again: WeChat's 5 seconds.
const DefaultCallbackTimeout = 5 * time.Second

// pushTries is how many times WeChat POSTs a callback that gets no answer.
const pushTries = 3

// maxReplyBytes bounds a service's answer to a push; more is a bad answer.
const maxReplyBytes = 1 << 20

// UnavailableText is what WeChat shows the user when the service did not
// answer a push usably: "This account cannot provide service for now, try
// again later".
const UnavailableText = "该公众号暂时无法提供服务，请稍后再试"

// ErrNoCallback is the error of a push on a server started without
// WithCallback.
var ErrNoCallback = errors.New("kefutest: no callback URL: start the server WithCallback (kefu fake --callback)")

// errClosed is the error of a push on a closed server, or one Close cut
// short.
var errClosed = errors.New("kefutest: the server is closed")

// callbackConfig is what WithCallback set.
type callbackConfig struct {
	url, token, aesKey string
	mode               CallbackMode
}

// WithCallback makes the server push users' messages and events (Say, Push
// and the other Push methods) to a service's callback URL, as WeChat does
// for an account whose server configuration (服务器配置) has this URL, Token
// (3 to 32 letters and digits), EncodingAESKey (43 letters and digits) and
// mode. encodingAESKey may be "" only with ModePlain (in plain mode the key
// is not used). The account's AppID (WithApp) ends every encrypted message;
// its original id (Server.OriginalID) is each message's ToUserName.
//
// A callbackURL that is not an absolute http or https URL, a bad Token or
// key, or an encrypting mode without a key panics: it is an error in the
// test's set-up. Errors never show the Token or the key.
func WithCallback(callbackURL, token, encodingAESKey string, mode CallbackMode) ServerOption {
	if err := ValidateCallback(callbackURL, token, encodingAESKey, mode); err != nil {
		panic("kefutest: WithCallback: " + err.Error())
	}
	return func(c *config) {
		c.callback = &callbackConfig{url: callbackURL, token: token, aesKey: encodingAESKey, mode: mode}
	}
}

// ValidateCallback returns what is wrong with WithCallback's arguments, nil
// if nothing: for programs (kefu fake) that take them from their users. The
// error never shows the Token or the key.
func ValidateCallback(callbackURL, token, key string, mode CallbackMode) error {
	if !httpURL(callbackURL) {
		return errors.New("the callback URL must be an absolute http or https URL")
	}
	if !alnum(token, 3, 32) {
		return errors.New("the Token must be 3 to 32 letters and digits")
	}
	switch {
	case mode > ModeSafe:
		return fmt.Errorf("unknown %v", mode)
	case key == "" && mode != ModePlain:
		return fmt.Errorf("%v mode needs an EncodingAESKey (only plain mode does without)", mode)
	case key == "":
		return nil
	}
	// The appid is checked by NewServer; here only the key's form.
	_, err := callback.NewCrypter(token, key, "wx0")
	return err
}

// alnum reports whether s has min to max ASCII letters and digits only.
func alnum(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// WithCallbackTimeout sets how long the server waits for the service's
// answer to each POST of a push before it tries again (default
// DefaultCallbackTimeout, WeChat's 5 s; three POSTs in all). Tests set it
// small to see WeChat's retries quickly. A d <= 0 panics.
func WithCallbackTimeout(d time.Duration) ServerOption {
	if d <= 0 {
		panic("kefutest: WithCallbackTimeout needs a positive duration")
	}
	return func(c *config) { c.callbackTimeout = d }
}

// originalID is the account's original id (gh_ and 12 hex digits), stable
// for an AppID.
func originalID(appID string) string {
	sum := sha1.Sum([]byte(appID))
	return "gh_" + hex.EncodeToString(sum[:6])
}

// pusher POSTs pushes to the callback URL. Its fields are set once by
// NewServer; a push holds no lock of the Server while it waits for HTTP.
type pusher struct {
	url     string
	token   string
	mode    CallbackMode
	crypter *callback.Crypter // nil in plain mode
	timeout time.Duration
	tr      *http.Transport
	hc      *http.Client

	ctx    context.Context // ends with Close: pushes in flight stop
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	running sync.WaitGroup

	msgID atomic.Int64 // the last MsgId given
}

// newPusher returns the pusher of a server whose options are cfg, for the
// account appID, or nil without WithCallback.
func newPusher(cfg *config, appID string) *pusher {
	cb := cfg.callback
	if cb == nil {
		return nil
	}
	p := &pusher{url: cb.url, token: cb.token, mode: cb.mode, timeout: cfg.callbackTimeout}
	if p.timeout == 0 {
		p.timeout = DefaultCallbackTimeout
	}
	if cb.mode != ModePlain {
		c, err := callback.NewCrypter(cb.token, cb.aesKey, appID)
		if err != nil { // WithCallback checked the key, WithApp the appid
			panic("kefutest: WithCallback: " + err.Error())
		}
		p.crypter = c
	}
	// One connection per POST, as WeChat opens them; none left to leak.
	p.tr = &http.Transport{DisableKeepAlives: true, Proxy: nil}
	p.hc = &http.Client{
		Transport:     p.tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	// MsgIds like WeChat's: 17 digits, rising.
	p.msgID.Store(24_000_000_000_000_000 + rand.Int64N(1_000_000_000_000_000))
	return p
}

// start counts a push, unless the server is closed.
func (p *pusher) start() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.running.Add(1)
	return true
}

// close stops the pushes in flight and waits for them to return.
func (p *pusher) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.running.Wait()
	p.tr.CloseIdleConnections()
}

// PushResult is what became of a push: WeChat's tries, the service's
// passive reply, and whether the user saw UnavailableText.
type PushResult struct {
	// Message is what was pushed, as the service should read it: with the
	// ToUserName, CreateTime and MsgId the server set, and Raw the plain
	// XML (before any encryption).
	Message *callback.Message
	// Attempts are the POSTs made, in order: one, or three when the service
	// did not answer in time.
	Attempts []PushAttempt
	// Reply is the service's passive reply, parsed; nil when it answered
	// "success" or an empty body, or nothing that reads as a reply. A
	// reply naming unknown media is set, but Unavailable: the user did not
	// see it.
	Reply *PassiveReply
	// Unavailable reports whether the user saw UnavailableText: no answer
	// within the timeout after three tries, an HTTP status other than 200,
	// or an answer that is not "success", empty or a valid passive reply
	// (malformed, badly signed, unencrypted in safe mode, for another user,
	// naming unknown media...).
	Unavailable bool
	// Err says why, when Unavailable; nil otherwise.
	Err error
}

// PushAttempt is one POST of a push.
type PushAttempt struct {
	// Status is the answer's HTTP status; 0 when none came.
	Status int
	// Duration is the time from the POST to the whole answer, or until the
	// server gave up waiting (real time).
	Duration time.Duration
	// TimedOut reports that no whole answer came within the timeout.
	TimedOut bool
	// Err is what went wrong with this POST: no answer in time, a failed
	// connection, a status other than 200, a bad answer; nil when it was
	// answered usably.
	Err error
}

// Push pushes m to the service as WeChat would: the user m.FromUserName
// sent the message or did the event m.MsgType (and m.Event) names, with the
// fields m sets. The server sets ToUserName (OriginalID), CreateTime (its
// clock) and, for a message (not an event), a fresh MsgId; m.Raw is
// ignored, and m itself is not changed.
//
// Before the POST the user's action is recorded as WeChat records it,
// whatever the service answers: a message or an event that opens a window
// (callback.Message.Action) opens it as Interact does, unsubscribe unfollows
// as Unfollow does, and the push enters the user's Conversation. Then the
// server POSTs the XML to the callback URL, signed and, in compatible and
// safe modes, encrypted; with no answer within the timeout
// (WithCallbackTimeout) it POSTs the same body again, with a fresh
// timestamp, nonce and signatures, three POSTs in all. A passive reply is
// delivered to the user: Messages shows it, spending no window quota.
//
// The error is non-nil only when the push could not be made: no
// WithCallback (ErrNoCallback), a message without FromUserName or MsgType,
// an event without Event, or a server closed before or during the push. How
// the service did is in the PushResult.
func (s *Server) Push(m *callback.Message) (*PushResult, error) {
	if m == nil {
		return nil, errors.New("kefutest: Push: nil message")
	}
	c := *m
	c.Raw = nil
	return s.push(&c)
}

// push pushes m, which it owns.
func (s *Server) push(m *callback.Message) (*PushResult, error) {
	p := s.pusher
	if p == nil {
		return nil, ErrNoCallback
	}
	if err := checkPush(m); err != nil {
		return nil, err
	}
	if !p.start() {
		return nil, errClosed
	}
	defer p.running.Done()
	if m.MsgType != callback.MsgTypeEvent {
		m.MsgID = p.msgID.Add(1)
	}
	now := s.keepPush(m)
	res := &PushResult{Message: m}
	if !p.deliver(res, p.envelope(m, now), s.Now) {
		return res, errClosed
	}
	if res.Reply != nil && res.Err == nil {
		res.Err = s.checkReplyMedia(res.Reply)
		res.Unavailable = res.Err != nil
	}
	s.recordOutcome(m.FromUserName, res)
	return res, nil
}

// keepPush stamps m as sent to the account now (its MsgID set, if it has
// one), makes its XML and records it; it returns now.
func (s *Server) keepPush(m *callback.Message) time.Time {
	now := s.Now()
	m.ToUserName, m.CreateTime = s.OriginalID, now.Unix()
	m.Raw = appendPushXML(nil, m)
	s.recordPush(m, now)
	return now
}

// checkPush says what makes m impossible to push.
func checkPush(m *callback.Message) error {
	switch {
	case m.FromUserName == "":
		return errors.New("kefutest: push: FromUserName (the user's openid) is required")
	case m.MsgType == "":
		return errors.New("kefutest: push: MsgType is required")
	case m.MsgType == callback.MsgTypeEvent && m.Event == "":
		return errors.New("kefutest: push: an event needs Event")
	}
	return nil
}

// pushBody is what every POST of one push carries.
type pushBody struct {
	body   []byte
	enc    string // the body's Encrypt field; "" in plain mode
	openID string
}

// envelope returns the body WeChat POSTs for m in p's mode. The ciphertext
// is made once: retries carry the same body.
func (p *pusher) envelope(m *callback.Message, now time.Time) pushBody {
	pb := pushBody{body: m.Raw, openID: m.FromUserName}
	if p.crypter == nil {
		return pb
	}
	// The timestamp and nonce only sign here; each POST signs again.
	enc, _, err := p.crypter.Encrypt(m.Raw, strconv.FormatInt(now.Unix(), 10), "0")
	if err != nil {
		panic("kefutest: encrypting a push: " + err.Error()) // Encrypt does not fail
	}
	pb.enc = enc
	var b []byte
	if p.mode == ModeSafe {
		b = appendCDATA([]byte("<xml>"), "ToUserName", m.ToUserName)
	} else {
		b = bytes.Clone(bytes.TrimSuffix(m.Raw, []byte("</xml>")))
	}
	b = appendCDATA(b, "Encrypt", enc)
	pb.body = append(b, "</xml>"...)
	return pb
}

// deliver POSTs pb until the service answers, at most pushTries times, and
// fills res. It returns false when Close cut it short.
func (p *pusher) deliver(res *PushResult, pb pushBody, now func() time.Time) bool {
	for range pushTries {
		a, answer := p.post(pb, now())
		if p.ctx.Err() != nil {
			a.Err = errClosed
			res.Attempts = append(res.Attempts, a)
			return false
		}
		if a.Status == 0 { // no answer: WeChat tries again
			res.Attempts = append(res.Attempts, a)
			continue
		}
		if a.Err == nil {
			res.Reply, a.Err = p.readReply(answer, res.Message)
		}
		res.Attempts = append(res.Attempts, a)
		res.Unavailable, res.Err = a.Err != nil, a.Err
		return true
	}
	res.Unavailable = true
	res.Err = fmt.Errorf("no answer within %v in %d tries", p.timeout, pushTries)
	return true
}

// post makes one POST of pb, signed at now with a fresh nonce, and returns
// the attempt and the answer's body.
func (p *pusher) post(pb pushBody, now time.Time) (PushAttempt, []byte) {
	ts := strconv.FormatInt(now.Unix(), 10)
	nonce := strconv.FormatUint(uint64(rand.Uint32()), 10)
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.signedURL(ts, nonce, pb), bytes.NewReader(pb.body))
	if err != nil {
		return PushAttempt{Err: err}, nil // the URL was checked: cannot happen
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := p.hc.Do(req)
	if err != nil {
		return p.failed(ctx, start, err), nil
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes+1))
	if err != nil {
		return p.failed(ctx, start, err), nil
	}
	a := PushAttempt{Status: resp.StatusCode, Duration: time.Since(start)}
	switch {
	case resp.StatusCode != http.StatusOK:
		a.Err = fmt.Errorf("HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	case len(answer) > maxReplyBytes:
		a.Err = fmt.Errorf("an answer over %d bytes", maxReplyBytes)
	}
	return a, answer
}

// failed is an attempt that got no whole answer.
func (p *pusher) failed(ctx context.Context, start time.Time, err error) PushAttempt {
	a := PushAttempt{Duration: time.Since(start)}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		a.TimedOut = true
		a.Err = fmt.Errorf("no answer within %v", p.timeout)
		return a
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // without the URL
	}
	a.Err = fmt.Errorf("no answer: %v", err)
	return a
}

// signedURL is the callback URL with WeChat's query, in WeChat's order:
// signature, timestamp, nonce, openid, and when encrypted encrypt_type=aes
// and msg_signature.
func (p *pusher) signedURL(ts, nonce string, pb pushBody) string {
	q := "signature=" + callback.Signature(p.token, ts, nonce) + "&timestamp=" + ts + "&nonce=" + nonce +
		"&openid=" + url.QueryEscape(pb.openID)
	if pb.enc != "" {
		q += "&encrypt_type=aes&msg_signature=" + callback.Signature(p.token, ts, nonce, pb.enc)
	}
	sep := "?"
	if strings.Contains(p.url, "?") {
		sep = "&"
	}
	return p.url + sep + q
}
