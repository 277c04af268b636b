// Package election elects the one sidecar replica that delivers
// notifications, through a coordination.k8s.io Lease and client-go's
// leaderelection package, and tells followers when the leader was last
// seen alive, which is what lets them follow in shadow (see
// senders.Leadership).
package election
