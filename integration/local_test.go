//go:build integration

package integration

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/amtenant/amtenant/internal/testutil"
)

// objects declares two tenants (team-a in tenant alpha, team-b alone), a
// tenant channel in each (one per spelling), an admin channel for tenant
// alpha, one for cluster alerts and one for everything.
func objects(s *sink) string {
	return fmt.Sprintf(`
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
  labels:
    amtenant.io/tenant: alpha
---
apiVersion: v1
kind: Namespace
metadata:
  name: team-b
---
apiVersion: v1
kind: Secret
metadata:
  name: hook
  namespace: team-a
  labels:
    amtenant.io/channel: ""
    amtenant.io/scope: all   # a tenant cannot widen its scope: ignored
stringData:
  type: webhook
  url: %s
---
apiVersion: v1
kind: Secret
metadata:
  name: hook
  namespace: team-b
  labels:
    amtenant.io/channel: ""
stringData:
  receiver.yaml: |
    webhook_configs:
    - url: %s
---
apiVersion: v1
kind: Secret
metadata:
  name: alpha-oncall
  namespace: monitoring
  labels:
    amtenant.io/channel: ""
    amtenant.io/tenant: alpha
  annotations:
    amtenant.io/match: severity="critical"
stringData:
  type: webhook
  url: %s
---
apiVersion: v1
kind: Secret
metadata:
  name: cluster
  namespace: monitoring
  labels:
    amtenant.io/channel: ""
stringData:
  type: webhook
  url: %s
---
apiVersion: v1
kind: Secret
metadata:
  name: everything
  namespace: monitoring
  labels:
    amtenant.io/channel: ""
    amtenant.io/scope: all
  annotations:
    amtenant.io/group-by: "..."
stringData:
  type: webhook
  url: %s
  send_resolved: "false"
`, s.url("/team-a"), s.url("/team-b"), s.url("/alpha-oncall"), s.url("/cluster"), s.url("/all"))
}

func TestRoutingFiringAndResolvedOnce(t *testing.T) {
	t.Parallel()
	am := startAlertmanager(t)
	s := newSink(t)
	dir := t.TempDir()
	writeObjects(t, dir, "objects.yaml", objects(s))
	sc := startSidecar(t, am, dir)

	start := time.Now().Add(-time.Minute)
	alerts := []testAlert{
		firing(start, "alertname", "A", "namespace", "team-a", "severity", "critical"),
		firing(start, "alertname", "A2", "namespace", "team-a", "severity", "warning"),
		firing(start, "alertname", "B", "namespace", "team-b"),
		firing(start, "alertname", "C"),                          // cluster alert: no namespace
		firing(start, "alertname", "D", "namespace", "ghost-ns"), // namespace does not exist
	}
	am.post(alerts...)

	eventually(t, 15*time.Second, "all channels notified", func() bool {
		return len(s.alertsAt("/all")) == 5 && len(s.alertsAt("/team-a")) == 2 && len(s.alertsAt("/team-b")) == 1 &&
			len(s.alertsAt("/alpha-oncall")) == 1 && len(s.alertsAt("/cluster")) == 2
	})
	// Keep Alertmanager's copy alive the way Prometheus resends, and give a
	// repeat or duplicate every chance to show up: ten more polls, more
	// than a group interval.
	am.post(alerts...)
	sc.waitPolls(t, 10)

	want := map[string][]string{
		"/team-a":       {"A/firing", "A2/firing"},
		"/team-b":       {"B/firing"},
		"/alpha-oncall": {"A/firing"},
		"/cluster":      {"C/firing", "D/firing"},
		"/all":          {"A/firing", "A2/firing", "B/firing", "C/firing", "D/firing"},
	}
	for path, w := range want {
		got := s.alertsAt(path)
		slices.Sort(got)
		if !slices.Equal(got, w) {
			t.Errorf("%s received %v, want %v", path, got, w)
		}
	}
	for _, n := range s.at("/team-a") {
		if n.Receiver != "team-a/hook" {
			t.Errorf("receiver = %q, want team-a/hook", n.Receiver)
		}
		for _, a := range n.Alerts {
			if a.Labels["tenant"] != "alpha" {
				t.Errorf("alert %s has tenant %q, want alpha", a.Labels["alertname"], a.Labels["tenant"])
			}
		}
	}

	// Resolve A the way Prometheus does.
	am.post(resolvedAlert(start, "alertname", "A", "namespace", "team-a", "severity", "critical"))
	eventually(t, 15*time.Second, "resolution of A", func() bool {
		return slices.Contains(s.alertsAt("/team-a"), "A/resolved") && slices.Contains(s.alertsAt("/alpha-oncall"), "A/resolved")
	})
	am.post(alerts[1:]...)
	sc.waitPolls(t, 10)
	count := func(path, what string) int {
		n := 0
		for _, a := range s.alertsAt(path) {
			if a == what {
				n++
			}
		}
		return n
	}
	if n := count("/team-a", "A/resolved"); n != 1 {
		t.Errorf("team-a got A resolved %d times, want 1", n)
	}
	if n := count("/alpha-oncall", "A/resolved"); n != 1 {
		t.Errorf("alpha-oncall got A resolved %d times, want 1", n)
	}
	if n := count("/all", "A/resolved"); n != 0 {
		t.Errorf("/all (send_resolved false) got A resolved %d times", n)
	}
	if strings.Contains(sc.proc.Log(), "level=ERROR") {
		t.Errorf("sidecar logged errors")
	}
	if !strings.Contains(sc.proc.Log(), "TenantClaimIgnored") {
		t.Errorf("the tenant channel's scope claim was not reported")
	}
}

