package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kefu-go/kefu"
)

// describe turns an error into the line(s) printed after "kefu CMD: ".
// WeChat's answers print as errcode and errmsg, with a hint for the usual
// cases.
func describe(err error) string {
	var apiErr *kefu.APIError
	if errors.As(err, &apiErr) {
		s := fmt.Sprintf("errcode %d: %s", apiErr.Code, apiErr.Message)
		if apiErr.RequestID != "" {
			s += " (rid " + apiErr.RequestID + ")"
		}
		if h := hint(err, apiErr.Code); h != "" {
			s += "\n  " + h
		}
		return s
	}
	// kefu's errors start "kefu: "; so does our own prefix.
	msg := err.Error()
	var ve *kefu.ValidationError
	if errors.As(err, &ve) && ve.Field == "msgtype" {
		msg += "\nmsgtype is one of " + strings.Join(msgTypeNames(), ", ")
	}
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		l = strings.TrimPrefix(l, "kefu: ")
		if i > 0 {
			l = "  " + l
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}

// hint follows WeChat's error err, with errcode code, by group or by
// errcode; "" when there is none.
func hint(err error, code int) string {
	for _, h := range []struct {
		err  error
		code int
		hint string
	}{
		{err: kefu.ErrOutsideWindow, hint: "the user has not written to the account lately (or unfollowed): wait for the user to act"},
		{err: kefu.ErrQuotaExceeded, hint: "the replies this user's actions allow are used up: wait for the user to act again"},
		{err: kefu.ErrInvalidOpenID, hint: "not an OpenID of this app"},
		{err: kefu.ErrBadCredentials, hint: "check KEFU_APPID and KEFU_SECRET (or --appid, --secret)"},
		{err: kefu.ErrUnauthorized, hint: "the app lacks this permission, or this machine's IP is not whitelisted"},
		{err: kefu.ErrInvalidMedia, hint: "media ids expire 3 days after the upload"},
		{err: kefu.ErrMediaRejected, hint: "WeChat refused the file for its kind, type or size: see kefu help upload"},
		{code: 45080, hint: "typing needs a message exchange with the user in the last 30 s"},
		{code: 45081, hint: "typing lasts 15 s, or until a message is sent"},
	} {
		if errors.Is(err, h.err) || h.code == code {
			return h.hint
		}
	}
	return ""
}

// msgTypeNames lists the message types kefu sends.
func msgTypeNames() []string {
	var names []string
	for _, t := range kefu.MsgTypes() {
		names = append(names, string(t))
	}
	return names
}
