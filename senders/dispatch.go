package senders

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/common/model"
	"golang.org/x/time/rate"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/channel"
	"github.com/amtenant/amtenant/state"
)

// The delivery rules follow Alertmanager's dispatcher (dispatch/dispatch.go,
// aggrGroup) and dedup stage (notify/dedup_stage.go), so that a team moving
// from an Alertmanager route to a channel sees the same messages:
//
//   - Alerts are grouped by the channel's group-by labels. A new group is
//     flushed after the group wait (at once if its first alert started
//     longer ago than that), then every group interval.
//   - At each flush the group's firing and resolved alerts are compared with
//     what its last delivered notification said (the notification log
//     entry, told below): a message goes out only when there are new firing
//     alerts, new resolutions (if the integration sends them), all alerts
//     resolved, or the repeat interval elapsed.
//   - A notification that was not delivered changes nothing: the group is
//     flushed again at its next interval, with whatever it then holds.
//
// Deliberate differences, each for a reason documented in the README:
// an alert that was suppressed is forgotten by the log entry, so that it is
// notified again when its silence ends; an alert that resolved while
// suppressed is never announced as resolved (Alertmanager mutes it too).

// member is one incarnation routed to one integration.
type member struct {
	inc *alert.Incarnation
	fp  uint64
	g   *group
	// pendingSince is when the member started to need telling (joined,
	// became active again, resolved); zero once told. For the latency
	// metric and explain.
	pendingSince time.Time
	// inflight is set while a notification listing it is being sent.
	inflight bool
	// synced is the number of the last sync that routed it here.
	synced uint64
}

// group is one aggregation group of one integration.
type group struct {
	key     string
	labels  model.LabelSet
	members map[alert.Key]*member
	// next is when the group is flushed next. After the first flush it
	// moves in steps of the group interval.
	next     time.Time
	inflight bool
	// failed is set when the last notification was not delivered: the
	// group is flushed at once when the channel's configuration changes.
	failed bool
	// changes counts the changes of what a flush of the group reads: its
	// members, their states, their being in flight, its log entry.
	changes uint64
	// quiet is the last flush's, if it found nothing to say.
	quiet quiet
}

// quiet records that a flush found nothing to say. Until something it
// reads changes (the group's changes, the integration's: policy, sending
// of resolutions, the whole log) or the repeat interval of its log entry
// elapses, flushing the group again would say nothing either and change
// nothing, so it is skipped: most groups of a busy channel are unchanged
// at most of their group intervals, and the flush of a big group costs
// its members' fingerprints sorted and compared.
type quiet struct {
	ok bool
	// group and dispatch are the changes counts of the group and of the
	// integration when it was recorded.
	group, dispatch uint64
	// until is when the log entry's repeat interval elapses; zero when
	// there is no entry.
	until time.Time
}

// told is what the last delivered notification of a group said:
// Alertmanager's notification log entry (nflogpb.Entry), fingerprints
// sorted.
type told struct {
	firing, resolved []uint64
	at               time.Time
}

func (t *told) isFiring(fp uint64) bool {
	_, ok := slices.BinarySearch(t.firing, fp)
	return ok
}

// batch is one notification for one group.
type batch struct {
	groupKey    string
	groupLabels model.LabelSet
	firing      []*member
	resolved    []*member
	reason      notify.NotifyReason
	// at is the flush time: the log entry's timestamp once delivered.
	at time.Time
	// since is the earliest time a member of the batch became pending, for
	// the latency metric.
	since time.Time
	// The incarnations and the repeat interval as they were when the batch
	// was made: the members and the policy may change while it is sent.
	firingIncs, resolvedIncs []*alert.Incarnation
	repeat                   time.Duration
	// firingFPs and resolvedFPs are the log entry the batch makes.
	firingFPs, resolvedFPs []uint64
	// shared is set when the batch holds a share of the shared bound
	// (it was not its integration's only one in flight), of pooled
	// alerts.
	shared bool
	pooled int
}

