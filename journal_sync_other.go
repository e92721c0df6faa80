//go:build !linux

package kefu

import "os"

// datasync flushes f; without fdatasync, a full fsync.
func datasync(f *os.File) error { return f.Sync() }
