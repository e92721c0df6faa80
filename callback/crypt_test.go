package callback

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The vectors of ../shared/wechat-api.md §7.
const (
	v1Token     = "AAAAA"
	v1Key       = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	v1AppID     = "wxba5fad812f8e6fb9"
	v1Timestamp = "1714112445"
	v1Nonce     = "415670741"
	v1Signature = "6c5c811b55cc85e0e1b54100749188c20beb3f5d"
	v1MsgSig    = "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"
	v1Encrypt   = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04="
	v1Msg       = `{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}`
	v1Random    = "a8eedb185eb2fecf"

	v1ReplyRandom = "707722b803182950"
	v1ReplyMsg    = `{"demo_resp":"good luck"}`
	v1ReplyTS     = "1713424427"
	v1ReplyEnc    = "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ=="
	v1ReplySig    = "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"

	v2Key    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	v2AppID  = "wxb11529c136998cb6"
	v2Random = "aaaabbbbccccdddd"
	v2Msg    = "我是中文abcd123"
	v2Enc    = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="

	v3Token     = "pamtest"
	v3Timestamp = "1458300676"
	v3Nonce     = "260774613"
	v3MsgSig    = "4f3ad57b6989f09f4eb392acce4f9e93942ed890"
	v3Encrypt   = "rTNFcsut4LfGuAFKEUVVpwcaCOTJzOd9twZdIW910jb3k+iicx2uvhttIZ3Qg9Qgty3BEF2xbOrz6boTfb30dMomcgrkTqdFPwnhqbk+kIQ7rZiwny9D7NUrTgA5kpX3KsZvrXzUZyP2x9YOlxbgm572lmxKvM7HAQQhIQ/p6HBmoY30bGXFK0BtIu1pW9TjhOYrLQoU18nWYjWqDA1ynkmOytpv7QRI1P1+0NoxL0q2zO1DgeSvnE8CZGo/o5Ap/WHK5W2RAsinpzN4/LjPnmB6U01I5XCoJoC0GK/yMZycd2Oh8Nq6+wBkC1U85oy0ktOY4nLvsQMLrourmMGdZHuTbqpeJ8Ao/5PRYJ+WBvRUwPfGKBL2+2IKZF49vAJqkcGWSHGE76ZN2erXeuNazf/o9o3lIE3q739o4c8t9QGPe31GT2Go/rOz1BsrASwvauNulCh+++yz+CQzBIuikA=="
	v3Msg       = `<xml><URL><![CDATA[http://wechat.laravel.so/server]]></URL><ToUserName><![CDATA[asdasdasd]]></ToUserName><FromUserName><![CDATA[asdasdasdsadasd]]></FromUserName><CreateTime>1234567898</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content><MsgId>12345</MsgId></xml>`
	v3Random    = "d43123b161a4ba84"
)

func random16(s string) (r [16]byte) { copy(r[:], s); return r }

func TestSignature(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "f464b24fc39322e44b38aa78f5edd27bd1441696", Signature("AAAAA", "1714036504", "1514711492"))
	assert.Equal(t, v1Signature, Signature(v1Token, v1Timestamp, v1Nonce))
	assert.Equal(t, v1MsgSig, Signature(v1Token, v1Timestamp, v1Nonce, v1Encrypt))
	assert.Equal(t, v3MsgSig, Signature(v3Token, v3Timestamp, v3Nonce, v3Encrypt))
	assert.Equal(t, v1ReplySig, Signature(v1Token, v1ReplyTS, v1Nonce, v1ReplyEnc))
	// More than one extra part: still the sorted concatenation.
	assert.Equal(t, Signature("a", "b", "c", "d"), Signature("d", "c", "b", "a"))
	assert.NotEqual(t, Signature("a", "b", "c", "d", "e"), Signature("a", "b", "c", "d"))
}

func TestVectorsDecrypt(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, token, key, appID, ts, nonce, sig, enc, msg, random string
		pad                                                       int
	}{
		{"V1 safe JSON", v1Token, v1Key, v1AppID, v1Timestamp, v1Nonce, v1MsgSig, v1Encrypt, v1Msg, v1Random, 19},
		{"V1 reply", v1Token, v1Key, v1AppID, v1ReplyTS, v1Nonce, v1ReplySig, v1ReplyEnc, v1ReplyMsg, v1ReplyRandom, 0},
		{"V3 XML", v3Token, v2Key, v2AppID, v3Timestamp, v3Nonce, v3MsgSig, v3Encrypt, v3Msg, v3Random, 21},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCrypter(tc.token, tc.key, tc.appID)
			require.NoError(t, err)
			msg, err := c.Decrypt(tc.sig, tc.ts, tc.nonce, tc.enc)
			require.NoError(t, err)
			assert.Equal(t, tc.msg, string(msg))

			// Re-encrypting with the recovered random gives the same bytes.
			_, random, err := c.open([]byte(tc.enc))
			require.NoError(t, err)
			assert.Equal(t, tc.random, string(random[:]))
			assert.Equal(t, tc.enc, string(c.seal(nil, random, msg)))
			if tc.pad > 0 {
				assert.Equal(t, tc.pad, padOf(t, c, tc.enc))
			}
		})
	}
}