// dispatch is the delivery state of one integration of one channel:
// pure bookkeeping with explicit times, driven by the target's loop.
type dispatch struct {
	// mu is shared by the targets that use this state in turn when a
	// channel is rebuilt.
	mu sync.Mutex

	policy       channel.Policy
	limits       channel.Limits
	sendResolved bool
	// limiter paces notifications (limits.PerMinute); nil: unpaced.
	limiter *rate.Limiter
	// overflow and overflowKey are the overflow group's labels and key
	// (limits.Groups), made once per change of the limits.
	overflow    model.LabelSet
	overflowKey string
	// inflight counts the groups being sent.
	inflight int
	// shared bounds the notifications in flight of all integrations
	// beyond each one's first (nil: unbounded); waitsShared is set when
	// the last due left a group waiting for it.
	shared      *sharedInFlight
	waitsShared bool
	// changes counts the changes of what every group's flush reads: the
	// policy, the sending of resolutions, the whole log (see quiet).
	changes uint64
	// alwaysFlush turns the skip of quiet groups off (for tests, which
	// compare the two).
	alwaysFlush bool
	// syncs counts the syncs, to mark the members each one routes.
	syncs uint64
	// lastDelivered is when a notification was last delivered, for the
	// per-channel metric; lastFailure the last failed attempt, for explain.
	lastDelivered time.Time
	lastFailure   *Attempt
	members       map[alert.Key]*member
	groups        map[string]*group
	// log is the notification log: per group key, what was last told. It
	// outlives its group, as Alertmanager's does: a group that forms again
	// is compared with what was said before.
	log map[string]*told
	// attempts is the last delivery attempt per group, for diagnostics.
	attempts map[string]Attempt
	// failing is set from an integration's first failed attempt to its next
	// delivery: health is reported on the transitions only.
	failing bool
	// wake wakes the scheduling loop of whichever target uses this state
	// now (a rebuilt channel's new target).
	wake chan struct{}
	// restoredMembers and restoredNext are what a saved state says about
	// incarnations and group timers, consumed by the first sync.
	restoredMembers map[alert.Key]bool
	restoredNext    map[string]state.Group
	// gen, when set, counts changes worth saving (the manager's counter).
	gen *atomic.Uint64
	// emit, when set, is told of every change of the log this replica
	// makes itself (setLog): the record the leader replicates.
	emit func(groupKey string, t *told)
	// logChanged is closed and replaced whenever the log takes an entry of
	// the leader's record (mirror): a follower's batches waiting in shadow
	// look again.
	logChanged chan struct{}
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
		groups:       map[string]*group{},
		log:          map[string]*told{},
		attempts:     map[string]Attempt{},
		wake:         make(chan struct{}, 1),
		logChanged:   make(chan struct{}),
	}
}

// setLog sets (nil: deletes) a group's log entry: every change this
// replica makes to its log goes through here, so that the leader's record
// reaches its followers.
func (d *dispatch) setLog(key string, t *told) {
	d.changed(key)
	if t == nil {
		if _, ok := d.log[key]; !ok {
			return
		}
		delete(d.log, key)
	} else {
		d.log[key] = t
	}
	d.touch()
	if d.emit != nil {
		d.emit(key, t)
	}
}

// mirror sets (nil: deletes) a group's log entry from the leader's
// record, and wakes the batches waiting for it.
func (d *dispatch) mirror(key string, t *told) {
	d.changed(key)
	if t == nil {
		delete(d.log, key)
	} else {
		d.log[key] = t
	}
	d.touch()
	d.logMirrored()
}

// mirrorAll replaces the whole log with the leader's.
func (d *dispatch) mirrorAll(groups []state.Group) {
	d.changes++
	clear(d.log)
	for _, g := range groups {
		if t := toldOf(g); t != nil {
			d.log[g.Key] = t
		}
	}
	d.touch()
	d.logMirrored()
}

// changed records a change of what the flush of the group key reads.
func (d *dispatch) changed(key string) {
	if g := d.groups[key]; g != nil {
		g.changes++
	}
}

