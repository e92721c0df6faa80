package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

// fakeHelp is the help of "kefu fake", after its usage line.
const fakeHelp = `  kefu fake --addr 127.0.0.1:8080 --user o1 --media image:m1 --media thumb:t1
  kefu fake --account kf01@shop:Alice --payment-user o2
  kefu fake --seed seed.json
  KEFU_TOKEN=... KEFU_AES_KEY=... kefu fake --callback http://127.0.0.1:9000/wx --mode safe

It prints its URL, AppID and AppSecret (random unless --appid/--secret or
the seed set them) and its inbox's URL, then answers like api.weixin.qq.com until SIGINT or
SIGTERM: tokens (/cgi-bin/token, /cgi-bin/stable_token), send, typing, media
uploads, customer-service accounts and sessions, with WeChat's checks and
errcodes (go doc github.com/kefu-go/kefu/kefutest). Aim a client at it with
--base-url. An --addr in use fails: --addr 127.0.0.1:0 takes any free port,
which the banner (or --json) gives. In a container, --addr 0.0.0.0:8080
--public-url http://kefu-fake:8080 listens on every interface and gives
clients the name they reach it by.

The inbox, a web page at the fake's URL (/), shows every user, their
windows and conversations as WeChat would show them, updated live, and acts
as a user: write (through --callback when given), follow, unfollow, scan,
click the menu, pay, tap a msgmenu item; it also moves the clock and
rotates tokens. It needs no credentials and shows no token or secret; like
the admin endpoints, anyone who can reach the fake can use it, which is why
--addr is loopback (127.0.0.1) by default. --inbox=false turns it off.

A --user has written to the account: 5 replies allowed for 48 h, then 45047.
A --payment-user paid: unlimited replies for 48 h. Any other OpenID is
unknown (40003). Media kinds: image, voice, video, thumb, mpnews, article
(an mpnewsarticle article_id), card (a wxcard card_id); uploaded media ids
work too, for 3 days of the fake's clock. An --account is a customer-service
account kf_account:nickname (kf_account is prefix@account, the prefix 1 to
10 of A-Z, a-z, 0-9, _; the nickname 1 to 16 characters), without a worker.

Admin endpoints, for tests to script users, faults and the clock over HTTP
(not WeChat's, no credentials asked; go doc kefutest.WithAdminAPI). POSTs
take a JSON object and answer {"errcode":0,"errmsg":"ok"}, GETs answer
JSON; a bad request HTTP 400 (405: wrong method) and an errmsg that says
what is wrong. Ids (openid, media_id, kf_account) have at most 128 bytes.
  POST /kefutest/interact       {"openid":"o9","action":"UserMessage"}
        the user acted, opening a reply window (a new user follows first).
        Actions: UserMessage (5 replies in 48 h), MenuClick, Follow, Scan
        (3 in 1 min), Payment (unlimited in 48 h), EnterSession (2 in 1 min).
  POST /kefutest/add_user       {"openid":"o9"}  a follower, no window (45015)
  POST /kefutest/unfollow       {"openid":"o9"}  unfollows: windows close
  GET  /kefutest/window?openid=o9&action=UserMessage   {"open","closes","left"}
  GET  /kefutest/typing?openid=o9                      {"typing":false}
  GET  /kefutest/messages?openid=o1
        the messages accepted for the user, oldest first, as a JSON array
  POST /kefutest/advance        {"seconds":3600}
        move the fake's clock on: windows close, tokens and media expire
        (answers the new time as "now", Unix seconds)
  GET  /kefutest/now            {"now":UNIX,"time":"RFC 3339"}
  POST /kefutest/rotate_tokens  kill every access token, as a secret reset does
  GET  /kefutest/tokens         every token issued, as a JSON array
  POST /kefutest/reset          back to a fresh fake: users, faults, media,
        accounts, sessions, records, tokens, counts and the request log
        (the credentials and the clock stay)
  POST /kefutest/fail_next      {"path":"/cgi-bin/token","n":1,"errcode":-1}
  POST /kefutest/drop_next      {"path":...,"n":1}  act, then hang up
  POST /kefutest/status_next    {"path":...,"n":1,"status":503}  an HTML page
  POST /kefutest/delay_next     {"path":...,"n":1,"seconds":2}  act, answer late
  POST /kefutest/raw_next       {"path":...,"n":1,"status":200,"body":"{"}
        the next n calls to a WeChat path meet the fault (1000 queued at most)
  GET  /kefutest/calls[?path=P] calls per WeChat path, {"/cgi-bin/token":1,...}
  GET  /kefutest/requests[?path=P]
        the latest 1000 requests to WeChat paths, oldest first: method, path,
        query (access_token and secret REDACTED), status, errcode, fault, time
  POST /kefutest/add_media      {"kind":"image","media_id":"m1"}
  GET  /kefutest/uploads        the files uploaded, as a JSON array
  POST /kefutest/add_account    {"kf_account":"kf01@shop","nickname":"Alice"}
  POST /kefutest/set_online     {"kf_account":"kf01@shop","online":true}
  POST /kefutest/accept_invite  {"kf_account":"kf01@shop"}
  POST /kefutest/add_waiting    {"openid":"o9"}  the user waits for a session
  GET  /kefutest/session?openid=o9                     {"kf_account":""}
  POST /kefutest/add_record     {"openid":"o9","opercode":2001,"text":"hi"}
e.g. curl -d '{"openid":"o9","action":"UserMessage"}' http://127.0.0.1:8080/kefutest/interact

Pushing to a service (--callback URL): the fake then also acts as the users,
POSTing what they send to the service's callback URL as WeChat does: signed
with the Token (KEFU_TOKEN, or --token: 3 to 32 letters and digits), in
--mode plain, compatible or safe (the last two encrypt with the 43-character
EncodingAESKey: KEFU_AES_KEY, or --aes-key; with a key the mode defaults to
safe, without it to plain). With no answer within --callback-timeout (5s,
WeChat's) it POSTs again, three times in all; the service's passive reply is
checked as WeChat checks it and shown to the user without spending quota.
Messages go to the account's original id (the banner, or "callback" in
--json, gives it).
  POST /kefutest/say            {"openid":"o9","text":"hello"}
        the user writes to the account (a window of 5 replies in 48 h opens)
        and the fake pushes it. The answer says what the user saw:
        {"errcode":0,"errmsg":"ok","msgid":N,"attempts":[{"status":200,
        "seconds":0.01,"timed_out":false,"error":""}],"reply":{"msgtype":"text",
        "message":{...},"kf_account":"","encrypted":true} or null,
        "unavailable":false,"error_shown":"","problem":""}; unavailable means
        the user saw 该公众号暂时无法提供服务 (problem says why)
  POST /kefutest/push           {"openid":"o9","MsgType":"event","Event":"subscribe",
        "EventKey":"qrscene_7"}  any message or event, by the fields of
        go doc github.com/kefu-go/kefu/callback.Message (image: PicUrl, MediaId;
        location: LocationX, LocationY, Scale, Label; CLICK: EventKey; ...);
        answers as say
  GET  /kefutest/conversation?openid=o9
        the user's pushes, the messages sent, passive replies ("passive":true
        in /kefutest/messages too), transfers and errors shown, oldest first

Seed file (every field optional; flags add to it, --appid/--secret win):
  {"users":["o1"],"payment_users":["o2"],"media":{"image":["m1"],"thumb":["t1"]},
   "accounts":["kf01@shop:Alice"],"appid":"wx123","secret":"not-a-real-secret"}
`

