package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/callback"
	"github.com/kefu-go/kefu/kefutest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRun: the demo's conversation, as `go run ./examples/echo` prints it.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(&out))
	assert.Equal(t, `alice: (subscribe)
  passive reply: Welcome! Ask me anything.
alice: hello
  passive reply: echo: hello
bob: what is the answer?
  sent later:    You asked what is the answer? The answer is 42.
bob can still be sent 4 messages
`, out.String())
}

// TestEndToEnd drives the service through kefutest in every callback
// mode: a passive reply reaches the user and spends no quota; a question
// is answered later with the send API, inside the window the message
// opened.
func TestEndToEnd(t *testing.T) {
	for _, mode := range []kefutest.CallbackMode{kefutest.ModePlain, kefutest.ModeCompatible, kefutest.ModeSafe} {
		t.Run(mode.String(), func(t *testing.T) {
			front := httptest.NewUnstartedServer(nil)
			wechat := kefutest.NewServer(kefutest.WithFrozenClock(time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)),
				kefutest.WithCallback("http://"+front.Listener.Addr().String()+"/", token, aesKey, mode))
			defer wechat.Close()
			windows := kefu.NewWindowTracker(nil, kefu.WithTrackerClock(wechat.Now))
			svc, err := NewService(callback.Config{Token: token, AppID: wechat.AppID, EncodingAESKey: aesKey, Windows: windows},
				wechat.Client(kefu.WithWindows(windows)))
			require.NoError(t, err)
			front.Config.Handler = svc.Handler
			front.Start()
			defer front.Close()

			res, err := wechat.Say("carol", "hi there")
			require.NoError(t, err)
			require.False(t, res.Unavailable, "%v", res.Err)
			require.NotNil(t, res.Reply)
			assert.Equal(t, mode != kefutest.ModePlain, res.Reply.Encrypted)
			assert.Equal(t, "echo: hi there", res.Reply.Message.Text.Content)
			assert.Equal(t, 5, wechat.Window("carol", kefutest.UserMessage).Left, "a passive reply spends no quota")

			res, err = wechat.Say("carol", "why?")
			require.NoError(t, err)
			assert.Nil(t, res.Reply)
			require.NoError(t, svc.Close(context.Background()))
			msgs := wechat.Messages("carol")
			require.Len(t, msgs, 2)
			assert.Equal(t, "You asked why? The answer is 42.", msgs[1].Text.Content)
			assert.Equal(t, 4, wechat.Window("carol", kefutest.UserMessage).Left, "the later answer is a customer-service message")
		})
	}
}
