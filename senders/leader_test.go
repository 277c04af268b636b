package senders

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/internal/testutil"
)

// fakeLeadership is a Leadership the test sets by hand.
type fakeLeadership struct {
	mu      sync.Mutex
	leading bool
	seen    time.Time
	changed chan struct{}
	calls   int
}

func newFakeLeadership(leading bool) *fakeLeadership {
	return &fakeLeadership{leading: leading, changed: make(chan struct{})}
}

func (f *fakeLeadership) Status() (bool, time.Time, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.leading, f.seen, f.changed
}

// set changes the state and wakes the waiters.
func (f *fakeLeadership) set(leading bool, seen time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leading, f.seen = leading, seen
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeLeadership) statusCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// waitCalls waits, in a bubble, until Status was called n times: a
// follower's batch waits in shadow once it has read the state it cannot
// act on.
func (f *fakeLeadership) waitCalls(t *testing.T, n int) {
	t.Helper()
	waitForf(t, time.Minute, func() bool { return f.statusCalls() >= n },
		testutil.Say("Status called %d times, want %d", func() any { return f.statusCalls() }, testutil.Val(n)))
}

// fakeReplication is a Replication the test sets by hand.
type fakeReplication struct {
	mu      sync.Mutex
	synced  bool
	lost    time.Time
	changed chan struct{}
}

func (f *fakeReplication) Synced() (bool, time.Time, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.synced, f.lost, f.changed
}

func (f *fakeReplication) set(synced bool, lost time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.synced, f.lost = synced, lost
	close(f.changed)
	f.changed = make(chan struct{})
}

func TestShadow(t *testing.T) {
	const window = 10 * time.Second
	due := t0
	const fpA, fpB = 1, 2
	// A batch telling A and B firing, made at due.
	b := &batch{groupKey: "{}", at: due, repeat: time.Hour, firingFPs: []uint64{fpA, fpB}}
	type update struct {
		leading bool
		seen    time.Time
		// repl, when set, changes the replication state.
		repl *fakeReplication
		// log, when set, is the leader's record of the group arriving.
		log *told
	}
	synced := func(lost time.Time) *fakeReplication { return &fakeReplication{synced: true, lost: lost} }
	unsynced := func(lost time.Time) *fakeReplication { return &fakeReplication{lost: lost} }
	both := &told{firing: []uint64{fpA, fpB}, at: due}
	tests := []struct {
		name    string
		nilLead bool
		noRepl  bool
		initial update
		// updates are applied one by one, each once the shadow waits.
		updates []update
		cancel  bool
		want    shadowResult
	}{
		{name: "no leadership", nilLead: true, want: shadowLead},
		{name: "leading", initial: update{leading: true}, want: shadowLead},
		{name: "leader seen exactly the window after due", initial: update{seen: due.Add(window)}, want: shadowWindow},
		{name: "no replication configured: the window rule", noRepl: true, initial: update{seen: due.Add(window)}, want: shadowWindow},
		{name: "leader seen later", initial: update{seen: due.Add(time.Hour)}, want: shadowWindow},
		{name: "leading and leader seen: this replica leads", initial: update{leading: true, seen: due.Add(time.Hour)}, want: shadowLead},
		{name: "leader seen later, after a wait", updates: []update{{seen: due.Add(window)}}, want: shadowWindow},
		{name: "leader seen too early, then this replica leads: flushed again", initial: update{seen: due}, updates: []update{{seen: due.Add(window - time.Millisecond)}, {leading: true}}, want: shadowTakeover},
		{name: "shutdown while waiting", initial: update{seen: due.Add(window - time.Millisecond)}, cancel: true, want: shadowCanceled},
		{name: "the leader's record already covers it", initial: update{log: both}, want: shadowRecorded},
		{name: "synced: the record confirms", initial: update{repl: synced(time.Time{}), seen: due.Add(time.Hour)}, updates: []update{{log: both}}, want: shadowRecorded},
		{name: "synced: liveness alone does not confirm, a takeover flushes again", initial: update{repl: synced(time.Time{})}, updates: []update{{seen: due.Add(time.Hour)}, {leading: true}}, want: shadowTakeover},
		{name: "a record telling less waits", initial: update{repl: synced(time.Time{}), log: &told{firing: []uint64{fpA}, at: due}}, updates: []update{{log: both}}, want: shadowRecorded},
		{name: "a record older than the repeat interval waits", initial: update{repl: synced(time.Time{}), log: &told{firing: []uint64{fpA, fpB}, at: due.Add(-2 * time.Hour)}}, updates: []update{{log: both}}, want: shadowRecorded},
		{name: "replication lost after due: the window counts from the loss", initial: update{repl: synced(time.Time{})}, updates: []update{{repl: unsynced(due.Add(time.Minute)), seen: due.Add(window)}, {seen: due.Add(time.Minute + window)}}, want: shadowWindow},
		{name: "replication lost before due: the window counts from due", initial: update{repl: unsynced(due.Add(-time.Minute)), seen: due.Add(window)}, want: shadowWindow},
		{name: "replication back: the record confirms", initial: update{repl: unsynced(due)}, updates: []update{{repl: synced(due)}, {seen: due.Add(time.Hour)}, {log: both}}, want: shadowRecorded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				opts := Options{TakeoverWindow: window, Now: time.Now}
				f := newFakeLeadership(tt.initial.leading)
				f.seen = tt.initial.seen
				if !tt.nilLead {
					opts.Leadership = f
				}
				repl := &fakeReplication{changed: make(chan struct{})}
				if tt.initial.repl != nil {
					repl.synced, repl.lost = tt.initial.repl.synced, tt.initial.repl.lost
				}
				if !tt.noRepl {
					opts.Replication = repl
				}
				d := newDispatch(policy(0, time.Hour), true)
				if tt.initial.log != nil {
					d.log[b.groupKey] = tt.initial.log
				}
				tg := &target{opts: &opts, d: d}
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				res := make(chan shadowResult, 1)
				go func() { res <- tg.shadow(ctx, b, due) }()
				for i, u := range tt.updates {
					synctest.Wait()
					select {
					case r := <-res:
						t.Fatalf("returned %v before update %d", r, i)
					default:
					}
					if u.repl != nil {
						repl.set(u.repl.synced, u.repl.lost)
					}
					if u.log != nil {
						d.mu.Lock()
						d.mirror(b.groupKey, u.log)
						d.mu.Unlock()
					}
					if u.leading || !u.seen.IsZero() {
						f.set(u.leading, u.seen)
					}
				}
				if tt.cancel {
					synctest.Wait()
					cancel()
				}
				synctest.Wait()
				select {
				case got := <-res:
					if got != tt.want {
						t.Errorf("shadow() = %v, want %v", got, tt.want)
					}
				default:
					t.Fatalf("shadow() did not return, want %v", tt.want)
				}
			})
		})
	}
}

