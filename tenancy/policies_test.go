package tenancy

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/policy"
)

func newPolicy(ns, name, label string, data ...string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{label: ""}}, Data: map[string]string{}}
	for i := 0; i+1 < len(data); i += 2 {
		cm.Data[data[i]] = data[i+1]
	}
	return cm
}

// startWithPolicies starts a controller that reads policy ConfigMaps.
func startWithPolicies(t *testing.T, e *ctrlEnv) {
	t.Helper()
	if err := e.ctrl.SetPolicies(e.inf.Silences, e.inf.Inhibits); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	waitForWatches(t, e.client, 5)
}

// statuses returns, per channel of the last Sync, "alertname/node/ns=status".
func (d *recDeliverer) statuses() map[string][]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string][]string{}
	for id, incs := range d.copied {
		for _, inc := range incs {
			out[id] = append(out[id], fmt.Sprintf("%s/%s/%s=%s", inc.Labels["alertname"], inc.Labels["node"], inc.Labels["namespace"], inc.Status))
		}
		sort.Strings(out[id])
	}
	return out
}

func wantStatuses(t *testing.T, e *ctrlEnv, want map[string][]string) {
	t.Helper()
	eventually(t, "routes", func() bool {
		got := e.d.statuses()
		for id, w := range want {
			if !slices.Equal(got[id], w) {
				return false
			}
		}
		return true
	})
}

