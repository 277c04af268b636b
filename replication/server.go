package replication

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amtenant/amtenant/state"
)

// Server streams this replica's notification log to followers while it
// leads. Record is the senders' recorder: it never blocks, and a follower
// that falls behind by more than its buffer is disconnected (it connects
// again and starts over from a snapshot).
type Server struct {
	identity string
	store    Store
	lead     Leadership
	log      *slog.Logger
	now      func() time.Time

	leading atomic.Bool
	// term counts the changes of leadership: a loss and a regain between
	// two looks of a stream are still a new term, with a new snapshot.
	term atomic.Uint64

	mu   sync.Mutex
	subs map[*subscriber]struct{}
	// streams counts subs, for Wanted without the lock.
	streams atomic.Int32
}

// subscriberBuffer is how many records a follower's stream may be behind.
const subscriberBuffer = 8192

// maxSubscribers bounds the streams served at once: each begins with a
// snapshot, so that connections do not cost the leader without bound.
const maxSubscribers = 16

// writeTimeout bounds one write to a follower.
const writeTimeout = 10 * time.Second

type subscriber struct {
	records chan state.Record
	// changed is signaled when this replica's leadership changes.
	changed chan struct{}
	// behind is set when a record did not fit in the buffer.
	behind atomic.Bool
}

// NewServer returns a Server of store's log; Run must run for it to know
// the leadership.
func NewServer(identity string, store Store, lead Leadership, log *slog.Logger) *Server {
	return &Server{identity: identity, store: store, lead: lead, log: log, now: time.Now, subs: map[*subscriber]struct{}{}}
}

// Run follows this replica's leadership until ctx is done.
func (s *Server) Run(ctx context.Context) {
	for {
		leading, _, changed := s.lead.Status()
		if s.leading.Load() != leading {
			// The leadership first, then the term: a stream that reads the
			// term first and sees the new one sees the new leadership.
			s.leading.Store(leading)
			s.term.Add(1)
			s.mu.Lock()
			for sub := range s.subs {
				select {
				case sub.changed <- struct{}{}:
				default:
				}
			}
			s.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// Wanted reports whether a record would go anywhere: this replica leads
// and a follower reads its stream. The senders make no record otherwise.
func (s *Server) Wanted() bool { return s.leading.Load() && s.streams.Load() > 0 }

// Record queues a change of the log for every follower, while leading.
func (s *Server) Record(rec state.Record) {
	if !s.leading.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		select {
		case sub.records <- rec:
		default:
			sub.behind.Store(true)
		}
	}
}

// ServeHTTP streams to one follower until it goes away.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	sub := &subscriber{records: make(chan state.Record, subscriberBuffer), changed: make(chan struct{}, 1)}
	s.mu.Lock()
	if len(s.subs) >= maxSubscribers {
		s.mu.Unlock()
		http.Error(w, fmt.Sprintf("already streaming to %d followers", maxSubscribers), http.StatusServiceUnavailable)
		return
	}
	s.subs[sub] = struct{}{}
	s.streams.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.subs, sub)
		s.streams.Add(-1)
		s.mu.Unlock()
	}()
	peer := r.Header.Get(identityHeader)
	log := s.log.With("follower", peer, "remote", r.RemoteAddr)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	send := func(m message) bool {
		m.SentAt = s.now()
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := enc.Encode(&m); err != nil {
			log.Debug("Replication stream closed", "err", err)
			return false
		}
		return true
	}
	flush := func() bool {
		if err := rc.Flush(); err != nil {
			log.Debug("Replication stream closed", "err", err)
			return false
		}
		return true
	}
	term := s.term.Load()
	leading := s.leading.Load()
	if !send(message{Kind: kindHello, Identity: s.identity, Leading: leading}) {
		return
	}
	var seq uint64
	snapshot := func() bool {
		seq = 0
		if !send(message{Kind: kindBegin, Leading: true}) {
			return false
		}
		for _, t := range s.store.Export(s.now()) {
			if !send(message{Kind: kindTarget, Leading: true, Target: &t}) {
				return false
			}
		}
		return send(message{Kind: kindEnd, Leading: true})
	}
	if leading && !snapshot() {
		return
	}
	if !flush() {
		return
	}
	log.Info("A follower reads this replica's delivery record", "leading", leading)
	tick := time.NewTicker(Heartbeat)
	defer tick.Stop()
	for {
		if sub.behind.Load() {
			log.Warn("A follower fell behind this replica's delivery record; it starts over from a snapshot")
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-sub.changed:
			now := s.term.Load()
			if now == term {
				continue
			}
			term = now
			if leading {
				// The term that ends: what it recorded goes out first.
				for n := len(sub.records); n > 0; n-- {
					rec := <-sub.records
					seq++
					if !send(message{Kind: kindRecord, Leading: true, Seq: seq, Record: &rec}) {
						return
					}
				}
			}
			leading = s.leading.Load()
			if leading {
				// A new term: whatever is queued belongs to a snapshot
				// that starts now (Export follows).
				for len(sub.records) > 0 {
					<-sub.records
				}
				if !snapshot() {
					return
				}
			} else if !send(message{Kind: kindHeartbeat, Leading: false}) {
				return
			}
		case rec := <-sub.records:
			if !leading {
				continue
			}
			seq++
			if !send(message{Kind: kindRecord, Leading: true, Seq: seq, Record: &rec}) {
				return
			}
			// What else is queued goes in the same write.
			for n := len(sub.records); n > 0; n-- {
				rec := <-sub.records
				seq++
				if !send(message{Kind: kindRecord, Leading: true, Seq: seq, Record: &rec}) {
					return
				}
			}
		case <-tick.C:
			if !send(message{Kind: kindHeartbeat, Leading: leading}) {
				return
			}
		}
		if !flush() {
			return
		}
	}
}

// identityHeader names the follower, for the leader's log.
const identityHeader = "X-Amtenant-Identity"
