package kefu

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokenWithExpiry(t *testing.T) {
	t.Parallel()
	w := newWechat(t)
	w.handle(stableTokenPath, func(rw http.ResponseWriter, r *http.Request) {
		writeJSON(rw, fmt.Sprintf(`{"access_token":"%s","expires_in":7000}`, tokenName(callN(r))))
	})
	clock := newFakeClock()
	start := clock.Now()
	ts := newTestTokenSource(t, w, withClock(clock.Now))
	var src TokenSource = ts
	es, ok := src.(ExpiringTokenSource)
	require.True(t, ok, "NewTokenSource's source implements ExpiringTokenSource")
	tok, err := es.TokenWithExpiry(context.Background())
	require.NoError(t, err)
	assert.Equal(t, Token{AccessToken: tokenName(1), Expiry: start.Add(7000 * time.Second)}, tok)
	plain, err := es.Token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, tok.AccessToken, plain, "the same cached token")
	assert.Equal(t, 1, w.count(stableTokenPath))
	//lint:ignore SA1012 a nil context is what this checks
	_, err = es.TokenWithExpiry(nil) //nolint:staticcheck
	assert.ErrorIs(t, err, ErrInvalidMessage)
}
