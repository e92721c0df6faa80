package main

import (
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
