package tenancy

import (
	"sort"
	"sync"
	"time"

	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/policy"
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

	mu sync.Mutex
	// bindings are the live channels, the one record of them in tenancy:
	// one per channel the builder holds, from its last valid version. (The
	// senders hold the channels themselves; the controller keeps only why
	// a latest version is invalid, and what it last reported.)
	bindings map[string]binding
	policies policy.Index
	held     heldGauge
	last     []*alert.Incarnation
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
func (r *Router) Observe(now time.Time, incs []*alert.Incarnation) {
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

// remove drops a channel's binding and reports whether it had one.
func (r *Router) remove(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, had := r.bindings[id]
	delete(r.bindings, id)
	return had
}

// setPolicies replaces the tenants' policies.
func (r *Router) setPolicies(idx policy.Index) {
	r.mu.Lock()
	r.policies = idx
	r.mu.Unlock()
}

// entry is a binding with its audience for one routing pass.
type entry struct {
	b binding
	a audience
	// muted: the channel is inside its mute window now (for the metric).
	muted bool
}

// table indexes the bindings for one routing pass: tenant channels are
// resolved to their namespace's current tenant once, not once per alert.
// It only narrows down the candidates; decide makes the decision.
type table struct {
	byTenant map[string][]entry
	cluster  []entry
	all      []entry
}

func (r *Router) tableLocked(now time.Time) table {
	t := table{byTenant: map[string][]entry{}}
	for _, b := range r.bindings {
		e := entry{b: b, a: audienceOf(b, r.tenantOf), muted: !b.mute.IsZero() && b.mute.Muted(now)}
		switch b.scope {
		case scopeOwnTenant:
			if e.a.exists {
				t.byTenant[e.a.tenant] = append(t.byTenant[e.a.tenant], e)
			}
		case scopeTenant:
			t.byTenant[b.tenant] = append(t.byTenant[b.tenant], e)
		case scopeCluster:
			t.cluster = append(t.cluster, e)
		case scopeAll:
			t.all = append(t.all, e)
		}
	}
	return t
}

// candidates are the channels that may receive an alert of tenant: every
// other channel's scope refuses it (TestTableNarrowsOnly).
func (t table) candidates(tenant string) [2][]entry {
	if tenant == "" {
		return [2][]entry{t.cluster, t.all}
	}
	return [2][]entry{t.byTenant[tenant], t.all}
}

// tenantOfAlert returns the tenant of an alert with labels ls, "" for a
// cluster alert.
func (r *Router) tenantOfAlert(ls model.LabelSet) string {
	ns := string(ls[r.nsLabel])
	if ns == "" {
		return ""
	}
	t, _ := r.tenantOf(ns)
	return t
}

func (r *Router) routeLocked(now time.Time) {
	t := r.tableLocked(now)
	byChannel := make(map[string][]*alert.Incarnation, len(r.bindings))
	tenants := make([]string, len(r.last))
	byTenant := map[string][]int{}
	memo := map[string]string{}
	for i := range r.last {
		ns := string(r.last[i].Labels[r.nsLabel])
		tenant, seen := memo[ns]
		if !seen {
			tenant = r.tenantOfAlert(r.last[i].Labels)
			memo[ns] = tenant
		}
		tenants[i] = tenant
		if r.policies[tenant] != nil {
			byTenant[tenant] = append(byTenant[tenant], i)
		}
	}
	holds := r.holdsLocked(now, byTenant)
	var held heldCount
	for i := range r.last {
		// The senders hold the tracker's incarnations themselves, across
		// polls: a new value's tenant is set in place on its first
		// routing, and only a value whose tenant changed since (a
		// Namespace relabelled) is copied.
		p := r.last[i]
		switch {
		case p.Unrouted:
			p.Tenant, p.Unrouted = tenants[i], false
		case p.Tenant != tenants[i]:
			c := *p
			c.Tenant = tenants[i]
			p = &c
		}
		var h policy.Hold
		if holds != nil {
			h = holds[i]
		}
		var suppressed *alert.Incarnation
		muted := false
		for _, es := range t.candidates(p.Tenant) {
			for _, e := range es {
				d := decide(e.b, e.a, p.Tenant, p.Labels, h)
				if !d.routed() {
					continue
				}
				q := p
				if d.hold.Held() {
					if suppressed == nil {
						suppressed = heldCopy(*p)
					}
					q = suppressed
				} else if e.muted {
					muted = true
				}
				byChannel[e.b.id] = append(byChannel[e.b.id], q)
			}
		}
		if p.Status == alert.Firing {
			held.add(h, muted)
		}
	}
	r.held.set(held)
	r.out.Sync(now, byChannel)
}

// heldCopy is an incarnation as a tenant's channels see it while a tenant
// policy holds it back: suppressed, as if Alertmanager silenced it, so
// that the senders hold it and notify it when the policy lets it go.
func heldCopy(inc alert.Incarnation) *alert.Incarnation {
	inc.Suppressed = true
	if inc.Status == alert.Firing {
		inc.Status = alert.Suppressed
	}
	return &inc
}

// holdsLocked evaluates the policies of every tenant that has some over
// that tenant's alerts (indexes into r.last); nil when none has any.
func (r *Router) holdsLocked(now time.Time, byTenant map[string][]int) []policy.Hold {
	if len(byTenant) == 0 {
		return nil // no tenant has policies
	}
	out := make([]policy.Hold, len(r.last))
	for tenant, idx := range byTenant {
		incs := make([]*alert.Incarnation, len(idx))
		for k, i := range idx {
			incs[k] = r.last[i]
		}
		for k, h := range r.policies[tenant].Holds(now, incs) {
			out[idx[k]] = h
		}
	}
	return out
}

// holdFor evaluates the policies of an alert's tenant for the alert with
// labels ls, among the tenant's alerts of the last poll, as routing does.
func (r *Router) holdForLocked(now time.Time, tenant string, ls model.LabelSet) policy.Hold {
	tp := r.policies[tenant]
	if tp == nil {
		return policy.Hold{}
	}
	var incs []*alert.Incarnation
	self := -1
	for i := range r.last {
		if r.tenantOfAlert(r.last[i].Labels) != tenant {
			continue
		}
		if self < 0 && r.last[i].Labels.Equal(ls) {
			self = len(incs)
		}
		incs = append(incs, r.last[i])
	}
	if self < 0 {
		// Not in the last poll: judged as a target only.
		self = len(incs)
		incs = append(incs, &alert.Incarnation{Alert: alert.Alert{Labels: ls}, Status: alert.Resolved})
	}
	return tp.Holds(now, incs)[self]
}

// ChannelsFor returns the IDs of the channels an alert with these labels
// is routed to, sorted; for diagnostics and tests.
func (r *Router) ChannelsFor(ls model.LabelSet) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	tenant := r.tenantOfAlert(ls)
	var out []string
	for _, b := range r.bindings {
		if decide(b, audienceOf(b, r.tenantOf), tenant, ls, policy.Hold{}).routed() {
			out = append(out, b.id)
		}
	}
	sort.Strings(out)
	return out
}
