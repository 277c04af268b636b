package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amtenant/amtenant/election"
	"github.com/amtenant/amtenant/explain"
	"github.com/amtenant/amtenant/replication"
	"github.com/amtenant/amtenant/senders"
)

// replicated is a replica's part in replication: the stream it serves and
// the copy it keeps of the leader's.
type replicated struct {
	server *replication.Server
	client *replication.Client
	ln     net.Listener
	srv    *http.Server
	log    *slog.Logger
}

// newReplication listens on --replication.listen-address and wires the
// server and client to the manager, before channels are applied.
func newReplication(o *Options, elector *election.Elector, mgr *senders.Manager, log *slog.Logger, reg prometheus.Registerer) (*replicated, error) {
	log = log.With("component", "replication")
	ln, err := net.Listen("tcp", o.ReplicationListenAddress)
	if err != nil {
		return nil, fmt.Errorf("listen on --replication.listen-address: %w", err)
	}
	id := podName()
	r := &replicated{
		server: replication.NewServer(id, mgr, elector, log),
		client: replication.NewClient(id, o.ReplicationPeers, mgr, elector, log, reg),
		ln:     ln,
		log:    log,
	}
	mux := http.NewServeMux()
	mux.Handle(replication.Path, r.server)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	mgr.SetRecorder(r.server.Record, r.server.Wanted)
	mgr.SetReplication(r.client, r.client.Fallback)
	return r, nil
}

func (r *replicated) run(ctx context.Context, errc chan<- error) {
	go r.server.Run(ctx)
	go r.client.Run(ctx)
	go func() {
		if err := r.srv.Serve(r.ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("replication server: %w", err)
		}
	}()
	r.log.Info("Replicating the delivery record", "listen", r.ln.Addr().String())
}

// replicaOf returns what explain says of this replica's part; nil
// without leader election.
func replicaOf(e *election.Elector, r *replicated) func() *explain.Replica {
	if e == nil {
		return nil
	}
	return func() *explain.Replica {
		rep := &explain.Replica{At: time.Now(), Leading: e.Leading(), Leader: e.Leader()}
		if r != nil {
			st := r.client.Status()
			rep.Replication = &st
		}
		return rep
	}
}

func (r *replicated) stop() {
	// Streams never end by themselves: close them.
	_ = r.srv.Close()
}
