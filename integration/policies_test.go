//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/amtenant/amtenant/internal/harness"
	"github.com/amtenant/amtenant/internal/testutil"
)

// alertsWithNode returns "alertname[/node]/status" of every alert received
// on path, in order.
func (s *sink) alertsWithNode(path string) []string {
	var out []string
	for _, n := range s.at(path) {
		for _, a := range n.Alerts {
			name := a.Labels["alertname"]
			if node := a.Labels["node"]; node != "" {
				name += "/" + node
			}
			out = append(out, name+"/"+a.Status)
		}
	}
	return out
}

// muteWindow returns a mute-time-intervals annotation whose window is
// open now and closes at a whole minute at least 8 seconds away, and that
// minute.
func muteWindow(now time.Time) (string, time.Time) {
	now = now.UTC()
	end := now.Truncate(time.Minute).Add(time.Minute)
	if end.Sub(now) < 8*time.Second {
		end = end.Add(time.Minute)
	}
	start := now.Truncate(time.Minute)
	endClock := end.Format("15:04")
	if endClock == "00:00" {
		endClock = "24:00"
	}
	return fmt.Sprintf("- times: [{start_time: '%s', end_time: '%s'}]\n  location: UTC\n", start.Format("15:04"), endClock), end
}

func policyMap(ns, name, label string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{label: ""}}, Data: data}
}

