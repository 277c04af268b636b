package replication

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Client keeps this replica's copy of the leader's notification log from
// the peers' streams. It implements senders.Replication.
type Client struct {
	identity string
	peers    []string
	store    Store
	lead     Leadership
	log      *slog.Logger
	now      func() time.Time
	http     *http.Client
	m        *metrics

	mu sync.Mutex
	// source is the stream whose records are applied: the last one to
	// begin a snapshot while leading. synced is set once its snapshot
	// ended, and cleared when it ends.
	source *stream
	synced bool
	// syncedSince is when the copy last became complete; lost is the last
	// message of the source before the copy stopped being complete.
	syncedSince, lost time.Time
	changed           chan struct{}
}

// maxLine bounds one message: a snapshot is sent one integration at a
// time, and an integration's log at 50,000 alerts is about 1 MB.
const maxLine = 64 << 20

// NewClient returns a Client reading peers (host:port); reg may be nil.
func NewClient(identity string, peers []string, store Store, lead Leadership, log *slog.Logger, reg prometheus.Registerer) *Client {
	c := &Client{
		identity: identity, peers: peers, store: store, lead: lead, log: log, now: time.Now,
		http: &http.Client{Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			ResponseHeaderTimeout: 10 * time.Second,
			DisableCompression:    true,
		}},
		changed: make(chan struct{}),
	}
	c.m = newMetrics(c, reg)
	return c
}

// Synced reports whether the copy is complete up to now (see
// senders.Replication).
func (c *Client) Synced() (bool, time.Time, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.synced, c.lost, c.changed
}

// Status is what explain says of the copy.
type Status struct {
	// Leader is the identity of the replica whose record is copied.
	Leader string `json:"leader,omitempty"`
	Synced bool   `json:"synced"`
	// SyncedSince is when the copy last became complete; LastMessage the
	// last message from the leader; Lost when the copy last stopped being
	// complete.
	SyncedSince time.Time `json:"syncedSince,omitzero"`
	LastMessage time.Time `json:"lastMessage,omitzero"`
	Lost        time.Time `json:"lost,omitzero"`
	Peers       int       `json:"peers"`
}

// Status returns the copy's state.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := Status{Synced: c.synced, SyncedSince: c.syncedSince, Lost: c.lost, Peers: len(c.peers)}
	if c.source != nil {
		st.Leader, st.LastMessage = c.source.identity, c.source.last
	}
	return st
}

func (c *Client) broadcastLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
	c.m.synced.Set(b2f(c.synced))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Run reads every peer's stream until ctx is done. When this replica
// stops leading it reads them all again from their start, so that a
// snapshot by the new leader is not missed.
func (c *Client) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		leading, _, changed := c.lead.Status()
		termCtx, cancel := context.WithCancel(ctx)
		for _, p := range c.peers {
			wg.Add(1)
			go func() { defer wg.Done(); c.follow(termCtx, p) }()
		}
		// Wait for the end of this leadership (or of following: nothing
		// to do but keep reading).
		for done := false; !done; {
			select {
			case <-ctx.Done():
				cancel()
				return
			case <-changed:
				now, _, next := c.lead.Status()
				changed = next
				done = leading && !now
				leading = now
			}
		}
		cancel()
		wg.Wait()
	}
}

// errSelf ends the stream of this replica's own address.
var errSelf = errors.New("this replica's own address")

