package kefutest_test

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu/callback"
	"github.com/kefu-go/kefu/kefutest"
)

// captured is one request the fake POSTed to a raw service.
type captured struct {
	query url.Values
	ctype string
	body  []byte
}

// recorder is a raw callback service that keeps every request and answers
// with answer (nil: "success").
type recorder struct {
	mu     sync.Mutex
	got    []captured
	answer func(w http.ResponseWriter, r *http.Request)
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.got = append(rec.got, captured{r.URL.Query(), r.Header.Get("Content-Type"), body})
	rec.mu.Unlock()
	if rec.answer != nil {
		rec.answer(w, r)
		return
	}
	w.Write([]byte("success"))
}

func (rec *recorder) requests() []captured {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]captured(nil), rec.got...)
}

// elements returns the names of the root's children of an XML body, in
// order, and their text.
func elements(t *testing.T, body []byte) ([]string, map[string]string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(string(body)))
	var names []string
	vals := map[string]string{}
	depth := 0
	var name string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		switch tk := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 {
				name = tk.Name.Local
				names = append(names, name)
			}
		case xml.CharData:
			if depth == 2 {
				vals[name] += string(tk)
			}
		case xml.EndElement:
			depth--
		}
	}
	return names, vals
}

// TestPushRequest checks the exact request the fake sends in each mode:
// the query, its signatures, and the body's fields.
func TestPushRequest(t *testing.T) {
	t.Parallel()
	crypter, err := callback.NewCrypter(cbToken, cbKey, cbAppID)
	require.NoError(t, err)
	plainFields := []string{"ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId"}
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			srv := pushServer(t, serve(t, rec)+"?tenant=a", mode)
			res, err := srv.Say("o-user", "你好 <b>")
			require.NoError(t, err)
			require.False(t, res.Unavailable, "%v", res.Err)
			got := rec.requests()
			require.Len(t, got, 1)
			req := got[0]
			q := req.query
			assert.Equal(t, "text/xml", req.ctype)
			assert.Equal(t, "a", q.Get("tenant"), "the callback URL's own query is kept")
			ts, nonce := q.Get("timestamp"), q.Get("nonce")
			assert.Equal(t, strconv.FormatInt(start.Unix(), 10), ts)
			assert.Regexp(t, `^\d+$`, nonce)
			assert.Equal(t, callback.Signature(cbToken, ts, nonce), q.Get("signature"))
			assert.Equal(t, "o-user", q.Get("openid"))

			names, vals := elements(t, req.body)
			plain := req.body
			if mode == kefutest.ModePlain {
				assert.NotContains(t, q, "encrypt_type")
				assert.NotContains(t, q, "msg_signature")
				assert.Equal(t, plainFields, names)
			} else {
				assert.Equal(t, "aes", q.Get("encrypt_type"))
				enc := vals["Encrypt"]
				assert.Equal(t, callback.Signature(cbToken, ts, nonce, enc), q.Get("msg_signature"))
				plain, err = crypter.Decrypt(q.Get("msg_signature"), ts, nonce, enc)
				require.NoError(t, err)
				if mode == kefutest.ModeSafe {
					assert.Equal(t, []string{"ToUserName", "Encrypt"}, names)
				} else {
					assert.Equal(t, append(plainFields, "Encrypt"), names)
					assert.Equal(t, "你好 <b>", vals["Content"])
				}
			}
			assert.Equal(t, srv.OriginalID, vals["ToUserName"])
			assert.Equal(t, res.Message.Raw, plain)
			m, err := callback.ParseMessage(plain)
			require.NoError(t, err)
			assert.Equal(t, "o-user", m.FromUserName)
			assert.Equal(t, "你好 <b>", m.Content)
			assert.Equal(t, start.Unix(), m.CreateTime)
			assert.Equal(t, res.Message.MsgID, m.MsgID)
		})
	}
}

// TestPushRetries: with no answer in time the fake POSTs the same body
// again, three times in all, each with a fresh nonce and signatures.
func TestPushRetries(t *testing.T) {
	t.Parallel()
	for _, mode := range []kefutest.CallbackMode{kefutest.ModePlain, kefutest.ModeSafe} {
		rec := &recorder{answer: func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }}
		srv := pushServer(t, serve(t, rec), mode, kefutest.WithCallbackTimeout(20*time.Millisecond))
		res, err := srv.PushFollow("o1", "7")
		require.NoError(t, err)
		assert.True(t, res.Unavailable)
		require.Len(t, res.Attempts, 3, mode)
		for _, a := range res.Attempts {
			assert.True(t, a.TimedOut, mode)
		}
		// What reached the service: a POST the fake gave up on before the
		// server ran its handler (a loaded machine, -race) is not recorded.
		got := rec.requests()
		require.NotEmpty(t, got, mode)
		nonces := map[string]bool{}
		for _, req := range got {
			assert.Equal(t, got[0].body, req.body, "%v: the same body each time", mode)
			q := req.query
			nonces[q.Get("nonce")] = true
			assert.Equal(t, callback.Signature(cbToken, q.Get("timestamp"), q.Get("nonce")), q.Get("signature"))
			if mode == kefutest.ModeSafe {
				_, vals := elements(t, req.body)
				assert.Equal(t, callback.Signature(cbToken, q.Get("timestamp"), q.Get("nonce"), vals["Encrypt"]), q.Get("msg_signature"))
			}
		}
		assert.Len(t, nonces, len(got), "%v: a fresh nonce per POST", mode)
	}
}

// TestPushXML: the XML of events and of the message types with numbers.
func TestPushXML(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	srv := pushServer(t, serve(t, rec), kefutest.ModePlain)
	_, err := srv.PushFollow("o1", "")
	require.NoError(t, err)
	_, err = srv.PushLocation("o1", 0, 113.5, 15, "here")
	require.NoError(t, err)
	_, err = srv.Push(&callback.Message{FromUserName: "o1", MsgType: "event", Event: callback.EventScancodeWaitmsg,
		EventKey: "k", ScanType: "qrcode", ScanResult: "r]]>x"})
	require.NoError(t, err)
	got := rec.requests()
	require.Len(t, got, 3)
	names, vals := elements(t, got[0].body)
	assert.Equal(t, []string{"ToUserName", "FromUserName", "CreateTime", "MsgType", "Event"}, names, "an event has no MsgId")
	assert.Equal(t, "subscribe", vals["Event"])
	assert.Contains(t, string(got[1].body), "<Location_X>0</Location_X><Location_Y>113.5</Location_Y><Scale>15</Scale>")
	m, err := callback.ParseMessage(got[2].body)
	require.NoError(t, err)
	assert.Equal(t, "r]]>x", m.ScanResult)
	assert.Contains(t, string(got[2].body), "<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>")
}
