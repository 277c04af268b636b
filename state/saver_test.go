package state

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) count(msg string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), msg)
}

const (
	logSaveFailed = "Saving the delivery state failed"
	logSaveWorks  = "Saving the delivery state works again"
)

// stamper is a collect function whose every state carries a new NextID,
// and which remembers the one collected for the final save.
type stamper struct {
	s *Saver

	mu       sync.Mutex
	n        uint64
	finalN   uint64
	finalCnt int
}

func (c *stamper) collect() *File {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	// collect runs under the saver's lock, after it recorded whether this
	// save is the final one.
	if c.s.final {
		c.finalN = c.n
		c.finalCnt++
	}
	return &File{Tracker: Tracker{NextID: c.n}}
}

func (c *stamper) calls() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func newTestSaver(t *testing.T, path string, collect func() *File) (*Saver, *syncBuffer, *prometheus.Registry) {
	t.Helper()
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	s := NewSaver(path, time.Hour, collect, slog.New(slog.NewTextHandler(logs, nil)), reg)
	s.now = func() time.Time { return t0 }
	return s, logs, reg
}

func savesTotal(s *Saver, result string) float64 {
	return testutil.ToFloat64(s.saves.WithLabelValues(result))
}

func TestSaverFinalIsLastSave(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	c := &stamper{}
	s, _, _ := newTestSaver(t, path, c.collect)
	c.s = s

	// Periodic saves race the shutdown save.
	const workers, savesEach = 8, 20
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range workers {
		wg.Go(func() {
			<-start
			for range savesEach {
				if err := s.save(false); err != nil {
					t.Errorf("periodic save: %v", err)
				}
			}
		})
	}
	close(start)
	var finalErr error
	wg.Go(func() { finalErr = s.Final() })
	wg.Wait()
	if finalErr != nil {
		t.Fatalf("Final: %v", finalErr)
	}

	c.mu.Lock()
	finalN, finalCnt := c.finalN, c.finalCnt
	c.mu.Unlock()
	if finalCnt != 1 {
		t.Fatalf("states collected for a final save: %d, want 1", finalCnt)
	}
	read := func() uint64 {
		t.Helper()
		f, err := Load(path, t0)
		if err != nil || f == nil {
			t.Fatalf("Load: %v, %v", f, err)
		}
		if !f.SavedAt.Equal(t0) {
			t.Errorf("savedAt: got %v, want the saver's clock %v", f.SavedAt, t0)
		}
		return f.Tracker.NextID
	}
	if got := read(); got != finalN {
		t.Fatalf("the file holds state %d, want the final save's %d (of %d collected)", got, finalN, c.calls())
	}
	// Later periodic saves neither collect nor write.
	calls := c.calls()
	for range 3 {
		if err := s.save(false); err != nil {
			t.Errorf("periodic save after Final: %v", err)
		}
	}
	if got := read(); got != finalN {
		t.Errorf("a periodic save after Final overwrote the file: state %d, want %d", got, finalN)
	}
	if c.calls() != calls {
		t.Errorf("periodic saves after Final collected %d states", c.calls()-calls)
	}
	if got, want := savesTotal(s, "success"), float64(calls); got != want {
		t.Errorf("saves_total{success}: got %v, want %v", got, want)
	}
	if names := dirEntries(t, dir); len(names) != 1 || names[0] != "state.json" {
		t.Errorf("directory after the saves: %v, want only state.json", names)
	}
}

