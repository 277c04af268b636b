package poller

import (
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
)

// t0 is the origin of every test clock: at(s) is t0 + s seconds.
var t0 = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// oldUptime is an Alertmanager start time far enough in the past that it
// never holds resolutions by itself.
var oldUptime = t0.Add(-24 * time.Hour)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testTrackerConfig is the configuration most tracker tests use.
func testTrackerConfig() TrackerConfig {
	return TrackerConfig{
		ResolveGrace:      30 * time.Second,
		RestartGrace:      2 * time.Minute,
		Capacity:          100,
		ResolvedRetention: 10 * time.Minute,
	}
}

type trackerHarness struct {
	t  *testing.T
	m  *metrics
	tr *Tracker
}

func newTrackerHarness(t *testing.T, cfg TrackerConfig) *trackerHarness {
	t.Helper()
	m := newMetrics(prometheus.NewRegistry())
	return &trackerHarness{t: t, m: m, tr: newTracker(cfg, discardLogger(), m)}
}

// observe feeds a poll at t0+sec seen by an Alertmanager up since oldUptime.
func (h *trackerHarness) observe(sec int, alerts ...alert.Alert) []alert.Incarnation {
	h.t.Helper()
	return values(h.tr.Observe(at(sec), Snapshot{Alerts: ptrs(alerts...), Uptime: oldUptime}))
}

// values copies what the tracker hands out, for comparisons.
func values(incs []*alert.Incarnation) []alert.Incarnation {
	out := make([]alert.Incarnation, len(incs))
	for i, inc := range incs {
		out[i] = *inc
	}
	return out
}

// observeSnap feeds a complete snapshot at t0+sec.
func (h *trackerHarness) observeSnap(sec int, snap Snapshot) []alert.Incarnation {
	h.t.Helper()
	return values(h.tr.Observe(at(sec), snap))
}

func (h *trackerHarness) evictions() float64 { return testutil.ToFloat64(h.m.evictions) }

func (h *trackerHarness) gauge(state string) float64 {
	return testutil.ToFloat64(h.m.alerts.WithLabelValues(state))
}

// newAlert returns an active alert named name whose incarnation started at
// startsAt.
func newAlert(name string, startsAt time.Time) alert.Alert {
	ls := model.LabelSet{"alertname": model.LabelValue(name), "namespace": "team-a"}
	return alert.Alert{
		Fingerprint:  ls.Fingerprint().String(),
		Labels:       ls,
		Annotations:  alert.NewAnnotations(model.LabelSet{"summary": "first rendering"}),
		StartsAt:     startsAt,
		EndsAt:       startsAt.Add(4 * time.Minute),
		UpdatedAt:    startsAt,
		GeneratorURL: "http://prometheus/graph",
	}
}

// resent returns a as Alertmanager reports it after a resend from
// Prometheus at now: endsAt, updatedAt and annotations move.
func resent(a alert.Alert, now time.Time) alert.Alert {
	a.EndsAt = now.Add(4 * time.Minute)
	a.UpdatedAt = now
	a.Annotations = alert.NewAnnotations(model.LabelSet{"summary": model.LabelValue("rendered at " + now.Format(time.RFC3339))})
	return a
}

func suppress(a alert.Alert) alert.Alert {
	a.Suppressed = true
	a.SilencedBy = []string{"silence-1"}
	return a
}

func withStartsAt(a alert.Alert, startsAt time.Time) alert.Alert {
	a.StartsAt = startsAt
	return a
}

// incsOf returns the incarnations of fingerprint fp in incs, in order.
func incsOf(incs []alert.Incarnation, fp string) []alert.Incarnation {
	var out []alert.Incarnation
	for _, inc := range incs {
		if inc.Fingerprint == fp {
			out = append(out, inc)
		}
	}
	return out
}

// only returns the single incarnation of fp in incs and fails otherwise.
func only(t *testing.T, incs []alert.Incarnation, fp string) alert.Incarnation {
	t.Helper()
	got := incsOf(incs, fp)
	if len(got) != 1 {
		t.Fatalf("want exactly one incarnation of %s, got %d: %+v", fp, len(got), got)
	}
	return got[0]
}

func requireStatus(t *testing.T, inc alert.Incarnation, want alert.Status) {
	t.Helper()
	if inc.Status != want {
		t.Fatalf("incarnation %d of %s: status %v, want %v", inc.ID, inc.Fingerprint, inc.Status, want)
	}
}

func requireNoResolved(t *testing.T, incs []alert.Incarnation, when string) {
	t.Helper()
	for _, inc := range incs {
		if inc.Status == alert.Resolved {
			t.Fatalf("%s: incarnation %d of %s resolved, want none resolved", when, inc.ID, inc.Fingerprint)
		}
	}
}

func TestTrackerNewActiveAlertFires(t *testing.T) {
	h := newTrackerHarness(t, testTrackerConfig())
	a := newAlert("HighCPU", at(-60))

	incs := h.observe(0, a)

	if len(incs) != 1 {
		t.Fatalf("got %d incarnations, want 1: %+v", len(incs), incs)
	}
	inc := incs[0]
	requireStatus(t, inc, alert.Firing)
	if inc.ID == 0 {
		t.Error("ID is 0, want a non-zero ID")
	}
	if inc.Fingerprint != a.Fingerprint || !inc.StartsAt.Equal(a.StartsAt) {
		t.Errorf("incarnation %+v does not carry the alert %+v", inc.Alert, a)
	}
	if !inc.ResolvedAt.IsZero() {
		t.Errorf("ResolvedAt = %v, want zero for a firing alert", inc.ResolvedAt)
	}
	if h.tr.Len() != 1 {
		t.Errorf("Len() = %d, want 1", h.tr.Len())
	}
}

func TestTrackerSameIncarnationKeepsIDAcrossResends(t *testing.T) {
	h := newTrackerHarness(t, testTrackerConfig())
	a := newAlert("HighCPU", at(-60))
	first := only(t, h.observe(0, a), a.Fingerprint)

	for sec := 10; sec <= 300; sec += 10 {
		r := resent(a, at(sec))
		inc := only(t, h.observe(sec, r), a.Fingerprint)
		requireStatus(t, inc, alert.Firing)
		if inc.ID != first.ID {
			t.Fatalf("t=%ds: ID %d, want %d (endsAt/updatedAt/annotations are not state changes)", sec, inc.ID, first.ID)
		}
		// The incarnation reports the latest view of the alert.
		if !inc.EndsAt.Equal(r.EndsAt) || !inc.UpdatedAt.Equal(r.UpdatedAt) || inc.Annotations != r.Annotations {
			t.Fatalf("t=%ds: incarnation not updated to the latest resend: got %+v, want %+v", sec, inc.Alert, r)
		}
	}
}

