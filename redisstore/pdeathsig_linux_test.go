package redisstore

import (
	"os/exec"
	"syscall"
)

// setPdeathsig has cmd killed when the thread that starts it ends, so that a
// redis-server the tests start does not outlive a test binary killed (by a
// -timeout panic, say) before it could stop the server.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
