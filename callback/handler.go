package callback

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kefu-go/kefu"
)

// Defaults of Config's optional fields.
const (
	DefaultMaxBodyBytes = 1 << 20                 // 1 MiB
	DefaultBudget       = 4500 * time.Millisecond // WeChat gives up after 5 s
	DefaultDedupTTL     = 30 * time.Second        // WeChat retries within 15 s
	lateSendTimeout     = 30 * time.Second
)

// Config is what a Handler needs to receive an account's callbacks.
type Config struct {
	// Token is the Token set in WeChat's console (3-32 characters): every
	// request's signature is checked with it. Required.
	Token string
	// AppID is the account's appid, required with an EncodingAESKey: a
	// decrypted message must end with it (else ErrWrongAppID).
	AppID string
	// EncodingAESKey (43 characters) enables compatible and safe modes;
	// empty means plain mode only. PreviousEncodingAESKey is tried when it
	// fails, while WeChat switches to a new key; the reply is encrypted with
	// whichever worked.
	EncodingAESKey         string
	PreviousEncodingAESKey string
	// RequireEncryption refuses plain (unencrypted) requests with 403.
	RequireEncryption bool

	// Dedup shares claimed message keys between instances, so WeChat's
	// retries run the handler once across them (redisstore.NewDeduper).
	// Nil: retries are caught in this process only.
	Dedup Deduper
	// DedupTTL is how long a message's key is kept (default 30 s).
	DedupTTL time.Duration

	// MaxBodyBytes bounds a request body (default 1 MiB): larger is 413.
	MaxBodyBytes int64
	// Budget is how long the handler may take: its context ends Budget
	// after the request arrived, and if it has not returned by then the
	// answer is "success" (default 4.5 s; WeChat waits 5 s, then retries,
	// and after the third try shows the user an error).
	Budget time.Duration
	// LateReplies, when set, sends a reply that came after Budget as a
	// customer-service message instead (text, image, voice, video, music
	// and news), so a slow answer still reaches the user. Nil drops it
	// (logged).
	LateReplies *kefu.Client

	// Windows, when set, is told of every message and event that opens a
	// reply window (Observe, at the message's CreateTime) and of every
	// unsubscribe (Unfollow), once per message however often WeChat retries
	// it, before the HandlerFunc runs: a Client given the same tracker
	// (kefu.WithWindows) then knows whom it can reach. A tracker error is
	// logged and the message handled all the same.
	Windows *kefu.WindowTracker

	// MaxAge, when above zero, refuses (403) requests whose timestamp is
	// further than MaxAge from now, and remembers each signed timestamp and
	// nonce for MaxAge with the body's digest, refusing the pair with
	// another body: in plain mode the signature does not cover the body, so
	// this is the only defence against a replayed query. Off by default:
	// WeChat's retries and clock make ages unreliable.
	MaxAge time.Duration

	// Hooks, when set, receive each POST's start and end (kefuotel).
	Hooks *Hooks

	// Logger receives one record per refused request, failed or late
	// handler; nil logs nothing. No token, key or message content is
	// logged.
	Logger *slog.Logger
	// Now tells time (default time.Now).
	Now func() time.Time
}

// HandlerFunc handles one inbound message or event and returns the passive
// reply (nil for none). It runs once per message, however often WeChat
// retries it. An error answers HTTP 500 (the user sees "该公众号暂时无法提供服务")
// and frees the message's key so that a retry runs the handler again.
type HandlerFunc func(ctx context.Context, m *Message) (Reply, error)

// Handler is an http.Handler for an account's callback URL: the GET URL
// check and the POSTed messages, for Official Accounts (XML) and Mini
// Programs (XML or JSON). See Config for what it checks.
type Handler struct {
	cfg      Config
	fn       HandlerFunc
	crypters []*Crypter // current, then previous
	log      *slog.Logger
	flights  flights
	nonces   nonces

	mu      sync.Mutex
	closed  bool
	running sync.WaitGroup
	waiting atomic.Int32 // requests waiting for another's run of their message
}

