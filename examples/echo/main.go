// Command echo is a WeChat callback service built on kefu: it receives what
// users send with callback.NewHandler, answers a greeting at once with a
// passive reply, and answers a question later, with a customer-service
// message (Client.Send), the way work that takes longer than WeChat's 5 s
// must be answered.
//
//	go run ./examples/echo
//
// It runs against kefutest, which plays WeChat and two users, pushing their
// messages to the service signed and encrypted (safe mode) as WeChat does.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/callback"
	"github.com/kefu-go/kefu/kefutest"
)

// Service is the callback service: its Handler answers WeChat, and a
// worker sends the answers that take longer.
type Service struct {
	Handler *callback.Handler
	client  *kefu.Client
	jobs    chan job
	done    sync.WaitGroup
}

// job is a question to answer later.
type job struct {
	openID, question string
}

// NewService returns a service for the account's callback settings,
// sending later answers with client (which cfg.Windows, when set, shares).
func NewService(cfg callback.Config, client *kefu.Client) (*Service, error) {
	s := &Service{client: client, jobs: make(chan job, 100)}
	h, err := callback.NewHandler(cfg, s.handle)
	if err != nil {
		return nil, err
	}
	s.Handler = h
	s.done.Add(1)
	go s.work()
	return s, nil
}

// handle answers one message: a greeting at once, a question later.
func (s *Service) handle(ctx context.Context, m *callback.Message) (callback.Reply, error) {
	switch {
	case m.IsEvent(callback.EventSubscribe):
		return callback.ReplyText("Welcome! Ask me anything."), nil
	case m.MsgType != callback.MsgTypeText:
		return nil, nil // "success": nothing to say
	case strings.HasSuffix(m.Content, "?"):
		// A question needs work that may take longer than WeChat waits:
		// answer "success" now, the worker replies within the window.
		s.jobs <- job{m.FromUserName, m.Content}
		return nil, nil
	default:
		return callback.ReplyText("echo: " + m.Content), nil
	}
}

// work answers the questions, one customer-service message each.
func (s *Service) work() {
	defer s.done.Done()
	for j := range s.jobs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := s.client.Send(ctx, kefu.NewText(j.openID, "You asked "+j.question+" The answer is 42."))
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "echo: answering later:", err)
		}
	}
}

// Close stops the service after its handlers and queued answers are done.
func (s *Service) Close(ctx context.Context) error {
	err := s.Handler.Close(ctx)
	close(s.jobs)
	s.done.Wait()
	return err
}

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

// The account's callback settings, as in WeChat's console.
const (
	token  = "echoToken2026"
	aesKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

// run starts the service and a fake WeChat pushing to it, plays a short
// conversation, and prints what each user saw.
func run(w io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	wechat := kefutest.NewServer(kefutest.WithCallback("http://"+ln.Addr().String()+"/wx", token, aesKey, kefutest.ModeSafe))
	defer wechat.Close()

	windows := kefu.NewWindowTracker(nil, kefu.WithTrackerClock(wechat.Now))
	client := wechat.Client(kefu.WithWindows(windows))
	svc, err := NewService(callback.Config{Token: token, AppID: wechat.AppID, EncodingAESKey: aesKey,
		RequireEncryption: true, Windows: windows}, client)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/wx", svc.Handler)
	web := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go web.Serve(ln)

	for _, step := range []func() (*kefutest.PushResult, error){
		func() (*kefutest.PushResult, error) { return wechat.PushFollow("alice", "") },
		func() (*kefutest.PushResult, error) { return wechat.Say("alice", "hello") },
		func() (*kefutest.PushResult, error) { return wechat.Say("bob", "what is the answer?") },
	} {
		res, err := step()
		if err != nil {
			return err
		}
		if res.Unavailable {
			return fmt.Errorf("a user saw %q: %v", kefutest.UnavailableText, res.Err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := web.Shutdown(ctx); err != nil {
		return err
	}
	if err := svc.Close(ctx); err != nil {
		return err
	}
	for _, user := range []string{"alice", "bob"} {
		printConversation(w, wechat, user)
	}
	st, err := windows.Window(ctx, "bob")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "bob can still be sent %d messages\n", st.Remaining)
	return nil
}

// printConversation prints what openID sent and saw, in order.
func printConversation(w io.Writer, wechat *kefutest.Server, openID string) {
	for _, e := range wechat.Conversation(openID) {
		switch e.Kind {
		case kefutest.EntryUser:
			if e.Push.MsgType == callback.MsgTypeEvent {
				fmt.Fprintf(w, "%s: (%s)\n", openID, e.Push.Event)
			} else {
				fmt.Fprintf(w, "%s: %s\n", openID, e.Push.Content)
			}
		case kefutest.EntryPassive:
			fmt.Fprintf(w, "  passive reply: %s\n", e.Message.Text.Content)
		case kefutest.EntrySent:
			fmt.Fprintf(w, "  sent later:    %s\n", e.Message.Text.Content)
		}
	}
}
