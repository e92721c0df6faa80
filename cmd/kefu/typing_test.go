package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTyping(t *testing.T) {
	t.Parallel()
	f := startFake(t, "--user", "o1")
	r := f.kefu(t, "", "typing", "--to", "o1")
	assert.Equal(t, result{stdout: "ok\n"}, r)
	r = f.kefu(t, "", "typing", "--to", "o1")
	assert.Equal(t, 1, r.code, r)
	assert.Contains(t, r.stderr, "kefu typing: errcode 45081", r)
	r = f.kefu(t, "", "typing", "--to", "o1", "--off")
	assert.Equal(t, result{stdout: "ok\n"}, r)
	r = f.kefu(t, "", "typing", "--to", "o1", "--json")
	assert.Equal(t, result{stdout: `{"ok":true}` + "\n"}, r)
	r = f.kefu(t, "", "typing", "--to", "o1", "--off", "--json")
	assert.Equal(t, result{stdout: `{"ok":true}` + "\n"}, r)
	r = f.kefu(t, "", "typing", "--to", "o-nobody")
	assert.Equal(t, 1, r.code, r)
	assert.Contains(t, r.stderr, "errcode 40003", r)
}

func TestTypingUsageErrors(t *testing.T) {
	t.Parallel()
	testUsageErrors(t, []usageCase{
		{args: []string{"typing"}, env: usageCreds(), want: "--to is required"},
	})
}
