//go:build integration

package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// prometheusServer is a real Prometheus evaluating the test's rules.
type prometheusServer struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	proc *process
	n    int
}

func (p *prometheusServer) start() {
	p.t.Helper()
	p.n++
	p.proc = start(p.t, fmt.Sprintf("prometheus-%d-%d", p.port, p.n), p.bin,
		"--config.file="+filepath.Join(p.dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(p.dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", p.port),
		// Firing alerts are sent again every second (Prometheus's
		// default is a minute), so that the timeline takes seconds.
		"--rules.alert.resend-delay=1s",
		"--log.level=warn",
	)
	waitHTTP(p.t, fmt.Sprintf("http://127.0.0.1:%d/-/ready", p.port), 60*time.Second)
}

// TestPrometheusPair has two real Prometheus servers, as an HA pair,
// evaluate an alerting rule (for:, labels, annotations templated from
// $labels and $value) over a metric the test serves, and send to two real
// Alertmanagers with their sidecars: the alert is notified once when it
// fires, not resolved while one Prometheus restarts, and resolved once
// when the rule stops matching (Prometheus's own resolve and resend).
func TestPrometheusPair(t *testing.T) {
	t.Parallel()
	bin := compatBinary(t, "AMTENANT_PROMETHEUS", "prometheus")
	c := startCluster(t)
	s := newSink(t)
	c.namespace(t, "pr-a", nil)
	c.secret(t, channelSecret("pr-a", "hook", nil, nil, map[string]string{"type": "webhook", "url": s.url("/pr")}))
	rs := newReplicaSet(t, c, s, "prometheus-pair", 2)

	var depth atomic.Int64
	depth.Store(3)
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE amtenant_test_queue_depth gauge\namtenant_test_queue_depth{namespace=\"pr-a\",queue=\"orders\"} %d\n", depth.Load())
	}))
	defer exporter.Close()
	var ams []string
	for _, am := range rs.ams {
		u, _ := url.Parse(am.url)
		ams = append(ams, `"`+u.Host+`"`)
	}
	target := strings.TrimPrefix(exporter.URL, "http://")
	var proms []*prometheusServer
	for i := range 2 {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "rules.yml"), `groups:
- name: queues
  interval: 1s
  rules:
  - alert: QueueBacklog
    expr: amtenant_test_queue_depth > 10
    for: 2s
    labels:
      severity: warning
    annotations:
      summary: 'Queue {{ $labels.queue }} is {{ $value }} deep'
`)
		writeFile(t, filepath.Join(dir, "prometheus.yml"), fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
  external_labels:
    prometheus_replica: replica-%d
alerting:
  # The replica label differs between the pair: dropped before sending, so
  # that both send the same alert, as an HA pair is configured.
  alert_relabel_configs:
  - action: labeldrop
    regex: prometheus_replica
  alertmanagers:
  - static_configs:
    - targets: [%s]
rule_files: [rules.yml]
scrape_configs:
- job_name: queues
  static_configs:
  - targets: [%q]
`, i, strings.Join(ams, ", "), target))
		p := &prometheusServer{t: t, bin: bin, dir: dir, port: freePort(t)}
		p.start()
		proms = append(proms, p)
	}
	rs.leader(60 * time.Second)

	// Below the threshold: nothing. Above it for 2 s: one notification,
	// with the annotation Prometheus templated.
	depth.Store(42)
	eventually(t, 60*time.Second, "QueueBacklog notified", func() bool { return counts(s, "/pr")["QueueBacklog/firing"] >= 1 })
	n := s.at("/pr")
	if got := n[0].Alerts[0].Annotations["summary"]; got != "Queue orders is 42 deep" {
		t.Errorf("summary %q, want Prometheus's template filled in", got)
	}
	if got := n[0].Alerts[0].Labels["severity"]; got != "warning" {
		t.Errorf("severity %q", got)
	}

	// One Prometheus restarts; the other keeps sending. No resolution.
	proms[0].proc.Stop()
	leader := rs.leader(30 * time.Second)
	leader.waitPolls(10)
	proms[0].start()
	leader.waitPolls(10)
	if got := counts(s, "/pr")["QueueBacklog/resolved"]; got != 0 {
		t.Fatalf("resolved %d times while one Prometheus restarted", got)
	}

	// The rule stops matching: both Prometheus servers send the
	// resolution; it is notified once.
	depth.Store(1)
	eventually(t, 60*time.Second, "QueueBacklog resolved", func() bool { return counts(s, "/pr")["QueueBacklog/resolved"] >= 1 })
	leader.waitPolls(10)
	d, l := exactlyOnce(t, s, "/pr", "QueueBacklog/firing", "QueueBacklog/resolved")
	t.Logf("two Prometheus servers, two Alertmanagers: duplicates %d, losses %d", d, l)
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
