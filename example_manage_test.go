package kefu_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

func ExampleClient_UploadMedia() {
	srv := kefutest.NewServer()
	defer srv.Close()
	srv.Interact("o-user", kefutest.UserMessage)
	c := srv.Client()
	ctx := context.Background()

	// Any io.Reader; an *os.File, *bytes.Reader or *strings.Reader is
	// size-checked before sending and rewound for a retry.
	m, err := c.UploadMedia(ctx, kefu.MediaImage, "menu.png", strings.NewReader("...png bytes..."))
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = c.Send(ctx, kefu.NewImage("o-user", m.MediaID))
	fmt.Println(m.Type, err)

	_, err = c.UploadMedia(ctx, kefu.MediaThumb, "cover.png", strings.NewReader("..."))
	fmt.Println(errors.Is(err, kefu.ErrInvalidMessage), err)
	// Output:
	// image <nil>
	// true kefu: invalid message: media: file type must be one of .jpg, .jpeg (by the filename's extension)
}

func ExampleClient_OpenSession() {
	srv := kefutest.NewServer()
	defer srv.Close()
	srv.AddWaiting("o-user") // the user asked for a human
	c := srv.Client()
	ctx := context.Background()

	if err := c.AddAccount(ctx, kefu.Account{KfAccount: "alice@shop", Nickname: "Alice"}); err != nil {
		fmt.Println(err)
		return
	}
	err := c.OpenSession(ctx, "alice@shop", "o-user")
	fmt.Println(errors.Is(err, kefu.ErrWorkerNotBound))

	srv.SetOnline("alice@shop", true) // Alice's worker logs in
	waiting, _ := c.WaitingSessions(ctx)
	fmt.Println("waiting:", waiting.Count)
	fmt.Println(c.OpenSession(ctx, "alice@shop", "o-user"))
	s, _ := c.Session(ctx, "o-user")
	fmt.Println(s.KfAccount)
	// Output:
	// true
	// waiting: 1
	// <nil>
	// alice@shop
}

func ExampleClient_Records() {
	srv := kefutest.NewServer()
	defer srv.Close()
	srv.Interact("o-user", kefutest.UserMessage)
	c := srv.Client()
	ctx := context.Background()
	c.Send(ctx, kefu.NewText("o-user", "Your order has shipped").From("alice@shop"))

	// Any span: Records splits it into 24-hour windows and pages through
	// each, one request per 10,000 records, as the loop asks for them.
	to := srv.Now().Add(time.Minute)
	for rec, err := range c.Records(ctx, to.Add(-72*time.Hour), to) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(rec.OperCode == kefu.OperSent, rec.Worker, rec.Text)
	}
	fmt.Println("requests:", srv.Calls(kefutest.PathMsgRecords))
	// Output:
	// true alice@shop Your order has shipped
	// requests: 3
}
