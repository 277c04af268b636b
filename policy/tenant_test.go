package policy

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
)

// inc builds a firing incarnation with the given labels.
func inc(ls model.LabelSet) *alert.Incarnation {
	return &alert.Incarnation{
		Alert:  alert.Alert{Labels: ls, Fingerprint: ls.Fingerprint().String()},
		Status: alert.Firing,
	}
}

// withStatus returns a copy of a with the given status.
func withStatus(a *alert.Incarnation, s alert.Status) *alert.Incarnation {
	c := *a
	c.Status = s
	return &c
}

// silenceObj parses a silence into an Object.
func silenceObj(t *testing.T, id string, data map[string]string) *Object {
	t.Helper()
	return &Object{ID: id, Namespace: id[:indexSlash(id)], Kind: KindSilence, Silence: mustSilence(t, data), Order: id}
}

// rulesObj parses inhibit rules into an Object.
func rulesObj(t *testing.T, id, rules string) *Object {
	t.Helper()
	rs, err := ParseRules(map[string]string{KeyRules: rules})
	if err != nil {
		t.Fatalf("ParseRules(%q): %v", rules, err)
	}
	return &Object{ID: id, Namespace: id[:indexSlash(id)], Kind: KindInhibit, Rules: rs, Order: id}
}

func indexSlash(id string) int {
	for i := range id {
		if id[i] == '/' {
			return i
		}
	}
	return len(id)
}

// TestBuild proves objects are sorted oldest first into the tenant of their
// namespace (several namespaces may share one), that objects of unknown
// namespaces are dropped, and that beyond MaxPerTenant of a kind the newest
// are refused and returned, each kind counted on its own.
func TestBuild(t *testing.T) {
	tenants := map[string]string{"a1": "A", "a2": "A", "b": "B"}
	tenantOf := func(ns string) (string, bool) { tn, ok := tenants[ns]; return tn, ok }
	obj := func(ns, name string, kind Kind, created time.Time) *Object {
		return &Object{
			ID: ns + "/" + name, Namespace: ns, Kind: kind,
			Order: created.UTC().Format("20060102T150405Z") + " " + ns + "/" + name,
		}
	}
	base := utc(2026, 6, 1, 0, 0)
	var objs []*Object
	// Tenant A: MaxPerTenant+2 silences over two namespaces, created one
	// minute apart and listed newest first, plus two inhibit objects.
	for i := MaxPerTenant + 1; i >= 0; i-- {
		ns := []string{"a1", "a2"}[i%2]
		objs = append(objs, obj(ns, fmt.Sprintf("s%03d", i), KindSilence, base.Add(time.Duration(i)*time.Minute)))
	}
	objs = append(objs,
		obj("a2", "i1", KindInhibit, base.Add(time.Hour)),
		obj("a1", "i0", KindInhibit, base.Add(-time.Hour)),
		obj("b", "s", KindSilence, base),
		obj("gone", "s", KindSilence, base), // namespace does not exist
		obj("gone", "i", KindInhibit, base),
	)
	in := append([]*Object(nil), objs...)

	idx, refused := Build(objs, tenantOf)

	for i := range objs {
		if objs[i] != in[i] {
			t.Fatal("Build reordered its argument")
		}
	}
	if len(idx) != 2 || idx["A"] == nil || idx["B"] == nil {
		t.Fatalf("tenants = %v", idx)
	}
	a := idx["A"]
	if len(a.Silences) != MaxPerTenant {
		t.Fatalf("tenant A has %d silences, want %d", len(a.Silences), MaxPerTenant)
	}
	for i, o := range a.Silences {
		if want := fmt.Sprintf("s%03d", i); o.ID[len(o.ID)-4:] != want {
			t.Errorf("silence %d is %s, want .../%s (oldest first)", i, o.ID, want)
		}
	}
	if len(refused) != 2 || refused[0].ID != fmt.Sprintf("a%d/s%03d", MaxPerTenant%2+1, MaxPerTenant) || refused[1].ID != fmt.Sprintf("a%d/s%03d", (MaxPerTenant+1)%2+1, MaxPerTenant+1) {
		var ids []string
		for _, o := range refused {
			ids = append(ids, o.ID)
		}
		t.Errorf("refused = %v, want the two newest silences of tenant A", ids)
	}
	if len(a.Rules) != 2 || a.Rules[0].ID != "a1/i0" || a.Rules[1].ID != "a2/i1" {
		t.Errorf("tenant A rules = %v", a.Rules)
	}
	if b := idx["B"]; len(b.Silences) != 1 || len(b.Rules) != 0 {
		t.Errorf("tenant B = %+v", b)
	}

	// Nothing in, nothing out.
	if idx, refused := Build(nil, tenantOf); len(idx) != 0 || refused != nil {
		t.Errorf("Build(nil) = %v, %v", idx, refused)
	}
}