func TestTrackerDistinctFingerprintsGetDistinctIDs(t *testing.T) {
	h := newTrackerHarness(t, testTrackerConfig())
	a, b, c := newAlert("A", at(-60)), newAlert("B", at(-60)), newAlert("C", at(-60))
	incs := h.observe(0, a, b, c)
	if len(incs) != 3 {
		t.Fatalf("got %d incarnations, want 3", len(incs))
	}
	ids := map[uint64]bool{}
	for _, inc := range incs {
		if ids[inc.ID] {
			t.Fatalf("ID %d used twice: %+v", inc.ID, incs)
		}
		ids[inc.ID] = true
	}
}

func TestTrackerSuppressedAlert(t *testing.T) {
	h := newTrackerHarness(t, testTrackerConfig())
	a := newAlert("HighCPU", at(-60))

	first := only(t, h.observe(0, suppress(a)), a.Fingerprint)
	requireStatus(t, first, alert.Suppressed)

	// Still silenced: still suppressed, same incarnation.
	inc := only(t, h.observe(10, suppress(resent(a, at(10)))), a.Fingerprint)
	requireStatus(t, inc, alert.Suppressed)
	if inc.ID != first.ID {
		t.Fatalf("ID changed while suppressed: %d, want %d", inc.ID, first.ID)
	}

	// The silence ends: the same incarnation becomes firing.
	inc = only(t, h.observe(20, resent(a, at(20))), a.Fingerprint)
	requireStatus(t, inc, alert.Firing)
	if inc.ID != first.ID {
		t.Fatalf("ID changed when the silence ended: %d, want %d", inc.ID, first.ID)
	}

	// Silenced again: suppressed, same incarnation.
	inc = only(t, h.observe(30, suppress(resent(a, at(30)))), a.Fingerprint)
	requireStatus(t, inc, alert.Suppressed)
	if inc.ID != first.ID {
		t.Fatalf("ID changed when silenced again: %d, want %d", inc.ID, first.ID)
	}
}

func TestTrackerResolveGrace(t *testing.T) {
	// The alert is present at t=0 and first seen absent at t=10; then a
	// single further poll at t=10+absentFor.
	tests := []struct {
		name      string
		absentFor int
		want      alert.Status
	}{
		{"absent 0s still firing", 0, alert.Firing},
		{"absent 10s still firing", 10, alert.Firing},
		{"absent 29s still firing", 29, alert.Firing},
		{"absent exactly grace resolved", 30, alert.Resolved},
		{"absent 45s resolved", 45, alert.Resolved},
		{"absent 1h resolved", 3600, alert.Resolved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTrackerHarness(t, testTrackerConfig())
			a := newAlert("HighCPU", at(-60))
			first := only(t, h.observe(0, a), a.Fingerprint)
			inc := only(t, h.observe(10), a.Fingerprint)
			requireStatus(t, inc, alert.Firing)

			now := 10 + tt.absentFor
			inc = only(t, h.observe(now), a.Fingerprint)
			requireStatus(t, inc, tt.want)
			if inc.ID != first.ID {
				t.Fatalf("ID %d, want %d", inc.ID, first.ID)
			}
			if tt.want != alert.Resolved {
				if !inc.ResolvedAt.IsZero() {
					t.Errorf("ResolvedAt = %v, want zero while firing", inc.ResolvedAt)
				}
				return
			}
			if !inc.ResolvedAt.Equal(at(now)) {
				t.Errorf("ResolvedAt = %v, want the resolving poll %v", inc.ResolvedAt, at(now))
			}
			if !inc.EndsAt.Equal(at(10)) {
				t.Errorf("EndsAt = %v, want the first poll it was absent from %v", inc.EndsAt, at(10))
			}
			if !inc.EndsAt.Before(inc.ResolvedAt) {
				t.Errorf("EndsAt %v is not in the past of ResolvedAt %v", inc.EndsAt, inc.ResolvedAt)
			}
		})
	}
}

func TestTrackerResolvedIncarnationIsStable(t *testing.T) {
	h := newTrackerHarness(t, testTrackerConfig())
	a := newAlert("HighCPU", at(-60))
	first := only(t, h.observe(0, a), a.Fingerprint)
	h.observe(10)
	resolved := only(t, h.observe(40), a.Fingerprint)
	requireStatus(t, resolved, alert.Resolved)

	// Later polls keep reporting the same resolution, unchanged.
	for sec := 50; sec <= 300; sec += 10 {
		inc := only(t, h.observe(sec), a.Fingerprint)
		requireStatus(t, inc, alert.Resolved)
		if inc.ID != first.ID || !inc.ResolvedAt.Equal(resolved.ResolvedAt) || !inc.EndsAt.Equal(resolved.EndsAt) {
			t.Fatalf("t=%ds: resolution changed: got %+v, want %+v", sec, inc, resolved)
		}
	}
}

func TestTrackerRefireAfterResolution(t *testing.T) {
	tests := []struct {
		name     string
		startsAt time.Time // startsAt of the alert when it comes back
	}{
		{"new startsAt", at(100)},
		{"same startsAt", at(-60)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTrackerHarness(t, testTrackerConfig())
			a := newAlert("HighCPU", at(-60))
			first := only(t, h.observe(0, a), a.Fingerprint)
			h.observe(10)
			requireStatus(t, only(t, h.observe(40), a.Fingerprint), alert.Resolved)

			back := withStartsAt(resent(a, at(110)), tt.startsAt)
			incs := h.observe(110, back)
			var cur alert.Incarnation
			for _, inc := range incsOf(incs, a.Fingerprint) {
				if inc.ID == first.ID {
					requireStatus(t, inc, alert.Resolved)
					continue
				}
				cur = inc
			}
			if cur.ID == 0 {
				t.Fatalf("no new incarnation in %+v", incs)
			}
			requireStatus(t, cur, alert.Firing)
			if cur.ID == first.ID {
				t.Fatalf("re-fired alert kept ID %d, want a new ID", cur.ID)
			}
			if !cur.StartsAt.Equal(tt.startsAt) {
				t.Errorf("StartsAt = %v, want %v", cur.StartsAt, tt.startsAt)
			}

			// And the new incarnation is stable afterwards.
			next := incsOf(h.observe(120, resent(back, at(120))), a.Fingerprint)
			found := false
			for _, inc := range next {
				if inc.ID == cur.ID {
					found = true
					requireStatus(t, inc, alert.Firing)
				}
			}
			if !found {
				t.Fatalf("incarnation %d gone at the next poll: %+v", cur.ID, next)
			}
		})
	}
}

