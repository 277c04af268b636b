package senders

import (
	"context"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/alertmanager/notify"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/channel"
	"github.com/amtenant/amtenant/internal/testutil"
	"github.com/amtenant/amtenant/state"
)

const restoredID = "team-a/hook"

// restoreSpec is the channel of the restore tests: one webhook, grouped by
// alertname, with the dispatch tests' group wait and repeat interval.
func restoreSpec() channel.Spec {
	spec := webhookSpec(restoredID, false, "http://hook.example/")
	spec.Policy = policy(gw, ri)
	return spec
}

// dispatchOf returns the delivery state of the channel's only integration.
func dispatchOf(t *testing.T, m *Manager, id string) *dispatch {
	t.Helper()
	c := builtOf(m, id)
	if c == nil || len(c.targets) != 1 {
		t.Fatalf("channel %s: want one integration, got %+v", id, c)
	}
	for _, tg := range c.targets {
		return tg.d
	}
	return nil
}

// throughFile saves targets as the state file does and loads them back.
func throughFile(t *testing.T, targets []state.Target, savedAt time.Time) *state.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.json")
	if err := state.Save(path, &state.File{Targets: targets}); err != nil {
		t.Fatal(err)
	}
	f, err := state.Load(path, savedAt)
	if err != nil || f == nil {
		t.Fatalf("load: %v, %v", f, err)
	}
	return f
}

// groupOf returns the saved group of alertname name in targets.
func groupOf(targets []state.Target, channelID, name string) (state.Group, bool) {
	for _, st := range targets {
		if st.Channel != channelID {
			continue
		}
		for _, g := range st.Groups {
			if g.Key == grp(name).String() {
				return g, true
			}
		}
	}
	return state.Group{}, false
}

func lockedDue(d *dispatch, now time.Time) []*batch {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.due(now, 8) // room for every group of these tests
}

// batchFor returns the batch of the group of alertname name.
func batchFor(bs []*batch, name string) *batch {
	for _, b := range bs {
		if b.groupLabels.Equal(grp(name)) {
			return b
		}
	}
	return nil
}

func groupNames(bs []*batch) []string {
	var out []string
	for _, b := range bs {
		out = append(out, string(b.groupLabels["alertname"]))
	}
	slices.Sort(out)
	return out
}

