package policy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	amalert "github.com/prometheus/alertmanager/alert"
	amcommoncfg "github.com/prometheus/alertmanager/config/common"
	"github.com/prometheus/alertmanager/eventrecorder"
	"github.com/prometheus/alertmanager/inhibit"
	"github.com/prometheus/alertmanager/provider"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"gopkg.in/yaml.v2"

	"github.com/amtenant/amtenant/alert"
)

// amAlerts is an Alertmanager alert provider holding a fixed set of alerts,
// all handed over in the initial slurp (so WaitForLoading means processed).
type amAlerts struct{ alerts []*amalert.Alert }

func idleIterator() provider.AlertIterator {
	return provider.NewAlertIterator(make(chan *provider.Alert), make(chan struct{}), nil)
}

func (p amAlerts) SlurpAndSubscribe(string) ([]*amalert.Alert, provider.AlertIterator) {
	return p.alerts, idleIterator()
}
func (amAlerts) Subscribe(string) provider.AlertIterator { return idleIterator() }
func (amAlerts) GetPending() provider.AlertIterator      { return idleIterator() }
func (amAlerts) Get(model.Fingerprint) (*amalert.Alert, error) {
	return nil, provider.ErrNotFound
}
func (amAlerts) Put(context.Context, ...*amalert.Alert) error { return nil }

// amMutes runs Alertmanager's own Inhibitor over the alerts and rules and
// returns, for each alert, whether Inhibitor.Mutes says it is inhibited.
func amMutes(t *testing.T, rules []amcommoncfg.InhibitRule, sets []model.LabelSet) []bool {
	t.Helper()
	var as []*amalert.Alert
	for _, ls := range sets {
		// A zero EndsAt never resolves, whatever time Mutes looks at.
		as = append(as, &amalert.Alert{Alert: model.Alert{Labels: ls}})
	}
	ih := inhibit.NewInhibitor(amAlerts{as}, rules, promslog.NewNopLogger(), eventrecorder.NopRecorder())
	done := make(chan struct{})
	go func() { ih.Run(); close(done) }()
	ih.WaitForLoading()
	out := make([]bool, len(sets))
	for i, ls := range sets {
		out[i] = ih.Mutes(context.Background(), ls)
	}
	ih.Stop()
	<-done
	return out
}

// oracleValues are the label values drawn from; "" means the label is absent.
var oracleValues = map[string][]string{
	"alertname": {"A", "B", "C"},
	"namespace": {"x", "y"},
	"node":      {"n1", "n2", ""},
	"severity":  {"critical", "warning", ""},
}

var oracleNames = []string{"alertname", "namespace", "node", "severity"}

func randomLabels(r *rand.Rand) model.LabelSet {
	ls := model.LabelSet{}
	for _, n := range oracleNames {
		vs := oracleValues[n]
		if v := vs[r.IntN(len(vs))]; v != "" {
			ls[model.LabelName(n)] = model.LabelValue(v)
		}
	}
	return ls
}

// randomMatcher returns a matcher in Alertmanager's configuration syntax.
func randomMatcher(r *rand.Rand) string {
	n := oracleNames[r.IntN(len(oracleNames))]
	vs := append([]string{""}, oracleValues[n]...)
	switch op := []string{"=", "!=", "=~", "!~"}[r.IntN(4)]; op {
	case "=", "!=":
		return fmt.Sprintf(`'%s%s"%s"'`, n, op, vs[r.IntN(len(vs))])
	default:
		res := append(vs, "n.*", "A|B", ".+", ".*", "c.*|w.*")
		return fmt.Sprintf(`'%s%s"%s"'`, n, op, res[r.IntN(len(res))])
	}
}

func randomMatchers(r *rand.Rand, min, max int) string {
	var ms []string
	for range min + r.IntN(max-min+1) {
		ms = append(ms, randomMatcher(r))
	}
	return "[" + strings.Join(ms, ", ") + "]"
}

// randomRule returns one inhibit rule as a YAML list item: source matchers
// (sometimes the deprecated source_match), target matchers, and a subset of
// equal labels, cluster being one no alert has.
func randomRule(r *rand.Rand) string {
	var b strings.Builder
	if r.IntN(5) == 0 {
		fmt.Fprintf(&b, "- source_match: {alertname: %s}\n", oracleValues["alertname"][r.IntN(3)])
		if r.IntN(2) == 0 {
			fmt.Fprintf(&b, "  source_matchers: %s\n", randomMatchers(r, 1, 1))
		}
	} else {
		fmt.Fprintf(&b, "- source_matchers: %s\n", randomMatchers(r, 1, 2))
	}
	if r.IntN(5) == 0 {
		fmt.Fprintf(&b, "  target_match: {severity: warning}\n")
	} else {
		fmt.Fprintf(&b, "  target_matchers: %s\n", randomMatchers(r, 0, 2))
	}
	var eq []string
	for _, n := range []string{"namespace", "node", "severity", "cluster"} {
		if r.IntN(3) == 0 {
			eq = append(eq, n)
		}
	}
	fmt.Fprintf(&b, "  equal: [%s]\n", strings.Join(eq, ", "))
	return b.String()
}

