package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime/debug"
	"time"
)

// defaultGCPercent is the garbage collector's target unless GOGC is set.
// Measured with bench --local-only, one binary, alternately: 25 instead
// of 50 lowers the peak RSS by 11-16 % (a 10k-alert storm over 101
// channels 118 → 101 MiB, one channel 79 → 70 MiB, 50k alerts 317 → 267
// MiB) for no CPU the run could tell apart (0.100 and 0.092 of
// Alertmanager's at 10k alerts, 0.119 and 0.112 at 50k): a steady poll
// allocates about 120 bytes per alert, so the collector runs rarely
// whatever its target. (Go's 100 instead of 50 had cost a quarter more.)
const defaultGCPercent = 25

// setGCPercent applies defaultGCPercent, unless GOGC says otherwise.
func setGCPercent(log *slog.Logger) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	debug.SetGCPercent(defaultGCPercent)
	log.Debug("Garbage collector target set", "gogc", defaultGCPercent)
}

// releaseAfterStart releases the binary's start-up pages
// (releaseStartupPages) once started holds: the channels are built and a
// poll was routed, so that what steady work uses has been touched again.
func releaseAfterStart(ctx context.Context, started func() bool, log *slog.Logger) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for !started() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	released, err := releaseStartupPages()
	switch {
	case errors.Is(err, errors.ErrUnsupported):
	case err != nil:
		log.Warn("Could not release the binary's start-up pages; the RSS stays higher, nothing else changes", "err", err)
	default:
		log.Debug("Released the binary's start-up pages", "mapped_mib", released>>20)
	}
}