// stillQuiet reports whether g's last flush found nothing to say and
// nothing it reads changed since, so that flushing it at now would say
// nothing either (see quiet).
func (d *dispatch) stillQuiet(g *group, now time.Time) bool {
	q := g.quiet
	return q.ok && !d.alwaysFlush && q.group == g.changes && q.dispatch == d.changes && (q.until.IsZero() || !now.After(q.until))
}

// setQuiet records that g's flush found nothing to say.
func (d *dispatch) setQuiet(g *group) {
	q := quiet{ok: true, group: g.changes, dispatch: d.changes}
	if t := d.log[g.key]; t != nil {
		q.until = t.at.Add(d.policy.RepeatInterval)
	}
	g.quiet = q
}

// setSendResolved changes whether the integration sends resolutions.
func (d *dispatch) setSendResolved(v bool) {
	if v != d.sendResolved {
		d.sendResolved = v
		d.changes++
	}
}

func (d *dispatch) logMirrored() {
	close(d.logChanged)
	d.logChanged = make(chan struct{})
}

// toldOf reads a log entry from its saved form; nil for none.
func toldOf(g state.Group) *told {
	if len(g.Firing) == 0 {
		return nil
	}
	return &told{firing: parseFPs(g.Firing), resolved: parseFPs(g.Resolved), at: g.NotifiedAt}
}

// covers reports whether the log says what b would: the notification was
// sent (by the leader, as its record shows) or is not needed.
func (d *dispatch) covers(b *batch) bool {
	return needsUpdate(d.log[b.groupKey], b.firingFPs, b.resolvedFPs, d.sendResolved, b.repeat, b.at) == notify.ReasonDoNotNotify
}

// setLimits changes the limits. A changed group limit regroups the
// members, so that the overflow group forms or dissolves as it says.
func (d *dispatch) setLimits(l channel.Limits, now time.Time) {
	if l.PerMinute != d.limits.PerMinute {
		d.limiter = nil
		if l.PerMinute > 0 {
			d.limiter = rate.NewLimiter(rate.Limit(float64(l.PerMinute)/60), l.PerMinute)
			// Start full, as a fresh channel may send its burst at once.
			d.limiter.SetBurstAt(now, l.PerMinute)
		}
	}
	regroup := l.Groups != d.limits.Groups
	d.limits = l
	d.overflow = model.LabelSet{overflowLabel: model.LabelValue(fmt.Sprintf("more than %d groups: alerts of further groups are listed together here", l.Groups))}
	d.overflowKey = d.overflow.String()
	if regroup {
		d.regroup(now)
	}
}

// overflowLabel is the group label of the overflow group: its message
// says that the channel reached its group limit.
const overflowLabel model.LabelName = "amtenant_overflow"

// normalGroups counts the groups other than the overflow group.
func (d *dispatch) normalGroups() int {
	n := len(d.groups)
	if _, ok := d.groups[d.overflowKey]; ok {
		n--
	}
	return n
}

// defaultGroupInterval is Alertmanager's, for a policy that sets none.
const defaultGroupInterval = 5 * time.Minute

func (d *dispatch) groupInterval() time.Duration {
	if d.policy.GroupInterval <= 0 {
		return defaultGroupInterval
	}
	return d.policy.GroupInterval
}

// setPolicy changes the policy and, if the grouping changed, regroups the
// members. A group being sent keeps its batch; its members join their new
// groups at once.
func (d *dispatch) setPolicy(p channel.Policy, now time.Time) {
	regroup := !slices.Equal(p.GroupBy, d.policy.GroupBy) || p.GroupByAll != d.policy.GroupByAll
	d.policy = p
	d.changes++
	if regroup {
		d.regroup(now)
	}
}

// regroup puts every member in its group again.
func (d *dispatch) regroup(now time.Time) {
	for _, m := range d.members {
		d.leave(m)
	}
	for _, m := range d.members {
		d.join(m, now)
	}
}

// retryFailed flushes at once every group whose last notification was not
// delivered: the channel's configuration changed, and may now work.
func (d *dispatch) retryFailed(now time.Time) {
	for _, g := range d.groups {
		if g.failed && g.next.After(now) {
			g.next = now
		}
	}
}