func TestTrackerStartsAtLaterWhilePresent(t *testing.T) {
	tests := []struct {
		name string
		// polls before the one with the new startsAt, in seconds; the
		// alert is present at 0 and absent at every other time listed.
		absentAt    []int
		refireAt    int       // poll where the new startsAt shows
		newStartsAt time.Time // the new startsAt
		wantEndsAt  time.Time // EndsAt of the old incarnation
	}{
		{
			name:        "re-fired between two polls",
			refireAt:    10,
			newStartsAt: at(5),
			wantEndsAt:  at(5),
		},
		{
			name:        "re-fired after a short absence",
			absentAt:    []int{10, 20},
			refireAt:    30,
			newStartsAt: at(25),
			wantEndsAt:  at(10), // first seen absent, before the new startsAt
		},
		{
			name:        "new startsAt in the future is clamped to now",
			refireAt:    10,
			newStartsAt: at(60),
			wantEndsAt:  at(10),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTrackerHarness(t, testTrackerConfig())
			a := newAlert("HighCPU", at(-60))
			first := only(t, h.observe(0, a), a.Fingerprint)
			for _, sec := range tt.absentAt {
				requireNoResolved(t, h.observe(sec), "absent inside the grace")
			}

			b := withStartsAt(resent(a, at(tt.refireAt)), tt.newStartsAt)
			incs := incsOf(h.observe(tt.refireAt, b), a.Fingerprint)
			if len(incs) != 2 {
				t.Fatalf("got %d incarnations of the alert, want the old (resolved) and the new (firing): %+v", len(incs), incs)
			}
			var old, cur alert.Incarnation
			for _, inc := range incs {
				if inc.ID == first.ID {
					old = inc
				} else {
					cur = inc
				}
			}
			if old.ID != first.ID {
				t.Fatalf("old incarnation %d not reported: %+v", first.ID, incs)
			}
			requireStatus(t, old, alert.Resolved)
			if !old.ResolvedAt.Equal(at(tt.refireAt)) {
				t.Errorf("old ResolvedAt = %v, want %v", old.ResolvedAt, at(tt.refireAt))
			}
			if !old.EndsAt.Equal(tt.wantEndsAt) {
				t.Errorf("old EndsAt = %v, want %v", old.EndsAt, tt.wantEndsAt)
			}
			if !old.StartsAt.Equal(a.StartsAt) {
				t.Errorf("old StartsAt = %v, want the old startsAt %v", old.StartsAt, a.StartsAt)
			}
			if cur.ID == 0 || cur.ID == first.ID {
				t.Fatalf("new incarnation has ID %d, want a new non-zero ID (old %d)", cur.ID, first.ID)
			}
			requireStatus(t, cur, alert.Firing)
			if !cur.StartsAt.Equal(tt.newStartsAt) {
				t.Errorf("new StartsAt = %v, want %v", cur.StartsAt, tt.newStartsAt)
			}
			if !cur.ResolvedAt.IsZero() {
				t.Errorf("new ResolvedAt = %v, want zero", cur.ResolvedAt)
			}

			// Next poll: the old one is still reported as resolved (for the
			// retention) and the new one keeps its ID.
			next := incsOf(h.observe(tt.refireAt+10, resent(b, at(tt.refireAt+10))), a.Fingerprint)
			if len(next) != 2 {
				t.Fatalf("next poll: got %d incarnations, want 2: %+v", len(next), next)
			}
			for _, inc := range next {
				switch inc.ID {
				case old.ID:
					requireStatus(t, inc, alert.Resolved)
					if !inc.ResolvedAt.Equal(old.ResolvedAt) {
						t.Errorf("old ResolvedAt moved to %v, want %v", inc.ResolvedAt, old.ResolvedAt)
					}
				case cur.ID:
					requireStatus(t, inc, alert.Firing)
				default:
					t.Errorf("unexpected incarnation %+v", inc)
				}
			}
		})
	}
}

func TestTrackerStartsAtEarlierWhilePresentKeepsID(t *testing.T) {
	h := newTrackerHarness(t, testTrackerConfig())
	a := newAlert("HighCPU", at(-60))
	first := only(t, h.observe(0, a), a.Fingerprint)

	// Another Prometheus sent the alert with an earlier startsAt and
	// Alertmanager merged it.
	earlier := withStartsAt(resent(a, at(10)), at(-120))
	inc := only(t, h.observe(10, earlier), a.Fingerprint)
	requireStatus(t, inc, alert.Firing)
	if inc.ID != first.ID {
		t.Fatalf("ID %d after an earlier startsAt, want %d", inc.ID, first.ID)
	}
	inc = only(t, h.observe(20, resent(earlier, at(20))), a.Fingerprint)
	if inc.ID != first.ID {
		t.Fatalf("ID %d at the next poll, want %d", inc.ID, first.ID)
	}
}

func TestTrackerFlapping(t *testing.T) {
	tests := []struct {
		name    string
		present func(sec int) bool // at polls every 10s
	}{
		{"alternating every poll", func(sec int) bool { return sec/10%2 == 0 }},
		{"absent two polls out of three", func(sec int) bool { return sec/10%3 == 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTrackerHarness(t, testTrackerConfig())
			a := newAlert("Flappy", at(-60))
			first := only(t, h.observe(0, a), a.Fingerprint)
			for sec := 10; sec <= 600; sec += 10 {
				var incs []alert.Incarnation
				if tt.present(sec) {
					incs = h.observe(sec, resent(a, at(sec)))
				} else {
					incs = h.observe(sec)
				}
				inc := only(t, incs, a.Fingerprint)
				requireStatus(t, inc, alert.Firing)
				if inc.ID != first.ID {
					t.Fatalf("t=%ds: ID %d, want %d", sec, inc.ID, first.ID)
				}
			}
		})
	}
}

