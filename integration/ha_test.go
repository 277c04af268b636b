//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/amtenant/amtenant/internal/testutil"
	"github.com/amtenant/amtenant/state"
)

// HA timings: short, so that a failover takes seconds. The takeover
// window (poll interval + lease duration) is 4.5 s.
const (
	haLeaseDuration = 4 * time.Second
	haRetryPeriod   = 500 * time.Millisecond
)

// haSidecar is one replica's sidecar: restartable with the same identity
// and state file.
type haSidecar struct {
	t        testing.TB
	name     string
	am       *alertmanager
	c        *cluster
	lease    string
	state    string
	proc     *process
	url      string
	extra    []string
	restarts int
	// defaultLease runs the election with the flags' defaults instead of
	// the short test timings.
	defaultLease bool
}

func newHASidecar(t testing.TB, c *cluster, am *alertmanager, name, lease string, extra ...string) *haSidecar {
	h := &haSidecar{t: t, name: name, am: am, c: c, lease: lease, state: filepath.Join(t.TempDir(), "state.json"), extra: extra}
	h.start()
	return h
}

func (h *haSidecar) start() {
	h.t.Helper()
	port := freePort(h.t)
	args := append([]string{
		"--alertmanager.url=" + h.am.url,
		"--kubeconfig=" + h.c.kubeconfig(h.t, serviceAccount),
		"--namespace=monitoring",
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
		"--poll.interval=500ms",
		"--poll.alertmanager-cpu-budget=0",
		"--poll.timeout=2s",
		"--notify.group-wait=300ms",
		"--notify.group-interval=1s",
		"--notify.resolve-grace=1s",
		"--alertmanager.restart-grace=10s",
		"--security.tenant-deny-cidrs=169.254.0.0/16",
		"--state.file=" + h.state,
		"--log.level=debug",
	}, h.extra...)
	if h.lease != "" {
		args = append(args, "--leader-elect", "--leader-elect.lease-name="+h.lease)
		if !h.defaultLease {
			args = append(args, "--leader-elect.lease-duration="+haLeaseDuration.String(),
				"--leader-elect.renew-deadline=3s",
				"--leader-elect.retry-period="+haRetryPeriod.String())
		}
	}
	h.restarts++
	h.proc = startEnv(h.t, fmt.Sprintf("sidecar-%s-%d", h.name, h.restarts), []string{"POD_NAME=" + h.name}, sidecarBinary(h.t), args...)
	h.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(h.t, h.url+"/readyz", 60*time.Second)
}

// kill stops the sidecar with SIGKILL: no final save, no Lease release.
func (h *haSidecar) kill() {
	h.proc.Kill()
}

func (h *haSidecar) metric(name string) float64 {
	h.t.Helper()
	return testutil.SeriesValue(h.t, (&sidecar{url: h.url}).metrics(h.t), name)
}

// waitPolls waits until the sidecar completed n more successful polls.
func (h *haSidecar) waitPolls(n int) {
	h.t.Helper()
	(&sidecar{url: h.url}).waitPolls(h.t, n)
}

// leaderOf waits until exactly one of the replicas leads and returns it.
func leaderOf(t testing.TB, d time.Duration, hs ...*haSidecar) (leader, follower *haSidecar) {
	t.Helper()
	eventually(t, d, "exactly one leader", func() bool {
		n := 0
		for _, h := range hs {
			if h.metric("amtenant_leader") == 1 {
				n++
				leader = h
			} else {
				follower = h
			}
		}
		return n == 1
	})
	return leader, follower
}

// counts returns how often each "alertname/status" arrived on path.
func counts(s *sink, path string) map[string]int {
	out := map[string]int{}
	for _, a := range s.alertsAt(path) {
		out[a]++
	}
	return out
}

