package senders

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/channel"
	"github.com/amtenant/amtenant/state"
)

// member is what one integration of a channel knows about one incarnation.
type member struct {
	inc *alert.Incarnation
	// notified is true once the firing alert was delivered and until it is
	// suppressed: an alert whose silence ends is notified again.
	notified bool
	// everNotified is true once any firing notification was delivered: only
	// then is its resolution worth a message.
	everNotified bool
	lastNotified time.Time
	// resolvedDone is true once the resolution was delivered, or needs no
	// message.
	resolvedDone bool
	// pendingSince is when the member started to need a notification.
	pendingSince time.Time
	// inflight is set while a notification including it is being sent.
	inflight bool
	// group and groupLabels are the member's group under the current
	// policy: computed when it joins or the policy changes, not on every
	// scheduling pass (the labels of a fingerprint never change).
	group       string
	groupLabels model.LabelSet
}

func (m *member) needsFiring() bool {
	return m.inc.Status == alert.Firing && !m.notified
}

func (m *member) needsResolved(sendResolved bool) bool {
	return m.inc.Status == alert.Resolved && m.everNotified && !m.resolvedDone && sendResolved
}

// batch is one notification for one group.
type batch struct {
	groupKey    string
	groupLabels model.LabelSet
	firing      []*member
	resolved    []*member
	reason      notify.NotifyReason
	// since is the earliest time a member of the batch became pending, for
	// the latency metric.
	since time.Time
	// The incarnations and the repeat interval as they were when the batch
	// was made: the members and the policy may change while it is sent.
	firingIncs, resolvedIncs []*alert.Incarnation
	repeat                   time.Duration
}

// dispatch is the delivery state of one integration of one channel:
// pure bookkeeping with explicit times, driven by the target's loop.
type dispatch struct {
	// The mutex is shared by the targets that use this state in turn when a
	// channel is rebuilt.
	sync.Mutex

	policy       channel.Policy
	sendResolved bool
	members      map[alert.Key]*member
	// sentGroups records groups that were notified at least once, for the
	// notification reason.
	sentGroups map[string]bool
	inflight   map[string]bool
	// attempts is the last delivery attempt per group, for diagnostics.
	attempts map[string]Attempt
	// wake wakes the scheduling loop of whichever target uses this state
	// now (a rebuilt channel's new target).
	wake chan struct{}
	// restored is what a saved state says about incarnations, consumed by
	// the first sync: members joining then take their flags from it.
	restored map[alert.Key]state.Member
	// gen, when set, counts changes worth saving (the manager's counter).
	gen *atomic.Uint64
}

// touch records a change worth saving.
func (d *dispatch) touch() {
	if d.gen != nil {
		d.gen.Add(1)
	}
}

func newDispatch(p channel.Policy, sendResolved bool) *dispatch {
	return &dispatch{
		policy:       p,
		sendResolved: sendResolved,
		members:      map[alert.Key]*member{},
		sentGroups:   map[string]bool{},
		inflight:     map[string]bool{},
		attempts:     map[string]Attempt{},
		wake:         make(chan struct{}, 1),
	}
}

func (d *dispatch) groupOf(inc *alert.Incarnation) (string, model.LabelSet) {
	ls := d.policy.GroupLabels(inc.Labels)
	return ls.String(), ls
}

// setPolicy changes the policy and regroups the members.
func (d *dispatch) setPolicy(p channel.Policy) {
	d.policy = p
	for _, m := range d.members {
		m.group, m.groupLabels = d.groupOf(m.inc)
	}
}

