package tenancy

import (
	"sort"
	"sync"
	"time"

	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
)

// Deliverer receives, for every channel, the incarnations routed to it.
// Channels missing from byChannel receive none.
type Deliverer interface {
	Sync(now time.Time, byChannel map[string][]*alert.Incarnation)
}

// TenantFunc returns the tenant of a namespace and whether the namespace
// exists.
type TenantFunc func(namespace string) (tenant string, ok bool)

// Router sends each alert to the channels of its tenant and to the admin
// channels whose scope covers it. It implements the poller's Sink.
type Router struct {
	nsLabel  model.LabelName
	tenantOf TenantFunc
	out      Deliverer
	now      func() time.Time

	mu       sync.Mutex
	bindings map[string]binding
	last     []alert.Incarnation
	haveLast bool
	ready    bool
}

// NewRouter returns a router that delivers to out. It routes nothing until
// SetReady: before the channel caches are synced, a missing channel is
// indistinguishable from a deleted one.
func NewRouter(nsLabel model.LabelName, tenantOf TenantFunc, out Deliverer) *Router {
	return &Router{nsLabel: nsLabel, tenantOf: tenantOf, out: out, now: time.Now, bindings: map[string]binding{}}
}

// Observe routes the tracker's latest verdicts.
func (r *Router) Observe(now time.Time, incs []alert.Incarnation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last, r.haveLast = incs, true
	if r.ready {
		r.routeLocked(now)
	}
}

// SetReady starts routing, at once if a poll was already observed.
func (r *Router) SetReady() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ready = true
	if r.haveLast {
		r.routeLocked(r.now())
	}
}

// Reroute routes the last observed poll again, after channels or
// namespaces changed.
func (r *Router) Reroute() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ready && r.haveLast {
		r.routeLocked(r.now())
	}
}

func (r *Router) set(b binding) {
	r.mu.Lock()
	r.bindings[b.id] = b
	r.mu.Unlock()
}

func (r *Router) remove(id string) {
	r.mu.Lock()
	delete(r.bindings, id)
	r.mu.Unlock()
}

// table indexes the bindings for one routing pass: tenant channels are
// resolved to their namespace's current tenant once, not once per alert.
type table struct {
	byTenant map[string][]binding
	cluster  []binding
	all      []binding
}

func (r *Router) tableLocked() table {
	t := table{byTenant: map[string][]binding{}}
	for _, b := range r.bindings {
		switch b.scope {
		case scopeOwnTenant:
			tenant, ok := r.tenantOf(b.namespace)
			if ok {
				t.byTenant[tenant] = append(t.byTenant[tenant], b)
			}
		case scopeTenant:
			t.byTenant[b.tenant] = append(t.byTenant[b.tenant], b)
		case scopeCluster:
			t.cluster = append(t.cluster, b)
		case scopeAll:
			t.all = append(t.all, b)
		}
	}
	return t
}

func (r *Router) routeLocked(now time.Time) {
	t := r.tableLocked()
	byChannel := make(map[string][]*alert.Incarnation, len(r.bindings))
	tenants := map[string]string{}
	for i := range r.last {
		inc := r.last[i] // a copy: deliveries in flight hold earlier ones
		ns := string(inc.Labels[r.nsLabel])
		tenant, seen := tenants[ns]
		if !seen {
			if ns != "" {
				tenant, _ = r.tenantOf(ns)
			}
			tenants[ns] = tenant
		}
		inc.Tenant = tenant
		p := &inc
		add := func(bs []binding) {
			for _, b := range bs {
				if b.matchers.Matches(inc.Labels) {
					byChannel[b.id] = append(byChannel[b.id], p)
				}
			}
		}
		if tenant == "" {
			add(t.cluster)
		} else {
			add(t.byTenant[tenant])
		}
		add(t.all)
	}
	r.out.Sync(now, byChannel)
}

// ChannelsFor returns the IDs of the channels an alert with these labels
// is routed to, sorted; for diagnostics and tests.
func (r *Router) ChannelsFor(ls model.LabelSet) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tableLocked()
	tenant := ""
	if ns := string(ls[r.nsLabel]); ns != "" {
		tenant, _ = r.tenantOf(ns)
	}
	candidates := t.all
	if tenant == "" {
		candidates = append(candidates, t.cluster...)
	} else {
		candidates = append(candidates, t.byTenant[tenant]...)
	}
	var out []string
	for _, b := range candidates {
		if b.matchers.Matches(ls) {
			out = append(out, b.id)
		}
	}
	sort.Strings(out)
	return out
}