// exactlyOnce reports every expected "alertname/status" that did not
// arrive exactly once (losses and duplicates), and anything unexpected.
func exactlyOnce(t testing.TB, s *sink, path string, want ...string) (dups, losses int) {
	t.Helper()
	got := counts(s, path)
	for _, w := range want {
		switch n := got[w]; {
		case n == 0:
			losses++
			t.Errorf("%s: %s never arrived", path, w)
		case n > 1:
			dups += n - 1
			t.Errorf("%s: %s arrived %d times", path, w, n)
		}
		delete(got, w)
	}
	for k, n := range got {
		dups += n
		t.Errorf("%s: unexpected %s (%d times)", path, k, n)
	}
	return dups, losses
}

// TestHAFailover runs two Alertmanagers, each with its sidecar, electing a
// leader on the real API server with the RBAC of manifests/. Both
// Alertmanagers receive every alert, as from Prometheus.
func TestHAFailover(t *testing.T) {
	c := startCluster(t)
	s := newSink(t)
	c.namespace(t, "ha-a", nil)
	c.secret(t, channelSecret("ha-a", "hook", nil, nil, map[string]string{"type": "webhook", "url": s.url("/ha")}))
	am1, am2 := startAlertmanager(t), startAlertmanager(t)
	post := func(alerts ...testAlert) {
		am1.post(alerts...)
		am2.post(alerts...)
	}
	r1 := newHASidecar(t, c, am1, "amtenant-0", "ha-failover")
	r2 := newHASidecar(t, c, am2, "amtenant-1", "ha-failover")
	leader, follower := leaderOf(t, 30*time.Second, r1, r2)
	t.Logf("leader %s, follower %s", leader.name, follower.name)

	// 1. Each alert once, though both replicas see it.
	start := time.Now().Add(-time.Minute)
	alert := func(name string) testAlert { return firing(start, "alertname", name, "namespace", "ha-a") }
	post(alert("A1"), alert("A2"), alert("A3"))
	eventually(t, 20*time.Second, "A1-A3 delivered", func() bool { return len(s.alertsAt("/ha")) >= 3 })
	// The follower records them as the leader's once the takeover window
	// has passed with the leader alive.
	eventually(t, 20*time.Second, "the follower's shadow confirms A1-A3", func() bool {
		return follower.metric(`amtenant_notifications_shadowed_total{type="webhook"}`) >= 3
	})
	leader.waitPolls(2)
	d1, l1 := exactlyOnce(t, s, "/ha", "A1/firing", "A2/firing", "A3/firing")
	if n := leader.metric(`amtenant_notifications_total{type="webhook"}`); n != 3 {
		t.Errorf("the leader sent %v notifications, want 3", n)
	}
	if n := follower.metric(`amtenant_notifications_total{type="webhook"}`); n != 0 {
		t.Errorf("the follower sent %v notifications, want 0", n)
	}

	// 2. SIGKILL of the leader: the follower takes over within the lease
	// duration, sends new alerts once and the old ones not again.
	killed := time.Now()
	leader.kill()
	post(alert("B1"))
	eventually(t, 30*time.Second, "the follower takes over", func() bool { return follower.metric("amtenant_leader") == 1 })
	takeover := time.Since(killed)
	t.Logf("takeover %.1fs after SIGKILL (lease duration %s)", takeover.Seconds(), haLeaseDuration)
	if limit := haLeaseDuration + 4*haRetryPeriod + time.Second; takeover > limit {
		t.Errorf("takeover took %s, more than the lease duration and retries (%s)", takeover, limit)
	}
	eventually(t, 20*time.Second, "B1 delivered by the new leader", func() bool { return counts(s, "/ha")["B1/firing"] >= 1 })

	// 3. A resolution after the failover, once.
	post(resolvedAlert(start, "alertname", "A1", "namespace", "ha-a"))
	eventually(t, 20*time.Second, "A1 resolved", func() bool { return counts(s, "/ha")["A1/resolved"] >= 1 })

	// 4. The killed replica comes back (same identity and state file): it
	// follows, and sends nothing.
	leader.start()
	leader.waitPolls(6)
	if leader.metric("amtenant_leader") != 0 {
		t.Error("the restarted replica leads although the other one holds the Lease")
	}

	// 5. The new leader's Alertmanager restarts and comes back empty;
	// Prometheus resends what fires: no false resolution, no repeat.
	follower.am.restart()
	post(alert("A2"), alert("A3"), alert("B1"))
	time.Sleep(4 * time.Second) // more than the resolve grace, within the restart grace
	d2, l2 := exactlyOnce(t, s, "/ha", "A1/firing", "A2/firing", "A3/firing", "B1/firing", "A1/resolved")
	t.Logf("HA failover: duplicates %d, losses %d (before the failover: %d, %d)", d2, l2, d1, l1)
}

