package kefutest

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// reply is one HTTP answer.
type reply struct {
	status      int
	contentType string
	body        []byte
}

const contentJSON = "application/json; charset=utf-8"

func (r reply) write(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", r.contentType)
	h.Set("Content-Length", strconv.Itoa(len(r.body)))
	w.WriteHeader(r.status)
	w.Write(r.body)
}

// jsonReply answers v as JSON, HTTP 200, without HTML escaping.
func jsonReply(v any) reply {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("kefutest: encoding an answer: " + err.Error()) // our own types: cannot happen
	}
	return reply{status: http.StatusOK, contentType: contentJSON, body: bytes.TrimSuffix(b.Bytes(), []byte("\n"))}
}

// wechatAnswer is WeChat's in-band status.
type wechatAnswer struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// okReply is WeChat's success: {"errcode":0,"errmsg":"ok"}.
func okReply() reply { return jsonReply(wechatAnswer{0, "ok"}) }

// errReply answers errcode code with WeChat's English errmsg and a fresh rid
// suffix. Code 0 is the success answer.
func errReply(code int) reply {
	if code == 0 {
		return okReply()
	}
	return jsonReply(wechatAnswer{code, errmsg(code) + " rid: " + randHex(4) + "-" + randHex(4) + "-" + randHex(4)})
}

// htmlReply is the kind of page a proxy in front of WeChat answers.
func htmlReply(status int) reply {
	text := strconv.Itoa(status) + " " + http.StatusText(status)
	page := "<html>\r\n<head><title>" + text + "</title></head>\r\n<body>\r\n<center><h1>" + text +
		"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	return reply{status: status, contentType: "text/html", body: []byte(page)}
}

func notFound() reply {
	return reply{status: http.StatusNotFound, contentType: "text/plain; charset=utf-8", body: []byte("404 page not found\n")}
}

// errmsg returns the English errmsg WeChat sends with code, before the rid
// suffix. WeChat documents the typing codes (45072, 45080, 45081) in Chinese
// only; their texts here are English renderings.
func errmsg(code int) string {
	switch code {
	case -1:
		return "system error"
	case 0:
		return "ok"
	case 40001:
		return "invalid credential, access_token is invalid or not latest"
	case 40002:
		return "invalid grant_type"
	case 40003:
		return "invalid openid"
	case 40004:
		return "invalid media type"
	case 40005:
		return "invalid file type"
	case 40006:
		return "invalid meida size" // sic: WeChat's spelling
	case 40007:
		return "invalid media_id"
	case 40008:
		return "invalid message type"
	case 40009:
		return "invalid image size"
	case 40013:
		return "invalid appid"
	case 40014:
		return "invalid access_token"
	case 40033:
		return `invalid charset. please check your request, if include \uxxxx will create fail!`
	case 40125:
		return "invalid appsecret"
	case 40164:
		return "invalid ip, not in whitelist"
	case 40200:
		return "invalid account type"
	case 40243:
		return "AppSecret is frozen"
	case 41001:
		return "access_token missing"
	case 41002:
		return "appid missing"
	case 41004:
		return "appsecret missing"
	case 41005:
		return "media data missing"
	case 42001:
		return "access_token expired"
	case 43004:
		return "require subscribe"
	case 43019:
		return "require remove blacklist"
	case 44002:
		return "empty post data"
	case 44003:
		return "empty news data"
	case 44004:
		return "empty content"
	case 45001:
		return "media size out of limit"
	case 45002:
		return "content size out of limit"
	case 45008:
		return "article size out of limit"
	case 45009:
		return "reach max api daily quota limit"
	case 45011:
		return "api minute-quota reach limit, must slower, retry next minute"
	case 45015:
		return "response out of time limit or subscription is canceled"
	case 45047:
		return "out of response count limit"
	case 45072:
		return "command field is invalid"
	case 45080:
		return "no message exchange with the user in the last 30 seconds"
	case 45081:
		return "already typing"
	case 45162:
		return "invalid type"
	case 47001:
		return "data format error"
	case 48001:
		return "api unauthorized"
	case 48002:
		return "user block receive message"
	case 48004:
		return "api forbidden for irregularities"
	case 50002:
		return "user limited"
	case 61457:
		return "invalid file type" // of a head image
	}
	if m := kfErrmsg[code]; m != "" {
		return m
	}
	return "unknown error"
}

// decodeBody checks a JSON endpoint's body as WeChat does and decodes it
// into v: 44002 empty, 47001 not a JSON object (or fields of the wrong
// type), 40033 HTML characters written as \u escapes (when the check is on).
// It returns 0 when v holds the body.
func (s *Server) decodeBody(body []byte, v any) int {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return 44002
	}
	if trimmed[0] != '{' {
		return 47001
	}
	// Unmarshal checks the whole body before decoding: invalid JSON is a
	// *json.SyntaxError and leaves v alone; a field of the wrong type is
	// reported only after the escape check, as WeChat does.
	err := json.Unmarshal(body, v)
	var syntax *json.SyntaxError
	switch {
	case errors.As(err, &syntax):
		return 47001
	case s.cfg.escapeCheck && hasHTMLEscape(body):
		return 40033
	case err != nil:
		return 47001
	}
	return 0
}

// hasHTMLEscape reports whether valid JSON b holds one of the escapes
// \u003c, \u003e, \u0026 (any hex case). An escaped backslash followed by
// "u003c" is literal text, not an escape.
func hasHTMLEscape(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			continue
		}
		if b[i+1] != 'u' || i+6 > len(b) {
			i++ // a two-character escape such as \\ or \": skip its second character
			continue
		}
		switch string(bytes.ToLower(b[i+2 : i+6])) {
		case "003c", "003e", "0026":
			return true
		}
		i += 5
	}
	return false
}
