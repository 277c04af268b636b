package senders

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/channel"
)

const (
	gw = 30 * time.Second
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
	bs := d.due(now)
	if len(bs) != 1 {
		t.Fatalf("due(%s): got %d batches, want 1", now.Sub(t0), len(bs))
	}
	return bs[0]
}

// dueNone asserts nothing is due at now.
func dueNone(t *testing.T, d *dispatch, now time.Time) {
	t.Helper()
	if bs := d.due(now); len(bs) != 0 {
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

func group(name string) model.LabelSet {
	return model.LabelSet{model.AlertNameLabel: model.LabelValue(name)}
}

func TestDispatchFirstNotificationAndRepeat(t *testing.T) {
	d := newDispatch(policy(gw, ri), true)
	a := newInc(1, alert.Firing, "alertname", "A")
	wantNext(t, d, time.Time{})

	d.sync(t0, []*alert.Incarnation{a})
	wantNext(t, d, t0.Add(gw))
	dueNone(t, d, t0)
	dueNone(t, d, t0.Add(gw-time.Second))
	// Polls in the meantime do not restart the wait.
	d.sync(t0.Add(10*time.Second), []*alert.Incarnation{a})
	wantNext(t, d, t0.Add(gw))

	b := dueOne(t, d, t0.Add(gw))
	wantBatch(t, b, group("A"), []string{"A"}, nil, notify.ReasonFirstNotification)
	if !b.since.Equal(t0) {
		t.Errorf("since: got t0%+v, want t0", b.since.Sub(t0))
	}
	// In flight: not due again, and no wake-up for it.
	dueNone(t, d, t0.Add(gw+time.Second))
	wantNext(t, d, time.Time{})

	sent := t0.Add(gw + time.Second)
	d.complete(b, sent, true)
	wantNext(t, d, sent.Add(ri))
	d.sync(sent.Add(time.Minute), []*alert.Incarnation{a})
	dueNone(t, d, sent.Add(time.Minute))
	dueNone(t, d, sent.Add(ri-time.Second))

	b = dueOne(t, d, sent.Add(ri))
	wantBatch(t, b, group("A"), []string{"A"}, nil, notify.ReasonRepeatIntervalElapsed)
	d.complete(b, sent.Add(ri), true)
	wantNext(t, d, sent.Add(2*ri))
}

func TestDispatchGrouping(t *testing.T) {
	incs := []*alert.Incarnation{
		newInc(1, alert.Firing, "alertname", "A", "instance", "1"),
		newInc(2, alert.Firing, "alertname", "A", "instance", "2"),
		newInc(3, alert.Firing, "alertname", "B", "instance", "1"),
	}
	type want struct {
		group  model.LabelSet
		firing []string
	}
	tests := []struct {
		name   string
		policy channel.Policy
		want   []want // sorted by group key
	}{
		{
			name:   "by alertname",
			policy: policy(gw, ri, model.AlertNameLabel),
			want:   []want{{group("A"), []string{"A/1", "A/2"}}, {group("B"), []string{"B/1"}}},
		},
		{
			name:   "by instance",
			policy: policy(gw, ri, "instance"),
			want:   []want{{model.LabelSet{"instance": "1"}, []string{"A/1", "B/1"}}, {model.LabelSet{"instance": "2"}, []string{"A/2"}}},
		},
		{
			name:   "by a label no alert has",
			policy: policy(gw, ri, "cluster"),
			want:   []want{{model.LabelSet{}, []string{"A/1", "A/2", "B/1"}}},
		},
		{
			name:   "by all labels",
			policy: channel.Policy{GroupByAll: true, GroupWait: gw, RepeatInterval: ri},
			want: []want{
				{model.LabelSet{"alertname": "A", "instance": "1"}, []string{"A/1"}},
				{model.LabelSet{"alertname": "A", "instance": "2"}, []string{"A/2"}},
				{model.LabelSet{"alertname": "B", "instance": "1"}, []string{"B/1"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDispatch(tt.policy, true)
			d.sync(t0, incs)
			bs := d.due(t0.Add(gw))
			if len(bs) != len(tt.want) {
				t.Fatalf("got %d batches, want %d", len(bs), len(tt.want))
			}
			for i, w := range tt.want {
				wantBatch(t, bs[i], w.group, w.firing, nil, notify.ReasonFirstNotification)
			}
		})
	}
}

// A batch lists its alerts oldest first, as Alertmanager does.
func TestDispatchBatchOrder(t *testing.T) {
	d := newDispatch(policy(gw, ri), true)
	var incs []*alert.Incarnation
	for i, in := range []string{"3", "1", "2"} {
		inc := newInc(uint64(i+1), alert.Firing, "alertname", "A", "instance", in)
		inc.StartsAt = t0.Add(-time.Duration(10-i) * time.Minute) // 3 is the oldest
		incs = append(incs, inc)
	}
	d.sync(t0, incs)
	b := dueOne(t, d, t0.Add(gw))
	if got, want := ids(b.firing), []string{"A/3", "A/1", "A/2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("firing order: got %v, want %v", got, want)
	}
}

func TestDispatchNewAlertInNotifiedGroup(t *testing.T) {
	d := newDispatch(policy(gw, ri), true)
	a1 := newInc(1, alert.Firing, "alertname", "A", "instance", "1")
	a2 := newInc(2, alert.Firing, "alertname", "A", "instance", "2")
	d.sync(t0, []*alert.Incarnation{a1})
	d.complete(dueOne(t, d, t0.Add(gw)), t0.Add(gw), true)

	joined := t0.Add(time.Minute)
	d.sync(joined, []*alert.Incarnation{a1, a2})
	wantNext(t, d, joined.Add(gw))
	dueNone(t, d, joined.Add(gw-time.Second))
	b := dueOne(t, d, joined.Add(gw))
	wantBatch(t, b, group("A"), []string{"A/1", "A/2"}, nil, notify.ReasonNewAlertsInGroup)
	if !b.since.Equal(joined) {
		t.Errorf("since: got t0%+v, want the time the new alert joined", b.since.Sub(t0))
	}
	d.complete(b, joined.Add(gw), true)
	// Both are now told: the next event is the repeat.
	wantNext(t, d, joined.Add(gw+ri))
}

func TestDispatchSuppressed(t *testing.T) {
	t.Run("never in a batch", func(t *testing.T) {
		d := newDispatch(policy(gw, ri), true)
		a1 := newInc(1, alert.Firing, "alertname", "A", "instance", "1")
		a2 := newInc(2, alert.Suppressed, "alertname", "A", "instance", "2")
		b1 := newInc(3, alert.Suppressed, "alertname", "B")
		d.sync(t0, []*alert.Incarnation{a1, a2, b1})
		b := dueOne(t, d, t0.Add(gw))
		wantBatch(t, b, group("A"), []string{"A/1"}, nil, notify.ReasonFirstNotification)
		d.complete(b, t0.Add(gw), true)
		d.sync(t0.Add(gw), []*alert.Incarnation{a1, a2, b1})
		// Repeat: the suppressed alert stays out.
		b = dueOne(t, d, t0.Add(gw+ri))
		wantBatch(t, b, group("A"), []string{"A/1"}, nil, notify.ReasonRepeatIntervalElapsed)
	})
	t.Run("only suppressed: nothing to do", func(t *testing.T) {
		d := newDispatch(policy(gw, ri), true)
		d.sync(t0, []*alert.Incarnation{newInc(1, alert.Suppressed, "alertname", "A")})
		wantNext(t, d, time.Time{})
		dueNone(t, d, t0.Add(gw+ri))
	})
	t.Run("notified again when active again", func(t *testing.T) {
		d := newDispatch(policy(gw, ri), true)
		a := newInc(1, alert.Firing, "alertname", "A")
		d.sync(t0, []*alert.Incarnation{a})
		d.complete(dueOne(t, d, t0.Add(gw)), t0.Add(gw), true)

		silenced := t0.Add(time.Minute)
		d.sync(silenced, []*alert.Incarnation{with(a, alert.Suppressed)})
		// No repeat while silenced.
		wantNext(t, d, time.Time{})
		dueNone(t, d, t0.Add(gw+ri))

		active := t0.Add(5 * time.Hour)
		d.sync(active, []*alert.Incarnation{a})
		wantNext(t, d, active.Add(gw))
		dueNone(t, d, active)
		b := dueOne(t, d, active.Add(gw))
		wantBatch(t, b, group("A"), []string{"A"}, nil, notify.ReasonNewAlertsInGroup)
	})
	t.Run("suppressed while in flight, active again", func(t *testing.T) {
		d := newDispatch(policy(gw, ri), true)
		a := newInc(1, alert.Firing, "alertname", "A")
		d.sync(t0, []*alert.Incarnation{a})
		b := dueOne(t, d, t0.Add(gw))
		d.sync(t0.Add(gw+time.Second), []*alert.Incarnation{with(a, alert.Suppressed)})
		d.complete(b, t0.Add(gw+2*time.Second), true)
		wantNext(t, d, time.Time{})
		d.sync(t0.Add(gw+3*time.Second), []*alert.Incarnation{with(a, alert.Suppressed)})

		active := t0.Add(time.Hour)
		d.sync(active, []*alert.Incarnation{a})
		b = dueOne(t, d, active.Add(gw))
		wantBatch(t, b, group("A"), []string{"A"}, nil, notify.ReasonNewAlertsInGroup)
	})
}

func TestDispatchResolved(t *testing.T) {
	t.Run("after notified", func(t *testing.T) {
		d := newDispatch(policy(gw, ri), true)
		a := newInc(1, alert.Firing, "alertname", "A")
		d.sync(t0, []*alert.Incarnation{a})
		d.complete(dueOne(t, d, t0.Add(gw)), t0.Add(gw), true)

		gone := t0.Add(time.Hour)
		d.sync(gone, []*alert.Incarnation{with(a, alert.Resolved)})
		wantNext(t, d, gone.Add(gw))
		dueNone(t, d, gone)
		b := dueOne(t, d, gone.Add(gw))
		wantBatch(t, b, group("A"), nil, []string{"A"}, notify.ReasonAllAlertsResolved)
		d.complete(b, gone.Add(gw), true)
		if len(d.members) != 0 {
			t.Errorf("the resolved member was not pruned: %d members", len(d.members))
		}
		wantNext(t, d, time.Time{})
		// The tracker may hand the resolved incarnation again.
		d.sync(gone.Add(gw+time.Second), []*alert.Incarnation{with(a, alert.Resolved)})
		dueNone(t, d, gone.Add(ri))
		wantNext(t, d, time.Time{})
	})
	t.Run("one of two resolved", func(t *testing.T) {
		d := newDispatch(policy(gw, ri), true)
		a1 := newInc(1, alert.Firing, "alertname", "A", "instance", "1")
		a2 := newInc(2, alert.Firing, "alertname", "A", "instance", "2")
		d.sync(t0, []*alert.Incarnation{a1, a2})
		d.complete(dueOne(t, d, t0.Add(gw)), t0.Add(gw), true)
		gone := t0.Add(time.Hour)
		d.sync(gone, []*alert.Incarnation{a1, with(a2, alert.Resolved)})
		b := dueOne(t, d, gone.Add(gw))
		wantBatch(t, b, group("A"), []string{"A/1"}, []string{"A/2"}, notify.ReasonNewResolvedAlerts)
	})
	t.Run("never notified", func(t *testing.T) {
		d := newDispatch(policy(gw, ri), true)
		// Resolved before this channel heard of it.
		d.sync(t0, []*alert.Incarnation{newInc(1, alert.Resolved, "alertname", "A")})
		if len(d.members) != 0 {
			t.Errorf("got %d members, want none", len(d.members))
		}
		// Resolved within the group wait.
		b := newInc(2, alert.Firing, "alertname", "B")
		d.sync(t0, []*alert.Incarnation{b})
		d.sync(t0.Add(10*time.Second), []*alert.Incarnation{with(b, alert.Resolved)})
		wantNext(t, d, time.Time{})
		dueNone(t, d, t0.Add(gw))
		if len(d.members) != 0 {
			t.Errorf("got %d members, want none", len(d.members))
		}
	})
	t.Run("send_resolved false", func(t *testing.T) {
		d := newDispatch(policy(gw, ri), false)
		a := newInc(1, alert.Firing, "alertname", "A")
		d.sync(t0, []*alert.Incarnation{a})
		d.complete(dueOne(t, d, t0.Add(gw)), t0.Add(gw), true)
		d.sync(t0.Add(time.Hour), []*alert.Incarnation{with(a, alert.Resolved)})
		wantNext(t, d, time.Time{})
		dueNone(t, d, t0.Add(time.Hour+gw))
		if len(d.members) != 0 {
			t.Errorf("got %d members, want none", len(d.members))
		}
	})
	t.Run("send_resolved false, other alert still firing", func(t *testing.T) {
		d := newDispatch(policy(gw, ri), false)
		a1 := newInc(1, alert.Firing, "alertname", "A", "instance", "1")
		a2 := newInc(2, alert.Firing, "alertname", "A", "instance", "2")
		d.sync(t0, []*alert.Incarnation{a1, a2})
		d.complete(dueOne(t, d, t0.Add(gw)), t0.Add(gw), true)
		d.sync(t0.Add(time.Hour), []*alert.Incarnation{a1, with(a2, alert.Resolved)})
		dueNone(t, d, t0.Add(time.Hour+gw))
		b := dueOne(t, d, t0.Add(gw+ri))
		wantBatch(t, b, group("A"), []string{"A/1"}, nil, notify.ReasonRepeatIntervalElapsed)
	})
	t.Run("pending resolution survives leaving the set", func(t *testing.T) {
		d := newDispatch(policy(gw, ri), true)
		a := newInc(1, alert.Firing, "alertname", "A")
		d.sync(t0, []*alert.Incarnation{a})
		d.complete(dueOne(t, d, t0.Add(gw)), t0.Add(gw), true)
		gone := t0.Add(time.Hour)
		d.sync(gone, []*alert.Incarnation{with(a, alert.Resolved)})
		// Evicted from the tracker before the group wait elapsed.
		d.sync(gone.Add(time.Second), nil)
		b := dueOne(t, d, gone.Add(gw))
		wantBatch(t, b, group("A"), nil, []string{"A"}, notify.ReasonAllAlertsResolved)
		d.complete(b, gone.Add(gw), true)
		if len(d.members) != 0 {
			t.Errorf("got %d members, want none", len(d.members))
		}
	})
	t.Run("resolved while the firing batch is in flight", func(t *testing.T) {
		d := newDispatch(policy(gw, ri), true)
		a := newInc(1, alert.Firing, "alertname", "A")
		d.sync(t0, []*alert.Incarnation{a})
		b := dueOne(t, d, t0.Add(gw))
		gone := t0.Add(gw + time.Second)
		d.sync(gone, []*alert.Incarnation{with(a, alert.Resolved)})
		dueNone(t, d, gone)
		done := gone.Add(time.Second)
		d.complete(b, done, true)
		wantNext(t, d, done.Add(gw))
		b = dueOne(t, d, done.Add(gw))
		wantBatch(t, b, group("A"), nil, []string{"A"}, notify.ReasonAllAlertsResolved)
		d.complete(b, done.Add(gw), true)
		if len(d.members) != 0 {
			t.Errorf("got %d members, want none", len(d.members))
		}
	})
	t.Run("resolved while in flight, send_resolved false", func(t *testing.T) {
		d := newDispatch(policy(gw, ri), false)
		a := newInc(1, alert.Firing, "alertname", "A")
		d.sync(t0, []*alert.Incarnation{a})
		b := dueOne(t, d, t0.Add(gw))
		d.sync(t0.Add(gw+time.Second), []*alert.Incarnation{with(a, alert.Resolved)})
		d.complete(b, t0.Add(gw+2*time.Second), true)
		wantNext(t, d, time.Time{})
		if len(d.members) != 0 {
			t.Errorf("got %d members, want none", len(d.members))
		}
	})
}

func TestDispatchDisappears(t *testing.T) {
	t.Run("pending firing", func(t *testing.T) {
		d := newDispatch(policy(gw, ri), true)
		d.sync(t0, []*alert.Incarnation{newInc(1, alert.Firing, "alertname", "A")})
		d.sync(t0.Add(time.Second), nil)
		wantNext(t, d, time.Time{})
		dueNone(t, d, t0.Add(gw))
	})
	t.Run("notified firing", func(t *testing.T) {
		d := newDispatch(policy(gw, ri), true)
		a := newInc(1, alert.Firing, "alertname", "A")
		d.sync(t0, []*alert.Incarnation{a})
		d.complete(dueOne(t, d, t0.Add(gw)), t0.Add(gw), true)
		d.sync(t0.Add(time.Minute), nil)
		// No resolution and no repeat.
		wantNext(t, d, time.Time{})
		dueNone(t, d, t0.Add(gw+ri))
		if len(d.members) != 0 {
			t.Errorf("got %d members, want none", len(d.members))
		}
	})
	t.Run("in flight, then gone", func(t *testing.T) {
		d := newDispatch(policy(gw, ri), true)
		a := newInc(1, alert.Firing, "alertname", "A")
		d.sync(t0, []*alert.Incarnation{a})
		b := dueOne(t, d, t0.Add(gw))
		d.sync(t0.Add(gw+time.Second), nil)
		d.complete(b, t0.Add(gw+2*time.Second), true)
		d.sync(t0.Add(gw+3*time.Second), nil)
		wantNext(t, d, time.Time{})
		dueNone(t, d, t0.Add(gw+ri))
	})
}

func TestDispatchNewIncarnation(t *testing.T) {
	d := newDispatch(policy(gw, ri), true)
	a := newInc(1, alert.Firing, "alertname", "A")
	d.sync(t0, []*alert.Incarnation{a})
	d.complete(dueOne(t, d, t0.Add(gw)), t0.Add(gw), true)
	d.sync(t0.Add(time.Hour), []*alert.Incarnation{with(a, alert.Resolved)})
	d.complete(dueOne(t, d, t0.Add(time.Hour+gw)), t0.Add(time.Hour+gw), true)

	// Same fingerprint, fires again: a new incarnation is notified again.
	again := newInc(2, alert.Firing, "alertname", "A")
	at := t0.Add(2 * time.Hour)
	d.sync(at, []*alert.Incarnation{again})
	b := dueOne(t, d, at.Add(gw))
	wantBatch(t, b, group("A"), []string{"A"}, nil, notify.ReasonNewAlertsInGroup)
}

func TestDispatchDroppedIsNotResentAtOnce(t *testing.T) {
	d := newDispatch(policy(gw, ri), true)
	a := newInc(1, alert.Firing, "alertname", "A")
	d.sync(t0, []*alert.Incarnation{a})
	b := dueOne(t, d, t0.Add(gw))
	gaveUp := t0.Add(time.Hour)
	d.complete(b, gaveUp, false)
	dueNone(t, d, gaveUp)
	d.sync(gaveUp.Add(time.Second), []*alert.Incarnation{a})
	dueNone(t, d, gaveUp.Add(time.Minute))
	wantNext(t, d, gaveUp.Add(ri))
	// The group was never told: the next try is still its first.
	b = dueOne(t, d, gaveUp.Add(ri))
	wantBatch(t, b, group("A"), []string{"A"}, nil, notify.ReasonFirstNotification)
}

func TestDispatchCancel(t *testing.T) {
	d := newDispatch(policy(gw, ri), true)
	a1 := newInc(1, alert.Firing, "alertname", "A", "instance", "1")
	a2 := newInc(2, alert.Firing, "alertname", "A", "instance", "2")
	d.sync(t0, []*alert.Incarnation{a1, a2})
	b := dueOne(t, d, t0.Add(gw))
	dueNone(t, d, t0.Add(gw))
	d.cancel(b)
	wantNext(t, d, t0.Add(gw))
	b = dueOne(t, d, t0.Add(gw+time.Second))
	wantBatch(t, b, group("A"), []string{"A/1", "A/2"}, nil, notify.ReasonFirstNotification)
}

func TestDispatchNext(t *testing.T) {
	tests := []struct {
		name  string
		setup func(d *dispatch)
		want  time.Time
	}{
		{"empty", func(*dispatch) {}, time.Time{}},
		{"pending", func(d *dispatch) {
			d.sync(t0, []*alert.Incarnation{newInc(1, alert.Firing, "alertname", "A")})
		}, t0.Add(gw)},
		{"earliest pending", func(d *dispatch) {
			d.sync(t0, []*alert.Incarnation{newInc(1, alert.Firing, "alertname", "A")})
			d.sync(t0.Add(10*time.Second), []*alert.Incarnation{
				newInc(1, alert.Firing, "alertname", "A"), newInc(2, alert.Firing, "alertname", "B"),
			})
		}, t0.Add(gw)},
		{"notified: repeat", func(d *dispatch) {
			d.sync(t0, []*alert.Incarnation{newInc(1, alert.Firing, "alertname", "A")})
			d.complete(d.due(t0.Add(gw))[0], t0.Add(gw), true)
		}, t0.Add(gw + ri)},
		{"notified and a new pending one", func(d *dispatch) {
			a := newInc(1, alert.Firing, "alertname", "A")
			d.sync(t0, []*alert.Incarnation{a})
			d.complete(d.due(t0.Add(gw))[0], t0.Add(gw), true)
			d.sync(t0.Add(time.Hour), []*alert.Incarnation{a, newInc(2, alert.Firing, "alertname", "B")})
		}, t0.Add(time.Hour + gw)},
		{"suppressed only", func(d *dispatch) {
			d.sync(t0, []*alert.Incarnation{newInc(1, alert.Suppressed, "alertname", "A")})
		}, time.Time{}},
		{"all in flight", func(d *dispatch) {
			d.sync(t0, []*alert.Incarnation{newInc(1, alert.Firing, "alertname", "A")})
			d.due(t0.Add(gw))
		}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDispatch(policy(gw, ri), true)
			tt.setup(d)
			wantNext(t, d, tt.want)
		})
	}
}

// While a group's batch is in flight (a slow or retried endpoint), a new
// alert of that group becomes due; due skips the group, so next must not
// report a wake-up time in the past, or the target's loop spins.
func TestDispatchNextWhileGroupInFlight(t *testing.T) {
	d := newDispatch(policy(gw, ri), true)
	a1 := newInc(1, alert.Firing, "alertname", "A", "instance", "1")
	a2 := newInc(2, alert.Firing, "alertname", "A", "instance", "2")
	d.sync(t0, []*alert.Incarnation{a1})
	dueOne(t, d, t0.Add(gw)) // in flight, being retried
	d.sync(t0.Add(gw+time.Second), []*alert.Incarnation{a1, a2})
	now := t0.Add(2*gw + 2*time.Second) // a2 waited its group wait
	dueNone(t, d, now)
	if next := d.next(); !next.IsZero() && !next.After(now) {
		t.Errorf("next() = t0%+v, not after now = t0%+v, although nothing is due: the loop would spin", next.Sub(t0), now.Sub(t0))
	}
}

// A member in flight is not put in a second batch when the grouping
// changes under it.
func TestDispatchGroupByChangeWhileInFlight(t *testing.T) {
	d := newDispatch(policy(0, time.Hour), true)
	a := newInc(1, alert.Firing, "alertname", "A", "instance", "i1")
	d.sync(t0, []*alert.Incarnation{a})
	b := dueOne(t, d, t0)
	d.setPolicy(policy(0, time.Hour, "instance"))
	dueNone(t, d, t0.Add(time.Second))
	d.complete(b, t0.Add(2*time.Second), true)
	dueNone(t, d, t0.Add(3*time.Second))
}

// Groups that are gone are forgotten.
func TestDispatchForgetsGoneGroups(t *testing.T) {
	d := newDispatch(policy(0, time.Hour, "instance"), true)
	for i := range 200 {
		inc := newInc(uint64(i+1), alert.Firing, "alertname", "A", "instance", fmt.Sprint(i))
		d.sync(t0, []*alert.Incarnation{inc})
		b := dueOne(t, d, t0)
		d.complete(b, t0, true)
		d.sync(t0, []*alert.Incarnation{with(inc, alert.Resolved)})
		d.complete(dueOne(t, d, t0), t0, true)
		d.sync(t0, nil)
	}
	if len(d.members) != 0 || len(d.sentGroups) > 32 || len(d.attempts) > 32 {
		t.Errorf("members %d, sentGroups %d, attempts %d: gone groups are kept", len(d.members), len(d.sentGroups), len(d.attempts))
	}
}
