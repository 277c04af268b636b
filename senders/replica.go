package senders

import (
	"time"

	"github.com/amtenant/amtenant/state"
)

// The leader's notification log reaches its followers as records (each
// change of one group's entry) and snapshots (an integration's whole log,
// in the state file's form); the manager applies both to the integrations
// they name, and keeps those of channels not built here yet with the
// saved state, for when they are.

// SetRecorder sets where the changes this replica makes to its
// notification logs go (the replication server, which streams them while
// this replica leads); wanted, when set, says whether a record would go
// anywhere, so that none is made for nobody. Call it before channels are
// applied; both are called with a dispatch's lock held and must not block.
func (m *Manager) SetRecorder(rec func(state.Record), wanted func() bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recorder, m.recordWanted = rec, wanted
}

// SetReplication sets the follower's copy of the leader's log, and what
// counts a batch confirmed by the takeover window for want of it; call it
// before Start.
func (m *Manager) SetReplication(r Replication, fallback func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.opts.Replication, m.opts.WindowFallback = r, fallback
}

// emitter returns the function that reports an integration's log changes.
func (m *Manager) emitterLocked(channelID, integration string) func(string, *told) {
	rec, wanted := m.recorder, m.recordWanted
	if rec == nil {
		return nil
	}
	return func(key string, t *told) {
		if wanted != nil && !wanted() {
			return
		}
		g := state.Group{Key: key}
		if t != nil {
			g.Firing, g.Resolved, g.NotifiedAt = formatFPs(t.firing), formatFPs(t.resolved), t.at
		}
		rec(state.Record{Channel: channelID, Integration: integration, Group: g})
	}
}

// ApplyTarget replaces an integration's notification log with the
// leader's (a snapshot's entry).
func (m *Manager) ApplyTarget(st state.Target, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.targetLocked(st.Channel, st.Integration); t != nil {
		t.d.mu.Lock()
		t.d.mirrorAll(st.Groups)
		t.d.mu.Unlock()
		return
	}
	k := targetKey(st.Channel, st.Integration)
	r, ok := m.restored[k]
	if !ok {
		r = state.Target{Channel: st.Channel, Integration: st.Integration, OrphanedAt: now}
	}
	// The leader's log, with what this replica's saved state says of
	// group timers. A new slice: an export may still be reading the old.
	timers := make(map[string]state.Group, len(r.Groups))
	for _, g := range r.Groups {
		timers[g.Key] = g
	}
	groups := make([]state.Group, 0, len(st.Groups))
	for _, g := range st.Groups {
		sg := timers[g.Key]
		sg.Key, sg.Firing, sg.Resolved, sg.NotifiedAt = g.Key, g.Firing, g.Resolved, g.NotifiedAt
		groups = append(groups, sg)
	}
	r.Groups = groups
	m.restored[k] = r
	m.gen.Add(1)
}

// ApplyRecord applies one change of the leader's notification log.
func (m *Manager) ApplyRecord(rec state.Record, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.targetLocked(rec.Channel, rec.Integration); t != nil {
		t.d.mu.Lock()
		t.d.mirror(rec.Group.Key, toldOf(rec.Group))
		t.d.mu.Unlock()
		return
	}
	k := targetKey(rec.Channel, rec.Integration)
	r, ok := m.restored[k]
	if !ok {
		r = state.Target{Channel: rec.Channel, Integration: rec.Integration, OrphanedAt: now}
	}
	// A new slice (an export may still be reading the old one), without a
	// group whose entry is gone and that has no timer to keep.
	groups := make([]state.Group, 0, len(r.Groups)+1)
	found := false
	for _, g := range r.Groups {
		if g.Key == rec.Group.Key {
			found = true
			g.Firing, g.Resolved, g.NotifiedAt = rec.Group.Firing, rec.Group.Resolved, rec.Group.NotifiedAt
		}
		if len(g.Firing) > 0 || !g.Next.IsZero() || g.Failed {
			groups = append(groups, g)
		}
	}
	if !found && len(rec.Group.Firing) > 0 {
		groups = append(groups, rec.Group)
	}
	r.Groups = groups
	m.restored[k] = r
	m.gen.Add(1)
}

func (m *Manager) targetLocked(channelID, integration string) *target {
	if c, ok := m.channels[channelID]; ok {
		return c.targets[integration]
	}
	return nil
}
