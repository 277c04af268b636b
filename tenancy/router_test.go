package tenancy

import (
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"

	"github.com/amtenant/amtenant/alert"
)

// mapTenants is a TenantFunc backed by a map of namespace to tenant
// label; a namespace with an empty label is its own tenant.
type mapTenants struct {
	mu sync.Mutex
	ns map[string]string
}

func (m *mapTenants) tenantOf(ns string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.ns[ns]
	if !ok {
		return "", false
	}
	if t == "" {
		return ns, true
	}
	return t, true
}

func (m *mapTenants) set(ns, tenant string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ns[ns] = tenant
}

// routerFixture is a router with a fixed set of namespaces and channels:
//
//	team-a, team-a2 → alpha; team-b → beta; lonely → itself
//	team-a/ch, team-a2/ch, team-b/ch, ghost/ch: tenant channels
//	team-a/crit: tenant channel matching severity="critical"
//	amtenant/alpha: admin, tenant alpha
//	amtenant/cluster: admin, scope cluster; amtenant/default: no label
//	amtenant/all: scope all; amtenant/all-crit: scope all, severity="critical"
type routerFixture struct {
	tenants *mapTenants
	out     *recDeliverer
	router  *Router
}

var fixedNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func newRouterFixture(t *testing.T) *routerFixture {
	t.Helper()
	f := &routerFixture{
		tenants: &mapTenants{ns: map[string]string{"team-a": "alpha", "team-a2": "alpha", "team-b": "beta", "lonely": ""}},
		out:     &recDeliverer{},
	}
	f.router = NewRouter("namespace", f.tenants.tenantOf, f.out)
	f.router.now = func() time.Time { return fixedNow }
	crit := withAnnotations(AnnotationMatch, `severity="critical"`)
	for _, s := range []*corev1.Secret{
		newChannel("team-a", "ch"),
		newChannel("team-a2", "ch"),
		newChannel("team-b", "ch"),
		newChannel("ghost", "ch"),
		newChannel("team-a", "crit", crit),
		newChannel(testNamespace, "alpha", withLabels(LabelTenant, "alpha")),
		newChannel(testNamespace, "cluster", withLabels(LabelScope, ScopeCluster)),
		newChannel(testNamespace, "default"),
		newChannel(testNamespace, "all", withLabels(LabelScope, ScopeAll)),
		newChannel(testNamespace, "all-crit", withLabels(LabelScope, ScopeAll), crit),
	} {
		f.bind(t, s)
	}
	return f
}

func (f *routerFixture) bind(t *testing.T, s *corev1.Secret) {
	t.Helper()
	cfg := testConfig()
	cl, err := cfg.classify(s, f.tenants.tenantOf)
	if err != nil {
		t.Fatalf("classify %s/%s: %v", s.Namespace, s.Name, err)
	}
	f.router.set(cl.binding)
}

// fixtureAlerts are one alert per case; alertnames say where they come
// from.
func fixtureAlerts() []alert.Incarnation {
	return []alert.Incarnation{
		inc(1, "alertname", "TeamA", "namespace", "team-a"),
		inc(2, "alertname", "TeamACrit", "namespace", "team-a", "severity", "critical"),
		inc(3, "alertname", "TeamA2", "namespace", "team-a2"),
		inc(4, "alertname", "TeamB", "namespace", "team-b", "severity", "critical"),
		inc(5, "alertname", "NoNamespace"),
		inc(6, "alertname", "EmptyNamespace", "namespace", ""),
		inc(7, "alertname", "Unknown", "namespace", "nowhere"),
		inc(8, "alertname", "Ghost", "namespace", "ghost"),
		inc(9, "alertname", "Lonely", "namespace", "lonely"),
	}
}

