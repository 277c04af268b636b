package tenancy

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/amtenant/amtenant/policy"
)

// Event reasons of tenant policies (a contract for users filtering Events).
const (
	ReasonInvalidPolicy = "InvalidPolicy"
	ReasonPolicyReady   = "PolicyReady"
)

// Resource names the policy informers report to APIHealth under.
const (
	ResourceSilences = "configmaps (silences)"
	ResourceInhibits = "configmaps (inhibit rules)"
)

// parsedPolicy is the last reading of one policy ConfigMap.
type parsedPolicy struct {
	cm   *corev1.ConfigMap
	rv   string
	kind policy.Kind
	obj  *policy.Object // nil when invalid
	err  string
	// refused is set when the tenant has more policies than allowed.
	refused bool
}

// SetPolicies makes the controller read tenant policies from two
// label-selected ConfigMap informers (silences, inhibit rules). Without
// it there are none. Call before Run.
func (c *Controller) SetPolicies(silences, inhibits cache.SharedIndexInformer) error {
	enqueue := func(obj any) {
		key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
		if err == nil {
			c.queue.Add("policy/" + key)
		}
	}
	for _, inf := range []cache.SharedIndexInformer{silences, inhibits} {
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    enqueue,
			UpdateFunc: func(_, obj any) { enqueue(obj) },
			DeleteFunc: enqueue,
		}); err != nil {
			return err
		}
	}
	c.silences, c.inhibits = silences, inhibits
	return nil
}

// Register registers the tenancy metrics: alerts held by tenant policies
// and mute windows, and the tenant policies by state.
func (c *Controller) Register(reg prometheus.Registerer, now func() time.Time) error {
	h := newHeldGauge()
	if err := reg.Register(h.g); err != nil {
		return err
	}
	c.router.mu.Lock()
	c.router.held = h
	c.router.mu.Unlock()
	return reg.Register(newPolicyCollector(c, now))
}

// policyObject returns the ConfigMap key's object from either informer.
func (c *Controller) policyObject(key string) *corev1.ConfigMap {
	for _, inf := range []cache.SharedIndexInformer{c.silences, c.inhibits} {
		if inf == nil {
			continue
		}
		obj, exists, err := inf.GetStore().GetByKey(key)
		if cm, ok := obj.(*corev1.ConfigMap); err == nil && exists && ok && policy.IsPolicy(cm) {
			return cm
		}
	}
	return nil
}

// syncPolicy reads one policy ConfigMap again if it changed; the policies
// are rebuilt once the queue is empty.
func (c *Controller) syncPolicy(key string) {
	cm := c.policyObject(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.policiesDirty = true
	if cm == nil {
		if _, had := c.policies[key]; had {
			delete(c.policies, key)
			delete(c.reported, "policy/"+key)
			c.log.Info("Tenant policy removed", "configmap", key)
		}
		return
	}
	if pp := c.policies[key]; pp != nil && pp.rv == cm.ResourceVersion && cm.ResourceVersion != "" {
		pp.cm = cm
		return
	}
	pp := &parsedPolicy{cm: cm, rv: cm.ResourceVersion, kind: policy.KindInhibit}
	if _, ok := cm.Labels[policy.LabelSilence]; ok {
		pp.kind = policy.KindSilence
	}
	if obj, err := c.cfg.readPolicy(cm); err != nil {
		pp.err = err.Error()
	} else {
		pp.obj = obj
	}
	c.policies[key] = pp
}

// readPolicy applies the tenancy rules to a policy ConfigMap and parses
// it: the running sidecar and Check share it.
func (c *Config) readPolicy(cm *corev1.ConfigMap) (*policy.Object, error) {
	switch {
	case c.AdminOnly:
		return nil, errors.New("ignored: tenant channels are off (--no-tenancy.tenant-secrets), so tenant policies have nothing to hold")
	case cm.Namespace == c.Namespace:
		return nil, fmt.Errorf("ignored: tenant policies live in tenant namespaces; %q is the sidecar's own, whose admin channels no tenant policy affects", c.Namespace)
	}
	return policy.Parse(cm)
}

// rebuildPolicies sorts the valid policies into tenants for the router,
// and reports every policy whose verdict changed.
func (c *Controller) rebuildPolicies() {
	c.mu.Lock()
	if !c.policiesDirty {
		c.mu.Unlock()
		return
	}
	c.policiesDirty = false
	var objs []*policy.Object
	byID := map[string]*parsedPolicy{}
	for key, pp := range c.policies {
		if pp.obj != nil {
			objs = append(objs, pp.obj)
			byID[key] = pp
		}
	}
	c.mu.Unlock()
	idx, refused := policy.Build(objs, c.TenantOf)
	isRefused := map[string]bool{}
	for _, o := range refused {
		isRefused[o.ID] = true
	}
	c.router.setPolicies(idx)

	c.mu.Lock()
	type report struct {
		cm      *corev1.ConfigMap
		key     string
		warning bool
		reason  string
		msg     string
	}
	var reports []report
	keys := make([]string, 0, len(c.policies))
	for k := range c.policies {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		pp := c.policies[key]
		pp.refused = isRefused[key]
		r := report{cm: pp.cm, key: "policy/" + key}
		switch {
		case pp.obj == nil:
			r.warning, r.reason, r.msg = true, ReasonInvalidPolicy, fmt.Sprintf("%s %s: %s", pp.kind, key, pp.err)
		case pp.refused:
			tenant, _ := c.TenantOf(pp.cm.Namespace)
			r.warning, r.reason, r.msg = true, ReasonInvalidPolicy, fmt.Sprintf(
				"%s %s refused: tenant %q has more than %d %s ConfigMaps (the newest are refused)", pp.kind, key, tenant, policy.MaxPerTenant, pp.kind)
		default:
			r.reason, r.msg = ReasonPolicyReady, describePolicy(key, pp.obj)
		}
		reports = append(reports, r)
	}
	c.mu.Unlock()
	for _, r := range reports {
		c.reportOnce(r.cm, r.key, r.warning, r.reason, r.msg)
	}
}

// describePolicy says what a valid policy does, for its Normal Event.
func describePolicy(key string, o *policy.Object) string {
	if o.Kind == policy.KindInhibit {
		return fmt.Sprintf("inhibit rules %s loaded (%d rules); they apply to the tenant's own alerts and channels", key, len(o.Rules))
	}
	s := o.Silence
	var parts []string
	if !s.StartsAt.IsZero() {
		parts = append(parts, "from "+s.StartsAt.UTC().Format(time.RFC3339))
	}
	if !s.EndsAt.IsZero() {
		parts = append(parts, "until "+s.EndsAt.UTC().Format(time.RFC3339))
	}
	if s.Intervals != nil {
		parts = append(parts, fmt.Sprintf("inside its %d time interval(s)", len(s.Intervals)))
	}
	return fmt.Sprintf("silence %s loaded (%s; %s); it holds the tenant's matching alerts on the tenant's own channels", key, s.Matchers, strings.Join(parts, ", "))
}