func TestTrackerAlertmanagerRestart(t *testing.T) {
	newUptime := at(5) // Alertmanager restarted 5s after t0

	t.Run("no resolution during restart grace", func(t *testing.T) {
		h := newTrackerHarness(t, testTrackerConfig())
		a, b := newAlert("A", at(-60)), newAlert("B", at(-30))
		firstA := only(t, h.observe(0, a, b), a.Fingerprint)

		// Restarted: no alerts, new uptime. The resolve grace (30s) passes
		// long before the restart grace (2m, counted from t=10) does.
		for sec := 10; sec < 130; sec += 10 {
			incs := h.observeSnap(sec, Snapshot{Uptime: newUptime})
			requireNoResolved(t, incs, "inside the restart grace")
			if len(incs) != 2 {
				t.Fatalf("t=%ds: %d incarnations, want both alerts kept", sec, len(incs))
			}
			if !h.tr.Holding(at(sec)) {
				t.Fatalf("t=%ds: Holding() = false inside the restart grace", sec)
			}
		}

		// The restart grace is over and the alerts never came back.
		incs := h.observeSnap(130, Snapshot{Uptime: newUptime})
		if h.tr.Holding(at(130)) {
			t.Fatal("Holding() = true after the restart grace")
		}
		for _, fp := range []string{a.Fingerprint, b.Fingerprint} {
			inc := only(t, incs, fp)
			requireStatus(t, inc, alert.Resolved)
			if !inc.EndsAt.Equal(at(10)) {
				t.Errorf("%s: EndsAt = %v, want the first absent poll %v", fp, inc.EndsAt, at(10))
			}
			if !inc.ResolvedAt.Equal(at(130)) {
				t.Errorf("%s: ResolvedAt = %v, want %v", fp, inc.ResolvedAt, at(130))
			}
		}
		if got := only(t, incs, a.Fingerprint).ID; got != firstA.ID {
			t.Errorf("resolved incarnation ID %d, want %d", got, firstA.ID)
		}
	})

	t.Run("alerts back within restart grace keep their ID", func(t *testing.T) {
		h := newTrackerHarness(t, testTrackerConfig())
		a := newAlert("A", at(-60))
		first := only(t, h.observe(0, a), a.Fingerprint)
		for sec := 10; sec <= 60; sec += 10 {
			requireNoResolved(t, h.observeSnap(sec, Snapshot{Uptime: newUptime}), "restarting")
		}
		// Prometheus resent the alert with its original startsAt.
		for sec := 70; sec <= 400; sec += 10 {
			incs := h.observeSnap(sec, Snapshot{Uptime: newUptime, Alerts: ptrs(resent(a, at(sec)))})
			inc := only(t, incs, a.Fingerprint)
			requireStatus(t, inc, alert.Firing)
			if inc.ID != first.ID {
				t.Fatalf("t=%ds: ID %d, want %d", sec, inc.ID, first.ID)
			}
		}
	})

	t.Run("restart detected from uptime change alone", func(t *testing.T) {
		// Alertmanager's clock is far behind: its new uptime is older than
		// the restart grace, so only the change of uptime can hold.
		h := newTrackerHarness(t, testTrackerConfig())
		a := newAlert("A", at(-60))
		only(t, h.observe(0, a), a.Fingerprint)
		skewed := oldUptime.Add(time.Hour)
		for sec := 10; sec < 130; sec += 10 {
			requireNoResolved(t, h.observeSnap(sec, Snapshot{Uptime: skewed}), "restart grace from the uptime change")
		}
		requireStatus(t, only(t, h.observeSnap(130, Snapshot{Uptime: skewed}), a.Fingerprint), alert.Resolved)
	})

	t.Run("unchanged uptime does not hold", func(t *testing.T) {
		h := newTrackerHarness(t, testTrackerConfig())
		a := newAlert("A", at(-60))
		h.observe(0, a)
		h.observe(10)
		if h.tr.Holding(at(40)) {
			t.Fatal("Holding() = true without a restart")
		}
		requireStatus(t, only(t, h.observe(40), a.Fingerprint), alert.Resolved)
	})

	t.Run("snapshot without uptime is not a restart", func(t *testing.T) {
		h := newTrackerHarness(t, testTrackerConfig())
		a := newAlert("A", at(-60))
		h.observe(0, a)
		h.observeSnap(10, Snapshot{}) // zero Uptime
		if h.tr.Holding(at(10)) {
			t.Fatal("Holding() = true after a snapshot without uptime")
		}
		requireStatus(t, only(t, h.observeSnap(40, Snapshot{Uptime: oldUptime}), a.Fingerprint), alert.Resolved)
	})
}

func TestTrackerRecentUptimeOnFirstPollHoldsResolutions(t *testing.T) {
	h := newTrackerHarness(t, testTrackerConfig())
	uptime := at(-10) // Alertmanager started 10s before the first poll
	a := newAlert("A", at(-5))
	first := only(t, h.observeSnap(0, Snapshot{Uptime: uptime, Alerts: ptrs(a)}), a.Fingerprint)

	// Absent from t=10: the resolve grace passes at t=40 but Alertmanager
	// is younger than the restart grace until t=110.
	for sec := 10; sec < 110; sec += 10 {
		if !h.tr.Holding(at(sec)) {
			t.Fatalf("t=%ds: Holding() = false, Alertmanager is up for only %v", sec, at(sec).Sub(uptime))
		}
		inc := only(t, h.observeSnap(sec, Snapshot{Uptime: uptime}), a.Fingerprint)
		requireStatus(t, inc, alert.Firing)
	}
	inc := only(t, h.observeSnap(110, Snapshot{Uptime: uptime}), a.Fingerprint)
	requireStatus(t, inc, alert.Resolved)
	if inc.ID != first.ID || !inc.EndsAt.Equal(at(10)) || !inc.ResolvedAt.Equal(at(110)) {
		t.Fatalf("got %+v, want ID %d, EndsAt %v, ResolvedAt %v", inc, first.ID, at(10), at(110))
	}
}

