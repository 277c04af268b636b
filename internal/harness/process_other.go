//go:build !linux

package harness

import "syscall"

// dieWithParent: elsewhere than Linux, children are only stopped by Stop
// or Kill.
func dieWithParent() *syscall.SysProcAttr { return nil }
