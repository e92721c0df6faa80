package kefutest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

func ExampleServer() {
	srv := kefutest.NewServer()
	defer srv.Close()
	srv.Interact("o-user", kefutest.UserMessage) // the user wrote to the account

	c := srv.Client()
	ctx := context.Background()
	_, err := c.Send(ctx, kefu.NewText("o-user", `Hi! See <a href="https://example.com/?a=1&b=2">our shop</a>`))
	fmt.Println("send:", err)
	_, err = c.Send(ctx, kefu.NewText("o-stranger", "Hi!"))
	fmt.Println("stranger:", errors.Is(err, kefu.ErrInvalidOpenID))

	for _, m := range srv.Messages("o-user") {
		fmt.Println(m.MsgType, m.Text.Content)
	}
	fmt.Println("left:", srv.Window("o-user", kefutest.UserMessage).Left)
	// Output:
	// send: <nil>
	// stranger: true
	// text Hi! See <a href="https://example.com/?a=1&b=2">our shop</a>
	// left: 4
}

func ExampleServer_Advance() {
	srv := kefutest.NewServer()
	defer srv.Close()
	srv.Interact("o-user", kefutest.MenuClick) // 3 messages within 1 minute
	c := srv.Client()
	ctx := context.Background()

	srv.Advance(time.Minute)
	_, err := c.Send(ctx, kefu.NewText("o-user", "too late"))
	fmt.Println(errors.Is(err, kefu.ErrOutsideWindow))

	srv.Interact("o-user", kefutest.Payment) // unlimited messages for 48 hours
	srv.Advance(3 * time.Hour)               // the client's token has expired on the server
	_, err = c.Send(ctx, kefu.NewText("o-user", "thanks for your order"))
	fmt.Println(err, srv.Calls(kefutest.PathStableToken))
	// Output:
	// true
	// <nil> 2
}

func ExampleServer_DropNext() {
	srv := kefutest.NewServer()
	defer srv.Close()
	srv.Interact("o-user", kefutest.UserMessage)

	// WeChat delivers the message, but the answer is lost.
	srv.DropNext(kefutest.PathSend, 1)
	_, err := srv.Client().Send(context.Background(), kefu.NewText("o-user", "hello"))
	fmt.Println(errors.Is(err, kefu.ErrDeliveryUnknown), len(srv.Messages("o-user")))
	// Output:
	// true 1
}

func ExampleServer_FailNext() {
	srv := kefutest.NewServer()
	defer srv.Close()
	srv.Interact("o-user", kefutest.UserMessage)

	srv.FailNext(kefutest.PathSend, 1, -1) // busy once: the client retries
	_, err := srv.Client().Send(context.Background(), kefu.NewText("o-user", "hello"))
	fmt.Println(err, srv.Calls(kefutest.PathSend), len(srv.Messages("o-user")))
	// Output:
	// <nil> 2 1
}