// join adds m to its group under the current policy, creating the group.
func (d *dispatch) join(m *member, now time.Time) {
	ls := d.policy.GroupLabels(m.inc.Labels)
	key := ls.String()
	g := d.groups[key]
	if g == nil && d.limits.Groups > 0 && d.normalGroups() >= d.limits.Groups {
		// The group limit is reached: the alert is delivered in the
		// overflow group, never dropped.
		ls, key = d.overflow, d.overflowKey
		g = d.groups[key]
	}
	if g == nil {
		g = &group{key: key, labels: ls, members: map[alert.Key]*member{}, next: d.firstFlush(m.inc, now)}
		if r, ok := d.restoredNext[key]; ok {
			if !r.Next.IsZero() {
				g.next = r.Next
			}
			g.failed = r.Failed
			delete(d.restoredNext, key)
		}
		d.groups[key] = g
	}
	g.members[m.inc.Key()] = m
	g.changes++
	m.g = g
}

// firstFlush is when a new group is first flushed: a group wait after its
// first alert started. Alertmanager sees an alert as it arrives and starts
// the group wait then (at once if the alert is older than that); the
// sidecar sees it up to a poll later, so the wait counts from the alert's
// start, bounded by a group wait from now against a skewed clock.
func (d *dispatch) firstFlush(inc *alert.Incarnation, now time.Time) time.Time {
	gw := d.policy.GroupWait
	at := inc.StartsAt.Add(gw)
	if inc.StartsAt.IsZero() || at.After(now.Add(gw)) {
		at = now.Add(gw)
	}
	if at.Before(now) {
		return now
	}
	return at
}

// leave removes m from its group, dropping the group once empty and idle.
func (d *dispatch) leave(m *member) {
	g := m.g
	if g == nil {
		return
	}
	delete(g.members, m.inc.Key())
	g.changes++
	m.g = nil
	d.dropIfEmpty(g)
}

// forget removes m altogether.
func (d *dispatch) forget(m *member) {
	d.leave(m)
	delete(d.members, m.inc.Key())
	d.touch()
}

// untell removes a suppressed alert from what its group was told, so that
// it is notified again as new when it becomes active.
func (d *dispatch) untell(m *member) {
	t := d.log[m.g.key]
	if t == nil {
		return
	}
	if i, ok := slices.BinarySearch(t.firing, m.fp); ok {
		d.setLog(m.g.key, &told{firing: slices.Delete(slices.Clone(t.firing), i, i+1), resolved: t.resolved, at: t.at})
	}
}

// sync replaces the set of incarnations routed to this integration.
func (d *dispatch) sync(now time.Time, incs []*alert.Incarnation) {
	// Members still routed are marked with this sync's number (no set of
	// keys is made per sync).
	d.syncs++
	for _, inc := range incs {
		if m, ok := d.members[inc.Key()]; ok {
			m.synced = d.syncs
		}
	}
	for _, m := range d.members {
		if m.synced == d.syncs {
			continue
		}
		if m.inflight || m.inc.Status == alert.Resolved {
			// Kept although the tracker no longer reports it: a
			// resolution waits for its group's next flush, a member in
			// flight for the end of its notification.
			continue
		}
		// Gone from the routed set: evicted, moved to another tenant, or no
		// longer matched. Gone first, so that a group it leaves free under
		// the group limit is free for a newcomer.
		d.forget(m)
	}
	for _, inc := range incs {
		k := inc.Key()
		m, ok := d.members[k]
		if !ok {
			if inc.Status == alert.Resolved && !d.restoredMembers[k] {
				continue // never seen firing here: nothing to resolve
			}
			m = &member{inc: inc, fp: uint64(inc.Labels.Fingerprint()), pendingSince: now, synced: d.syncs}
			d.members[k] = m
			d.join(m, now)
			d.touch()
		}
		if m.inc.Status != inc.Status {
			d.touch()
			if inc.Status != alert.Suppressed && m.pendingSince.IsZero() {
				m.pendingSince = now
			}
		}
		if m.g != nil && (m.inc.Status != inc.Status || m.inc.Suppressed != inc.Suppressed) {
			m.g.changes++
		}
		m.inc = inc
		if inc.Status == alert.Suppressed {
			m.pendingSince = time.Time{}
			if m.g != nil && !m.inflight {
				d.untell(m)
			}
		}
	}
	d.restoredMembers = nil
	d.restoredNext = nil
	d.prune(now)
}

