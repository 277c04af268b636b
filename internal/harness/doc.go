// Package harness starts the real components the end-to-end suite, the
// benchmark and the demo run beside the sidecar: child processes with
// their logs, Alertmanager, and a kube-apiserver with its etcd, each on
// loopback ports chosen at run time. Every child gets SIGKILL when the
// process that started it ends, however it ends.
package harness
