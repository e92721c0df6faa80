package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kefu-go/kefu"
)

func TestDescribe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&kefu.APIError{Code: 45047, Message: "out of response count limit", RequestID: "r1"},
			"errcode 45047: out of response count limit (rid r1)\n  the replies this user's actions allow are used up: wait for the user to act again"},
		{fmt.Errorf("wrapped: %w", &kefu.APIError{Code: 40125, Message: "invalid appsecret"}),
			"errcode 40125: invalid appsecret\n  check KEFU_APPID and KEFU_SECRET (or --appid, --secret)"},
		{&kefu.APIError{Code: 45081, Message: "already typing"}, "errcode 45081: already typing\n  typing lasts 15 s, or until a message is sent"},
		{&kefu.APIError{Code: 99999, Message: "something new"}, "errcode 99999: something new"},
		{errors.New("kefu: first\nkefu: second"), "first\n  second"},
	} {
		assert.Equal(t, tc.want, describe(tc.err), tc.err)
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	live := context.Background()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	refused := &kefu.APIError{Code: 45015, Message: "response out of time limit"}
	for name, c := range map[string]struct {
		ctx  context.Context
		err  error
		want int
	}{
		"WeChat refused":              {live, refused, exitRefused},
		"refused after retries":       {live, fmt.Errorf("%w after 3 attempts", refused), exitRefused},
		"delivery unknown":            {live, &kefu.HTTPError{StatusCode: 502, MaybeDelivered: true}, exitUnknown},
		"unknown, then refused":       {live, fmt.Errorf("%w (an earlier attempt may have been delivered: %w)", refused, kefu.ErrDeliveryUnknown), exitUnknown},
		"no access token":             {live, &kefu.TokenError{Path: "/x", Err: &kefu.APIError{Code: 40125}}, exitNotSent},
		"invalid message":             {live, &kefu.ValidationError{Field: "text.content", Rule: "required"}, exitNotSent},
		"refused connection":          {live, &kefu.RequestError{Err: errors.New("connection refused")}, exitNotSent},
		"a file that is not there":    {live, errors.New("open x.png: no such file or directory"), exitNotSent},
		"Ctrl-C":                      {ended, &kefu.RequestError{Err: context.Canceled}, exitInterrupted},
		"Ctrl-C while fetching":       {ended, &kefu.TokenError{Path: "/x", Err: context.Canceled}, exitInterrupted},
		"canceled, but not by Ctrl-C": {live, context.Canceled, exitNotSent},
		"a code of the command's own": {live, &exitError{code: exitUnknown}, exitUnknown},
		"its own code wins":           {ended, &exitError{code: exitUsage, err: context.Canceled}, exitUsage},
	} {
		assert.Equal(t, c.want, exitCode(c.ctx, c.err), name)
	}
}

// TestBaseURLFromEnvironment: KEFU_BASE_URL stands for --base-url; the flag
// wins over it.
func TestBaseURLFromEnvironment(t *testing.T) {
	t.Parallel()
	f := startFake(t, "--user", "o1")
	r := kefuRun(t, "", append(f.env(), "KEFU_BASE_URL="+f.URL), []string{f.Secret}, "send", "--to", "o1", "--text", "hi")
	assert.Equal(t, result{stdout: "ok\n"}, r)
	r = kefuRun(t, "", append(f.env(), "KEFU_BASE_URL=http://127.0.0.1:1"), []string{f.Secret},
		"send", "--base-url", f.URL, "--to", "o1", "--text", "hi")
	assert.Equal(t, result{stdout: "ok\n"}, r)
}
