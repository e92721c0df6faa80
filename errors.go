package kefu

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
)

// Sentinel errors. Each matches, with errors.Is, an *APIError whose Code is in
// its group, so callers branch on what happened, not on numbers:
//
//	if errors.Is(err, kefu.ErrOutsideWindow) { ... the user must write first ... }
var (
	// ErrSystemBusy: errcode -1, WeChat is busy; retried under the default policy.
	ErrSystemBusy = errors.New("kefu: wechat system busy")
	// ErrInvalidToken: 40001, 40014, 41001, 42001 on API calls: the access
	// token was stale, wrong, missing or expired. On the token endpoints these
	// codes mean bad credentials instead (ErrBadCredentials).
	ErrInvalidToken = errors.New("kefu: access token rejected")
	// ErrOutsideWindow: 45015, the user has not interacted recently (or
	// unfollowed): no message may be sent until the user acts again.
	ErrOutsideWindow = errors.New("kefu: outside the user's reply window")
	// ErrQuotaExceeded: 45047, the messages allowed by the user's open
	// windows are used up.
	ErrQuotaExceeded = errors.New("kefu: reply quota used up")
	// ErrRateLimited: 45009 (daily API quota, also ErrDailyQuota) and 45011
	// (per-minute quota).
	ErrRateLimited = errors.New("kefu: api rate limit reached")
	// ErrInvalidOpenID: 40003, not an OpenID of this account.
	ErrInvalidOpenID = errors.New("kefu: invalid openid")
	// ErrNotFollowing: 43004, the user does not follow the account.
	ErrNotFollowing = errors.New("kefu: user does not follow the account")
	// ErrInvalidMedia: 40007, an unknown, expired or wrong-kind media id.
	ErrInvalidMedia = errors.New("kefu: invalid media id")
	// ErrUnauthorized: 48001, 48004 (the account lacks or was banned from
	// this API) and 40164 (the caller's IP is not whitelisted).
	ErrUnauthorized = errors.New("kefu: api unauthorized")
	// ErrUserBlocked: 43019, 48002, 50002: the user blacklisted the account,
	// turned messages off, or is frozen.
	ErrUserBlocked = errors.New("kefu: user cannot receive messages")
	// ErrBadCredentials: the token endpoints rejected the app id or secret
	// (40001 there, 40013, 40125, 40243). Fetching again will not help.
	ErrBadCredentials = errors.New("kefu: bad app credentials")

	// ErrInvalidMessage matches every *ValidationError: the message (or
	// another input) broke a rule locally and nothing was sent.
	ErrInvalidMessage = errors.New("kefu: invalid message")
	// ErrInvalidOption matches every *OptionError: a constructor (NewClient,
	// NewTokenSource) was given a bad option and built nothing.
	ErrInvalidOption = errors.New("kefu: invalid option")
	// ErrDeliveryUnknown: the request may have reached WeChat but no usable
	// answer came back (connection cut after writing, timeout, garbled or
	// 5xx answer). The message may or may not have been delivered; it is
	// retried only under RetryPolicy.RetryUnknown.
	ErrDeliveryUnknown = errors.New("kefu: delivery unknown")

	// The sentinels of the media and customer-service management calls
	// (media.go, accounts.go). Their codes are WeChat's global return codes
	// for the legacy (61451..61457) and the new (65400..65417)
	// customer-service APIs.

	// ErrMediaRejected: an upload was refused for its kind, file type or
	// size: 40004 (invalid media type), 40005 (invalid file type), 40006,
	// 40009..40012 (invalid media, image, voice, video, thumb size), 45001
	// (media size out of limit), 61457 (invalid head image file type).
	ErrMediaRejected = errors.New("kefu: media rejected")
	// ErrAccountExists: 61453, 65406: a customer-service account with that
	// kf_account exists already.
	ErrAccountExists = errors.New("kefu: customer-service account exists")
	// ErrAccountNotFound: 61452, 65401: no such customer-service account.
	ErrAccountNotFound = errors.New("kefu: customer-service account not found")
	// ErrAccountLimit: 61456, 65405: the account has as many
	// customer-service accounts as WeChat allows (100).
	ErrAccountLimit = errors.New("kefu: customer-service account limit reached")
	// ErrWorkerNotBound: 65402: no WeChat user is bound to the
	// customer-service account yet (InviteWorker, then the worker accepts).
	ErrWorkerNotBound = errors.New("kefu: no worker bound to the customer-service account")
	// ErrAlreadyInvited: 65407 (the WeChat user already is a worker of the
	// account), 65408 (already invited), 65411 (the customer-service account
	// has a pending invitation), 65412 (it already has a worker).
	ErrAlreadyInvited = errors.New("kefu: worker already bound or invited")
	// ErrWorkerOffline: 65415: the worker of the customer-service account is
	// not online, so no session can be opened for it.
	ErrWorkerOffline = errors.New("kefu: worker not online")
	// ErrSessionExists: 65414: another customer-service account is serving
	// the user.
	ErrSessionExists = errors.New("kefu: user is in a session with another account")
	// ErrSessionNotFound: 65413: the user has no session; Client.Session
	// returns it too when WeChat answers an empty kf_account.
	ErrSessionNotFound = errors.New("kefu: user has no session")

	// The sentinels of API quotas and template messages (quota.go,
	// template.go).

	// ErrDailyQuota: 45009, the API's daily call quota is used up until
	// midnight UTC+8 (or a ClearQuota). A 45009 matches ErrRateLimited too:
	// test ErrDailyQuota first to tell it from the per-minute limit (45011).
	ErrDailyQuota = errors.New("kefu: api daily quota used up")
	// ErrTemplateRefused: 43101, the user refuses template messages from
	// the account.
	ErrTemplateRefused = errors.New("kefu: user refuses template messages")
	// ErrBadTemplate: 40037 (an unknown template_id) and 47003 (a data value
	// the template refuses): the message will not go out however often it
	// is sent.
	ErrBadTemplate = errors.New("kefu: bad template message")
)