// A failed poll is no Observe call at all: absence is only judged at
// successful polls, however long the gap.
func TestTrackerAbsenceJudgedOnlyAtSuccessfulPolls(t *testing.T) {
	t.Run("absent before a gap and after it resolves at the first poll after it", func(t *testing.T) {
		h := newTrackerHarness(t, testTrackerConfig())
		a := newAlert("A", at(-60))
		first := only(t, h.observe(-10, a), a.Fingerprint)
		requireStatus(t, only(t, h.observe(0), a.Fingerprint), alert.Firing)
		// Polls failed from t=10 to t=60.
		inc := only(t, h.observe(70), a.Fingerprint)
		requireStatus(t, inc, alert.Resolved)
		if inc.ID != first.ID || !inc.ResolvedAt.Equal(at(70)) || !inc.EndsAt.Equal(at(0)) {
			t.Fatalf("got %+v, want ID %d, ResolvedAt %v, EndsAt %v", inc, first.ID, at(70), at(0))
		}
	})

	t.Run("absent before a gap and present after it is not resolved", func(t *testing.T) {
		h := newTrackerHarness(t, testTrackerConfig())
		a := newAlert("A", at(-60))
		first := only(t, h.observe(-10, a), a.Fingerprint)
		h.observe(0)
		inc := only(t, h.observe(70, resent(a, at(70))), a.Fingerprint)
		requireStatus(t, inc, alert.Firing)
		if inc.ID != first.ID {
			t.Fatalf("ID %d, want %d", inc.ID, first.ID)
		}
		// And the earlier absence is forgotten: absent again at t=80, it
		// is not resolved before t=110.
		requireStatus(t, only(t, h.observe(80), a.Fingerprint), alert.Firing)
		requireStatus(t, only(t, h.observe(100), a.Fingerprint), alert.Firing)
		inc = only(t, h.observe(110), a.Fingerprint)
		requireStatus(t, inc, alert.Resolved)
		if !inc.EndsAt.Equal(at(80)) {
			t.Fatalf("EndsAt = %v, want %v", inc.EndsAt, at(80))
		}
	})

	t.Run("present before a gap starts the grace at the first poll after it", func(t *testing.T) {
		h := newTrackerHarness(t, testTrackerConfig())
		a := newAlert("A", at(-60))
		h.observe(0, a)
		// Polls failed from t=10 to t=60: the alert is first seen absent
		// at t=70, not at t=10.
		requireStatus(t, only(t, h.observe(70), a.Fingerprint), alert.Firing)
		requireStatus(t, only(t, h.observe(99), a.Fingerprint), alert.Firing)
		inc := only(t, h.observe(100), a.Fingerprint)
		requireStatus(t, inc, alert.Resolved)
		if !inc.EndsAt.Equal(at(70)) {
			t.Fatalf("EndsAt = %v, want %v", inc.EndsAt, at(70))
		}
	})
}

func TestTrackerIncomplete(t *testing.T) {
	t.Run("keeps an existing incarnation alive", func(t *testing.T) {
		h := newTrackerHarness(t, testTrackerConfig())
		a := newAlert("A", at(-60))
		first := only(t, h.observe(0, a), a.Fingerprint)
		for sec := 10; sec <= 300; sec += 10 {
			incs := h.observeSnap(sec, Snapshot{Uptime: oldUptime, Incomplete: []string{a.Fingerprint}})
			inc := only(t, incs, a.Fingerprint)
			requireStatus(t, inc, alert.Firing)
			if inc.ID != first.ID {
				t.Fatalf("t=%ds: ID %d, want %d", sec, inc.ID, first.ID)
			}
		}
		if got := h.gauge(stateActive); got != 1 {
			t.Errorf("active gauge = %v, want 1", got)
		}
		if got := h.gauge(stateResolving); got != 0 {
			t.Errorf("resolving gauge = %v, want 0", got)
		}
		// Truly gone from t=310: the grace starts there.
		requireStatus(t, only(t, h.observe(310), a.Fingerprint), alert.Firing)
		inc := only(t, h.observe(340), a.Fingerprint)
		requireStatus(t, inc, alert.Resolved)
		if !inc.EndsAt.Equal(at(310)) {
			t.Fatalf("EndsAt = %v, want %v", inc.EndsAt, at(310))
		}
	})

	t.Run("incomplete after absence resets the grace", func(t *testing.T) {
		h := newTrackerHarness(t, testTrackerConfig())
		a := newAlert("A", at(-60))
		h.observe(0, a)
		h.observe(10)
		h.observeSnap(20, Snapshot{Uptime: oldUptime, Incomplete: []string{a.Fingerprint}})
		requireStatus(t, only(t, h.observe(40), a.Fingerprint), alert.Firing)
		requireStatus(t, only(t, h.observe(70), a.Fingerprint), alert.Resolved)
	})

	t.Run("does not create an incarnation", func(t *testing.T) {
		h := newTrackerHarness(t, testTrackerConfig())
		b := newAlert("B", at(-60))
		incs := h.observeSnap(0, Snapshot{Uptime: oldUptime, Incomplete: []string{b.Fingerprint}})
		if len(incs) != 0 {
			t.Fatalf("got %+v, want no incarnation for an incomplete alert", incs)
		}
		if h.tr.Len() != 0 {
			t.Fatalf("Len() = %d, want 0", h.tr.Len())
		}
		// Once readable, it starts an incarnation.
		requireStatus(t, only(t, h.observe(10, b), b.Fingerprint), alert.Firing)
	})
}

