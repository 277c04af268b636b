// Package poller reads alerts from Alertmanager's v2 API and turns the
// stream of polls into incarnations with a status (firing, suppressed,
// resolved) that the rest of the sidecar notifies exactly once.
//
// Alertmanager never returns resolved alerts, forgets all alerts when it
// restarts, and moves endsAt and updatedAt on every resend, so the Tracker
// works from identity (the fingerprint), incarnation (fingerprint and
// startsAt) and absence over a grace period, never from timestamps alone.
package poller