// restore seeds a new dispatch with a saved state.
func (d *dispatch) restore(st state.Target) {
	d.restoredMembers = make(map[alert.Key]bool, len(st.Members))
	for _, m := range st.Members {
		d.restoredMembers[m.Key()] = true
	}
	d.changes++
	d.restoredNext = make(map[string]state.Group, len(st.Groups))
	for _, g := range st.Groups {
		if !g.Next.IsZero() || g.Failed {
			d.restoredNext[g.Key] = g
		}
		if t := toldOf(g); t != nil {
			d.log[g.Key] = t
		}
	}
}

// export returns what this integration was told, for the state file. A
// notification in flight has not changed the log yet: after a restart its
// group is compared again and sent again.
func (d *dispatch) export(st *state.Target) {
	st.Members = nil
	for k, m := range d.members {
		if m.inc.Status == alert.Resolved {
			st.Members = append(st.Members, state.Member{Fingerprint: k.Fingerprint, ID: k.ID})
		}
	}
	for k := range d.restoredMembers {
		if _, ok := d.members[k]; !ok {
			st.Members = append(st.Members, state.Member{Fingerprint: k.Fingerprint, ID: k.ID})
		}
	}
	sort.Slice(st.Members, func(i, j int) bool {
		a, b := st.Members[i], st.Members[j]
		if a.Fingerprint != b.Fingerprint {
			return a.Fingerprint < b.Fingerprint
		}
		return a.ID < b.ID
	})
	keys := make(map[string]bool, len(d.groups)+len(d.log))
	for k := range d.groups {
		keys[k] = true
	}
	for k := range d.log {
		keys[k] = true
	}
	for k := range d.restoredNext {
		keys[k] = true
	}
	for k := range keys {
		sg := d.restoredNext[k] // a group not formed again since the restart
		sg.Key = k
		if g := d.groups[k]; g != nil {
			sg.Next, sg.Failed = g.next, g.failed
			if g.inflight {
				// Its flush is not over: after a restart the group is
				// flushed again as soon as it forms.
				sg.Next = time.Time{}
			}
		}
		sg.Firing, sg.Resolved, sg.NotifiedAt = nil, nil, time.Time{}
		if t := d.log[k]; t != nil {
			sg.Firing, sg.Resolved, sg.NotifiedAt = formatFPs(t.firing), formatFPs(t.resolved), t.at
		}
		st.Groups = append(st.Groups, sg)
	}
	sort.Slice(st.Groups, func(i, j int) bool { return st.Groups[i].Key < st.Groups[j].Key })
}

// prune drops log entries that no longer decide anything, and the
// attempts of groups that are gone.
func (d *dispatch) prune(now time.Time) {
	for k, t := range d.log {
		if d.groups[k] != nil {
			continue
		}
		// A group that formed again would be told afresh either way once
		// its entry is older than the repeat interval; an entry with no
		// firing alerts is as good as none.
		if len(t.firing) == 0 || (!t.at.IsZero() && d.policy.RepeatInterval > 0 && now.Sub(t.at) > d.policy.RepeatInterval) {
			d.setLog(k, nil)
		}
	}
	if len(d.attempts) > len(d.groups)+16 {
		for k := range d.attempts {
			if d.groups[k] == nil {
				delete(d.attempts, k)
			}
		}
	}
}

// next returns when the next group is due, or zero if none is. Groups in
// flight are skipped: they are looked at again when their batch ends.
func (d *dispatch) next() time.Time {
	var next time.Time
	for _, g := range d.groups {
		if g.inflight || len(g.members) == 0 {
			continue
		}
		if next.IsZero() || g.next.Before(next) {
			next = g.next
		}
	}
	return next
}