// A tenant silence holds the tenant's own matching alerts on the tenant's
// own channels only: not another tenant's alerts, not admin channels.
// Deleting it lets them go; an invalid one is reported and ignored.
func TestControllerTenantSilence(t *testing.T) {
	e := newCtrlEnv(t,
		newNamespace("team-a", tenantLabel("alpha")), newNamespace("team-a2", tenantLabel("alpha")), newNamespace("team-b", nil),
		newChannel("team-a", "ch"), newChannel("team-b", "ch"),
		// Active only in 1990: muted now.
		newChannel("team-b", "muted", withAnnotations(AnnotationActiveInterval, "- years: ['1990']\n")),
		newChannel(testNamespace, "all", withLabels(LabelScope, ScopeAll)),
		newChannel(testNamespace, "alpha", withLabels(LabelTenant, "alpha")),
		newPolicy("team-a", "quiet", policy.LabelSilence, "matchers", `alertname="Noisy"`, "ends-at", "2999-01-01T00:00:00Z", "comment", "maintenance"),
		newPolicy("team-a", "broken", policy.LabelSilence, "matchers", `alertname=~"(`, "ends-at", "2999-01-01T00:00:00Z"),
	)
	reg := prometheus.NewRegistry()
	if err := e.ctrl.Register(reg, time.Now); err != nil {
		t.Fatal(err)
	}
	startWithPolicies(t, e)
	noisyA := inc(1, "alertname", "Noisy", "namespace", "team-a2")
	noisyB := inc(2, "alertname", "Noisy", "namespace", "team-b")
	other := inc(3, "alertname", "Other", "namespace", "team-a")
	e.ctrl.router.Observe(time.Now(), fresh([]alert.Incarnation{noisyA, noisyB, other}))
	wantStatuses(t, e, map[string][]string{
		"team-a/ch":              {"Noisy//team-a2=suppressed", "Other//team-a=firing"},
		"team-b/ch":              {"Noisy//team-b=firing"},
		testNamespace + "/all":   {"Noisy//team-a2=firing", "Noisy//team-b=firing", "Other//team-a=firing"},
		testNamespace + "/alpha": {"Noisy//team-a2=firing", "Other//team-a=firing"},
	})
	for reason, want := range map[string]float64{heldSilenced: 1, heldInhibited: 0, heldMuted: 1} {
		if got := testutil.ToFloat64(e.ctrl.router.held.g.WithLabelValues(reason)); got != want {
			t.Errorf("amtenant_alerts_held{reason=%s} = %v, want %v", reason, got, want)
		}
	}
	route := e.ctrl.Explain(noisyB.Labels, time.Now())
	for _, v := range route.Channels {
		if v.Channel == "team-b/muted" && !strings.HasPrefix(v.Held, "channel muted beyond ") {
			t.Errorf("team-b/muted: held %q", v.Held)
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP amtenant_tenant_policies Tenant silences (ConfigMaps) and inhibit rules by state: active, pending (not started, or outside its recurring window), expired, invalid (refused: see the Warning Event on the ConfigMap).
# TYPE amtenant_tenant_policies gauge
amtenant_tenant_policies{kind="inhibit",state="active"} 0
amtenant_tenant_policies{kind="inhibit",state="invalid"} 0
amtenant_tenant_policies{kind="silence",state="active"} 1
amtenant_tenant_policies{kind="silence",state="expired"} 0
amtenant_tenant_policies{kind="silence",state="invalid"} 1
amtenant_tenant_policies{kind="silence",state="pending"} 0
`), "amtenant_tenant_policies"); err != nil {
		t.Error(err)
	}
	if reps := e.rep.find("team-a/broken", ReasonInvalidPolicy); len(reps) != 1 || !reps[0].warning || !strings.Contains(reps[0].message, "matchers, line 1") {
		t.Errorf("reports on the invalid silence: %+v", reps)
	}
	if reps := e.rep.find("team-a/quiet", ReasonPolicyReady); len(reps) != 1 {
		t.Errorf("reports on the valid silence: %+v", reps)
	}

	// Explain names the silence on the tenant's channel only.
	route = e.ctrl.Explain(noisyA.Labels, time.Now())
	for _, v := range route.Channels {
		held := v.Channel == "team-a/ch"
		if got := strings.HasPrefix(v.Held, "silenced by team-a/quiet until Tue 2999-01-01 00:00 UTC"); got != held {
			t.Errorf("%s: held %q", v.Channel, v.Held)
		}
	}

	if err := e.client.CoreV1().ConfigMaps("team-a").Delete(t.Context(), "quiet", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wantStatuses(t, e, map[string][]string{"team-a/ch": {"Noisy//team-a2=firing", "Other//team-a=firing"}})
}

// A tenant inhibit rule: sources and targets are the tenant's own alerts,
// equal labels must agree, and only the tenant's channels are affected.
func TestControllerTenantInhibition(t *testing.T) {
	e := newCtrlEnv(t,
		newNamespace("team-a", nil), newNamespace("team-b", nil),
		newChannel("team-a", "ch"), newChannel("team-b", "ch"),
		newChannel(testNamespace, "all", withLabels(LabelScope, ScopeAll)),
		newPolicy("team-a", "node-down", policy.LabelInhibit, "rules", `
- source_matchers: [alertname="NodeDown"]
  target_matchers: [alertname="PodDown"]
  equal: [node]
`),
	)
	startWithPolicies(t, e)
	srcA := inc(1, "alertname", "NodeDown", "namespace", "team-a", "node", "n1")
	podA1 := inc(2, "alertname", "PodDown", "namespace", "team-a", "node", "n1")
	podA2 := inc(3, "alertname", "PodDown", "namespace", "team-a", "node", "n2")
	podB1 := inc(4, "alertname", "PodDown", "namespace", "team-b", "node", "n1")
	e.ctrl.router.Observe(time.Now(), fresh([]alert.Incarnation{srcA, podA1, podA2, podB1}))
	wantStatuses(t, e, map[string][]string{
		"team-a/ch":            {"NodeDown/n1/team-a=firing", "PodDown/n1/team-a=suppressed", "PodDown/n2/team-a=firing"},
		"team-b/ch":            {"PodDown/n1/team-b=firing"},
		testNamespace + "/all": {"NodeDown/n1/team-a=firing", "PodDown/n1/team-a=firing", "PodDown/n1/team-b=firing", "PodDown/n2/team-a=firing"},
	})
	route := e.ctrl.Explain(podA1.Labels, time.Now())
	for _, v := range route.Channels {
		want := ""
		if v.Channel == "team-a/ch" {
			want = "inhibited by NodeDown (rule team-a/node-down[0], equal node)"
		}
		if v.Held != want {
			t.Errorf("%s: held %q, want %q", v.Channel, v.Held, want)
		}
	}
	// The source resolves: the target is let go.
	resolved := srcA
	resolved.Status = alert.Resolved
	e.ctrl.router.Observe(time.Now(), fresh([]alert.Incarnation{resolved, podA1, podA2, podB1}))
	wantStatuses(t, e, map[string][]string{
		"team-a/ch": {"NodeDown/n1/team-a=resolved", "PodDown/n1/team-a=firing", "PodDown/n2/team-a=firing"},
	})
}

// Routing, ChannelsFor and Explain take one decision over every scope:
// tenant channels (own tenant, other tenant, missing namespace), admin
// channels for a tenant, for cluster alerts and for all, with and without
// matchers, for tenant and cluster alerts.
func TestExplainAgreesWithRouting(t *testing.T) {
	e := newCtrlEnv(t,
		newNamespace("team-a", tenantLabel("alpha")), newNamespace("team-a2", tenantLabel("alpha")),
		newNamespace("team-b", nil), newNamespace("beta", tenantLabel("beta")),
		newChannel("team-a", "ch"), newChannel("team-b", "ch"), newChannel("gone", "ch"),
		newChannel("team-a", "sev", withAnnotations(AnnotationMatch, `severity="page"`)),
		newChannel(testNamespace, "alpha", withLabels(LabelTenant, "alpha")),
		newChannel(testNamespace, "beta", withLabels(LabelTenant, "beta")),
		newChannel(testNamespace, "cluster", withLabels(LabelScope, ScopeCluster)),
		newChannel(testNamespace, "default"),
		newChannel(testNamespace, "all", withLabels(LabelScope, ScopeAll)),
		newChannel(testNamespace, "all-sev", withLabels(LabelScope, ScopeAll), withAnnotations(AnnotationMatch, `severity="page"`)),
	)
	e.start(t)
	var incs []alert.Incarnation
	id := uint64(0)
	for _, ns := range []string{"team-a", "team-a2", "team-b", "beta", "gone", "missing", ""} {
		for _, sev := range []string{"page", "info"} {
			id++
			kv := []string{"alertname", fmt.Sprintf("A%d", id), "severity", sev}
			if ns != "" {
				kv = append(kv, "namespace", ns)
			}
			incs = append(incs, inc(id, kv...))
		}
	}
	e.ctrl.router.Observe(time.Now(), fresh(incs))
	eventually(t, "routed", func() bool { return e.d.syncCalls() > 0 })
	routed := map[string][]string{} // alertname → channels, from the Sync
	e.d.mu.Lock()
	for ch, list := range e.d.copied {
		for _, inc := range list {
			routed[string(inc.Labels[model.AlertNameLabel])] = append(routed[string(inc.Labels[model.AlertNameLabel])], ch)
		}
	}
	e.d.mu.Unlock()
	scopes := map[string]bool{}
	for _, inc := range incs {
		name := string(inc.Labels[model.AlertNameLabel])
		want := routed[name]
		sort.Strings(want)
		if got := e.ctrl.router.ChannelsFor(inc.Labels); !slices.Equal(got, want) {
			t.Errorf("%s %v: ChannelsFor %v, routing %v", name, inc.Labels, got, want)
		}
		var explained []string
		for _, v := range e.ctrl.Explain(inc.Labels, time.Now()).Channels {
			if v.Routed {
				explained = append(explained, v.Channel)
				scopes[v.Reason] = true
			} else {
				scopes["not: "+strings.SplitN(v.Reason, " (", 2)[0]] = true
			}
		}
		if !slices.Equal(explained, want) {
			t.Errorf("%s %v: Explain %v, routing %v", name, inc.Labels, explained, want)
		}
	}
	// Every branch of the decision was taken.
	for _, r := range []string{
		"the tenant's own channel", "the tenant's own channel; its match annotation matches",
		"admin channel for the tenant", "admin channel for cluster alerts", "admin channel for all alerts",
		"admin channel for all alerts; its match annotation matches",
		`not: tenant channel in namespace "gone", which does not exist`, `not: tenant channel of "alpha"; cluster alerts go to admin channels only`,
		`not: belongs to another tenant`, `not: admin channel for tenant "alpha"`, "not: admin channel for cluster alerts only",
		`not: the match annotation severity="page" does not match`,
	} {
		if !scopes[r] {
			t.Errorf("no verdict %q among %v", r, scopes)
		}
	}
}

// The routing table only narrows the candidates down: every binding it
// leaves out for a tenant is one decide refuses.
func TestTableNarrowsOnly(t *testing.T) {
	tenants := map[string]string{"team-a": "alpha", "team-b": "team-b"}
	r := NewRouter("namespace", func(ns string) (string, bool) { t, ok := tenants[ns]; return t, ok }, &recDeliverer{})
	for _, b := range []binding{
		{id: "team-a/ch", namespace: "team-a", scope: scopeOwnTenant},
		{id: "team-b/ch", namespace: "team-b", scope: scopeOwnTenant},
		{id: "gone/ch", namespace: "gone", scope: scopeOwnTenant},
		{id: "x/alpha", scope: scopeTenant, tenant: "alpha"},
		{id: "x/nobody", scope: scopeTenant, tenant: "nobody"},
		{id: "x/cluster", scope: scopeCluster},
		{id: "x/all", scope: scopeAll},
	} {
		r.set(b)
	}
	tbl := r.tableLocked(time.Now())
	for _, tenant := range []string{"", "alpha", "team-b", "nobody", "other"} {
		in := map[string]bool{}
		for _, es := range tbl.candidates(tenant) {
			for _, e := range es {
				in[e.b.id] = true
			}
		}
		for _, b := range r.bindings {
			if decide(b, audienceOf(b, r.tenantOf), tenant, model.LabelSet{}, policy.Hold{}).routed() && !in[b.id] {
				t.Errorf("tenant %q: %s is routed by decide but not a candidate", tenant, b.id)
			}
		}
	}
}
