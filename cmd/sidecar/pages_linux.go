package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseStartupPages lets the kernel take back the pages of the binary
// that start-up touched and steady work does not use.
//
// Starting runs every package's initialisation, parses flags, builds
// every channel: code and read-only data spread over the whole binary.
// The kernel maps a file's pages in windows around each fault
// (fault-around) and keeps them in the process's RSS for as long as it
// runs: about 40 MiB, most of it never touched again. madvise with
// MADV_DONTNEED on the binary's clean mappings unmaps those pages; a page
// still in use comes back from the page cache at its next use, and
// MADV_RANDOM asks for that page alone, without read-ahead, from then on.
// The pages stay in the page cache (charged to the container, and
// reclaimable as before): what changes is that the process no longer
// holds them.
//
// Only read-only, private mappings of the binary with no anonymous page
// are released: a page the process ever wrote to (relocations the dynamic
// loader applied before making them read-only, in a PIE or externally
// linked build; a debugger's breakpoint) is a private copy that
// MADV_DONTNEED would replace with the file's bytes.
func releaseStartupPages() (released int64, err error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	ms, err := cleanMappings(f, exe)
	if err != nil {
		return 0, err
	}
	for _, m := range ms {
		// The mapping is not Go memory: its address goes to the kernel
		// as a number.
		for _, advice := range []uintptr{unix.MADV_RANDOM, unix.MADV_DONTNEED} {
			if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, advice); errno != 0 {
				return released, fmt.Errorf("madvise %d: %w", advice, errno)
			}
		}
		released += int64(m.end - m.start)
	}
	return released, nil
}

type mapping struct{ start, end uintptr }

// cleanMappings reads /proc/self/smaps and returns the mappings of exe
// that are read-only (readable or executable, never writable), private,
// and hold no anonymous page.
func cleanMappings(r io.Reader, exe string) ([]mapping, error) {
	var (
		out  []mapping
		cur  *mapping // the current mapping, if it is a candidate
		anon bool
	)
	flush := func() {
		if cur != nil && !anon {
			out = append(out, *cur)
		}
		cur, anon = nil, false
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		fs := strings.Fields(line)
		if len(fs) == 0 {
			continue
		}
		if strings.HasSuffix(fs[0], ":") {
			// A field of the current mapping ("Anonymous:   4 kB").
			if cur != nil && fs[0] == "Anonymous:" && (len(fs) < 2 || fs[1] != "0") {
				anon = true
			}
			continue
		}
		// A mapping's header: start-end perms offset dev inode [path].
		flush()
		if len(fs) < 6 || strings.Join(fs[5:], " ") != exe {
			continue
		}
		perms := fs[1]
		if len(perms) != 4 || perms[0] != 'r' || perms[1] != '-' || perms[3] != 'p' {
			continue
		}
		lo, hi, ok := strings.Cut(fs[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || end <= start {
			return nil, fmt.Errorf("cannot read mapping %q", fs[0])
		}
		cur = &mapping{uintptr(start), uintptr(end)}
	}
	flush()
	return out, sc.Err()
}
