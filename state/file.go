package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/amtenant/amtenant/alert"
)

// Version is the format version written. A file of another version is set
// aside at load: the format carries delivery promises, and guessing at an
// unknown one could silence a channel. Version 1 kept per-alert flags
// instead of per-group notification log entries.
const Version = 2

// File is the whole saved state.
type File struct {
	Version int       `json:"version"`
	SavedAt time.Time `json:"savedAt"`
	Tracker Tracker   `json:"tracker"`
	// Targets are the delivery states, one per integration of a channel.
	Targets []Target `json:"targets,omitempty"`
}

// Tracker is the poller's tracker: the incarnations it knows and the
// counter their IDs come from.
type Tracker struct {
	NextID uint64 `json:"nextID"`
	// Uptime is Alertmanager's start time as last polled: a different one
	// after the restart means Alertmanager restarted meanwhile.
	Uptime time.Time `json:"uptime,omitzero"`
	Alerts []Entry   `json:"alerts,omitempty"`
}

// Entry is one fingerprint: its current incarnation and earlier ones still
// reported as resolved.
type Entry struct {
	Current  alert.Incarnation   `json:"current"`
	Previous []alert.Incarnation `json:"previous,omitempty"`
	// MissingSince is when the alert was first seen absent; zero while
	// present.
	MissingSince time.Time `json:"missingSince,omitzero"`
}

// Target is what one integration of one channel was told.
type Target struct {
	Channel     string `json:"channel"`
	Integration string `json:"integration"`
	// Groups are the integration's aggregation groups and what each was
	// last told (its notification log).
	Groups []Group `json:"groups,omitempty"`
	// Members are resolved incarnations whose group has not yet been
	// flushed: their resolution may still be due.
	Members []Member `json:"members,omitempty"`
	// OrphanedAt is set when the target's channel did not come back after
	// a restart: the first save that carried it over unused. It is
	// forgotten after the longest repeat interval from then.
	OrphanedAt time.Time `json:"orphanedAt,omitzero"`
}

// Group is one aggregation group. A notification in flight or being
// retried when the state was saved has not changed it: after a restart the
// group is compared again and the notification sent again.
type Group struct {
	Key string `json:"key"`
	// Next is when the group is flushed next; Failed is set when its last
	// notification was not delivered.
	Next   time.Time `json:"next,omitzero"`
	Failed bool      `json:"failed,omitempty"`
	// Firing and Resolved are the fingerprints its last delivered
	// notification listed, at NotifiedAt.
	Firing     []string  `json:"firing,omitempty"`
	Resolved   []string  `json:"resolved,omitempty"`
	NotifiedAt time.Time `json:"notifiedAt,omitzero"`
}

// Member is one incarnation an integration holds.
type Member struct {
	Fingerprint string `json:"fingerprint"`
	ID          uint64 `json:"id"`
}

// Key returns the incarnation the member refers to.
func (m *Member) Key() alert.Key { return alert.Key{Fingerprint: m.Fingerprint, ID: m.ID} }

// Save writes f to path atomically: a reader (or a restart after a crash
// at any moment) finds either the previous file or the new one, complete.
func Save(path string, f *File) error {
	f.Version = Version
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("save state: create a temporary file in %s: %w", dir, withoutName(err))
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	enc := json.NewEncoder(tmp)
	if err := enc.Encode(f); err != nil {
		return fmt.Errorf("save state: encode: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("save state: sync the temporary file: %w", withoutName(err))
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save state: close the temporary file: %w", withoutName(err))
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save state: rename the temporary file to %s: %w", path, withoutName(err))
	}
	done = true
	// The rename is durable only once the directory is synced.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// withoutName drops the temporary file's random name from err: the saver
// logs each distinct error once, and a new name in every message would
// make each failed save look like a new error.
func withoutName(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// ErrSetAside wraps the reason a state file could not be used; the file
// was renamed out of the way and the sidecar starts fresh.
var ErrSetAside = errors.New("state file set aside")

// Load reads the state saved at path. A missing file is a fresh start:
// (nil, nil). A file that cannot be read as this version's state is
// renamed to path.corrupt-<time> (or .version-<n>-<time>) and an error
// wrapping ErrSetAside says why and where it went; the caller logs it and
// starts fresh.
func Load(path string, now time.Time) (*File, error) {
	b, err := readRegular(path, MaxFileSize)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state file: %w", err)
	}
	// The version first: another version's body need not decode as this
	// one's.
	var v struct {
		Version int `json:"version"`
	}
	var f File
	suffix := ""
	var why error
	if err := json.Unmarshal(b, &v); err == nil && v.Version != Version {
		suffix, why = fmt.Sprintf("version-%d", v.Version), fmt.Errorf("format version %d, this sidecar reads version %d", v.Version, Version)
	} else if err := json.Unmarshal(b, &f); err != nil {
		suffix, why = "corrupt", fmt.Errorf("not valid JSON state: %w", err)
	} else {
		return &f, nil
	}
	aside := fmt.Sprintf("%s.%s-%s", path, suffix, now.UTC().Format("20060102T150405Z"))
	if err := os.Rename(path, aside); err != nil {
		return nil, fmt.Errorf("%w: %w; and it could not be renamed: %w", ErrSetAside, why, err)
	}
	return nil, fmt.Errorf("%w as %s: %w", ErrSetAside, aside, why)
}

// MaxFileSize bounds the state file read at start (50,000 alerts make
// about 50 MB).
const MaxFileSize = 512 << 20

// readRegular reads path if it is a regular file of at most limit bytes.
// It is opened without blocking and checked before it is read, so that a
// FIFO or a device in its place cannot hang or bloat the start-up.
func readRegular(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s is %d MiB, more than the %d MiB a state file may be", path, fi.Size()>>20, limit>>20)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s grew past %d MiB while being read", path, limit>>20)
	}
	return b, nil
}

// Record is one change of an integration's notification log, as the
// leader replicates it to its followers: the group's entry after the
// change (no Firing: the entry is gone).
type Record struct {
	Channel     string `json:"channel"`
	Integration string `json:"integration"`
	Group       Group  `json:"group"`
}
