package senders

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/internal/testutil"
)

// groupsOf syncs n groups (alertnames G0…) of size alerts each into d.
func groupsOf(d *dispatch, n, size int, at time.Time) {
	var all []*alert.Incarnation
	for g := range n {
		for i := range size {
			all = append(all, firingAt(uint64(g*size+i+1), at, "alertname", fmt.Sprint("G", g), "instance", fmt.Sprint(i)))
		}
	}
	d.sync(at, all)
}

// sharedDispatch is an integration of groups groups of size alerts
// each, due at t0+gw, under a bound of its own.
func sharedDispatch(notifications, alerts, groups, size int) (*sharedInFlight, *dispatch) {
	p := newSharedInFlight(notifications, alerts)
	d := newDispatch(policyGI(gw, gi, ri), true)
	d.shared = p
	groupsOf(d, groups, size, t0)
	return p, d
}

func wantShared(t *testing.T, p *sharedInFlight, notifications, alerts int64) {
	t.Helper()
	if n, a := p.notifications.Load(), p.alerts.Load(); n != notifications || a != alerts {
		t.Fatalf("shared bound holds %d notifications and %d alerts, want %d and %d", n, a, notifications, alerts)
	}
}

// Beyond each integration's first notification in flight, the shared
// bound decides: the first always goes, so that one integration taking
// the whole bound delays nobody else's next notification.
func TestSharedInFlightFirstAlwaysGoes(t *testing.T) {
	p := newSharedInFlight(1, 100)
	noisy, quiet := newDispatch(policyGI(gw, gi, ri), true), newDispatch(policyGI(gw, gi, ri), true)
	noisy.shared, quiet.shared = p, p
	groupsOf(noisy, 4, 2, t0)
	groupsOf(quiet, 2, 2, t0)
	now := t0.Add(gw)

	bs := noisy.due(now, DefaultMaxInFlight)
	if len(bs) != 2 {
		t.Fatalf("noisy: %d batches with room for one beyond the first, want 2", len(bs))
	}
	if bs[0].shared || !bs[1].shared {
		t.Errorf("noisy: shared = %v, %v; want the first outside the bound, the second in it", bs[0].shared, bs[1].shared)
	}
	wantShared(t, p, 1, 2)
	if w := noisy.wakeAt(now, DefaultMaxInFlight); !w.IsZero() {
		t.Errorf("noisy: wakeAt = %v while waiting for the shared bound, want zero (woken by a delivery's end)", w)
	}

	qs := quiet.due(now, DefaultMaxInFlight)
	if len(qs) != 1 || qs[0].shared {
		t.Fatalf("quiet: %d batches with the bound taken by another integration, want its first (outside the bound)", len(qs))
	}
	if w := quiet.wakeAt(now, DefaultMaxInFlight); !w.IsZero() {
		t.Errorf("quiet: wakeAt = %v, want zero", w)
	}

	// The noisy integration's shared batch ends: its next group takes
	// the share.
	noisy.complete(bs[1], now.Add(time.Second), true)
	wantShared(t, p, 0, 0)
	more := noisy.due(now.Add(time.Second), DefaultMaxInFlight)
	if len(more) != 1 || !more[0].shared {
		t.Fatalf("noisy: %d batches once the share was given back, want 1 in the bound", len(more))
	}
	wantShared(t, p, 1, 2)
}

// A group listing more alerts than the whole bound goes once it is its
// integration's only notification in flight: later, never lost.
func TestSharedInFlightBigGroupGoesAlone(t *testing.T) {
	p, d := sharedDispatch(10, 3, 2, 5)
	now := t0.Add(gw)
	bs := d.due(now, DefaultMaxInFlight)
	if len(bs) != 1 {
		t.Fatalf("%d batches of 5 alerts with a bound of 3, want the first only", len(bs))
	}
	wantShared(t, p, 0, 0)
	d.complete(bs[0], now, true)
	if bs = d.due(now, DefaultMaxInFlight); len(bs) != 1 || bs[0].shared || len(bs[0].firing) != 5 {
		t.Fatalf("the second group was not sent whole once the first ended: %d batches", len(bs))
	}
}

