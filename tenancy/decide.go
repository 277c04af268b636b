package tenancy

import (
	"fmt"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/policy"
)

// audience is whom a channel's scope admits, resolved against the
// namespaces as they are now.
type audience struct {
	scope scope
	// tenant is the tenant of a tenant channel's namespace, or an admin
	// channel's tenant label.
	tenant string
	// exists is false for a tenant channel whose namespace does not exist.
	exists bool
}

func audienceOf(b binding, tenantOf TenantFunc) audience {
	a := audience{scope: b.scope, tenant: b.tenant, exists: true}
	if b.scope == scopeOwnTenant {
		a.tenant, a.exists = tenantOf(b.namespace)
	}
	return a
}

// why is why a channel does or does not receive an alert.
type why int

const (
	whyRouted why = iota
	whyNoNamespace
	whyClusterAlert
	whyOtherTenant
	whyAdminOtherTenant
	whyClusterOnly
	whyNoMatch
)

// decision is one channel's decision about one alert.
type decision struct {
	why why
	// failed is the first matcher of the channel that does not match.
	failed *labels.Matcher
	// hold is what holds a routed alert back on the channel: a policy of
	// the alert's tenant (tenant channels only).
	hold policy.Hold
}

func (d decision) routed() bool { return d.why == whyRouted }

// decide is the routing rule, the one place it is written: routing,
// ChannelsFor and Explain all take their decision from it. A channel with
// audience a receives an alert of tenant ("" for a cluster alert) with
// labels ls when its scope admits the tenant and its matchers all match;
// hold is the tenant's policies' verdict on the alert, which holds it back
// on the tenant's own channels only, never on admin channels.
func decide(b binding, a audience, tenant string, ls model.LabelSet, hold policy.Hold) decision {
	switch b.scope {
	case scopeOwnTenant:
		switch {
		case !a.exists:
			return decision{why: whyNoNamespace}
		case tenant == "":
			return decision{why: whyClusterAlert}
		case a.tenant != tenant:
			return decision{why: whyOtherTenant}
		}
	case scopeTenant:
		if b.tenant != tenant {
			return decision{why: whyAdminOtherTenant}
		}
	case scopeCluster:
		if tenant != "" {
			return decision{why: whyClusterOnly}
		}
	}
	for _, m := range b.matchers {
		if !m.Matches(string(ls[model.LabelName(m.Name)])) {
			return decision{why: whyNoMatch, failed: m}
		}
	}
	if b.scope == scopeOwnTenant {
		return decision{hold: hold}
	}
	return decision{}
}

var scopeNames = map[scope]string{
	scopeOwnTenant: "the tenant's own channel",
	scopeTenant:    "admin channel for the tenant",
	scopeCluster:   "admin channel for cluster alerts",
	scopeAll:       "admin channel for all alerts",
}

// reason says why, for explain.
func (d decision) reason(b binding, a audience) string {
	switch d.why {
	case whyNoNamespace:
		return fmt.Sprintf("tenant channel in namespace %q, which does not exist", b.namespace)
	case whyClusterAlert:
		return fmt.Sprintf("tenant channel of %q; cluster alerts go to admin channels only", a.tenant)
	case whyOtherTenant:
		return fmt.Sprintf("belongs to another tenant (%q)", a.tenant)
	case whyAdminOtherTenant:
		return fmt.Sprintf("admin channel for tenant %q", b.tenant)
	case whyClusterOnly:
		return "admin channel for cluster alerts only"
	case whyNoMatch:
		return fmt.Sprintf("the match annotation %s does not match", d.failed)
	}
	if len(b.matchers) > 0 {
		return scopeNames[b.scope] + "; its match annotation matches"
	}
	return scopeNames[b.scope]
}

// heldBy says what holds a routed alert back on the channel at now, for
// explain: a tenant policy (described as policy, d.hold.Describe(now)), or
// the channel's mute window. Empty when nothing does.
func (d decision) heldBy(b binding, now time.Time, policy string) string {
	if d.hold.Held() {
		return policy
	}
	return b.mute.Describe(now)
}
