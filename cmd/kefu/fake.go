package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/kefu-go/kefu/kefutest"
)

var fakeCmd = &command{
	name:    "fake",
	summary: "run a fake WeChat API (kefutest) for other programs to test against",
	usage: `  kefu fake --addr 127.0.0.1:8080 --user o1 --media image:m1 --media thumb:t1
  kefu fake --seed seed.json

It prints its URL, AppID and AppSecret (random unless --appid/--secret or
the seed set them), then answers like api.weixin.qq.com until SIGINT or
SIGTERM: tokens (/cgi-bin/token, /cgi-bin/stable_token), send, typing and
whatever else kefutest fakes (go doc github.com/kefu-go/kefu/kefutest), with
WeChat's checks and errcodes. Aim a client at it with --base-url.

A --user has written to the account: 5 replies allowed for 48 h, then 45047.
A --payment-user paid: unlimited replies for 48 h. Any other OpenID is
unknown (40003). Media kinds: image, voice, video, thumb, mpnews, article
(an mpnewsarticle article_id), card (a wxcard card_id).

Seed file (every field optional; flags add to it, --appid/--secret win):
  {"users":["o1"],"payment_users":["o2"],"media":{"image":["m1"],"thumb":["t1"]},
   "appid":"wx123","secret":"not-a-real-secret"}
`,
	flags: func(fs *flag.FlagSet) func(context.Context, *env) error {
		var (
			addr, seedFile, appID, secret string
			users, payers, media          listFlag
			mini                          bool
		)
		fs.StringVar(&addr, "addr", "127.0.0.1:8080", "listen on this `host:port` (port 0: any free port)")
		fs.Var(&users, "user", "an `OPENID` that wrote to the account (repeatable)")
		fs.Var(&payers, "payment-user", "an `OPENID` whose payment succeeded (repeatable)")
		fs.Var(&media, "media", "a media id, as `kind:id` (repeatable)")
		fs.StringVar(&seedFile, "seed", "", "read users, media and credentials from this JSON `FILE`")
		fs.StringVar(&appID, "appid", "", "the fake account's app id (default: random)")
		fs.StringVar(&secret, "secret", "", "the fake account's app secret (default: random)")
		fs.BoolVar(&mini, "mini-program", false, "act as a Mini Program's API (text, image, link, miniprogrampage only)")
		return func(ctx context.Context, e *env) error {
			var s seed
			if seedFile != "" {
				if err := s.read(seedFile); err != nil {
					return err
				}
			}
			s.Users = append(s.Users, users...)
			s.PaymentUsers = append(s.PaymentUsers, payers...)
			for _, kv := range media {
				kind, id, ok := strings.Cut(kv, ":")
				if !ok || id == "" {
					return usagef("--media %q: want kind:id, e.g. image:m1", kv)
				}
				if s.Media == nil {
					s.Media = make(map[string][]string)
				}
				s.Media[kind] = append(s.Media[kind], id)
			}
			if appID != "" {
				s.AppID = appID
			}
			if secret != "" {
				s.Secret = secret
			}
			if err := s.check(); err != nil {
				return err
			}
			return serveFake(ctx, e, addr, &s, mini)
		}
	},
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// seed is what the fake starts with.
type seed struct {
	Users        []string            `json:"users"`
	PaymentUsers []string            `json:"payment_users"`
	Media        map[string][]string `json:"media"`
	AppID        string              `json:"appid"`
	Secret       string              `json:"secret"`
}

var mediaKinds = []string{kefutest.MediaImage, kefutest.MediaVoice, kefutest.MediaVideo,
	kefutest.MediaThumb, kefutest.MediaMPNews, kefutest.MediaArticle, kefutest.MediaCard}

func (s *seed) read(name string) error {
	data, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(s); err != nil {
		return fmt.Errorf("seed %s: %w", name, err)
	}
	return nil
}

// check rejects what kefutest would panic on, as usage errors.
func (s *seed) check() error {
	if (s.AppID == "") != (s.Secret == "") {
		return usagef("give both an app id and a secret (--appid, --secret or the seed), or neither")
	}
	for kind, ids := range s.Media {
		if !slices.Contains(mediaKinds, kind) {
			return usagef("unknown media kind %q: want one of %s", kind, strings.Join(mediaKinds, ", "))
		}
		if slices.Contains(ids, "") {
			return usagef("empty %s media id", kind)
		}
	}
	if slices.Contains(s.Users, "") || slices.Contains(s.PaymentUsers, "") {
		return usagef("empty OpenID")
	}
	return nil
}

// serveFake runs a kefutest server seeded with s on addr until ctx ends.
//
// kefutest.NewServer listens on a random port of its own; a fixed --addr is
// served by a reverse proxy in front of it. (With a kefutest option to
// listen on a given listener, the proxy would go.)
func serveFake(ctx context.Context, e *env, addr string, s *seed, mini bool) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer ln.Close()

	var opts []kefutest.ServerOption
	if s.AppID != "" {
		opts = append(opts, kefutest.WithApp(s.AppID, s.Secret))
	}
	if mini {
		opts = append(opts, kefutest.WithMiniProgram())
	}
	srv := kefutest.NewServer(opts...)
	defer srv.Close()
	for _, u := range s.Users {
		srv.Interact(u, kefutest.UserMessage)
	}
	for _, u := range s.PaymentUsers {
		srv.Interact(u, kefutest.Payment)
	}
	var seeded []string
	for _, kind := range mediaKinds {
		for _, id := range s.Media[kind] {
			srv.AddMedia(kind, id)
			seeded = append(seeded, kind+":"+id)
		}
	}

	target, err := url.Parse(srv.URL)
	if err != nil {
		return err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	defer transport.CloseIdleConnections()
	quiet := log.New(io.Discard, "", 0)
	hs := &http.Server{
		Handler: &httputil.ReverseProxy{
			Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target) },
			Transport: transport,
			ErrorLog:  quiet,
		},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          quiet,
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	base := "http://" + ln.Addr().String()
	w := e.stdout
	fmt.Fprintln(w, "kefu fake: a fake WeChat API (kefutest), not the real one")
	fmt.Fprintf(w, "  URL:       %s\n", base)
	fmt.Fprintf(w, "  AppID:     %s\n", srv.AppID)
	fmt.Fprintf(w, "  AppSecret: %s\n", srv.AppSecret)
	fmt.Fprintf(w, "  users:     %s\n", listOrNone(s.Users, " (5 replies in 48 h)"))
	fmt.Fprintf(w, "  payers:    %s\n", listOrNone(s.PaymentUsers, " (unlimited replies in 48 h)"))
	fmt.Fprintf(w, "  media:     %s\n", listOrNone(seeded, ""))
	fmt.Fprintf(w, "try: KEFU_APPID=%s KEFU_SECRET=%s kefu send --base-url %s --to OPENID --text hello\n",
		srv.AppID, srv.AppSecret, base)
	fmt.Fprintln(w, "ready; SIGINT (Ctrl-C) or SIGTERM stops it")

	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	fmt.Fprintln(w, "kefu fake: stopped")
	return nil
}

func listOrNone(l []string, suffix string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ") + suffix
}