// TestHoldsSilences proves an active silence holds the alerts it matches
// only, a pending or expired one holds nothing, the oldest matching
// silence is named, and Describe's text for fixed and endless silences.
func TestHoldsSilences(t *testing.T) {
	now := utc(2026, 6, 2, 23, 0) // Tue, inside weekdayNights
	tn := &Tenant{Silences: []*Object{
		silenceObj(t, "ns/pending", map[string]string{KeyMatchers: `alertname=~".+"`, KeyStartsAt: "2026-06-03T00:00:00Z", KeyEndsAt: "2026-06-04T00:00:00Z"}),
		silenceObj(t, "ns/expired", map[string]string{KeyMatchers: `alertname=~".+"`, KeyEndsAt: "2026-06-02T23:00:00Z"}),
		silenceObj(t, "ns/quiet", map[string]string{KeyMatchers: `alertname="NodeDown"`, KeyEndsAt: "2026-06-03T12:00:00Z"}),
		silenceObj(t, "ns/nights", map[string]string{KeyMatchers: "alertname=~\"Node.*\"\nseverity=\"warning\"", KeyTimeIntervals: weekdayNights}),
		silenceObj(t, "ns/forever", map[string]string{KeyMatchers: `alertname="Forever"`, KeyTimeIntervals: "- years: ['2000:2100']\n"}),
	}}
	alerts := []*alert.Incarnation{
		inc(model.LabelSet{"alertname": "NodeDown", "severity": "warning"}), // both quiet and nights: quiet is older
		inc(model.LabelSet{"alertname": "NodeSlow", "severity": "warning"}),
		inc(model.LabelSet{"alertname": "NodeSlow", "severity": "critical"}),
		inc(model.LabelSet{"alertname": "Other"}),
		inc(model.LabelSet{"alertname": "Forever"}),
		withStatus(inc(model.LabelSet{"alertname": "NodeDown", "node": "n1"}), alert.Resolved), // a resolved alert is held too
	}
	want := []struct {
		by, describe string
	}{
		{"ns/quiet", "silenced by ns/quiet until Wed 2026-06-03 12:00 UTC"},
		{"ns/nights", "silenced by ns/nights until Wed 2026-06-03 06:00 UTC"},
		{"", ""},
		{"", ""},
		{"ns/forever", "silenced by ns/forever beyond Tue 2026-06-16 23:00 UTC"},
		{"ns/quiet", "silenced by ns/quiet until Wed 2026-06-03 12:00 UTC"},
	}
	holds := tn.Holds(now, alerts)
	if len(holds) != len(alerts) {
		t.Fatalf("%d holds for %d alerts", len(holds), len(alerts))
	}
	for i, h := range holds {
		if h.By != want[i].by || h.Held() != (want[i].by != "") {
			t.Errorf("alert %v: held by %q (%v), want %q", alerts[i].Labels, h.By, h.Reason, want[i].by)
		}
		if h.Held() && h.Reason != Silenced {
			t.Errorf("alert %v: reason %v", alerts[i].Labels, h.Reason)
		}
		if got := h.Describe(now); got != want[i].describe {
			t.Errorf("alert %v: Describe = %q, want %q", alerts[i].Labels, got, want[i].describe)
		}
	}
	// Outside the window, after pending's and quiet's ends, only forever holds.
	later := utc(2026, 6, 4, 12, 0)
	for i, h := range tn.Holds(later, alerts) {
		if h.Held() != (i == 4) {
			t.Errorf("at %s alert %v: %v by %q", later, alerts[i].Labels, h.Reason, h.By)
		}
	}
}

