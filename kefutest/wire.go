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

// listReply answers a list under key: {"key":[...]}.
func listReply(key string, list any) reply { return jsonReply(map[string]any{key: list}) }

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

// errmsgs are the English errmsgs WeChat sends with each errcode, before
// the rid suffix: the only place the fake writes them. WeChat documents the
// typing codes (45072, 45080, 45081) in Chinese only; their texts here are
// English renderings.
var errmsgs = map[int]string{
	-1:    "system error",
	0:     "ok",
	40001: "invalid credential, access_token is invalid or not latest",
	40002: "invalid grant_type",
	40003: "invalid openid",
	40004: "invalid media type",
	40005: "invalid file type",
	40006: "invalid meida size", // sic: WeChat's spelling
	40007: "invalid media_id",
	40008: "invalid message type",
	40009: "invalid image size",
	40013: "invalid appid",
	40014: "invalid access_token",
	40037: "invalid template_id",
	40033: `invalid charset. please check your request, if include \uxxxx will create fail!`,
	40125: "invalid appsecret",
	40164: "invalid ip, not in whitelist",
	40200: "invalid account type",
	40243: "AppSecret is frozen",
	41001: "access_token missing",
	41002: "appid missing",
	41004: "appsecret missing",
	41005: "media data missing",
	42001: "access_token expired",
	43004: "require subscribe",
	43019: "require remove blacklist",
	43101: "user refuse to accept the msg",
	44002: "empty post data",
	44003: "empty news data",
	44004: "empty content",
	45001: "media size out of limit",
	45002: "content size out of limit",
	45008: "article size out of limit",
	45009: "reach max api daily quota limit",
	45011: "api minute-quota reach limit, must slower, retry next minute",
	45015: "response out of time limit or subscription is canceled",
	45047: "out of response count limit",
	45072: "command field is invalid",
	45080: "no message exchange with the user in the last 30 seconds",
	45081: "already typing",
	45162: "invalid type",
	47001: "data format error",
	47003: "argument invalid! data.value invalid",
	48001: "api unauthorized",
	48002: "user block receive message",
	48004: "api forbidden for irregularities",
	48006: "api forbidden for clear quota because of reaching the limit",
	50002: "user limited",
	61457: "invalid file type", // of a head image

	// The new customer service's errcodes, as WeChat's global return-code
	// list and the customer-service pages write them.
	65400: "please enable new custom service, or wait for a while if you have enabled",
	65401: "invalid custom service account",
	65402: "the custom service account need to bind a wechat user",
	65403: "illegal nickname",
	65404: "illegal custom service account",
	65405: "custom service account number reach limit",
	65406: "custom service account exists",
	65407: "the wechat user have been one of your workers",
	65408: "you have already invited the wechat user",
	65409: "wechat account invalid",
	65410: "too many custom service accounts bound by the worker",
	65411: "a effective invitation to bind the custom service account exists",
	65412: "the custom service account have been bound by a wechat user",
	65413: "no effective session for the customer",
	65414: "another worker is serving the customer",
	65415: "the worker is not online",
	65416: "param invalid, please check",
	65417: "it is too long from the starttime to endtime",

	// The quota API's: WeChat documents it in Chinese only; this is an
	// English rendering.
	76003: "cgi_path must start with /",
}

// errmsg returns the errmsg of code, or "unknown error".
func errmsg(code int) string {
	if m, ok := errmsgs[code]; ok {
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