// NewHandler returns a Handler calling fn. A Config that cannot work (no
// Token, a bad key, an EncodingAESKey without AppID, RequireEncryption
// without a key, a negative limit) is an error naming the field.
func NewHandler(cfg Config, fn HandlerFunc) (*Handler, error) {
	if fn == nil {
		return nil, errors.New("callback: NewHandler: the HandlerFunc is nil")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg.withDefaults(), fn: fn}
	for _, key := range []string{cfg.EncodingAESKey, cfg.PreviousEncodingAESKey} {
		if key == "" {
			continue
		}
		c, err := NewCrypter(cfg.Token, key, cfg.AppID)
		if err != nil {
			return nil, err
		}
		h.crypters = append(h.crypters, c)
	}
	h.log = cfg.Logger
	if h.log == nil {
		h.log = slog.New(discard{})
	}
	h.flights.ttl = h.cfg.DedupTTL
	return h, nil
}

func (c *Config) validate() error {
	switch {
	case c.Token == "":
		return errors.New("callback: Config.Token is required")
	case c.EncodingAESKey == "" && c.PreviousEncodingAESKey != "":
		return errors.New("callback: Config.PreviousEncodingAESKey needs an EncodingAESKey")
	case c.EncodingAESKey != "" && c.AppID == "":
		return errors.New("callback: Config.AppID is required with an EncodingAESKey")
	case c.RequireEncryption && c.EncodingAESKey == "":
		return errors.New("callback: Config.RequireEncryption needs an EncodingAESKey")
	case c.DedupTTL < 0, c.MaxBodyBytes < 0, c.Budget < 0, c.MaxAge < 0:
		return errors.New("callback: Config durations and limits must not be negative")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.DedupTTL == 0 {
		c.DedupTTL = DefaultDedupTTL
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Budget == 0 {
		c.Budget = DefaultBudget
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// ServeHTTP answers WeChat: GET is the URL check, POST a message.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		h.serveMessage(w, r)
	case http.MethodGet, http.MethodHead:
		h.serveCheck(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// serveCheck answers the URL check: echostr verbatim when the signature
// matches.
func (h *Handler) serveCheck(w http.ResponseWriter, r *http.Request) {
	q := parseQuery(r.URL.RawQuery)
	if !validSignature(q.signature, h.cfg.Token, q.timestamp, q.nonce, nil) {
		h.refuse(w, http.StatusForbidden, fmt.Errorf("%w: URL check", ErrBadSignature))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, q.echostr)
}

// Close waits for handlers still running after their budget (and the late
// replies they send), or until ctx ends. Call it after the http.Server's
// Shutdown; requests that arrive after Close are answered 503.
func (h *Handler) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	done := make(chan struct{})
	go func() { h.running.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// start counts a handler run, unless the Handler is closed.
func (h *Handler) start() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.running.Add(1)
	return true
}

// request is one POST being served.
type request struct {
	q       query
	arrived time.Time // by Config.Now: WeChat's time
	started time.Time // by the real clock: the budget runs from here
	json    bool      // the body was JSON: so is the reply
	crypter *Crypter  // the key that decrypted it; nil when plain
	msg     *Message
	end     RequestEnd // for the hooks
}

func (h *Handler) serveMessage(w http.ResponseWriter, r *http.Request) {
	req := &request{q: parseQuery(r.URL.RawQuery), arrived: h.cfg.Now(), started: time.Now()}
	ctx, end := h.hookStart(r.Context())
	if end != nil {
		r = r.WithContext(ctx)
		defer func() { end(h.ended(req)) }()
	}
	if status, err := h.admit(r, req); err != nil {
		req.end = RequestEnd{Status: status, Outcome: OutcomeRefused, Err: err}
		h.refuse(w, status, err)
		return
	}
	h.dispatch(w, r, req)
}

// admit runs the checks in their order: the query's signature (and age),
// size, envelope, msg_signature, decryption and appid, then parsing.
func (h *Handler) admit(r *http.Request, req *request) (int, error) {
	q := &req.q
	if !validSignature(q.signature, h.cfg.Token, q.timestamp, q.nonce, nil) {
		return http.StatusForbidden, fmt.Errorf("%w: signature", ErrBadSignature)
	}
	if err := h.checkAge(q.timestamp, req.arrived); err != nil {
		return http.StatusForbidden, err
	}
	body, err := readBody(r, h.cfg.MaxBodyBytes)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return http.StatusRequestEntityTooLarge, err
		}
		return http.StatusBadRequest, err
	}
	if h.cfg.MaxAge > 0 && !h.nonces.admit(q.timestamp+"/"+q.nonce, sha1.Sum(body), req.arrived, h.cfg.MaxAge) {
		return http.StatusForbidden, fmt.Errorf("%w: timestamp and nonce replayed with another body", ErrBadSignature)
	}
	plain, status, err := h.open(body, req)
	if err != nil {
		return status, err
	}
	if req.msg, err = ParseMessage(plain); err != nil {
		return http.StatusBadRequest, err
	}
	req.json = firstByte(plain) == '{'
	return 0, nil
}

// checkAge refuses a timestamp further than MaxAge from now, when set.
func (h *Handler) checkAge(timestamp string, now time.Time) error {
	if h.cfg.MaxAge <= 0 {
		return nil
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not a number", ErrBadSignature, timestamp)
	}
	age := now.Sub(time.Unix(ts, 0))
	if age > h.cfg.MaxAge || -age > h.cfg.MaxAge {
		return fmt.Errorf("%w: timestamp is %v from now, over MaxAge %v", ErrBadSignature, age.Round(time.Second), h.cfg.MaxAge)
	}
	return nil
}

// open returns the message: the body itself when plain, else its Encrypt
// field checked and decrypted.
func (h *Handler) open(body []byte, req *request) ([]byte, int, error) {
	enc, found, err := envelope(body)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	if !found {
		if h.cfg.RequireEncryption || req.q.encrypted {
			return nil, http.StatusForbidden, fmt.Errorf("%w: a plain body where encryption is required", ErrBadSignature)
		}
		return body, 0, nil
	}
	if len(h.crypters) == 0 {
		return nil, http.StatusForbidden, fmt.Errorf("%w: an encrypted body, and no EncodingAESKey is configured", ErrMalformed)
	}
	if !validSignature(req.q.msgSignature, h.cfg.Token, req.q.timestamp, req.q.nonce, enc) {
		return nil, http.StatusForbidden, fmt.Errorf("%w: msg_signature", ErrBadSignature)
	}
	var first error
	for _, c := range h.crypters {
		msg, _, err := c.open(enc)
		if err == nil {
			req.crypter = c
			return msg[:len(msg):len(msg)], 0, nil
		}
		if first == nil {
			first = err
		}
	}
	if errors.Is(first, ErrWrongAppID) {
		return nil, http.StatusForbidden, first
	}
	return nil, http.StatusBadRequest, first
}

var errTooLarge = errors.New("callback: request body too large")

// readBody reads at most limit bytes of the body; more is errTooLarge.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, fmt.Errorf("%w: %d bytes, over the limit of %d", errTooLarge, r.ContentLength, limit)
	}
	if r.ContentLength >= 0 {
		body := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, fmt.Errorf("%w: reading the body: %v", ErrMalformed, err)
		}
		return body, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the body: %v", ErrMalformed, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: over the limit of %d bytes", errTooLarge, limit)
	}
	return body, nil
}

// refuse answers a request that failed a check, and logs why.
func (h *Handler) refuse(w http.ResponseWriter, status int, err error) {
	h.log.Warn("kefu callback: request refused", "status", status, "err", err)
	http.Error(w, http.StatusText(status), status)
}

// discard is a slog.Handler that drops everything.
type discard struct{}

func (discard) Enabled(context.Context, slog.Level) bool  { return false }
func (discard) Handle(context.Context, slog.Record) error { return nil }
func (d discard) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discard) WithGroup(string) slog.Handler           { return d }
