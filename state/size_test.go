package state

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
)

// sampleFile is the state of n firing alerts shaped like a Kubernetes
// cluster's (eight labels, three annotations), each notified to its
// tenant's channel and to one admin channel.
func sampleFile(n int) *File {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	f := &File{Tracker: Tracker{NextID: uint64(n), Uptime: now.Add(-time.Hour)}}
	tenant := Target{Channel: "team-a/slack", Integration: "slack[0]"}
	admin := Target{Channel: "monitoring/all", Integration: "webhook[0]"}
	var firing []string
	for i := range n {
		fp := fmt.Sprintf("%016x", uint64(i)*0x9e3779b97f4a7c15)
		inc := alert.Incarnation{
			Alert: alert.Alert{
				Fingerprint: fp,
				Labels: model.LabelSet{
					"alertname": "KubePodCrashLooping", "namespace": model.LabelValue(fmt.Sprintf("team-%d", i%50)),
					"pod": model.LabelValue(fmt.Sprintf("api-%d-7f9c8d6b5-x2x9z", i)), "container": "api",
					"job": "kube-state-metrics", "severity": "warning", "instance": "10.0.12.34:8080", "prometheus": "monitoring/k8s",
				},
				Annotations: alert.NewAnnotations(model.LabelSet{
					"summary":     "Pod is crash looping.",
					"description": model.LabelValue(fmt.Sprintf("Pod team-%d/api-%d (api) is in waiting state (reason: \"CrashLoopBackOff\").", i%50, i)),
					"runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping",
				}),
				StartsAt: now.Add(-time.Duration(i) * time.Second), EndsAt: now.Add(4 * time.Minute), UpdatedAt: now,
				GeneratorURL: "http://prometheus-k8s-0:9090/graph?g0.expr=max_over_time%28kube_pod_container_status_waiting_reason%5B5m%5D%29+%3E%3D+1",
			},
			ID: uint64(i + 1), Status: alert.Firing,
		}
		f.Tracker.Alerts = append(f.Tracker.Alerts, Entry{Current: inc})
		firing = append(firing, fp)
	}
	// One group told every alert.
	tenant.Groups = []Group{{Key: `{alertname="KubePodCrashLooping"}`, Next: now.Add(time.Minute), Firing: firing, NotifiedAt: now.Add(-time.Minute)}}
	admin.Groups = tenant.Groups
	f.Targets = []Target{tenant, admin}
	return f
}

// TestFileSizePer1kAlerts records the size the README quotes, and keeps it
// from growing unnoticed.
func TestFileSizePer1kAlerts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := Save(path, sampleFile(1000)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("state file: %d bytes per 1,000 firing alerts on 2 channels each", fi.Size())
	if fi.Size() > 2<<20 {
		t.Errorf("state file of 1,000 alerts is %d bytes, more than 2 MiB", fi.Size())
	}
}

func BenchmarkSave(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		f := sampleFile(n)
		path := filepath.Join(b.TempDir(), "state.json")
		b.Run(fmt.Sprintf("alerts=%d", n), func(b *testing.B) {
			for b.Loop() {
				if err := Save(path, f); err != nil {
					b.Fatal(err)
				}
			}
			fi, _ := os.Stat(path)
			b.ReportMetric(float64(fi.Size()), "file-bytes")
		})
	}
}

func BenchmarkLoad(b *testing.B) {
	path := filepath.Join(b.TempDir(), "state.json")
	if err := Save(path, sampleFile(10000)); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for b.Loop() {
		if f, err := Load(path, now); err != nil || f == nil {
			b.Fatal(err)
		}
	}
}
