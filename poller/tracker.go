package poller

import (
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/state"
)

// TrackerConfig sets the tracker's grace periods and size.
type TrackerConfig struct {
	// ResolveGrace is how long an alert must be absent before it counts as
	// resolved. It hides short gaps (a poll racing a resend, a slow API).
	ResolveGrace time.Duration
	// RestartGrace holds every resolution for this long after Alertmanager
	// restarted: a restarted Alertmanager has no alerts until Prometheus
	// resends them, which is not a resolution.
	RestartGrace time.Duration
	// Capacity bounds the LRU of fingerprints. Alerts present in the latest
	// poll are never evicted; if there are more of them, the cache grows.
	Capacity int
	// ResolvedRetention is how long a resolved incarnation is still
	// reported, so that a channel rebuilt meanwhile can still send its
	// resolution.
	ResolvedRetention time.Duration
}

// DefaultResolvedRetention is used when TrackerConfig.ResolvedRetention is 0.
const DefaultResolvedRetention = 10 * time.Minute

// entry is what the tracker remembers about one fingerprint.
type entry struct {
	// cur is the current incarnation, as handed out: the same value poll
	// after poll while nothing the pipeline reads changes, never written
	// (see set).
	cur *alert.Incarnation
	// src is the decoder's value cur was last made from: the decoder hands
	// the same value again while the alert's bytes do not change, and then
	// nothing is to be made of it.
	src *alert.Alert
	// prev are incarnations that ended before cur started, still reported
	// as resolved for the retention period; handed out, so never written.
	prev []*alert.Incarnation
	// lastPoll is the number of the last poll the alert was present in.
	lastPoll uint64
	// missingSince is the time of the first poll the alert was absent from,
	// zero while present.
	missingSince time.Time
}

// Tracker is the alert state machine. It is not safe for concurrent use:
// the poll loop owns it.
type Tracker struct {
	cfg     TrackerConfig
	log     *slog.Logger
	m       *metrics
	cache   *simplelru.LRU[string, *entry]
	poll    uint64
	nextID  uint64
	removed bool // set while the tracker itself removes an entry
	size    int  // the cache's current size

	uptime      time.Time
	restartedAt time.Time
	// holdSince is when the current hold of resolutions began: a hold
	// lasts at most maxHold from then.
	holdSince     time.Time
	warnedFlap    bool
	warnedGrowing bool
	// gen counts changes worth saving: new, resolved, removed or
	// re-statused incarnations, absences noticed. Resends that only move
	// endsAt or updatedAt do not count.
	gen uint64
}

// NewTracker returns an empty tracker. reg may be nil.
func NewTracker(cfg TrackerConfig, log *slog.Logger, reg prometheus.Registerer) *Tracker {
	return newTracker(cfg, log, newMetrics(reg))
}

func newTracker(cfg TrackerConfig, log *slog.Logger, m *metrics) *Tracker {
	if cfg.Capacity <= 0 {
		cfg.Capacity = 1
	}
	if cfg.ResolvedRetention <= 0 {
		cfg.ResolvedRetention = DefaultResolvedRetention
	}
	t := &Tracker{cfg: cfg, log: log, m: m, size: cfg.Capacity}
	cache, err := simplelru.NewLRU[string, *entry](cfg.Capacity, t.onEvict)
	if err != nil {
		panic(err) // only for a non-positive size, excluded above
	}
	t.cache = cache
	return t
}

func (t *Tracker) onEvict(fp string, e *entry) {
	if t.removed {
		return
	}
	t.m.evictions.Inc()
	t.log.Debug("Evicted alert from the deduplication cache", "fingerprint", fp, "status", e.cur.Status)
}

// Holding reports whether resolutions are held at now because Alertmanager
// restarted recently.
func (t *Tracker) Holding(now time.Time) bool { return !t.holdUntil(now).IsZero() }

// maxHold is how long one hold may last at most, in restart graces.
const maxHold = 2

