package kefutest_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestClock(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	assert.Equal(t, start, srv.Now())
	srv.Advance(90 * time.Minute)
	assert.Equal(t, start.Add(90*time.Minute), srv.Now())
	assert.Panics(t, func() { srv.Advance(-time.Second) })

	running := newServer(t)
	before := time.Now()
	now := running.Now()
	assert.False(t, now.Before(before))
	running.Advance(24 * time.Hour)
	assert.WithinDuration(t, time.Now().Add(24*time.Hour), running.Now(), time.Minute)
}
