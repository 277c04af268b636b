package election

import (
	"context"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

const (
	leaseNamespace = "monitoring"
	leaseName      = "amtenant"
	// within bounds every wait of the tests that run the election: far
	// more than it takes, on a loaded machine too.
	within = 15 * time.Second
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newGauge() prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Name: "amtenant_leader", Help: "test"})
}

// closed reports whether ch is closed, without waiting.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestObserve(t *testing.T) {
	e := New(Config{Identity: "me", Log: discard(), Leader: newGauge()})
	clock := t0
	e.now = func() time.Time { return clock }
	renew := func(sec int) metav1.Time { return metav1.NewTime(t0.Add(time.Duration(sec) * time.Second)) }

	// Each step is one read of the Lease, one second after the previous
	// one; seen is the step whose read must have set seen last (0: none).
	steps := []struct {
		name   string
		holder string
		renew  metav1.Time
		seen   int
	}{
		// A record as found at start may be that of a replica that died a
		// moment ago.
		{"first read of another holder", "other", renew(-1), 0},
		{"read again without a renewal", "other", renew(-1), 0},
		{"another holder renewed", "other", renew(2), 3},
		{"read again without a renewal", "other", renew(2), 3},
		{"another holder renewed again", "other", renew(4), 5},
		{"released", "", renew(5), 5},
		{"released, read again", "", renew(5), 5},
		{"this replica acquired", "me", renew(7), 5},
		{"this replica renewed", "me", renew(8), 5},
		{"a new holder", "third", renew(8), 10},
		{"a new holder with the same renew time", "fourth", renew(8), 11},
	}
	for i, st := range steps {
		step := i + 1
		clock = t0.Add(time.Duration(step) * time.Second)
		_, before, ch := e.Status()
		e.observe(&resourcelock.LeaderElectionRecord{HolderIdentity: st.holder, RenewTime: st.renew})
		leading, seen, _ := e.Status()
		if leading {
			t.Fatalf("step %d (%s): observe made this replica lead", step, st.name)
		}
		var want time.Time
		if st.seen > 0 {
			want = t0.Add(time.Duration(st.seen) * time.Second)
		}
		if !seen.Equal(want) {
			t.Errorf("step %d (%s): seen = %v, want %v", step, st.name, seen, want)
		}
		if changed := !seen.Equal(before); closed(ch) != changed {
			t.Errorf("step %d (%s): Status channel closed = %t, want %t (seen changed: %t)", step, st.name, closed(ch), changed, changed)
		}
	}
}

func TestObservingLockReportsOnlyReads(t *testing.T) {
	client := fake.NewClientset()
	var got []*resourcelock.LeaderElectionRecord
	lock := &observingLock{
		Interface: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: leaseNamespace, Name: leaseName},
			Client:     client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: "me"},
		},
		observe: func(r *resourcelock.LeaderElectionRecord) { got = append(got, r) },
	}
	if _, _, err := lock.Get(t.Context()); !apierrors.IsNotFound(err) {
		t.Fatalf("Get of a missing Lease: %v, want NotFound", err)
	}
	if len(got) != 0 {
		t.Fatalf("a failed read was observed: %+v", got)
	}
	holder := "other"
	_, err := client.CoordinationV1().Leases(leaseNamespace).Create(t.Context(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: leaseNamespace, Name: leaseName},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, RenewTime: &metav1.MicroTime{Time: t0}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := lock.Get(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].HolderIdentity != "other" || !got[0].RenewTime.Time.Equal(t0) {
		t.Fatalf("observed %+v, want the Lease's record", got)
	}
}

// timing is an election's durations.
type timing struct{ lease, renew, retry time.Duration }

// short are the durations of a fast election.
var short = timing{lease: time.Second, renew: 500 * time.Millisecond, retry: 100 * time.Millisecond}

// longLease renews as often as short but lets a lease that is not
// renewed stay valid much longer than the tests wait: a replica that takes
// over within them did not wait for the lease to expire, and a leader
// slowed down by a loaded machine does not lose it.
var longLease = timing{lease: 60 * time.Second, renew: 10 * time.Second, retry: 100 * time.Millisecond}

type replica struct {
	id     string
	e      *Elector
	gauge  prometheus.Gauge
	cancel context.CancelFunc
	done   chan struct{}
}

func startReplica(t *testing.T, client kubernetes.Interface, id string, d timing) *replica {
	t.Helper()
	r := &replica{id: id, gauge: newGauge(), done: make(chan struct{})}
	r.e = New(Config{
		Client:        client.CoordinationV1(),
		Namespace:     leaseNamespace,
		Name:          leaseName,
		Identity:      id,
		LeaseDuration: d.lease,
		RenewDeadline: d.renew,
		RetryPeriod:   d.retry,
		Log:           discard(),
		Leader:        r.gauge,
	})
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	r.cancel = cancel
	go func() {
		defer close(r.done)
		r.e.Run(ctx)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the replica's Run and waits for it to return.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(within):
		t.Fatalf("%s: Run did not return after its context was canceled", r.id)
	}
}