func TestRouterRoutes(t *testing.T) {
	f := newRouterFixture(t)
	f.router.SetReady()
	f.router.Observe(fixedNow, fresh(fixtureAlerts()))
	if n := f.out.syncCalls(); n != 1 {
		t.Fatalf("Sync called %d times, want 1", n)
	}
	want := map[string][]string{
		"team-a/ch":   {"TeamA2@alpha", "TeamA@alpha", "TeamACrit@alpha"},
		"team-a2/ch":  {"TeamA2@alpha", "TeamA@alpha", "TeamACrit@alpha"},
		"team-a/crit": {"TeamACrit@alpha"},
		"team-b/ch":   {"TeamB@beta"},
		// ghost/ch: its namespace does not exist, so it belongs to no
		// tenant and receives nothing, not even the alerts that name
		// that namespace (those are cluster alerts).
		"amtenant/alpha":    {"TeamA2@alpha", "TeamA@alpha", "TeamACrit@alpha"},
		"amtenant/cluster":  {"EmptyNamespace@", "Ghost@", "NoNamespace@", "Unknown@"},
		"amtenant/default":  {"EmptyNamespace@", "Ghost@", "NoNamespace@", "Unknown@"},
		"amtenant/all":      {"EmptyNamespace@", "Ghost@", "Lonely@lonely", "NoNamespace@", "TeamA2@alpha", "TeamA@alpha", "TeamACrit@alpha", "TeamB@beta", "Unknown@"},
		"amtenant/all-crit": {"TeamACrit@alpha", "TeamB@beta"},
	}
	for _, v := range want {
		slices.Sort(v)
	}
	got := f.out.routes()
	for id := range maps.Keys(want) {
		if !slices.Equal(got[id], want[id]) {
			t.Errorf("%s received %q, want %q", id, got[id], want[id])
		}
	}
	for id := range maps.Keys(got) {
		if _, ok := want[id]; !ok {
			t.Errorf("%s received %q, want nothing", id, got[id])
		}
	}
	f.out.mu.Lock()
	now := f.out.now
	f.out.mu.Unlock()
	if !now.Equal(fixedNow) {
		t.Errorf("Sync now = %v, want %v", now, fixedNow)
	}
}

func TestRouterChannelsFor(t *testing.T) {
	f := newRouterFixture(t)
	tests := []struct {
		name   string
		labels model.LabelSet
		want   []string
	}{
		{"tenant alpha", model.LabelSet{"namespace": "team-a"}, []string{"amtenant/all", "amtenant/alpha", "team-a/ch", "team-a2/ch"}},
		{"tenant alpha critical", model.LabelSet{"namespace": "team-a2", "severity": "critical"}, []string{"amtenant/all", "amtenant/all-crit", "amtenant/alpha", "team-a/ch", "team-a/crit", "team-a2/ch"}},
		{"tenant beta", model.LabelSet{"namespace": "team-b"}, []string{"amtenant/all", "team-b/ch"}},
		{"own tenant without channels", model.LabelSet{"namespace": "lonely"}, []string{"amtenant/all"}},
		{"no namespace", model.LabelSet{"alertname": "x"}, []string{"amtenant/all", "amtenant/cluster", "amtenant/default"}},
		{"unknown namespace", model.LabelSet{"namespace": "nowhere"}, []string{"amtenant/all", "amtenant/cluster", "amtenant/default"}},
		{"cluster critical", model.LabelSet{"severity": "critical"}, []string{"amtenant/all", "amtenant/all-crit", "amtenant/cluster", "amtenant/default"}},
		{"label named like a tenant is not a namespace", model.LabelSet{"tenant": "alpha"}, []string{"amtenant/all", "amtenant/cluster", "amtenant/default"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := f.router.ChannelsFor(tt.labels); !slices.Equal(got, tt.want) {
				t.Errorf("ChannelsFor(%v) = %q, want %q", tt.labels, got, tt.want)
			}
		})
	}
	// ChannelsFor works before SetReady and does not deliver.
	if n := f.out.syncCalls(); n != 0 {
		t.Errorf("ChannelsFor caused %d Syncs", n)
	}
}

