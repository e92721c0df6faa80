package kefu

import (
	"os"
	"syscall"
)

// datasync flushes f's data (and only the metadata needed to read it back:
// the journal writes in place, so none).
func datasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
