package kefu

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestActionRules(t *testing.T) {
	t.Parallel()
	want := []struct {
		a        Action
		name     string
		messages int
		window   time.Duration
	}{
		{ActionUserMessage, "UserMessage", 5, 48 * time.Hour},
		{ActionMenuClick, "MenuClick", 3, time.Minute},
		{ActionFollow, "Follow", 3, time.Minute},
		{ActionScan, "Scan", 3, time.Minute},
		{ActionPayment, "Payment", Unlimited, 48 * time.Hour},
		{ActionEnterSession, "EnterSession", 2, time.Minute},
	}
	require.Len(t, Actions(), len(want))
	for i, w := range want {
		assert.Equal(t, w.a, Actions()[i])
		assert.Equal(t, w.name, w.a.String())
		r, ok := w.a.Rule()
		assert.True(t, ok, w.name)
		assert.Equal(t, WindowRule{Messages: w.messages, For: w.window}, r, w.name)
		p, err := ParseAction(w.name)
		require.NoError(t, err)
		assert.Equal(t, w.a, p)
	}
	p, err := ParseAction("usermessage")
	require.NoError(t, err)
	assert.Equal(t, ActionUserMessage, p, "names parse in any case")

	for _, bad := range []Action{0, -1, ActionEnterSession + 1} {
		assert.False(t, bad.Valid())
		_, ok := bad.Rule()
		assert.False(t, ok)
		assert.Regexp(t, `^Action\(-?\d+\)$`, bad.String())
	}
	_, err = ParseAction("Tap")
	assert.True(t, errors.Is(err, ErrInvalidMessage))
	assert.EqualError(t, err, `kefu: invalid message: action: unknown action "Tap": want one of UserMessage, MenuClick, Follow, Scan, Payment, EnterSession`)
}
