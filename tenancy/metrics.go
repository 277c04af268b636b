package tenancy

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amtenant/amtenant/policy"
)

// heldCount counts the firing alerts of one routing pass held back from
// their tenant's channels, by reason.
type heldCount struct{ silenced, inhibited, muted int }

func (c *heldCount) add(h policy.Hold, muted bool) {
	switch h.Reason {
	case policy.Silenced:
		c.silenced++
	case policy.Inhibited:
		c.inhibited++
	}
	if muted {
		c.muted++
	}
}

// heldGauge is amtenant_alerts_held; the zero value records nothing.
type heldGauge struct{ g *prometheus.GaugeVec }

// Values of the reason label of amtenant_alerts_held.
const (
	heldSilenced  = "silenced"
	heldInhibited = "inhibited"
	heldMuted     = "muted"
)

func newHeldGauge() heldGauge {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "amtenant_alerts_held",
		Help: "Firing alerts held back at the last routing: by a tenant silence or inhibit rule (from the tenant's channels), or routed to a channel inside its mute window.",
	}, []string{"reason"})
	for _, r := range []string{heldSilenced, heldInhibited, heldMuted} {
		g.WithLabelValues(r)
	}
	return heldGauge{g: g}
}

func (h heldGauge) set(c heldCount) {
	if h.g == nil {
		return
	}
	h.g.WithLabelValues(heldSilenced).Set(float64(c.silenced))
	h.g.WithLabelValues(heldInhibited).Set(float64(c.inhibited))
	h.g.WithLabelValues(heldMuted).Set(float64(c.muted))
}

// policyCollector is amtenant_tenant_policies: silences by state (which
// changes with time, so it is computed at each scrape), inhibit rules
// active or invalid.
type policyCollector struct {
	c    *Controller
	now  func() time.Time
	desc *prometheus.Desc
}

func newPolicyCollector(c *Controller, now func() time.Time) *policyCollector {
	return &policyCollector{c: c, now: now, desc: prometheus.NewDesc("amtenant_tenant_policies",
		"Tenant silences (ConfigMaps) and inhibit rules by state: active, pending (not started, or outside its recurring window), expired, invalid (refused: see the Warning Event on the ConfigMap).",
		[]string{"kind", "state"}, nil)}
}

func (p *policyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- p.desc }

func (p *policyCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[policy.Kind]map[policy.State]int{
		policy.KindSilence: {policy.StateActive: 0, policy.StatePending: 0, policy.StateExpired: 0, policy.StateInvalid: 0},
		policy.KindInhibit: {policy.StateActive: 0, policy.StateInvalid: 0},
	}
	now := p.now()
	p.c.mu.Lock()
	for _, pp := range p.c.policies {
		switch {
		case pp.obj == nil || pp.refused:
			counts[pp.kind][policy.StateInvalid]++
		case pp.kind == policy.KindSilence:
			counts[pp.kind][pp.obj.Silence.State(now)]++
		default:
			counts[pp.kind][policy.StateActive] += len(pp.obj.Rules)
		}
	}
	p.c.mu.Unlock()
	for kind, states := range counts {
		for state, n := range states {
			ch <- prometheus.MustNewConstMetric(p.desc, prometheus.GaugeValue, float64(n), string(kind), string(state))
		}
	}
}