func TestTrackerEviction(t *testing.T) {
	small := func() TrackerConfig {
		cfg := testTrackerConfig()
		cfg.Capacity = 2
		return cfg
	}

	t.Run("full cache evicts one absent alert", func(t *testing.T) {
		h := newTrackerHarness(t, small())
		a, b, c := newAlert("A", at(-60)), newAlert("B", at(-60)), newAlert("C", at(-60))
		h.observe(0, a, b)
		incs := h.observe(10, c)
		if got := h.evictions(); got != 1 {
			t.Fatalf("evictions = %v, want 1", got)
		}
		if len(incs) != 2 || h.tr.Len() != 2 {
			t.Fatalf("got %d incarnations (Len %d), want 2: %+v", len(incs), h.tr.Len(), incs)
		}
		requireStatus(t, only(t, incs, c.Fingerprint), alert.Firing)
		nA, nB := len(incsOf(incs, a.Fingerprint)), len(incsOf(incs, b.Fingerprint))
		if nA+nB != 1 {
			t.Fatalf("want exactly one of the absent A, B kept, got A:%d B:%d", nA, nB)
		}
	})

	for _, order := range []string{"known first", "new first"} {
		t.Run("present alerts survive a new one in a full cache/"+order, func(t *testing.T) {
			h := newTrackerHarness(t, small())
			a, b, c := newAlert("A", at(-60)), newAlert("B", at(-60)), newAlert("C", at(-60))
			// A is the least recently used entry before the second poll.
			first := only(t, h.observe(0, a, b), a.Fingerprint)
			second := []alert.Alert{a, c}
			if order == "new first" {
				second = []alert.Alert{c, a}
			}
			incs := h.observe(10, second...)
			if got := h.evictions(); got != 1 {
				t.Fatalf("evictions = %v, want 1", got)
			}
			if len(incsOf(incs, b.Fingerprint)) != 0 {
				t.Fatalf("absent B kept instead of being evicted: %+v", incs)
			}
			if inc := only(t, incs, a.Fingerprint); inc.ID != first.ID {
				t.Fatalf("present A lost its incarnation: ID %d, want %d", inc.ID, first.ID)
			}
			requireStatus(t, only(t, incs, c.Fingerprint), alert.Firing)
		})
	}

	t.Run("present alerts are never evicted beyond capacity", func(t *testing.T) {
		h := newTrackerHarness(t, small())
		var alerts []alert.Alert
		for _, n := range []string{"A", "B", "C", "D", "E"} {
			alerts = append(alerts, newAlert(n, at(-60)))
		}
		incs := h.observe(0, alerts...)
		if len(incs) != 5 {
			t.Fatalf("got %d incarnations, want all 5 present alerts", len(incs))
		}
		if got := h.evictions(); got != 0 {
			t.Fatalf("evictions = %v, want 0", got)
		}
		ids := map[string]uint64{}
		for _, a := range alerts {
			ids[a.Fingerprint] = only(t, incs, a.Fingerprint).ID
		}
		// Still all present: nothing evicted, nothing renumbered.
		incs = h.observe(10, alerts...)
		if len(incs) != 5 || h.evictions() != 0 {
			t.Fatalf("second poll: %d incarnations, %v evictions; want 5 and 0", len(incs), h.evictions())
		}
		for _, a := range alerts {
			if got := only(t, incs, a.Fingerprint).ID; got != ids[a.Fingerprint] {
				t.Fatalf("%s: ID %d, want %d", a.Labels["alertname"], got, ids[a.Fingerprint])
			}
		}

		// Shrinking back: C, D, E present; only absent ones go.
		incs = h.observe(20, alerts[2:]...)
		if got := h.evictions(); got != 2 {
			t.Fatalf("evictions = %v after 3 of 5 present, want 2", got)
		}
		if len(incs) != 3 {
			t.Fatalf("got %d incarnations, want 3: %+v", len(incs), incs)
		}
		for _, a := range alerts[2:] {
			inc := only(t, incs, a.Fingerprint)
			requireStatus(t, inc, alert.Firing)
			if inc.ID != ids[a.Fingerprint] {
				t.Fatalf("%s renumbered", a.Labels["alertname"])
			}
		}

		// Only E present: back to capacity 2, E kept, one of C, D evicted.
		e := alerts[4]
		incs = h.observe(30, e)
		if got := h.evictions(); got != 3 {
			t.Fatalf("evictions = %v, want 3", got)
		}
		if len(incs) != 2 || h.tr.Len() != 2 {
			t.Fatalf("got %d incarnations (Len %d), want capacity 2: %+v", len(incs), h.tr.Len(), incs)
		}
		if inc := only(t, incs, e.Fingerprint); inc.ID != ids[e.Fingerprint] || inc.Status != alert.Firing {
			t.Fatalf("present E: got %+v", inc)
		}
	})

	t.Run("a poll over capacity with absent alerts evicts only absent ones", func(t *testing.T) {
		h := newTrackerHarness(t, small())
		a, b := newAlert("A", at(-60)), newAlert("B", at(-60))
		h.observe(0, a, b)
		c, d, e := newAlert("C", at(-60)), newAlert("D", at(-60)), newAlert("E", at(-60))
		incs := h.observe(10, c, d, e)
		if got := h.evictions(); got != 2 {
			t.Fatalf("evictions = %v, want 2 (A and B)", got)
		}
		if len(incs) != 3 {
			t.Fatalf("got %d incarnations, want C, D, E: %+v", len(incs), incs)
		}
		for _, x := range []alert.Alert{c, d, e} {
			requireStatus(t, only(t, incs, x.Fingerprint), alert.Firing)
		}
	})
}