// fakeCommand is "kefu fake": kefutest's fake WeChat API as a process.
func fakeCommand(e *env) *cobra.Command {
	return withoutGlobalFlags(newCommand(e, "fake", "run a fake WeChat API (kefutest) for other programs to test against", fakeHelp, maxArgs(0), &fakeRun{}))
}

// define defines kefu fake's flags on fs.
func (f *fakeRun) define(fs *pflag.FlagSet) {
	// --appid, --secret and --json stand for the global ones
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "listen on this `host:port` (port 0: any free port)")
	fs.Var(&f.users, "user", "an `OPENID` that wrote to the account (repeatable)")
	fs.Var(&f.payers, "payment-user", "an `OPENID` whose payment succeeded (repeatable)")
	fs.Var(&f.media, "media", "a media id, as `kind:id` (repeatable)")
	fs.Var(&f.accounts, "account", "a customer-service account, as `kf_account:nickname`, e.g. kf01@shop:Alice (repeatable)")
	fs.StringVar(&f.seedFile, "seed", "", "read users, media, accounts and credentials from this JSON `FILE`")
	fs.StringVar(&f.appID, "appid", "", "the fake account's app id (default: random)")
	fs.StringVar(&f.secret, "secret", "", "the fake account's app secret (default: random)")
	fs.BoolVar(&f.mini, "mini-program", false, "act as a Mini Program's API (text, image, link, miniprogrampage only)")
	fs.Var(&f.followers, "follower", "an `OPENID` that follows the account but has no reply window: a send gets 45015 (repeatable)")
	fs.BoolVar(&f.json, "json", false, "print only {\"url\",\"appid\",\"secret\"} as one JSON line when ready, for harnesses")
	fs.StringVar(&f.readyFile, "ready-file", "", "when ready, write {\"url\",\"appid\",\"secret\"} as JSON to this `FILE`")
	fs.StringVar(&f.callbackURL, "callback", "", "push users' messages to this callback `URL` of a service, as WeChat does (kefu help fake)")
	fs.StringVar(&f.token, "token", "", "the callback's Token (default $KEFU_TOKEN; the variable keeps it out of ps)")
	fs.StringVar(&f.aesKey, "aes-key", "", "the callback's EncodingAESKey (default $KEFU_AES_KEY; the variable keeps it out of ps)")
	fs.StringVar(&f.mode, "mode", "", "the callback's `mode`: plain, compatible or safe (default safe with a key, else plain)")
	fs.DurationVar(&f.callbackTimeout, "callback-timeout", 0, "how long to wait for the callback's answer before trying again (default 5s, WeChat's)")
	fs.BoolVar(&f.inbox, "inbox", true, "serve the inbox, a web page to watch and drive the users, at / (kefu help fake)")
	fs.StringVar(&f.publicURL, "public-url", "", "the `URL` the banner, --json and --ready-file give, when clients reach the fake by another name than --addr (a container's --addr 0.0.0.0:8080); it still listens on --addr")
}

