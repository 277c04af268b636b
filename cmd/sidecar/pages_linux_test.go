package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// rssFile is the process's resident file-backed memory, in kB.
func rssFile(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// The binary's pages touched so far leave the RSS, and the process goes
// on running the code whose pages went (they come back on use).
func TestReleaseStartupPages(t *testing.T) {
	before := rssFile(t)
	released, err := releaseStartupPages()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFile(t)
	if released == 0 || after >= before {
		t.Errorf("released %d bytes of mappings; RssFile %d → %d kB, want it lower", released, before, after)
	}
	// Code whose pages went still runs.
	t.Setenv("POD_NAMESPACE", "monitoring")
	if err := parse(t, "--objects.dir="+t.TempDir()).Validate(); err != nil {
		t.Errorf("options after the release: %v", err)
	}
	t.Logf("RssFile %d → %d kB (%d MiB of mappings)", before, after, released>>20)
}
