//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtenant/amtenant/internal/harness"
	"github.com/amtenant/amtenant/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	stopCluster()
	os.Exit(code)
}

// repoRoot is the repository's top directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

var (
	buildOnce  sync.Once
	sidecarBin string
	buildErr   error
)

// sidecarBinary builds the sidecar once per test run.
func sidecarBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "amtenant-bin")
		if err != nil {
			buildErr = err
			return
		}
		sidecarBin = filepath.Join(dir, "sidecar")
		cmd := exec.Command("go", "build", "-o", sidecarBin, "./cmd/sidecar")
		cmd.Dir = repoRoot(t)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return sidecarBin
}

// cachedBinary is a binary the Makefile builds into .cache/bin, or the one
// the environment variable env names.
func cachedBinary(t testing.TB, env, name, target string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		p = filepath.Join(repoRoot(t), ".cache", "bin", name)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s not found at %s: run `make %s` (make test does it)", name, p, target)
	}
	return p
}

// compatBinary is a binary that only `make compat` builds and names in
// env: without it the test is skipped, so that make test builds none.
func compatBinary(t testing.TB, env, name string) string {
	t.Helper()
	if os.Getenv(env) == "" {
		t.Skipf("%s is unset: `make compat` builds %s and runs this", env, name)
	}
	return cachedBinary(t, env, name, "compat")
}

// alertmanagerBinary is the Alertmanager that `make alertmanager` builds.
func alertmanagerBinary(t testing.TB) string {
	return cachedBinary(t, "AMTENANT_ALERTMANAGER", "alertmanager", "alertmanager")
}

func freePort(t testing.TB) int {
	t.Helper()
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// process is a started child process whose output goes to a log file in
// the test's directory; it is stopped when the test ends, and its log's
// end printed if the test failed.
type process struct{ *harness.Process }

func start(t testing.TB, name string, bin string, args ...string) *process {
	t.Helper()
	return startEnv(t, name, nil, bin, args...)
}

// startEnv is start with extra environment variables ("K=V").
func startEnv(t testing.TB, name string, env []string, bin string, args ...string) *process {
	t.Helper()
	p, err := harness.Start(filepath.Join(t.TempDir(), name+".log"), env, bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("--- %s log ---\n%s", name, harness.Tail(p.Log(), 8000))
		}
	})
	return &process{p}
}

// alertmanager is a real Alertmanager on loopback, stopped when the test
// ends.
type alertmanager struct {
	t testing.TB
	*harness.Alertmanager
	url string
}

const amConfig = harness.BlackholeConfig

func startAlertmanager(t testing.TB) *alertmanager {
	t.Helper()
	return startAlertmanagerWith(t, amConfig)
}

// startAlertmanagerWith starts Alertmanager with the configuration config.
func startAlertmanagerWith(t testing.TB, config string) *alertmanager {
	t.Helper()
	return startAlertmanagerBin(t, "", config)
}

// startAlertmanagerBin starts the Alertmanager binary bin (empty: the
// suite's) with the configuration config.
func startAlertmanagerBin(t testing.TB, bin, config string) *alertmanager {
	t.Helper()
	if bin == "" {
		bin = alertmanagerBinary(t)
	}
	h, err := harness.StartAlertmanager(bin, t.TempDir(), config)
	if err != nil {
		t.Fatal(err)
	}
	am := &alertmanager{t: t, Alertmanager: h, url: h.URL}
	am.stopAtCleanup()
	return am
}

// stopAtCleanup stops the current process when the test ends.
func (am *alertmanager) stopAtCleanup() {
	p := am.Proc
	am.t.Cleanup(func() {
		p.Stop()
		if am.t.Failed() {
			am.t.Logf("--- alertmanager log ---\n%s", harness.Tail(p.Log(), 8000))
		}
	})
}

func (am *alertmanager) start() {
	am.t.Helper()
	if err := am.Start(); err != nil {
		am.t.Fatal(err)
	}
	am.stopAtCleanup()
}