// fakeRun is a run of kefu fake: the flags it was given.
type fakeRun struct {
	addr, seedFile, appID, secret  string
	users, payers, media, accounts listFlag
	followers                      listFlag
	mini, json, inbox              bool
	readyFile, publicURL           string

	callbackURL, token, aesKey, mode string
	callbackTimeout                  time.Duration
}

// run serves the fake, seeded, until ctx ends.
func (f *fakeRun) run(ctx context.Context, e *env, _ []string) error {
	s, err := f.seed()
	if err != nil {
		return err
	}
	if f.publicURL != "" {
		u, err := url.Parse(f.publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("--public-url must be an absolute http or https URL, got %q", f.publicURL)
		}
		f.publicURL = strings.TrimRight(f.publicURL, "/")
	}
	cb, err := f.callback(e)
	if err != nil {
		return err
	}
	return serveFake(ctx, e, f, s, cb)
}

// callbackSettings are the fake's callback settings, from --callback and
// its companions.
type callbackSettings struct {
	url, token, key string
	mode            kefutest.CallbackMode
	timeout         time.Duration
}

// callback returns the callback settings, nil without --callback, or a
// usage error that says how to fix them. The Token and key come from the
// flags or else from KEFU_TOKEN and KEFU_AES_KEY; no error shows them.
func (f *fakeRun) callback(e *env) (*callbackSettings, error) {
	if f.callbackURL == "" {
		if f.token != "" || f.aesKey != "" || f.mode != "" || f.callbackTimeout != 0 {
			return nil, usagef("--token, --aes-key, --mode and --callback-timeout go with --callback URL (the service's callback URL)")
		}
		return nil, nil
	}
	cb := &callbackSettings{url: f.callbackURL, token: cmp.Or(f.token, e.getenv("KEFU_TOKEN")),
		key: cmp.Or(f.aesKey, e.getenv("KEFU_AES_KEY")), timeout: f.callbackTimeout}
	if cb.token == "" {
		return nil, usagef("--callback needs the Token set in WeChat's console: set KEFU_TOKEN (or pass --token)")
	}
	mode := f.mode
	if mode == "" {
		mode = "plain"
		if cb.key != "" {
			mode = "safe"
		}
	}
	m, err := kefutest.ParseCallbackMode(mode)
	if err != nil {
		return nil, usagef("--mode %q: want plain, compatible or safe", f.mode)
	}
	cb.mode = m
	if m != kefutest.ModePlain && cb.key == "" {
		return nil, usagef("--mode %s encrypts: set KEFU_AES_KEY (or pass --aes-key) to the 43-character EncodingAESKey, or use --mode plain", m)
	}
	if cb.timeout < 0 {
		return nil, usagef("--callback-timeout must be positive, got %v", cb.timeout)
	}
	if err := kefutest.ValidateCallback(cb.url, cb.token, cb.key, cb.mode); err != nil {
		return nil, usagef("--callback: %s (the Token comes from --token or KEFU_TOKEN, the key from --aes-key or KEFU_AES_KEY)",
			strings.TrimPrefix(err.Error(), "callback: "))
	}
	return cb, nil
}

