package senders

import (
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/internal/testutil"
	"github.com/amtenant/amtenant/state"
)

// recorded collects a leader's log changes.
type recorded struct {
	mu   sync.Mutex
	recs []state.Record
	to   *Manager // applied there too, as a follower's copy
}

func (r *recorded) record(rec state.Record) {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	to := r.to
	r.mu.Unlock()
	if to != nil {
		// Applied outside the leader's lock, as the stream does.
		go to.ApplyRecord(rec, time.Now())
	}
}

func (r *recorded) all() []state.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]state.Record(nil), r.recs...)
}

// replicatedPair starts, in a bubble, a leader and a follower whose copy
// of the leader's log is complete (synced), each with a webhook channel
// to its own sink of an in-memory network.
func replicatedPair(t *testing.T) (leader, follower *Manager, fl *fakeLeadership, ls, fs *sink, fm *recorded) {
	t.Helper()
	mn := newMemNet(t)
	ls, fs = mn.sink("leader", nil), mn.sink("follower", nil)
	lopts := testOptions(t, NewGuard(nil))
	leader, _ = startMemManager(t, lopts, mn)
	fl = newFakeLeadership(false)
	fopts := testOptions(t, NewGuard(nil))
	fopts.Leadership = fl
	fopts.Replication = &fakeReplication{synced: true, changed: make(chan struct{})}
	fopts.TakeoverWindow = time.Hour
	follower, _ = startMemManager(t, fopts, mn)
	fm = &recorded{to: follower}
	leader.SetRecorder(fm.record, nil)
	mustApply(t, leader, webhookSpec("team-a/hook", false, ls.URL()))
	mustApply(t, follower, webhookSpec("team-a/hook", false, fs.URL()))
	return leader, follower, fl, ls, fs, fm
}

func TestFollowerTakesOverFromTheCopiedLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		leader, follower, fl, ls, fs, _ := replicatedPair(t)
		a := newInc(1, alert.Firing, "alertname", "A")
		syncOne(leader, "team-a/hook", a)
		syncOne(follower, "team-a/hook", a)
		waitForf(t, time.Minute, func() bool { return ls.count() == 1 }, testutil.Say("leader sent %d, want 1", ls.countAny))
		// The follower's copy says A was told; its own batch settles on it.
		waitFor(t, time.Minute, "the follower's copy does not show A as told",
			func() bool { _, told, inflight := memberState(t, follower, a); return told && !inflight })

		// The leader is gone; no window has passed, but the copy says A was
		// told: the new leader sends only what is new.
		fl.set(true, time.Time{})
		b := newInc(2, alert.Firing, "alertname", "B")
		syncOne(follower, "team-a/hook", a, b)
		waitForf(t, time.Minute, func() bool { return fs.count() >= 1 }, testutil.Say("the new leader sent %d, want 1", fs.countAny))
		holdsFor(t, 200*time.Millisecond, func() bool { return fs.count() == 1 }, testutil.Say("the new leader sent %d, want 1", fs.countAny))
		if msg := fs.requests()[0].msg; len(msg.Alerts) != 1 || msg.Alerts[0].Labels["alertname"] != "B" {
			t.Errorf("the new leader sent %+v, want B alone", msg.Alerts)
		}
	})
}

func TestFollowerSendsWhatTheCopyLacks(t *testing.T) {
	// The leader never delivered A (say, its channel was failing): the
	// follower's batch waits for a record, however long the leader lives,
	// and is sent at the takeover.
	synctest.Test(t, func(t *testing.T) {
		mn := newMemNet(t)
		fs := mn.sink("follower", nil)
		fl := newFakeLeadership(false)
		opts := testOptions(t, NewGuard(nil))
		opts.Leadership = fl
		opts.Replication = &fakeReplication{synced: true, changed: make(chan struct{})}
		opts.TakeoverWindow = time.Millisecond
		follower, reg := startMemManager(t, opts, mn)
		mustApply(t, follower, webhookSpec("team-a/hook", false, fs.URL()))
		a := newInc(1, alert.Firing, "alertname", "A")
		syncOne(follower, "team-a/hook", a)
		waitFor(t, time.Minute, "no batch waits in shadow", func() bool { _, _, inflight := memberState(t, follower, a); return inflight })
		fl.set(false, time.Now().Add(time.Hour)) // the leader alive long after
		holdsFor(t, 100*time.Millisecond, func() bool { _, told, _ := memberState(t, follower, a); return !told },
			testutil.Say("liveness alone counted A as told, with a complete copy"))
		fl.set(true, time.Time{})
		waitDeliveredMem(t, reg, "webhook", 1)
		holdsFor(t, 100*time.Millisecond, func() bool { return fs.count() == 1 }, testutil.Say("sent %d, want 1", fs.countAny))
	})
}

func TestLeaderRecordsEveryLogChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		leader, _, _, ls, _, fm := replicatedPair(t)
		fm.to = nil
		a := newInc(1, alert.Firing, "alertname", "A")
		syncOne(leader, "team-a/hook", a)
		waitForf(t, time.Minute, func() bool { return len(fm.all()) == 1 }, testutil.Say("records: %v", func() any { return fm.all() }))
		rec := fm.all()[0]
		if rec.Channel != "team-a/hook" || rec.Integration == "" || len(rec.Group.Firing) != 1 || rec.Group.NotifiedAt.IsZero() {
			t.Errorf("record of the delivery: %+v", rec)
		}
		syncOne(leader, "team-a/hook", with(a, alert.Resolved))
		waitForf(t, time.Minute, func() bool { return len(fm.all()) == 2 }, testutil.Say("records: %v", func() any { return fm.all() }))
		if rec := fm.all()[1]; len(rec.Group.Firing) != 0 || rec.Group.Key != fm.all()[0].Group.Key {
			t.Errorf("record of the resolution: %+v, want the group's entry gone", rec)
		}
		if ls.count() != 2 {
			t.Errorf("leader sent %d, want 2", ls.count())
		}
	})
}

func TestRecordBeforeItsChannel(t *testing.T) {
	// A record (or snapshot) for a channel this replica has not built yet
	// is kept for it, and decides its first flush.
	for _, name := range []string{"record", "snapshot"} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				leader, _, _, ls, _, fm := replicatedPair(t)
				fm.to = nil
				a := newInc(1, alert.Firing, "alertname", "A")
				syncOne(leader, "team-a/hook", a)
				waitFor(t, time.Minute, "no record", func() bool { return len(fm.all()) == 1 && ls.count() == 1 })
				exp := leader.Export(time.Now())

				mn := newMemNet(t)
				s := mn.sink("hook", nil)
				m, reg := startMemManager(t, testOptions(t, NewGuard(nil)), mn)
				if name == "record" {
					m.ApplyRecord(fm.all()[0], time.Now())
				} else {
					m.ApplyTarget(exp[0], time.Now())
				}
				mustApply(t, m, webhookSpec("team-a/hook", false, s.URL()))
				syncOne(m, "team-a/hook", a)
				b := newInc(2, alert.Firing, "alertname", "B")
				syncOne(m, "team-a/hook", a, b)
				waitDeliveredMem(t, reg, "webhook", 1)
				holdsFor(t, 150*time.Millisecond, func() bool { return s.count() == 1 }, testutil.Say("sent %d, want 1 (B)", s.countAny))
				if msg := s.requests()[0].msg; len(msg.Alerts) != 1 || msg.Alerts[0].Labels["alertname"] != "B" {
					t.Errorf("sent %+v, want B alone", msg.Alerts)
				}
			})
		})
	}
}

// No record is made while nobody would receive it (no follower reads
// the stream): the leader's deliveries cost nothing extra then.
func TestNoRecordForNobody(t *testing.T) {
	s := newSink(t, nil)
	m, reg := startManager(t, testOptions(t, NewGuard(nil)))
	var want atomic.Bool
	rec := &recorded{}
	m.SetRecorder(rec.record, want.Load)
	mustApply(t, m, webhookSpec("team-a/hook", false, s.URL()))
	syncOne(m, "team-a/hook", newInc(1, alert.Firing, "alertname", "A"))
	waitDelivered(t, reg, "webhook", 1)
	if n := len(rec.all()); n != 0 {
		t.Fatalf("%d records made for nobody", n)
	}
	want.Store(true)
	syncOne(m, "team-a/hook", newInc(1, alert.Firing, "alertname", "A"), newInc(2, alert.Firing, "alertname", "A", "pod", "p2"))
	waitDelivered(t, reg, "webhook", 2)
	testutil.Eventually(t, 5*time.Second, "a record once a follower listens", func() bool { return len(rec.all()) >= 1 })
}
