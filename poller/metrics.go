package poller

import "github.com/prometheus/client_golang/prometheus"

// Values of the result label of amtenant_polls_total.
const (
	resultSuccess     = "success"
	resultTimeout     = "timeout"
	resultUnreachable = "unreachable"
	resultHTTPError   = "http_error"
	resultInvalid     = "invalid"
)

// Values of the state label of amtenant_alerts.
const (
	stateActive     = "active"
	stateSuppressed = "suppressed"
	stateResolving  = "resolving"
	stateResolved   = "resolved"
)

type metrics struct {
	polls        *prometheus.CounterVec
	pollDuration prometheus.Histogram
	alerts       *prometheus.GaugeVec
	skipped      *prometheus.GaugeVec
	evictions    prometheus.Counter
	interval     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amtenant_polls_total",
			Help: "Polls of Alertmanager's API by result.",
		}, []string{"result"}),
		pollDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "amtenant_poll_duration_seconds",
			Help:    "Duration of one poll of Alertmanager's API (alerts and status).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		alerts: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "amtenant_alerts",
			Help: "Tracked alerts by state: active, suppressed, resolving (absent, inside the resolve grace) and resolved (kept to notify the resolution).",
		}, []string{"state"}),
		skipped: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "amtenant_alerts_skipped",
			Help: "Alerts of the last successful poll that could not be read (oversized, malformed) and were skipped; the others were used.",
		}, []string{"reason"}),
		interval: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "amtenant_poll_interval_seconds",
			Help: "The current time between polls: --poll.interval, or longer while a poll's duration divided by --poll.alertmanager-cpu-budget is longer (up to --poll.max-interval).",
		}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amtenant_dedup_evictions_total",
			Help: "Alerts evicted from the deduplication cache because it was full. An evicted alert that was absent loses its pending resolved notification.",
		}),
	}
	for _, r := range []string{resultSuccess, resultTimeout, resultUnreachable, resultHTTPError, resultInvalid} {
		m.polls.WithLabelValues(r)
	}
	for _, s := range []string{stateActive, stateSuppressed, stateResolving, stateResolved} {
		m.alerts.WithLabelValues(s)
	}
	for _, r := range []string{SkipOversized, SkipMalformed} {
		m.skipped.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.polls, m.pollDuration, m.alerts, m.skipped, m.evictions, m.interval)
	}
	return m
}