// ChannelsFor must agree with what Observe delivers.
func TestRouterChannelsForAgreesWithRouting(t *testing.T) {
	f := newRouterFixture(t)
	f.router.SetReady()
	alerts := fixtureAlerts()
	f.router.Observe(fixedNow, fresh(alerts))
	got := f.out.routes()
	for _, a := range alerts {
		name := string(a.Labels[model.AlertNameLabel])
		var routed []string
		for id, names := range got {
			for _, n := range names {
				if n[:len(n)-len(tenantSuffix(n))] == name {
					routed = append(routed, id)
				}
			}
		}
		slices.Sort(routed)
		if want := f.router.ChannelsFor(a.Labels); !slices.Equal(routed, want) {
			t.Errorf("%s: delivered to %q, ChannelsFor says %q", name, routed, want)
		}
	}
}

func tenantSuffix(s string) string {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '@' {
			return s[i:]
		}
	}
	return ""
}

func TestRouterTenantOnDelivered(t *testing.T) {
	f := newRouterFixture(t)
	f.router.SetReady()
	in := []alert.Incarnation{
		inc(1, "alertname", "A", "namespace", "team-a"),
		inc(2, "alertname", "B", "namespace", "lonely"),
		inc(3, "alertname", "C"),
	}
	f.router.Observe(fixedNow, fresh(in))
	f.out.mu.Lock()
	defer f.out.mu.Unlock()
	wantTenant := map[string]string{"A": "alpha", "B": "lonely", "C": ""}
	for id, incs := range f.out.last {
		for _, got := range incs {
			name := string(got.Labels[model.AlertNameLabel])
			if got.Tenant != wantTenant[name] {
				t.Errorf("%s on %s: Tenant = %q, want %q", name, id, got.Tenant, wantTenant[name])
			}
		}
	}
	// The rest of the incarnation is delivered as observed.
	a := f.out.last["amtenant/all"]
	for _, got := range a {
		for _, want := range in {
			if got.ID == want.ID {
				w := want
				w.Tenant = got.Tenant
				if !reflect.DeepEqual(*got, w) {
					t.Errorf("delivered %+v, want %+v", *got, w)
				}
			}
		}
	}
}

func TestRouterKeepsThePollsSlice(t *testing.T) {
	f := newRouterFixture(t)
	f.router.SetReady()
	in := fresh([]alert.Incarnation{inc(1, "alertname", "A", "namespace", "team-a")})
	f.router.Observe(fixedNow, in)
	f.out.mu.Lock()
	delivered := f.out.last["team-a/ch"]
	f.out.mu.Unlock()
	if len(delivered) != 1 {
		t.Fatalf("team-a/ch received %d incarnations, want 1", len(delivered))
	}
	// A new value is the router's to fill in: no copy per alert.
	got := delivered[0]
	if got != in[0] || got.Tenant != "alpha" || got.Unrouted {
		t.Fatalf("delivered %p (tenant %q, unrouted %v), want the poll's own incarnation %p with its tenant", got, got.Tenant, got.Unrouted, in[0])
	}
	// The next poll hands the same value (unchanged): delivered as it
	// is, not copied nor written.
	f.router.Observe(fixedNow, in)
	f.out.mu.Lock()
	same := f.out.last["team-a/ch"]
	f.out.mu.Unlock()
	if len(same) != 1 || same[0] != in[0] {
		t.Fatalf("an unchanged value in a later poll was not delivered as is: %v", same)
	}
	// Routed again after its namespace moved to another tenant: a copy,
	// so that what the senders already hold (a notification in flight)
	// never changes under them.
	f.tenants.mu.Lock()
	f.tenants.ns["team-a"] = "beta"
	f.tenants.mu.Unlock()
	f.router.Reroute()
	f.out.mu.Lock()
	again := f.out.last["amtenant/all"]
	f.out.mu.Unlock()
	if len(again) != 1 {
		t.Fatalf("the admin channel received %d incarnations, want 1", len(again))
	}
	if got.Tenant != "alpha" {
		t.Errorf("the earlier delivery changed: tenant %q", got.Tenant)
	}
	for _, p := range again {
		if p == in[0] || p.Tenant != "beta" {
			t.Errorf("after the tenant changed: %p with tenant %q, want a copy with tenant beta", p, p.Tenant)
		}
	}
	// Routed again with nothing changed: the same incarnation.
	f.router.Reroute()
	f.out.mu.Lock()
	third := f.out.last["amtenant/all"]
	f.out.mu.Unlock()
	if len(third) != 1 || third[0].Tenant != "beta" {
		t.Errorf("third routing: %v", third)
	}
	// A later poll does not change earlier deliveries.
	f.router.Observe(fixedNow, fresh([]alert.Incarnation{func() alert.Incarnation {
		i := inc(1, "alertname", "A", "namespace", "team-a")
		i.Status = alert.Resolved
		return i
	}()}))
	if got.Status != alert.Firing {
		t.Errorf("a later pass changed an earlier delivery: Status = %v", got.Status)
	}
}