// options are the kefutest options of cb (none when nil).
func (cb *callbackSettings) options() []kefutest.ServerOption {
	if cb == nil {
		return nil
	}
	opts := []kefutest.ServerOption{kefutest.WithCallback(cb.url, cb.token, cb.key, cb.mode)}
	if cb.timeout > 0 {
		opts = append(opts, kefutest.WithCallbackTimeout(cb.timeout))
	}
	return opts
}

// seed returns what the fake starts with: the seed file's users, media,
// accounts and credentials, if there is a file, then the flags', checked.
func (f *fakeRun) seed() (*seed, error) {
	var s seed
	if f.seedFile != "" {
		if err := s.read(f.seedFile); err != nil {
			return nil, err
		}
	}
	s.Users = append(s.Users, f.users...)
	s.PaymentUsers = append(s.PaymentUsers, f.payers...)
	s.Accounts = append(s.Accounts, f.accounts...)
	for _, kv := range f.media {
		kind, id, ok := strings.Cut(kv, ":")
		if !ok || id == "" {
			return nil, usagef("--media %q: want kind:id, e.g. image:m1", kv)
		}
		if s.Media == nil {
			s.Media = make(map[string][]string)
		}
		s.Media[kind] = append(s.Media[kind], id)
	}
	if f.appID != "" {
		s.AppID = f.appID
	}
	if f.secret != "" {
		s.Secret = f.secret
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	return &s, nil
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }
func (l *listFlag) Type() string       { return "strings" }

// seed is what the fake starts with.
type seed struct {
	Users        []string            `json:"users"`
	PaymentUsers []string            `json:"payment_users"`
	Media        map[string][]string `json:"media"`
	Accounts     []string            `json:"accounts"` // "kf_account:nickname"
	AppID        string              `json:"appid"`
	Secret       string              `json:"secret"`

	accounts []account // Accounts, split by check
}

// account is a customer-service account of the seed.
type account struct{ kfAccount, nickname string }

// mediaKinds are the kinds of media a seed may hold, in the order the
// banner lists them.
func mediaKinds() []string {
	var out []string
	for _, k := range []kefutest.MediaKind{kefutest.MediaImage, kefutest.MediaVoice, kefutest.MediaVideo,
		kefutest.MediaThumb, kefutest.MediaMPNews, kefutest.MediaArticle, kefutest.MediaCard} {
		out = append(out, string(k))
	}
	return out
}

func (s *seed) read(name string) error {
	data, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(s); err != nil {
		return fmt.Errorf("seed %s: %w", name, err)
	}
	return nil
}

// check rejects what kefutest would panic on, as usage errors, and splits
// the accounts for serveFake.
func (s *seed) check() error {
	if (s.AppID == "") != (s.Secret == "") {
		return usagef("give both an app id and a secret (--appid, --secret or the seed), or neither")
	}
	kinds := mediaKinds()
	for kind, ids := range s.Media {
		if !slices.Contains(kinds, kind) {
			return usagef("unknown media kind %q: want one of %s", kind, strings.Join(kinds, ", "))
		}
		if slices.Contains(ids, "") {
			return usagef("empty %s media id", kind)
		}
	}
	if slices.Contains(s.Users, "") || slices.Contains(s.PaymentUsers, "") {
		return usagef("empty OpenID")
	}
	s.accounts = nil
	for _, kv := range s.Accounts {
		kf, nick, err := splitAccount(kv)
		if err != nil {
			return err
		}
		s.accounts = append(s.accounts, account{kf, nick})
	}
	return nil
}

// splitAccount splits "kf_account:nickname" and checks both as WeChat (and
// kefutest, which panics otherwise) does: the kf_account by kefu's rule.
func splitAccount(kv string) (kfAccount, nickname string, err error) {
	kfAccount, nickname, ok := strings.Cut(kv, ":")
	if !ok || kfAccount == "" || nickname == "" {
		return "", "", usagef("account %q: want kf_account:nickname, e.g. kf01@shop:Alice", kv)
	}
	if kefu.ValidateKfAccount(kfAccount) != nil {
		return "", "", usagef("account %q: the kf_account must be prefix@account, the prefix 1 to %d of A-Z, a-z, 0-9, _", kv, kefu.MaxKfPrefix)
	}
	if !utf8.ValidString(nickname) || utf8.RuneCountInString(nickname) > kefu.MaxNicknameRunes {
		return "", "", usagef("account %q: the nickname must be 1 to %d characters", kv, kefu.MaxNicknameRunes)
	}
	return kfAccount, nickname, nil
}

// serveFake runs a kefutest server seeded with s, which check accepted, on
// f.addr until ctx ends, with the admin API on.
func serveFake(ctx context.Context, e *env, f *fakeRun, s *seed, cb *callbackSettings) error {
	ln, err := listen(f.addr)
	if err != nil {
		return err
	}
	opts := []kefutest.ServerOption{kefutest.WithListener(ln), kefutest.WithAdminAPI()}
	if s.AppID != "" {
		opts = append(opts, kefutest.WithApp(s.AppID, s.Secret))
	}
	if f.mini {
		opts = append(opts, kefutest.WithMiniProgram())
	}
	if f.inbox {
		opts = append(opts, kefutest.WithInbox())
	}
	opts = append(opts, cb.options()...)
	srv := kefutest.NewServer(opts...) // owns ln from here on
	seeded, accounts := f.plant(srv, s)

	base := cmp.Or(f.publicURL, srv.URL) // what clients are told
	w := e.stdout
	r := ready{URL: base, AppID: srv.AppID, Secret: srv.AppSecret}
	if cb != nil {
		r.Callback = &readyCallback{URL: cb.url, Mode: cb.mode.String(), OriginalID: srv.OriginalID}
	}
	if err := f.announce(r, e.stdout); err != nil {
		srv.Close()
		return err
	}
	done := w
	if f.json {
		// The JSON line is all stdout says; the end is said on stderr.
		w, done = io.Discard, e.stderr
	}
	fmt.Fprintln(w, "kefu fake: a fake WeChat API (kefutest), not the real one")
	fmt.Fprintf(w, "  URL:       %s\n", base)
	fmt.Fprintf(w, "  AppID:     %s\n", srv.AppID)
	fmt.Fprintf(w, "  AppSecret: %s\n", srv.AppSecret)
	fmt.Fprintf(w, "  users:     %s\n", listOrNone(s.Users, " (5 replies in 48 h)"))
	fmt.Fprintf(w, "  payers:    %s\n", listOrNone(s.PaymentUsers, " (unlimited replies in 48 h)"))
	fmt.Fprintf(w, "  followers: %s\n", listOrNone(f.followers, " (no reply window: 45015 until they act)"))
	fmt.Fprintf(w, "  media:     %s\n", listOrNone(seeded, ""))
	fmt.Fprintf(w, "  accounts:  %s\n", listOrNone(accounts, ""))
	if cb != nil {
		fmt.Fprintf(w, "  callback:  %s (%s mode, to %s; POST /kefutest/say {\"openid\":\"o9\",\"text\":\"hi\"})\n",
			cb.url, cb.mode, srv.OriginalID)
	}
	fmt.Fprintf(w, "  admin:     POST %s/kefutest/interact {\"openid\":\"o9\",\"action\":\"UserMessage\"}\n", base)
	fmt.Fprintln(w, "             POST /kefutest/advance {\"seconds\":3600}, POST /kefutest/fail_next,")
	fmt.Fprintln(w, "             GET /kefutest/requests, POST /kefutest/reset ... (kefu help fake)")
	if f.inbox {
		fmt.Fprintf(w, "  inbox:     %s/ (open it in a browser; %s)\n", base, reach(ln.Addr()))
	}
	fmt.Fprintf(w, "try: KEFU_APPID=%s KEFU_SECRET=%s kefu send --base-url %s --to OPENID --text hello\n",
		srv.AppID, srv.AppSecret, base)
	fmt.Fprintln(w, "ready; SIGINT (Ctrl-C) or SIGTERM stops it")

	<-ctx.Done()
	// Close waits for the requests in flight; a client that stalls in the
	// middle of one does not hold the exit up for more than a few seconds.
	closed := make(chan struct{})
	go func() {
		srv.Close()
		close(closed)
	}()
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-closed:
	case <-t.C:
	}
	fmt.Fprintln(done, "kefu fake: stopped")
	return nil
}