// follow reads one peer's stream, connecting again after a failure.
func (c *Client) follow(ctx context.Context, peer string) {
	const minBackoff, maxBackoff = 200 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	var lastErr string
	for ctx.Err() == nil {
		st := &stream{peer: peer}
		start := c.now()
		err := c.read(ctx, st)
		c.ended(st, err)
		switch {
		case errors.Is(err, errSelf):
			c.log.Debug("Skipping this replica's own address among the peers", "peer", peer)
			return
		case ctx.Err() != nil:
			return
		}
		if msg := err.Error(); msg != lastErr {
			c.log.Warn("Replication stream from a peer ended; reconnecting", "peer", peer, "err", msg)
			lastErr = msg
		}
		if c.now().Sub(start) > maxBackoff {
			backoff = minBackoff // it worked for a while
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// read reads one connection to a peer until it ends.
func (c *Client) read(ctx context.Context, st *stream) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+st.peer+Path, nil)
	if err != nil {
		return err
	}
	req.Header.Set(identityHeader, c.identity)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("peer answered %s", resp.Status)
	}
	// A stream silent for three heartbeats is dead (a peer whose node
	// vanished sends no FIN).
	idle := time.AfterFunc(3*Heartbeat, func() { cancel(errors.New("no heartbeat for 3s")) })
	defer idle.Stop()
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(line) > maxLine {
				return fmt.Errorf("a message longer than %d MiB", maxLine>>20)
			}
			continue
		}
		if err != nil {
			if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
				return cause
			}
			return err
		}
		idle.Reset(3 * Heartbeat)
		var m message
		if err := json.Unmarshal(bytes.TrimSpace(line), &m); err != nil {
			return fmt.Errorf("unreadable message: %w", err)
		}
		line = line[:0]
		if cap(line) > 1<<20 {
			line = nil // a large snapshot part: not kept for the stream's life
		}
		if err := c.handle(st, &m); err != nil {
			return err
		}
	}
}

// stream is one connection to a peer.
type stream struct {
	peer, identity string
	// inSnapshot is set between a snapshot's begin and end; seq is the
	// last record applied.
	inSnapshot bool
	seq        uint64
	// last is when its last message arrived.
	last time.Time
}

// handle applies one message of st. An error ends the stream.
func (c *Client) handle(st *stream, m *message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	st.last = now
	if m.Kind != kindHello && m.Kind != kindHeartbeat {
		if leading, _, _ := c.lead.Status(); leading {
			// This replica leads: its log is its own. (Run reads every
			// stream afresh when it follows again.)
			c.m.ignored.Inc()
			return nil
		}
	}
	switch m.Kind {
	case kindHello:
		if m.Identity == c.identity {
			return errSelf
		}
		st.identity = m.Identity
	case kindHeartbeat:
		if st == c.source && !m.Leading {
			c.loseLocked(now, "the leader stepped down")
		}
	case kindBegin:
		st.inSnapshot, st.seq = true, 0
		if c.source != st {
			if c.source != nil {
				c.loseLocked(c.source.last, "another replica leads now")
			}
			c.source = st
			c.log.Info("Copying the leader's delivery record", "leader", st.identity, "peer", st.peer)
		}
		if c.synced {
			c.synced, c.lost = false, now
			c.broadcastLocked()
		}
	case kindTarget:
		if st != c.source || !st.inSnapshot || m.Target == nil {
			c.m.ignored.Inc()
			return nil
		}
		c.store.ApplyTarget(*m.Target, now)
	case kindEnd:
		if st != c.source || !st.inSnapshot {
			return nil
		}
		st.inSnapshot = false
		c.synced, c.syncedSince = true, now
		c.m.snapshots.Inc()
		c.broadcastLocked()
	case kindRecord:
		c.m.received.Inc()
		switch {
		case st != c.source || st.inSnapshot || m.Record == nil:
			// Not the leader's stream (a replica that led before), or
			// malformed.
			c.m.ignored.Inc()
		case m.Seq <= st.seq:
			c.m.ignored.Inc() // a duplicate
		case m.Seq != st.seq+1:
			c.loseLocked(st.last, "")
			return fmt.Errorf("records %d to %d are missing; starting over from a snapshot", st.seq+1, m.Seq-1)
		default:
			st.seq = m.Seq
			c.store.ApplyRecord(*m.Record, now)
			c.m.applied.Inc()
			c.m.lag.Observe(max(now.Sub(m.SentAt), 0).Seconds())
		}
	}
	return nil
}

// ended forgets a stream that ended.
func (c *Client) ended(st *stream, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st == c.source {
		reason := "the stream ended"
		if err != nil {
			reason = err.Error()
		}
		c.loseLocked(st.last, reason)
	}
}

// loseLocked ends the copy: the source's records are no longer applied.
func (c *Client) loseLocked(last time.Time, reason string) {
	if c.source == nil {
		return
	}
	if reason != "" {
		c.log.Warn("The copy of the leader's delivery record is incomplete: notifications are counted as the leader's by the takeover window until it is complete again", "leader", c.source.identity, "reason", reason)
	}
	c.source = nil
	if c.synced {
		c.lost = last
	}
	c.synced = false
	c.m.losses.Inc()
	c.broadcastLocked()
}
