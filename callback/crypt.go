package callback

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
)

// blockPad is WeChat's PKCS#7 block: pads run 1..32 (not AES's 16).
const blockPad = 32

// Signature returns WeChat's signature over token, timestamp, nonce and any
// more strings (the Encrypt field, for msg_signature): the lowercase hex SHA-1
// of their concatenation in plain string order.
func Signature(token, timestamp, nonce string, more ...string) string {
	if len(more) <= 1 {
		var d []byte
		if len(more) == 1 {
			d = []byte(more[0])
		}
		h := signatureHex(token, timestamp, nonce, d)
		return string(h[:])
	}
	parts := append([]string{token, timestamp, nonce}, more...)
	sort.Strings(parts)
	h := sha1.New()
	for _, p := range parts {
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// signature4 hashes a, b, c and d concatenated in sorted order (an empty d
// adds nothing: the signature over three parts); for the common sizes
// without allocating.
func signature4(a, b, c string, d []byte) [sha1.Size]byte {
	p := [3]string{a, b, c}
	for i := 1; i < 3; i++ {
		for j := i; j > 0 && p[j] < p[j-1]; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
	var stack [1024]byte
	buf := stack[:0]
	placed := false
	for _, s := range p {
		if !placed && string(d) < s {
			buf, placed = append(buf, d...), true
		}
		buf = append(buf, s...)
	}
	if !placed {
		buf = append(buf, d...)
	}
	return sha1.Sum(buf)
}

// signatureHex is signature4 in hex, as WeChat writes signatures.
func signatureHex(a, b, c string, d []byte) (h [2 * sha1.Size]byte) {
	sum := signature4(a, b, c, d)
	hex.Encode(h[:], sum[:])
	return h
}

// validSignature compares got with the signature over the parts in constant
// time.
func validSignature(got string, token, timestamp, nonce string, encrypt []byte) bool {
	want := signatureHex(token, timestamp, nonce, encrypt)
	return subtle.ConstantTimeCompare([]byte(got), want[:]) == 1
}

// Crypter encrypts and decrypts WeChat's callback bodies (AES-256-CBC with
// the IV taken from the key, 32-byte PKCS#7 padding, a 16-byte random prefix,
// the message length and the appid trailer) and signs them. It is safe for
// concurrent use.
type Crypter struct {
	token string
	appID string
	key   []byte
	block cipher.Block
}

// NewCrypter returns a Crypter for an account's Token, EncodingAESKey (43
// characters of [A-Za-z0-9]) and AppID. A bad key or an empty token or appid
// is an error naming the field.
func NewCrypter(token, encodingAESKey, appID string) (*Crypter, error) {
	if token == "" {
		return nil, errors.New("callback: Token is required")
	}
	if appID == "" {
		return nil, errors.New("callback: AppID is required with an EncodingAESKey")
	}
	key, err := aesKey(encodingAESKey)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("callback: EncodingAESKey: %v", err)
	}
	return &Crypter{token: token, appID: appID, key: key, block: block}, nil
}

// aesKey decodes an EncodingAESKey. Standard (not strict) base64: real keys
// have non-zero trailing bits.
func aesKey(k string) ([]byte, error) {
	if len(k) != 43 {
		return nil, fmt.Errorf("callback: EncodingAESKey must be 43 characters, got %d", len(k))
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return nil, errors.New("callback: EncodingAESKey must hold only letters and digits")
		}
	}
	key, err := base64.StdEncoding.DecodeString(k + "=")
	if err != nil || len(key) != 32 {
		return nil, errors.New("callback: EncodingAESKey is not valid base64 of 32 bytes")
	}
	return key, nil
}

// Decrypt checks msgSignature over the timestamp, nonce and encrypted text,
// then decrypts it and returns the message. A signature mismatch matches
// ErrBadSignature (nothing is decrypted), a ciphertext that does not decrypt
// to a well-formed message ErrMalformed, and another account's appid trailer
// ErrWrongAppID.
func (c *Crypter) Decrypt(msgSignature, timestamp, nonce, encrypted string) ([]byte, error) {
	if !validSignature(msgSignature, c.token, timestamp, nonce, []byte(encrypted)) {
		return nil, fmt.Errorf("%w: msg_signature does not match the Encrypt field", ErrBadSignature)
	}
	msg, _, err := c.open([]byte(encrypted))
	return msg, err
}

// Encrypt encrypts plaintext as WeChat's reply to a request with this
// timestamp and nonce, and returns the Encrypt field and its MsgSignature.
func (c *Crypter) Encrypt(plaintext []byte, timestamp, nonce string) (encrypted, msgSignature string, err error) {
	var random [16]byte
	randomPrefix(&random)
	enc := c.seal(nil, random, plaintext)
	encrypted = string(enc)
	return encrypted, Signature(c.token, timestamp, nonce, encrypted), nil
}

// open decrypts base64 ciphertext and returns the message (a slice of a
// fresh buffer, which the caller may keep) and the 16-byte random prefix.
func (c *Crypter) open(b64 []byte) (msg []byte, random [16]byte, err error) {
	dst := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
	n, err := base64.StdEncoding.Decode(dst, b64)
	if err != nil {
		return nil, random, fmt.Errorf("%w: Encrypt is not base64", ErrMalformed)
	}
	buf := dst[:n]
	if len(buf) < blockPad || len(buf)%aes.BlockSize != 0 {
		return nil, random, fmt.Errorf("%w: ciphertext of %d bytes is not whole AES blocks", ErrMalformed, len(buf))
	}
	c.decryptBlocks(buf)
	pad := int(buf[len(buf)-1])
	if pad < 1 || pad > blockPad || pad > len(buf) {
		return nil, random, fmt.Errorf("%w: bad padding", ErrMalformed)
	}
	for _, p := range buf[len(buf)-pad:] { // not secret: WeChat signed the ciphertext
		if int(p) != pad {
			return nil, random, fmt.Errorf("%w: bad padding", ErrMalformed)
		}
	}
	buf = buf[:len(buf)-pad]
	if len(buf) < 20 {
		return nil, random, fmt.Errorf("%w: plaintext too short", ErrMalformed)
	}
	copy(random[:], buf[:16])
	size := binary.BigEndian.Uint32(buf[16:20])
	rest := buf[20:]
	if uint64(size) > uint64(len(rest)) {
		return nil, random, fmt.Errorf("%w: message length %d exceeds the plaintext", ErrMalformed, size)
	}
	msg, appID := rest[:size], rest[size:]
	if subtle.ConstantTimeCompare(appID, []byte(c.appID)) != 1 {
		return nil, random, fmt.Errorf("%w: the message is for appid %s", ErrWrongAppID, strconv.Quote(string(appID)))
	}
	return msg, random, nil
}

// seal appends the base64 ciphertext of msg, with this random prefix, to dst.
func (c *Crypter) seal(dst []byte, random [16]byte, msg []byte) []byte {
	size := 20 + len(msg) + len(c.appID)
	pad := blockPad - size%blockPad
	plain := make([]byte, 0, size+pad)
	plain = append(plain, random[:]...)
	plain = binary.BigEndian.AppendUint32(plain, uint32(len(msg)))
	plain = append(plain, msg...)
	plain = append(plain, c.appID...)
	for range pad {
		plain = append(plain, byte(pad))
	}
	c.encryptBlocks(plain)
	return base64.StdEncoding.AppendEncode(dst, plain)
}

// randomPrefix fills the 16 random bytes that start a plaintext. crypto/rand
// does not fail on the platforms Go supports (Go 1.24 made that a promise).
func randomPrefix(r *[16]byte) {
	if _, err := rand.Read(r[:]); err != nil {
		panic("callback: crypto/rand: " + err.Error())
	}
}

// decryptBlocks and encryptBlocks run AES-256-CBC in place over whole
// blocks, with the IV taken from the key.
func (c *Crypter) decryptBlocks(b []byte) {
	cipher.NewCBCDecrypter(c.block, c.key[:aes.BlockSize]).CryptBlocks(b, b)
}

func (c *Crypter) encryptBlocks(b []byte) {
	cipher.NewCBCEncrypter(c.block, c.key[:aes.BlockSize]).CryptBlocks(b, b)
}