// wakeAt returns when the scheduling loop should look again after due
// returned at now with at most slots groups in flight: the next group's
// flush, or, when groups wait for a delivery slot or the shared bound,
// zero (the end of a delivery wakes the loop), or for the rate limit, the
// next token.
func (d *dispatch) wakeAt(now time.Time, slots int) time.Time {
	next := d.next()
	if next.IsZero() || next.After(now) {
		return next
	}
	if d.inflight >= slots || d.waitsShared {
		return time.Time{}
	}
	if d.limiter != nil {
		if tokens := d.limiter.TokensAt(now); tokens < 1 {
			return now.Add(time.Duration((1 - tokens) / float64(d.limiter.Limit()) * float64(time.Second)))
		}
	}
	return now
}

// due flushes the groups due at now, the longest waiting first: it
// returns the notifications to send, and marks their members in flight.
// At most slots groups are in flight at once, beyond the first only as
// the shared bound allows, and the rate limit holds further groups back;
// those stay due, and are flushed when a slot or a token frees, with
// whatever they then hold.
//
// While the channel is muted (its mute or active time intervals) groups
// are not flushed, as in Alertmanager's time mute stage: nothing is sent,
// nothing counts as told, and the first flush after the window opens
// sends what is pending.
func (d *dispatch) due(now time.Time, slots int) []*batch {
	d.waitsShared = false
	var ready []*group
	for _, g := range d.groups {
		if !g.inflight && !now.Before(g.next) {
			ready = append(ready, g)
		}
	}
	sort.Slice(ready, func(i, j int) bool {
		if !ready[i].next.Equal(ready[j].next) {
			return ready[i].next.Before(ready[j].next)
		}
		return ready[i].key < ready[j].key
	})
	muted := d.policy.Mute.Muted(now)
	var out []*batch
	for _, g := range ready {
		if muted {
			g.next = nextBoundary(g.next, d.groupInterval(), now)
			continue
		}
		if d.inflight >= slots || (d.limiter != nil && d.limiter.TokensAt(now) < 1) {
			break // deferred: still due
		}
		if d.stillQuiet(g, now) {
			g.next = nextBoundary(g.next, d.groupInterval(), now)
			continue
		}
		// Beyond the first, a share of the shared bound: reserved for the
		// group's size, then for the batch's.
		shared, reserved := d.inflight > 0, len(g.members)
		if shared && !d.shared.take(reserved) {
			d.waitsShared = true
			break // deferred: flushed when one of this integration's ends
		}
		g.next = nextBoundary(g.next, d.groupInterval(), now)
		b := d.flush(g, now)
		if b == nil {
			if shared {
				d.shared.give(reserved)
			}
			d.setQuiet(g)
			continue
		}
		g.quiet = quiet{}
		if shared {
			b.shared, b.pooled = true, len(b.firingIncs)+len(b.resolvedIncs)
			d.shared.shrink(reserved - b.pooled)
		}
		if d.limiter != nil {
			d.limiter.AllowN(now, 1)
		}
		out = append(out, b)
	}
	return out
}

// nextBoundary returns the first time after now that is a whole number of
// intervals after from.
func nextBoundary(from time.Time, interval time.Duration, now time.Time) time.Time {
	if from.After(now) {
		return from
	}
	n := now.Sub(from)/interval + 1
	return from.Add(n * interval)
}