// explainHeld returns, per channel, what explain says holds the alerts
// matching match back.
func explainHeld(t testing.TB, sc *sidecar, match string) map[string]string {
	t.Helper()
	resp, err := http.Get(sc.url + "/api/v1/explain?match=" + url.QueryEscape(match))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var rep struct {
		Alerts []struct {
			Channels []struct {
				Channel string `json:"channel"`
				Routed  bool   `json:"routed"`
				Held    string `json:"held"`
			} `json:"channels"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal(body, &rep); err != nil || len(rep.Alerts) != 1 {
		t.Fatalf("explain %s: %v: %s", match, err, body)
	}
	out := map[string]string{}
	for _, c := range rep.Alerts[0].Channels {
		if c.Routed {
			out[c.Channel] = c.Held
		}
	}
	return out
}

// Tenant policies on the real API server, read as the manifests'
// ServiceAccount: a tenant silence and inhibit rule hold only the tenant's
// own alerts on its own channels; deleting the silence and resolving the
// source let them go, once; a mute window holds a channel's notification
// and sends it once when it closes; an invalid policy gets a Warning Event.
func TestKubeTenantPolicies(t *testing.T) {
	c := startCluster(t)
	am := startAlertmanager(t)
	s := newSink(t)
	c.namespace(t, "k4-mon", nil)
	c.namespace(t, "k4-a", map[string]string{"amtenant.io/tenant": "k4-alpha"})
	c.namespace(t, "k4-a2", map[string]string{"amtenant.io/tenant": "k4-alpha"})
	c.namespace(t, "k4-b", nil)
	hook := func(path string) map[string]string { return map[string]string{"type": "webhook", "url": s.url(path)} }
	c.secret(t, channelSecret("k4-a", "hook", nil, nil, hook("/a")))
	c.secret(t, channelSecret("k4-b", "hook", nil, nil, hook("/b")))
	c.secret(t, channelSecret("k4-mon", "all", map[string]string{"amtenant.io/scope": "all"}, map[string]string{"amtenant.io/group-by": "..."}, hook("/all")))
	window, opens := muteWindow(time.Now())
	c.secret(t, channelSecret("k4-a", "muted", nil, map[string]string{
		"amtenant.io/match": `alertname="Loud"`, "amtenant.io/mute-time-intervals": window,
	}, hook("/muted")))
	c.configMap(t, policyMap("k4-a", "quiet", "amtenant.io/silence", map[string]string{
		"matchers": `alertname="Quiet"`, "ends-at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "comment": "maintenance",
	}))
	c.configMap(t, policyMap("k4-a", "node-down", "amtenant.io/inhibit", map[string]string{"rules": `
- source_matchers: [alertname="NodeDown"]
  target_matchers: [alertname="PodDown"]
  equal: [node]
`}))
	c.configMap(t, policyMap("k4-a", "broken", "amtenant.io/silence", map[string]string{"matchers": `alertname="X"`, "ends-at": "tomorrow"}))
	sc := startKubeSidecar(t, am, c, "k4-mon", serviceAccount)

	start := time.Now().Add(-time.Minute)
	nodeDown := firing(start, "alertname", "NodeDown", "namespace", "k4-a", "node", "n1")
	rest := []testAlert{
		firing(start, "alertname", "Quiet", "namespace", "k4-a2"), // tenant k4-alpha: silenced
		firing(start, "alertname", "Quiet", "namespace", "k4-b"),  // another tenant: not
		firing(start, "alertname", "Loud", "namespace", "k4-a"),
		firing(start, "alertname", "PodDown", "namespace", "k4-a", "node", "n1"), // inhibited
		firing(start, "alertname", "PodDown", "namespace", "k4-a", "node", "n2"), // other node: not
		firing(start, "alertname", "PodDown", "namespace", "k4-b", "node", "n1"), // another tenant: not
	}
	am.post(append(rest, nodeDown)...)
	eventually(t, 20*time.Second, "first notifications", func() bool {
		return len(s.alertsWithNode("/all")) == 7 && len(s.alertsWithNode("/b")) == 2 && len(s.alertsWithNode("/a")) == 3
	})
	sc.waitPolls(t, 10) // time for anything held to leak out
	sorted := func(path string) []string {
		got := s.alertsWithNode(path)
		slices.Sort(got)
		return got
	}
	if got, want := sorted("/a"), []string{"Loud/firing", "NodeDown/n1/firing", "PodDown/n2/firing"}; !slices.Equal(got, want) {
		t.Errorf("the tenant's channel received %v, want %v", got, want)
	}
	if got, want := sorted("/b"), []string{"PodDown/n1/firing", "Quiet/firing"}; !slices.Equal(got, want) {
		t.Errorf("the other tenant's channel received %v, want %v", got, want)
	}
	if got := s.alertsWithNode("/muted"); len(got) != 0 && time.Now().Before(opens) {
		t.Errorf("the muted channel received %v inside its window", got)
	}
	m := sc.metrics(t)
	for series, want := range map[string]float64{
		`amtenant_alerts_held{reason="silenced"}`:                  1,
		`amtenant_alerts_held{reason="inhibited"}`:                 1,
		`amtenant_tenant_policies{kind="silence",state="active"}`:  1,
		`amtenant_tenant_policies{kind="silence",state="invalid"}`: 1,
		`amtenant_tenant_policies{kind="inhibit",state="active"}`:  1,
	} {
		if got := testutil.SeriesValue(t, m, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	held := explainHeld(t, sc, `alertname="Quiet",namespace="k4-a2"`)
	if !strings.HasPrefix(held["k4-a/hook"], "silenced by k4-a/quiet until ") || held["k4-mon/all"] != "" {
		t.Errorf("explain of the silenced alert: %v", held)
	}
	held = explainHeld(t, sc, `alertname="PodDown",node="n1",namespace="k4-a"`)
	if held["k4-a/hook"] != "inhibited by NodeDown (rule k4-a/node-down[0], equal node)" || held["k4-mon/all"] != "" {
		t.Errorf("explain of the inhibited alert: %v", held)
	}
	eventually(t, 20*time.Second, "the Warning Event on the invalid policy", func() bool {
		return slices.ContainsFunc(c.eventsOn(t, "ConfigMap", "k4-a", "broken"), func(e string) bool {
			return strings.HasPrefix(e, `Warning InvalidPolicy: silence k4-a/broken: ends-at: "tomorrow" is not an RFC 3339 time`)
		})
	})

	// Deleting the silence and resolving the inhibiting alert let the held
	// alerts go, once each.
	if err := c.admin.CoreV1().ConfigMaps("k4-a").Delete(context.Background(), "quiet", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	am.post(append(rest, resolvedAlert(start, "alertname", "NodeDown", "namespace", "k4-a", "node", "n1"))...)
	eventually(t, 20*time.Second, "released alerts", func() bool {
		got := s.alertsWithNode("/a")
		return slices.Contains(got, "Quiet/firing") && slices.Contains(got, "PodDown/n1/firing")
	})

	// The mute window closes: the pending notification goes out once.
	if d := time.Until(opens); d > 0 {
		sc.waitPolls(t, 3)
		if got := s.alertsWithNode("/muted"); len(got) != 0 && time.Now().Before(opens) {
			t.Fatalf("the muted channel received %v inside its window", got)
		}
	}
	eventually(t, time.Until(opens)+20*time.Second, "the muted channel after its window", func() bool {
		return len(s.alertsWithNode("/muted")) > 0
	})
	if first := s.at("/muted"); len(first) != 1 {
		t.Fatalf("%d messages on the muted channel, want 1", len(first))
	}
	am.post(rest...)
	sc.waitPolls(t, 10)
	if got := s.alertsWithNode("/muted"); !slices.Equal(got, []string{"Loud/firing"}) {
		t.Errorf("the muted channel received %v after its window, want Loud once", got)
	}
	// Nothing more than the releases: on the tenant's channel the three
	// first messages, Quiet, the PodDown group again (n1 and n2, as
	// Alertmanager lists a group) and NodeDown resolved; on the other
	// tenant's its two first messages.
	for path, want := range map[string]int{"/a": 6, "/b": 2} {
		if got := s.at(path); len(got) != want {
			t.Errorf("%s received %d messages, want %d: %v", path, len(got), want, s.alertsWithNode(path))
		}
	}
}

// Local mode reads the same policies from --objects.dir: a silence and an
// inhibit rule hold only the tenant's own alerts, an invalid policy is
// logged, and removing the file lets the held alert go.
func TestLocalTenantPolicies(t *testing.T) {
	t.Parallel()
	am := startAlertmanager(t)
	s := newSink(t)
	dir := t.TempDir()
	writeObjects(t, dir, "objects.yaml", objects(s))
	writeObjects(t, dir, "quiet.yaml", `
apiVersion: v1
kind: ConfigMap
metadata:
  name: quiet
  namespace: team-b
  labels:
    amtenant.io/silence: ""
data:
  matchers: alertname="Quiet"
  ends-at: `+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: node-down
  namespace: team-b
  labels:
    amtenant.io/inhibit: ""
data:
  rules: |
    - source_matchers: [alertname="NodeDown"]
      target_matchers: [alertname="PodDown"]
      equal: [node]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: broken
  namespace: team-b
  labels:
    amtenant.io/inhibit: ""
data:
  rules: "- target_matchers: [alertname=X]"
`)
	sc := startSidecar(t, am, dir)
	start := time.Now().Add(-time.Minute)
	am.post(firing(start, "alertname", "Quiet", "namespace", "team-b"), firing(start, "alertname", "Loud", "namespace", "team-b"),
		firing(start, "alertname", "Quiet", "namespace", "team-a"),
		firing(start, "alertname", "NodeDown", "namespace", "team-b", "node", "n1"),
		firing(start, "alertname", "PodDown", "namespace", "team-b", "node", "n1"),
		firing(start, "alertname", "PodDown", "namespace", "team-a", "node", "n1"))
	eventually(t, 15*time.Second, "Loud and the other tenant's Quiet", func() bool {
		return slices.Contains(s.alertsAt("/team-b"), "Loud/firing") && slices.Contains(s.alertsAt("/team-a"), "Quiet/firing") &&
			len(s.alertsAt("/all")) == 6
	})
	sc.waitPolls(t, 10)
	got := s.alertsAt("/team-b")
	slices.Sort(got)
	if want := []string{"Loud/firing", "NodeDown/firing"}; !slices.Equal(got, want) {
		t.Errorf("team-b received %v, want %v while Quiet is silenced and PodDown inhibited", got, want)
	}
	if !slices.Contains(s.alertsAt("/team-a"), "PodDown/firing") {
		t.Errorf("team-b's inhibit rule held team-a's PodDown: %v", s.alertsAt("/team-a"))
	}
	if log := sc.proc.Log(); !strings.Contains(log, "inhibit team-b/broken: rules[0]: source_matchers is required") || !strings.Contains(log, "configmap=team-b/broken") {
		t.Errorf("the invalid policy was not logged:\n%s", harness.Tail(log, 3000))
	}
	removeObjects(t, dir, "quiet.yaml")
	eventually(t, 15*time.Second, "Quiet after its silence file is gone", func() bool {
		return slices.Contains(s.alertsAt("/team-b"), "Quiet/firing")
	})
}