// reload replaces Alertmanager's configuration with config and reloads it.
func (am *alertmanager) reload(config string) {
	am.t.Helper()
	if err := os.WriteFile(am.ConfigFile, []byte(config), 0o600); err != nil {
		am.t.Fatal(err)
	}
	resp, err := http.Post(am.url+"/-/reload", "text/plain", nil)
	if err != nil {
		am.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		am.t.Fatalf("reload: %s", resp.Status)
	}
}

// restart stops Alertmanager and starts it again: it comes back empty.
func (am *alertmanager) restart() {
	am.t.Helper()
	am.Proc.Stop()
	time.Sleep(1100 * time.Millisecond) // uptime has a one-second resolution in some versions
	am.start()
}

type testAlert struct {
	Labels   map[string]string `json:"labels"`
	Annots   map[string]string `json:"annotations,omitempty"`
	StartsAt time.Time         `json:"startsAt"`
	EndsAt   time.Time         `json:"endsAt"`
}

// post sends alerts the way Prometheus does: firing alerts with an endsAt
// lease a few minutes ahead, resolved ones with endsAt = now.
func (am *alertmanager) post(alerts ...testAlert) {
	am.t.Helper()
	body, _ := json.Marshal(alerts)
	resp, err := http.Post(am.url+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		am.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		am.t.Fatalf("post alerts: %s: %s", resp.Status, b)
	}
}

func firing(startsAt time.Time, labels ...string) testAlert {
	return testAlert{Labels: kv(labels...), StartsAt: startsAt, EndsAt: time.Now().Add(4 * time.Minute)}
}

func resolvedAlert(startsAt time.Time, labels ...string) testAlert {
	return testAlert{Labels: kv(labels...), StartsAt: startsAt, EndsAt: time.Now()}
}

func kv(pairs ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return m
}

// silence creates a silence and returns its ID.
func (am *alertmanager) silence(d time.Duration, name, value string) string {
	am.t.Helper()
	body, _ := json.Marshal(map[string]any{
		"matchers":  []map[string]any{{"name": name, "value": value, "isRegex": false, "isEqual": true}},
		"startsAt":  time.Now().Add(-time.Second),
		"endsAt":    time.Now().Add(d),
		"createdBy": "integration",
		"comment":   "test",
	})
	resp, err := http.Post(am.url+"/api/v2/silences", "application/json", bytes.NewReader(body))
	if err != nil {
		am.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		SilenceID string `json:"silenceID"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.SilenceID == "" {
		am.t.Fatalf("create silence: %s %v", resp.Status, err)
	}
	return out.SilenceID
}

func (am *alertmanager) expireSilence(id string) {
	am.t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, am.url+"/api/v2/silence/"+id, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		am.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		am.t.Fatalf("expire silence: %s", resp.Status)
	}
}

func waitHTTP(t testing.TB, url string, d time.Duration) {
	t.Helper()
	if err := harness.WaitHTTP(t.Context(), url, d); err != nil {
		t.Fatal(err)
	}
}

// notification is one webhook message a sink received.
type notification struct {
	Path     string
	Receiver string `json:"receiver"`
	Status   string `json:"status"`
	Alerts   []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"alerts"`
	GroupLabels map[string]string `json:"groupLabels"`
	// Reason is the notification reason (the sidecar's notifiers send it;
	// Alertmanager v0.31 does not).
	Reason string `json:"notification_reason"`
}

// names returns "alertname/status" for each alert of the message.
func (n notification) names() []string {
	var out []string
	for _, a := range n.Alerts {
		out = append(out, a.Labels["alertname"]+"/"+a.Status)
	}
	return out
}

// sink records webhook messages by path and can fail on demand.
type sink struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []notification
	// fail maps a path to the status to answer with, and how many times
	// (negative: always).
	fail map[string]failure
	// tries counts the requests per path, failed ones included.
	tries map[string]int
}

type failure struct {
	status int
	times  int
}

