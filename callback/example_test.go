package callback_test

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/kefu-go/kefu/callback"
	"github.com/kefu-go/kefu/kefutest"
)

// A handler answering text with a passive reply, with kefutest playing
// WeChat and a user in safe mode (signed and encrypted).
func ExampleNewHandler() {
	const token, aesKey = "exampleToken", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	wechat := kefutest.NewServer(kefutest.WithCallback("http://"+ln.Addr().String(), token, aesKey, kefutest.ModeSafe))
	defer wechat.Close()

	h, err := callback.NewHandler(callback.Config{Token: token, AppID: wechat.AppID, EncodingAESKey: aesKey},
		func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
			if m.MsgType == callback.MsgTypeText {
				return callback.ReplyText("you said: " + m.Content), nil
			}
			return nil, nil // "success"
		})
	if err != nil {
		fmt.Println(err)
		return
	}
	web := &http.Server{Handler: h}
	go web.Serve(ln)
	defer web.Close()

	res, err := wechat.Say("o-user", "你好")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Reply.Message.Text.Content, res.Reply.Encrypted, res.Unavailable)
	// Output: you said: 你好 true false
}

// Building and checking a callback by hand, as WeChat does.
func ExampleCrypter() {
	c, err := callback.NewCrypter("token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wxb11529c136998cb6")
	if err != nil {
		fmt.Println(err)
		return
	}
	enc, sig, _ := c.Encrypt([]byte("<xml><Content>hi</Content></xml>"), "1714112445", "42")
	plain, err := c.Decrypt(sig, "1714112445", "42", enc)
	fmt.Println(string(plain), err)
	_, err = c.Decrypt(sig, "1714112445", "43", enc)
	fmt.Println(err)
	// Output:
	// <xml><Content>hi</Content></xml> <nil>
	// callback: bad signature: msg_signature does not match the Encrypt field
}