// codeGroups maps errcodes to the sentinel they match on API calls.
var codeGroups = map[int]error{
	-1:    ErrSystemBusy,
	40001: ErrInvalidToken, 40014: ErrInvalidToken, 41001: ErrInvalidToken, 42001: ErrInvalidToken,
	45015: ErrOutsideWindow,
	45047: ErrQuotaExceeded,
	45009: ErrRateLimited, 45011: ErrRateLimited,
	40003: ErrInvalidOpenID,
	43004: ErrNotFollowing,
	40007: ErrInvalidMedia,
	48001: ErrUnauthorized, 48004: ErrUnauthorized, 40164: ErrUnauthorized,
	43019: ErrUserBlocked, 48002: ErrUserBlocked, 50002: ErrUserBlocked,
	40013: ErrBadCredentials, 40125: ErrBadCredentials, 40243: ErrBadCredentials,

	// Media and customer-service management; 65400 is "new customer service
	// not enabled": the account cannot use these APIs.
	65400: ErrUnauthorized,
	40004: ErrMediaRejected, 40005: ErrMediaRejected, 40006: ErrMediaRejected, 40009: ErrMediaRejected,
	40010: ErrMediaRejected, 40011: ErrMediaRejected, 40012: ErrMediaRejected, 45001: ErrMediaRejected,
	61457: ErrMediaRejected,
	61453: ErrAccountExists, 65406: ErrAccountExists,
	61452: ErrAccountNotFound, 65401: ErrAccountNotFound,
	61456: ErrAccountLimit, 65405: ErrAccountLimit,
	65402: ErrWorkerNotBound,
	65407: ErrAlreadyInvited, 65408: ErrAlreadyInvited, 65411: ErrAlreadyInvited, 65412: ErrAlreadyInvited,
	65415: ErrWorkerOffline,
	65414: ErrSessionExists,
	65413: ErrSessionNotFound,

	// Template messages.
	43101: ErrTemplateRefused,
	40037: ErrBadTemplate, 47003: ErrBadTemplate,
}

