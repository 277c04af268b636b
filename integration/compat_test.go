//go:build integration

package integration

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/amtenant/amtenant/internal/testutil"
)

// TestAlertmanagerVersions runs one representative scenario against every
// Alertmanager release listed in AMTENANT_ALERTMANAGERS
// ("v0.25.0=/path/to/alertmanager,…"; `make compat` builds them and sets
// it): firing alerts delivered once, a silence Alertmanager applies
// (suppressed), a resolution once, and a restart of Alertmanager with
// Prometheus re-sending what fires: no false resolution.
func TestAlertmanagerVersions(t *testing.T) {
	spec := os.Getenv("AMTENANT_ALERTMANAGERS")
	if spec == "" {
		t.Skip("AMTENANT_ALERTMANAGERS is unset: `make compat` builds every supported Alertmanager release and runs this")
	}
	for _, e := range strings.Split(spec, ",") {
		version, bin, ok := strings.Cut(e, "=")
		if !ok {
			t.Fatalf("AMTENANT_ALERTMANAGERS: %q is not version=path", e)
		}
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			compatScenario(t, bin)
		})
	}
}

func compatScenario(t *testing.T, bin string) {
	s := newSink(t)
	dir := t.TempDir()
	writeObjects(t, dir, "objects.yaml", `
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
---
apiVersion: v1
kind: Secret
metadata:
  name: hook
  namespace: team-a
  labels:
    amtenant.io/channel: ""
stringData:
  type: webhook
  url: `+s.url("/c")+`
`)
	am := startAlertmanagerBin(t, bin, amConfig)
	sc := startSidecar(t, am, dir)
	start := time.Now().Add(-time.Minute)
	alert := func(name string) testAlert { return firing(start, "alertname", name, "namespace", "team-a") }

	am.post(alert("A"), alert("B"))
	eventually(t, 20*time.Second, "A and B delivered", func() bool {
		got := counts(s, "/c")
		return got["A/firing"] >= 1 && got["B/firing"] >= 1
	})

	// A silence in Alertmanager: B is suppressed, and a new alert still
	// goes out.
	id := am.silence(time.Hour, "alertname", "B")
	eventually(t, 20*time.Second, "B suppressed", func() bool {
		return testutil.SeriesValue(t, sc.metrics(t), `amtenant_alerts{state="suppressed"}`) == 1
	})
	am.post(alert("C"))
	am.post(resolvedAlert(start, "alertname", "A", "namespace", "team-a"))
	eventually(t, 20*time.Second, "C, and A's resolution", func() bool {
		got := counts(s, "/c")
		return got["C/firing"] >= 1 && got["A/resolved"] >= 1
	})

	// The silence expires: B is active again, and notified again (the
	// sidecar forgets what a silenced alert was told, as documented).
	am.expireSilence(id)
	eventually(t, 20*time.Second, "B notified again", func() bool { return counts(s, "/c")["B/firing"] >= 2 })

	// Alertmanager restarts and comes back empty; Prometheus re-sends what
	// fires. Nothing is resolved falsely (the restart is seen in
	// /api/v2/status), nothing is sent again.
	am.restart()
	am.post(alert("B"), alert("C"))
	// More polls than the restart grace (3 s) lasts.
	sc.waitPolls(t, 25)
	want := map[string]int{"A/firing": 1, "B/firing": 2, "C/firing": 1, "A/resolved": 1}
	got := counts(s, "/c")
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s arrived %d times, want %d", k, got[k], n)
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected %s (%d times)", k, n)
		}
	}
	m := sc.metrics(t)
	for _, r := range []string{"invalid", "http_error", "unreachable", "timeout"} {
		// Only the restart may have cost polls (unreachable for a moment).
		if n := testutil.SeriesValue(t, m, `amtenant_polls_total{result="`+r+`"}`); n > 0 && r != "unreachable" {
			t.Errorf("%v polls failed as %s", n, r)
		}
	}
	if got := testutil.SeriesValue(t, m, `amtenant_alerts_skipped{reason="malformed"}`); got != 0 {
		t.Errorf("%v alerts could not be read", got)
	}
}