// The delivery state of one channel is saved, and a new Manager that
// restores it tells the channel only what it was not told yet.
func TestRestoreResumesDelivery(t *testing.T) {
	var (
		notified = newInc(1, alert.Firing, "alertname", "Notified")
		pending  = newInc(2, alert.Firing, "alertname", "Pending")
		inFlight = newInc(3, alert.Firing, "alertname", "InFlight")
		resolved = newInc(4, alert.Firing, "alertname", "Resolved")
		silent   = newInc(5, alert.Suppressed, "alertname", "Silent")
		dropped  = newInc(6, alert.Firing, "alertname", "Dropped")
	)
	sent := t0.Add(gw)
	saved := t0.Add(gw + 20*time.Second)

	m1 := NewManager(testOptions(t, NewGuard(nil)), nil)
	mustApply(t, m1, restoreSpec())
	d1 := dispatchOf(t, m1, restoredID)
	m1.Sync(t0, map[string][]*alert.Incarnation{restoredID: {notified, inFlight, resolved, silent, dropped}})
	bs := lockedDue(d1, sent)
	if got, want := groupNames(bs), []string{"Dropped", "InFlight", "Notified", "Resolved"}; !slices.Equal(got, want) {
		t.Fatalf("first batches: %v, want %v", got, want)
	}
	d1.mu.Lock()
	d1.complete(batchFor(bs, "Notified"), sent, true)
	d1.complete(batchFor(bs, "Resolved"), sent, true)
	d1.complete(batchFor(bs, "Dropped"), sent, false) // given up
	d1.mu.Unlock()
	// InFlight's batch is still being sent when the state is saved; the
	// silenced alert is resolved without ever being notified, Resolved is
	// resolved and its resolution not yet sent, Pending is new.
	gone := []*alert.Incarnation{notified, pending, inFlight, with(resolved, alert.Resolved), with(silent, alert.Resolved), dropped}
	m1.Sync(sent.Add(10*time.Second), map[string][]*alert.Incarnation{restoredID: gone})
	exported := m1.Export(saved)

	fp := func(inc *alert.Incarnation) []string { return []string{inc.Fingerprint} }
	for _, tt := range []struct {
		name string
		want state.Group
	}{
		// The groups opened at t0 (their alerts are older than the group
		// wait), so their intervals count from then.
		{"Notified", state.Group{Next: t0.Add(gi), Firing: fp(notified), NotifiedAt: sent}},
		{"Resolved", state.Group{Next: t0.Add(gi), Firing: fp(resolved), NotifiedAt: sent}},
		{"Dropped", state.Group{Next: t0.Add(gi), Failed: true}},
		{"InFlight", state.Group{}},
		{"Pending", state.Group{Next: sent.Add(10 * time.Second)}},
		{"Silent", state.Group{Next: t0.Add(gi)}},
	} {
		got, ok := groupOf(exported, restoredID, tt.name)
		tt.want.Key = grp(tt.name).String()
		if !ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("saved group %s: got %+v (found %t), want %+v", tt.name, got, ok, tt.want)
		}
	}
	if len(exported) != 1 || len(exported[0].Members) != 2 {
		t.Errorf("saved members: %+v, want the two resolved ones", exported)
	}

	// A restart: a new Manager, the saved state, the same channel, and the
	// tracker's incarnations as they are now.
	f := throughFile(t, exported, saved)
	m2 := NewManager(testOptions(t, NewGuard(nil)), nil)
	m2.Restore(f.Targets, saved)
	mustApply(t, m2, restoreSpec())
	d2 := dispatchOf(t, m2, restoredID)
	restart := saved.Add(time.Minute)
	m2.Sync(restart, map[string][]*alert.Incarnation{restoredID: gone})

	// What was in flight or new goes out at once.
	bs = lockedDue(d2, restart)
	if got, want := groupNames(bs), []string{"InFlight", "Pending"}; !slices.Equal(got, want) {
		t.Fatalf("batches after the restart: %v, want %v", got, want)
	}
	wantBatch(t, batchFor(bs, "Pending"), grp("Pending"), []string{"Pending"}, nil, notify.ReasonFirstNotification)
	wantBatch(t, batchFor(bs, "InFlight"), grp("InFlight"), []string{"InFlight"}, nil, notify.ReasonFirstNotification)
	d2.mu.Lock()
	for _, b := range bs {
		d2.complete(b, restart, true)
	}
	d2.mu.Unlock()

	// The others on their saved schedule: the failed one is tried again,
	// the resolution of a group told before the restart is sent, the
	// notified one is not sent again.
	bs = lockedDue(d2, t0.Add(gi))
	if got, want := groupNames(bs), []string{"Dropped", "Resolved"}; !slices.Equal(got, want) {
		t.Fatalf("batches at the saved interval: %v, want %v", got, want)
	}
	wantBatch(t, batchFor(bs, "Dropped"), grp("Dropped"), []string{"Dropped"}, nil, notify.ReasonFirstNotification)
	wantBatch(t, batchFor(bs, "Resolved"), grp("Resolved"), nil, []string{"Resolved"}, notify.ReasonAllAlertsResolved)
	d2.mu.Lock()
	for _, b := range bs {
		d2.complete(b, t0.Add(gi), true)
	}
	d2.mu.Unlock()
	// The resolution is sent once: later polls still report the resolved
	// incarnation.
	for i := range 3 {
		m2.Sync(sent.Add(gi+time.Duration(i+1)*time.Minute), map[string][]*alert.Incarnation{restoredID: gone})
	}
	if bs := lockedDue(d2, sent.Add(ri)); len(bs) != 0 {
		t.Fatalf("batches before the repeat: %v, want none", groupNames(bs))
	}
	// The notified alert repeats on its saved schedule, as a repeat, at the
	// first flush after its repeat interval (as do those told at the
	// restart, whose flush comes late here).
	bs = lockedDue(d2, t0.Add(ri+gi))
	if got, want := groupNames(bs), []string{"InFlight", "Notified", "Pending"}; !slices.Equal(got, want) {
		t.Fatalf("repeats: %v, want %v", got, want)
	}
	wantBatch(t, batchFor(bs, "Notified"), grp("Notified"), []string{"Notified"}, nil, notify.ReasonRepeatIntervalElapsed)
}

