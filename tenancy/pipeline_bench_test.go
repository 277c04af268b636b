package tenancy

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/channel"
	"github.com/amtenant/amtenant/poller"
	"github.com/amtenant/amtenant/senders"
)

// BenchmarkPollPath is the sidecar's work per poll in the steady state:
// the poll over HTTP (a local server answering as Alertmanager does), the
// lean decoder, the tracker, the router and the senders' sync, for 100
// tenants with one channel each and one admin channel for every alert.
// Nothing is delivered (the manager is not started): this is the cost of
// a poll, which repeats every interval for as long as the alerts fire.
// allocs/op and B/op are per poll.
func BenchmarkPollPath(b *testing.B) {
	for _, n := range []int{10000, 50000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			body := pipelineAlerts(n)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if r.URL.Path == "/api/v2/status" {
					_, _ = w.Write([]byte(`{"cluster":{"status":"ready","peers":[]},"config":{"original":""},"uptime":"2026-11-01T09:00:00Z",` +
						`"versionInfo":{"branch":"","buildDate":"","buildUser":"","goVersion":"","revision":"","version":"0.31.1"}}`))
					return
				}
				_, _ = w.Write(body)
			}))
			defer srv.Close()
			u, _ := url.Parse(srv.URL)
			tmpl, err := senders.Templates(nil, u)
			if err != nil {
				b.Fatal(err)
			}
			mgr := senders.NewManager(senders.Options{Template: tmpl, Guard: senders.NewGuard(nil)}, nil)
			r := NewRouter("namespace", func(ns string) (string, bool) { return ns, true }, mgr)
			p := channel.Policy{GroupBy: []model.LabelName{"alertname"}, GroupWait: 30 * time.Second, GroupInterval: 5 * time.Minute, RepeatInterval: 4 * time.Hour}
			apply := func(id, ns string, sc scope) {
				if _, err := mgr.Apply(channel.Spec{ID: id, Policy: p, Data: map[string][]byte{"type": []byte("webhook"), "url": []byte("http://127.0.0.1:1/" + id)}}); err != nil {
					b.Fatal(err)
				}
				r.set(binding{id: id, namespace: ns, scope: sc})
			}
			for i := range 100 {
				ns := fmt.Sprintf("team-%03d", i)
				apply(ns+"/hook", ns, scopeOwnTenant)
			}
			apply("monitoring/all", "monitoring", scopeAll)
			r.SetReady()
			pl := poller.New(poller.Config{Interval: time.Second, Timeout: time.Minute,
				Tracker: poller.TrackerConfig{ResolveGrace: time.Minute, RestartGrace: time.Minute, Capacity: 100000}},
				poller.NewClient(u, nil, nil), r, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), nil)
			ctx := context.Background()
			if !pl.PollOnce(ctx) {
				b.Fatal("the first poll failed")
			}
			b.ReportAllocs()
			for b.Loop() {
				if !pl.PollOnce(ctx) {
					b.Fatal("a poll failed")
				}
			}
		})
	}
}

// pipelineAlerts is n alerts as Alertmanager serves them: 12 labels, 3
// annotations, spread over 100 tenants' namespaces.
func pipelineAlerts(n int) []byte {
	start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	out := make([]map[string]any, 0, n)
	for i := range n {
		ns := fmt.Sprintf("team-%03d", i%100)
		pod := fmt.Sprintf("checkout-%05d", i)
		labels := map[string]string{
			"alertname": fmt.Sprintf("KubePodCrashLooping%d", i%23), "severity": []string{"critical", "warning", "info"}[i%3],
			"namespace": ns, "pod": pod, "container": "app", "job": "kube-state-metrics",
			"instance": fmt.Sprintf("10.%d.%d.%d:8080", i%250, (i/250)%250, i%7), "cluster": "prod-eu-1",
			"prometheus": "monitoring/k8s", "service": "kube-state-metrics", "endpoint": "http", "uid": fmt.Sprintf("%08x", i),
		}
		out = append(out, map[string]any{
			"labels": labels,
			"annotations": map[string]string{
				"summary":     "Pod " + ns + "/" + pod + " is in waiting state (reason: \"CrashLoopBackOff\").",
				"description": "Pod " + ns + "/" + pod + " has been restarting 3 times / 10 minutes.",
				"runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping",
			},
			"startsAt":     start.Format(time.RFC3339),
			"endsAt":       start.Add(time.Hour).Format(time.RFC3339),
			"updatedAt":    start.Format(time.RFC3339),
			"fingerprint":  fmt.Sprintf("%016x", uint64(model.LabelsToSignature(labels))),
			"generatorURL": "http://prometheus-k8s-0:9090/graph?g0.expr=up",
			"receivers":    []map[string]string{{"name": "blackhole"}},
			"status":       map[string]any{"state": "active", "silencedBy": []string{}, "inhibitedBy": []string{}},
		})
	}
	b, _ := json.Marshal(out)
	return b
}
