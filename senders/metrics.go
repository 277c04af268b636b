package senders

import (
	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/client_golang/prometheus"
)

// Values of the state label of amtenant_channels.
const (
	stateValid   = "valid"
	stateInvalid = "invalid"
)

// unknownType labels invalid channels whose type could not be read, so that
// the type label stays bounded whatever a Secret says.
const unknownTypeLabel = "unknown"

type metrics struct {
	notifications *prometheus.CounterVec
	failed        *prometheus.CounterVec
	dropped       *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	channels      *prometheus.GaugeVec
	shadowed      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amtenant_notifications_total",
			Help: "Notifications delivered, by integration type.",
		}, []string{"type"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amtenant_notifications_failed_total",
			Help: "Failed delivery attempts, by integration type and reason. A retried notification counts once per failed attempt.",
		}, []string{"type", "reason"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amtenant_notifications_dropped_total",
			Help: "Notifications given up: permanent failures, and retryable ones past --notify.max-retry-duration.",
		}, []string{"type"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "amtenant_notification_latency_seconds",
			Help:    "Time from an alert needing a notification (new, resolved or due for repeat) to its delivery, group wait and retries included.",
			Buckets: []float64{.1, .5, 1, 2.5, 5, 10, 15, 30, 60, 120, 300, 900, 3600},
		}, []string{"type"}),
		channels: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "amtenant_channels",
			Help: "Channel Secrets by integration type and state (valid or invalid).",
		}, []string{"type", "state"}),
		shadowed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amtenant_notifications_shadowed_total",
			Help: "Notifications a follower (--leader-elect) recorded as sent by the leader, without sending them, by integration type.",
		}, []string{"type"}),
	}
	reasons := []string{reasonDenied}
	for r := notify.DefaultReason; r <= notify.RateLimitedReason; r++ {
		reasons = append(reasons, r.String())
	}
	for _, t := range KnownTypes() {
		m.notifications.WithLabelValues(t)
		m.dropped.WithLabelValues(t)
		m.shadowed.WithLabelValues(t)
		for _, r := range reasons {
			m.failed.WithLabelValues(t, r)
		}
	}
	if reg != nil {
		reg.MustRegister(m.notifications, m.failed, m.dropped, m.latency, m.channels, m.shadowed)
	}
	return m
}