func newSink(t testing.TB) *sink {
	s := &sink{fail: map[string]failure{}, tries: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.tries[r.URL.Path]++
	f, failing := s.fail[r.URL.Path]
	if failing && f.times != 0 {
		f.times--
		s.fail[r.URL.Path] = f
		s.mu.Unlock()
		http.Error(w, "failing on purpose", f.status)
		return
	}
	s.mu.Unlock()
	var n notification
	if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n.Path = r.URL.Path
	s.mu.Lock()
	s.got = append(s.got, n)
	s.mu.Unlock()
}

func (s *sink) failPath(path string, status, times int) {
	s.mu.Lock()
	s.fail[path] = failure{status: status, times: times}
	s.mu.Unlock()
}

func (s *sink) url(path string) string { return s.srv.URL + path }

// triesAt returns how many requests path received, failed ones included.
func (s *sink) triesAt(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tries[path]
}

// at returns the messages received on path.
func (s *sink) at(path string) []notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []notification
	for _, n := range s.got {
		if n.Path == path {
			out = append(out, n)
		}
	}
	return out
}

// alertsAt returns "alertname/status" of every alert received on path, in order.
func (s *sink) alertsAt(path string) []string {
	var out []string
	for _, n := range s.at(path) {
		out = append(out, n.names()...)
	}
	return out
}

// eventually polls cond until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.EventuallyEvery(t, d, 50*time.Millisecond, cond, func() string { return what })
}

// sidecar is the amtenant binary running in local mode.
type sidecar struct {
	proc *process
	url  string
	dir  string
}

// startSidecar runs the sidecar against am with the objects in dir. The
// timings are scaled down so that a scenario takes seconds.
// A flag in extra replaces the one of the same name here.
func startSidecar(t testing.TB, am *alertmanager, dir string, extra ...string) *sidecar {
	t.Helper()
	port := freePort(t)
	args := withFlags([]string{
		"--alertmanager.url=" + am.url,
		"--objects.dir=" + dir,
		"--namespace=monitoring",
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
		"--poll.interval=200ms",
		// Timelines here are exact: no stretching of the interval
		// (TestAdaptivePollInterval has its own).
		"--poll.alertmanager-cpu-budget=0",
		"--poll.timeout=2s",
		"--notify.group-wait=300ms",
		"--notify.group-interval=1s",
		"--notify.resolve-grace=1s",
		"--alertmanager.restart-grace=3s",
		// The sinks run on loopback, which tenant channels may not reach
		// by default.
		"--security.tenant-deny-cidrs=169.254.0.0/16",
		"--log.level=debug",
	}, extra...)
	s := &sidecar{proc: start(t, "sidecar", sidecarBinary(t), args...), url: fmt.Sprintf("http://127.0.0.1:%d", port), dir: dir}
	waitHTTP(t, s.url+"/readyz", 30*time.Second)
	return s
}

// withFlags returns base with extra appended, each flag of extra replacing
// the one of the same name in base (the sidecar refuses repeated flags).
func withFlags(base []string, extra ...string) []string {
	name := func(a string) string { n, _, _ := strings.Cut(a, "="); return n }
	out := make([]string, 0, len(base)+len(extra))
	for _, b := range base {
		replaced := false
		for _, e := range extra {
			replaced = replaced || name(e) == name(b)
		}
		if !replaced {
			out = append(out, b)
		}
	}
	return append(out, extra...)
}

// successfulPolls returns the sidecar's count of successful polls.
func (s *sidecar) successfulPolls(t testing.TB) float64 {
	t.Helper()
	return testutil.SeriesValue(t, s.metrics(t), `amtenant_polls_total{result="success"}`)
}

// waitPolls waits until the sidecar has completed n more successful
// polls: what it saw before then has been acted on.
func (s *sidecar) waitPolls(t testing.TB, n int) {
	t.Helper()
	target := s.successfulPolls(t) + float64(n)
	eventually(t, time.Duration(n)*5*time.Second, fmt.Sprintf("%d more successful polls", n), func() bool { return s.successfulPolls(t) >= target })
}

func (s *sidecar) metrics(t testing.TB) string {
	t.Helper()
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// writeObjects writes a YAML file into the objects directory.
func writeObjects(t testing.TB, dir, name, yaml string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.TrimLeft(yaml, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
}

// removeObjects deletes a file of the objects directory.
func removeObjects(t testing.TB, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}