// plant puts the seed's users, media and accounts in srv, and returns the
// media and accounts as the banner lists them.
func (f *fakeRun) plant(srv *kefutest.Server, s *seed) (seeded, accounts []string) {
	for _, u := range f.followers {
		srv.AddUser(u)
	}
	for _, u := range s.Users {
		srv.Interact(u, kefutest.UserMessage)
	}
	for _, u := range s.PaymentUsers {
		srv.Interact(u, kefutest.Payment)
	}
	for _, kind := range mediaKinds() {
		for _, id := range s.Media[kind] {
			srv.AddMedia(kefutest.MediaKind(kind), id)
			seeded = append(seeded, kind+":"+id)
		}
	}
	for _, a := range s.accounts {
		srv.AddAccount(a.kfAccount, a.nickname)
		accounts = append(accounts, a.kfAccount+" ("+a.nickname+")")
	}
	return seeded, accounts
}

// reach says who can reach a fake listening on addr, and so use its inbox
// and admin endpoints.
func reach(addr net.Addr) string {
	if ta, ok := addr.(*net.TCPAddr); ok && ta.IP.IsLoopback() {
		return "loopback only: this machine"
	}
	return "not loopback: anyone on the network can use it and the admin endpoints"
}

// listen listens on addr; when another process does, the error says how to
// get any free port instead.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%w\n  another process listens there: pass --addr 127.0.0.1:0 for any free port (the banner, or --json, gives the URL)", err)
	}
	return ln, err
}

// ready is what --json prints and --ready-file holds.
type ready struct {
	URL      string         `json:"url"`
	AppID    string         `json:"appid"`
	Secret   string         `json:"secret"`
	Callback *readyCallback `json:"callback,omitempty"`
}

// readyCallback is the callback settings in ready: no Token, no key.
type readyCallback struct {
	URL        string `json:"url"`
	Mode       string `json:"mode"`
	OriginalID string `json:"original_id"`
}

// announce prints the ready line (--json) and writes the ready file
// (--ready-file, through a rename, so a reader never sees half of it).
func (f *fakeRun) announce(r ready, stdout io.Writer) error {
	if !f.json && f.readyFile == "" {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if f.readyFile != "" {
		tmp := f.readyFile + ".tmp"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, f.readyFile); err != nil {
			return err
		}
	}
	if f.json {
		_, err = stdout.Write(b)
	}
	return err
}

func listOrNone(l []string, suffix string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ") + suffix
}
