package replication

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/amtenant/amtenant/internal/testutil"
	"github.com/amtenant/amtenant/state"
)

// waitFor is testutil.Eventually with the package's timeout, 10s: the
// stream runs over a real connection, so progress is observed, not timed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, what, cond)
}

func TestStreamEndToEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	leaderStore := &fakeStore{export: []state.Target{{Channel: "team-a/hook", Integration: "webhook/0", Groups: []state.Group{{Key: "{}", Firing: []string{"0000000000000001"}}}}}}
	leaderLead := newFakeLead(true)
	srv := NewServer("amtenant-0", leaderStore, leaderLead, slog.New(slog.DiscardHandler))
	go srv.Run(ctx)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	peer := strings.TrimPrefix(hs.URL, "http://")

	waitFor(t, "the leadership seen", srv.leading.Load)
	if srv.Wanted() {
		t.Error("records wanted before any follower reads the stream")
	}
	store := &fakeStore{}
	c := NewClient("amtenant-1", []string{peer}, store, newFakeLead(false), slog.New(slog.DiscardHandler), nil)
	go c.Run(ctx)
	synced := func() bool { s, _, _ := c.Synced(); return s }
	waitFor(t, "the snapshot", synced)
	if !srv.Wanted() {
		t.Error("records not wanted while a follower reads the stream")
	}
	if targets, _ := store.applied(); len(targets) != 1 || targets[0].Groups[0].Key != "{}" {
		t.Fatalf("snapshot applied: %+v", targets)
	}
	if st := c.Status(); st.Leader != "amtenant-0" || st.SyncedSince.IsZero() {
		t.Errorf("status %+v", st)
	}

	// Records while leading arrive in order.
	for _, k := range []string{"a", "b", "c"} {
		srv.Record(state.Record{Channel: "team-a/hook", Integration: "webhook/0", Group: state.Group{Key: k}})
	}
	waitFor(t, "three records", func() bool { _, r := store.applied(); return len(r) == 3 })
	if _, r := store.applied(); groupsOf(r) != "a,b,c" {
		t.Errorf("records %q", groupsOf(r))
	}

	// Stepping down ends the copy; records are not streamed meanwhile.
	leaderLead.set(false)
	waitFor(t, "the copy to end", func() bool { return !synced() })
	srv.Record(state.Record{Group: state.Group{Key: "while-following"}})
	// Leading again: a new snapshot, then new records.
	leaderLead.set(true)
	waitFor(t, "a new snapshot", synced)
	srv.Record(state.Record{Channel: "team-a/hook", Integration: "webhook/0", Group: state.Group{Key: "d"}})
	waitFor(t, "the record after the new snapshot", func() bool { _, r := store.applied(); return len(r) == 4 })
	if targets, r := store.applied(); len(targets) != 2 || groupsOf(r) != "a,b,c,d" {
		t.Errorf("after leading again: %d targets, records %q; want 2, a,b,c,d", len(targets), groupsOf(r))
	}

	// The leader goes away: the copy is incomplete from its last message.
	hs.CloseClientConnections()
	waitFor(t, "the copy to end with the connection", func() bool { return !synced() })
	if _, lost, _ := c.Synced(); lost.IsZero() {
		t.Error("no time of loss")
	}
}

// A replica listed among its own peers skips itself.
func TestStreamSkipsItself(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	lead := newFakeLead(true)
	srv := NewServer("amtenant-0", &fakeStore{}, lead, slog.New(slog.DiscardHandler))
	go srv.Run(ctx)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	c := NewClient("amtenant-0", []string{strings.TrimPrefix(hs.URL, "http://")}, &fakeStore{}, newFakeLead(false), slog.New(slog.DiscardHandler), nil)
	done := make(chan struct{})
	go func() { c.follow(ctx, c.peers[0]); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("following its own address did not stop")
	}
	if synced, _, _ := c.Synced(); synced {
		t.Error("synced with itself")
	}
}
