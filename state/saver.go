package state

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Saver saves the state every interval while it runs, and once more when
// asked at shutdown. Saves never overlap, and the shutdown save is the last
// one written.
type Saver struct {
	path     string
	interval time.Duration
	collect  func() *File
	log      *slog.Logger
	now      func() time.Time

	// Generation, when set, returns a number that changes whenever the
	// state does; a periodic save is skipped while it stays the same.
	Generation func() uint64

	mu      sync.Mutex
	final   bool
	lastErr string
	saved   bool
	lastGen uint64

	saves    *prometheus.CounterVec
	size     prometheus.Gauge
	duration prometheus.Histogram
}

// NewSaver returns a Saver of the state collect returns. reg may be nil.
func NewSaver(path string, interval time.Duration, collect func() *File, log *slog.Logger, reg prometheus.Registerer) *Saver {
	s := &Saver{
		path: path, interval: interval, collect: collect, log: log, now: time.Now,
		saves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amtenant_state_saves_total",
			Help: "Saves of the state file, by result (success or error).",
		}, []string{"result"}),
		size: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "amtenant_state_file_bytes",
			Help: "Size of the state file after the last successful save.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "amtenant_state_save_duration_seconds",
			Help:    "Time to collect and write the state file.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}),
	}
	s.saves.WithLabelValues("success")
	s.saves.WithLabelValues("error")
	if reg != nil {
		reg.MustRegister(s.saves, s.size, s.duration)
	}
	return s
}

// Run saves every interval until ctx is done.
func (s *Saver) Run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.save(false)
		}
	}
}

// Final saves once more and stops later saves: call it at shutdown, after
// deliveries stopped, so that the file holds their outcome.
func (s *Saver) Final() error {
	return s.save(true)
}

func (s *Saver) save(final bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.final {
		return nil // a periodic save racing shutdown must not overwrite it
	}
	s.final = final
	var gen uint64
	if s.Generation != nil {
		gen = s.Generation()
		if !final && s.saved && gen == s.lastGen {
			return nil // nothing changed since the last save
		}
	}
	start := s.now()
	f := s.collect()
	f.SavedAt = start
	err := Save(s.path, f)
	s.duration.Observe(s.now().Sub(start).Seconds())
	if err != nil {
		s.saves.WithLabelValues("error").Inc()
		if msg := err.Error(); msg != s.lastErr {
			s.log.Error("Saving the delivery state failed; a restart may send notifications again", "file", s.path, "err", msg)
			s.lastErr = msg
		}
		return err
	}
	s.saves.WithLabelValues("success").Inc()
	s.saved, s.lastGen = true, gen
	if s.lastErr != "" {
		s.log.Info("Saving the delivery state works again", "file", s.path)
		s.lastErr = ""
	}
	if fi, err := os.Stat(s.path); err == nil {
		s.size.Set(float64(fi.Size()))
	}
	return nil
}
