package main

// Browser tests of the inbox (kefutest.WithInbox, which kefu fake serves):
// chromedp drives a headless Chromium. They live in this module so that
// chromedp never enters the core's go.mod. Without a browser they skip,
// except under CI (CI set; .ci/run sets CI=true), where they fail. One browser serves every test of
// the binary (each test its own tab); TestMain closes it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/callback"
	"github.com/kefu-go/kefu/kefutest"
)

// browser is the one Chromium of the test binary, started by the first
// test that needs it.
var browser struct {
	once   sync.Once
	ctx    context.Context // a chromedp context whose browser runs
	cancel context.CancelFunc
	err    error
}

// chromiumPath finds Chromium: $KEFU_CHROMIUM, or chromium (Debian's),
// chromium-browser or google-chrome on PATH.
func chromiumPath() string {
	if p := os.Getenv("KEFU_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// startBrowser starts the shared browser, headless.
func startBrowser(path string) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.WindowSize(1280, 800))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses root with its sandbox (CI containers)
	}
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	browser.ctx = ctx
	browser.cancel = func() {
		chromedp.Cancel(ctx) // closes the browser and waits for it
		cancel()
		allocCancel()
	}
	browser.err = chromedp.Do(ctx) // starts it, without a timeout (that would bound its life)
}

// closeBrowser stops the shared browser, if a test started it.
func closeBrowser() {
	if browser.cancel != nil {
		browser.cancel()
	}
}

// tab is a browser tab on the inbox of a fake.
type tab struct {
	t       *testing.T
	ctx     context.Context
	mu      sync.Mutex
	console []string // errors and warnings the page wrote, exceptions
}

// openInbox opens a tab on srv's inbox at path ("/?openid=o1"...). At the end
// of the test it checks that the page wrote no error to its console, and on
// failure saves a screenshot to a directory that outlives the test.
func openInbox(t *testing.T, base, path string) *tab {
	t.Helper()
	p := chromiumPath()
	if p == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("the inbox's browser tests need Chromium under CI: apt-get install chromium (or set KEFU_CHROMIUM)")
		}
		t.Skip("no Chromium: skipping the inbox's browser tests (apt-get install chromium, or set KEFU_CHROMIUM)")
	}
	browser.once.Do(func() { startBrowser(p) })
	require.NoError(t, browser.err, "starting %s", p)
	ctx, cancel := chromedp.NewContext(browser.ctx)
	tb := &tab{t: t, ctx: ctx}
	require.NoError(t, chromedp.Do(ctx)) // opens the tab
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
				tb.mu.Lock()
				tb.console = append(tb.console, m.String())
				tb.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		if !t.Failed() {
			tb.mu.Lock()
			assert.Empty(t, tb.console, "the page's console")
			tb.mu.Unlock()
		}
		if t.Failed() {
			tb.screenshot()
		}
		cancel()
		<-done
	})
	tb.do(chromedp.Navigate(base + path))
	tb.waitText("#live", "live")
	return tb
}

// do runs the steps, bounded.
func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	require.NoError(tb.t, chromedp.Do(ctx, steps...))
}

// waitText waits until the element sel holds text, at most 10 s.
func (tb *tab) waitText(sel, text string) {
	tb.t.Helper()
	tb.waitTextWithin(sel, text, 10*time.Second)
}

