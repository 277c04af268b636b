package state

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
)

// t0 is the origin of the tests' clocks.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// asideStamp is t0 as it appears in the name of a file set aside.
const asideStamp = "20260102T030405Z"

// dirEntries returns the names in dir, sorted.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	slices.Sort(names)
	return names
}

func incarnation(name string, id uint64, st alert.Status, startsAt time.Time) alert.Incarnation {
	ls := model.LabelSet{"alertname": model.LabelValue(name), "namespace": "shop", "severity": "page"}
	inc := alert.Incarnation{
		Alert: alert.Alert{
			Fingerprint:  ls.Fingerprint().String(),
			Labels:       ls,
			Annotations:  alert.NewAnnotations(model.LabelSet{"summary": "disk 93% full", "runbook": "https://runbooks.example/disk"}),
			StartsAt:     startsAt,
			EndsAt:       startsAt.Add(4 * time.Minute),
			UpdatedAt:    startsAt.Add(30 * time.Second),
			GeneratorURL: "http://prometheus.example/graph?g0.expr=up",
		},
		ID:     id,
		Status: st,
	}
	if st == alert.Suppressed {
		inc.Suppressed = true
		inc.SilencedBy = []string{"silence-1"}
		inc.InhibitedBy = []string{"inhibitor-1", "inhibitor-2"}
	}
	if st == alert.Resolved {
		inc.ResolvedAt = startsAt.Add(10 * time.Minute)
		inc.EndsAt = startsAt.Add(9*time.Minute + 500*time.Millisecond)
	}
	return inc
}

// fullFile sets every field of the format.
func fullFile() *File {
	refired := incarnation("DiskFull", 7, alert.Firing, t0.Add(-time.Minute))
	return &File{
		SavedAt: t0,
		Tracker: Tracker{
			NextID: 9,
			Uptime: t0.Add(-48 * time.Hour),
			Alerts: []Entry{
				{Current: incarnation("HighCPU", 3, alert.Firing, t0.Add(-time.Hour))},
				{Current: incarnation("Silenced", 4, alert.Suppressed, t0.Add(-2*time.Hour))},
				{Current: incarnation("Flaky", 5, alert.Firing, t0.Add(-3*time.Hour)), MissingSince: t0.Add(-10 * time.Second)},
				{Current: incarnation("Gone", 6, alert.Resolved, t0.Add(-20*time.Minute))},
				{
					Current:  refired,
					Previous: []alert.Incarnation{incarnation("DiskFull", 1, alert.Resolved, t0.Add(-30*time.Minute)), incarnation("DiskFull", 2, alert.Resolved, t0.Add(-15*time.Minute))},
				},
			},
		},
		Targets: []Target{
			{
				Channel:     "team-a/hook",
				Integration: "webhook[0]",
				Groups: []Group{
					{Key: `{alertname="DiskFull"}`, Next: t0.Add(time.Minute), Firing: []string{refired.Fingerprint}, Resolved: []string{"0123456789abcdef"}, NotifiedAt: t0.Add(-30 * time.Second)},
					{Key: `{alertname="HighCPU"}`, Next: t0.Add(2 * time.Minute), Failed: true},
				},
				Members: []Member{
					{Fingerprint: refired.Fingerprint, ID: 2},
					{Fingerprint: refired.Fingerprint, ID: 1},
				},
			},
			{Channel: "platform/mail", Integration: "email[0]"},
		},
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	want := fullFile()
	// Save writes the current version whatever the caller set.
	want.Version = 0
	if err := Save(path, want); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := Load(path, t0)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got == nil {
		t.Fatal("Load returned no state for a saved file")
	}
	if got.Version != Version {
		t.Errorf("version: got %d, want %d", got.Version, Version)
	}
	want.Version = Version
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", got, want)
	}
	// The exact fields most likely to be lost by a tag typo.
	prev := got.Tracker.Alerts[4].Previous
	if len(prev) != 2 || prev[1].ID != 2 || prev[1].Status != alert.Resolved || !prev[1].ResolvedAt.Equal(t0.Add(-5*time.Minute)) {
		t.Errorf("previous incarnations: got %+v", prev)
	}
	if s := got.Tracker.Alerts[1].Current; s.Status != alert.Suppressed || !slices.Equal(s.InhibitedBy, []string{"inhibitor-1", "inhibitor-2"}) {
		t.Errorf("suppressed incarnation: got %+v", s)
	}
	if ms := got.Tracker.Alerts[2].MissingSince; !ms.Equal(t0.Add(-10 * time.Second)) {
		t.Errorf("missingSince: got %v", ms)
	}
	// Loading does not consume the file.
	if names := dirEntries(t, filepath.Dir(path)); !slices.Equal(names, []string{"state.json"}) {
		t.Errorf("directory after Load: %v, want only state.json", names)
	}
}