// TestHAGracefulHandover: SIGTERM of the leader gives the Lease up at
// once; the other replica takes over without waiting for it to expire.
func TestHAGracefulHandover(t *testing.T) {
	c := startCluster(t)
	s := newSink(t)
	c.namespace(t, "ha-g", nil)
	c.secret(t, channelSecret("ha-g", "hook", nil, nil, map[string]string{"type": "webhook", "url": s.url("/g")}))
	am1, am2 := startAlertmanager(t), startAlertmanager(t)
	post := func(alerts ...testAlert) {
		am1.post(alerts...)
		am2.post(alerts...)
	}
	r1 := newHASidecar(t, c, am1, "amtenant-0", "ha-graceful")
	r2 := newHASidecar(t, c, am2, "amtenant-1", "ha-graceful")
	leader, follower := leaderOf(t, 30*time.Second, r1, r2)
	start := time.Now().Add(-time.Minute)
	post(firing(start, "alertname", "G1", "namespace", "ha-g"))
	eventually(t, 20*time.Second, "the follower's shadow confirms G1", func() bool {
		return follower.metric(`amtenant_notifications_shadowed_total{type="webhook"}`) >= 1
	})
	stopped := time.Now()
	leader.proc.Stop()
	if !strings.Contains(leader.proc.Log(), "Delivery state saved") {
		t.Error("the leader did not save its state at SIGTERM")
	}
	eventually(t, 20*time.Second, "the follower takes over", func() bool { return follower.metric("amtenant_leader") == 1 })
	handover := time.Since(stopped)
	t.Logf("handover %.1fs after SIGTERM", handover.Seconds())
	if handover > haLeaseDuration {
		t.Errorf("handover took %s: the Lease was not given up", handover)
	}
	post(firing(start, "alertname", "G2", "namespace", "ha-g"))
	eventually(t, 20*time.Second, "G2 delivered", func() bool { return counts(s, "/g")["G2/firing"] >= 1 })
	follower.waitPolls(4)
	d, l := exactlyOnce(t, s, "/g", "G1/firing", "G2/firing")
	t.Logf("HA graceful handover: duplicates %d, losses %d", d, l)
}

