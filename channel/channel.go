// Package channel describes a notification channel as declared by a
// Kubernetes Secret, after the tenancy rules were applied and before the
// senders turned it into integrations. It is a leaf package shared by
// tenancy (which parses Secrets) and senders (which build and deliver).
package channel

import (
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/policy"
)

// Spec is a validated channel declaration.
type Spec struct {
	// ID is "<namespace>/<secret name>"; it is also the receiver name that
	// templates see.
	ID string
	// Trusted is true for admin channels (Secrets in the sidecar's own
	// namespace). Untrusted (tenant) channels may not read local files,
	// inherit global credentials or reach denied networks.
	Trusted bool
	// Data is the Secret's data: the channel's configuration in the flat
	// or the full spelling. Every value is treated as secret.
	Data map[string][]byte
	// Policy is the routing policy from the Secret's annotations.
	Policy Policy
	// Tenant owns a tenant channel; empty for admin channels. For the
	// per-channel metrics.
	Tenant string
	// Limits bound what each integration of the channel may cost.
	Limits Limits
}

// Limits bound what one integration of a channel may cost, so that one
// tenant cannot crowd out the others. Zero means unlimited.
type Limits struct {
	// Groups is the most aggregation groups of one integration: alerts
	// that would open more are delivered together in one overflow group.
	Groups int
	// PerMinute is the most notifications one integration sends per
	// minute (a token bucket holding as many): due groups beyond it wait,
	// and are sent later with whatever they then hold.
	PerMinute int
}

// Policy is how a channel groups and repeats notifications.
type Policy struct {
	// Matchers must all match an alert's labels for the channel to get it.
	Matchers labels.Matchers
	// GroupBy lists the labels alerts are grouped by; GroupByAll groups by
	// every label (Alertmanager's "...").
	GroupBy    []model.LabelName
	GroupByAll bool
	// GroupWait is the batching window before a group's notification.
	GroupWait time.Duration
	// GroupInterval is the least time between two notifications of one
	// group: what changes meanwhile is sent together at the next interval.
	GroupInterval time.Duration
	// RepeatInterval is how long a firing group waits before it is notified
	// again.
	RepeatInterval time.Duration
	// Mute holds the channel's notifications inside its mute intervals and
	// outside its active intervals; nothing is dropped meanwhile.
	Mute policy.Mute
}

// GroupLabels returns the labels of ls that the policy groups by.
func (p Policy) GroupLabels(ls model.LabelSet) model.LabelSet {
	if p.GroupByAll {
		return ls.Clone()
	}
	out := make(model.LabelSet, len(p.GroupBy))
	for _, n := range p.GroupBy {
		if v, ok := ls[n]; ok {
			out[n] = v
		}
	}
	return out
}
