//go:build integration

package integration

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amtenant/amtenant/internal/testutil"
)

// A hostile tenant beside a healthy one, against a real Alertmanager: a
// Secret with 20,000 integrations, one with 4,000 unknown keys, an
// exploding template, a receiver answering 500 with an endless body, one
// that hangs, one behind zoned loopback, and an alert over 16 MiB. The
// healthy tenant is notified as fast as without them, and the sidecar's
// memory and log lines stay bounded.
func TestHostileTenantBesideHealthyOne(t *testing.T) {
	t.Parallel()
	am := startAlertmanager(t)
	healthy := newSink(t)

	// The hostile tenant's receivers.
	chunk := []byte(strings.Repeat("x", 64<<10))
	var hugeWritten atomic.Int64
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		for range 150 << 4 { // 150 MiB
			n, err := w.Write(chunk)
			hugeWritten.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(huge.Close)
	hang := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(hang) })
	var zonedHits atomic.Int64
	zoned := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { zonedHits.Add(1) }))
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	zoned.Listener.Close()
	zoned.Listener = ln
	zoned.Start()
	t.Cleanup(zoned.Close)

	var many strings.Builder
	many.WriteString("    webhook_configs:\n")
	for i := range 20000 {
		fmt.Fprintf(&many, "    - url: http://hook.example/%d\n", i)
	}
	var keys strings.Builder
	for i := range 4000 {
		fmt.Fprintf(&keys, "  unknown_%d: x\n", i)
	}
	bomb := `{{ define "t0" }}xxxxxxxxxxxxxxxx{{ end }}`
	for i := 1; i <= 24; i++ {
		bomb += fmt.Sprintf(`{{ define "t%d" }}{{ template "t%d" . }}{{ template "t%d" . }}{{ end }}`, i, i-1, i-1)
	}
	bomb += `{{ template "t24" . }}`
	_, zonedPort, _ := net.SplitHostPort(ln.Addr().String())

	dir := t.TempDir()
	secret := func(ns, name, body string) string {
		return fmt.Sprintf("---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\n  labels:\n    amtenant.io/channel: \"\"\nstringData:\n%s", name, ns, body)
	}
	objs := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: evil\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: good\n" +
		secret("good", "hook", "  type: webhook\n  url: "+healthy.url("/good")+"\n") +
		secret("evil", "many", "  receiver.yaml: |\n"+many.String()) +
		secret("evil", "keys", "  type: webhook\n  url: http://hook.example/\n"+keys.String()) +
		secret("evil", "bomb-text", "  receiver.yaml: |\n    slack_configs:\n    - api_url: "+huge.URL+"/slack\n      text: '"+bomb+"'\n") +
		secret("evil", "huge-body", "  type: webhook\n  url: "+huge.URL+"/huge\n") +
		secret("evil", "hangs", "  type: webhook\n  url: "+hanging.URL+"/hang\n") +
		secret("evil", "zoned", "  type: webhook\n  url: http://[::1%25lo]:"+zonedPort+"/-/reload\n")
	writeObjects(t, dir, "objects.yaml", objs)
	// The default deny list, but for 127.0.0.0/8 where the test's
	// receivers listen (the hostile ones stand for outside servers).
	sc := startSidecar(t, am, dir, "--security.tenant-deny-cidrs=::1/128,169.254.0.0/16,fe80::/10,0.0.0.0/8,::/128", "--log.level=info")
	eventually(t, 30*time.Second, "the hostile channels refused", func() bool {
		log := sc.proc.Log()
		return strings.Contains(log, "evil/many: 20000 integrations, more than the 32") &&
			strings.Contains(log, "evil/keys: webhook_configs[0]: 4001 fields, more than the 64") &&
			strings.Contains(log, "evil/bomb-text: slack_configs[0].text: template")
	})

	// An alert over 16 MiB, which anybody can POST to Alertmanager.
	big := firing(time.Now(), "alertname", "Big", "namespace", "evil")
	big.Annots = map[string]string{"description": strings.Repeat("y", 17<<20)}
	am.post(big)

	start := time.Now()
	am.post(firing(start, "alertname", "Evil", "namespace", "evil"), firing(start, "alertname", "Good", "namespace", "good"))
	eventually(t, 30*time.Second, "the healthy tenant notified", func() bool { return len(healthy.at("/good")) == 1 })
	latency := time.Since(start)
	t.Logf("healthy tenant notified %s after the alert was posted (group wait 300ms, poll 200ms)", latency.Round(time.Millisecond))
	// Within a few polls and the group wait, as without the hostile tenant.
	if latency > 10*time.Second {
		t.Errorf("the healthy tenant waited %s", latency)
	}
	eventually(t, 30*time.Second, "the oversized alert skipped", func() bool {
		return testutil.SeriesValue(t, sc.metrics(t), `amtenant_alerts_skipped{reason="oversized"}`) == 1
	})
	eventually(t, 30*time.Second, "the endless error body tried", func() bool { return hugeWritten.Load() > 0 })
	sc.waitPolls(t, 10)

	if n := zonedHits.Load(); n != 0 {
		t.Errorf("the receiver behind zoned loopback got %d requests", n)
	}
	if w := hugeWritten.Load(); w > 64<<20 {
		t.Errorf("the sidecar read %d MiB of an error body", w>>20)
	}
	peak := peakRSS(t, sc.proc.Pid())
	t.Logf("sidecar peak RSS %d MiB", peak>>20)
	if peak > 256<<20 {
		t.Errorf("sidecar peak RSS %d MiB, want it bounded (under 256 MiB)", peak>>20)
	}
	longest := 0
	sc2 := bufio.NewScanner(strings.NewReader(sc.proc.Log()))
	sc2.Buffer(make([]byte, 1<<20), 64<<20)
	for sc2.Scan() {
		longest = max(longest, len(sc2.Text()))
	}
	t.Logf("longest log line %d bytes", longest)
	if longest > 16<<10 {
		t.Errorf("a log line of %d bytes", longest)
	}
	if s := sc.proc.Log(); strings.Contains(s, strings.Repeat("x", 2048)) {
		t.Error("an error body went into the log")
	}
}

// peakRSS is a process's peak resident set size (VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("cannot read the process status: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Skip("no VmHWM")
	return 0
}
