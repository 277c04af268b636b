// Package harness starts the real components the end-to-end suite, the
// benchmark and the demo run beside the sidecar: child processes with
// their logs, Alertmanager, and a kube-apiserver with its etcd, each on
// loopback ports chosen at run time. On Linux every child gets SIGKILL
// when the process that started it ends, however it ends (Pdeathsig, tied
// to the starting thread, which the Go runtime keeps for the process's
// life in practice).
package harness