// flush decides what a group due at now says, Alertmanager's dedup stage:
// nil when nothing is to be sent.
func (d *dispatch) flush(g *group, now time.Time) *batch {
	var firing, resolved []*member
	active := map[uint64]bool{}
	for _, m := range g.members {
		if m.inflight {
			continue // regrouped while its old group is being sent
		}
		switch m.inc.Status {
		case alert.Firing:
			firing = append(firing, m)
			active[m.fp] = true
		case alert.Suppressed:
			active[m.fp] = true
		}
	}
	for _, m := range g.members {
		if m.inflight || m.inc.Status != alert.Resolved {
			continue
		}
		switch {
		case active[m.fp]:
			// Fired again: Alertmanager holds one alert per fingerprint,
			// the newest.
			d.forget(m)
		case m.inc.Suppressed:
			// Resolved while silenced or inhibited: muted, as in
			// Alertmanager.
			d.forget(m)
		default:
			resolved = append(resolved, m)
		}
	}
	firingFPs, resolvedFPs := fingerprints(firing), fingerprints(resolved)
	reason := needsUpdate(d.log[g.key], firingFPs, resolvedFPs, d.sendResolved, d.policy.RepeatInterval, now)
	if reason == notify.ReasonDoNotNotify {
		// Nothing to say; the resolutions in the group need no message.
		for _, m := range resolved {
			d.forget(m)
		}
		d.dropIfEmpty(g)
		return nil
	}
	b := &batch{
		groupKey: g.key, groupLabels: g.labels, reason: reason, at: now,
		repeat: d.policy.RepeatInterval, firingFPs: firingFPs, resolvedFPs: resolvedFPs,
		firing: firing,
	}
	if d.sendResolved {
		b.resolved = resolved
	}
	if len(b.firing) == 0 && len(b.resolved) == 0 {
		// All resolved, and the integration does not send resolutions:
		// logged as told without a message, as Alertmanager's retry
		// stage does.
		b.resolved = resolved
		d.record(g, b, now)
		return nil
	}
	for _, m := range append(firing, resolved...) {
		if !m.pendingSince.IsZero() && (b.since.IsZero() || m.pendingSince.Before(b.since)) {
			b.since = m.pendingSince
		}
	}
	if b.since.IsZero() {
		b.since = now
	}
	sortMembers(b.firing)
	sortMembers(b.resolved)
	// The values as they are now: the tracker's values are never
	// written, a change is a new value that the members take meanwhile.
	b.firingIncs = make([]*alert.Incarnation, 0, len(b.firing))
	for _, m := range b.firing {
		m.inflight = true
		b.firingIncs = append(b.firingIncs, m.inc)
	}
	b.resolvedIncs = make([]*alert.Incarnation, 0, len(b.resolved))
	for _, m := range b.resolved {
		m.inflight = true
		b.resolvedIncs = append(b.resolvedIncs, m.inc)
	}
	// Resolutions the integration does not send are told with the batch.
	b.resolved = resolved
	g.inflight = true
	d.inflight++
	return b
}

// needsUpdate is Alertmanager's DedupStage.needsUpdate
// (notify/dedup_stage.go), over fingerprints: whether a group whose last
// delivered notification was prev, now holding firing and resolved
// alerts, needs a notification, and why.
func needsUpdate(prev *told, firing, resolved []uint64, sendResolved bool, repeat time.Duration, now time.Time) notify.NotifyReason {
	if prev == nil {
		if len(firing) > 0 {
			return notify.ReasonFirstNotification
		}
		return notify.ReasonDoNotNotify
	}
	if !isSubset(prev.firing, firing) {
		if len(prev.firing) == 0 {
			return notify.ReasonFirstNotification
		}
		return notify.ReasonNewAlertsInGroup
	}
	if len(firing) == 0 {
		if len(prev.firing) > 0 {
			return notify.ReasonAllAlertsResolved
		}
		return notify.ReasonDoNotNotify
	}
	if sendResolved && !isSubset(prev.resolved, resolved) {
		return notify.ReasonNewResolvedAlerts
	}
	if prev.at.Before(now.Add(-repeat)) {
		return notify.ReasonRepeatIntervalElapsed
	}
	return notify.ReasonDoNotNotify
}

// isSubset reports whether every element of sub is in set; both sorted.
func isSubset(set, sub []uint64) bool {
	for _, x := range sub {
		if _, ok := slices.BinarySearch(set, x); !ok {
			return false
		}
	}
	return true
}

