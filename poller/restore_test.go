package poller

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/state"
)

// savedTracker is a tracker that knows one alert in each state, with the
// alerts it was built from.
type savedTracker struct {
	h *trackerHarness
	// last is what the last poll returned.
	last []alert.Incarnation
	// firing, silenced and refired are present at the last poll (refired
	// with an earlier, resolved incarnation); resolving is absent within
	// the resolve grace; gone is resolved.
	firing, silenced, resolving, refired, gone alert.Alert
}

// lastPoll is the second of the savedTracker's last poll.
const lastPoll = 50

func newSavedTracker(t *testing.T) *savedTracker {
	t.Helper()
	s := &savedTracker{
		h:         newTrackerHarness(t, testTrackerConfig()),
		firing:    newAlert("Firing", at(-60)),
		silenced:  suppress(newAlert("Silenced", at(-50))),
		resolving: newAlert("Resolving", at(-40)),
		refired:   newAlert("Refired", at(-30)),
		gone:      newAlert("Gone", at(-20)),
	}
	s.h.observe(0, s.firing, s.silenced, s.resolving, s.refired, s.gone)
	s.h.observe(10, s.firing, s.silenced, s.resolving)
	// The resolve grace (30s) ends for refired and gone.
	s.h.observe(40, s.firing, s.silenced, s.resolving)
	// refired is back with a new startsAt; resolving is gone since now.
	s.last = s.h.observe(lastPoll, s.firing, s.silenced, withStartsAt(s.refired, at(45)))

	requireStatus(t, only(t, s.last, s.firing.Fingerprint), alert.Firing)
	requireStatus(t, only(t, s.last, s.silenced.Fingerprint), alert.Suppressed)
	requireStatus(t, only(t, s.last, s.resolving.Fingerprint), alert.Firing)
	requireStatus(t, only(t, s.last, s.gone.Fingerprint), alert.Resolved)
	if r := incsOf(s.last, s.refired.Fingerprint); len(r) != 2 || r[0].Status != alert.Resolved || r[1].Status != alert.Firing {
		t.Fatalf("refired alert: got %+v, want a resolved then a firing incarnation", r)
	}
	return s
}

// throughFile saves st with the state file's code and loads it back.
func throughFile(t *testing.T, st state.Tracker) state.Tracker {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.json")
	if err := state.Save(path, &state.File{Tracker: st}); err != nil {
		t.Fatalf("save: %v", err)
	}
	f, err := state.Load(path, at(lastPoll))
	if err != nil || f == nil {
		t.Fatalf("load: %v, %v", f, err)
	}
	return f.Tracker
}

// restored returns a new tracker that imported s through the state file,
// and what Import returned.
func (s *savedTracker) restored(t *testing.T, cfg TrackerConfig) (*trackerHarness, []alert.Incarnation) {
	t.Helper()
	h := newTrackerHarness(t, cfg)
	return h, values(h.tr.Import(throughFile(t, s.h.tr.Export())))
}

func maxID(incs []alert.Incarnation) uint64 {
	var m uint64
	for _, inc := range incs {
		m = max(m, inc.ID)
	}
	return m
}

func TestTrackerExportImport(t *testing.T) {
	s := newSavedTracker(t)
	exported := s.h.tr.Export()
	if got := throughFile(t, exported); !reflect.DeepEqual(got, exported) {
		t.Fatalf("the state file changed the tracker's state:\n got %+v\nwant %+v", got, exported)
	}
	if !exported.Uptime.Equal(oldUptime) {
		t.Errorf("exported uptime %v, want %v", exported.Uptime, oldUptime)
	}
	if len(exported.Alerts) != 5 {
		t.Fatalf("exported %d alerts, want 5", len(exported.Alerts))
	}

	h, incs := s.restored(t, testTrackerConfig())
	// Import hands over exactly what the last poll did: same incarnations,
	// IDs, statuses and times.
	if !reflect.DeepEqual(incs, s.last) {
		t.Errorf("Import returned\n %+v\nwant what the last poll returned\n %+v", incs, s.last)
	}
	if h.tr.Len() != 5 {
		t.Errorf("Len() = %d after Import, want 5", h.tr.Len())
	}
	if !reflect.DeepEqual(h.tr.Export(), exported) {
		t.Errorf("export after Import differs:\n got %+v\nwant %+v", h.tr.Export(), exported)
	}

	// A new incarnation gets an ID no restored one has, and the one the
	// saved tracker would have given.
	fresh := newAlert("Fresh", at(55))
	want := s.h.tr.Export().NextID + 1
	got := only(t, h.observe(60, s.firing, s.silenced, withStartsAt(s.refired, at(45)), fresh), fresh.Fingerprint)
	if got.ID <= maxID(s.last) || got.ID != want {
		t.Errorf("new incarnation ID %d, want %d (larger than every restored ID, at most %d)", got.ID, want, maxID(s.last))
	}
}

