package policy

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
)

// MaxPerTenant bounds the policy ConfigMaps of each kind that one tenant
// may have, and MaxRulesPerTenant its inhibit rules: what its policies
// cost is paid once per poll over its alerts.
const (
	MaxPerTenant      = 100
	MaxRulesPerTenant = 200
)

// Index is every tenant's valid policies.
type Index map[string]*Tenant

// Tenant is one tenant's policies, oldest first.
type Tenant struct {
	Silences []*Object
	Rules    []*Object
	rules    int // inhibit rules in Rules
}

// Build sorts valid policy objects into their tenants. tenantOf gives the
// tenant of a namespace (false: it does not exist, and its policies apply
// to nothing). Beyond MaxPerTenant of a kind, the newest are refused and
// returned.
func Build(objs []*Object, tenantOf func(ns string) (string, bool)) (Index, []*Object) {
	sorted := append([]*Object(nil), objs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Order < sorted[j].Order })
	idx := Index{}
	var refused []*Object
	for _, o := range sorted {
		t, ok := tenantOf(o.Namespace)
		if !ok {
			continue
		}
		tp := idx[t]
		if tp == nil {
			tp = &Tenant{}
			idx[t] = tp
		}
		list := &tp.Silences
		if o.Kind == KindInhibit {
			list = &tp.Rules
		}
		if len(*list) >= MaxPerTenant || (o.Kind == KindInhibit && tp.rules+len(o.Rules) > MaxRulesPerTenant) {
			refused = append(refused, o)
			continue
		}
		*list = append(*list, o)
		tp.rules += len(o.Rules)
	}
	return idx, refused
}

// Reason is why an alert is held back for a tenant's channels.
type Reason int

// Reasons an alert is held back.
const (
	NotHeld Reason = iota
	Silenced
	Inhibited
)

func (r Reason) String() string {
	switch r {
	case Silenced:
		return "silenced"
	case Inhibited:
		return "inhibited"
	}
	return "none"
}

// Hold is what holds an alert back for its tenant's channels.
type Hold struct {
	Reason Reason
	// By is the policy ConfigMap, "<namespace>/<name>".
	By string
	// silence is the silence that holds it, for its end.
	silence *Silence
	// Rule is the inhibit rule's index in By, Source the labels of the
	// inhibiting alert and Equal the rule's equal labels.
	Rule   int
	Source model.LabelSet
	Equal  []string
}

// Held reports whether anything holds the alert back.
func (h Hold) Held() bool { return h.Reason != NotHeld }

// Describe says what holds the alert back, for explain: "silenced by
// team-a/quiet until …", "inhibited by NodeDown (rule team-a/node-down[0],
// equal namespace)".
func (h Hold) Describe(now time.Time) string {
	switch h.Reason {
	case Silenced:
		if u, ok := h.silence.Until(now); ok {
			return fmt.Sprintf("silenced by %s until %s", h.By, When(u))
		}
		return fmt.Sprintf("silenced by %s beyond %s", h.By, When(now.Add(Horizon)))
	case Inhibited:
		name := string(h.Source[model.AlertNameLabel])
		if name == "" {
			name = h.Source.String()
		}
		eq := ""
		if len(h.Equal) > 0 {
			eq = ", equal " + strings.Join(h.Equal, ", ")
		}
		return fmt.Sprintf("inhibited by %s (rule %s[%d]%s)", name, h.By, h.Rule, eq)
	}
	return ""
}

// Holds decides, for each of a tenant's alerts at now, what holds it back
// (a zero Hold: nothing). alerts must be all of the tenant's alerts: they
// are the inhibition sources too.
//
// A matching active silence holds an alert first. Inhibition is
// Alertmanager's (inhibit/inhibit.go): a rule holds a target that matches
// its target matchers when a source matching its source matchers has the
// same values of the equal labels; when the target matches the source
// matchers too, sources that also match the target matchers do not count,
// so no alert inhibits itself. A source must be firing: not resolved, not
// suppressed in Alertmanager and not silenced by the tenant.
func (t *Tenant) Holds(now time.Time, alerts []*alert.Incarnation) []Hold {
	out := make([]Hold, len(alerts))
	if t == nil {
		return out
	}
	var active []*Object
	for _, o := range t.Silences {
		if o.Silence.Active(now) {
			active = append(active, o)
		}
	}
	if len(active) > 0 {
		for i, a := range alerts {
			for _, o := range active {
				if o.Silence.Matches(a.Labels) {
					out[i] = Hold{Reason: Silenced, By: o.ID, silence: o.Silence}
					break
				}
			}
		}
	}
	for _, o := range t.Rules {
		for _, r := range o.Rules {
			applyRule(o, r, alerts, out)
		}
	}
	return out
}

// applyRule applies one rule: it indexes the sources by their equal labels
// (as Alertmanager's rule cache does), then looks up every target.
func applyRule(o *Object, r *Rule, alerts []*alert.Incarnation, out []Hold) {
	// Per value of the equal labels: the first source, and the first that
	// does not match the target matchers (the one a target matching both
	// sides may be inhibited by), so that each target costs one look-up.
	type bucket struct{ any, oneSided int }
	sources := map[model.Fingerprint]*bucket{}
	for i, a := range alerts {
		if a.Status != alert.Firing || out[i].Reason == Silenced || !r.SourceMatchers.Matches(a.Labels) {
			continue
		}
		k := equalFingerprint(r, a.Labels)
		b := sources[k]
		if b == nil {
			b = &bucket{any: i, oneSided: -1}
			sources[k] = b
		}
		if b.oneSided < 0 && !r.TargetMatchers.Matches(a.Labels) {
			b.oneSided = i
		}
	}
	if len(sources) == 0 {
		return
	}
	var equal []string
	for n := range r.Equal {
		equal = append(equal, string(n))
	}
	sort.Strings(equal)
	for j, a := range alerts {
		if out[j].Held() || !r.TargetMatchers.Matches(a.Labels) {
			continue
		}
		b := sources[equalFingerprint(r, a.Labels)]
		if b == nil {
			continue
		}
		i := b.any
		if r.SourceMatchers.Matches(a.Labels) {
			// Two-sided: sources that match the target matchers too do
			// not count (no alert inhibits itself).
			i = b.oneSided
		}
		if i >= 0 {
			out[j] = Hold{Reason: Inhibited, By: o.ID, Rule: r.Index, Source: alerts[i].Labels, Equal: equal}
		}
	}
}

// equalFingerprint is Alertmanager's: the fingerprint of the rule's equal
// labels with ls's values, a missing label being empty.
func equalFingerprint(r *Rule, ls model.LabelSet) model.Fingerprint {
	eq := make(model.LabelSet, len(r.Equal))
	for n := range r.Equal {
		eq[n] = ls[n]
	}
	return eq.Fingerprint()
}