// sync replaces the set of incarnations routed to this integration.
func (d *dispatch) sync(now time.Time, incs []*alert.Incarnation) {
	seen := make(map[alert.Key]struct{}, len(incs))
	for _, inc := range incs {
		k := inc.Key()
		seen[k] = struct{}{}
		m, ok := d.members[k]
		if !ok {
			r, wasSaved := d.restored[k]
			if inc.Status == alert.Resolved && !(wasSaved && r.EverNotified) {
				continue // never notified here: nothing to resolve
			}
			m = &member{}
			if wasSaved {
				m.notified, m.everNotified, m.lastNotified = r.Notified, r.EverNotified, r.LastNotified
				m.resolvedDone, m.pendingSince = r.ResolvedDone, r.PendingSince
			}
			m.group, m.groupLabels = d.groupOf(inc)
			d.members[k] = m
			d.touch()
		}
		m.inc = inc
		switch inc.Status {
		case alert.Suppressed:
			if m.notified {
				d.touch()
			}
			m.notified = false
			if !m.inflight {
				m.pendingSince = time.Time{}
			}
		case alert.Resolved:
			if !m.inflight && (!m.everNotified || !d.sendResolved) {
				m.resolvedDone = true
			}
		}
		if (m.needsFiring() || m.needsResolved(d.sendResolved)) && m.pendingSince.IsZero() {
			m.pendingSince = now
			d.touch()
		}
	}
	for k, m := range d.members {
		if _, ok := seen[k]; ok || m.inflight {
			continue
		}
		// Gone from the routed set: evicted, moved to another tenant, or no
		// longer matched. A resolution already due is still delivered.
		if m.needsResolved(d.sendResolved) {
			continue
		}
		delete(d.members, k)
		d.touch()
	}
	d.restored = nil
	d.prune()
}

// restore seeds a new dispatch with a saved state.
func (d *dispatch) restore(st state.Target) {
	d.restored = make(map[alert.Key]state.Member, len(st.Members))
	for _, m := range st.Members {
		d.restored[m.Key()] = m
	}
	for _, g := range st.Groups {
		d.sentGroups[g] = true
	}
}

// export returns what this integration was told, for the state file. A
// batch in flight has not changed its members yet: they are saved as they
// were, pending, and sent again after a restart. Saved members not yet
// matched to an incarnation are kept.
func (d *dispatch) export(st *state.Target) {
	st.Members = make([]state.Member, 0, len(d.members)+len(d.restored))
	for k, m := range d.members {
		st.Members = append(st.Members, state.Member{
			Fingerprint: k.Fingerprint, ID: k.ID,
			Notified: m.notified, EverNotified: m.everNotified, LastNotified: m.lastNotified,
			ResolvedDone: m.resolvedDone, PendingSince: m.pendingSince,
		})
	}
	for k, r := range d.restored {
		if _, ok := d.members[k]; !ok {
			st.Members = append(st.Members, r)
		}
	}
	sort.Slice(st.Members, func(i, j int) bool {
		a, b := st.Members[i], st.Members[j]
		if a.Fingerprint != b.Fingerprint {
			return a.Fingerprint < b.Fingerprint
		}
		return a.ID < b.ID
	})
	st.Groups = make([]string, 0, len(d.sentGroups))
	for g := range d.sentGroups {
		st.Groups = append(st.Groups, g)
	}
	sort.Strings(st.Groups)
}

// prune drops members with nothing left to do, and the attempts of groups
// that are gone.
func (d *dispatch) prune() {
	for k, m := range d.members {
		if m.inc.Status == alert.Resolved && (m.resolvedDone || !d.sendResolved) && !m.inflight {
			delete(d.members, k)
			d.touch()
		}
	}
	if len(d.attempts) > 2*len(d.members)+16 {
		live := make(map[string]bool, len(d.members))
		for _, m := range d.members {
			live[m.group] = true
		}
		for g := range d.attempts {
			if !live[g] && !d.inflight[g] {
				delete(d.attempts, g)
			}
		}
	}
	if len(d.sentGroups) > 2*len(d.members)+16 {
		live := make(map[string]bool, len(d.members))
		for _, m := range d.members {
			live[m.group] = true
		}
		for g := range d.sentGroups {
			if !live[g] && !d.inflight[g] {
				delete(d.sentGroups, g)
			}
		}
	}
}