// Every way a batch ends gives its share back, exactly once, and the
// share is the batch's size, not the group's (members already in flight
// in a regrouping are not listed).
func TestSharedInFlightEveryEndGivesBack(t *testing.T) {
	ends := map[string]func(d *dispatch, b *batch, now time.Time){
		"delivered": func(d *dispatch, b *batch, now time.Time) { d.complete(b, now, true) },
		"failed":    func(d *dispatch, b *batch, now time.Time) { d.complete(b, now, false) },
		"settled":   func(d *dispatch, b *batch, now time.Time) { d.settle(b, now) },
		"released":  func(d *dispatch, b *batch, now time.Time) { d.release(b) },
		"canceled":  func(d *dispatch, b *batch, now time.Time) { d.cancel(b, now) },
	}
	for name, end := range ends {
		t.Run(name, func(t *testing.T) {
			p := newSharedInFlight(10, 100)
			d := newDispatch(policyGI(gw, gi, ri), false)
			d.shared = p
			groupsOf(d, 3, 2, t0)
			// One group also holds a resolution the integration does not
			// send: reserved for the group's 3 members, held for the
			// batch's 2.
			gone := firingAt(99, t0, "alertname", "G2", "instance", "gone")
			d.sync(t0, append(memberIncs(d), gone))
			d.sync(t0.Add(time.Second), withStatus(memberIncs(d), gone, alert.Resolved))
			now := t0.Add(gw)
			bs := d.due(now, DefaultMaxInFlight)
			if len(bs) != 3 {
				t.Fatalf("%d batches, want 3", len(bs))
			}
			wantShared(t, p, 2, 4)
			for _, b := range bs {
				end(d, b, now)
			}
			wantShared(t, p, 0, 0)
			if d.inflight != 0 {
				t.Errorf("%d notifications in flight after all ended", d.inflight)
			}
		})
	}
}

// A group due with nothing to say gives its reservation back at once.
func TestSharedInFlightNothingToSay(t *testing.T) {
	p, d := sharedDispatch(10, 100, 2, 2)
	now := t0.Add(gw)
	bs := d.due(now, DefaultMaxInFlight)
	if len(bs) != 2 {
		t.Fatalf("%d batches, want 2", len(bs))
	}
	d.complete(bs[1], now, true)
	// The first is still in flight; the second group is due again with
	// nothing new: no notification, no share held.
	if more := d.due(now.Add(gi), DefaultMaxInFlight); len(more) != 0 {
		t.Fatalf("%d batches of a group with nothing to say", len(more))
	}
	wantShared(t, p, 0, 0)
}

func TestSharedInFlightTake(t *testing.T) {
	p := newSharedInFlight(2, 10)
	if !p.take(6) || p.take(6) || !p.take(4) || p.take(0) {
		t.Fatal("take does not hold the alert and notification bounds")
	}
	wantShared(t, p, 2, 10)
	p.give(4)
	p.shrink(1)
	wantShared(t, p, 1, 5)
	var unbounded *sharedInFlight
	if !unbounded.take(1 << 30) {
		t.Fatal("a nil bound refused")
	}
	unbounded.give(1)
	unbounded.shrink(1)
}

// The bound's metrics say what it holds and its limits.
func TestSharedInFlightMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewManager(Options{Template: testTemplate(t), SharedNotifications: 3, SharedAlerts: 30}, reg)
	m.shared.take(7)
	for _, c := range []struct {
		name, resource string
		want           float64
	}{
		{"amtenant_shared_in_flight", "notifications", 1},
		{"amtenant_shared_in_flight", "alerts", 7},
		{"amtenant_shared_in_flight_limit", "notifications", 3},
		{"amtenant_shared_in_flight_limit", "alerts", 30},
	} {
		if got := testutil.MetricValue(t, reg, c.name, "resource", c.resource); got != c.want {
			t.Errorf("%s{resource=%q} = %v, want %v", c.name, c.resource, got, c.want)
		}
	}
}

// memberIncs returns the incarnations d's members hold.
func memberIncs(d *dispatch) []*alert.Incarnation {
	var out []*alert.Incarnation
	for _, m := range d.members {
		out = append(out, m.inc)
	}
	return out
}

// withStatus returns incs with target's value replaced by a copy in
// status st.
func withStatus(incs []*alert.Incarnation, target *alert.Incarnation, st alert.Status) []*alert.Incarnation {
	out := make([]*alert.Incarnation, 0, len(incs))
	for _, inc := range incs {
		if inc.Key() == target.Key() {
			c := *inc
			c.Status = st
			inc = &c
		}
		out = append(out, inc)
	}
	return out
}