func TestTrackerFirstPollAfterImportChangesNothing(t *testing.T) {
	s := newSavedTracker(t)
	h, _ := s.restored(t, testTrackerConfig())
	// The same alerts, resent by Prometheus meanwhile.
	incs := h.observe(lastPoll+10, resent(s.firing, at(lastPoll+10)), resent(s.silenced, at(lastPoll+10)), resent(withStartsAt(s.refired, at(45)), at(lastPoll+10)))
	if len(incs) != len(s.last) {
		t.Fatalf("got %d incarnations, want %d: %+v", len(incs), len(s.last), incs)
	}
	key := func(inc alert.Incarnation) [3]any { return [3]any{inc.Fingerprint, inc.ID, inc.Status} }
	before := map[[3]any]bool{}
	for _, inc := range s.last {
		before[key(inc)] = true
	}
	for _, inc := range incs {
		if !before[key(inc)] {
			t.Errorf("incarnation %d of %s (%v) is new after the restore", inc.ID, inc.Fingerprint, inc.Status)
		}
	}
	// The resolutions stay as they were.
	was, is := only(t, s.last, s.gone.Fingerprint), only(t, incs, s.gone.Fingerprint)
	if !is.ResolvedAt.Equal(was.ResolvedAt) || !is.EndsAt.Equal(was.EndsAt) {
		t.Errorf("resolution of gone changed: got %v/%v, want %v/%v", is.ResolvedAt, is.EndsAt, was.ResolvedAt, was.EndsAt)
	}
}

func TestTrackerAbsenceAfterImport(t *testing.T) {
	s := newSavedTracker(t)
	cfg := testTrackerConfig()

	t.Run("present when saved: resolved after the grace from the first poll", func(t *testing.T) {
		h, _ := s.restored(t, cfg)
		first := 100
		for sec := first; sec < first+30; sec += 10 {
			requireStatus(t, only(t, h.observe(sec, s.silenced), s.firing.Fingerprint), alert.Firing)
		}
		inc := only(t, h.observe(first+30, s.silenced), s.firing.Fingerprint)
		requireStatus(t, inc, alert.Resolved)
		if inc.ID != only(t, s.last, s.firing.Fingerprint).ID || !inc.EndsAt.Equal(at(first)) {
			t.Errorf("got %+v, want the saved ID ending at the first poll after the restore", inc)
		}
	})

	t.Run("absent when saved: the grace counts from when it went missing", func(t *testing.T) {
		h, _ := s.restored(t, cfg)
		// Missing since t=50: still within the grace at t=79.
		requireStatus(t, only(t, h.observe(79, s.firing), s.resolving.Fingerprint), alert.Firing)
		inc := only(t, h.observe(80, s.firing), s.resolving.Fingerprint)
		requireStatus(t, inc, alert.Resolved)
		if !inc.EndsAt.Equal(at(lastPoll)) {
			t.Errorf("EndsAt = %v, want when it went missing before the restore, %v", inc.EndsAt, at(lastPoll))
		}
	})

	t.Run("absent when saved and back: same incarnation", func(t *testing.T) {
		h, _ := s.restored(t, cfg)
		inc := only(t, h.observe(70, resent(s.resolving, at(70))), s.resolving.Fingerprint)
		requireStatus(t, inc, alert.Firing)
		if inc.ID != only(t, s.last, s.resolving.Fingerprint).ID {
			t.Errorf("ID %d, want the saved %d", inc.ID, only(t, s.last, s.resolving.Fingerprint).ID)
		}
	})
}

func TestTrackerImportAlertmanagerRestarted(t *testing.T) {
	s := newSavedTracker(t)
	tests := []struct {
		name    string
		uptime  time.Time
		resolve int // the first poll (second) at which firing is resolved
	}{
		// Absent from t=100: the resolve grace ends at 130.
		{"same Alertmanager", oldUptime, 130},
		// A different uptime, old enough not to hold by itself: the restart
		// grace (2m) counts from the first poll after the restore.
		{"Alertmanager restarted meanwhile", oldUptime.Add(time.Hour), 220},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := s.restored(t, testTrackerConfig())
			for sec := 100; sec < tt.resolve; sec += 10 {
				incs := h.observeSnap(sec, Snapshot{Uptime: tt.uptime})
				requireStatus(t, only(t, incs, s.firing.Fingerprint), alert.Firing)
				if tt.resolve > 130 {
					// Missing since before the restore, long past its
					// grace: only the restart holds it.
					requireStatus(t, only(t, incs, s.resolving.Fingerprint), alert.Firing)
				}
			}
			inc := only(t, h.observeSnap(tt.resolve, Snapshot{Uptime: tt.uptime}), s.firing.Fingerprint)
			requireStatus(t, inc, alert.Resolved)
		})
	}
}

