package kefu_test

import (
	"testing"

	"github.com/kefu-go/kefu/kefutest"
	"github.com/stretchr/testify/require"
)

// The tracker's rules are the fake's: 10,000 random steps each, with the
// in-memory store (redisstore runs the same walks on Redis).
func TestTrackerParityOfficialAccount(t *testing.T) {
	t.Parallel()
	require.NoError(t, kefutest.CheckWindowParity(nil, 1, 10000, false))
}

func TestTrackerParityMiniProgram(t *testing.T) {
	t.Parallel()
	require.NoError(t, kefutest.CheckWindowParity(nil, 2, 10000, true))
}
