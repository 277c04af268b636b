package senders

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

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

// collectors are the bound's metrics: what it holds, and its limits.
func (p *sharedInFlight) collectors() []prometheus.Collector {
	held := prometheus.GaugeOpts{
		Name: "amtenant_shared_in_flight",
		Help: "Notifications in flight beyond each integration's first, and the alerts they list, held from the bound all channels share.",
	}
	limit := prometheus.GaugeOpts{
		Name: "amtenant_shared_in_flight_limit",
		Help: "The bound all channels share on notifications in flight beyond each integration's first, and on the alerts they list.",
	}
	gauge := func(o prometheus.GaugeOpts, resource string, f func() float64) prometheus.Collector {
		o.ConstLabels = prometheus.Labels{"resource": resource}
		return prometheus.NewGaugeFunc(o, f)
	}
	return []prometheus.Collector{
		gauge(held, "notifications", func() float64 { return float64(p.notifications.Load()) }),
		gauge(held, "alerts", func() float64 { return float64(p.alerts.Load()) }),
		gauge(limit, "notifications", func() float64 { return float64(p.maxNotifications) }),
		gauge(limit, "alerts", func() float64 { return float64(p.maxAlerts) }),
	}
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