// With a complete copy, a batch the leader's record never covers ends
// untold after a takeover window and a group interval (its group is
// flushed again later): it holds no delivery slot for ever.
func TestShadowUncovered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const window = 10 * time.Second
		opts := Options{TakeoverWindow: window, Now: time.Now, Leadership: newFakeLeadership(false),
			Replication: &fakeReplication{synced: true, changed: make(chan struct{})}}
		d := newDispatch(policyGI(0, time.Minute, time.Hour), true)
		due := time.Now()
		b := &batch{groupKey: "{}", at: due, repeat: time.Hour, firingFPs: []uint64{1}}
		tg := &target{opts: &opts, d: d}
		res := make(chan shadowResult, 1)
		go func() { res <- tg.shadow(t.Context(), b, due) }()
		time.Sleep(window + time.Minute - time.Millisecond)
		synctest.Wait()
		select {
		case r := <-res:
			t.Fatalf("returned %v before the give-up time", r)
		default:
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		select {
		case r := <-res:
			if r != shadowUncovered {
				t.Errorf("shadow() = %v, want shadowUncovered", r)
			}
		default:
			t.Fatal("still waiting after a takeover window and a group interval")
		}
	})
}

// followerManager starts, in a bubble, a Manager following fl, with a
// webhook channel to a new sink of the in-memory network.
func followerManager(t *testing.T, fl Leadership) (*Manager, *prometheus.Registry, *sink) {
	t.Helper()
	mn := newMemNet(t)
	s := mn.sink("hook", nil)
	opts := testOptions(t, NewGuard(nil))
	opts.Leadership = fl
	opts.TakeoverWindow = time.Hour
	m, reg := startMemManager(t, opts, mn)
	mustApply(t, m, webhookSpec("team-a/hook", false, s.URL()))
	return m, reg, s
}

func shadowedCount(t *testing.T, reg *prometheus.Registry) float64 {
	return testutil.MetricValue(t, reg, "amtenant_notifications_shadowed_total", "type", "webhook")
}

// waitShadowed waits, on the bubble's clock, until n webhook notifications
// were left to the leader.
func waitShadowed(t *testing.T, reg *prometheus.Registry, n float64) {
	t.Helper()
	waitForf(t, time.Minute, func() bool { return shadowedCount(t, reg) == n },
		testutil.Say("shadowed: %v, want %v", func() any { return shadowedCount(t, reg) }, testutil.Val(n)))
}

// memberState says whether the channel holds inc, whether its group's log
// lists it as told firing, and whether it is in flight.
func memberState(t *testing.T, m *Manager, inc *alert.Incarnation) (known, told, inflight bool) {
	t.Helper()
	d := dispatchOf(t, m, "team-a/hook")
	d.mu.Lock()
	defer d.mu.Unlock()
	mb, ok := d.members[inc.Key()]
	if !ok {
		return false, false, false
	}
	e := d.log[mb.g.key]
	return true, e != nil && e.isFiring(mb.fp), mb.inflight
}