func TestSaveStatusIsReadableText(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := Save(path, fullFile()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`"version":2`, `"status":"firing"`, `"status":"suppressed"`, `"status":"resolved"`} {
		if !strings.Contains(string(b), w) {
			t.Errorf("state file does not contain %s", w)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	dir := t.TempDir()
	f, err := Load(filepath.Join(dir, "state.json"), t0)
	if f != nil || err != nil {
		t.Fatalf("Load of a missing file: got %v, %v; want nil, nil", f, err)
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("Load of a missing file created %v", names)
	}
}

// requireSetAside checks that Load refused the file at path with content,
// named the file it was moved to in its error, and left it there intact.
func requireSetAside(t *testing.T, path, content string, f *File, err error, suffix string) {
	t.Helper()
	if f != nil {
		t.Errorf("Load returned a state: %+v", f)
	}
	if !errors.Is(err, ErrSetAside) {
		t.Fatalf("Load: got %v, want an error wrapping ErrSetAside", err)
	}
	aside := path + "." + suffix + "-" + asideStamp
	if !strings.Contains(err.Error(), aside) {
		t.Errorf("error %q does not name the file set aside, %s", err, aside)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the original file is still there: %v", err)
	}
	b, rerr := os.ReadFile(aside)
	if rerr != nil {
		t.Fatalf("the file set aside: %v", rerr)
	}
	if string(b) != content {
		t.Errorf("the file set aside holds %q, want the original %q", b, content)
	}
	// The next start is a fresh one, not the same refusal again.
	if f, err := Load(path, t0.Add(time.Second)); f != nil || err != nil {
		t.Errorf("Load after setting aside: got %v, %v; want nil, nil", f, err)
	}
}

func TestLoadSetsAsideCorrupt(t *testing.T) {
	valid := func() string {
		path := filepath.Join(t.TempDir(), "state.json")
		if err := Save(path, fullFile()); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}()
	tests := []struct {
		name, content string
	}{
		{"garbage", "\x00\x01not json at all\xff"},
		{"truncated", valid[:len(valid)/2]},
		{"empty", ""},
		{"not an object", `[1, 2, 3]`},
		{"unknown status", `{"version":2,"tracker":{"nextID":1,"alerts":[{"current":{"fingerprint":"a","id":1,"status":"burning"}}]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := Load(path, t0)
			requireSetAside(t, path, tt.content, f, err, "corrupt")
			if err != nil && !strings.Contains(err.Error(), "not valid JSON state") {
				t.Errorf("error %q does not say why", err)
			}
		})
	}
}

func TestLoadSetsAsideOtherVersion(t *testing.T) {
	tests := []struct {
		name, content, suffix string
	}{
		{"newer", `{"version":3,"tracker":{"nextID":5},"future":{"field":true}}`, "version-3"},
		{"older: per-alert flags", `{"version":1,"tracker":{"nextID":5},"targets":[{"channel":"a/b","integration":"webhook[0]","groups":["{alertname=\"A\"}"]}]}`, "version-1"},
		{"zero", `{"version":0,"tracker":{"nextID":5}}`, "version-0"},
		{"no version", `{"tracker":{"nextID":5}}`, "version-0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := Load(path, t0)
			requireSetAside(t, path, tt.content, f, err, tt.suffix)
			if err != nil && !strings.Contains(err.Error(), "format version") {
				t.Errorf("error %q does not say why", err)
			}
		})
	}
}

func TestLoadUnreadableIsNotSetAside(t *testing.T) {
	// A directory where the file should be: the error is not ErrSetAside,
	// and nothing is renamed.
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path, t0)
	if f != nil || err == nil || errors.Is(err, ErrSetAside) {
		t.Fatalf("Load of a directory: got %v, %v; want a read error that is not ErrSetAside", f, err)
	}
	if names := dirEntries(t, dir); !slices.Equal(names, []string{"state.json"}) {
		t.Errorf("directory after Load: %v", names)
	}
}

func TestSaveIntoMissingDirectory(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "missing", "state.json")
	if err := Save(path, fullFile()); err == nil {
		t.Fatal("Save into a missing directory: got no error")
	}
	if names := dirEntries(t, root); len(names) != 0 {
		t.Errorf("Save into a missing directory left %v behind", names)
	}
}

func TestSaveLeavesNoTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for i := range 5 {
		f := fullFile()
		f.Tracker.NextID = uint64(100 + i)
		if err := Save(path, f); err != nil {
			t.Fatalf("Save %d: %v", i, err)
		}
	}
	if names := dirEntries(t, dir); !slices.Equal(names, []string{"state.json"}) {
		t.Errorf("directory after saves: %v, want only state.json", names)
	}
	got, err := Load(path, t0)
	if err != nil || got == nil || got.Tracker.NextID != 104 {
		t.Fatalf("Load after saves: got %+v, %v; want the last save (nextID 104)", got, err)
	}
}

func TestSaveFailureKeepsPreviousFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := Save(path, fullFile()); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A state that cannot be encoded fails after the temporary file was
	// created.
	bad := fullFile()
	bad.Tracker.NextID = 1000
	bad.Tracker.Alerts[0].Current.Status = alert.Status(9)
	if err := Save(path, bad); err == nil {
		t.Fatal("Save of an unencodable state: got no error")
	}
	if names := dirEntries(t, dir); !slices.Equal(names, []string{"state.json"}) {
		t.Errorf("directory after a failed save: %v, want only state.json", names)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Error("a failed save changed the file")
	}
}

// A FIFO, a device or an oversized file in place of the state file is
// refused at once, never read: start-up neither hangs nor bloats.
func TestLoadRefusesNonRegularAndHugeFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := Load(fifo, t0); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("Load(FIFO): %v, want a clear refusal", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Load hangs on a FIFO")
	}
	if _, err := Load("/dev/zero", t0); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Load(/dev/zero): %v, want a clear refusal", err)
	}
	huge := filepath.Join(dir, "huge.json")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxFileSize + 1); err != nil { // sparse: costs no disk
		t.Fatal(err)
	}
	f.Close()
	if _, err := Load(huge, t0); err == nil || !strings.Contains(err.Error(), "more than the 512 MiB") {
		t.Errorf("Load(huge): %v, want a clear refusal", err)
	}
}