func fingerprints(ms []*member) []uint64 {
	out := make([]uint64, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.fp)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// complete records the end of a batch. A notification that was not
// delivered changes nothing but the group's failed flag: its alerts are
// still untold, and the group is flushed again at its next interval.
func (d *dispatch) complete(b *batch, now time.Time, delivered bool) {
	d.touch()
	g := d.end(b)
	if g == nil {
		return // cannot happen: a group in flight is kept
	}
	if delivered {
		d.lastDelivered = now
		d.record(g, b, b.at)
	} else {
		g.failed = true
	}
	d.reschedule(g, now)
}

// settle ends a follower's batch that the leader's record covers: its
// members are told, as the log (the leader's) already says.
func (d *dispatch) settle(b *batch, now time.Time) {
	d.touch()
	g := d.end(b)
	if g == nil {
		return
	}
	g.failed = false
	d.told(b)
	d.reschedule(g, now)
}

// reschedule ends a group's flush at now.
func (d *dispatch) reschedule(g *group, now time.Time) {
	// The next flush is the first interval boundary not before now: a
	// group that keeps failing costs one attempt per group interval.
	if g.next.Before(now) {
		g.next = nextBoundary(g.next, d.groupInterval(), now)
	}
	d.dropIfEmpty(g)
	d.prune(now)
}

// record makes b the group's log entry: its members are told.
func (d *dispatch) record(g *group, b *batch, at time.Time) {
	g.failed = false
	firing := b.firingFPs
	for _, m := range b.firing {
		if m.inc.Status == alert.Suppressed {
			// Silenced while in flight: told again when the silence ends.
			firing = slices.DeleteFunc(slices.Clone(firing), func(fp uint64) bool { return fp == m.fp })
		}
	}
	if len(firing) == 0 {
		d.setLog(g.key, nil)
	} else {
		d.setLog(g.key, &told{firing: firing, resolved: b.resolvedFPs, at: at})
	}
	d.told(b)
}

// told marks b's members told: firing ones need nothing until they
// change, resolved ones are done.
func (d *dispatch) told(b *batch) {
	for _, m := range b.firing {
		if m.inc.Status != alert.Suppressed {
			m.pendingSince = time.Time{}
		}
	}
	for _, m := range b.resolved {
		if m.inc.Status == alert.Resolved {
			d.forget(m)
		}
	}
	d.touch()
}

func (d *dispatch) dropIfEmpty(g *group) {
	if len(g.members) == 0 && !g.inflight {
		delete(d.groups, g.key)
	}
}

// release ends a follower's batch that the leader's record has not
// covered for long: its members stay untold, and its group is flushed
// again at its next interval (and at once by a takeover), so that a batch
// the leader never tells (an alert only this replica's Alertmanager has)
// holds no delivery slot for ever.
func (d *dispatch) release(b *batch) {
	if g := d.end(b); g != nil {
		d.dropIfEmpty(g)
	}
}

// cancel returns a batch that was not attempted (shutdown, or the channel
// changed) to its group, which is flushed again at once.
func (d *dispatch) cancel(b *batch, now time.Time) {
	if g := d.end(b); g != nil {
		g.next = now
		d.dropIfEmpty(g)
	}
}

// end takes b out of flight, however it ended: its members, its group's
// delivery slot and its share of the shared bound are free again. It
// returns the group, nil if it is gone (it cannot be while in flight).
func (d *dispatch) end(b *batch) *group {
	for _, m := range append(b.firing, b.resolved...) {
		m.inflight = false
		if m.g != nil {
			// Regrouped while in flight, it may be in another group,
			// whose flush skipped it until now.
			m.g.changes++
		}
	}
	if b.shared {
		d.shared.give(b.pooled)
		b.shared = false
	}
	g := d.groups[b.groupKey]
	if g != nil {
		g.inflight = false
		g.changes++
		d.inflight--
	}
	return g
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

func formatFPs(fps []uint64) []string {
	if len(fps) == 0 {
		return nil
	}
	out := make([]string, len(fps))
	for i, fp := range fps {
		out[i] = model.Fingerprint(fp).String()
	}
	return out
}

// parseFPs reads saved fingerprints, skipping any that do not parse (a
// hand-edited file): at worst that alert is told again.
func parseFPs(ss []string) []uint64 {
	out := make([]uint64, 0, len(ss))
	for _, s := range ss {
		if fp, err := model.ParseFingerprint(s); err == nil {
			out = append(out, uint64(fp))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