func TestTrackerResolvedRetention(t *testing.T) {
	t.Run("resolved incarnation reported for the retention then dropped", func(t *testing.T) {
		cfg := testTrackerConfig()
		cfg.Capacity = 2
		cfg.ResolvedRetention = time.Minute
		h := newTrackerHarness(t, cfg)
		a := newAlert("A", at(-60))
		first := only(t, h.observe(0, a), a.Fingerprint)
		h.observe(10)
		resolved := only(t, h.observe(40), a.Fingerprint) // resolved at t=40
		requireStatus(t, resolved, alert.Resolved)
		for sec := 50; sec < 100; sec += 10 {
			inc := only(t, h.observe(sec), a.Fingerprint)
			if inc.ID != first.ID || inc.Status != alert.Resolved {
				t.Fatalf("t=%ds: got %+v, want the resolved incarnation %d", sec, inc, first.ID)
			}
		}
		if incs := h.observe(100); len(incs) != 0 {
			t.Fatalf("t=100s: got %+v, want the resolution dropped after the retention", incs)
		}
		if h.tr.Len() != 0 {
			t.Fatalf("Len() = %d, want 0", h.tr.Len())
		}
		if got := h.evictions(); got != 0 {
			t.Fatalf("evictions = %v, want 0: dropping after the retention is not an eviction", got)
		}
	})

	t.Run("old incarnation of a re-fired alert dropped after the retention", func(t *testing.T) {
		cfg := testTrackerConfig()
		cfg.ResolvedRetention = time.Minute
		h := newTrackerHarness(t, cfg)
		a := newAlert("A", at(-60))
		first := only(t, h.observe(0, a), a.Fingerprint)
		b := withStartsAt(a, at(5))
		h.observe(10, b) // old resolved at t=10
		for sec := 20; sec < 70; sec += 10 {
			if n := len(incsOf(h.observe(sec, resent(b, at(sec))), a.Fingerprint)); n != 2 {
				t.Fatalf("t=%ds: %d incarnations, want old and new", sec, n)
			}
		}
		incs := h.observe(70, resent(b, at(70)))
		inc := only(t, incs, a.Fingerprint)
		if inc.ID == first.ID {
			t.Fatalf("old incarnation still reported after the retention")
		}
		requireStatus(t, inc, alert.Firing)
		if got := h.evictions(); got != 0 {
			t.Fatalf("evictions = %v, want 0", got)
		}
	})

	t.Run("zero retention uses the default", func(t *testing.T) {
		cfg := testTrackerConfig()
		cfg.ResolvedRetention = 0
		h := newTrackerHarness(t, cfg)
		a := newAlert("A", at(-60))
		h.observe(0, a)
		h.observe(10)
		h.observe(40) // resolved
		last := 40 + int(DefaultResolvedRetention/time.Second)
		requireStatus(t, only(t, h.observe(last-1), a.Fingerprint), alert.Resolved)
		if incs := h.observe(last); len(incs) != 0 {
			t.Fatalf("got %+v after DefaultResolvedRetention, want none", incs)
		}
	})
}

// A resolved incarnation is still reported for ResolvedRetention after its
// fingerprint fires again.
func TestTrackerResolvedRetainedWhenFingerprintRefires(t *testing.T) {
	h := newTrackerHarness(t, testTrackerConfig())
	a := newAlert("A", at(-60))
	first := only(t, h.observe(0, a), a.Fingerprint)
	h.observe(10)
	requireStatus(t, only(t, h.observe(40), a.Fingerprint), alert.Resolved)

	incs := incsOf(h.observe(50, withStartsAt(a, at(45))), a.Fingerprint)
	found := false
	for _, inc := range incs {
		if inc.ID == first.ID {
			found = true
			requireStatus(t, inc, alert.Resolved)
		}
	}
	if !found {
		t.Error("the resolved incarnation stopped being reported when its fingerprint fired again")
	}
}

// A second re-fire within the retention keeps the first resolved
// incarnation reported.
func TestTrackerPrevRetainedAcrossSecondRefire(t *testing.T) {
	h := newTrackerHarness(t, testTrackerConfig())
	a := newAlert("A", at(-60))
	first := only(t, h.observe(0, a), a.Fingerprint)
	h.observe(10, withStartsAt(a, at(5)))  // first incarnation resolved at t=10
	h.observe(20, withStartsAt(a, at(15))) // second incarnation resolved at t=20

	incs := incsOf(h.observe(30, withStartsAt(a, at(15))), a.Fingerprint)
	found := false
	for _, inc := range incs {
		if inc.ID == first.ID {
			found = true
			requireStatus(t, inc, alert.Resolved)
		}
	}
	if !found {
		t.Error("a second re-fire dropped the first resolved incarnation inside the retention")
	}
}

func TestTrackerAlertsGauge(t *testing.T) {
	h := newTrackerHarness(t, testTrackerConfig())
	active := newAlert("Active", at(-60))
	silenced := newAlert("Silenced", at(-60))
	resolving := newAlert("Resolving", at(-60))
	resolved := newAlert("Resolved", at(-60))
	refired := newAlert("Refired", at(-60))
	incomplete := newAlert("Incomplete", at(-60))

	h.observe(0, active, suppress(silenced), resolving, resolved, refired, incomplete)
	h.observe(10, active, suppress(silenced), resolving, refired, incomplete) // Resolved absent from t=10
	h.observe(30, active, suppress(silenced), refired, incomplete)            // Resolving absent from t=30
	incs := h.observeSnap(40, Snapshot{
		Uptime:     oldUptime,
		Alerts:     ptrs(active, suppress(silenced), withStartsAt(refired, at(35))),
		Incomplete: []string{incomplete.Fingerprint},
	})

	requireStatus(t, only(t, incs, resolved.Fingerprint), alert.Resolved)
	requireStatus(t, only(t, incs, resolving.Fingerprint), alert.Firing)
	if n := len(incsOf(incs, refired.Fingerprint)); n != 2 {
		t.Fatalf("re-fired alert: %d incarnations, want 2", n)
	}
	want := map[string]float64{
		stateActive:     3, // Active, the new Refired, Incomplete
		stateSuppressed: 1, // Silenced
		stateResolving:  1, // Resolving
		stateResolved:   2, // Resolved, the old Refired
	}
	for state, w := range want {
		if got := h.gauge(state); got != w {
			t.Errorf("amtenant_alerts{state=%q} = %v, want %v", state, got, w)
		}
	}
	if len(incs) != 7 {
		t.Errorf("got %d incarnations, want 7", len(incs))
	}

	// After everything is gone and retained resolutions expired, all zero.
	h.observe(100)  // everything absent
	h.observe(200)  // everything resolved
	h.observe(1000) // every resolution past its retention
	for state := range want {
		if got := h.gauge(state); got != 0 {
			t.Errorf("after expiry: amtenant_alerts{state=%q} = %v, want 0", state, got)
		}
	}
}

func TestNewTrackerDefaults(t *testing.T) {
	tr := NewTracker(TrackerConfig{}, discardLogger(), nil)
	if tr.cfg.Capacity != 1 {
		t.Errorf("Capacity = %d, want 1 for a zero capacity", tr.cfg.Capacity)
	}
	if tr.cfg.ResolvedRetention != DefaultResolvedRetention {
		t.Errorf("ResolvedRetention = %v, want %v", tr.cfg.ResolvedRetention, DefaultResolvedRetention)
	}
	// A registry gets the metrics registered.
	reg := prometheus.NewRegistry()
	NewTracker(TrackerConfig{}, discardLogger(), reg)
	if n, err := testutil.GatherAndCount(reg, "amtenant_alerts", "amtenant_dedup_evictions_total"); err != nil || n != 5 {
		t.Errorf("GatherAndCount = %d, %v; want 5 series (4 states, 1 counter)", n, err)
	}
}

