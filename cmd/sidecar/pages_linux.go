package main

import (
	"bufio"
	"fmt"
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
// MADV_DONTNEED on the binary's read-only mappings (its code and constant
// data; never a writable one, whose private pages hold state) unmaps
// them; a page still in use comes back from the page cache at its next
// use, and MADV_RANDOM asks for that page alone, without read-ahead. The
// pages stay in the page cache, reclaimable, until the kernel needs the
// memory.
func releaseStartupPages() (released int64, err error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 || fs[5] != exe || len(fs[1]) < 4 || fs[1][1] != '-' || fs[1][3] != 'p' {
			continue // another file, a writable or a shared mapping
		}
		lo, hi, ok := strings.Cut(fs[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || end <= start {
			return released, fmt.Errorf("cannot read mapping %q", fs[0])
		}
		// The mapping is not Go memory: its address goes to the kernel
		// as a number.
		for _, advice := range []uintptr{unix.MADV_RANDOM, unix.MADV_DONTNEED} {
			if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), advice); errno != 0 {
				return released, fmt.Errorf("madvise %d: %w", advice, errno)
			}
		}
		released += int64(end - start)
	}
	return released, sc.Err()
}
