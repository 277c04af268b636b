//go:build integration

package integration

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestExplain asks the running sidecar, through `sidecar explain`, about a
// delivered alert and a silenced one, and checks that every channel's
// verdict is spelled out: delivered, filtered by match, invalid, denied
// target, other tenant, suppressed.
func TestExplain(t *testing.T) {
	t.Parallel()
	am := startAlertmanager(t)
	s := newSink(t)
	dir := t.TempDir()
	writeObjects(t, dir, "objects.yaml", fmt.Sprintf(`
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-b}
---
apiVersion: v1
kind: Secret
metadata: {name: hook, namespace: team-a, labels: {amtenant.io/channel: ""}}
stringData: {type: webhook, url: "%s"}
---
apiVersion: v1
kind: Secret
metadata:
  name: critical
  namespace: team-a
  labels: {amtenant.io/channel: ""}
  annotations: {amtenant.io/match: 'severity="critical"'}
stringData: {type: webhook, url: "%s"}
---
apiVersion: v1
kind: Secret
metadata: {name: broken, namespace: team-a, labels: {amtenant.io/channel: ""}}
stringData: {type: slak, url: "https://example.com/"}
---
apiVersion: v1
kind: Secret
metadata: {name: metadata, namespace: team-a, labels: {amtenant.io/channel: ""}}
stringData: {type: webhook, url: "http://169.254.169.254/latest/meta-data/"}
---
apiVersion: v1
kind: Secret
metadata: {name: hook, namespace: team-b, labels: {amtenant.io/channel: ""}}
stringData: {type: webhook, url: "%s"}
`, s.url("/a"), s.url("/a-critical"), s.url("/b")))
	sc := startSidecar(t, am, dir)

	silence := am.silence(time.Hour, "alertname", "Silenced")
	start := time.Now().Add(-time.Minute)
	am.post(firing(start, "alertname", "W", "namespace", "team-a", "severity", "warning"),
		firing(start, "alertname", "Silenced", "namespace", "team-a"))
	eventually(t, 15*time.Second, "W delivered", func() bool { return len(s.alertsAt("/a")) == 1 })
	explainOut := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(sidecarBinary(t), append([]string{"explain", "--url=" + sc.url}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("sidecar explain: %v\n%s", err, out)
		}
		return string(out)
	}
	// The denied channel gives up at once; wait until it has tried.
	var out string
	eventually(t, 15*time.Second, "the denied attempt", func() bool {
		out = explainOut(`--alert=alertname="W",namespace="team-a"`)
		return strings.Contains(out, "may not reach")
	})
	t.Logf("sidecar explain:\n%s", out)
	for _, want := range []string{
		`tenant:  team-a: namespace "team-a" has no amtenant.io/tenant label: it is its own tenant`,
		"+ team-a/hook: the tenant's own channel",
		"delivered at",
		`- team-a/critical: the match annotation severity="critical" does not match`,
		`- team-a/broken: invalid channel: team-a/broken: unknown channel type "slak"`,
		"team-a/metadata webhook[0]: not delivered: the destination is in a network tenant channels may not reach",
		`- team-b/hook: belongs to another tenant ("team-b")`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
	out = explainOut(`--alert=alertname="Silenced"`)
	if !strings.Contains(out, "held back: silenced by "+silence) {
		t.Errorf("explain of a silenced alert:\n%s", out)
	}
	out = explainOut(`--alert=alertname="Nope"`)
	if !strings.Contains(out, "No alert matching") {
		t.Errorf("explain of an unknown alert:\n%s", out)
	}
}
