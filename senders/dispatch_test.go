package senders

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/channel"
	pol "github.com/amtenant/amtenant/policy"
)

const (
	gw = 30 * time.Second
	gi = 5 * time.Minute
	ri = 4 * time.Hour
)

// ids names the members of a batch list by alertname and instance.
func ids(ms []*member) []string {
	out := []string{}
	for _, m := range ms {
		id := string(m.inc.Labels[model.AlertNameLabel])
		if in, ok := m.inc.Labels["instance"]; ok {
			id += "/" + string(in)
		}
		out = append(out, id)
	}
	return out
}

// wantBatch checks a batch's group, members and reason.
func wantBatch(t *testing.T, b *batch, group model.LabelSet, firing, resolved []string, reason notify.NotifyReason) {
	t.Helper()
	if !b.groupLabels.Equal(group) {
		t.Errorf("group labels: got %v, want %v", b.groupLabels, group)
	}
	if got := sorted(ids(b.firing)); !reflect.DeepEqual(got, orEmpty(firing)) {
		t.Errorf("firing: got %v, want %v", got, firing)
	}
	if got := sorted(ids(b.resolved)); !reflect.DeepEqual(got, orEmpty(resolved)) {
		t.Errorf("resolved: got %v, want %v", got, resolved)
	}
	if b.reason != reason {
		t.Errorf("reason: got %v, want %v", b.reason, reason)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// dueOne asserts exactly one batch is due at now.
func dueOne(t *testing.T, d *dispatch, now time.Time) *batch {
	t.Helper()
	bs := d.due(now, DefaultMaxInFlight)
	if len(bs) != 1 {
		t.Fatalf("due(%s): got %d batches, want 1", now.Sub(t0), len(bs))
	}
	return bs[0]
}

// dueNone asserts nothing is due at now.
func dueNone(t *testing.T, d *dispatch, now time.Time) {
	t.Helper()
	if bs := d.due(now, DefaultMaxInFlight); len(bs) != 0 {
		t.Fatalf("due(%s): got %d batches (%v), want none", now.Sub(t0), len(bs), ids(bs[0].firing))
	}
}

func wantNext(t *testing.T, d *dispatch, want time.Time) {
	t.Helper()
	if got := d.next(); !got.Equal(want) {
		if want.IsZero() {
			t.Fatalf("next() = t0%+v, want zero", got.Sub(t0))
		}
		t.Fatalf("next() = %v, want t0%+v", got, want.Sub(t0))
	}
}

func grp(name string) model.LabelSet {
	return model.LabelSet{model.AlertNameLabel: model.LabelValue(name)}
}

// firingAt is a firing incarnation that started at start.
func firingAt(id uint64, start time.Time, labels ...string) *alert.Incarnation {
	inc := newInc(id, alert.Firing, labels...)
	inc.StartsAt = start
	return inc
}

// resolvedAt returns inc resolved at end, as the tracker hands it.
func resolvedAt(inc *alert.Incarnation, end time.Time) *alert.Incarnation {
	c := *inc
	c.Status = alert.Resolved
	c.ResolvedAt, c.EndsAt = end, end
	return &c
}

func incs(in ...*alert.Incarnation) []*alert.Incarnation { return in }

// The timeline of Alertmanager's aggregation group: the group wait from
// the first alert's start, then one flush per group interval; what arrives
// in between goes out together.
func TestDispatchGroupInterval(t *testing.T) {
	d := newDispatch(policyGI(gw, gi, ri), true)
	a := firingAt(1, t0, "alertname", "A", "instance", "1")
	wantNext(t, d, time.Time{})

	// Seen a poll after it started: the wait still counts from its start.
	d.sync(t0.Add(2*time.Second), incs(a))
	wantNext(t, d, t0.Add(gw))
	dueNone(t, d, t0.Add(gw-time.Second))
	first := t0.Add(gw)
	b := dueOne(t, d, first)
	wantBatch(t, b, grp("A"), []string{"A/1"}, nil, notify.ReasonFirstNotification)
	wantNext(t, d, time.Time{}) // in flight
	d.complete(b, first.Add(time.Second), true)
	wantNext(t, d, first.Add(gi))

	// Three more join one by one: one message at the next interval.
	var all = []*alert.Incarnation{a}
	for i := uint64(2); i <= 4; i++ {
		joined := first.Add(time.Duration(i) * 30 * time.Second)
		all = append(all, firingAt(i, joined, "alertname", "A", "instance", fmt.Sprint(i)))
		d.sync(joined, all)
		dueNone(t, d, joined)
	}
	wantNext(t, d, first.Add(gi))
	dueNone(t, d, first.Add(gi-time.Second))
	b = dueOne(t, d, first.Add(gi))
	wantBatch(t, b, grp("A"), []string{"A/1", "A/2", "A/3", "A/4"}, nil, notify.ReasonNewAlertsInGroup)
	if want := first.Add(60 * time.Second); !b.since.Equal(want) {
		t.Errorf("since = t0%+v, want the time the first new alert joined, t0%+v", b.since.Sub(t0), want.Sub(t0))
	}
	d.complete(b, first.Add(gi), true)

	// Nothing changed: the next flushes say nothing until the repeat.
	for k := 2; k <= 5; k++ {
		dueNone(t, d, first.Add(time.Duration(k)*gi))
	}
	wantNext(t, d, first.Add(6*gi))
}

// The repeat interval is checked at the group's flushes, so a repeat goes
// out at the first flush after it elapsed, as in Alertmanager.
func TestDispatchRepeatAtGroupIntervalBoundary(t *testing.T) {
	const repeat = time.Hour
	d := newDispatch(policyGI(gw, gi, repeat), true)
	a := firingAt(1, t0, "alertname", "A")
	d.sync(t0, incs(a))
	d.complete(dueOne(t, d, t0.Add(gw)), t0.Add(gw), true)
	told := t0.Add(gw)
	for at := told.Add(gi); !at.After(told.Add(repeat)); at = at.Add(gi) {
		dueNone(t, d, at)
	}
	b := dueOne(t, d, told.Add(repeat+gi))
	wantBatch(t, b, grp("A"), []string{"A"}, nil, notify.ReasonRepeatIntervalElapsed)
	d.complete(b, told.Add(repeat+gi), true)
	dueNone(t, d, told.Add(repeat+2*gi))
}

// An alert older than the group wait opens its group at once, as in
// Alertmanager; one that claims to start in the future waits at most the
// group wait.
func TestDispatchFirstFlush(t *testing.T) {
	for _, tt := range []struct {
		name  string
		start time.Time
		want  time.Time
	}{
		{"new", t0, t0.Add(gw)},
		{"seen late", t0.Add(-10 * time.Second), t0.Add(gw - 10*time.Second)},
		{"older than the group wait", t0.Add(-time.Hour), t0},
		{"clock skew", t0.Add(time.Hour), t0.Add(gw)},
		{"no start", time.Time{}, t0.Add(gw)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := newDispatch(policyGI(gw, gi, ri), true)
			d.sync(t0, incs(firingAt(1, tt.start, "alertname", "A")))
			wantNext(t, d, tt.want)
		})
	}
}

func TestDispatchGrouping(t *testing.T) {
	all := incs(
		firingAt(1, t0, "alertname", "A", "instance", "1"),
		firingAt(2, t0, "alertname", "A", "instance", "2"),
		firingAt(3, t0, "alertname", "B", "instance", "1"),
	)
	type want struct {
		group  model.LabelSet
		firing []string
	}
	for _, tt := range []struct {
		name string
		p    channel.Policy
		want []want
	}{
		{"by alertname", policy(gw, ri), []want{
			{grp("A"), []string{"A/1", "A/2"}},
			{grp("B"), []string{"B/1"}},
		}},
		{"by instance", policy(gw, ri, "instance"), []want{
			{model.LabelSet{"instance": "1"}, []string{"A/1", "B/1"}},
			{model.LabelSet{"instance": "2"}, []string{"A/2"}},
		}},
		{"by nothing", channel.Policy{GroupWait: gw, GroupInterval: gi, RepeatInterval: ri}, []want{
			{model.LabelSet{}, []string{"A/1", "A/2", "B/1"}},
		}},
		{"by everything", channel.Policy{GroupByAll: true, GroupWait: gw, GroupInterval: gi, RepeatInterval: ri}, []want{
			{all[0].Labels, []string{"A/1"}},
			{all[1].Labels, []string{"A/2"}},
			{all[2].Labels, []string{"B/1"}},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := newDispatch(tt.p, true)
			d.sync(t0, all)
			bs := d.due(t0.Add(gw), DefaultMaxInFlight)
			if len(bs) != len(tt.want) {
				t.Fatalf("got %d batches, want %d", len(bs), len(tt.want))
			}
			// Batches come sorted by group key.
			slices.SortFunc(tt.want, func(a, b want) int { return strings.Compare(a.group.String(), b.group.String()) })
			for i, w := range tt.want {
				wantBatch(t, bs[i], w.group, w.firing, nil, notify.ReasonFirstNotification)
			}
		})
	}
}

// Resolutions trickling in go out together; the last one says "all
// resolved", and the group starts over when it fires again.
func TestDispatchResolutions(t *testing.T) {
	d := newDispatch(policyGI(gw, gi, ri), true)
	a1 := firingAt(1, t0, "alertname", "A", "instance", "1")
	a2 := firingAt(2, t0, "alertname", "A", "instance", "2")
	a3 := firingAt(3, t0, "alertname", "A", "instance", "3")
	d.sync(t0, incs(a1, a2, a3))
	first := t0.Add(gw)
	d.complete(dueOne(t, d, first), first, true)

	d.sync(first.Add(time.Minute), incs(resolvedAt(a1, first.Add(time.Minute)), a2, a3))
	d.sync(first.Add(2*time.Minute), incs(resolvedAt(a1, first.Add(time.Minute)), resolvedAt(a2, first.Add(2*time.Minute)), a3))
	dueNone(t, d, first.Add(gi-time.Second))
	b := dueOne(t, d, first.Add(gi))
	wantBatch(t, b, grp("A"), []string{"A/3"}, []string{"A/1", "A/2"}, notify.ReasonNewResolvedAlerts)
	d.complete(b, first.Add(gi), true)
	// The resolutions were told: not again, even while the tracker still
	// reports them.
	d.sync(first.Add(gi+time.Minute), incs(resolvedAt(a1, first.Add(time.Minute)), resolvedAt(a2, first.Add(2*time.Minute)), a3))
	dueNone(t, d, first.Add(2*gi))

	end := first.Add(2*gi + time.Minute)
	d.sync(end, incs(resolvedAt(a3, end)))
	b = dueOne(t, d, first.Add(3*gi))
	wantBatch(t, b, grp("A"), nil, []string{"A/3"}, notify.ReasonAllAlertsResolved)
	d.complete(b, first.Add(3*gi), true)
	wantNext(t, d, time.Time{})
	if len(d.groups) != 0 || len(d.members) != 0 || len(d.log) != 0 {
		t.Errorf("after all resolved: %d groups, %d members, %d log entries, want none", len(d.groups), len(d.members), len(d.log))
	}

	// Fires again: a new group, its own group wait, a first notification.
	again := first.Add(time.Hour)
	a1b := firingAt(4, again, "alertname", "A", "instance", "1")
	d.sync(again, incs(a1b))
	wantNext(t, d, again.Add(gw))
	wantBatch(t, dueOne(t, d, again.Add(gw)), grp("A"), []string{"A/1"}, nil, notify.ReasonFirstNotification)
}

// Without send_resolved, resolutions are never sent; the group's log is
// cleared when all resolved, without a message.
func TestDispatchResolvedNotSent(t *testing.T) {
	d := newDispatch(policyGI(gw, gi, ri), false)
	a1 := firingAt(1, t0, "alertname", "A", "instance", "1")
	a2 := firingAt(2, t0, "alertname", "A", "instance", "2")
	d.sync(t0, incs(a1, a2))
	d.complete(dueOne(t, d, t0.Add(gw)), t0.Add(gw), true)
	d.sync(t0.Add(time.Minute), incs(resolvedAt(a1, t0.Add(time.Minute)), a2))
	dueNone(t, d, t0.Add(gw+gi))
	d.sync(t0.Add(6*time.Minute), incs(resolvedAt(a2, t0.Add(6*time.Minute))))
	dueNone(t, d, t0.Add(gw+2*gi))
	if len(d.groups) != 0 || len(d.log) != 0 {
		t.Errorf("after all resolved: %d groups, %d log entries, want none", len(d.groups), len(d.log))
	}
	// A resolution that fired and ended within the group wait is never sent
	// either way.
	d = newDispatch(policyGI(gw, gi, ri), true)
	b1 := firingAt(3, t0, "alertname", "B")
	d.sync(t0, incs(b1))
	d.sync(t0.Add(10*time.Second), incs(resolvedAt(b1, t0.Add(10*time.Second))))
	dueNone(t, d, t0.Add(gw))
}

// A flapping alert (resolved and firing again between two flushes) is one
// alert still firing, as in Alertmanager, which keeps one per fingerprint.
func TestDispatchFlapping(t *testing.T) {
	d := newDispatch(policyGI(gw, gi, ri), true)
	a := firingAt(1, t0, "alertname", "A")
	d.sync(t0, incs(a))
	d.complete(dueOne(t, d, t0.Add(gw)), t0.Add(gw), true)
	again := firingAt(2, t0.Add(2*time.Minute), "alertname", "A")
	d.sync(t0.Add(2*time.Minute), incs(resolvedAt(a, t0.Add(time.Minute)), again))
	dueNone(t, d, t0.Add(gw+gi))
	if len(d.members) != 1 {
		t.Errorf("%d members, want the new incarnation only", len(d.members))
	}
}

// A failed notification changes nothing: the group is tried again at its
// next interval (not before), with everything it holds then, and at once
// when the channel's configuration changes.
func TestDispatchFailureStaysPending(t *testing.T) {
	d := newDispatch(policyGI(gw, gi, ri), true)
	a1 := firingAt(1, t0, "alertname", "A", "instance", "1")
	d.sync(t0, incs(a1))
	first := t0.Add(gw)
	b := dueOne(t, d, first)
	d.complete(b, first.Add(time.Second), false)
	wantNext(t, d, first.Add(gi))
	dueNone(t, d, first.Add(gi-time.Second))
	if len(d.log) != 0 {
		t.Fatal("a failed notification was logged as told")
	}

	// A second alert joins meanwhile; the retry lists both, still the first
	// notification.
	a2 := firingAt(2, first.Add(time.Minute), "alertname", "A", "instance", "2")
	d.sync(first.Add(time.Minute), incs(a1, a2))
	b = dueOne(t, d, first.Add(gi))
	wantBatch(t, b, grp("A"), []string{"A/1", "A/2"}, nil, notify.ReasonFirstNotification)
	// Retries that ran out long after: the next try is the next boundary
	// after that, not a tight loop.
	gaveUp := first.Add(gi + time.Hour + time.Second)
	d.complete(b, gaveUp, false)
	wantNext(t, d, first.Add(gi+13*gi))

	// The channel's Secret was fixed: at once.
	fixed := gaveUp.Add(time.Minute)
	d.retryFailed(fixed)
	wantNext(t, d, fixed)
	b = dueOne(t, d, fixed)
	wantBatch(t, b, grp("A"), []string{"A/1", "A/2"}, nil, notify.ReasonFirstNotification)
	d.complete(b, fixed, true)
	// Delivered: a working group is not flushed early on the next change.
	d.retryFailed(fixed.Add(time.Second))
	dueNone(t, d, fixed.Add(time.Second))
}

// A failed resolution is not lost either, even once the tracker stops
// reporting the resolved alert.
func TestDispatchFailedResolutionKept(t *testing.T) {
	d := newDispatch(policyGI(gw, gi, ri), true)
	a := firingAt(1, t0, "alertname", "A")
	d.sync(t0, incs(a))
	d.complete(dueOne(t, d, t0.Add(gw)), t0.Add(gw), true)
	d.sync(t0.Add(time.Minute), incs(resolvedAt(a, t0.Add(time.Minute))))
	b := dueOne(t, d, t0.Add(gw+gi))
	d.complete(b, t0.Add(gw+gi), false)
	d.sync(t0.Add(time.Hour), nil) // the tracker forgot it
	b = dueOne(t, d, t0.Add(gw+13*gi))
	wantBatch(t, b, grp("A"), nil, []string{"A"}, notify.ReasonAllAlertsResolved)
}

func TestDispatchSuppressed(t *testing.T) {
	t.Run("never in a batch", func(t *testing.T) {
		d := newDispatch(policyGI(gw, gi, ri), true)
		a1 := firingAt(1, t0, "alertname", "A", "instance", "1")
		a2 := with(firingAt(2, t0, "alertname", "A", "instance", "2"), alert.Suppressed)
		b1 := with(firingAt(3, t0, "alertname", "B"), alert.Suppressed)
		d.sync(t0, incs(a1, a2, b1))
		b := dueOne(t, d, t0.Add(gw))
		wantBatch(t, b, grp("A"), []string{"A/1"}, nil, notify.ReasonFirstNotification)
	})
	t.Run("notified again when the silence ends", func(t *testing.T) {
		d := newDispatch(policyGI(gw, gi, ri), true)
		a := firingAt(1, t0, "alertname", "A")
		d.sync(t0, incs(a))
		d.complete(dueOne(t, d, t0.Add(gw)), t0.Add(gw), true)
		d.sync(t0.Add(time.Minute), incs(with(a, alert.Suppressed)))
		dueNone(t, d, t0.Add(gw+gi))
		d.sync(t0.Add(7*time.Minute), incs(a))
		b := dueOne(t, d, t0.Add(gw+2*gi))
		wantBatch(t, b, grp("A"), []string{"A"}, nil, notify.ReasonFirstNotification)
	})
	t.Run("silenced while in flight", func(t *testing.T) {
		d := newDispatch(policyGI(gw, gi, ri), true)
		a := firingAt(1, t0, "alertname", "A")
		d.sync(t0, incs(a))
		b := dueOne(t, d, t0.Add(gw))
		d.sync(t0.Add(gw), incs(with(a, alert.Suppressed)))
		d.complete(b, t0.Add(gw+time.Second), true)
		d.sync(t0.Add(2*time.Minute), incs(a))
		wantBatch(t, dueOne(t, d, t0.Add(gw+gi)), grp("A"), []string{"A"}, nil, notify.ReasonFirstNotification)
	})
	t.Run("no resolution for an alert that resolved while silenced", func(t *testing.T) {
		d := newDispatch(policyGI(gw, gi, ri), true)
		a1 := firingAt(1, t0, "alertname", "A", "instance", "1")
		a2 := firingAt(2, t0, "alertname", "A", "instance", "2")
		d.sync(t0, incs(a1, a2))
		d.complete(dueOne(t, d, t0.Add(gw)), t0.Add(gw), true)
		s := with(a1, alert.Suppressed)
		s.Suppressed = true
		d.sync(t0.Add(time.Minute), incs(s, a2))
		d.sync(t0.Add(2*time.Minute), incs(resolvedAt(s, t0.Add(2*time.Minute)), a2))
		dueNone(t, d, t0.Add(gw+gi))
		if len(d.members) != 1 {
			t.Errorf("%d members, want the muted resolution forgotten", len(d.members))
		}
	})
}

// An alert that leaves the routed set while firing leaves its group
// without a message.
func TestDispatchDisappears(t *testing.T) {
	d := newDispatch(policyGI(gw, gi, ri), true)
	a1 := firingAt(1, t0, "alertname", "A", "instance", "1")
	a2 := firingAt(2, t0, "alertname", "A", "instance", "2")
	d.sync(t0, incs(a1, a2))
	d.complete(dueOne(t, d, t0.Add(gw)), t0.Add(gw), true)
	d.sync(t0.Add(time.Minute), incs(a2))
	dueNone(t, d, t0.Add(gw+gi))
	d.sync(t0.Add(6*time.Minute), nil)
	wantNext(t, d, time.Time{})
	if len(d.groups) != 0 {
		t.Errorf("%d groups left, want none", len(d.groups))
	}
}

func TestDispatchCancel(t *testing.T) {
	d := newDispatch(policyGI(gw, gi, ri), true)
	d.sync(t0, incs(firingAt(1, t0, "alertname", "A")))
	b := dueOne(t, d, t0.Add(gw))
	d.cancel(b, t0.Add(gw+time.Second))
	b = dueOne(t, d, t0.Add(gw+time.Second))
	wantBatch(t, b, grp("A"), []string{"A"}, nil, notify.ReasonFirstNotification)
}

// A change of grouping while a batch is in flight: the batch completes for
// its old group, the members join their new groups.
func TestDispatchGroupByChangeWhileInFlight(t *testing.T) {
	d := newDispatch(policyGI(gw, gi, ri), true)
	a := firingAt(1, t0, "alertname", "A", "instance", "1")
	d.sync(t0, incs(a))
	b := dueOne(t, d, t0.Add(gw))
	d.setPolicy(policyGI(gw, gi, ri, "instance"), t0.Add(gw))
	d.complete(b, t0.Add(gw+time.Second), true)
	d.sync(t0.Add(gw+2*time.Second), incs(a))
	b = dueOne(t, d, t0.Add(2*gw+2*time.Second))
	wantBatch(t, b, model.LabelSet{"instance": "1"}, []string{"A/1"}, nil, notify.ReasonFirstNotification)
	d.complete(b, t0.Add(2*gw+2*time.Second), true)
	if _, ok := d.log[grp("A").String()]; !ok {
		t.Error("the old group's log entry is gone before its repeat interval")
	}
	d.sync(t0.Add(ri+time.Hour), incs(a))
	if _, ok := d.log[grp("A").String()]; ok {
		t.Error("the old group's log entry outlived the repeat interval")
	}
}

// A muted channel holds its notifications: no flush sends or counts as
// told inside the window, nothing is dropped, and the first flush after the
// window opens sends what is pending, once.
func TestDispatchMuted(t *testing.T) {
	p := policyGI(gw, gi, ri)
	iv, err := pol.ParseIntervals("- times: [{start_time: '12:10', end_time: '13:00'}]")
	if err != nil {
		t.Fatal(err)
	}
	p.Mute.Mute = iv
	d := newDispatch(p, true)
	a1 := firingAt(1, t0, "alertname", "A", "instance", "1")
	d.sync(t0, incs(a1))
	d.complete(dueOne(t, d, t0.Add(gw)), t0.Add(gw), true) // 12:00:30, before the window
	told := *d.log[grp("A").String()]

	a2 := firingAt(2, t0.Add(12*time.Minute), "alertname", "A", "instance", "2")
	d.sync(t0.Add(12*time.Minute), incs(a1, a2))
	d.sync(t0.Add(20*time.Minute), incs(resolvedAt(a1, t0.Add(20*time.Minute)), a2))
	for at := t0.Add(gw + 3*gi); at.Before(t0.Add(time.Hour)); at = at.Add(gi) {
		dueNone(t, d, at) // 12:15:30 … 12:55:30: muted
	}
	if got := *d.log[grp("A").String()]; !reflect.DeepEqual(got, told) {
		t.Fatalf("the log changed while muted: %+v, was %+v", got, told)
	}
	if len(d.members) != 2 {
		t.Fatalf("%d members, want both kept while muted", len(d.members))
	}
	b := dueOne(t, d, t0.Add(time.Hour+gw)) // 13:00:30, the window is over
	wantBatch(t, b, grp("A"), []string{"A/2"}, []string{"A/1"}, notify.ReasonNewAlertsInGroup)
	d.complete(b, t0.Add(time.Hour+gw), true)
	dueNone(t, d, t0.Add(time.Hour+gw+gi))

	// Active intervals: muted outside them.
	p.Mute = pol.Mute{Active: iv}
	d = newDispatch(p, true)
	d.sync(t0, incs(a1))
	dueNone(t, d, t0.Add(gw)) // 12:00:30: outside the active window
	wantBatch(t, dueOne(t, d, t0.Add(gw+2*gi)), grp("A"), []string{"A/1"}, nil, notify.ReasonFirstNotification)
}

// Past the group limit, alerts that would open new groups are delivered
// together in one overflow group, whose labels say so; none is dropped.
func TestDispatchGroupLimit(t *testing.T) {
	d := newDispatch(policyGI(gw, gi, ri), true)
	d.setLimits(channel.Limits{Groups: 2}, t0)
	var all []*alert.Incarnation
	for i, name := range []string{"A", "B", "C", "D"} {
		all = append(all, firingAt(uint64(i+1), t0, "alertname", name))
	}
	d.sync(t0, all)
	bs := d.due(t0.Add(gw), DefaultMaxInFlight)
	if len(bs) != 3 {
		t.Fatalf("%d batches, want the two groups and the overflow group", len(bs))
	}
	got := map[string][]string{}
	for _, b := range bs {
		got[b.groupLabels.String()] = sorted(ids(b.firing))
		d.complete(b, t0.Add(gw), true)
	}
	overflow := `{amtenant_overflow="more than 2 groups: alerts of further groups are listed together here"}`
	want := map[string][]string{`{alertname="A"}`: {"A"}, `{alertname="B"}`: {"B"}, overflow: {"C", "D"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("batches %v, want %v", got, want)
	}
	// B leaves: the next new alert opens a group of its own again.
	all = []*alert.Incarnation{all[0], all[2], all[3], firingAt(5, t0.Add(time.Minute), "alertname", "E")}
	d.sync(t0.Add(time.Minute), all)
	if _, ok := d.groups[`{alertname="E"}`]; !ok {
		t.Errorf("groups %v: E did not get a group below the limit", slices.Collect(maps.Keys(d.groups)))
	}
	// Raising the limit dissolves the overflow group.
	d.setLimits(channel.Limits{Groups: 10}, t0.Add(2*time.Minute))
	if _, ok := d.groups[overflow]; ok || len(d.groups) != 4 {
		t.Errorf("groups after raising the limit: %v", slices.Collect(maps.Keys(d.groups)))
	}
}

// At most slots groups are in flight; the rest stay due and go out as
// slots free up. The rate limit defers due groups, which are sent later
// with what they hold by then: nothing is lost.
func TestDispatchDeferred(t *testing.T) {
	groups := func(d *dispatch, n int, at time.Time) {
		var all []*alert.Incarnation
		for i := range n {
			all = append(all, firingAt(uint64(i+1), at, "alertname", fmt.Sprint("G", i)))
		}
		d.sync(at, all)
	}
	t.Run("slots", func(t *testing.T) {
		d := newDispatch(policyGI(gw, gi, ri), true)
		groups(d, 5, t0)
		bs := d.due(t0.Add(gw), 2)
		if len(bs) != 2 {
			t.Fatalf("%d batches with 2 slots", len(bs))
		}
		if w := d.wakeAt(t0.Add(gw), 2); !w.IsZero() {
			t.Errorf("wakeAt = %v with every slot taken, want zero (woken by a delivery's end)", w)
		}
		d.complete(bs[0], t0.Add(gw+time.Second), true)
		if more := d.due(t0.Add(gw+time.Second), 2); len(more) != 1 {
			t.Fatalf("%d batches after one slot freed, want 1", len(more))
		}
	})
	t.Run("rate", func(t *testing.T) {
		d := newDispatch(policyGI(gw, gi, ri), true)
		d.setLimits(channel.Limits{PerMinute: 2}, t0)
		groups(d, 4, t0)
		now := t0.Add(gw)
		sent := map[string][]string{}
		take := func(bs []*batch) {
			for _, b := range bs {
				sent[b.groupLabels.String()] = sorted(ids(b.firing))
				d.complete(b, now, true)
			}
		}
		take(d.due(now, DefaultMaxInFlight))
		if len(sent) != 2 {
			t.Fatalf("%d groups sent at once, want the burst of 2", len(sent))
		}
		w := d.wakeAt(now, DefaultMaxInFlight)
		if want := now.Add(30 * time.Second); !w.Equal(want) {
			t.Fatalf("wakeAt = t0%+v, want the next token at t0%+v", w.Sub(t0), want.Sub(t0))
		}
		// An alert joins a deferred group meanwhile: it is in that
		// group's message.
		var all []*alert.Incarnation
		for i := range 4 {
			all = append(all, firingAt(uint64(i+1), t0, "alertname", fmt.Sprint("G", i)))
		}
		for name := range map[string]bool{"G0": true, "G1": true, "G2": true, "G3": true} {
			if _, ok := sent[fmt.Sprintf("{alertname=%q}", name)]; !ok {
				all = append(all, firingAt(9, now.Add(time.Second), "alertname", name, "instance", "late"))
				break
			}
		}
		d.sync(now.Add(time.Second), all)
		if bs := d.due(now.Add(10*time.Second), DefaultMaxInFlight); len(bs) != 0 {
			t.Fatalf("%d batches before the next token", len(bs))
		}
		now = w
		take(d.due(now, DefaultMaxInFlight))
		now = now.Add(30 * time.Second)
		take(d.due(now, DefaultMaxInFlight))
		if len(sent) != 4 {
			t.Fatalf("%d groups sent, want all 4", len(sent))
		}
		late := 0
		for _, alerts := range sent {
			for _, a := range alerts {
				if strings.HasSuffix(a, "/late") {
					late++
				}
			}
		}
		if late != 1 {
			t.Errorf("the alert that joined a deferred group was sent %d times, want once with its group: %v", late, sent)
		}
	})
}