// While Alertmanager restarts, the first resend to arrive may come from
// the HA Prometheus that saw the alert fire later: that later startsAt is
// not a re-fire, and the earlier one is kept.
func TestTrackerLaterStartsAtDuringRestartIsSameIncarnation(t *testing.T) {
	h := newTrackerHarness(t, testTrackerConfig())
	a := newAlert("A", at(-60))
	first := only(t, h.observe(0, a), a.Fingerprint)
	newUptime := at(5)
	h.observeSnap(10, Snapshot{Uptime: newUptime})
	incs := h.observeSnap(20, Snapshot{Alerts: ptrs(withStartsAt(a, at(-45))), Uptime: newUptime})
	requireNoResolved(t, incs, "during the restart grace")
	got := only(t, incs, a.Fingerprint)
	if got.ID != first.ID || !got.StartsAt.Equal(at(-60)) {
		t.Errorf("ID %d startsAt %v, want ID %d and the earlier startsAt", got.ID, got.StartsAt, first.ID)
	}
	// After the grace, a later startsAt is a re-fire again.
	incs = h.observeSnap(200, Snapshot{Alerts: ptrs(withStartsAt(a, at(190))), Uptime: newUptime})
	if len(incsOf(incs, a.Fingerprint)) != 2 {
		t.Errorf("after the restart grace a later startsAt should resolve the old incarnation and start a new one: %+v", incs)
	}
}

// An uptime that changes on every poll (a crash-looping Alertmanager, or a
// hostile one) holds resolutions for at most twice the restart grace; so
// does an uptime in the future.
func TestTrackerRestartHoldIsBounded(t *testing.T) {
	grace := testTrackerConfig().RestartGrace // 2m
	t.Run("uptime changing every poll", func(t *testing.T) {
		h := newTrackerHarness(t, testTrackerConfig())
		a := newAlert("A", at(-60))
		h.observe(0, a)
		var resolvedAt int
		for sec := 10; sec <= 600 && resolvedAt == 0; sec += 10 {
			incs := h.observeSnap(sec, Snapshot{Uptime: at(sec - 1)})
			if inc := only(t, incs, a.Fingerprint); inc.Status == alert.Resolved {
				resolvedAt = sec
			}
		}
		// The hold began at t=10 and ends at most 2 graces later.
		if limit := 10 + int(2*grace/time.Second); resolvedAt == 0 || resolvedAt > limit {
			t.Fatalf("resolved at t=%ds, want by t=%ds", resolvedAt, limit)
		}
		if h.tr.Holding(at(resolvedAt)) {
			t.Error("still holding")
		}
	})
	t.Run("uptime in the future", func(t *testing.T) {
		h := newTrackerHarness(t, testTrackerConfig())
		a := newAlert("A", at(-60))
		h.tr.Observe(at(0), Snapshot{Alerts: ptrs(a), Uptime: at(24 * 3600)})
		if !h.tr.Holding(at(10)) {
			t.Fatal("not holding for a young Alertmanager")
		}
		if h.tr.Holding(at(int(2*grace/time.Second) + 1)) {
			t.Error("an uptime in the future holds resolutions past twice the restart grace")
		}
	})
	t.Run("a restart after a quiet time holds again", func(t *testing.T) {
		h := newTrackerHarness(t, testTrackerConfig())
		a := newAlert("A", at(-60))
		h.observe(0, a)
		h.observeSnap(10, Snapshot{Alerts: ptrs(a), Uptime: at(5)})
		h.observeSnap(1000, Snapshot{Alerts: ptrs(a), Uptime: at(5)})
		h.observeSnap(1010, Snapshot{Alerts: ptrs(a), Uptime: at(1005)})
		if !h.tr.Holding(at(1100)) {
			t.Error("a later restart is not held")
		}
	})
}

// An alert that does not change is one value from poll to poll, not a
// copy per poll; any change the pipeline reads is a new value, and the
// value handed out before stays as it was.
func TestTrackerSharesUnchangedValues(t *testing.T) {
	h := newTrackerHarness(t, testTrackerConfig())
	a := newAlert("Steady", at(0))
	first := h.tr.Observe(at(0), Snapshot{Alerts: ptrs(a), Uptime: oldUptime})
	if len(first) != 1 || !first[0].Unrouted {
		t.Fatalf("first poll: %+v, want one new value for the router", first)
	}
	first[0].Tenant, first[0].Unrouted = "team-a", false // as the router does
	second := h.tr.Observe(at(10), Snapshot{Alerts: ptrs(a), Uptime: oldUptime})
	if len(second) != 1 || second[0] != first[0] {
		t.Fatalf("an unchanged alert is a new value: %p, then %p", first[0], second[0])
	}
	silenced := a
	silenced.Suppressed, silenced.SilencedBy = true, []string{"s1"}
	third := h.tr.Observe(at(20), Snapshot{Alerts: ptrs(silenced), Uptime: oldUptime})
	if len(third) != 1 || third[0] == first[0] || third[0].Status != alert.Suppressed || !third[0].Unrouted || third[0].Tenant != "" {
		t.Fatalf("a silenced alert: %+v, want a new value, suppressed, for the router", third[0])
	}
	if first[0].Status != alert.Firing || first[0].Tenant != "team-a" {
		t.Errorf("the value handed out before changed: %+v", first[0])
	}
	resend := resent(silenced, at(30))
	fourth := h.tr.Observe(at(30), Snapshot{Alerts: ptrs(resend), Uptime: oldUptime})
	if fourth[0] == third[0] || fourth[0].Annotations != resend.Annotations {
		t.Errorf("new annotations: %v, want a new value with them", fourth[0].Annotations)
	}
}

// ptrs makes alerts a snapshot's.
func ptrs(alerts ...alert.Alert) []*alert.Alert {
	out := make([]*alert.Alert, len(alerts))
	for i := range alerts {
		out[i] = &alerts[i]
	}
	return out
}