func TestRouterNotReady(t *testing.T) {
	f := newRouterFixture(t)
	f.router.Observe(fixedNow.Add(-time.Minute), fresh([]alert.Incarnation{inc(1, "alertname", "Old", "namespace", "team-a")}))
	f.router.Reroute()
	if n := f.out.syncCalls(); n != 0 {
		t.Fatalf("Sync called %d times before SetReady", n)
	}
	// The last poll before SetReady is the one routed.
	f.router.Observe(fixedNow.Add(-time.Second), fresh([]alert.Incarnation{inc(2, "alertname", "Last", "namespace", "team-a")}))
	if n := f.out.syncCalls(); n != 0 {
		t.Fatalf("Sync called %d times before SetReady", n)
	}
	f.router.SetReady()
	if n := f.out.syncCalls(); n != 1 {
		t.Fatalf("SetReady: Sync called %d times, want 1", n)
	}
	f.out.mu.Lock()
	now := f.out.now
	f.out.mu.Unlock()
	if !now.Equal(fixedNow) {
		t.Errorf("SetReady routed at %v, want the router's clock %v", now, fixedNow)
	}
	if got := f.out.routes()["team-a/ch"]; !slices.Equal(got, []string{"Last@alpha"}) {
		t.Errorf("team-a/ch received %q, want the last poll [Last@alpha]", got)
	}
	// After SetReady every Observe routes, with the poll's time.
	later := fixedNow.Add(time.Minute)
	f.router.Observe(later, fresh(nil))
	if n := f.out.syncCalls(); n != 2 {
		t.Fatalf("Observe after SetReady: Sync called %d times, want 2", n)
	}
	f.out.mu.Lock()
	defer f.out.mu.Unlock()
	if !f.out.now.Equal(later) || len(f.out.last) != 0 {
		t.Errorf("empty poll: Sync(%v, %v), want Sync(%v, empty)", f.out.now, f.out.last, later)
	}
}

func TestRouterSetReadyWithoutPoll(t *testing.T) {
	f := newRouterFixture(t)
	f.router.SetReady()
	f.router.Reroute()
	if n := f.out.syncCalls(); n != 0 {
		t.Fatalf("Sync called %d times with no poll observed, want 0", n)
	}
	f.router.Observe(fixedNow, fresh([]alert.Incarnation{inc(1, "alertname", "A")}))
	if n := f.out.syncCalls(); n != 1 {
		t.Fatalf("Sync called %d times, want 1", n)
	}
}

