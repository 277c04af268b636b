package replication

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/amtenant/amtenant/state"
)

// fakeStore records what is applied to it.
type fakeStore struct {
	mu      sync.Mutex
	export  []state.Target
	targets []state.Target
	records []state.Record
}

func (f *fakeStore) Export(time.Time) []state.Target {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]state.Target(nil), f.export...)
}

func (f *fakeStore) ApplyTarget(st state.Target, _ time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.targets = append(f.targets, st)
}

func (f *fakeStore) ApplyRecord(rec state.Record, _ time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records = append(f.records, rec)
}

func (f *fakeStore) applied() (targets []state.Target, records []state.Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]state.Target(nil), f.targets...), append([]state.Record(nil), f.records...)
}

// fakeLead is a Leadership set by hand.
type fakeLead struct {
	mu      sync.Mutex
	leading bool
	changed chan struct{}
}

func newFakeLead(leading bool) *fakeLead {
	return &fakeLead{leading: leading, changed: make(chan struct{})}
}

func (f *fakeLead) Status() (bool, time.Time, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leading, time.Time{}, f.changed
}

func (f *fakeLead) set(leading bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leading = leading
	close(f.changed)
	f.changed = make(chan struct{})
}

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func newTestClient(store Store) (*Client, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	c := NewClient("amtenant-1", []string{"peer:9098"}, store, newFakeLead(false), slog.New(slog.DiscardHandler), reg)
	now := t0
	c.now = func() time.Time { now = now.Add(time.Millisecond); return now }
	return c, reg
}

func record(seq uint64, group string) *message {
	return &message{Kind: kindRecord, Leading: true, Seq: seq, Record: &state.Record{Channel: "team-a/hook", Integration: "webhook/0", Group: state.Group{Key: group, Firing: []string{"0000000000000001"}}}}
}

func snapshot(targets ...string) []*message {
	out := []*message{{Kind: kindBegin, Leading: true}}
	for _, t := range targets {
		out = append(out, &message{Kind: kindTarget, Leading: true, Target: &state.Target{Channel: t, Integration: "webhook/0"}})
	}
	return append(out, &message{Kind: kindEnd, Leading: true})
}

func feed(t *testing.T, c *Client, st *stream, msgs ...*message) error {
	t.Helper()
	for _, m := range msgs {
		if err := c.handle(st, m); err != nil {
			return err
		}
	}
	return nil
}

func groupsOf(rs []state.Record) string {
	var keys []string
	for _, r := range rs {
		keys = append(keys, r.Group.Key)
	}
	return strings.Join(keys, ",")
}