// TestStateFileRestart: SIGTERM and restart with --state.file send
// nothing twice, resume a delivery that was being retried, and deliver
// what happened while the sidecar was down.
func TestStateFileRestart(t *testing.T) {
	c := startCluster(t)
	s := newSink(t)
	c.namespace(t, "st-a", nil)
	c.secret(t, channelSecret("st-a", "hook", nil, nil, map[string]string{"type": "webhook", "url": s.url("/t")}))
	c.secret(t, channelSecret("st-a", "flaky", nil, nil, map[string]string{"type": "webhook", "url": s.url("/p")}))
	am := startAlertmanager(t)
	// One replica, no election: the state file alone carries the state.
	r := newHASidecar(t, c, am, "amtenant-0", "")
	start := time.Now().Add(-time.Minute)
	alert := func(name string) testAlert { return firing(start, "alertname", name, "namespace", "st-a") }

	s.failPath("/p", 500, 1_000_000)
	am.post(alert("S1"), alert("S2"))
	eventually(t, 20*time.Second, "S1, S2 delivered to the working channel", func() bool { return len(s.alertsAt("/t")) >= 2 })
	eventually(t, 20*time.Second, "the flaky channel failing", func() bool {
		return r.metric(`amtenant_notifications_failed_total{reason="serverError",type="webhook"}`) >= 2
	})

	// SIGTERM while the flaky channel is being retried.
	r.proc.Stop()
	if !strings.Contains(r.proc.Log(), "Delivery state saved") {
		t.Fatal("no state saved at SIGTERM")
	}
	fi, err := os.Stat(r.state)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("state file: %d bytes for 2 alerts on 2 channels", fi.Size())

	// While it is down: S2 resolves, S3 fires, the flaky channel recovers.
	am.post(resolvedAlert(start, "alertname", "S2", "namespace", "st-a"), alert("S3"))
	s.failPath("/p", 500, 0)
	r.start()
	if !strings.Contains(r.proc.Log(), "Delivery state restored") {
		t.Fatal("the state was not restored")
	}
	eventually(t, 20*time.Second, "S2 resolved and S3 after the restart", func() bool {
		got := counts(s, "/t")
		return got["S2/resolved"] >= 1 && got["S3/firing"] >= 1
	})
	eventually(t, 20*time.Second, "the retried delivery resumed", func() bool {
		got := counts(s, "/p")
		return got["S1/firing"] >= 1 && got["S3/firing"] >= 1
	})
	r.waitPolls(6)
	d, l := exactlyOnce(t, s, "/t", "S1/firing", "S2/firing", "S2/resolved", "S3/firing")
	// S2 ended before the flaky channel ever heard of it: whether it is
	// told "firing" then "resolved" or nothing, never twice.
	got := counts(s, "/p")
	for _, k := range []string{"S2/firing", "S2/resolved"} {
		if got[k] > 1 {
			t.Errorf("/p: %s arrived %d times", k, got[k])
			d += got[k] - 1
		}
	}
	if got["S1/firing"] != 1 || got["S3/firing"] != 1 {
		t.Errorf("/p: S1 %d times, S3 %d times; want once each", got["S1/firing"], got["S3/firing"])
	}
	t.Logf("state file restart: duplicates %d, losses %d", d, l)

	// SIGKILL (no final save) once a save followed the last delivery: the
	// periodic save (every second) kept it, and the restart sends nothing
	// again.
	saves := r.metric(`amtenant_state_saves_total{result="success"}`)
	am.post(alert("S4"))
	eventually(t, 20*time.Second, "S4 delivered to both channels", func() bool {
		return counts(s, "/t")["S4/firing"] >= 1 && counts(s, "/p")["S4/firing"] >= 1
	})
	eventually(t, 10*time.Second, "a save that holds both deliveries of S4", func() bool {
		f, err := state.Load(r.state, time.Now())
		if err != nil || f == nil {
			return false
		}
		told := 0
		for _, tg := range f.Targets {
			for _, g := range tg.Groups {
				if strings.Contains(g.Key, "S4") && len(g.Firing) > 0 {
					told++
				}
			}
		}
		return told == 2
	})
	t.Logf("state saves while S4 was delivered: %v", r.metric(`amtenant_state_saves_total{result="success"}`)-saves)
	r.kill()
	r.start()
	(&sidecar{url: r.url}).waitPolls(t, 6)
	if got := counts(s, "/t")["S4/firing"]; got != 1 {
		t.Errorf("/t: S4 arrived %d times after a SIGKILL and restart, want once", got)
	}

	// A corrupt state file is set aside: the sidecar starts fresh.
	r.proc.Stop()
	if err := os.WriteFile(r.state, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.start()
	if !strings.Contains(r.proc.Log(), "set aside") {
		t.Error("the log does not say the corrupt state file was set aside")
	}
	aside, _ := filepath.Glob(r.state + ".corrupt-*")
	if len(aside) != 1 {
		t.Errorf("corrupt file set aside as %v", aside)
	}
	if !slices.Contains(s.alertsAt("/t"), "S1/firing") {
		t.Error("lost what was received before")
	}
}