// holdUntil returns when the current hold of resolutions ends, or zero if
// none is on. A hold lasts the restart grace after Alertmanager's latest
// restart (a change of its uptime), or after it started if it is that
// young; but never longer than maxHold restart graces from when it began,
// so that an uptime changing on every poll (or one in the future) cannot
// hold resolutions forever.
func (t *Tracker) holdUntil(now time.Time) time.Time {
	grace := t.cfg.RestartGrace
	var until time.Time
	if !t.restartedAt.IsZero() {
		until = t.restartedAt.Add(grace)
	}
	if !t.uptime.IsZero() {
		if u := t.uptime.Add(grace); u.After(until) {
			until = u
		}
	}
	if !t.holdSince.IsZero() {
		if limit := t.holdSince.Add(maxHold * grace); until.After(limit) {
			until = limit
		}
	}
	if !until.After(now) {
		return time.Time{}
	}
	return until
}

// observeUptime notices Alertmanager restarts.
func (t *Tracker) observeUptime(now, uptime time.Time) {
	if uptime.IsZero() || uptime.Equal(t.uptime) {
		return
	}
	t.gen++
	// A restart after a quiet restart grace begins a new hold; one within
	// it (Alertmanager crash-looping) extends the current hold, up to
	// maxHold.
	quiet := t.restartedAt.IsZero() || now.Sub(t.restartedAt) >= t.cfg.RestartGrace
	switch {
	case t.uptime.IsZero():
		t.holdSince = now // the first poll: Alertmanager may be young
	case quiet || t.holdSince.IsZero():
		t.holdSince, t.warnedFlap = now, false
		t.log.Info("Alertmanager restarted; holding resolutions", "uptime", uptime, "for", t.cfg.RestartGrace)
	case now.Sub(t.holdSince) >= maxHold*t.cfg.RestartGrace && !t.warnedFlap:
		t.warnedFlap = true
		t.log.Warn("Alertmanager's uptime keeps changing; resolutions are no longer held for it", "uptime", uptime, "held_since", t.holdSince)
	}
	if !t.uptime.IsZero() {
		t.restartedAt = now
	}
	t.uptime = uptime
}

// Observe feeds one successful poll and returns every incarnation the rest
// of the pipeline must know about: firing, suppressed, and recently
// resolved ones. It must only be called for successful polls; a failed poll
// says nothing about absence.
func (t *Tracker) Observe(now time.Time, snap Snapshot) []*alert.Incarnation {
	t.poll++
	t.observeUptime(now, snap.Uptime)
	t.grow(len(snap.Alerts) + len(snap.Incomplete))

	// Known alerts first, so that they are the most recently used before
	// new ones are added: additions then evict only absent alerts.
	var fresh []int
	for i := range snap.Alerts {
		if !t.see(now, snap.Alerts[i]) {
			fresh = append(fresh, i)
		}
	}
	for _, fp := range snap.Incomplete {
		if e, ok := t.cache.Get(fp); ok {
			e.lastPoll = t.poll
			if !e.missingSince.IsZero() {
				e.missingSince = time.Time{}
				t.gen++
			}
		}
	}
	for _, i := range fresh {
		a := snap.Alerts[i]
		t.cache.Add(a.Fingerprint, &entry{cur: t.start(a), src: a, lastPoll: t.poll})
	}
	t.shrink(len(snap.Alerts) + len(snap.Incomplete))

	hold := t.Holding(now)
	out := make([]*alert.Incarnation, 0, t.cache.Len())
	var active, suppressed, resolving, resolved float64
	for _, fp := range t.cache.Keys() {
		e, _ := t.cache.Peek(fp)
		if e.lastPoll != t.poll && e.cur.Status != alert.Resolved {
			if e.missingSince.IsZero() {
				e.missingSince = now
				t.gen++
			}
			if !hold && now.Sub(e.missingSince) >= t.cfg.ResolveGrace {
				c := tracked(e.cur)
				t.resolve(&c, e.missingSince, now)
				e.set(&c)
			}
		}
		e.prev = slices.DeleteFunc(e.prev, func(p *alert.Incarnation) bool {
			return now.Sub(p.ResolvedAt) >= t.cfg.ResolvedRetention
		})
		if e.cur.Status == alert.Resolved && now.Sub(e.cur.ResolvedAt) >= t.cfg.ResolvedRetention {
			t.remove(fp)
			continue
		}
		out = append(out, e.prev...)
		resolved += float64(len(e.prev))
		out = append(out, e.cur)
		switch {
		case e.cur.Status == alert.Resolved:
			resolved++
		case e.lastPoll != t.poll:
			resolving++
		case e.cur.Status == alert.Suppressed:
			suppressed++
		default:
			active++
		}
	}
	t.m.alerts.WithLabelValues(stateActive).Set(active)
	t.m.alerts.WithLabelValues(stateSuppressed).Set(suppressed)
	t.m.alerts.WithLabelValues(stateResolving).Set(resolving)
	t.m.alerts.WithLabelValues(stateResolved).Set(resolved)
	return out
}

