package election

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Config configures an Elector.
type Config struct {
	Client    coordinationv1client.CoordinationV1Interface
	Namespace string
	// Name is the Lease's name.
	Name string
	// Identity names this replica in the Lease: the pod's name.
	Identity      string
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
	Log           *slog.Logger
	// Leader is set to 1 while this replica leads, 0 otherwise.
	Leader prometheus.Gauge
}

// Elector runs the election and reports its state. It implements
// senders.Leadership.
type Elector struct {
	cfg Config
	now func() time.Time

	mu      sync.Mutex
	leading bool
	// seen is the last local time a renewal by another holder was
	// observed.
	seen    time.Time
	changed chan struct{}
	// The record as last read, to notice renewals.
	observed   bool
	holder     string
	renewTime  time.Time
	lastLeader string
}

// New returns an Elector; Run starts it.
func New(cfg Config) *Elector {
	cfg.Leader.Set(0)
	return &Elector{cfg: cfg, now: time.Now, changed: make(chan struct{})}
}

// Status returns whether this replica leads, when another leader was last
// seen alive, and a channel closed at the next change.
func (e *Elector) Status() (bool, time.Time, <-chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading, e.seen, e.changed
}

// Leader returns the identity of the replica that leads, as last
// observed (this replica's own while it leads); empty before the first.
func (e *Elector) Leader() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leading {
		return e.cfg.Identity
	}
	return e.holder
}

// Leading reports whether this replica leads.
func (e *Elector) Leading() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading
}

// broadcastLocked wakes everyone waiting on Status's channel.
func (e *Elector) broadcastLocked() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// setLeading sets the leadership; with a during context, only while that
// context is live (checked under the lock).
func (e *Elector) setLeading(v bool, during context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if (during != nil && during.Err() != nil) || e.leading == v {
		return
	}
	e.leading = v
	if v {
		e.cfg.Leader.Set(1)
	} else {
		e.cfg.Leader.Set(0)
	}
	e.broadcastLocked()
}

// observe records a read of the Lease. A renewal (or acquisition) by
// another replica since the previous read proves that replica alive now.
// The first read proves nothing: the record may be that of a replica that
// died a moment ago.
func (e *Elector) observe(rec *resourcelock.LeaderElectionRecord) {
	e.mu.Lock()
	defer e.mu.Unlock()
	renew := rec.RenewTime.Time
	changed := !e.observed || rec.HolderIdentity != e.holder || !renew.Equal(e.renewTime)
	first := !e.observed
	e.observed, e.holder, e.renewTime = true, rec.HolderIdentity, renew
	if first || !changed || rec.HolderIdentity == "" || rec.HolderIdentity == e.cfg.Identity {
		return
	}
	e.seen = e.now()
	e.broadcastLocked()
}

// Run takes part in the election until ctx is done, then gives the Lease
// up if it holds it, so that another replica takes over at once. A replica
// that loses the Lease (it could not renew it in time) follows and stands
// for election again.
func (e *Elector) Run(ctx context.Context) {
	lock := &observingLock{
		Interface: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: e.cfg.Namespace, Name: e.cfg.Name},
			Client:     e.cfg.Client,
			LockConfig: resourcelock.ResourceLockConfig{Identity: e.cfg.Identity},
		},
		observe: e.observe,
	}
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   e.cfg.LeaseDuration,
			RenewDeadline:   e.cfg.RenewDeadline,
			RetryPeriod:     e.cfg.RetryPeriod,
			ReleaseOnCancel: true,
			Name:            e.cfg.Name,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(leadCtx context.Context) {
					// client-go runs this in its own goroutine and cancels
					// leadCtx before OnStoppedLeading: a leadership already
					// lost must not be set after it ended.
					if leadCtx.Err() != nil {
						return
					}
					e.cfg.Log.Info("Leading: this replica delivers notifications", "lease", e.cfg.Namespace+"/"+e.cfg.Name, "identity", e.cfg.Identity)
					e.setLeading(true, leadCtx)
				},
				OnStoppedLeading: func() {
					if e.Leading() {
						e.cfg.Log.Warn("No longer leading: following in shadow", "lease", e.cfg.Namespace+"/"+e.cfg.Name)
					}
					e.setLeading(false, nil)
				},
				OnNewLeader: func(identity string) {
					if identity == e.cfg.Identity {
						return
					}
					e.mu.Lock()
					changed := identity != e.lastLeader
					e.lastLeader = identity
					e.mu.Unlock()
					if changed {
						e.cfg.Log.Info("Following: another replica delivers notifications; this one tracks them in shadow", "leader", identity)
					}
				},
			},
		})
		if err != nil {
			// Only for an invalid configuration, which the flags exclude.
			e.cfg.Log.Error("Leader election cannot run", "err", err)
			return
		}
		le.Run(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(e.cfg.RetryPeriod):
		}
	}
}

// observingLock reports every successful read of the Lease.
type observingLock struct {
	resourcelock.Interface
	observe func(*resourcelock.LeaderElectionRecord)
}

func (l *observingLock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	rec, raw, err := l.Interface.Get(ctx)
	if err == nil && rec != nil {
		l.observe(rec)
	}
	return rec, raw, err
}
