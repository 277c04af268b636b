package senders

import (
	"sort"
	"time"

	"github.com/amtenant/amtenant/alert"
)

// Attempt is the last delivery attempt of a group's notification.
type Attempt struct {
	At       time.Time `json:"at"`
	Attempts int       `json:"attempts"`
	// Outcome is delivered, retrying or dropped.
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Outcomes of an Attempt.
const (
	OutcomeDelivered = "delivered"
	OutcomeRetrying  = "retrying"
	OutcomeDropped   = "dropped"
)

// IntegrationState is what one integration of a channel knows about an
// alert, for diagnostics.
type IntegrationState struct {
	Integration  string `json:"integration"`
	SendResolved bool   `json:"sendResolved"`
	// Known is false when the integration holds nothing about the alert
	// (never routed to it, or done with it).
	Known        bool      `json:"known"`
	Incarnation  uint64    `json:"incarnation,omitempty"`
	Group        string    `json:"group,omitempty"`
	Notified     bool      `json:"notified"`
	LastNotified time.Time `json:"lastNotified,omitzero"`
	NextRepeat   time.Time `json:"nextRepeat,omitzero"`
	PendingSince time.Time `json:"pendingSince,omitzero"`
	DueAt        time.Time `json:"dueAt,omitzero"`
	InFlight     bool      `json:"inFlight"`
	ResolvedSent bool      `json:"resolvedSent"`
	LastAttempt  *Attempt  `json:"lastAttempt,omitempty"`
	// Failing is set while the integration's deliveries fail (any group);
	// LastFailure is its last failed attempt, whatever the alert.
	Failing     bool     `json:"failing"`
	LastFailure *Attempt `json:"lastFailure,omitempty"`
}

// Explain returns, per integration of a channel, its delivery state for
// the alert with fingerprint fp (its latest incarnation). ok is false when
// the channel is not loaded.
func (m *Manager) Explain(id, fp string) (states []IntegrationState, ok bool) {
	m.mu.Lock()
	c, ok := m.channels[id]
	m.mu.Unlock()
	if !ok {
		return nil, false
	}
	keys := make([]string, 0, len(c.targets))
	for k := range c.targets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t := c.targets[k]
		t.d.mu.Lock()
		st := t.d.explain(fp)
		t.d.mu.Unlock()
		st.Integration = k
		states = append(states, st)
	}
	return states, true
}

func (d *dispatch) explain(fp string) IntegrationState {
	st := IntegrationState{SendResolved: d.sendResolved, Failing: d.failing}
	if d.lastFailure != nil {
		lf := *d.lastFailure
		st.LastFailure = &lf
	}
	var m *member
	var key alert.Key
	for k, mm := range d.members {
		if k.Fingerprint == fp && (m == nil || k.ID > key.ID) {
			m, key = mm, k
		}
	}
	if m == nil || m.g == nil {
		return st
	}
	g := m.g
	st.Known = true
	st.Incarnation = key.ID
	st.Group = g.key
	if t := d.log[g.key]; t != nil && t.isFiring(m.fp) && m.inc.Status == alert.Firing {
		st.Notified = true
		st.LastNotified = t.at
		st.NextRepeat = nextBoundary(g.next, d.groupInterval(), t.at.Add(d.policy.RepeatInterval))
	}
	st.PendingSince = m.pendingSince
	if !m.pendingSince.IsZero() || g.failed {
		st.DueAt = g.next
	}
	st.InFlight = m.inflight
	if a, ok := d.attempts[g.key]; ok {
		st.LastAttempt = &a
	}
	return st
}