// APIError is an error answer from WeChat: {"errcode":N,"errmsg":"..."} with
// N other than 0. Match it with errors.As, or its group with errors.Is and the
// sentinels above.
type APIError struct {
	Code int // WeChat's errcode
	// Message is WeChat's errmsg without the rid/hint suffix.
	Message string
	// RequestID is the rid (or older hint) WeChat appended to errmsg: quote it
	// to WeChat support.
	RequestID string
	// Path is the endpoint path that answered, e.g. "/cgi-bin/message/custom/send".
	Path string
}

// Error returns one line: endpoint, errcode, message and request id. It never
// holds an access token or secret.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("kefu: ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString("errcode ")
	b.WriteString(strconv.Itoa(e.Code))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (rid ")
		b.WriteString(e.RequestID)
		b.WriteString(")")
	}
	return b.String()
}

// Is reports whether target is the sentinel of e's errcode group, or the
// narrower one some codes have (45009: ErrDailyQuota).
func (e *APIError) Is(target error) bool {
	if isTokenPath(e.Path) {
		if e.Code == 40001 {
			return target == ErrBadCredentials
		}
		if target == ErrInvalidToken {
			return false
		}
	}
	if e.Code == 45009 && target == ErrDailyQuota { // a narrower sentinel besides its group, ErrRateLimited
		return true
	}
	g, ok := codeGroups[e.Code]
	return ok && g == target
}

func isTokenPath(p string) bool { return p == tokenPath || p == stableTokenPath }

// newAPIError splits WeChat's errmsg into message and request id.
func newAPIError(path string, code int, msg string) *APIError {
	e := &APIError{Code: code, Path: path, Message: strings.TrimSpace(msg)}
	if i := strings.LastIndex(e.Message, " rid: "); i >= 0 {
		e.RequestID = strings.TrimSpace(e.Message[i+len(" rid: "):])
		e.Message = strings.TrimSpace(e.Message[:i])
	} else if i := strings.LastIndex(e.Message, " hint: ["); i >= 0 && strings.HasSuffix(e.Message, "]") {
		e.RequestID = e.Message[i+len(" hint: [") : len(e.Message)-1]
		e.Message = strings.TrimSpace(e.Message[:i])
	}
	e.Message = oneLine(strings.TrimRight(e.Message, ",; "))
	e.RequestID = oneLine(e.RequestID)
	return e
}

// oneLine escapes, as Go does in quoted strings, the control characters of
// s (C0, DEL, C1) and the Unicode line and paragraph separators, so that
// text WeChat sends back cannot split an error string or forge a log line.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isControl reports whether r breaks or hides a line: C0, DEL, C1, U+2028
// and U+2029.
func isControl(r rune) bool {
	return r < 0x20 || r >= 0x7f && r < 0xa0 || r == '\u2028' || r == '\u2029'
}

// TokenError is a call that could not get its access token: nothing was
// sent to its endpoint (Path). It wraps the token source's error (an
// *APIError of the token endpoint, a transport error, the store's error, or
// the context's) and never matches ErrDeliveryUnknown: a token fetch
// delivers nothing.
type TokenError struct {
	Path string // the call's endpoint, e.g. "/cgi-bin/message/custom/send"
	Err  error
}

// Error returns "kefu: PATH: nothing sent: getting the access token: ERR".
func (e *TokenError) Error() string {
	return "kefu: " + e.Path + ": nothing sent: getting the access token: " + e.Err.Error()
}

// Unwrap returns the token source's error.
func (e *TokenError) Unwrap() error { return e.Err }

// OptionError is a bad option given to NewClient or NewTokenSource. It
// matches ErrInvalidOption; several are joined with errors.Join.
type OptionError struct {
	Option string // the option's name, e.g. "WithBaseURL"
	Rule   string // what its argument must be
}

