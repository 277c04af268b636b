package mixin

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

var update = flag.Bool("update", false, "rewrite prometheusrule.yaml from alerts.yaml")

// prometheusRule wraps alerts.yaml, comments included, into a
// PrometheusRule.
func prometheusRule(alerts []byte) []byte {
	var b bytes.Buffer
	b.WriteString(`# Generated from alerts.yaml by "go test ./mixin -update": edit alerts.yaml.
# The rules for prometheus-operator. Your Prometheus resource's ruleSelector
# must select this PrometheusRule (with kube-prometheus-stack: the label
# release=<release name>).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: amtenant
  labels:
    app.kubernetes.io/name: amtenant
spec:
`)
	lines := strings.Split(strings.TrimRight(string(alerts), "\n"), "\n")
	// The header comment is about the plain rule file.
	for len(lines) > 0 && strings.HasPrefix(lines[0], "#") {
		lines = lines[1:]
	}
	for _, l := range lines {
		if l == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString("  " + l + "\n")
	}
	return b.Bytes()
}

func TestPrometheusRuleIsAlerts(t *testing.T) {
	alerts, err := File("alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := prometheusRule(alerts)
	if *update {
		if err := os.WriteFile("prometheusrule.yaml", want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile("prometheusrule.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("prometheusrule.yaml is not alerts.yaml: run go test ./mixin -update")
	}
}

func TestRules(t *testing.T) {
	groups, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
			if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
				t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, s)
			}
			for _, a := range []string{"summary", "description"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s", r.Alert, a)
				}
			}
		}
	}
	// What the sidecar's operators must hear about.
	for _, want := range []string{"AmtenantDown", "AmtenantAbsent", "AmtenantPollsFailing",
		"AmtenantNotificationsFailing", "AmtenantNotificationsDropped", "AmtenantInvalidChannels",
		"AmtenantNoLeader", "AmtenantSeveralLeaders", "AmtenantDedupEvictions", "AmtenantStateNotSaved"} {
		if !slices.Contains(names, want) {
			t.Errorf("no alert %s", want)
		}
	}
}

func TestDashboard(t *testing.T) {
	d, err := ReadDashboard()
	if err != nil {
		t.Fatal(err)
	}
	if d.Title == "" || d.UID == "" {
		t.Error("the dashboard needs a title and a uid")
	}
	ids := map[int]bool{}
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d twice", p.ID)
			}
			ids[p.ID] = true
			if p.Title == "" || p.GridPos.W == 0 || p.GridPos.H == 0 {
				t.Errorf("panel %d: needs a title and a size", p.ID)
			}
			if p.Type != "row" {
				if p.Datasource["uid"] != "${datasource}" || len(p.Targets) == 0 {
					t.Errorf("panel %q: needs the data source variable and a query", p.Title)
				}
				for _, q := range p.Targets {
					if q.Datasource["uid"] != "${datasource}" || q.Expr == "" {
						t.Errorf("panel %q: a query without the data source variable or an expression", p.Title)
					}
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
}

// TestSelectors checks that every selector of the rules and the dashboard
// names a metric the sidecar declares and selects the scrape job the
// examples' PodMonitors set.
func TestSelectors(t *testing.T) {
	sels, err := Selectors()
	if err != nil {
		t.Fatal(err)
	}
	declared := declaredMetrics(t)
	used := map[string]bool{}
	for _, s := range sels {
		name := s.Metric
		if !declared[name] {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
			if !declared[base] || base == name {
				t.Errorf("%s: %s is not a metric of the sidecar", s.Where, name)
			}
			name = base
		}
		used[name] = true
		if !slices.ContainsFunc(s.Matchers, func(m *labels.Matcher) bool {
			return m.Name == "job" && m.Type == labels.MatchEqual && m.Value == "amtenant"
		}) {
			t.Errorf("%s: %s does not select job=\"amtenant\"", s.Where, s.Metric)
		}
	}
	// Every metric of the contract (DESIGN.md §5) is on the dashboard or
	// in a rule.
	for _, name := range []string{"amtenant_polls_total", "amtenant_poll_duration_seconds", "amtenant_alerts",
		"amtenant_notifications_total", "amtenant_notifications_failed_total", "amtenant_notifications_dropped_total",
		"amtenant_notification_latency_seconds", "amtenant_channels", "amtenant_dedup_evictions_total",
		"amtenant_leader", "amtenant_build_info",
		// Delivery health per channel and tenant controls.
		"amtenant_channel_failing", "amtenant_channel_last_delivery_timestamp_seconds",
		"amtenant_tenant_policies", "amtenant_alerts_held"} {
		if !used[name] {
			t.Errorf("%s is used by no rule or panel", name)
		}
	}
	for name := range declared {
		if strings.HasPrefix(name, "amtenant_") && !used[name] {
			t.Logf("%s is used by no rule or panel", name)
		}
	}
}

// declaredMetrics scans the module's Go source for the metric names it
// declares, plus those of the collectors the sidecar registers, plus up,
// which Prometheus adds to every target.
func declaredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{"up": true}
	nameField := regexp.MustCompile(`(?:Name:\s*|NewDesc\(\s*)"(amtenant_\w+)"`)
	buildInfo := regexp.MustCompile(`versioncollector\.NewCollector\("(\w+)"\)`)
	// What the Go and process collectors of client_golang expose, among
	// what the dashboard shows.
	collectors := map[string][]string{
		"collectors.NewProcessCollector": {"process_resident_memory_bytes", "process_cpu_seconds_total"},
		"collectors.NewGoCollector":      {"go_goroutines", "go_memstats_heap_inuse_bytes"},
	}
	err := filepath.WalkDir("..", func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			switch e.Name() {
			case ".git", ".cache", "bin", "testdata", "integration", "examples", "mixin":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range nameField.FindAllSubmatch(b, -1) {
			names[string(m[1])] = true
		}
		for _, m := range buildInfo.FindAllSubmatch(b, -1) {
			names[string(m[1])+"_build_info"] = true
		}
		for call, ns := range collectors {
			if bytes.Contains(b, []byte(call)) {
				for _, n := range ns {
					names[n] = true
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"amtenant_polls_total", "amtenant_leader", "amtenant_build_info", "process_resident_memory_bytes"} {
		if !names[want] {
			t.Fatalf("the scan of the source found no %s: it is broken", want)
		}
	}
	return names
}
