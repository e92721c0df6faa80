//go:build !linux

package redisstore

import "os/exec"

// setPdeathsig does nothing here: only Linux can kill a child with its
// parent. A test binary killed before it stops its redis-server leaves it
// running.
func setPdeathsig(*exec.Cmd) {}