func TestSaverRunSavesUntilCanceled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	saved := make(chan struct{}, 1)
	var mu sync.Mutex
	n := 0
	s, _, _ := newTestSaver(t, path, func() *File {
		mu.Lock()
		n++
		mu.Unlock()
		select {
		case saved <- struct{}{}:
		default:
		}
		return &File{}
	})
	s.interval = time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		s.Run(ctx)
		close(done)
	}()
	for i := range 2 {
		select {
		case <-saved:
		case <-time.After(10 * time.Second):
			t.Fatalf("Run made %d saves in 10s, want 2", i)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was canceled")
	}
	mu.Lock()
	after := n
	mu.Unlock()
	// Run has returned: no save runs any more, and the shutdown save still
	// works.
	if err := s.Final(); err != nil {
		t.Fatalf("Final: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != after+1 {
		t.Errorf("collections: %d after Final, want %d", n, after+1)
	}
}

func TestSaverRunReturnsAtOnceWhenCanceled(t *testing.T) {
	s, _, _ := newTestSaver(t, filepath.Join(t.TempDir(), "state.json"), func() *File {
		t.Error("a save ran")
		return &File{}
	})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	done := make(chan struct{})
	go func() {
		s.Run(ctx) // the interval is an hour
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return for a canceled context")
	}
}

func TestSaverFailureLoggedOncePerError(t *testing.T) {
	dir := t.TempDir()
	// Tests may run as root, which ignores permissions: a regular file
	// where the directory should be makes every save fail.
	parent := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(parent, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(parent, "state.json")
	s, logs, reg := newTestSaver(t, path, func() *File { return &File{} })

	for i := range 3 {
		if err := s.save(false); err == nil {
			t.Fatalf("save %d: got no error", i)
		}
	}
	if got := savesTotal(s, "error"); got != 3 {
		t.Errorf("saves_total{error}: got %v, want 3", got)
	}
	if got := savesTotal(s, "success"); got != 0 {
		t.Errorf("saves_total{success}: got %v, want 0", got)
	}
	if got := logs.count(logSaveFailed); got != 1 {
		t.Errorf("failure logged %d times for the same error, want once:\n%s", got, logs)
	}
	if got := logs.count(path); got == 0 {
		t.Errorf("the failure log does not name the file %s", path)
	}

	// The directory appears: saves work again, which is logged once.
	if err := os.Remove(parent); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(parent, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := s.save(false); err != nil {
			t.Fatalf("save %d after the fix: %v", i, err)
		}
	}
	if got := logs.count(logSaveWorks); got != 1 {
		t.Errorf("recovery logged %d times, want once", got)
	}
	if got := savesTotal(s, "success"); got != 2 {
		t.Errorf("saves_total{success}: got %v, want 2", got)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(s.size); got != float64(fi.Size()) {
		t.Errorf("amtenant_state_file_bytes: got %v, want %d", got, fi.Size())
	}
	if n, err := testutil.GatherAndCount(reg, "amtenant_state_save_duration_seconds"); err != nil || n != 1 {
		t.Errorf("duration histogram: %d series, %v", n, err)
	}

	// Failing again after a success is news again.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(parent); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(parent, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.save(false); err == nil {
		t.Fatal("save into a file: got no error")
	}
	if got := logs.count(logSaveFailed); got != 2 {
		t.Errorf("failure after recovery logged %d times in all, want 2", got)
	}
}

func TestSaverMetricsInitialisedAndLintClean(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewSaver(filepath.Join(t.TempDir(), "state.json"), time.Second, func() *File { return &File{} }, slog.New(slog.DiscardHandler), reg)
	for _, name := range []string{"amtenant_state_saves_total", "amtenant_state_file_bytes", "amtenant_state_save_duration_seconds"} {
		want := 1
		if name == "amtenant_state_saves_total" {
			want = 2 // success and error
		}
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != want {
			t.Errorf("%s: %d series (%v), want %d", name, n, err, want)
		}
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	// A nil registerer is allowed.
	NewSaver("state.json", time.Second, func() *File { return &File{} }, slog.New(slog.DiscardHandler), nil)
}

func TestSaverSkipsUnchangedState(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	var gen uint64
	collected := 0
	s, _, _ := newTestSaver(t, path, func() *File {
		collected++
		return &File{Tracker: Tracker{NextID: uint64(collected)}}
	})
	s.Generation = func() uint64 { return gen }
	save := func(final bool, wantCollected int) {
		t.Helper()
		var err error
		if final {
			err = s.Final()
		} else {
			err = s.save(false)
		}
		if err != nil {
			t.Fatalf("save: %v", err)
		}
		if collected != wantCollected {
			t.Fatalf("states collected: %d, want %d", collected, wantCollected)
		}
	}
	save(false, 1) // the first save is never skipped
	save(false, 1)
	save(false, 1)
	gen++
	save(false, 2)
	save(false, 2)
	if got := savesTotal(s, "success"); got != 2 {
		t.Errorf("saves_total{success}: %v, want 2 (skipped saves are not saves)", got)
	}

	// A failed save is tried again at the next tick, changed or not.
	gen++
	if err := os.Rename(dir, dir+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := s.save(false); err == nil || collected != 3 {
		t.Fatalf("save into a missing directory: %v, %d collected; want an error after collecting", err, collected)
	}
	if err := os.Rename(dir+".moved", dir); err != nil {
		t.Fatal(err)
	}
	save(false, 4)
	save(false, 4)

	// The shutdown save is written even when nothing changed.
	save(true, 5)
	f, err := Load(path, t0)
	if err != nil || f == nil || f.Tracker.NextID != 5 {
		t.Fatalf("file after Final: %+v, %v; want the final state (5)", f, err)
	}
}
