package main

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"

	"github.com/amtenant/amtenant/election"
	"github.com/amtenant/amtenant/poller"
	"github.com/amtenant/amtenant/senders"
	"github.com/amtenant/amtenant/state"
)

// stateSaveInterval is how often the delivery state is saved: a SIGKILL
// can lose at most this much of it (the notifications delivered meanwhile
// are sent again after the restart).
const stateSaveInterval = time.Second

// restoreState loads --state.file into the poller and the senders, and
// returns the saver that keeps it up to date. A file that cannot be used
// is set aside and the sidecar starts fresh: it never refuses to start.
func restoreState(o *Options, p *poller.Poller, mgr *senders.Manager, log *slog.Logger, reg prometheus.Registerer) *state.Saver {
	log = log.With("component", "state")
	f, err := state.Load(o.StateFile, time.Now())
	switch {
	case errors.Is(err, state.ErrSetAside):
		log.Warn("Starting with an empty delivery state: the state file could not be used", "err", err)
	case err != nil:
		log.Warn("Starting with an empty delivery state: the state file could not be read", "file", o.StateFile, "err", err)
	case f == nil:
		log.Info("No state file yet; starting with an empty delivery state", "file", o.StateFile)
	default:
		// Channels are built after this, and take their saved state then;
		// the tracker's incarnations are routed before the first poll.
		mgr.Restore(f.Targets, f.SavedAt)
		n := p.Restore(f.Tracker)
		log.Info("Delivery state restored", "file", o.StateFile, "saved_at", f.SavedAt, "incarnations", n, "integrations", len(f.Targets))
	}
	saver := state.NewSaver(o.StateFile, stateSaveInterval, func() *state.File {
		// The senders first: an incarnation the tracker knows and the
		// senders do not is sent after a restart, never skipped.
		targets := mgr.Export(time.Now())
		return &state.File{Targets: targets, Tracker: p.Export()}
	}, log, reg)
	// The generation is read before collecting: a change during the
	// collection makes the next tick save again.
	saver.Generation = func() uint64 { return mgr.Generation() + p.Generation() }
	return saver
}

// newElector prepares the leader election on the source's API server.
func newElector(o *Options, src *source, leader prometheus.Gauge, log *slog.Logger) (*election.Elector, error) {
	if src.rest == nil {
		return nil, errors.New("--leader-elect needs the Kubernetes API")
	}
	cfg := rest.CopyConfig(src.rest)
	// A hanging request must not outlast the renew deadline.
	cfg.Timeout = o.LeaderElectRenewDeadline
	cfg.UserAgent += " leader-election"
	client, err := coordinationv1client.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("leader election client: %w", err)
	}
	return election.New(election.Config{
		Client:        client,
		Namespace:     o.Namespace,
		Name:          o.LeaderElectLeaseName,
		Identity:      podName(),
		LeaseDuration: o.LeaderElectLeaseDuration,
		RenewDeadline: o.LeaderElectRenewDeadline,
		RetryPeriod:   o.LeaderElectRetryPeriod,
		Log:           log.With("component", "election"),
		Leader:        leader,
	}), nil
}
