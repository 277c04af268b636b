package tenancy

import (
	"fmt"
	"testing"
	"time"

	"github.com/amtenant/amtenant/alert"
)

type nopDeliverer struct{}

func (nopDeliverer) Sync(time.Time, map[string][]*alert.Incarnation) {}

// BenchmarkRoute routes 10k alerts of 100 tenants to their channels and
// to one admin channel for all alerts, as one poll does.
func BenchmarkRoute(b *testing.B) {
	r := NewRouter("namespace", func(ns string) (string, bool) { return ns, true }, nopDeliverer{})
	for i := range 100 {
		ns := fmt.Sprintf("team-%03d", i)
		r.set(binding{id: ns + "/hook", namespace: ns, scope: scopeOwnTenant})
	}
	r.set(binding{id: "monitoring/all", scope: scopeAll})
	var incs []alert.Incarnation
	for i := range 10000 {
		incs = append(incs, inc(uint64(i), "alertname", fmt.Sprint("A", i%23), "namespace", fmt.Sprintf("team-%03d", i%100), "pod", fmt.Sprint(i)))
	}
	r.SetReady()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		r.Observe(now, fresh(incs))
	}
}