// TestHoldsInhibition proves Alertmanager's inhibition semantics on hand
// cases: equal labels (same value, different value, missing on both sides,
// missing on one side), no self-inhibition for an alert matching both
// sides, and sources that do not count (resolved, suppressed in
// Alertmanager, silenced by the tenant).
func TestHoldsInhibition(t *testing.T) {
	now := utc(2026, 6, 1, 12, 0)
	nodeDown := rulesObj(t, "ns/node-down", `
- source_matchers: [alertname=ClusterDown]
  target_matchers: [alertname=Never]
- source_matchers: [alertname=NodeDown]
  target_matchers: [severity=warning]
  equal: [namespace, node]
`)
	// Two-sided: any critical alert inhibits warnings of the same cluster,
	// and an alert may be both.
	twoSided := rulesObj(t, "ns/two-sided", `
- source_matchers: [severity=~"critical|warning"]
  target_matchers: [severity=warning]
  equal: [cluster]
`)
	// Only a warning NodeDown inhibits Chained.
	chain := rulesObj(t, "ns/chain", "- source_matchers: [alertname=NodeDown, severity=warning]\n  target_matchers: [alertname=Chained]\n")
	silence := silenceObj(t, "ns/quiet", map[string]string{KeyMatchers: `silenced="yes"`, KeyEndsAt: "2026-06-02T00:00:00Z"})

	src := model.LabelSet{"alertname": "NodeDown", "namespace": "x", "node": "n1"}
	srcNoNode := model.LabelSet{"alertname": "NodeDown", "namespace": "x"}
	for _, tc := range []struct {
		name     string
		tenant   *Tenant
		alerts   []*alert.Incarnation
		want     []Reason
		describe string         // of the first inhibited alert
		by       map[int]string // the policy holding alert i, when checked
	}{
		{
			name:   "same equal values inhibit, different do not",
			tenant: &Tenant{Rules: []*Object{nodeDown}},
			alerts: []*alert.Incarnation{
				inc(src),
				inc(model.LabelSet{"alertname": "PodDown", "namespace": "x", "node": "n1", "severity": "warning"}),
				inc(model.LabelSet{"alertname": "PodDown", "namespace": "x", "node": "n2", "severity": "warning"}),
				inc(model.LabelSet{"alertname": "PodDown", "namespace": "y", "node": "n1", "severity": "warning"}),
				inc(model.LabelSet{"alertname": "PodDown", "namespace": "x", "severity": "warning"}), // node missing on the target only
				inc(model.LabelSet{"alertname": "PodDown", "namespace": "x", "node": "n1", "severity": "critical"}),
			},
			want:     []Reason{NotHeld, Inhibited, NotHeld, NotHeld, NotHeld, NotHeld},
			describe: "inhibited by NodeDown (rule ns/node-down[1], equal namespace, node)",
		},
		{
			name:   "an equal label missing on both sides counts as equal",
			tenant: &Tenant{Rules: []*Object{nodeDown}},
			alerts: []*alert.Incarnation{
				inc(srcNoNode),
				inc(model.LabelSet{"alertname": "PodDown", "namespace": "x", "severity": "warning"}),
				inc(model.LabelSet{"alertname": "PodDown", "namespace": "x", "node": "", "severity": "warning"}), // empty value is missing
				inc(model.LabelSet{"alertname": "PodDown", "namespace": "x", "node": "n1", "severity": "warning"}),
			},
			want:     []Reason{NotHeld, Inhibited, Inhibited, NotHeld},
			describe: "inhibited by NodeDown (rule ns/node-down[1], equal namespace, node)",
		},
		{
			name:   "resolved, suppressed and silenced sources do not inhibit",
			tenant: &Tenant{Rules: []*Object{nodeDown}, Silences: []*Object{silence}},
			alerts: []*alert.Incarnation{
				withStatus(inc(model.LabelSet{"alertname": "NodeDown", "namespace": "x", "node": "r"}), alert.Resolved),
				inc(model.LabelSet{"alertname": "PodDown", "namespace": "x", "node": "r", "severity": "warning"}),
				withStatus(inc(model.LabelSet{"alertname": "NodeDown", "namespace": "x", "node": "s"}), alert.Suppressed),
				inc(model.LabelSet{"alertname": "PodDown", "namespace": "x", "node": "s", "severity": "warning"}),
				inc(model.LabelSet{"alertname": "NodeDown", "namespace": "x", "node": "t", "silenced": "yes"}),
				inc(model.LabelSet{"alertname": "PodDown", "namespace": "x", "node": "t", "severity": "warning"}),
			},
			want: []Reason{NotHeld, NotHeld, NotHeld, NotHeld, Silenced, NotHeld},
		},
		{
			name:   "a silenced target stays silenced, an inhibited source still inhibits",
			tenant: &Tenant{Rules: []*Object{nodeDown, twoSided, chain}, Silences: []*Object{silence}},
			alerts: []*alert.Incarnation{
				inc(model.LabelSet{"alertname": "NodeDown", "namespace": "x", "node": "n1", "cluster": "c", "severity": "critical"}),
				inc(model.LabelSet{"alertname": "PodDown", "namespace": "x", "node": "n1", "cluster": "c", "severity": "warning", "silenced": "yes"}),
				// Inhibited by the first (rule ns/node-down[1]), and itself the
				// only source of ns/chain for the next one.
				inc(model.LabelSet{"alertname": "NodeDown", "namespace": "x", "node": "n1", "cluster": "c", "severity": "warning"}),
				inc(model.LabelSet{"alertname": "Chained"}),
			},
			want:     []Reason{NotHeld, Silenced, Inhibited, Inhibited},
			describe: "inhibited by NodeDown (rule ns/node-down[1], equal namespace, node)",
			by:       map[int]string{1: "ns/quiet", 2: "ns/node-down", 3: "ns/chain"},
		},
		{
			name:   "an alert matching both sides does not inhibit itself",
			tenant: &Tenant{Rules: []*Object{twoSided}},
			alerts: []*alert.Incarnation{
				inc(model.LabelSet{"alertname": "W1", "cluster": "c", "severity": "warning"}),
				inc(model.LabelSet{"alertname": "W2", "cluster": "c", "severity": "warning"}),
			},
			want: []Reason{NotHeld, NotHeld},
		},
		{
			name:   "a source-only alert inhibits two-sided ones",
			tenant: &Tenant{Rules: []*Object{twoSided}},
			alerts: []*alert.Incarnation{
				inc(model.LabelSet{"alertname": "W1", "cluster": "c", "severity": "warning"}),
				inc(model.LabelSet{"alertname": "C1", "cluster": "c", "severity": "critical"}),
				inc(model.LabelSet{"alertname": "W2", "cluster": "d", "severity": "warning"}),
			},
			want:     []Reason{Inhibited, NotHeld, NotHeld},
			describe: "inhibited by C1 (rule ns/two-sided[0], equal cluster)",
		},
		{
			name:   "no equal labels, source without alertname",
			tenant: &Tenant{Rules: []*Object{rulesObj(t, "ns/any", "- source_matchers: [node=n1]\n  target_matchers: [node=n2]\n")}},
			alerts: []*alert.Incarnation{
				inc(model.LabelSet{"node": "n1"}),
				inc(model.LabelSet{"alertname": "T", "node": "n2", "namespace": "z"}),
			},
			want:     []Reason{NotHeld, Inhibited},
			describe: `inhibited by {node="n1"} (rule ns/any[0])`,
		},
		{
			name:   "no sources at all",
			tenant: &Tenant{Rules: []*Object{nodeDown}},
			alerts: []*alert.Incarnation{
				inc(model.LabelSet{"alertname": "PodDown", "severity": "warning"}),
			},
			want: []Reason{NotHeld},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			holds := tc.tenant.Holds(now, tc.alerts)
			if len(holds) != len(tc.alerts) {
				t.Fatalf("%d holds for %d alerts", len(holds), len(tc.alerts))
			}
			// The answer, and so the order of the equal labels, is the same
			// on every call whatever the map order.
			for range 20 {
				for i, h := range tc.tenant.Holds(now, tc.alerts) {
					if h.Describe(now) != holds[i].Describe(now) {
						t.Fatalf("alert %v: %q, then %q", tc.alerts[i].Labels, holds[i].Describe(now), h.Describe(now))
					}
				}
			}
			described := false
			for i, h := range holds {
				if h.Reason != tc.want[i] {
					t.Errorf("alert %v: %v (by %q, source %v), want %v", tc.alerts[i].Labels, h.Reason, h.By, h.Source, tc.want[i])
				}
				if h.Reason == Inhibited && tc.describe != "" && !described {
					described = true
					if got := h.Describe(now); got != tc.describe {
						t.Errorf("Describe = %q, want %q", got, tc.describe)
					}
				}
			}
			for i, id := range tc.by {
				if holds[i].By != id {
					t.Errorf("alert %v held by %q, want %q", tc.alerts[i].Labels, holds[i].By, id)
				}
			}
			if tc.describe != "" && !described {
				t.Error("no inhibited alert to describe")
			}
		})
	}
}

