package callback

import (
	"context"
	"errors"
	"testing"
)

// FuzzParseMessage: no input panics the decoder, every failure is
// ErrMalformed, and what parses has its body as Raw.
func FuzzParseMessage(f *testing.F) {
	f.Add([]byte(textMsg(1, "hello")))
	f.Add([]byte(v3Msg))
	f.Add([]byte(v1Msg))
	f.Add([]byte(`<xml><ScanCodeInfo><ScanType>q</ScanType></ScanCodeInfo><Content>a &amp; b<![CDATA[c]]></Content></xml>`))
	f.Add([]byte(`{"MsgId":"12","ScanCodeInfo":{"ScanResult":1}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := ParseMessage(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		if string(m.Raw) != string(body) {
			t.Fatal("Raw is not the body")
		}
		_, _ = m.Action()
		_ = m.DedupKey()
	})
}

// FuzzHandler: any body under valid signatures (msg_signature computed
// over whatever Encrypt the body holds, so the fuzzer reaches decryption and
// parsing) is answered without a panic, with 200 or a 4xx, never a 5xx.
func FuzzHandler(f *testing.F) {
	f.Add([]byte(textMsg(1, "x")))
	f.Add([]byte("<xml><ToUserName>gh</ToUserName><Encrypt>" + v3Encrypt + "</Encrypt></xml>"))
	f.Add([]byte(`{"ToUserName":"gh","Encrypt":"` + v1Encrypt + `"}`))
	f.Add([]byte(`{"MsgType":"text","Content":"hi","MsgId":"5"}`))
	h, err := NewHandler(Config{Token: tToken, AppID: v2AppID, EncodingAESKey: v2Key, Now: fixedNow},
		func(_ context.Context, m *Message) (Reply, error) { return ReplyText("ok"), nil })
	if err != nil {
		f.Fatal(err)
	}
	wc := &wechat{token: tToken, ts: "1714112445", nonce: "7"}
	f.Fuzz(func(t *testing.T, body []byte) {
		q := wc.query()
		if enc, found, err := envelope(body); err == nil && found {
			q.Set("encrypt_type", "aes")
			q.Set("msg_signature", Signature(tToken, wc.ts, wc.nonce, string(enc)))
		}
		w := serve(h, post(q, string(body)))
		if w.Code != 200 && (w.Code < 400 || w.Code > 499) {
			t.Fatalf("status %d for %q", w.Code, body)
		}
	})
}