func TestRouterReroute(t *testing.T) {
	f := newRouterFixture(t)
	f.router.SetReady()
	f.router.Observe(fixedNow.Add(-time.Hour), fresh([]alert.Incarnation{
		inc(1, "alertname", "A", "namespace", "team-a"),
		inc(2, "alertname", "B", "namespace", "team-b"),
	}))

	t.Run("channel removed", func(t *testing.T) {
		f.router.remove("team-a/ch")
		f.router.Reroute()
		got := f.out.routes()
		if _, ok := got["team-a/ch"]; ok {
			t.Errorf("removed channel team-a/ch still received %q", got["team-a/ch"])
		}
		if !slices.Equal(got["team-a2/ch"], []string{"A@alpha"}) {
			t.Errorf("team-a2/ch received %q, want [A@alpha]", got["team-a2/ch"])
		}
		f.out.mu.Lock()
		now := f.out.now
		f.out.mu.Unlock()
		if !now.Equal(fixedNow) {
			t.Errorf("Reroute used %v, want the router's clock %v", now, fixedNow)
		}
	})

	t.Run("channel added", func(t *testing.T) {
		f.bind(t, newChannel("team-b", "new"))
		f.router.Reroute()
		if got := f.out.routes()["team-b/new"]; !slices.Equal(got, []string{"B@beta"}) {
			t.Errorf("new channel team-b/new received %q, want [B@beta]", got)
		}
	})

	t.Run("channel rebound", func(t *testing.T) {
		// The same ID, now an admin channel for beta.
		f.router.set(binding{id: "amtenant/alpha", namespace: testNamespace, scope: scopeTenant, tenant: "beta"})
		f.router.Reroute()
		if got := f.out.routes()["amtenant/alpha"]; !slices.Equal(got, []string{"B@beta"}) {
			t.Errorf("rebound amtenant/alpha received %q, want [B@beta]", got)
		}
	})

	t.Run("namespace relabelled", func(t *testing.T) {
		// team-a moves to beta: its alerts and its channels go with it.
		f.tenants.set("team-a", "beta")
		f.router.Reroute()
		got := f.out.routes()
		want := map[string][]string{
			"team-b/ch":      {"A@beta", "B@beta"},
			"team-b/new":     {"A@beta", "B@beta"},
			"team-a/crit":    nil, // matches nothing here
			"team-a2/ch":     nil, // still alpha
			"amtenant/alpha": {"A@beta", "B@beta"},
		}
		for id, w := range want {
			if !slices.Equal(got[id], w) {
				t.Errorf("%s received %q, want %q", id, got[id], w)
			}
		}
	})

	t.Run("namespace deleted", func(t *testing.T) {
		f.tenants.mu.Lock()
		delete(f.tenants.ns, "team-b")
		f.tenants.mu.Unlock()
		f.router.Reroute()
		got := f.out.routes()
		if !slices.Equal(got["amtenant/cluster"], []string{"B@"}) {
			t.Errorf("amtenant/cluster received %q, want B as a cluster alert", got["amtenant/cluster"])
		}
		if _, ok := got["team-b/ch"]; ok {
			t.Errorf("team-b/ch of a deleted namespace received %q", got["team-b/ch"])
		}
	})
}

func TestRouterTenantLookedUpOncePerNamespace(t *testing.T) {
	var calls []string
	var mu sync.Mutex
	tenantOf := func(ns string) (string, bool) {
		mu.Lock()
		calls = append(calls, ns)
		mu.Unlock()
		return ns, true
	}
	out := &recDeliverer{}
	r := NewRouter("namespace", tenantOf, out)
	r.set(binding{id: "team-a/ch", namespace: "team-a", scope: scopeOwnTenant})
	r.SetReady()
	r.Observe(fixedNow, fresh([]alert.Incarnation{
		inc(1, "alertname", "A", "namespace", "team-a"),
		inc(2, "alertname", "B", "namespace", "team-a"),
		inc(3, "alertname", "C"),
		inc(4, "alertname", "D"),
	}))
	mu.Lock()
	defer mu.Unlock()
	// One lookup for the channel's namespace, one for the alerts'; none
	// for alerts without a namespace.
	if len(calls) != 2 {
		t.Errorf("tenantOf called for %q, want once for the channel and once for the alerts", calls)
	}
	if got := out.routes()["team-a/ch"]; !slices.Equal(got, []string{"A@team-a", "B@team-a"}) {
		t.Errorf("team-a/ch received %q", got)
	}
}

func TestRouterConcurrentUse(t *testing.T) {
	f := newRouterFixture(t)
	f.router.SetReady()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 50 {
				switch (i + j) % 4 {
				case 0:
					f.router.Observe(fixedNow, fresh(fixtureAlerts()))
				case 1:
					f.router.Reroute()
				case 2:
					f.router.ChannelsFor(model.LabelSet{"namespace": "team-a"})
				case 3:
					f.router.set(binding{id: "x/y", namespace: "x", scope: scopeCluster})
					f.router.remove("x/y")
				}
			}
		})
	}
	wg.Wait()
}
