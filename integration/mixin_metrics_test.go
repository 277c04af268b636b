//go:build integration

package integration

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/amtenant/amtenant/internal/testutil"
	"github.com/amtenant/amtenant/mixin"
)

// TestMixinMatchesLiveMetrics checks every selector of mixin/ (rules and
// dashboard) against the live /metrics of a sidecar that delivered, retried,
// dropped, saw an invalid channel and saved its state file: the metric
// exists, and so do the labels the selector matches on and the values it
// requires.
func TestMixinMatchesLiveMetrics(t *testing.T) {
	t.Parallel()
	am := startAlertmanager(t)
	s := newSink(t)
	s.failPath("/flaky", 500, 2)   // retried, then delivered
	s.failPath("/broken", 400, -1) // dropped
	dir := t.TempDir()
	var channels strings.Builder
	for _, name := range []string{"ok", "flaky", "broken"} {
		fmt.Fprintf(&channels, `---
apiVersion: v1
kind: Secret
metadata:
  name: %s
  namespace: team-a
  labels:
    amtenant.io/channel: ""
stringData:
  type: webhook
  url: %s
`, name, s.url("/"+name))
	}
	writeObjects(t, dir, "objects.yaml", `
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
---
apiVersion: v1
kind: Secret
metadata:
  name: typo
  namespace: team-a
  labels:
    amtenant.io/channel: ""
stringData:
  type: slak
`+channels.String())
	sc := startSidecar(t, am, dir, "--state.file="+filepath.Join(t.TempDir(), "state.json"))

	am.post(firing(time.Now().Add(-time.Minute), "alertname", "Mixin", "namespace", "team-a"))
	eventually(t, 30*time.Second, "deliveries, a retry and a drop", func() bool {
		m := sc.metrics(t)
		return len(s.alertsAt("/ok")) == 1 && len(s.alertsAt("/flaky")) == 1 &&
			testutil.SeriesValue(t, m, `amtenant_notifications_dropped_total{type="webhook"}`) >= 1 &&
			testutil.SeriesValue(t, m, `amtenant_state_saves_total{result="success"}`) > 0
	})

	// The replication metrics exist with --replication.peer only: the
	// replication tests check their selectors.
	checkSelectors(t, sc.metrics(t), func(metric string) bool { return !strings.HasPrefix(metric, "amtenant_replication_") })
}

// checkSelectors checks the mixin's selectors of the metrics keep selects
// against an exposition.
func checkSelectors(t *testing.T, exposition string, keep func(metric string) bool) {
	t.Helper()
	families := liveFamilies(t, exposition)
	sels, err := mixin.Selectors()
	if err != nil {
		t.Fatal(err)
	}
	// Labels that Prometheus adds to every series of a target.
	targetLabels := map[string]bool{"job": true, "instance": true, "namespace": true, "pod": true, "container": true, "endpoint": true, "service": true}
	for _, sel := range sels {
		if sel.Metric == "up" || !keep(sel.Metric) {
			continue // up: written by Prometheus itself for every target
		}
		f, ok := families[sel.Metric]
		if !ok {
			t.Errorf("%s: %s is not in the sidecar's /metrics", sel.Where, sel.Metric)
			continue
		}
		for _, m := range sel.Matchers {
			if targetLabels[m.Name] {
				continue
			}
			values, ok := f[m.Name]
			if !ok {
				t.Errorf("%s: %s has no label %s", sel.Where, sel.Metric, m.Name)
				continue
			}
			if m.Type == labels.MatchEqual && !values[m.Value] {
				t.Errorf("%s: %s has no series with %s=%q (values: %v)", sel.Where, sel.Metric, m.Name, m.Value, values)
			}
		}
	}
}

// liveFamilies indexes an exposition: series name (histograms also as
// _bucket, _sum and _count) → label name → the values seen.
func liveFamilies(t *testing.T, exposition string) map[string]map[string]map[string]bool {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]map[string]bool{}
	add := func(name string, m *dto.Metric, extra ...string) {
		ls := out[name]
		if ls == nil {
			ls = map[string]map[string]bool{}
			out[name] = ls
		}
		for _, lp := range m.GetLabel() {
			if ls[lp.GetName()] == nil {
				ls[lp.GetName()] = map[string]bool{}
			}
			ls[lp.GetName()][lp.GetValue()] = true
		}
		for _, l := range extra {
			if ls[l] == nil {
				ls[l] = map[string]bool{}
			}
		}
	}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetType() {
			case dto.MetricType_HISTOGRAM:
				add(name+"_bucket", m, "le")
				add(name+"_sum", m)
				add(name+"_count", m)
			case dto.MetricType_SUMMARY:
				add(name, m, "quantile")
				add(name+"_sum", m)
				add(name+"_count", m)
			default:
				add(name, m)
			}
		}
	}
	return out
}