// A firing alert never told before the save that was resolved while the
// sidecar was down: nothing is sent for it.
func TestRestorePendingResolvedMeanwhile(t *testing.T) {
	a := newInc(1, alert.Firing, "alertname", "A")
	m := NewManager(testOptions(t, NewGuard(nil)), nil)
	m.Restore([]state.Target{{
		Channel: restoredID, Integration: "webhook[0]",
		Groups: []state.Group{{Key: grp("A").String(), Next: t0.Add(gw)}},
	}}, t0)
	mustApply(t, m, restoreSpec())
	d := dispatchOf(t, m, restoredID)
	m.Sync(t0.Add(time.Hour), map[string][]*alert.Incarnation{restoredID: {with(a, alert.Resolved)}})
	if bs := lockedDue(d, t0.Add(2*time.Hour)); len(bs) != 0 {
		t.Fatalf("batches: %v, want none", groupNames(bs))
	}
	if exp := m.Export(t0.Add(time.Hour)); len(exp) != 1 || len(exp[0].Members) != 0 || len(exp[0].Groups) != 0 {
		t.Errorf("export: %+v, want nothing held", exp)
	}
}

// Restore after the channel was applied still takes effect at the first
// sync.
func TestRestoreIntoAppliedChannel(t *testing.T) {
	a := newInc(1, alert.Firing, "alertname", "A")
	m := NewManager(testOptions(t, NewGuard(nil)), nil)
	mustApply(t, m, restoreSpec())
	m.Restore([]state.Target{{
		Channel: restoredID, Integration: "webhook[0]",
		Groups: []state.Group{{Key: grp("A").String(), Next: t0.Add(gi), Firing: []string{a.Fingerprint}, NotifiedAt: t0}},
	}}, t0)
	d := dispatchOf(t, m, restoredID)
	m.Sync(t0.Add(time.Minute), map[string][]*alert.Incarnation{restoredID: {a}})
	if bs := lockedDue(d, t0.Add(ri)); len(bs) != 0 {
		t.Fatalf("batches before the repeat: %v, want none", groupNames(bs))
	}
	b := dueOne(t, d, t0.Add(ri+gi))
	wantBatch(t, b, grp("A"), []string{"A"}, nil, notify.ReasonRepeatIntervalElapsed)
}

// Until the first sync, the saved state of an applied channel is saved
// again as it was; after it, what the channel holds.
func TestExportBeforeFirstSync(t *testing.T) {
	a := newInc(1, alert.Firing, "alertname", "A")
	b := newInc(2, alert.Firing, "alertname", "B")
	saved := []state.Group{
		{Key: grp("A").String(), Next: t0.Add(gi), Firing: []string{a.Fingerprint}, NotifiedAt: t0},
		{Key: grp("B").String(), Next: t0.Add(gi), Firing: []string{b.Fingerprint}, NotifiedAt: t0},
	}
	m := NewManager(testOptions(t, NewGuard(nil)), nil)
	m.Restore([]state.Target{{Channel: restoredID, Integration: "webhook[0]", Groups: saved}}, t0)
	mustApply(t, m, restoreSpec())
	exp := m.Export(t0.Add(time.Minute))
	if len(exp) != 1 || !reflect.DeepEqual(exp[0].Groups, saved) {
		t.Fatalf("export before the first sync: %+v, want the saved groups %+v", exp, saved)
	}
	m.Sync(t0.Add(time.Minute), map[string][]*alert.Incarnation{restoredID: {a}})
	exp = m.Export(t0.Add(time.Minute))
	// B's entry stays in the log until its repeat interval: were B to come
	// back, it would not be told as new.
	if len(exp) != 1 || len(exp[0].Groups) != 2 || !reflect.DeepEqual(exp[0].Groups[0], saved[0]) {
		t.Fatalf("export after the first sync: %+v, want A as saved and B's log entry", exp)
	}
}