// waitTextWithin waits until the element sel holds text, at most d.
func (tb *tab) waitTextWithin(sel, text string, d time.Duration) {
	tb.t.Helper()
	expr := fmt.Sprintf(`(document.querySelector(%s)?.textContent ?? '').includes(%s)`, jsString(sel), jsString(text))
	ctx, cancel := context.WithTimeout(tb.ctx, d+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(d)))
	if err != nil {
		now, _ := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%s)?.textContent ?? '(none)'`, jsString(sel))))
		tb.t.Fatalf("waiting %v for %q in %s: %v\nit holds: %s", d, text, sel, err, strings.Join(strings.Fields(now), " "))
	}
}

// eval evaluates a JavaScript expression that yields a bool.
func (tb *tab) eval(expr string) bool {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
	require.NoError(tb.t, err, expr)
	return v
}

// screenshot saves the page to a new directory under the system's temporary
// one, which outlives the test, and says where.
func (tb *tab) screenshot() {
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Logf("no screenshot: %v", err)
		return
	}
	dir, err := os.MkdirTemp("", "kefu-inbox-failure-")
	if err == nil {
		name := filepath.Join(dir, strings.ReplaceAll(tb.t.Name(), "/", "_")+".png")
		if err = os.WriteFile(name, png, 0o644); err == nil {
			tb.t.Errorf("the page at the failure: %s", name)
			return
		}
	}
	tb.t.Logf("no screenshot: %v", err)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// inboxFake starts an in-process fake with the inbox on, the admin API too
// as kefu fake has it.
func inboxFake(t *testing.T, opts ...kefutest.ServerOption) *kefutest.Server {
	t.Helper()
	srv := kefutest.NewServer(append([]kefutest.ServerOption{kefutest.WithInbox(), kefutest.WithAdminAPI()}, opts...)...)
	t.Cleanup(srv.Close)
	return srv
}

// echoService starts a callback service (callback.NewHandler) that answers
// a text with "re: " and it, and fails on "fail"; the fake pushes to it.
func echoService(t *testing.T, opts ...kefutest.ServerOption) *kefutest.Server {
	t.Helper()
	const token, appID, secret = "inboxToken1", "wxinbox0123456789", "inbox-secret-0123"
	h, err := callback.NewHandler(callback.Config{Token: token, AppID: appID}, func(_ context.Context, m *callback.Message) (callback.Reply, error) {
		switch {
		case m.Content == "fail":
			return nil, errors.New("the service broke")
		case m.MsgType == callback.MsgTypeText:
			return callback.ReplyText("re: " + m.Content), nil
		}
		return nil, nil
	})
	require.NoError(t, err)
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		ts.Close()
		require.NoError(t, h.Close(context.Background()))
	})
	return inboxFake(t, append([]kefutest.ServerOption{kefutest.WithApp(appID, secret),
		kefutest.WithCallback(ts.URL+"/wx", token, "", kefutest.ModePlain)}, opts...)...)
}

// openUser opens the inbox on the conversation of openID, who just wrote to
// the account (5 messages in 48 h).
func openUser(t *testing.T, srv *kefutest.Server, openID string) *tab {
	t.Helper()
	srv.Interact(openID, kefutest.UserMessage)
	return openInbox(t, srv.URL, "/?openid="+openID)
}

func TestInboxShowsSendsLive(t *testing.T) {
	t.Parallel()
	srv := inboxFake(t)
	tb := openUser(t, srv, "o1")
	tb.waitText("#users", "UserMessage: 5 left")

	_, err := srv.Client().Send(context.Background(), kefu.NewText("o1", "hello from Go").From("kf01@shop"))
	require.NoError(t, err)
	tb.waitTextWithin("#conversation", "hello from Go", time.Second) // live, no reload
	tb.waitText("#conversation", "from kf01@shop")
	tb.waitText("#users", "UserMessage: 4 left")
}

func TestInboxTypesAsTheUser(t *testing.T) {
	t.Parallel()
	srv := echoService(t)
	tb := openInbox(t, srv.URL, "/")
	tb.do(chromedp.SendKeys(chromedp.CSS("#new-openid"), "o7"), chromedp.Click(chromedp.CSS("#add-user button")))
	tb.waitText("#conversation .head", "no window: a send answers 45015")

	tb.do(chromedp.SendKeys(chromedp.CSS("#text"), "hello <b>service</b>"), chromedp.Click(chromedp.CSS("#composer button")))
	tb.waitText("#conversation", "re: hello <b>service</b>")
	tb.waitText("#conversation .head", "UserMessage: 5 left") // a passive reply spends no quota
	tb.waitText("#conversation", "passive reply")
	assert.Equal(t, 5, srv.Window("o7", kefutest.UserMessage).Left)

	tb.do(chromedp.SendKeys(chromedp.CSS("#text"), "fail"), chromedp.Click(chromedp.CSS("#composer button")))
	tb.waitText("#conversation", kefutest.UnavailableText)
	tb.waitText("#status", "the user saw")
}

func TestInboxTapsAMenuItem(t *testing.T) {
	t.Parallel()
	srv := echoService(t)
	tb := openUser(t, srv, "o1")
	menu := kefu.NewMsgMenu("o1", kefu.MsgMenu{HeadContent: "Happy?", List: []kefu.MenuItem{{ID: "101", Content: "Yes"}, {ID: "102", Content: "No"}}})
	_, err := srv.Client().Send(context.Background(), menu)
	require.NoError(t, err)
	tb.do(chromedp.WaitVisible(chromedp.CSS(`button[data-menuid="101"]`)), chromedp.Click(chromedp.CSS(`button[data-menuid="101"]`)))
	tb.waitText("#conversation .head", "MenuClick: 3 left")
	tb.waitText("#conversation", "tapped msgmenu item 101")
	tb.waitText("#conversation", "re: Yes")
	assert.Equal(t, "101", srv.Conversation("o1")[1].Push.BizMsgMenuID)
}

func TestInboxClockClosesTheWindow(t *testing.T) {
	t.Parallel()
	srv := inboxFake(t)
	tb := openUser(t, srv, "o1")
	tb.waitText("#conversation .head", "UserMessage: 5 left")
	tb.do(chromedp.Click(chromedp.CSS(`button[data-advance="86400"]`)))
	tb.waitText("#conversation .head", "(in 23h")
	tb.do(chromedp.Click(chromedp.CSS(`button[data-advance="86400"]`)))
	tb.waitText("#conversation .head", "UserMessage: closed")
	tb.waitText("#users", "no open window")
	assert.False(t, srv.Windows("o1").Open)
}

func TestInboxRendersXSSAsText(t *testing.T) {
	t.Parallel()
	srv := inboxFake(t)
	evil := `<img src=x onerror="window.pwned=1">`
	srv.Interact(evil, kefutest.UserMessage)
	attack := `<script>window.pwned=2</script><a href="javascript:window.pwned=3">tap</a>`
	_, err := srv.Client().Send(context.Background(), kefu.NewText(evil, attack))
	require.NoError(t, err)
	tb := openInbox(t, srv.URL, "/")
	tb.do(chromedp.Click(chromedp.CSS(`a.user`)))
	tb.waitText("#conversation", attack)
	tb.waitText("#conversation .head", evil)
	assert.True(t, tb.eval(`window.pwned === undefined`), "nothing ran")
	assert.True(t, tb.eval(`document.querySelectorAll('main script, main img, aside img, a[href^="javascript"]').length === 0`))
}

func TestInboxButtonsWithoutConsoleErrors(t *testing.T) {
	t.Parallel()
	srv := inboxFake(t)
	srv.AddUser("o1")
	tb := openInbox(t, srv.URL, "/?openid=o1")
	for _, c := range []struct{ button, want string }{
		{"follow", "Follow: 3 left"},
		{"scan", "Scan: 3 left"},
		{"click", "MenuClick: 3 left"},
		{"payment", "Payment: unlimited"},
		{"unfollow", "not following"},
	} {
		tb.do(chromedp.Click(chromedp.CSS(`button[data-act="` + c.button + `"]`)))
		tb.waitText("#conversation .head", c.want)
	}
	tb.do(chromedp.Click(chromedp.CSS(`button[data-advance="60"]`)), chromedp.Click(chromedp.CSS(`button[data-advance="3600"]`)))
	tb.waitText("#status", "clock +1 h: done")
	tb.do(chromedp.Click(chromedp.CSS(`button[data-rotate="1"]`)))
	tb.waitText("#status", "rotate tokens: done")
	tb.do(chromedp.SendKeys(chromedp.CSS("#text"), "hi"), chromedp.Click(chromedp.CSS("#composer button")))
	tb.waitText("#status", "no callback URL")
	tb.waitText("#conversation .head", "UserMessage: 5 left")
}

// TestKefuFakeInbox: kefu fake serves the inbox, which works in a browser.
func TestKefuFakeInbox(t *testing.T) {
	t.Parallel()
	f := startFake(t, "--user", "o-fake")
	tb := openInbox(t, f.URL, "/")
	tb.waitText("#users", "o-fake")
	status, _ := f.admin(t, http.MethodPost, "/kefutest/interact", `{"openid":"o-new","action":"Follow"}`)
	require.Equal(t, http.StatusOK, status)
	tb.waitText("#users", "o-new")
}

// TestInboxScreenshot makes docs/inbox.png, the README's picture of the
// inbox, when KEFU_UPDATE_SCREENSHOT=1; otherwise it skips.
func TestInboxScreenshot(t *testing.T) {
	if os.Getenv("KEFU_UPDATE_SCREENSHOT") != "1" {
		t.Skip("KEFU_UPDATE_SCREENSHOT=1 makes docs/inbox.png")
	}
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	srv := echoService(t, kefutest.WithFrozenClock(at))
	ctx := context.Background()
	c := srv.Client(kefu.WithRetry(kefu.RetryPolicy{MaxAttempts: 1}))
	srv.AddUser("o-carol")
	srv.Interact("o-bob", kefutest.Payment)
	srv.Advance(3 * time.Minute)
	_, err := srv.Say("o-alice", "Hello, has my order shipped?")
	require.NoError(t, err)
	srv.Advance(time.Minute)
	for _, m := range []*kefu.Message{
		kefu.NewText("o-alice", `Yes! Track it here: <a href="https://example.com/orders/42">order #42</a>`).From("kf01@shop"),
		kefu.NewMsgMenu("o-alice", kefu.MsgMenu{HeadContent: "Was this helpful?", List: []kefu.MenuItem{{ID: "101", Content: "Yes, thanks"}, {ID: "102", Content: "No"}}}),
	} {
		_, err := c.Send(ctx, m)
		require.NoError(t, err)
	}
	_, err = srv.PushMenuTap("o-alice", "101", "Yes, thanks")
	require.NoError(t, err)
	srv.Advance(2 * time.Minute) // the tap's window closes; the message's has 3 left
	up, err := c.UploadMedia(ctx, kefu.MediaImage, "receipt-42.png", strings.NewReader("\x89PNG"))
	require.NoError(t, err)
	for i, m := range []*kefu.Message{kefu.NewImage("o-alice", up.MediaID), kefu.NewText("o-alice", "Here is your receipt."),
		kefu.NewText("o-alice", "Have a nice day!"), kefu.NewText("o-alice", "One more thing…")} {
		_, err = c.Send(ctx, m)
		if i < 3 {
			require.NoError(t, err)
		}
	}
	srv.Interact("o-dave", kefutest.UserMessage)
	require.NoError(t, c.Typing(ctx, "o-dave"))
	tb := openInbox(t, srv.URL, "/?openid=o-alice")
	tb.do(chromedp.EmulateViewport(1280, 960))
	tb.waitText("#conversation", "refused: errcode 45047")
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	name := filepath.Join("..", "..", "docs", "inbox.png")
	require.NoError(t, os.MkdirAll(filepath.Dir(name), 0o755))
	require.NoError(t, os.WriteFile(name, png, 0o644))
	t.Logf("wrote %s (%d bytes)", name, len(png))
}
