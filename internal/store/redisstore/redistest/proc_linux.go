package redistest

import (
	"os/exec"
	"runtime"
	"syscall"
)

func lockThread() { runtime.LockOSThread() }

// setParentDeathSignal has the kernel kill the child when this process
// dies without stopping it (a test binary killed on timeout, say).
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
