package tenancy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
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
}

// Explain tells, for an alert with these labels, its tenant and the
// decision of every channel Secret the sidecar knows, valid or not.
func (c *Controller) Explain(ls model.LabelSet) Route {
	var r Route
	ns := string(ls[c.cfg.AlertNamespaceLabel])
	switch t, ok := c.TenantOf(ns); {
	case ns == "":
		r.TenantReason = fmt.Sprintf("the alert has no %q label: it is a cluster alert (no tenant)", c.cfg.AlertNamespaceLabel)
	case !ok:
		r.TenantReason = fmt.Sprintf("namespace %q does not exist: it is a cluster alert (no tenant)", ns)
	case t == ns:
		r.Tenant = t
		r.TenantReason = fmt.Sprintf("namespace %q has no %s label: it is its own tenant", ns, c.cfg.NamespaceTenantLabel)
	default:
		r.Tenant = t
		r.TenantReason = fmt.Sprintf("namespace %q has the label %s=%s", ns, c.cfg.NamespaceTenantLabel, t)
	}

	c.router.mu.Lock()
	bindings := make(map[string]binding, len(c.router.bindings))
	for k, b := range c.router.bindings {
		bindings[k] = b
	}
	c.router.mu.Unlock()
	c.mu.Lock()
	reported := make(map[string]string, len(c.reported))
	for k, v := range c.reported {
		reported[k] = v
	}
	c.mu.Unlock()

	keys := c.secrets.GetStore().ListKeys()
	sort.Strings(keys)
	for _, key := range keys {
		obj, ok, _ := c.secrets.GetStore().GetByKey(key)
		if s, isSecret := obj.(*corev1.Secret); !ok || !isSecret || !isChannel(s) {
			continue
		}
		v := Verdict{Channel: key}
		b, bound := bindings[key]
		invalid := ""
		if rep, ok := reported[key]; ok && strings.HasPrefix(rep, ReasonInvalidChannel+"\x00") {
			invalid = strings.TrimPrefix(rep, ReasonInvalidChannel+"\x00")
		}
		switch {
		case !bound:
			v.Reason = "invalid channel: " + invalid
		default:
			v.Routed, v.Reason = c.decide(b, r.Tenant, ls)
			if invalid != "" {
				v.Reason += "; its latest version is invalid and the previous one is in use: " + invalid
			}
		}
		r.Channels = append(r.Channels, v)
	}
	return r
}

// decide applies a binding's scope and matchers to an alert, as the router
// does, and says why.
func (c *Controller) decide(b binding, tenant string, ls model.LabelSet) (bool, string) {
	switch b.scope {
	case scopeOwnTenant:
		own, ok := c.TenantOf(b.namespace)
		switch {
		case !ok:
			return false, fmt.Sprintf("tenant channel in namespace %q, which does not exist", b.namespace)
		case tenant == "":
			return false, fmt.Sprintf("tenant channel of %q; cluster alerts go to admin channels only", own)
		case own != tenant:
			return false, fmt.Sprintf("belongs to another tenant (%q)", own)
		}
	case scopeTenant:
		if b.tenant != tenant {
			return false, fmt.Sprintf("admin channel for tenant %q", b.tenant)
		}
	case scopeCluster:
		if tenant != "" {
			return false, "admin channel for cluster alerts only"
		}
	}
	for _, m := range b.matchers {
		if !m.Matches(string(ls[model.LabelName(m.Name)])) {
			return false, fmt.Sprintf("the match annotation %s does not match", m)
		}
	}
	scope := map[scope]string{scopeOwnTenant: "the tenant's own channel", scopeTenant: "admin channel for the tenant",
		scopeCluster: "admin channel for cluster alerts", scopeAll: "admin channel for all alerts"}[b.scope]
	if len(b.matchers) > 0 {
		return true, scope + "; its match annotation matches"
	}
	return true, scope
}