// Error returns "kefu: invalid option: OPTION: RULE".
func (e *OptionError) Error() string { return "kefu: invalid option: " + e.Option + ": " + e.Rule }

// Is makes an OptionError match ErrInvalidOption.
func (e *OptionError) Is(target error) bool { return target == ErrInvalidOption }

// ValidationError is one broken rule found before anything was sent. It
// matches ErrInvalidMessage. Several are joined with errors.Join; find them
// with errors.As, or walk the join's Unwrap() []error.
type ValidationError struct {
	Field string // the JSON path of the field, e.g. "news.articles[1].url"
	Rule  string // what the field must be
}

// Error returns "kefu: invalid message: FIELD: RULE".
func (e *ValidationError) Error() string {
	return "kefu: invalid message: " + e.Field + ": " + e.Rule
}

// Is makes a ValidationError match ErrInvalidMessage.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidMessage }

// HTTPError is an answer that was not WeChat JSON: an HTML error page from a
// proxy, a garbled or over-size body. Whether WeChat processed the request
// depends on the status: 429 and 503 were not processed (retried); other 4xx
// were not processed; 2xx, other 5xx, garbled and over-size answers may have
// been, and match ErrDeliveryUnknown.
type HTTPError struct {
	Path       string
	StatusCode int
	// Problem says what was wrong with the answer ("not JSON", ...).
	Problem string
	// Snippet is the start of the answer, scrubbed of tokens and secrets.
	Snippet string
	// MaybeDelivered is true when the request may have been processed.
	MaybeDelivered bool
}

// Error returns one line with the path, status, problem and snippet.
func (e *HTTPError) Error() string {
	s := "kefu: " + e.Path + ": HTTP " + strconv.Itoa(e.StatusCode) + ": " + e.Problem
	if e.Snippet != "" {
		s += ": " + strconv.Quote(e.Snippet)
	}
	if e.MaybeDelivered {
		s += " (delivery unknown)"
	}
	return s
}

// Is makes an HTTPError that may have been delivered match ErrDeliveryUnknown.
func (e *HTTPError) Is(target error) bool { return e.MaybeDelivered && target == ErrDeliveryUnknown }

// RequestError is a transport failure: no connection, a connection cut, a
// timeout or a cancelled context. When the request had already been written
// (MaybeDelivered) it matches ErrDeliveryUnknown; it unwraps to the cause, so
// errors.Is(err, context.DeadlineExceeded) works.
type RequestError struct {
	Method, URL string // URL without query: never an access token
	// MaybeDelivered is true when the request may have reached WeChat.
	MaybeDelivered bool
	Err            error
	msg            string // Err's text, scrubbed
}

// Error returns the method, URL without query and the scrubbed cause.
func (e *RequestError) Error() string {
	s := "kefu: " + e.Method + " " + e.URL + ": " + e.msg
	if e.MaybeDelivered {
		s += " (delivery unknown: the request was written)"
	}
	return s
}

// Unwrap returns the cause.
func (e *RequestError) Unwrap() error { return e.Err }

// Is makes a RequestError that may have been delivered match ErrDeliveryUnknown.
func (e *RequestError) Is(target error) bool { return e.MaybeDelivered && target == ErrDeliveryUnknown }

// secretPatterns find credentials in text we did not write (answers echo
// URLs and bodies).
var secretPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)(access_token|secret)=[^&\s"'<>]*`),
	regexp.MustCompile(`(?i)"(access_token|secret)"\s*:\s*"[^"]*"?`),
}

// scrub removes every known secret and every access_token=/secret= value
// from s.
func scrub(s string, secrets ...string) string {
	for _, x := range secrets {
		if len(x) >= 4 {
			s = strings.ReplaceAll(s, x, "REDACTED")
		}
	}
	for _, re := range secretPatterns {
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			if i := strings.IndexByte(m, '='); i >= 0 && m[0] != '"' {
				return m[:i+1] + "REDACTED"
			}
			i := strings.IndexByte(m, ':')
			return m[:i+1] + `"REDACTED"`
		})
	}
	return s
}