func TestClientMergesRecords(t *testing.T) {
	hello := &message{Kind: kindHello, Identity: "amtenant-0", Leading: true}
	tests := []struct {
		name string
		msgs []*message
		// wantErr is part of the error ending the stream; empty: none.
		wantErr     string
		wantSynced  bool
		wantTargets int
		wantRecords string
		wantIgnored float64
		leading     bool
	}{
		{name: "a snapshot, then records in order", msgs: append(append([]*message{hello}, snapshot("team-a/hook", "team-b/hook")...), record(1, "a"), record(2, "b")), wantSynced: true, wantTargets: 2, wantRecords: "a,b"},
		{name: "no snapshot yet: records are not applied", msgs: []*message{hello, record(1, "a")}, wantIgnored: 1},
		{name: "an incomplete snapshot is not a complete copy", msgs: append([]*message{hello}, snapshot("team-a/hook")[:2]...), wantTargets: 1},
		{name: "a duplicate is ignored", msgs: append(append([]*message{hello}, snapshot()...), record(1, "a"), record(1, "a"), record(2, "b")), wantSynced: true, wantRecords: "a,b", wantIgnored: 1},
		{name: "an older record is ignored", msgs: append(append([]*message{hello}, snapshot()...), record(1, "a"), record(2, "b"), record(1, "a")), wantSynced: true, wantRecords: "a,b", wantIgnored: 1},
		{name: "a gap ends the copy", msgs: append(append([]*message{hello}, snapshot()...), record(1, "a"), record(3, "c")), wantErr: "records 2 to 2 are missing", wantRecords: "a"},
		{name: "out of order: the first record missing", msgs: append(append([]*message{hello}, snapshot()...), record(2, "b"), record(1, "a")), wantErr: "records 1 to 1 are missing"},
		{name: "a new snapshot numbers records from 1 again", msgs: append(append(append(append([]*message{hello}, snapshot()...), record(1, "a"), record(2, "b")), snapshot()...), record(1, "c")), wantSynced: true, wantRecords: "a,b,c"},
		{name: "the leader steps down", msgs: append(append([]*message{hello}, snapshot()...), &message{Kind: kindHeartbeat, Leading: false}, record(1, "a")), wantIgnored: 1},
		{name: "this replica leads: nothing is applied", leading: true, msgs: append(append([]*message{hello}, snapshot("team-a/hook")...), record(1, "a")), wantIgnored: 4},
		{name: "its own address", msgs: []*message{{Kind: kindHello, Identity: "amtenant-1"}}, wantErr: errSelf.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &fakeStore{}
			c, reg := newTestClient(store)
			if tt.leading {
				c.lead = newFakeLead(true)
			}
			err := feed(t, c, &stream{peer: "peer:9098"}, tt.msgs...)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if synced, _, _ := c.Synced(); synced != tt.wantSynced {
				t.Errorf("synced %t, want %t", synced, tt.wantSynced)
			}
			targets, records := store.applied()
			if len(targets) != tt.wantTargets || groupsOf(records) != tt.wantRecords {
				t.Errorf("applied %d targets and records %q; want %d and %q", len(targets), groupsOf(records), tt.wantTargets, tt.wantRecords)
			}
			if got := testutil.ToFloat64(c.m.ignored); got != tt.wantIgnored {
				t.Errorf("ignored %v, want %v", got, tt.wantIgnored)
			}
			if got := testutil.ToFloat64(c.m.synced); got != b2f(tt.wantSynced) {
				t.Errorf("amtenant_replication_synced %v, want %v", got, b2f(tt.wantSynced))
			}
			if _, err := reg.Gather(); err != nil {
				t.Error(err)
			}
		})
	}
}

// A replica that led before and still streams (it has not noticed yet
// that it lost the Lease) is not applied once the new leader's snapshot
// began: its records are stale.
func TestClientFollowsTheNewestLeader(t *testing.T) {
	store := &fakeStore{}
	c, _ := newTestClient(store)
	old, next := &stream{peer: "a:9098"}, &stream{peer: "b:9098"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(feed(t, c, old, append([]*message{{Kind: kindHello, Identity: "amtenant-0", Leading: true}}, snapshot()...)...))
	must(feed(t, c, old, record(1, "old-1")))
	must(feed(t, c, next, &message{Kind: kindHello, Identity: "amtenant-2"}))
	// Not leading: its hello changes nothing.
	if synced, _, _ := c.Synced(); !synced || c.Status().Leader != "amtenant-0" {
		t.Fatalf("after a follower's hello: synced %t, leader %q", synced, c.Status().Leader)
	}
	must(feed(t, c, next, snapshot("team-a/hook")...))
	synced, lost, _ := c.Synced()
	if !synced || c.Status().Leader != "amtenant-2" {
		t.Fatalf("after the new leader's snapshot: synced %t, leader %q", synced, c.Status().Leader)
	}
	if lost.IsZero() {
		t.Error("the switch of leaders left no time of loss: the copy was not complete for a moment")
	}
	must(feed(t, c, old, record(2, "old-2")))
	must(feed(t, c, next, record(1, "new-1")))
	// The old leader's stream ends: the copy is the new leader's still.
	c.ended(old, errors.New("connection reset"))
	if synced, _, _ := c.Synced(); !synced {
		t.Error("the end of a stale stream ended the copy")
	}
	_, records := store.applied()
	if got := groupsOf(records); got != "old-1,new-1" {
		t.Errorf("applied %q, want old-1,new-1", got)
	}
	// The new leader's stream ends: incomplete since its last message.
	last := next.last
	c.ended(next, errors.New("EOF"))
	synced, lost, _ = c.Synced()
	if synced || !lost.Equal(last) {
		t.Errorf("after the leader's stream ended: synced %t, lost %v; want false, %v", synced, lost, last)
	}
}
