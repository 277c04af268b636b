package replication

import (
	"math"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	synced    prometheus.Gauge
	received  prometheus.Counter
	applied   prometheus.Counter
	ignored   prometheus.Counter
	snapshots prometheus.Counter
	losses    prometheus.Counter
	lag       prometheus.Histogram
	// Fallbacks counts the notifications counted as the leader's by the
	// takeover window (senders.Options.WindowFallback).
	Fallbacks prometheus.Counter
}

func newMetrics(c *Client, reg prometheus.Registerer) *metrics {
	m := &metrics{
		synced: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "amtenant_replication_synced",
			Help: "1 while this follower's copy of the leader's delivery record is complete.",
		}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amtenant_replication_records_received_total",
			Help: "Records of the leader's delivery record received from peers.",
		}),
		applied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amtenant_replication_records_applied_total",
			Help: "Records applied to this follower's copy of the leader's delivery record.",
		}),
		ignored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amtenant_replication_records_ignored_total",
			Help: "Records and snapshot parts ignored: duplicates, or from a replica that no longer leads.",
		}),
		snapshots: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amtenant_replication_snapshots_total",
			Help: "Complete snapshots of the leader's delivery record received.",
		}),
		losses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amtenant_replication_losses_total",
			Help: "Times the copy of the leader's delivery record stopped being complete (stream ended, silent, records missing, leader stepped down).",
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "amtenant_replication_lag_seconds",
			Help:    "Time from the leader sending a record to this follower applying it (clocks of two pods).",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		Fallbacks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amtenant_replication_fallbacks_total",
			Help: "Notifications a follower counted as the leader's by the takeover window, for want of a complete copy of its delivery record.",
		}),
	}
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "amtenant_replication_last_message_age_seconds",
		Help: "Seconds since the last message of the leader's stream (it sends one every second); +Inf without one. 0 on the leader.",
	}, func() float64 {
		if leading, _, _ := c.lead.Status(); leading {
			return 0
		}
		st := c.Status()
		if st.LastMessage.IsZero() {
			return math.Inf(1)
		}
		return c.now().Sub(st.LastMessage).Seconds()
	})
	if reg != nil {
		reg.MustRegister(m.synced, m.received, m.applied, m.ignored, m.snapshots, m.losses, m.lag, m.Fallbacks, age)
	}
	return m
}

// Fallback counts a notification counted as the leader's by the takeover
// window.
func (c *Client) Fallback() { c.m.Fallbacks.Inc() }