// next returns when the next batch is due, or zero if nothing is. Groups
// in flight are skipped: they are looked at again when their batch ends.
func (d *dispatch) next() time.Time {
	var next time.Time
	for _, m := range d.members {
		if m.inflight {
			continue
		}
		if len(d.inflight) > 0 {
			if d.inflight[m.group] {
				continue
			}
		}
		var at time.Time
		switch {
		case m.needsFiring(), m.needsResolved(d.sendResolved):
			at = m.pendingSince.Add(d.policy.GroupWait)
		case m.inc.Status == alert.Firing && m.notified:
			at = m.lastNotified.Add(d.policy.RepeatInterval)
		default:
			continue
		}
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}

// due returns the batches to send at now and marks their members in
// flight. A group is due when one of its members has waited the group
// wait, or its repeat interval elapsed; the batch then lists every firing
// alert of the group, as Alertmanager does, and the resolutions not yet
// told.
func (d *dispatch) due(now time.Time) []*batch {
	type groupState struct {
		b   *batch
		due bool
		all []*member
	}
	groups := map[string]*groupState{}
	for _, m := range d.members {
		key, ls := m.group, m.groupLabels
		if d.inflight[key] || m.inflight {
			// m.inflight with a group not in flight: the grouping changed
			// while it was being sent; it waits for that batch to end.
			continue
		}
		g := groups[key]
		if g == nil {
			g = &groupState{b: &batch{groupKey: key, groupLabels: ls}}
			groups[key] = g
		}
		g.all = append(g.all, m)
		pending := m.needsFiring() || m.needsResolved(d.sendResolved)
		if pending && !now.Before(m.pendingSince.Add(d.policy.GroupWait)) {
			g.due = true
		}
		if m.inc.Status == alert.Firing && m.notified && !now.Before(m.lastNotified.Add(d.policy.RepeatInterval)) {
			g.due = true
		}
	}
	var out []*batch
	for key, g := range groups {
		if !g.due {
			continue
		}
		b := g.b
		newFiring, newResolved := false, false
		for _, m := range g.all {
			switch {
			case m.inc.Status == alert.Firing:
				b.firing = append(b.firing, m)
				newFiring = newFiring || !m.notified
			case m.needsResolved(d.sendResolved):
				b.resolved = append(b.resolved, m)
				newResolved = true
			default:
				continue
			}
			if !m.pendingSince.IsZero() && (b.since.IsZero() || m.pendingSince.Before(b.since)) {
				b.since = m.pendingSince
			}
		}
		if len(b.firing) == 0 && len(b.resolved) == 0 {
			continue
		}
		switch {
		case !d.sentGroups[key]:
			b.reason = notify.ReasonFirstNotification
		case newFiring:
			b.reason = notify.ReasonNewAlertsInGroup
		case newResolved && len(b.firing) == 0:
			b.reason = notify.ReasonAllAlertsResolved
		case newResolved:
			b.reason = notify.ReasonNewResolvedAlerts
		default:
			b.reason = notify.ReasonRepeatIntervalElapsed
		}
		if b.since.IsZero() {
			b.since = now
		}
		sortMembers(b.firing)
		sortMembers(b.resolved)
		b.repeat = d.policy.RepeatInterval
		for _, m := range b.firing {
			m.inflight = true
			b.firingIncs = append(b.firingIncs, m.inc)
		}
		for _, m := range b.resolved {
			m.inflight = true
			b.resolvedIncs = append(b.resolvedIncs, m.inc)
		}
		d.inflight[key] = true
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].groupKey < out[j].groupKey })
	return out
}

// complete records the end of a batch. delivered is false when the batch
// was given up (dropped); its members are still marked as told, so that a
// channel that keeps failing is retried at the next event or repeat rather
// than in a tight loop.
func (d *dispatch) complete(b *batch, now time.Time, delivered bool) {
	d.touch()
	delete(d.inflight, b.groupKey)
	if delivered {
		d.sentGroups[b.groupKey] = true
	}
	for _, m := range b.firing {
		m.inflight = false
		if m.inc.Status == alert.Suppressed {
			// Silenced while in flight: it counts as told, but is told again
			// when the silence ends.
			m.everNotified = true
			continue
		}
		m.notified = true
		m.everNotified = true
		m.lastNotified = now
		m.pendingSince = time.Time{}
	}
	for _, m := range b.resolved {
		m.inflight = false
		m.resolvedDone = true
		m.pendingSince = time.Time{}
	}
	// Members that changed while in flight (say, resolved) become pending
	// from now on.
	for _, m := range d.members {
		if (m.needsFiring() || m.needsResolved(d.sendResolved)) && m.pendingSince.IsZero() && !m.inflight {
			m.pendingSince = now
		}
	}
	d.prune()
}

// cancel returns a batch that was not attempted (shutdown) to pending.
func (d *dispatch) cancel(b *batch) {
	delete(d.inflight, b.groupKey)
	for _, m := range append(b.firing, b.resolved...) {
		m.inflight = false
	}
}

func sortMembers(ms []*member) {
	sort.Slice(ms, func(i, j int) bool {
		a, b := ms[i].inc, ms[j].inc
		if !a.StartsAt.Equal(b.StartsAt) {
			return a.StartsAt.Before(b.StartsAt)
		}
		return a.Fingerprint < b.Fingerprint
	})
}
