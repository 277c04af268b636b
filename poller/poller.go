package poller

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/state"
)

// Source is one Alertmanager to poll. *Client implements it.
type Source interface {
	Poll(ctx context.Context) (Snapshot, error)
}

// Sink receives the tracker's verdicts after every successful poll. The
// slice is the sink's to keep: the tracker makes a new one for every call
// and never changes it afterwards. The values are shared from poll to
// poll while they do not change, and are never written again, except a
// new value's Tenant by the router (see alert.Incarnation.Unrouted).
type Sink interface {
	Observe(now time.Time, incs []*alert.Incarnation)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(now time.Time, incs []*alert.Incarnation)

// Observe calls f.
func (f SinkFunc) Observe(now time.Time, incs []*alert.Incarnation) { f(now, incs) }

// Config configures a Poller.
type Config struct {
	// Interval is the time between polls, and with a Budget the shortest.
	Interval time.Duration
	// Budget, when above zero, is the share of one CPU that Alertmanager
	// may spend serving the polls: the interval stretches to a poll's
	// duration divided by the budget, up to MaxInterval.
	Budget      float64
	MaxInterval time.Duration
	Timeout     time.Duration
	Tracker     TrackerConfig
}

// nextInterval is the interval after polls that took avg on average
// (their duration is an upper bound of Alertmanager's work serving them:
// building the response, encoding and sending it).
func (c Config) nextInterval(avg time.Duration) time.Duration {
	if c.Budget <= 0 {
		return c.Interval
	}
	d := time.Duration(float64(avg) / c.Budget)
	if c.MaxInterval > c.Interval && d > c.MaxInterval {
		d = c.MaxInterval
	}
	return max(d, c.Interval)
}

// Poller polls a Source at a fixed interval, one poll at a time, and feeds
// successful polls through its Tracker to a Sink.
type Poller struct {
	cfg     Config
	src     Source
	sink    Sink
	log     *slog.Logger
	m       *metrics
	tracker *Tracker
	now     func() time.Time

	lastSuccess atomic.Int64 // unix nanoseconds
	// interval is the current interval (nanoseconds), avg the smoothed
	// poll duration it comes from.
	interval atomic.Int64
	avg      time.Duration
	logged   time.Duration // the interval last logged
	lastErr  string
	// skipLogged are the skipped alerts already logged (fingerprint and
	// error), so that one logs once, not every poll.
	skipLogged map[string]string

	// mu guards the tracker between the poll loop and Find.
	mu sync.Mutex
}

// New returns a Poller. reg may be nil.
func New(cfg Config, src Source, sink Sink, log *slog.Logger, reg prometheus.Registerer) *Poller {
	m := newMetrics(reg)
	p := &Poller{
		cfg:     cfg,
		src:     src,
		sink:    sink,
		log:     log,
		m:       m,
		tracker: newTracker(cfg.Tracker, log, m),
		now:     time.Now,
	}
	p.setInterval(cfg.Interval)
	p.logged = cfg.Interval
	return p
}

// Interval returns the current time between polls: --poll.interval, or
// longer while polls cost Alertmanager more than the budget.
func (p *Poller) Interval() time.Duration {
	if p.cfg.Budget <= 0 {
		return p.cfg.Interval
	}
	return time.Duration(p.interval.Load())
}

func (p *Poller) setInterval(d time.Duration) {
	p.interval.Store(int64(d))
	p.m.interval.Set(d.Seconds())
}

// Run polls until ctx is done. The first poll is immediate; each next one
// starts an interval after the previous one started. If a poll takes
// longer than that, the next one starts right after it: polls never
// overlap.
func (p *Poller) Run(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		start := p.now()
		p.PollOnce(ctx)
		t.Reset(max(p.Interval()-p.now().Sub(start), 0))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// adapt updates the interval from a poll's duration.
func (p *Poller) adapt(d time.Duration) {
	if p.cfg.Budget <= 0 {
		return
	}
	if p.avg == 0 {
		p.avg = d
	} else {
		p.avg = (p.avg + d) / 2
	}
	next := p.cfg.nextInterval(p.avg)
	p.setInterval(next)
	// Logged when it changes by more than a quarter, or back to the floor.
	if l := p.logged; next != l && (next > l*5/4 || next < l*4/5 || next == p.cfg.Interval) {
		p.log.Info("Poll interval adapted to Alertmanager's cost per poll", "interval", next.Round(time.Second/10),
			"poll_duration", p.avg.Round(time.Millisecond), "budget", p.cfg.Budget)
		p.logged = next
	}
}

// PollOnce runs one poll with the configured timeout and reports whether it
// succeeded.
func (p *Poller) PollOnce(ctx context.Context) bool {
	start := p.now()
	pctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	snap, err := p.src.Poll(pctx)
	cancel()
	took := p.now().Sub(start)
	p.m.pollDuration.Observe(took.Seconds())
	if ctx.Err() != nil {
		return false // shutting down; not a failure of Alertmanager
	}
	p.adapt(took)
	p.m.polls.WithLabelValues(Result(err)).Inc()
	if err != nil {
		// Logged once per change of error so that an Alertmanager that is
		// down for an hour does not write 360 identical lines.
		if msg := err.Error(); msg != p.lastErr {
			p.log.Warn("Polling Alertmanager failed; alerts are kept as they were until a poll succeeds", "err", msg)
			p.lastErr = msg
		}
		return false
	}
	if p.lastErr != "" {
		p.log.Info("Polling Alertmanager works again")
		p.lastErr = ""
	}
	p.reportSkipped(snap.Skipped)
	now := p.now()
	p.mu.Lock()
	incs := p.tracker.Observe(now, snap)
	p.mu.Unlock()
	p.lastSuccess.Store(now.UnixNano())
	p.sink.Observe(now, incs)
	return true
}

// reportSkipped logs each alert that could not be read once (again if its
// error changes) and sets amtenant_alerts_skipped.
func (p *Poller) reportSkipped(skipped []Skipped) {
	counts := map[string]float64{SkipOversized: 0, SkipMalformed: 0}
	now := make(map[string]string, len(skipped))
	for _, s := range skipped {
		counts[s.Reason]++
		key := s.Fingerprint
		if key == "" {
			key = "?" // unnamed ones share one line
		}
		msg := s.Err.Error()
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		now[key] = msg
		if p.skipLogged[key] != msg {
			p.log.Warn("Skipping an alert that cannot be read; the other alerts of the poll are used, and a known alert is not resolved for it",
				"fingerprint", s.Fingerprint, "reason", s.Reason, "err", msg)
		}
	}
	p.skipLogged = now
	for r, n := range counts {
		p.m.skipped.WithLabelValues(r).Set(n)
	}
}

// LastSuccess returns the time of the last successful poll, zero if none.
func (p *Poller) LastSuccess() time.Time {
	n := p.lastSuccess.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Export returns the tracker's state for the state file.
func (p *Poller) Export() state.Tracker {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tracker.Export()
}

// Restore loads a saved tracker state before the first poll and hands its
// incarnations to the sink, so that channels built before that poll
// already know what they were told.
func (p *Poller) Restore(st state.Tracker) int {
	p.mu.Lock()
	incs := p.tracker.Import(st)
	p.mu.Unlock()
	p.sink.Observe(p.now(), incs)
	return len(incs)
}

// Generation changes whenever the tracker's saved state would: the state
// file is written only then.
func (p *Poller) Generation() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tracker.Generation()
}
