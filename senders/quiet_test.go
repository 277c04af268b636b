package senders

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/state"
)

// The skip of quiet groups changes nothing but the work: two integrations,
// one skipping quiet groups and one flushing every group, given the same
// random history (alerts firing, silenced, resolved and gone; deliveries
// that succeed, fail, are canceled, settled or released; the leader's log
// mirrored; the grouping, the repeat interval and the sending of
// resolutions changed, also while notifications are in flight; time moving
// by a few seconds to past the repeat interval; the bound all channels
// share), send the same notifications and keep the same log. No group
// wait: a regrouped group's first flush would otherwise depend on which
// member joins it first, which is map order.
func TestQuietSkipChangesNothing(t *testing.T) {
	for seed := range uint64(1000) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { quietHistory(t, seed) })
	}
}

func quietHistory(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 7))
	const repeat = time.Hour
	skip, every := newDispatch(policyGI(0, gi, repeat), true), newDispatch(policyGI(0, gi, repeat), true)
	every.alwaysFlush = true
	skip.shared, every.shared = newSharedInFlight(2, 6), newSharedInFlight(2, 6)
	both := []*dispatch{skip, every}

	// A pool of alerts in three groups; each step routes a random part
	// of it with random states.
	type slot struct {
		inc  *alert.Incarnation
		live bool
	}
	pool := make([]slot, 9)
	nextID := uint64(1)
	now := t0
	var inflight [2][]*batch
	skipped := 0
	for step := range 200 {
		switch op := r.IntN(100); {
		case op < 35: // a poll, most often of unchanged alerts
			var routed []*alert.Incarnation
			steady := r.IntN(6) > 0
			for i := range pool {
				s := &pool[i]
				switch {
				case steady:
				case s.inc == nil || (s.inc.Status == alert.Resolved && r.IntN(3) == 0):
					if r.IntN(2) == 0 {
						s.inc = firingAt(nextID, now, "alertname", fmt.Sprint("G", i%3), "instance", fmt.Sprint(i))
						nextID++
						s.live = true
					}
				case r.IntN(6) == 0:
					c := *s.inc
					switch c.Status {
					case alert.Firing:
						if r.IntN(2) == 0 {
							c.Status, c.Suppressed = alert.Suppressed, true
						} else {
							c.Status, c.ResolvedAt, c.EndsAt = alert.Resolved, now, now
						}
					case alert.Suppressed:
						if r.IntN(2) == 0 {
							c.Status, c.Suppressed = alert.Firing, false
						} else {
							c.Status, c.ResolvedAt, c.EndsAt = alert.Resolved, now, now
						}
					}
					s.inc = &c
				case r.IntN(10) == 0:
					s.live = !s.live // evicted, or routed elsewhere, and back
				}
				if s.inc != nil && s.live {
					// A new value each poll, as the tracker hands them.
					c := *s.inc
					routed = append(routed, &c)
				}
			}
			for _, d := range both {
				d.sync(now, routed)
			}
		case op < 60: // the loop looks
			var got [2][]string
			for i, d := range both {
				bs := d.due(now, 2)
				for _, b := range bs {
					got[i] = append(got[i], fmt.Sprintf("%s %v %v %v", b.groupKey, sorted(ids(b.firing)), sorted(ids(b.resolved)), b.reason))
				}
				inflight[i] = append(inflight[i], bs...)
			}
			if !reflect.DeepEqual(got[0], got[1]) {
				t.Fatalf("step %d at t0%+v: skipping sent %v, flushing every group sent %v", step, now.Sub(t0), got[0], got[1])
			}
		case op < 72: // the notifications in flight end
			for len(inflight[0]) > 0 {
				j, how := r.IntN(len(inflight[0])), r.IntN(16)
				for i, d := range both {
					b := inflight[i][j]
					inflight[i] = append(inflight[i][:j], inflight[i][j+1:]...)
					switch how {
					case 0:
						d.complete(b, now, false)
					case 1:
						d.cancel(b, now)
					case 2:
						d.settle(b, now)
					case 3:
						d.release(b)
					default:
						d.complete(b, now, true)
					}
				}
			}
		case op < 94: // time passes
			now = now.Add([]time.Duration{time.Second, gw, gi, gi, gi + time.Second, gi, repeat + gi}[r.IntN(7)])
		default: // the configuration or the leader's log changes
			switch r.IntN(4) {
			case 0:
				v := r.IntN(2) == 0
				for _, d := range both {
					d.setSendResolved(v)
				}
			case 1:
				by := [][]model.LabelName{{model.AlertNameLabel}, {model.AlertNameLabel, "instance"}, {"instance"}}[r.IntN(3)]
				p := policyGI(0, gi, []time.Duration{repeat, 2 * gi}[r.IntN(2)], by...)
				for _, d := range both {
					d.setPolicy(p, now)
				}
			case 2:
				for key, t := range skip.log {
					if r.IntN(2) == 0 {
						c := *t
						c.at = c.at.Add(-repeat)
						for _, d := range both {
							d.mirror(key, &c)
						}
					}
				}
			default:
				var groups []state.Group
				skip.export(&state.Target{})
				for key, t := range skip.log {
					if r.IntN(2) == 0 {
						groups = append(groups, state.Group{Key: key, Firing: formatFPs(t.firing), Resolved: formatFPs(t.resolved), NotifiedAt: t.at.Add(-time.Minute)})
					}
				}
				for _, d := range both {
					d.mirrorAll(groups)
				}
			}
		}
		for _, g := range skip.groups {
			if g.quiet.ok && skip.stillQuiet(g, now) {
				skipped++
			}
		}
		if !reflect.DeepEqual(skip.log, every.log) {
			t.Fatalf("step %d: the logs differ: %v, %v", step, skip.log, every.log)
		}
	}
	if skipped == 0 && seed == 0 {
		t.Errorf("no group was ever quiet: the test does not exercise the skip")
	}
}

// A group whose members do not change is not flushed again until its
// repeat interval elapses; any change makes it flushed again.
func TestQuietGroupSkipped(t *testing.T) {
	d := newDispatch(policyGI(gw, gi, ri), true)
	a := firingAt(1, t0, "alertname", "A", "instance", "1")
	d.sync(t0, incs(a))
	b := dueOne(t, d, t0.Add(gw))
	d.complete(b, t0.Add(gw), true)
	g := d.groups[b.groupKey]
	dueNone(t, d, t0.Add(gw+gi))
	if !d.stillQuiet(g, t0.Add(gw+2*gi)) {
		t.Fatal("an unchanged group is not quiet after a flush that said nothing")
	}
	if d.stillQuiet(g, t0.Add(gw+ri+time.Second)) {
		t.Error("a group is quiet past its repeat interval")
	}
	c := *a
	c.Status, c.Suppressed = alert.Suppressed, true
	d.sync(t0.Add(gw+gi+time.Second), incs(&c))
	if d.stillQuiet(g, t0.Add(gw+2*gi)) {
		t.Error("a group whose member was silenced is still quiet")
	}
}
