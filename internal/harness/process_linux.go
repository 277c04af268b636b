package harness

import "syscall"

// dieWithParent makes the child get SIGKILL when the thread that started
// it ends, which with Go is in practice when this process ends.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
