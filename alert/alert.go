// Package alert holds the sidecar's own representation of an Alertmanager
// alert and of one incarnation of it, shared by the poller, the tenancy
// router and the senders so that none of them imports another.
package alert

import (
	"fmt"
	"time"

	"github.com/prometheus/common/model"
)

// Alert is one alert as the Alertmanager API returned it in a poll. It keeps
// only what the sidecar needs, so that the tracker does not hold the
// generated API models.
type Alert struct {
	// Fingerprint is Alertmanager's hash of the label set (16 hex digits).
	Fingerprint  string         `json:"fingerprint"`
	Labels       model.LabelSet `json:"labels"`
	Annotations  Annotations    `json:"annotations,omitzero"`
	StartsAt     time.Time      `json:"startsAt"`
	EndsAt       time.Time      `json:"endsAt,omitzero"`
	UpdatedAt    time.Time      `json:"updatedAt,omitzero"`
	GeneratorURL string         `json:"generatorURL,omitempty"`
	// Suppressed is true when Alertmanager reports the alert silenced or
	// inhibited.
	Suppressed  bool     `json:"suppressed,omitempty"`
	SilencedBy  []string `json:"silencedBy,omitempty"`
	InhibitedBy []string `json:"inhibitedBy,omitempty"`
}

// Status is the tracker's verdict on an incarnation.
type Status int

const (
	// Firing means the alert is present and active: it must be notified.
	Firing Status = iota
	// Suppressed means the alert is present but silenced or inhibited: it is
	// not notified until it becomes active again.
	Suppressed
	// Resolved means the alert has been absent for the resolve grace.
	Resolved
)

func (s Status) String() string {
	switch s {
	case Firing:
		return "firing"
	case Suppressed:
		return "suppressed"
	case Resolved:
		return "resolved"
	}
	return "unknown"
}

// MarshalText writes the status as its name.
func (s Status) MarshalText() ([]byte, error) {
	if s < Firing || s > Resolved {
		return nil, fmt.Errorf("unknown alert status %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads a status name.
func (s *Status) UnmarshalText(b []byte) error {
	for _, c := range []Status{Firing, Suppressed, Resolved} {
		if string(b) == c.String() {
			*s = c
			return nil
		}
	}
	return fmt.Errorf("unknown alert status %q", b)
}

// Incarnation is one life of an alert: from the poll where a fingerprint
// appears with a given startsAt until it is resolved. The same fingerprint
// firing again later is a new incarnation with a new ID.
type Incarnation struct {
	Alert
	// ID is unique per incarnation within one tracker; together with the
	// fingerprint it identifies what a channel has already been told.
	ID     uint64 `json:"id"`
	Status Status `json:"status"`
	// ResolvedAt is when the tracker declared the incarnation resolved (the
	// poll that ended its grace); set only when Status is Resolved. EndsAt
	// then holds when it was first seen absent.
	ResolvedAt time.Time `json:"resolvedAt,omitzero"`
	// Tenant is filled in by the router: the tenant owning the alert's
	// namespace, empty for cluster alerts.
	Tenant string `json:"-"`
	// Unrouted is set on a value the tracker has just made, until the
	// router fills its Tenant in: only then may the router write it.
	// Once routed a value is shared (the senders hold it across polls) and
	// never written again; a change is a new value.
	Unrouted bool `json:"-"`
}

// Key identifies an incarnation across polls.
type Key struct {
	Fingerprint string
	ID          uint64
}

// Key returns the incarnation's key.
func (i *Incarnation) Key() Key { return Key{Fingerprint: i.Fingerprint, ID: i.ID} }
