package callback

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
)

// query holds the parameters WeChat puts on a callback URL.
type query struct {
	signature, timestamp, nonce string
	msgSignature                string
	echostr                     string
	encrypted                   bool // encrypt_type=aes
}

// parseQuery reads the callback parameters from a raw query without
// building a url.Values; values without escapes are substrings of raw.
func parseQuery(raw string) query {
	var q query
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		if strings.ContainsAny(v, "%+") {
			if u, err := url.QueryUnescape(v); err == nil {
				v = u
			}
		}
		switch k {
		case "signature":
			q.signature = v
		case "timestamp":
			q.timestamp = v
		case "nonce":
			q.nonce = v
		case "msg_signature":
			q.msgSignature = v
		case "echostr":
			q.echostr = v
		case "encrypt_type":
			q.encrypted = v == "aes"
		}
	}
	return q
}

// envelope returns the Encrypt field of a request body and whether it has
// one. Only that field of an encrypted body is read: in compatible mode the
// plain copy beside it is not signed.
func envelope(body []byte) ([]byte, bool, error) {
	if !bytes.Contains(body, []byte("Encrypt")) {
		return nil, false, nil // plain, and no need to scan it twice
	}
	if firstByte(body) == '{' {
		var e struct{ Encrypt *string }
		if err := json.Unmarshal(body, &e); err != nil {
			return nil, false, malformed("JSON: %v", err)
		}
		if e.Encrypt == nil {
			return nil, false, nil
		}
		return []byte(*e.Encrypt), true, nil
	}
	var (
		enc   []byte
		found bool
	)
	err := scanXML(body, func(name []byte, v xmlValue) error {
		if string(name) == "Encrypt" && !found {
			enc, found = v.bytes(body), true
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return enc, found, nil
}
