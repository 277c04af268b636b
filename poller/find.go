package poller

import (
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/amtenant/amtenant/alert"
)

// Tracked is what the tracker knows about one incarnation, for diagnostics.
type Tracked struct {
	alert.Incarnation
	// MissingSince is when the alert was first seen absent, zero while it
	// is present.
	MissingSince time.Time
	// ResolveAt is when an absent alert will count as resolved, if it stays
	// absent and resolutions are not held.
	ResolveAt time.Time
	// HoldUntil is set while resolutions are held after an Alertmanager
	// restart.
	HoldUntil time.Time
}

// find returns the tracked incarnations whose labels match ms (all of
// them) or whose fingerprint is fp.
func (t *Tracker) find(now time.Time, ms labels.Matchers, fp string) []Tracked {
	var out []Tracked
	hold := t.holdUntil(now)
	for _, key := range t.cache.Keys() {
		e, _ := t.cache.Peek(key)
		if fp != "" && key != fp {
			continue
		}
		if len(ms) > 0 && !ms.Matches(e.cur.Labels) {
			continue
		}
		for _, p := range e.prev {
			out = append(out, Tracked{Incarnation: tracked(p)})
		}
		tr := Tracked{Incarnation: tracked(e.cur), MissingSince: e.missingSince, HoldUntil: hold}
		if !e.missingSince.IsZero() && e.cur.Status != alert.Resolved {
			tr.ResolveAt = e.missingSince.Add(t.cfg.ResolveGrace)
		}
		out = append(out, tr)
	}
	return out
}

// Find returns the tracked incarnations matching all of ms, or with
// fingerprint fp; safe to call while the poller runs.
func (p *Poller) Find(ms labels.Matchers, fp string) []Tracked {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tracker.find(p.now(), ms, fp)
}