func TestSilenceHoldsBackAndExpiryReleases(t *testing.T) {
	t.Parallel()
	am := startAlertmanager(t)
	s := newSink(t)
	dir := t.TempDir()
	writeObjects(t, dir, "objects.yaml", objects(s))
	sc := startSidecar(t, am, dir)

	id := am.silence(time.Hour, "alertname", "Quiet")
	start := time.Now().Add(-time.Minute)
	am.post(firing(start, "alertname", "Quiet", "namespace", "team-b"), firing(start, "alertname", "Loud", "namespace", "team-b"))
	eventually(t, 15*time.Second, "Loud notified", func() bool { return slices.Contains(s.alertsAt("/team-b"), "Loud/firing") })
	sc.waitPolls(t, 10)
	if slices.Contains(s.alertsAt("/team-b"), "Quiet/firing") {
		t.Fatalf("silenced alert was notified: %v", s.alertsAt("/team-b"))
	}
	am.expireSilence(id)
	eventually(t, 15*time.Second, "Quiet notified after the silence expired", func() bool {
		return slices.Contains(s.alertsAt("/team-b"), "Quiet/firing")
	})
}

func TestAlertmanagerRestartIsNotAResolution(t *testing.T) {
	t.Parallel()
	am := startAlertmanager(t)
	s := newSink(t)
	dir := t.TempDir()
	writeObjects(t, dir, "objects.yaml", objects(s))
	startSidecar(t, am, dir)

	start := time.Now().Add(-time.Minute)
	a := firing(start, "alertname", "Steady", "namespace", "team-b")
	am.post(a)
	eventually(t, 15*time.Second, "Steady notified", func() bool { return slices.Contains(s.alertsAt("/team-b"), "Steady/firing") })

	am.restart()
	// Prometheus resends within its resend delay; here after two seconds,
	// longer than the resolve grace (1s) but inside the restart grace (3s).
	time.Sleep(2 * time.Second)
	a.EndsAt = time.Now().Add(4 * time.Minute)
	am.post(a)
	time.Sleep(4 * time.Second)
	if got := s.alertsAt("/team-b"); !slices.Equal(got, []string{"Steady/firing"}) {
		t.Fatalf("after an Alertmanager restart team-b received %v, want only the first firing", got)
	}
}

func TestFailingChannelDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	am := startAlertmanager(t)
	s := newSink(t)
	s.failPath("/team-a", 500, 3)   // three failures, then success
	s.failPath("/cluster", 400, -1) // permanent failure
	dir := t.TempDir()
	writeObjects(t, dir, "objects.yaml", objects(s))
	sc := startSidecar(t, am, dir)

	start := time.Now().Add(-time.Minute)
	am.post(firing(start, "alertname", "X", "namespace", "team-a"), firing(start, "alertname", "Y", "namespace", "team-b"), firing(start, "alertname", "Z"))
	eventually(t, 15*time.Second, "team-b notified", func() bool { return len(s.alertsAt("/team-b")) == 1 })
	eventually(t, 30*time.Second, "team-a notified after retries", func() bool { return len(s.alertsAt("/team-a")) == 1 })
	m := sc.metrics(t)
	// The live /metrics is promlint-clean and has every metric of the
	// contract (DESIGN.md §5).
	problems, err := promlint.New(strings.NewReader(m)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for _, name := range []string{"amtenant_polls_total", "amtenant_poll_duration_seconds", "amtenant_alerts",
		"amtenant_notifications_total", "amtenant_notifications_failed_total", "amtenant_notifications_dropped_total",
		"amtenant_notification_latency_seconds", "amtenant_channels", "amtenant_dedup_evictions_total",
		"amtenant_leader", "amtenant_build_info"} {
		if !strings.Contains(m, "# TYPE "+name+" ") {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if want := `amtenant_notifications_failed_total{reason="serverError",type="webhook"} 3`; !strings.Contains(m, want) {
		t.Errorf("metrics lack %s", want)
	}
	// The permanent failure is counted and tried again once per group
	// interval (1s here), never in a tight loop.
	refused := testutil.SeriesValue(t, m, `amtenant_notifications_failed_total{reason="clientError",type="webhook"}`)
	dropped := testutil.SeriesValue(t, m, `amtenant_notifications_dropped_total{type="webhook"}`)
	if refused < 1 || dropped != refused {
		t.Errorf("refused %v, dropped %v: want at least one, each refusal dropped", refused, dropped)
	}
	if tries, most := s.triesAt("/cluster"), int(time.Since(start.Add(time.Minute))/time.Second)+2; tries > most {
		t.Errorf("the refusing channel was tried %d times in %s, more than once per group interval", tries, time.Since(start.Add(time.Minute)).Round(time.Second))
	}
}

func TestHotReloadOfObjects(t *testing.T) {
	t.Parallel()
	am := startAlertmanager(t)
	s := newSink(t)
	dir := t.TempDir()
	writeObjects(t, dir, "objects.yaml", objects(s))
	startSidecar(t, am, dir)

	start := time.Now().Add(-time.Minute)
	am.post(firing(start, "alertname", "Early", "namespace", "team-b"))
	eventually(t, 15*time.Second, "Early notified", func() bool { return len(s.alertsAt("/team-b")) == 1 })

	// A channel created while the alert fires receives it once.
	writeObjects(t, dir, "late.yaml", fmt.Sprintf(`
apiVersion: v1
kind: Secret
metadata:
  name: late
  namespace: team-b
  labels:
    amtenant.io/channel: ""
stringData:
  type: webhook
  url: %s
`, s.url("/late")))
	eventually(t, 15*time.Second, "the new channel gets the firing alert", func() bool { return len(s.alertsAt("/late")) == 1 })

	// A broken file does not take the others down, nor its own channel.
	writeObjects(t, dir, "late.yaml", "apiVersion: v1\nkind: Secret\nmetadata: [oops\n")
	am.post(firing(start, "alertname", "Later", "namespace", "team-b"))
	eventually(t, 15*time.Second, "Later notified on both", func() bool {
		return slices.Contains(s.alertsAt("/late"), "Later/firing") && slices.Contains(s.alertsAt("/team-b"), "Later/firing")
	})
	time.Sleep(time.Second)
	for _, path := range []string{"/late", "/team-b"} {
		if got := s.alertsAt(path); !slices.Equal(got, []string{"Early/firing", "Later/firing"}) {
			t.Errorf("%s received %v, want each alert once", path, got)
		}
	}
}
