package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
)

// BenchmarkHoldsTwoSided is a tenant's worst case for inhibition: 32 rules
// whose targets match their sources too, over 4000 alerts of one equal
// bucket. Each target costs one look-up, not one per source.
func BenchmarkHoldsTwoSided(b *testing.B) {
	var rules strings.Builder
	for range MaxRules {
		rules.WriteString("- source_matchers: [severity=~\"crit.*\"]\n  target_matchers: [severity=~\"crit.*\"]\n")
	}
	rs, err := ParseRules(map[string]string{KeyRules: rules.String()})
	if err != nil {
		b.Fatal(err)
	}
	tn := &Tenant{Rules: []*Object{{ID: "ns/rules", Kind: KindInhibit, Rules: rs}}}
	var alerts []*alert.Incarnation
	for i := range 4000 {
		ls := model.LabelSet{"alertname": model.LabelValue(fmt.Sprint("A", i)), "severity": "critical"}
		alerts = append(alerts, &alert.Incarnation{Alert: alert.Alert{Labels: ls}, Status: alert.Firing})
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		tn.Holds(now, alerts)
	}
}

// BenchmarkMuteUntil is explain's look for the end of a window in the
// largest list allowed.
func BenchmarkMuteUntil(b *testing.B) {
	var list strings.Builder
	for i := range MaxIntervals {
		fmt.Fprintf(&list, "- years: ['%d']\n  weekdays: ['saturday', 'sunday']\n  times: [{start_time: '00:00', end_time: '23:59'}]\n", 2026+i)
	}
	iv, err := ParseIntervals(list.String())
	if err != nil {
		b.Fatal(err)
	}
	m := Mute{Mute: iv}
	now := time.Date(2026, 6, 6, 12, 0, 0, 0, time.UTC) // a Saturday
	for b.Loop() {
		if _, ok := m.Until(now); !ok {
			b.Fatal("no end")
		}
	}
}