// TestHoldsNil proves a tenant without policies holds nothing, one zero
// Hold per alert, and the zero Hold's methods.
func TestHoldsNil(t *testing.T) {
	var tn *Tenant
	alerts := []*alert.Incarnation{inc(model.LabelSet{"alertname": "A"}), inc(model.LabelSet{"alertname": "B"})}
	holds := tn.Holds(utc(2026, 6, 1, 0, 0), alerts)
	if len(holds) != 2 {
		t.Fatalf("%d holds", len(holds))
	}
	for _, h := range holds {
		if h.Held() || h.By != "" || h.Source != nil || h.Equal != nil || h.Rule != 0 || h.silence != nil || h.Describe(utc(2026, 6, 1, 0, 0)) != "" {
			t.Errorf("hold = %+v", h)
		}
	}
	if got := (&Tenant{}).Holds(utc(2026, 6, 1, 0, 0), alerts); len(got) != 2 || got[0].Held() || got[1].Held() {
		t.Errorf("empty tenant holds = %+v", got)
	}
	if got := tn.Holds(utc(2026, 6, 1, 0, 0), nil); len(got) != 0 {
		t.Errorf("no alerts: %v", got)
	}
	for r, want := range map[Reason]string{NotHeld: "none", Silenced: "silenced", Inhibited: "inhibited", Reason(7): "none"} {
		if r.String() != want {
			t.Errorf("Reason(%d).String() = %q, want %q", r, r.String(), want)
		}
	}
}
