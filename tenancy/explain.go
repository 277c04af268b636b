package tenancy

import (
	"fmt"
	"sort"
	"time"

	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/amtenant/amtenant/policy"
)

// Route explains where an alert goes and why.
type Route struct {
	Tenant string `json:"tenant"`
	// TenantReason says how the tenant was found.
	TenantReason string    `json:"tenantReason"`
	Channels     []Verdict `json:"channels"`
}

// Verdict is one channel's decision about an alert.
type Verdict struct {
	Channel string `json:"channel"`
	Routed  bool   `json:"routed"`
	// Reason says why the channel does or does not get the alert.
	Reason string `json:"reason"`
	// Held says what holds a routed alert back on the channel now: a
	// tenant silence or inhibit rule, or the channel's mute window.
	Held string `json:"held,omitempty"`
}

// Explain tells, for an alert with these labels at now, its tenant and the
// decision of every channel Secret the sidecar knows, valid or not. The
// decision is the router's own (decide), over the router's bindings and
// the tenant's policies and alerts of the last poll.
func (c *Controller) Explain(ls model.LabelSet, now time.Time) Route {
	var r Route
	ns := string(ls[c.cfg.AlertNamespaceLabel])
	label, exists := c.tenantLabel(ns)
	switch {
	case ns == "":
		r.TenantReason = fmt.Sprintf("the alert has no %q label: it is a cluster alert (no tenant)", c.cfg.AlertNamespaceLabel)
	case !exists:
		r.TenantReason = fmt.Sprintf("namespace %q does not exist: it is a cluster alert (no tenant)", ns)
	case label == "":
		r.Tenant = ns
		r.TenantReason = fmt.Sprintf("namespace %q has no %s label: it is its own tenant", ns, c.cfg.NamespaceTenantLabel)
	default:
		r.Tenant = label
		r.TenantReason = fmt.Sprintf("namespace %q has the label %s=%s", ns, c.cfg.NamespaceTenantLabel, label)
	}

	type judged struct {
		b binding
		a audience
	}
	rt := c.router
	rt.mu.Lock()
	bindings := make(map[string]judged, len(rt.bindings))
	for k, b := range rt.bindings {
		bindings[k] = judged{b, audienceOf(b, rt.tenantOf)}
	}
	var hold policy.Hold
	if r.Tenant != "" {
		hold = rt.holdForLocked(now, r.Tenant, ls)
	}
	rt.mu.Unlock()
	c.mu.Lock()
	broken := make(map[string]string, len(c.broken))
	for k, v := range c.broken {
		broken[k] = v
	}
	c.mu.Unlock()

	// What holds the alert back is described once: finding a window's end
	// has a cost.
	held := ""
	if hold.Held() {
		held = hold.Describe(now)
	}
	keys := c.secrets.GetStore().ListKeys()
	sort.Strings(keys)
	for _, key := range keys {
		obj, ok, _ := c.secrets.GetStore().GetByKey(key)
		if s, isSecret := obj.(*corev1.Secret); !ok || !isSecret || !isChannel(s) {
			continue
		}
		v := Verdict{Channel: key}
		j, bound := bindings[key]
		switch {
		case !bound:
			v.Reason = "invalid channel: " + broken[key]
		default:
			d := decide(j.b, j.a, r.Tenant, ls, hold)
			v.Routed, v.Reason = d.routed(), d.reason(j.b, j.a)
			if v.Routed {
				v.Held = d.heldBy(j.b, now, held)
			}
			if msg, ok := broken[key]; ok {
				v.Reason += "; its latest version is invalid and the previous one is in use: " + msg
			}
		}
		r.Channels = append(r.Channels, v)
	}
	return r
}

// tenantLabel returns a namespace's tenant label ("" when it has none)
// and whether the namespace exists.
func (c *Controller) tenantLabel(ns string) (string, bool) {
	obj, exists, err := c.namespaces.GetStore().GetByKey(ns)
	if err != nil || !exists {
		return "", false
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return "", false
	}
	return m.GetLabels()[c.cfg.NamespaceTenantLabel], true
}
