// Package integration holds the end-to-end tests of amtenant against real
// components: an Alertmanager built from its Go module, the sidecar binary,
// and HTTP and SMTP servers standing in for chat and mail services. The
// tests carry the build tag "integration"; `make test` runs them.
package integration
