package kefu_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

// A service answers a user who wrote to the account. kefutest stands in for
// WeChat; in production the client comes from NewTokenSource and NewClient
// with the app's credentials.
func Example() {
	wechat := kefutest.NewServer()
	defer wechat.Close()
	wechat.Interact("o-alice", kefutest.UserMessage) // Alice wrote: 5 replies within 48 h

	tokens, err := kefu.NewTokenSource(wechat.AppID, wechat.AppSecret, kefu.WithBaseURL(wechat.URL))
	if err != nil {
		panic(err)
	}
	client, err := kefu.NewClient(tokens, kefu.WithBaseURL(wechat.URL))
	if err != nil {
		panic(err)
	}
	defer client.CloseIdleConnections()

	resp, err := client.Send(context.Background(), kefu.NewText("o-alice", `您好! Your order <a href="https://example.com/o?id=1&v=2">#1</a> has shipped.`))
	fmt.Println(resp.ErrCode, resp.ErrMsg, err)
	fmt.Println(wechat.Messages("o-alice")[0].Text.Content)
	// Output:
	// 0 ok <nil>
	// 您好! Your order <a href="https://example.com/o?id=1&v=2">#1</a> has shipped.
}

// Errors say what happened: branch on their group with errors.Is.
func ExampleAPIError() {
	wechat := kefutest.NewServer()
	defer wechat.Close()
	client := wechat.Client()
	defer client.CloseIdleConnections()
	ctx := context.Background()

	wechat.AddUser("o-bob") // follows, but has not written: no reply window
	_, err := client.Send(ctx, kefu.NewText("o-bob", "hello"))
	switch {
	case errors.Is(err, kefu.ErrOutsideWindow):
		fmt.Println("wait until Bob writes")
	case errors.Is(err, kefu.ErrQuotaExceeded):
		fmt.Println("Bob's replies are used up")
	case errors.Is(err, kefu.ErrDeliveryUnknown):
		fmt.Println("may have been delivered: do not resend blindly")
	}
	var apiErr *kefu.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Code, apiErr.Message, apiErr.RequestID != "")
	}

	// Invalid messages never leave the process.
	_, err = client.Send(ctx, kefu.NewNews("o-bob",
		kefu.Article{Title: "A", URL: "https://example.com/a"},
		kefu.Article{Title: "B", URL: "example.com/b"}))
	fmt.Println(errors.Is(err, kefu.ErrInvalidMessage))
	fmt.Println(err)
	// Output:
	// wait until Bob writes
	// 45015 response out of time limit or subscription is canceled true
	// true
	// kefu: invalid message: news.articles: must have exactly one article: WeChat rejects more with 45008 since 2018-10-12 (got 2)
	// kefu: invalid message: news.articles[1].url: must be an absolute http or https URL
}

// A custom retry policy: five attempts, also on the per-minute rate limit.
// RetryUnknown stays off, so a message whose answer was lost is reported
// (ErrDeliveryUnknown) rather than sent again.
func ExampleRetryPolicy() {
	wechat := kefutest.NewServer()
	defer wechat.Close()
	wechat.Interact("o-carol", kefutest.Payment)

	policy := kefu.RetryPolicy{
		MaxAttempts: 5,
		BaseDelay:   time.Millisecond, // production: 200ms or more
		MaxDelay:    10 * time.Millisecond,
		RetryCodes:  []int{-1, 45011},
	}
	client := wechat.Client(kefu.WithRetry(policy))
	defer client.CloseIdleConnections()

	wechat.FailNext(kefutest.PathSend, 2, 45011) // rate limited twice, then accepted
	_, err := client.Send(context.Background(), kefu.NewText("o-carol", "Thanks for your order"))
	fmt.Println(err, wechat.Calls(kefutest.PathSend), len(wechat.Messages("o-carol")))

	wechat.DropNext(kefutest.PathSend, 1) // delivered, but the answer is lost
	_, err = client.Send(context.Background(), kefu.NewText("o-carol", "Shipped!"))
	fmt.Println(errors.Is(err, kefu.ErrDeliveryUnknown), len(wechat.Messages("o-carol")))
	// Output:
	// <nil> 3 1
	// true 2
}

// When WeChat rejects the cached token (someone reset the secret, or another
// process force-refreshed), the client fetches a new one and retries once.
func ExampleTokenInvalidator() {
	wechat := kefutest.NewServer()
	defer wechat.Close()
	wechat.Interact("o-dan", kefutest.UserMessage)
	client := wechat.Client()
	defer client.CloseIdleConnections()
	ctx := context.Background()

	_, err := client.Send(ctx, kefu.NewText("o-dan", "one"))
	fmt.Println(err, wechat.Calls(kefutest.PathStableToken))
	wechat.RotateTokens()
	_, err = client.Send(ctx, kefu.NewText("o-dan", "two"))
	fmt.Println(err, wechat.Calls(kefutest.PathStableToken), wechat.Calls(kefutest.PathSend))
	// Output:
	// <nil> 1
	// <nil> 2 3
}

// A tracker that knows the user's window refuses locally what WeChat would
// refuse, without a call.
func ExampleWithWindows() {
	srv := kefutest.NewServer()
	defer srv.Close()
	windows := kefu.NewWindowTracker(nil, kefu.WithTrackerClock(srv.Now))
	client := srv.Client(kefu.WithWindows(windows))
	ctx := context.Background()

	// The user scanned a QR code: 3 messages within a minute. The callback
	// handler reports it (callback.Config.Windows); here, by hand.
	srv.Interact("o-user", kefutest.Scan)
	windows.Observe(ctx, "o-user", kefu.ActionScan, srv.Now())
	for i := 1; i <= 4; i++ {
		_, err := client.Send(ctx, kefu.NewText("o-user", "hello"))
		fmt.Println(i, err == nil, errors.Is(err, kefu.ErrQuotaExceeded))
	}
	st, _ := windows.Window(ctx, "o-user")
	fmt.Println("open:", st.Open, "remaining:", st.Remaining, "calls:", srv.Calls(kefutest.PathSend))
	// Output:
	// 1 true false
	// 2 true false
	// 3 true false
	// 4 false true
	// open: true remaining: 0 calls: 3
}
