package senders

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/nflog"
	"github.com/prometheus/alertmanager/nflog/nflogpb"
	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/alertmanager/types"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// oneEntry is a notification log holding at most one entry, for driving
// Alertmanager's dedup stage one decision at a time.
type oneEntry struct{ e *nflogpb.Entry }

func (l oneEntry) Log(*nflogpb.Receiver, string, []uint64, []uint64, *nflog.Store, time.Duration) error {
	return nil
}

func (l oneEntry) Query(...nflog.QueryParam) ([]*nflogpb.Entry, error) {
	if l.e == nil {
		return nil, nflog.ErrNotFound
	}
	return []*nflogpb.Entry{l.e}, nil
}

type resolvedSender bool

func (r resolvedSender) SendResolved() bool { return bool(r) }

// amDecision runs Alertmanager's own DedupStage on a group history: prev
// (nil: never notified) listed prevFiring and prevResolved age ago; the
// group now holds firing and resolved. Indexes name alerts.
func amDecision(t *testing.T, labels []model.LabelSet, prev bool, prevFiring, prevResolved, firing, resolved []int, age time.Duration, sendResolved bool, repeat time.Duration, now time.Time) notify.NotifyReason {
	t.Helper()
	ctx := notify.WithGroupKey(context.Background(), "g")
	ctx = notify.WithRepeatInterval(ctx, repeat)
	ctx = notify.WithNow(ctx, now)
	recv := &nflogpb.Receiver{GroupName: "r", Integration: "webhook"}
	// The stage's hash of each alert, from the stage itself.
	all := make([]*types.Alert, len(labels))
	for i, ls := range labels {
		all[i] = &types.Alert{Alert: model.Alert{Labels: ls, StartsAt: now.Add(-time.Hour)}}
	}
	hctx, _, err := notify.NewDedupStage(resolvedSender(sendResolved), oneEntry{}, recv).Exec(ctx, discard(), all...)
	if err != nil {
		t.Fatal(err)
	}
	hashes, _ := notify.FiringAlerts(hctx)
	pick := func(idx []int) []uint64 {
		out := []uint64{}
		for _, i := range idx {
			out = append(out, hashes[i])
		}
		return out
	}
	var log oneEntry
	if prev {
		log.e = &nflogpb.Entry{FiringAlerts: pick(prevFiring), ResolvedAlerts: pick(prevResolved), Timestamp: timestamppb.New(now.Add(-age))}
	}
	var alerts []*types.Alert
	for _, i := range firing {
		alerts = append(alerts, &types.Alert{Alert: model.Alert{Labels: labels[i], StartsAt: now.Add(-time.Hour)}})
	}
	for _, i := range resolved {
		alerts = append(alerts, &types.Alert{Alert: model.Alert{Labels: labels[i], StartsAt: now.Add(-time.Hour), EndsAt: time.Now().Add(-time.Minute)}})
	}
	rctx, _, err := notify.NewDedupStage(resolvedSender(sendResolved), log, recv).Exec(ctx, discard(), alerts...)
	if err != nil {
		t.Fatal(err)
	}
	reason, _ := notify.NotificationReason(rctx)
	return reason
}

// needsUpdate decides as Alertmanager's dedup stage does, on random group
// histories: Alertmanager's stage is the oracle.
func TestNeedsUpdateMatchesAlertmanager(t *testing.T) {
	labels := []model.LabelSet{
		{"alertname": "A", "instance": "1"},
		{"alertname": "A", "instance": "2"},
		{"alertname": "A", "instance": "3"},
		{"alertname": "A", "instance": "4"},
	}
	fps := make([]uint64, len(labels))
	for i, ls := range labels {
		fps[i] = uint64(ls.Fingerprint())
	}
	const repeat = time.Hour
	now := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	subset := func() []int {
		var out []int
		for i := range labels {
			if rng.IntN(2) == 0 {
				out = append(out, i)
			}
		}
		return out
	}
	seen := map[notify.NotifyReason]int{}
	for n := range 2000 {
		prev := rng.IntN(4) != 0
		prevFiring, prevResolved := subset(), subset()
		// Now: each alert firing, resolved or absent.
		var firing, resolved []int
		for i := range labels {
			switch rng.IntN(3) {
			case 0:
				firing = append(firing, i)
			case 1:
				resolved = append(resolved, i)
			}
		}
		age := []time.Duration{time.Minute, repeat, repeat + time.Second}[rng.IntN(3)]
		sendResolved := rng.IntN(2) == 0

		want := amDecision(t, labels, prev, prevFiring, prevResolved, firing, resolved, age, sendResolved, repeat, now)
		var entry *told
		if prev {
			entry = &told{firing: pickFPs(fps, prevFiring), resolved: pickFPs(fps, prevResolved), at: now.Add(-age)}
		}
		got := needsUpdate(entry, pickFPs(fps, firing), pickFPs(fps, resolved), sendResolved, repeat, now)
		seen[want]++
		if got != want {
			t.Fatalf("case %d: prev %t firing %v resolved %v age %s; now firing %v resolved %v, send_resolved %t: got %q, Alertmanager %q",
				n, prev, prevFiring, prevResolved, age, firing, resolved, sendResolved, got, want)
		}
	}
	// Every outcome was exercised.
	for _, r := range []notify.NotifyReason{notify.ReasonDoNotNotify, notify.ReasonFirstNotification, notify.ReasonNewAlertsInGroup,
		notify.ReasonNewResolvedAlerts, notify.ReasonAllAlertsResolved, notify.ReasonRepeatIntervalElapsed} {
		if seen[r] == 0 {
			t.Errorf("no case decided %q: %v", r, fmt.Sprint(seen))
		}
	}
}

func pickFPs(fps []uint64, idx []int) []uint64 {
	ms := make([]*member, 0, len(idx))
	for _, i := range idx {
		ms = append(ms, &member{fp: fps[i]})
	}
	return fingerprints(ms)
}