// see records one present alert and reports whether it was known.
func (t *Tracker) see(now time.Time, a *alert.Alert) bool {
	e, ok := t.cache.Get(a.Fingerprint)
	if !ok {
		return false
	}
	switch {
	case e.cur.Status == alert.Resolved:
		// Back after it was resolved: even with the same startsAt (an
		// Alertmanager restart longer than the grace) the channels were told
		// it ended, so they must be told it fires again.
		e.prev = append(e.prev, e.cur)
		e.cur = t.start(a)
	case a.StartsAt.After(e.cur.StartsAt) && !t.Holding(now):
		// Alertmanager replaces startsAt only when the previous alert had
		// ended, so a later startsAt is a new incarnation even if the sidecar
		// never saw the alert absent (it re-fired between two polls).
		old := tracked(e.cur)
		end := a.StartsAt
		if !e.missingSince.IsZero() && e.missingSince.Before(end) {
			end = e.missingSince
		}
		t.resolve(&old, end, now)
		e.prev = append(e.prev, publish(&old))
		e.cur = t.start(a)
	case a == e.src:
		// The same incarnation, from the same decoding: nothing changed.
	default:
		// The same incarnation. endsAt, updatedAt and annotations move on
		// every resend and are not state changes; an earlier startsAt is
		// Alertmanager merging a resend from another Prometheus. While
		// Alertmanager is restarting, a later startsAt is taken for the same
		// incarnation too: the first resend to arrive may come from the HA
		// replica that saw the alert fire a little later.
		c := tracked(e.cur)
		first := c.StartsAt
		c.Alert = *a
		if st := statusOf(a); st != c.Status {
			c.Status = st
			t.gen++
		}
		if first.Before(c.StartsAt) {
			c.StartsAt = first
		}
		e.set(&c)
	}
	e.src = a
	e.lastPoll = t.poll
	if !e.missingSince.IsZero() {
		e.missingSince = time.Time{}
		t.gen++
	}
	return true
}

// set makes c, a changed copy of the current incarnation (tracked), the
// current one if it differs in what the pipeline reads: the value handed
// out is never written, and an alert unchanged from poll to poll stays
// one value, not a copy per poll, that the tracker and the pipeline
// share.
func (e *entry) set(c *alert.Incarnation) {
	if !samePublished(e.cur, c) {
		e.cur = publish(c)
	}
}

// tracked returns what the tracker knows of a value it handed out: not
// the router's fields, which the router may be writing.
func tracked(p *alert.Incarnation) alert.Incarnation {
	return alert.Incarnation{Alert: p.Alert, ID: p.ID, Status: p.Status, ResolvedAt: p.ResolvedAt}
}

// publish returns a new value of inc for the pipeline, for the router to
// fill its tenant in.
func publish(inc *alert.Incarnation) *alert.Incarnation {
	c := *inc
	c.Tenant, c.Unrouted = "", true
	return &c
}

// samePublished reports whether pub, handed out before, still says what
// cur does. The router's fields (tenant) are not compared; labels and
// annotations are compared by identity first, as an unchanged alert's
// decoding keeps them.
func samePublished(pub, cur *alert.Incarnation) bool {
	return pub.ID == cur.ID && pub.Status == cur.Status && pub.Fingerprint == cur.Fingerprint &&
		pub.StartsAt.Equal(cur.StartsAt) && pub.EndsAt.Equal(cur.EndsAt) && pub.UpdatedAt.Equal(cur.UpdatedAt) &&
		pub.ResolvedAt.Equal(cur.ResolvedAt) && pub.GeneratorURL == cur.GeneratorURL && pub.Suppressed == cur.Suppressed &&
		pub.Annotations == cur.Annotations && slices.Equal(pub.SilencedBy, cur.SilencedBy) &&
		slices.Equal(pub.InhibitedBy, cur.InhibitedBy) && sameLabels(pub.Labels, cur.Labels)
}

