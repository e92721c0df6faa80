package callback

import (
	"testing"

	"go.uber.org/goleak"
)

// No handler goroutine, timer wait or late send outlives a test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
