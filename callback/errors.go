package callback

import "errors"

// Sentinels for what a callback request can fail on; the handler answers
// them with 403 (ErrBadSignature, ErrWrongAppID) or 400 (ErrMalformed).
var (
	// ErrBadSignature: signature or msg_signature does not match the
	// request; it did not come from WeChat, or the Token is wrong.
	ErrBadSignature = errors.New("callback: bad signature")
	// ErrWrongAppID: the decrypted message ends with another account's appid.
	ErrWrongAppID = errors.New("callback: wrong appid")
	// ErrMalformed: the body cannot be read as a WeChat callback (not XML or
	// JSON, bad base64, bad padding, bad lengths, bad field values).
	ErrMalformed = errors.New("callback: malformed request")
)