// sameLabels compares label sets, by identity first.
func sameLabels(a, b model.LabelSet) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer() {
		return true
	}
	return maps.Equal(a, b)
}

func (t *Tracker) start(a *alert.Alert) *alert.Incarnation {
	t.nextID++
	t.gen++
	return &alert.Incarnation{Alert: *a, ID: t.nextID, Status: statusOf(a), Unrouted: true}
}

// resolve marks inc resolved. endsAt is when it was first known to be gone;
// templates render an alert as resolved only if its endsAt is in the past.
func (t *Tracker) resolve(inc *alert.Incarnation, endsAt, now time.Time) {
	inc.Status = alert.Resolved
	t.gen++
	inc.ResolvedAt = now
	if endsAt.After(now) {
		endsAt = now
	}
	inc.EndsAt = endsAt
	t.log.Debug("Alert resolved", "fingerprint", inc.Fingerprint, "alertname", inc.Labels["alertname"])
}

func (t *Tracker) remove(fp string) {
	t.gen++
	t.removed = true
	t.cache.Remove(fp)
	t.removed = false
}

// grow makes room for n present alerts before a poll is applied: the cache
// never evicts an alert that is in the current poll, so it grows past its
// capacity when it must.
func (t *Tracker) grow(n int) {
	if n > t.cfg.Capacity && !t.warnedGrowing {
		t.log.Warn("More alerts than --dedup.capacity; the cache grows to hold all present alerts", "alerts", n, "capacity", t.cfg.Capacity)
		t.warnedGrowing = true
	}
	if n > t.size {
		t.cache.Resize(n)
		t.size = n
	}
}

// shrink returns the cache to its capacity once the present alerts, now the
// most recently used, fit in it; only absent alerts are evicted.
func (t *Tracker) shrink(n int) {
	size := max(n, t.cfg.Capacity)
	if n <= t.cfg.Capacity {
		t.warnedGrowing = false
	}
	if size < t.size {
		t.cache.Resize(size)
		t.size = size
	}
}

// Generation changes whenever the tracker's saved state would.
func (t *Tracker) Generation() uint64 { return t.gen }

// Len returns the number of tracked fingerprints.
func (t *Tracker) Len() int { return t.cache.Len() }

func statusOf(a *alert.Alert) alert.Status {
	if a.Suppressed {
		return alert.Suppressed
	}
	return alert.Firing
}

// Export returns what the tracker knows, least recently seen first, for
// the state file.
func (t *Tracker) Export() state.Tracker {
	st := state.Tracker{NextID: t.nextID, Uptime: t.uptime, Alerts: make([]state.Entry, 0, t.cache.Len())}
	for _, fp := range t.cache.Keys() {
		e, _ := t.cache.Peek(fp)
		se := state.Entry{Current: tracked(e.cur), MissingSince: e.missingSince}
		for _, p := range e.prev {
			se.Previous = append(se.Previous, tracked(p))
		}
		st.Alerts = append(st.Alerts, se)
	}
	return st
}

// Import replaces the tracker's state with a saved one and returns the
// incarnations it holds, as Observe would. Nothing is taken as present:
// the first poll decides, and an alert that ended while the sidecar was
// down is resolved after the resolve grace like any other. An
// Alertmanager that restarted meanwhile shows a new uptime at that poll,
// which holds resolutions as usual.
func (t *Tracker) Import(st state.Tracker) []*alert.Incarnation {
	t.removed = true
	t.cache.Purge()
	t.removed = false
	t.nextID = max(t.nextID, st.NextID)
	t.uptime = st.Uptime
	t.gen++
	t.grow(len(st.Alerts))
	var out []*alert.Incarnation
	for _, se := range st.Alerts {
		if se.Current.Fingerprint == "" {
			continue
		}
		e := &entry{cur: publish(&se.Current), missingSince: se.MissingSince}
		for i := range se.Previous {
			e.prev = append(e.prev, publish(&se.Previous[i]))
		}
		for _, inc := range append(slices.Clone(e.prev), e.cur) {
			t.nextID = max(t.nextID, inc.ID) // IDs stay unique whatever the file says
			out = append(out, inc)
		}
		t.cache.Add(se.Current.Fingerprint, e)
	}
	return out
}