// Saved states of channels that are not applied are saved again until
// they are older than the longest repeat interval, then forgotten.
func TestExportKeepsUnappliedUntilHorizon(t *testing.T) {
	gone := state.Target{
		Channel: "team-b/gone", Integration: "webhook[0]",
		Groups: []state.Group{{Key: `{alertname="A"}`, Next: t0.Add(gi), Firing: []string{"0123456789abcdef"}, NotifiedAt: t0}},
	}
	has := func(targets []state.Target) bool {
		for _, st := range targets {
			if st.Channel == gone.Channel {
				return true
			}
		}
		return false
	}

	t.Run("default repeat interval", func(t *testing.T) {
		opts := testOptions(t, NewGuard(nil))
		opts.RepeatInterval = time.Hour
		m := NewManager(opts, nil)
		m.Restore([]state.Target{gone}, t0)
		exp := m.Export(t0.Add(time.Hour))
		if !has(exp) {
			t.Fatal("the saved state of a channel not applied was not saved again within the repeat interval")
		}
		if got := exp[0]; got.Integration != gone.Integration || !reflect.DeepEqual(got.Groups, gone.Groups) {
			t.Errorf("saved again as %+v, want %+v", got, gone)
		}
		if has(m.Export(t0.Add(time.Hour + time.Second))) {
			t.Fatal("the saved state outlived the repeat interval")
		}
		// Forgotten, not merely left out.
		if has(m.Export(t0.Add(time.Minute))) {
			t.Error("the forgotten state came back")
		}
		// The channel coming back later starts fresh.
		spec := restoreSpec()
		spec.ID = gone.Channel
		mustApply(t, m, spec)
		if exp := m.Export(t0.Add(2 * time.Hour)); len(exp) != 1 || len(exp[0].Groups) != 0 {
			t.Errorf("export of the channel applied after its state was forgotten: %+v", exp)
		}
	})

	t.Run("across restarts", func(t *testing.T) {
		opts := testOptions(t, NewGuard(nil))
		opts.RepeatInterval = time.Hour
		m := NewManager(opts, nil)
		m.Restore([]state.Target{gone}, t0)
		exp := m.Export(t0.Add(30 * time.Minute))
		if !has(exp) || !exp[0].OrphanedAt.Equal(t0) {
			t.Fatalf("carried over as %+v, want orphaned since %s", exp, t0)
		}
		// Restarted again, with a file saved later: the age still counts
		// from the first save that carried it over.
		m2 := NewManager(opts, nil)
		m2.Restore(exp, t0.Add(30*time.Minute))
		if has(m2.Export(t0.Add(time.Hour + time.Second))) {
			t.Fatal("restarts kept an unused channel state past the repeat interval")
		}
	})

	t.Run("a channel's longer repeat interval", func(t *testing.T) {
		opts := testOptions(t, NewGuard(nil))
		opts.RepeatInterval = time.Hour
		m := NewManager(opts, nil)
		m.Restore([]state.Target{gone}, t0)
		spec := restoreSpec()
		spec.Policy.RepeatInterval = 3 * time.Hour
		mustApply(t, m, spec)
		if !has(m.Export(t0.Add(3 * time.Hour))) {
			t.Fatal("the saved state was dropped within the longest repeat interval of the applied channels")
		}
		if has(m.Export(t0.Add(3*time.Hour + time.Second))) {
			t.Fatal("the saved state outlived the longest repeat interval")
		}
	})

	t.Run("taken by its channel", func(t *testing.T) {
		m := NewManager(testOptions(t, NewGuard(nil)), nil)
		m.Restore([]state.Target{gone}, t0)
		spec := restoreSpec()
		spec.ID = gone.Channel
		mustApply(t, m, spec)
		exp := m.Export(t0.Add(time.Minute))
		if len(exp) != 1 || !reflect.DeepEqual(exp[0].Groups, gone.Groups) {
			t.Fatalf("export: %+v, want the channel's saved groups once", exp)
		}
		// Long after: the channel's own state, whatever its age.
		if exp := m.Export(t0.Add(48 * time.Hour)); len(exp) != 1 || len(exp[0].Groups) != 1 {
			t.Errorf("export of an applied channel's restored state: %+v", exp)
		}
	})
}

