package main

import (
	"log/slog"
	"os"
	"runtime/debug"
)

// defaultGCPercent is the garbage collector's target unless GOGC is set.
// Measured with make bench (a 10k-alert storm over 101 channels): 50
// instead of Go's 100 lowers the peak RSS by a quarter (229 → 171 MiB)
// for no measurable CPU, since a steady poll allocates little; 25 costs a
// fifth more CPU for another 15 %.
const defaultGCPercent = 50

// setGCPercent applies defaultGCPercent, unless GOGC says otherwise.
func setGCPercent(log *slog.Logger) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	debug.SetGCPercent(defaultGCPercent)
	log.Debug("Garbage collector target set", "gogc", defaultGCPercent)
}
