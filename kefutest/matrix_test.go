package kefutest_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kefu-go/kefu"
	"github.com/kefu-go/kefu/kefutest"
)

// TestFaultCases checks that the rows of the fault matrix agree with
// themselves; kefu's faults_test.go runs them against a client.
func TestFaultCases(t *testing.T) {
	t.Parallel()
	cases := kefutest.FaultCases()
	require.NotEmpty(t, cases)
	names := map[string]bool{}
	for _, c := range cases {
		assert.False(t, names[c.Name], "%s: a second row of that name", c.Name)
		names[c.Name] = true
		assert.NotNil(t, c.Setup, c.Name)
		assert.Equal(t, c.Want, c.Outcome(false), c.Name)
		assert.Equal(t, c.WantRetryUnknown, c.Outcome(true), c.Name)
		for _, o := range []kefutest.FaultOutcome{c.Want, c.WantRetryUnknown} {
			checkOutcome(t, c, o)
		}
		unknown := len(c.Want.Errs) > 0 && c.Want.Errs[0] == kefu.ErrDeliveryUnknown
		assert.Equal(t, c.Lost, unknown, "%s: Lost exactly when the default policy ends in ErrDeliveryUnknown", c.Name)
		if !c.Lost {
			assert.Equal(t, c.Want, c.WantRetryUnknown, "%s: RetryUnknown changes only what was lost", c.Name)
		}
	}
	// A new copy each time: a caller may change its rows.
	again := kefutest.FaultCases()
	again[0].Name = "changed"
	assert.Equal(t, cases[0].Name, kefutest.FaultCases()[0].Name)
}

func checkOutcome(t *testing.T, c kefutest.FaultCase, o kefutest.FaultOutcome) {
	t.Helper()
	if o.Class == kefu.ResultOK {
		assert.Empty(t, o.Errs, c.Name)
		assert.Zero(t, o.ErrCode, c.Name)
		assert.Positive(t, o.Copies, "%s: a success is delivered", c.Name)
	}
	if o.ErrCode != 0 {
		assert.Equal(t, kefu.ResultRefused, o.Class, c.Name)
	}
	assert.LessOrEqual(t, o.Copies, o.SendCalls, c.Name)
	if c.Closed {
		assert.Zero(t, o.SendCalls, c.Name)
		assert.Equal(t, kefutest.FastRetry().MaxAttempts, o.Attempts, "%s: every attempt fails before the server", c.Name)
	} else {
		assert.Equal(t, o.SendCalls, o.Attempts, c.Name)
	}
	if c.Cold {
		assert.Positive(t, o.TokenCalls, c.Name)
	}
}

// TestFaultCasesSetup runs each row's Setup on a server that issued a
// token: a Closed row closes it, the others leave it serving.
func TestFaultCasesSetup(t *testing.T) {
	t.Parallel()
	for _, c := range kefutest.FaultCases() {
		srv := newServer(t)
		srv.Interact(kefutest.FaultUser, kefutest.Payment)
		_, err := srv.TokenSource().Token(context.Background())
		require.NoError(t, err)
		c.Setup(srv)
		conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
		if c.Closed {
			assert.Error(t, err, c.Name)
		} else if assert.NoError(t, err, c.Name) {
			conn.Close()
		}
		srv.Close()
	}
}