// The same through running Managers and a real webhook: a notification in
// flight when the state is saved is sent after the restart, one delivered
// is not, and a resolution not yet delivered is, once.
func TestRestoreEndToEnd(t *testing.T) {
	// In a bubble: that nothing more is sent after the restart is checked
	// once every goroutine has done what it could, on the bubble's clock.
	synctest.Test(t, func(t *testing.T) {
		notified := newInc(1, alert.Firing, "alertname", "Notified")
		resolved := newInc(2, alert.Firing, "alertname", "Resolved")
		fresh := newInc(3, alert.Firing, "alertname", "Fresh")
		mn := newMemNet(t)

		// The first sidecar: the first two notifications get through, the
		// next ones hang until shutdown.
		hang := make(chan struct{})
		s1 := mn.sink("first", func(n int, w http.ResponseWriter, r *http.Request) {
			if n > 2 {
				select {
				case <-r.Context().Done():
				case <-hang:
				}
			}
			w.WriteHeader(http.StatusOK)
		})
		defer close(hang)
		opts := testOptions(t, NewGuard(nil))
		opts.AttemptTimeout = time.Minute
		m1, reg1 := startMemManager(t, opts, mn)
		mustApply(t, m1, webhookSpec(restoredID, false, s1.URL()))
		syncOne(m1, restoredID, notified, resolved)
		waitDeliveredMem(t, reg1, "webhook", 2)
		syncOne(m1, restoredID, notified, with(resolved, alert.Resolved), fresh)
		waitForf(t, time.Minute, func() bool { return s1.count() == 4 }, testutil.Say("requests: %d, want 4 (2 delivered, 2 hanging)", s1.countAny))
		// Saved while they hang.
		exported := m1.Export(time.Now())
		m1.Stop(10 * time.Millisecond)

		s2 := mn.sink("second", nil)
		opts2 := testOptions(t, NewGuard(nil))
		m2, _ := newMemManager(t, opts2, mn)
		f := throughFile(t, exported, time.Now())
		m2.Restore(f.Targets, time.Now())
		mustApply(t, m2, webhookSpec(restoredID, false, s2.URL()))
		ctx, cancel := context.WithCancel(context.Background())
		m2.Start(ctx)
		defer func() { cancel(); m2.Stop(time.Second) }()
		now := []*alert.Incarnation{notified, with(resolved, alert.Resolved), fresh}
		syncOne(m2, restoredID, now...)
		waitForf(t, time.Minute, func() bool { return s2.count() >= 2 }, testutil.Say("requests after the restart: %d, want 2", s2.countAny))
		for range 3 {
			syncOne(m2, restoredID, now...)
		}
		holdsFor(t, 200*time.Millisecond, func() bool { return s2.count() == 2 }, testutil.Say("requests after the restart: %d, want 2", s2.countAny))
		got := map[string]string{}
		for _, r := range s2.requests() {
			for _, a := range r.msg.Alerts {
				got[a.Labels["alertname"]] += a.Status
			}
		}
		if want := map[string]string{"Resolved": "resolved", "Fresh": "firing"}; len(got) != 2 || got["Resolved"] != want["Resolved"] || got["Fresh"] != want["Fresh"] {
			t.Errorf("alerts sent after the restart: %v, want %v", got, want)
		}
	})
}
