package senders

import (
	"github.com/prometheus/client_golang/prometheus"
)

// channelCollector exports per-channel delivery health, computed at each
// scrape from the channels' delivery state: one series per channel, so
// their number is bounded by the channels (and the channels per tenant by
// --limits.tenant-channels); never an alert, URL or Secret value.
type channelCollector struct {
	m             *Manager
	failing, last *prometheus.Desc
}

func newChannelCollector(m *Manager) *channelCollector {
	labels := []string{"channel", "tenant"}
	return &channelCollector{
		m: m,
		failing: prometheus.NewDesc("amtenant_channel_failing",
			"1 while a channel's deliveries fail (its last attempt of some integration failed), else 0; channel is namespace/name, tenant empty for admin channels.",
			labels, nil),
		last: prometheus.NewDesc("amtenant_channel_last_delivery_timestamp_seconds",
			"When a channel last delivered a notification (any integration), as a Unix time; absent until its first delivery.",
			labels, nil),
	}
}

func (c *channelCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.failing
	ch <- c.last
}

func (c *channelCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	channels := make([]*builtChannel, 0, len(c.m.channels))
	for _, bc := range c.m.channels {
		channels = append(channels, bc)
	}
	c.m.mu.Unlock()
	for _, bc := range channels {
		failing := 0.0
		var last float64
		for _, t := range bc.targets {
			t.d.mu.Lock()
			if t.d.failing {
				failing = 1
			}
			if !t.d.lastDelivered.IsZero() {
				last = max(last, float64(t.d.lastDelivered.UnixNano())/1e9)
			}
			t.d.mu.Unlock()
		}
		ch <- prometheus.MustNewConstMetric(c.failing, prometheus.GaugeValue, failing, bc.spec.ID, bc.spec.Tenant)
		if last > 0 {
			ch <- prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, last, bc.spec.ID, bc.spec.Tenant)
		}
	}
}
