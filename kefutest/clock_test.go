package kefutest_test

import (
	"math"
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

// forever is the longest Advance: math.MaxInt64 nanoseconds, ~292 years.
const forever = time.Duration(math.MaxInt64)

// TestClockSaturates advances the clock past what a time.Duration holds:
// it stops at its start plus forever, and never goes back.
func TestClockSaturates(t *testing.T) {
	t.Parallel()
	srv := frozen(t)
	srv.Advance(forever)
	assert.Equal(t, start.Add(forever), srv.Now())
	srv.Advance(forever)
	assert.Equal(t, start.Add(forever), srv.Now(), "pinned at the latest time")
	srv.Advance(time.Nanosecond)
	assert.Equal(t, start.Add(forever), srv.Now())

	step := frozen(t)
	step.Advance(time.Hour)
	step.Advance(forever - time.Minute)
	assert.Equal(t, start.Add(forever), step.Now(), "a sum past forever stops there")

	running := newServer(t)
	before := time.Now()
	running.Advance(forever)
	first := running.Now()
	running.Advance(forever)
	running.Advance(time.Hour)
	second := running.Now()
	after := time.Now()
	assert.False(t, second.Before(first), "the clock went back: %v, then %v", first, second)
	assert.False(t, second.Before(before.Add(forever)), "%v: not real time plus forever", second)
	assert.False(t, second.After(after.Add(forever)), "%v: past real time plus forever", second)
}