func TestVectorV2Encrypt(t *testing.T) {
	t.Parallel()
	c, err := NewCrypter("any", v2Key, v2AppID)
	require.NoError(t, err)
	got := c.seal(nil, random16(v2Random), []byte(v2Msg))
	assert.Equal(t, v2Enc, string(got))
	assert.Equal(t, 7, padOf(t, c, v2Enc))

	// Encrypt: a fresh random each time, and its own signature.
	enc, sig, err := c.Encrypt([]byte(v2Msg), "1", "2")
	require.NoError(t, err)
	assert.NotEqual(t, v2Enc, enc)
	assert.Equal(t, Signature("any", "1", "2", enc), sig)
	back, err := c.Decrypt(sig, "1", "2", enc)
	require.NoError(t, err)
	assert.Equal(t, v2Msg, string(back))
}

// padOf decrypts enc and returns its PKCS#7 pad length.
func padOf(t *testing.T, c *Crypter, enc string) int {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(enc)
	require.NoError(t, err)
	c.decryptBlocks(raw)
	return int(raw[len(raw)-1])
}

// reseal encrypts a raw plaintext (already padded or not) for tests that
// build broken ciphertexts.
func reseal(c *Crypter, plain []byte) string {
	buf := append([]byte(nil), plain...)
	c.encryptBlocks(buf)
	return base64.StdEncoding.EncodeToString(buf)
}

func TestDecryptRefuses(t *testing.T) {
	t.Parallel()
	c, err := NewCrypter(v3Token, v2Key, v2AppID)
	require.NoError(t, err)
	valid := func(enc string) (string, string) { return Signature(v3Token, v3Timestamp, v3Nonce, enc), enc }
	raw, _ := base64.StdEncoding.DecodeString(v3Encrypt)
	c.decryptBlocks(raw) // the padded plaintext of V3

	flipped, _ := base64.StdEncoding.DecodeString(v3Encrypt)
	flipped[len(flipped)-17] ^= 1 // CBC: flips the last byte of the plaintext, its pad

	withPad := func(pad byte) string {
		p := append([]byte(nil), raw[:len(raw)-32]...)
		for i := 0; i < 32; i++ {
			p = append(p, pad)
		}
		return reseal(c, p)
	}
	other, err := NewCrypter(v3Token, v2Key, "wx0000000000000000")
	require.NoError(t, err)
	_, otherEnc, _ := func() (string, string, error) {
		e, s, err := other.Encrypt([]byte("<xml/>"), v3Timestamp, v3Nonce)
		return s, e, err
	}()

	cases := []struct {
		name    string
		sig     string
		enc     string
		wantErr error
	}{
		{"flipped ciphertext byte, resigned", "", base64.StdEncoding.EncodeToString(flipped), ErrMalformed},
		{"flipped ciphertext byte", v3MsgSig, base64.StdEncoding.EncodeToString(flipped), ErrBadSignature},
		{"wrong appid", "", otherEnc, ErrWrongAppID},
		{"pad 0", "", withPad(0), ErrMalformed},
		{"pad 33", "", withPad(33), ErrMalformed},
		{"truncated base64", "", v3Encrypt[:len(v3Encrypt)-5], ErrMalformed},
		{"not whole blocks", "", base64.StdEncoding.EncodeToString(raw[:40]), ErrMalformed},
		{"wrong token", Signature("other", v3Timestamp, v3Nonce, v3Encrypt), v3Encrypt, ErrBadSignature},
		{"signature of another body", v3MsgSig, v1Encrypt, ErrBadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sig, enc := valid(tc.enc)
			if tc.sig != "" {
				sig = tc.sig
			}
			_, err := c.Decrypt(sig, v3Timestamp, v3Nonce, enc)
			require.Error(t, err)
			assert.True(t, errors.Is(err, tc.wantErr), "%v", err)
		})
	}
}

func TestPadAbove16RoundTrips(t *testing.T) {
	t.Parallel()
	c, err := NewCrypter("t", v2Key, v2AppID)
	require.NoError(t, err)
	for n := 0; n < 70; n++ {
		msg := []byte(strings.Repeat("x", n))
		enc := c.seal(nil, random16("0123456789abcdef"), msg)
		pad := padOf(t, c, string(enc))
		assert.Equal(t, 32-(20+n+len(v2AppID))%32, pad, "length %d", n)
		got, _, err := c.open(enc)
		require.NoError(t, err)
		assert.Equal(t, msg, got)
	}
}

func TestNewCrypterRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ token, key, appID, want string }{
		{"", v2Key, v2AppID, "Token"},
		{"t", v2Key, "", "AppID"},
		{"t", v2Key[:42], v2AppID, "43 characters"},
		{"t", v2Key[:42] + "!", v2AppID, "letters and digits"},
	} {
		_, err := NewCrypter(tc.token, tc.key, tc.appID)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
		assert.NotContains(t, err.Error(), v2Key[:20])
	}
}
