package main

import (
	"log/slog"
	"os"
	"runtime/debug"
	"testing"
)

func TestSetGCPercent(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	log := slog.New(slog.DiscardHandler)

	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	setGCPercent(log)
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Errorf("GOGC unset: the target is %d, want %d", got, defaultGCPercent)
	}

	t.Setenv("GOGC", "100")
	setGCPercent(log)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC=100 set: the target is %d, want the environment's 100", got)
	}
}
