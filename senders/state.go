package senders

import (
	"sort"
	"time"

	"github.com/amtenant/amtenant/state"
)

// targetKey names an integration of a channel in the state file.
func targetKey(channelID, integration string) string { return channelID + "\x00" + integration }

// Restore hands the manager a saved delivery state. Each entry is used by
// the integration it belongs to when its channel is built, so call it
// before the channels are applied. Entries of channels that never come
// back are kept (and saved again) until they are older than the longest
// repeat interval.
func (m *Manager) Restore(targets []state.Target, savedAt time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen.Add(1)
	for _, st := range targets {
		k := targetKey(st.Channel, st.Integration)
		if c, ok := m.channels[st.Channel]; ok {
			if t, ok := c.targets[st.Integration]; ok {
				t.d.mu.Lock()
				t.d.restore(st)
				t.d.mu.Unlock()
				continue
			}
		}
		if st.OrphanedAt.IsZero() {
			// Unused since this save at least; carried over by later
			// saves with this time, so restarts do not keep it forever.
			st.OrphanedAt = savedAt
		}
		m.restored[k] = st
	}
}

// Generation changes whenever the delivery state to save does: the state
// file is written only then.
func (m *Manager) Generation() uint64 { return m.gen.Load() }

// Export returns every integration's delivery state for the state file.
func (m *Manager) Export(now time.Time) []state.Target {
	m.mu.Lock()
	defer m.mu.Unlock()
	horizon := m.opts.RepeatInterval
	var out []state.Target
	for id, c := range m.channels {
		horizon = max(horizon, c.spec.Policy.RepeatInterval)
		for key, t := range c.targets {
			st := state.Target{Channel: id, Integration: key}
			t.d.mu.Lock()
			t.d.export(&st)
			t.d.mu.Unlock()
			out = append(out, st)
		}
	}
	for k, r := range m.restored {
		if now.Sub(r.OrphanedAt) > horizon {
			delete(m.restored, k) // its channel did not come back
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		return targetKey(out[i].Channel, out[i].Integration) < targetKey(out[j].Channel, out[j].Integration)
	})
	return out
}

// takeRestoredLocked returns and forgets the saved state of an integration.
func (m *Manager) takeRestoredLocked(channelID, integration string) (state.Target, bool) {
	k := targetKey(channelID, integration)
	r, ok := m.restored[k]
	if ok {
		delete(m.restored, k)
	}
	r.OrphanedAt = time.Time{}
	return r, ok
}
