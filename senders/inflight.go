package senders

import "sync/atomic"

// sharedInFlight bounds what the notifications in flight of all channels
// together may hold, beyond each integration's first one: how many there
// are (each holds a connection, its buffers and goroutines) and how many
// alerts they list (each converted for the notifier, rendered and
// encoded). A storm over many channels then costs the sidecar a bounded
// amount of memory at once, whatever the number of channels and the size
// of their groups, and the deliveries take turns.
//
// Every integration may always have one notification in flight without
// drawing on it, so that a tenant whose storm (or hanging endpoint) takes
// the whole pool delays nobody else's next notification; it only takes
// away their parallelism beyond it.
type sharedInFlight struct {
	maxNotifications, maxAlerts int64
	notifications, alerts       atomic.Int64
}

// Defaults of the shared bound (Options.SharedInFlight).
const (
	// DefaultSharedNotifications is how many notifications, beyond each
	// integration's first, may be in flight at once: about 30 KB each
	// (connection, buffers, goroutines).
	DefaultSharedNotifications = 200
	// DefaultSharedAlerts is how many alerts those notifications may list
	// in all: about 3.5 KB each while sent (converted, templated, encoded).
	DefaultSharedAlerts = 5000
)

func newSharedInFlight(notifications, alerts int) *sharedInFlight {
	return &sharedInFlight{maxNotifications: int64(notifications), maxAlerts: int64(alerts)}
}

// take reserves one notification listing n alerts, if both fit. A nil
// pool is unbounded.
func (p *sharedInFlight) take(n int) bool {
	if p == nil {
		return true
	}
	if p.notifications.Add(1) > p.maxNotifications {
		p.notifications.Add(-1)
		return false
	}
	if p.alerts.Add(int64(n)) > p.maxAlerts {
		p.alerts.Add(-int64(n))
		p.notifications.Add(-1)
		return false
	}
	return true
}

// shrink gives back n alerts of a reservation that turned out smaller.
func (p *sharedInFlight) shrink(n int) {
	if p != nil && n != 0 {
		p.alerts.Add(-int64(n))
	}
}

// give returns a reservation of one notification listing n alerts.
func (p *sharedInFlight) give(n int) {
	if p == nil {
		return
	}
	p.alerts.Add(-int64(n))
	p.notifications.Add(-1)
}