func TestTrackerImportKeepsIDsUnique(t *testing.T) {
	h := newTrackerHarness(t, testTrackerConfig())
	// The tracker already handed out IDs 1 and 2.
	h.observe(0, newAlert("Early1", at(-10)), newAlert("Early2", at(-10)))
	old := newAlert("Old", at(-100))
	incs := h.tr.Import(state.Tracker{
		NextID: 1, // less than the IDs in the file
		Uptime: oldUptime,
		Alerts: []state.Entry{
			{Current: alert.Incarnation{Alert: old, ID: 7, Status: alert.Firing}},
			{}, // no fingerprint: skipped
		},
	})
	if len(incs) != 1 || incs[0].ID != 7 {
		t.Fatalf("Import returned %+v, want the one saved incarnation", incs)
	}
	if h.tr.Len() != 1 {
		t.Errorf("Len() = %d after Import, want 1: Import replaces what the tracker knew", h.tr.Len())
	}
	fresh := newAlert("Fresh", at(5))
	if inc := only(t, h.observe(10, old, fresh), fresh.Fingerprint); inc.ID != 8 {
		t.Errorf("new incarnation ID %d, want 8 (after the largest ID in the file)", inc.ID)
	}

	// The tracker's own counter wins when it is ahead of the file.
	h = newTrackerHarness(t, testTrackerConfig())
	for i := range 10 {
		h.observe(i, newAlert("Churn", at(i)))
	}
	h.tr.Import(state.Tracker{NextID: 3, Alerts: []state.Entry{{Current: alert.Incarnation{Alert: old, ID: 2}}}})
	if inc := only(t, h.observe(20, old, fresh), fresh.Fingerprint); inc.ID != 11 {
		t.Errorf("new incarnation ID %d, want 11 (after the tracker's own last ID)", inc.ID)
	}
}

func TestTrackerImportBeyondCapacity(t *testing.T) {
	s := newSavedTracker(t)
	cfg := testTrackerConfig()
	cfg.Capacity = 2
	h, incs := s.restored(t, cfg)
	if h.tr.Len() != 5 || len(incs) != len(s.last) {
		t.Fatalf("imported %d alerts (%d incarnations) into a capacity of 2, want all 5 (%d)", h.tr.Len(), len(incs), len(s.last))
	}
	if got := h.evictions(); got != 0 {
		t.Errorf("evictions: %v, want 0", got)
	}
}

func TestPollerRestore(t *testing.T) {
	s := newSavedTracker(t)
	saved := throughFile(t, s.h.tr.Export())

	h := newPollerHarness(t)
	h.clock = at(90)
	if n := h.p.Restore(saved); n != len(s.last) {
		t.Errorf("Restore() = %d, want %d incarnations", n, len(s.last))
	}
	if h.sourceCalls != 0 {
		t.Errorf("Restore polled Alertmanager %d times", h.sourceCalls)
	}
	if len(h.sinkCalls) != 1 {
		t.Fatalf("sink calls after Restore: %d, want 1", len(h.sinkCalls))
	}
	if c := h.sinkCalls[0]; !c.now.Equal(at(90)) || !reflect.DeepEqual(c.incs, s.last) {
		t.Errorf("sink got %v, %+v; want the clock's now and the saved incarnations %+v", c.now, c.incs, s.last)
	}
	if !reflect.DeepEqual(h.p.Export(), saved) {
		t.Errorf("Export after Restore:\n got %+v\nwant %+v", h.p.Export(), saved)
	}

	// The first poll finds the same alerts: nothing new reaches the sink.
	if !h.succeed(100, s.firing, s.silenced, withStartsAt(s.refired, at(45)), s.resolving) {
		t.Fatal("poll failed")
	}
	incs := h.sinkCalls[1].incs
	for _, inc := range incs {
		if inc.ID > maxID(s.last) {
			t.Errorf("incarnation %d of %s is new after the restore", inc.ID, inc.Fingerprint)
		}
	}
	if len(incs) != len(s.last) {
		t.Errorf("first poll: %d incarnations, want %d", len(incs), len(s.last))
	}
}