func (r *replica) seen() time.Time {
	_, seen, _ := r.e.Status()
	return seen
}

// eventually advances the bubble's clock in steps until cond holds, and
// fails the test after within of it. Every caller runs in a synctest
// bubble, so this is not testutil.Eventually (which polls in real time):
// at each step every goroutine has done what it could (synctest.Wait,
// which also makes this panic outside a bubble).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
	}
}

func holderOf(t *testing.T, client kubernetes.Interface) string {
	t.Helper()
	l, err := client.CoordinationV1().Leases(leaseNamespace).Get(t.Context(), leaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get the Lease: %v", err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func TestSingleElectorLeads(t *testing.T) {
	// On a synctest bubble's clock: the lease, renewals and retries take
	// no real time, and a loaded machine cannot make a renewal late.
	synctest.Test(t, func(t *testing.T) {
		client := fake.NewClientset()
		r := startReplica(t, client, "pod-0", short)
		if got := testutil.ToFloat64(r.gauge); got != 0 {
			t.Fatalf("leader gauge before the election: %v, want 0", got)
		}
		_, _, ch := r.e.Status()
		eventually(t, "pod-0 leads", r.e.Leading)
		if !closed(ch) {
			t.Error("the Status channel was not closed when the replica started leading")
		}
		leading, seen, _ := r.e.Status()
		if !leading || !seen.IsZero() {
			t.Errorf("Status() = %t, %v; want leading and no other leader seen", leading, seen)
		}
		if got := testutil.ToFloat64(r.gauge); got != 1 {
			t.Errorf("leader gauge: %v, want 1", got)
		}
		if h := holderOf(t, client); h != "pod-0" {
			t.Errorf("Lease holder %q, want pod-0", h)
		}

		r.stop(t)
		if r.e.Leading() {
			t.Error("still leading after Run returned")
		}
		if got := testutil.ToFloat64(r.gauge); got != 0 {
			t.Errorf("leader gauge after Run returned: %v, want 0", got)
		}
		if h := holderOf(t, client); h != "" {
			t.Errorf("Lease holder after Run returned: %q, want none (released)", h)
		}
	})
}

func TestTwoElectors(t *testing.T) {
	// On a synctest bubble's clock: the lease, renewals and retries take
	// no real time, and a loaded machine cannot make a renewal late.
	synctest.Test(t, func(t *testing.T) {
		client := fake.NewClientset()
		a := startReplica(t, client, "pod-0", longLease)
		b := startReplica(t, client, "pod-1", longLease)

		eventually(t, "one replica leads", func() bool { return a.e.Leading() || b.e.Leading() })
		leader, follower := a, b
		if b.e.Leading() {
			leader, follower = b, a
		}
		onlyOne := func() {
			t.Helper()
			if a.e.Leading() && b.e.Leading() {
				t.Fatal("both replicas lead")
			}
		}
		onlyOne()
		if h := holderOf(t, client); h != leader.id {
			t.Errorf("Lease holder %q, want the leader %s", h, leader.id)
		}

		// The follower sees the leader renew: seen advances, and each advance
		// closes the channel Status returned before it.
		eventually(t, "the follower sees the leader alive", func() bool { onlyOne(); return !follower.seen().IsZero() })
		for range 3 {
			_, before, ch := follower.e.Status()
			select {
			case <-ch:
			case <-time.After(within):
				t.Fatalf("the follower's Status channel was not closed within %s", within)
			}
			onlyOne()
			if after := follower.seen(); !after.After(before) {
				t.Errorf("seen went from %v to %v, want later", before, after)
			}
		}
		if follower.e.Leading() || !leader.e.Leading() {
			t.Fatalf("leadership moved while the leader was renewing")
		}
		// A leader sees no other leader: its own renewals do not count.
		if s := leader.seen(); !s.IsZero() {
			t.Errorf("the leader's seen = %v, want zero", s)
		}
		if testutil.ToFloat64(leader.gauge) != 1 || testutil.ToFloat64(follower.gauge) != 0 {
			t.Errorf("leader gauges: leader %v, follower %v; want 1 and 0", testutil.ToFloat64(leader.gauge), testutil.ToFloat64(follower.gauge))
		}

		// Stopping the leader releases the Lease: the follower takes over long
		// before the lease (a minute) would have expired.
		leader.stop(t)
		if got := testutil.ToFloat64(leader.gauge); got != 0 {
			t.Errorf("stopped leader's gauge: %v, want 0", got)
		}
		eventually(t, "the follower takes over", follower.e.Leading)
		if got := testutil.ToFloat64(follower.gauge); got != 1 {
			t.Errorf("new leader's gauge: %v, want 1", got)
		}
		eventually(t, "the Lease names the new leader", func() bool { return holderOf(t, client) == follower.id })
	})
}
