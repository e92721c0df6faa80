package kefu

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// fuzzSecret maps fuzz bytes to a secret of 12 to 64 letters of fuzzAlphabet.
func fuzzSecret(bits []byte, pad string) string {
	if len(bits) < 12 {
		bits = append(append([]byte(nil), bits...), pad[:12-len(bits)]...)
	}
	if len(bits) > 64 {
		bits = bits[:64]
	}
	b := make([]byte, len(bits))
	for i, c := range bits {
		b[i] = fuzzAlphabet[int(c)%len(fuzzAlphabet)]
	}
	return string(b)
}

// insertAt returns body with s inserted at offset at (modulo its length + 1).
func insertAt(body []byte, at int, s string) []byte {
	k := at % (len(body) + 1)
	out := make([]byte, 0, len(body)+len(s))
	out = append(out, body[:k]...)
	out = append(out, s...)
	return append(out, body[k:]...)
}

// refAnswer is the reference decoding of a send answer's data.
type refAnswer struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
	MsgID   int64  `json:"msgid"`
}

// wechatCode decodes body as a WeChat answer: its errcode, and whether the
// body is one: valid UTF-8, JSON whose errcode and errmsg decode, with an
// errcode; a success (errcode 0) must decode whole into the send answer.
func wechatCode(body []byte) (int, bool) {
	if !utf8.Valid(body) {
		return 0, false
	}
	var head struct {
		ErrCode *int   `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if json.Unmarshal(body, &head) != nil || head.ErrCode == nil {
		return 0, false
	}
	if *head.ErrCode == 0 && json.Unmarshal(body, new(refAnswer)) != nil {
		return 0, false
	}
	return *head.ErrCode, true
}

// checkClassify checks one classify of a send answer.
func checkClassify(t *testing.T, status int, body []byte, over bool, secrets []string) {
	t.Helper()
	var out Response
	oc, err := classify(&request{path: sendPath, out: &out}, status, body, over, maxAnswer, secrets)
	require.LessOrEqual(t, int(oc), int(outUnknown), "unknown outcome %d", oc)
	code, wechat := wechatCode(body)
	wechat = wechat && !over

	switch oc {
	case outDone:
		require.NoError(t, err)
		require.True(t, wechat, "outDone for an answer that is not WeChat JSON: %q", body)
		require.Zero(t, code, "outDone for errcode %d: %q", code, body)
		require.Zero(t, out.ErrCode)
	case outAPIError:
		var ae *APIError
		require.ErrorAs(t, err, &ae)
		require.True(t, wechat, "an APIError from an answer that is not WeChat JSON: %q", body)
		require.Equal(t, code, ae.Code)
		require.NotZero(t, ae.Code)
		require.Equal(t, sendPath, ae.Path)
		require.False(t, errors.Is(err, ErrDeliveryUnknown), "WeChat answered: the outcome is known")
	default:
		var he *HTTPError
		require.ErrorAs(t, err, &he, "%T", err)
		require.True(t, !wechat, "WeChat JSON %q classified as %d", body, oc)
		require.Equal(t, status, he.StatusCode)
		require.Equal(t, sendPath, he.Path)
		require.NotEmpty(t, he.Problem)
		require.LessOrEqual(t, len(he.Snippet), maxSnippet, "snippet too long: %q", he.Snippet)
		require.True(t, utf8.ValidString(he.Snippet), "snippet not UTF-8: %q", he.Snippet)
		switch {
		case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
			require.Equal(t, outRetryable, oc)
		case status >= 400 && status < 500 || isRedirect(status):
			require.Equal(t, outNotProcessed, oc)
		default:
			require.Equal(t, outUnknown, oc)
		}
		require.Equal(t, oc == outUnknown, he.MaybeDelivered)
		require.Equal(t, oc == outUnknown, errors.Is(err, ErrDeliveryUnknown))
	}
	if wechat {
		if code == 0 {
			require.Equal(t, outDone, oc, "WeChat's success %q not recognised", body)
		} else {
			require.Equal(t, outAPIError, oc, "WeChat's errcode %d in %q not recognised", code, body)
		}
	}
	if err != nil {
		checkNoSecret(t, err, secrets)
	}
}

// fuzzStatuses are the statuses every fuzzed body is also classified with.
var fuzzStatuses = []int{200, 429, 503, 404, 502, 307}

// FuzzClassify feeds arbitrary answers and statuses to classify (after
// inserting a token and a secret into them) and to readAnswer, and checks
// that nothing panics and that the outcome is consistent: outDone only for
// WeChat JSON with errcode 0, an *APIError only for WeChat JSON with another
// errcode, otherwise an *HTTPError whose outcome follows the status, whose
// snippet is short, and whose text holds neither the token nor the secret.
func FuzzClassify(f *testing.F) {
	seeds := []string{
		okAnswer,
		`{"errcode":0,"errmsg":"ok","msgid":1234567890123}`,
		`{"errcode":-1,"errmsg":"system error rid: 6540f3a8-1b2c3d4e-5f6a7b8c"}`,
		`{"errcode":40001,"errmsg":"invalid credential, access_token is invalid or not latest rid: 6540f3a8-1b2c3d4e-5f6a7b8c"}`,
		`{"errcode":45015,"errmsg":"response out of time limit or subscription is canceled rid: 6540f3a8-1b2c3d4e-5f6a7b8c"}`,
		`{"errcode":45047,"errmsg":"out of response count limit hint: [Aa1Bb2Cc3]"}`,
		`{"errcode":40164,"errmsg":"invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist rid: 1-2-3"}`,
		`{"errcode":40033,"errmsg":"invalid charset. please check your request, if include \\uxxxx will create fail! rid: 1"}`,
		`{"errcode":40125,"errmsg":"invalid appsecret, view more at http://t.cn/x?secret=S3CR3T&access_token=T0K3N rid: 2"}`,
		`{"access_token":"ACCESS_TOKEN","expires_in":7200}`,
		`{"errcode":0,"errmsg":"ok","access_token":"T","secret":"S"}`,
		"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
		`{"errcode":0,"errm`,
		`{"code":0,"message":"success"}`,
		`{"errcode":"0","errmsg":"ok"}`,
		`{"ERRCODE":0}`,
		`{"errcode":null}`,
		`{"errcode":-2147483648,"errmsg":"x"}`,
		"{\"errcode\":0,\"errmsg\":\"ok \xff\xfe\"}",
		`{"errcode":0,"errmsg":"\ud800 \u2028"}`,
		"null", "[]", "0", "", " ", "404 page not found\n",
		`GET /cgi-bin/message/custom/send?access_token=ACCESS_TOKEN HTTP/1.1`,
		strings.Repeat("é", 200),
	}
	for i, s := range seeds {
		f.Add([]byte(s), fuzzStatuses[i%len(fuzzStatuses)], uint16(i*37), []byte("token"), []byte("secret"))
	}
	f.Add([]byte(`{"errcode":40001,"errmsg":"x"}`), 200, uint16(25), []byte("AAAAAAAAAAAAAAAAAAAA"), []byte("B"))

	f.Fuzz(func(t *testing.T, body []byte, status int, at uint16, tokBits, secBits []byte) {
		// Each input runs classify a dozen times; large answers (the 1 MiB
		// cap and beyond) are TestOverlongAnswerIsBounded's and the fault
		// matrix's. Keeping inputs small keeps every execution short, so a
		// run never overshoots -fuzztime.
		if len(body) > 16<<10 {
			return
		}
		tok := fuzzSecret(tokBits, "tokentokentoken")
		sec := fuzzSecret(secBits, "secretsecretsecret")
		secrets := []string{tok, sec}
		withSecrets := insertAt(insertAt(body, int(at), tok), int(at)/7, sec)

		for _, b := range [][]byte{body, withSecrets} {
			checkClassify(t, status, b, false, secrets)
			for _, s := range fuzzStatuses {
				checkClassify(t, s, b, false, secrets)
			}
			checkClassify(t, status, b, true, secrets)

			// The token endpoints' answer: no panic, no secret in the error.
			var ta tokenAnswer
			tr := &request{path: stableTokenPath, out: &ta, hasData: func() bool { return ta.AccessToken != "" }}
			if _, err := classify(tr, status, b, false, maxAnswer, secrets); err != nil {
				checkNoSecret(t, err, secrets)
			}

			checkReadAnswer(t, bytes.NewReader(b), func() []byte { return b }, len(b))
			checkReadAnswer(t, iotest.OneByteReader(bytes.NewReader(b)), func() []byte { return b }, len(b))
		}

	})
}
