// Command quickstart shows kefu end to end against kefutest, a fake WeChat
// server running in-process: one message of every type, a used-up reply
// quota, and an access token killed behind the client's back.
//
//	go run ./examples/quickstart
//
// It always runs against the fake, whatever KEFU_* variables are set. With
// --real and KEFU_APPID, KEFU_SECRET and KEFU_OPENID all set, it sends one
// text to the real API instead (the user must have written to the account
// within 48 h):
//
//	KEFU_APPID=... KEFU_SECRET=... KEFU_OPENID=... go run ./examples/quickstart --real
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

func main() {
	if err := run(os.Stdout, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, args []string, env func(string) string) error {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(w)
	useReal := fs.Bool("real", false, "send one text through WeChat's real API (KEFU_APPID, KEFU_SECRET, KEFU_OPENID)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !*useReal {
		return tour(ctx, w)
	}
	appID, secret, openID := env("KEFU_APPID"), env("KEFU_SECRET"), env("KEFU_OPENID")
	if appID == "" || secret == "" || openID == "" {
		return errors.New("--real needs all of KEFU_APPID, KEFU_SECRET and KEFU_OPENID")
	}
	return sendReal(ctx, w, appID, secret, openID)
}

// sendReal sends one text through WeChat's real API.
func sendReal(ctx context.Context, w io.Writer, appID, secret, openID string) error {
	client, err := kefu.New(appID, secret)
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	err = (&demo{ctx: ctx, w: w, client: client}).send(kefu.NewText(openID, "Hello from the kefu quickstart"))
	if errors.Is(err, kefu.ErrOutsideWindow) {
		fmt.Fprintln(w, "  (the user must write to the account first: replies are allowed for 48 h after)")
	}
	return err
}

// tour runs every step against a fake WeChat server.
func tour(ctx context.Context, w io.Writer) error {
	srv := kefutest.NewServer()
	defer srv.Close()
	client := srv.Client() // a *kefu.Client aimed at srv
	defer client.CloseIdleConnections()
	d := &demo{ctx: ctx, w: w, client: client}
	fmt.Fprintf(w, "fake WeChat at %s, app %s\n", srv.URL, srv.AppID)

	// Media ids come from uploads on the real API; the fake takes them as given.
	for kind, id := range map[kefutest.MediaKind]string{kefutest.MediaImage: "img-1", kefutest.MediaVoice: "voice-1",
		kefutest.MediaVideo: "video-1", kefutest.MediaThumb: "thumb-1", kefutest.MediaMPNews: "draft-1",
		kefutest.MediaArticle: "article-1", kefutest.MediaCard: "card-1"} {
		srv.AddMedia(kind, id)
	}

	const alice, bob = "o-alice", "o-bob"
	srv.Interact(alice, kefutest.UserMessage)
	fmt.Fprintln(w, "· o-alice writes to the account: 5 replies allowed for 48 h")
	err := d.send(
		kefu.NewText(alice, `您好! See <a href="https://example.com/?a=1&b=2">our shop</a>`),
		kefu.NewImage(alice, "img-1"),
		kefu.NewVoice(alice, "voice-1"),
		kefu.NewVideo(alice, kefu.Video{MediaID: "video-1", ThumbMediaID: "thumb-1", Title: "Unboxing"}),
		kefu.NewMusic(alice, kefu.Music{Title: "Jingle", MusicURL: "https://example.com/a.mp3", ThumbMediaID: "thumb-1"}),
	)
	if err != nil {
		return err
	}
	news := kefu.NewNews(alice, kefu.Article{Title: "Spring sale", URL: "https://example.com/sale"})
	if err := d.send(news); !errors.Is(err, kefu.ErrQuotaExceeded) {
		return fmt.Errorf("6th reply: want 45047 (kefu.ErrQuotaExceeded), got %v", err)
	}

	srv.Interact(alice, kefutest.UserMessage)
	fmt.Fprintln(w, "· o-alice writes again: a fresh quota of 5")
	err = d.send(news,
		kefu.NewMPNews(alice, "draft-1"),
		kefu.NewMPNewsArticle(alice, "article-1"),
		kefu.NewMsgMenu(alice, kefu.MsgMenu{HeadContent: "Happy with our service?",
			List: []kefu.MenuItem{{ID: "101", Content: "Yes"}, {ID: "102", Content: "No"}}}),
		kefu.NewWxCard(alice, "card-1"),
	)
	if err != nil {
		return err
	}

	srv.Interact(bob, kefutest.UserMessage)
	fmt.Fprintln(w, "· o-bob writes; then the app secret is reset: every token dies (srv.RotateTokens)")
	before := srv.Calls(kefutest.PathStableToken)
	srv.RotateTokens()
	page := kefu.MiniProgramPage{Title: "Order #42", AppID: "wx-mini", PagePath: "pages/order?id=42", ThumbMediaID: "thumb-1"}
	if err := d.send(kefu.NewMiniProgramPage(bob, page)); err != nil {
		return err
	}
	after := srv.Calls(kefutest.PathStableToken)
	fmt.Fprintf(w, "· recovered: the client met 40001, fetched a new token (stable_token calls %d → %d), sent again\n", before, after)
	if after != before+1 {
		return fmt.Errorf("want one token fetch after the rotation, got %d", after-before)
	}
	if err := d.send(kefu.NewText(bob, "Your order has shipped").From("kf01@account")); err != nil {
		return err
	}
	link := kefu.Link{Title: "Track it", URL: "https://example.com/track", ThumbURL: "https://example.com/t.png"}
	var apiErr *kefu.APIError
	if err := d.send(kefu.NewLink(bob, link)); !errors.As(err, &apiErr) || apiErr.Code != 40008 {
		return fmt.Errorf("link from an Official Account: want 40008, got %v", err)
	}

	fmt.Fprintln(w, "· expected: link is for Mini Programs only; a second fake acts as one (kefutest.WithMiniProgram)")
	mini := kefutest.NewServer(kefutest.WithMiniProgram())
	defer mini.Close()
	d.client = mini.Client()
	defer d.client.CloseIdleConnections()
	mini.Interact(bob, kefutest.UserMessage)
	if err := d.send(kefu.NewLink(bob, link)); err != nil {
		return err
	}
	fmt.Fprintf(w, "done: WeChat accepted %d messages\n",
		len(srv.Messages(alice))+len(srv.Messages(bob))+len(mini.Messages(bob)))
	return nil
}

// demo sends messages and prints one transcript line for each.
type demo struct {
	ctx    context.Context
	w      io.Writer
	client *kefu.Client
}

// send sends each message in turn, printing ✓ or ✗, its type, its user and
// WeChat's answer, and stops at the first error.
func (d *demo) send(msgs ...*kefu.Message) error {
	for _, m := range msgs {
		_, err := d.client.Send(d.ctx, m)
		from := ""
		if m.CustomService != nil {
			from = " (from " + m.CustomService.KfAccount + ")"
		}
		var apiErr *kefu.APIError
		switch {
		case err == nil:
			fmt.Fprintf(d.w, "✓ %-15s → %s  errcode 0%s\n", m.MsgType, m.ToUser, from)
		case errors.As(err, &apiErr):
			group := ""
			if errors.Is(err, kefu.ErrQuotaExceeded) {
				group = " (kefu.ErrQuotaExceeded)"
			}
			fmt.Fprintf(d.w, "✗ %-15s → %s  %d %s%s\n", m.MsgType, m.ToUser, apiErr.Code, apiErr.Message, group)
		default:
			fmt.Fprintf(d.w, "✗ %-15s → %s  %v\n", m.MsgType, m.ToUser, err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