// TestInhibitionOracle proves, on random small alert sets and rules, that
// Tenant.Holds inhibits an alert exactly when Alertmanager's own Inhibitor
// mutes it (all alerts firing, no silences), and that each inhibition it
// reports names a rule and a source that really make it one.
func TestInhibitionOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(20260601, 42))
	var inhibited, free, twoSided int
	for iter := range 1000 {
		// Distinct label sets: Alertmanager keys alerts by fingerprint.
		var sets []model.LabelSet
		seen := map[model.Fingerprint]bool{}
		for range 1 + r.IntN(8) {
			ls := randomLabels(r)
			if !seen[ls.Fingerprint()] {
				seen[ls.Fingerprint()] = true
				sets = append(sets, ls)
			}
		}
		var items []string
		for range 1 + r.IntN(3) {
			items = append(items, randomRule(r))
		}
		all := strings.Join(items, "")
		// A rule whose sources are every alert is refused here on purpose
		// (Alertmanager takes it): not a case to compare.
		if _, err := ParseRules(map[string]string{KeyRules: all}); err != nil && strings.Contains(err.Error(), "must not match the empty string") {
			continue
		}

		// Alertmanager reads all the rules from the same YAML text.
		var crs []amcommoncfg.InhibitRule
		if err := yaml.UnmarshalStrict([]byte(all), &crs); err != nil {
			t.Fatalf("iteration %d: Alertmanager rejects\n%s: %v", iter, all, err)
		}
		want := amMutes(t, crs, sets)

		// Ours: the first rule in one ConfigMap, the others in a second.
		tn := &Tenant{Rules: []*Object{rulesObj(t, "ns/first", items[0])}}
		if len(items) > 1 {
			tn.Rules = append(tn.Rules, rulesObj(t, "ns/rest", strings.Join(items[1:], "")))
		}
		var alerts []*alert.Incarnation
		for _, ls := range sets {
			alerts = append(alerts, inc(ls))
		}
		holds := tn.Holds(utc(2026, 6, 1, 12, 0), alerts)

		for i, h := range holds {
			got := h.Reason == Inhibited
			if got != want[i] {
				t.Fatalf("iteration %d: alert %v: ours inhibited=%v (%+v), Alertmanager's %v\nrules:\n%s\nalerts: %v",
					iter, sets[i], got, h, want[i], all, sets)
			}
			if h.Reason == Silenced {
				t.Fatalf("iteration %d: silenced without silences: %+v", iter, h)
			}
			if !got {
				free++
				continue
			}
			inhibited++
			checkInhibition(t, tn, sets[i], h, &twoSided)
		}
	}
	t.Logf("%d inhibited, %d not, %d by a rule the target matches on both sides", inhibited, free, twoSided)
	if inhibited < 300 || free < 300 || twoSided < 30 {
		t.Errorf("the random cases are too one-sided: %d inhibited, %d not, %d two-sided", inhibited, free, twoSided)
	}
}

// checkInhibition verifies an Inhibited hold against its own rule: the
// target matches the target side, the source the source side, the equal
// labels agree, and a two-sided target is not inhibited by a two-sided
// source (so never by itself).
func checkInhibition(t *testing.T, tn *Tenant, target model.LabelSet, h Hold, twoSided *int) {
	t.Helper()
	var rule *Rule
	for _, o := range tn.Rules {
		if o.ID == h.By && h.Rule < len(o.Rules) {
			rule = o.Rules[h.Rule]
		}
	}
	if rule == nil {
		t.Fatalf("hold %+v names no rule", h)
	}
	if !rule.TargetMatchers.Matches(target) || !rule.SourceMatchers.Matches(h.Source) {
		t.Fatalf("hold %+v of %v: rule %v / %v does not match", h, target, rule.SourceMatchers, rule.TargetMatchers)
	}
	if len(h.Equal) != len(rule.Equal) {
		t.Fatalf("hold %+v: equal %v, rule has %v", h, h.Equal, rule.Equal)
	}
	for _, n := range h.Equal {
		if target[model.LabelName(n)] != h.Source[model.LabelName(n)] {
			t.Fatalf("hold %+v of %v: label %s differs", h, target, n)
		}
	}
	if rule.SourceMatchers.Matches(target) {
		*twoSided++
		if rule.TargetMatchers.Matches(h.Source) {
			t.Fatalf("hold %+v of %v: a two-sided source inhibits a two-sided target", h, target)
		}
	}
	if h.Source.Equal(target) {
		t.Fatalf("alert %v inhibits itself", target)
	}
}
