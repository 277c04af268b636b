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

// Only the binary's read-only private mappings without an anonymous page
// are released: a relocated (written) read-only range, a writable one, a
// shared one and another file's are left alone.
func TestCleanMappings(t *testing.T) {
	const smaps = `00400000-024e7000 r-xp 00000000 fe:00 10028913                           /bin/sidecar
Size:              34716 kB
Rss:               17948 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
024e7000-04bd8000 r--p 020e7000 fe:00 10028913                           /bin/sidecar
Size:              39876 kB
Anonymous:             0 kB
04bd8000-04c94000 r--p 047d8000 fe:00 10028913                           /bin/sidecar
Size:                752 kB
Anonymous:           752 kB
04c94000-04d00000 rw-p 04894000 fe:00 10028913                           /bin/sidecar
Anonymous:           400 kB
05000000-05001000 r--s 00000000 fe:00 10028913                           /bin/sidecar
Anonymous:             0 kB
7f5fdf8cc000-7f5fdfa22000 r-xp 00026000 fe:00 326269                     /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             0 kB
7f5fdfa22000-7f5fdfa23000 r--p 00000000 00:00 0 
Anonymous:             4 kB
7f6000000000-7f6000001000 r-xp 00000000 fe:00 1                          /bin/sidecar (deleted)
Anonymous:             0 kB
`
	got, err := cleanMappings(strings.NewReader(smaps), "/bin/sidecar")
	if err != nil {
		t.Fatal(err)
	}
	want := []mapping{{0x400000, 0x24e7000}, {0x24e7000, 0x4bd8000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("mappings = %x, want %x", got, want)
	}
	if _, err := cleanMappings(strings.NewReader("zz-yy r-xp 0 0 0 /bin/sidecar\n"), "/bin/sidecar"); err == nil {
		t.Error("a malformed mapping gave no error")
	}
}