func TestFollowerRecordsLeadersNotifications(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fl := newFakeLeadership(false)
		m, reg, s := followerManager(t, fl)
		a := newInc(1, alert.Firing, "alertname", "A")
		syncOne(m, "team-a/hook", a)

		// Due, but waiting for the leader to be seen alive.
		fl.waitCalls(t, 1)
		holdsFor(t, 100*time.Millisecond, func() bool { return s.count() == 0 }, testutil.Say("a follower sent %d notifications", s.countAny))
		if _, told, inflight := memberState(t, m, a); told || !inflight {
			t.Fatalf("member while in shadow: told %t, in flight %t; want waiting, not told", told, inflight)
		}

		// The leader is seen alive long after the batch became due: it sent it.
		fl.set(false, time.Now().Add(2*time.Hour))
		waitShadowed(t, reg, 1)
		// The group's log lists it: should this replica lead later, its next
		// message is not a first notification.
		if known, told, inflight := memberState(t, m, a); !known || !told || inflight {
			t.Errorf("member after confirmation: known %t, told %t, in flight %t; want told", known, told, inflight)
		}

		// Its resolution too is the leader's.
		syncOne(m, "team-a/hook", with(a, alert.Resolved))
		waitShadowed(t, reg, 2)
		waitFor(t, time.Minute, "the resolved member was not pruned", func() bool { known, _, _ := memberState(t, m, a); return !known })
		if n := s.count(); n != 0 {
			t.Errorf("the follower sent %d notifications, want none", n)
		}
		if got := deliveredCount(t, reg, "webhook"); got != 0 {
			t.Errorf("delivered: %v, want 0", got)
		}
	})
}

func TestFollowerSendsOnceWhenItLeads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fl := newFakeLeadership(false)
		m, reg, s := followerManager(t, fl)
		a := newInc(1, alert.Firing, "alertname", "A")
		syncOne(m, "team-a/hook", a)
		fl.waitCalls(t, 1)
		if s.count() != 0 {
			t.Fatalf("a follower sent %d notifications", s.count())
		}

		// Leading before the leader was seen alive long enough: the batch may
		// not have been sent, so this replica sends it.
		fl.set(true, time.Time{})
		waitDeliveredMem(t, reg, "webhook", 1)
		syncOne(m, "team-a/hook", a)
		holdsFor(t, 100*time.Millisecond, func() bool { return s.count() == 1 }, testutil.Say("got %d requests, want 1", s.countAny))
		if got := shadowedCount(t, reg); got != 0 {
			t.Errorf("shadowed: %v, want 0", got)
		}
		if msg := s.requests()[0].msg; len(msg.Alerts) != 1 || msg.Alerts[0].Labels["alertname"] != "A" {
			t.Errorf("message: %+v, want alert A", msg)
		}
	})
}

func TestFollowerStopsWithoutWaitingForShadow(t *testing.T) {
	// In a bubble, Stop takes no time unless it waits: a wait for the
	// batch in shadow would take the whole grace.
	synctest.Test(t, func(t *testing.T) {
		fl := newFakeLeadership(false)
		m, reg, s := followerManager(t, fl)
		a := newInc(1, alert.Firing, "alertname", "A")
		syncOne(m, "team-a/hook", a)
		fl.waitCalls(t, 1)

		const grace = 30 * time.Second
		begin := time.Now()
		m.Stop(grace)
		if d := time.Since(begin); d >= grace/2 {
			t.Errorf("Stop took %s: it waited for a batch in shadow", d)
		}
		// The batch was neither sent nor recorded as sent: it stays pending for
		// the saved state, and for this replica should it lead later.
		if known, told, inflight := memberState(t, m, a); !known || told || inflight {
			t.Errorf("member after Stop: known %t, told %t, in flight %t; want pending", known, told, inflight)
		}
		exp := m.Export(time.Now())
		if len(exp) != 1 || len(exp[0].Groups) != 1 || len(exp[0].Groups[0].Firing) != 0 {
			t.Errorf("saved state after Stop: %+v, want one group, told nothing", exp)
		}
		if s.count() != 0 || shadowedCount(t, reg) != 0 {
			t.Errorf("after Stop: %d requests, %v shadowed; want none", s.count(), shadowedCount(t, reg))
		}
	})
}

func TestLeaderSendsAtOnce(t *testing.T) {
	for _, tt := range []struct {
		name string
		// leading is nil without leader election.
		leading *bool
	}{
		{"no leader election", nil},
		{"leading", new(true)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// Made in the bubble: its channel is the bubble's.
				var fl Leadership
				var fake *fakeLeadership
				if tt.leading != nil {
					fake = newFakeLeadership(*tt.leading)
					fl = fake
				}
				m, reg, s := followerManager(t, fl)
				a := newInc(1, alert.Firing, "alertname", "A")
				syncOne(m, "team-a/hook", a)
				waitDeliveredMem(t, reg, "webhook", 1)
				syncOne(m, "team-a/hook", with(a, alert.Resolved))
				waitDeliveredMem(t, reg, "webhook", 2)
				if s.count() != 2 || shadowedCount(t, reg) != 0 {
					t.Errorf("%d requests and %v shadowed, want 2 and none", s.count(), shadowedCount(t, reg))
				}
				if fake != nil && fake.statusCalls() == 0 {
					t.Error("the leadership was not asked")
				}
			})
		})
	}
}
