package tenancy

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"

	"github.com/amtenant/amtenant/channel"
	"github.com/amtenant/amtenant/policy"
)

// Labels and annotations of channel Secrets (DESIGN.md §3, a contract).
const (
	LabelChannel = "amtenant.io/channel"
	LabelGlobal  = "amtenant.io/global"
	LabelTenant  = "amtenant.io/tenant"
	LabelScope   = "amtenant.io/scope"

	AnnotationMatch          = "amtenant.io/match"
	AnnotationGroupBy        = "amtenant.io/group-by"
	AnnotationGroupWait      = "amtenant.io/group-wait"
	AnnotationGroupInterval  = "amtenant.io/group-interval"
	AnnotationRepeatInterval = "amtenant.io/repeat-interval"
	AnnotationMuteIntervals  = "amtenant.io/mute-time-intervals"
	AnnotationActiveInterval = "amtenant.io/active-time-intervals"

	ScopeCluster = "cluster"
	ScopeAll     = "all"
)

// Config holds the tenancy settings from the command line.
type Config struct {
	// Namespace is the sidecar's own namespace: channel Secrets there are
	// admin channels.
	Namespace string
	// NamespaceTenantLabel is the Namespace label naming its tenant.
	NamespaceTenantLabel string
	// AlertNamespaceLabel is the alert label naming its namespace.
	AlertNamespaceLabel model.LabelName
	// GroupWait, GroupInterval and RepeatInterval are the defaults of
	// channels that do not set them.
	GroupWait      time.Duration
	GroupInterval  time.Duration
	RepeatInterval time.Duration
	// Limits are the default limits of every tenant (the --limits.* flags);
	// admin channels get their channel-groups and notification rate.
	Limits Limits
	// AdminOnly is --no-tenancy.tenant-secrets: channel Secrets outside
	// Namespace are ignored. (The running sidecar does not even watch
	// them; Check reports them.)
	AdminOnly bool
}

// TenantOfNamespace is the tenancy rule (DESIGN.md §3), the one place it
// is written: a namespace's tenant is its tenant label, or its own name
// when the label is missing or empty.
func (c *Config) TenantOfNamespace(name string, labels map[string]string) string {
	if t := labels[c.NamespaceTenantLabel]; t != "" {
		return t
	}
	return name
}

// NamespaceTenants applies the rule to a list of namespaces, for commands
// that run without the informers: a namespace missing from the list is
// taken to exist, as its own tenant.
func (c *Config) NamespaceTenants(nss []*corev1.Namespace) TenantFunc {
	tenants := make(map[string]string, len(nss))
	for _, ns := range nss {
		tenants[ns.Name] = c.TenantOfNamespace(ns.Name, ns.Labels)
	}
	return func(ns string) (string, bool) {
		if t, ok := tenants[ns]; ok {
			return t, true
		}
		return ns, true
	}
}

// scope is which alerts a channel receives.
type scope int

const (
	// scopeOwnTenant: a tenant's channel, receiving the alerts of the
	// tenant its namespace belongs to (looked up at routing time, so that
	// relabelling a namespace moves its channels too).
	scopeOwnTenant scope = iota
	// scopeTenant: an admin channel for one named tenant.
	scopeTenant
	// scopeCluster: an admin channel for alerts of no tenant.
	scopeCluster
	// scopeAll: an admin channel for every alert.
	scopeAll
)

// binding is a channel's place in the routing table.
type binding struct {
	id        string
	namespace string
	scope     scope
	tenant    string // for scopeTenant
	matchers  labels.Matchers
	// mute is the channel's mute and active time intervals.
	mute policy.Mute
}

// classified is the outcome of reading a channel Secret.
type classified struct {
	spec    channel.Spec
	binding binding
	// ignoredClaims are labels that claimed another tenant or scope and
	// were ignored (tenant channels only).
	ignoredClaims []string
}

// classify applies the tenancy rules to a channel Secret. tenantOf gives
// the tenant of a namespace.
func (c *Config) classify(s *corev1.Secret, tenantOf func(ns string) (string, bool)) (*classified, error) {
	pol, err := c.policy(s.Annotations)
	if err != nil {
		return nil, err
	}
	id := s.Namespace + "/" + s.Name
	out := &classified{
		spec: channel.Spec{
			ID:      id,
			Trusted: s.Namespace == c.Namespace,
			Data:    SecretData(s),
			Policy:  pol,
		},
		binding: binding{id: id, namespace: s.Namespace, matchers: pol.Matchers, mute: pol.Mute},
	}
	tenantLabel, hasTenant := s.Labels[LabelTenant]
	scopeLabel, hasScope := s.Labels[LabelScope]
	if !out.spec.Trusted {
		own, _ := tenantOf(s.Namespace)
		if own == "" {
			own = s.Namespace
		}
		if hasTenant && tenantLabel != own {
			out.ignoredClaims = append(out.ignoredClaims, fmt.Sprintf("label %s=%q ignored: a channel in namespace %q belongs to tenant %q", LabelTenant, tenantLabel, s.Namespace, own))
		}
		if hasScope {
			out.ignoredClaims = append(out.ignoredClaims, fmt.Sprintf("label %s=%q ignored: only channels in namespace %q can have a scope", LabelScope, scopeLabel, c.Namespace))
		}
		out.binding.scope = scopeOwnTenant
		return out, nil
	}
	switch {
	case hasTenant && hasScope:
		return nil, fmt.Errorf("labels %s and %s are both set; an admin channel has one or the other", LabelTenant, LabelScope)
	case hasTenant:
		if tenantLabel == "" {
			return nil, fmt.Errorf("label %s is empty", LabelTenant)
		}
		out.binding.scope = scopeTenant
		out.binding.tenant = tenantLabel
	case hasScope:
		switch scopeLabel {
		case ScopeCluster:
			out.binding.scope = scopeCluster
		case ScopeAll:
			out.binding.scope = scopeAll
		default:
			return nil, fmt.Errorf("label %s=%q: must be %q or %q", LabelScope, scopeLabel, ScopeCluster, ScopeAll)
		}
	default:
		out.binding.scope = scopeCluster
	}
	return out, nil
}

// ParseMatcher parses one matcher as Alertmanager v0.34 does by default:
// the UTF-8 syntax, falling back to the classic one.
var ParseMatcher = policy.ParseMatcher

// policy reads the routing annotations.
func (c *Config) policy(ann map[string]string) (channel.Policy, error) {
	p := channel.Policy{
		GroupBy:        []model.LabelName{model.AlertNameLabel},
		GroupWait:      c.GroupWait,
		GroupInterval:  c.GroupInterval,
		RepeatInterval: c.RepeatInterval,
	}
	if v, ok := ann[AnnotationMatch]; ok {
		ms, err := policy.ParseMatcherLines("annotation "+AnnotationMatch, v)
		if err != nil {
			return p, err
		}
		p.Matchers = ms
	}
	for _, a := range []struct {
		key string
		iv  *policy.Intervals
	}{{AnnotationMuteIntervals, &p.Mute.Mute}, {AnnotationActiveInterval, &p.Mute.Active}} {
		if v, ok := ann[a.key]; ok {
			var err error
			if *a.iv, err = policy.ParseIntervals(v); err != nil {
				return p, fmt.Errorf("annotation %s: %w", a.key, err)
			}
		}
	}
	if v, ok := ann[AnnotationGroupBy]; ok {
		p.GroupBy = nil
		seen := map[string]bool{}
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			switch {
			case part == "":
				continue
			case seen[part]:
				return p, fmt.Errorf("annotation %s: %q is listed twice", AnnotationGroupBy, part)
			case part == "...":
				p.GroupByAll = true
			case !model.LabelName(part).IsValid():
				return p, fmt.Errorf("annotation %s: %q is not a valid label name", AnnotationGroupBy, part)
			default:
				p.GroupBy = append(p.GroupBy, model.LabelName(part))
			}
			seen[part] = true
		}
		// As in Alertmanager's group_by: "..." stands alone.
		if p.GroupByAll && len(p.GroupBy) > 0 {
			return p, fmt.Errorf("annotation %s: \"...\" groups by all labels and cannot be combined with label names", AnnotationGroupBy)
		}
	}
	var err error
	if p.GroupWait, err = duration(ann, AnnotationGroupWait, p.GroupWait, true); err != nil {
		return p, err
	}
	if p.GroupInterval, err = duration(ann, AnnotationGroupInterval, p.GroupInterval, false); err != nil {
		return p, err
	}
	if p.RepeatInterval, err = duration(ann, AnnotationRepeatInterval, p.RepeatInterval, false); err != nil {
		return p, err
	}
	return p, nil
}

func duration(ann map[string]string, key string, def time.Duration, zeroOK bool) (time.Duration, error) {
	v, ok := ann[key]
	if !ok {
		return def, nil
	}
	d, err := model.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("annotation %s: %w", key, err)
	}
	if d == 0 && !zeroOK {
		return 0, fmt.Errorf("annotation %s: must be greater than 0", key)
	}
	return time.Duration(d), nil
}

// SecretData returns a Secret's data with stringData merged in, as the API
// server would (stringData wins).
func SecretData(s *corev1.Secret) map[string][]byte {
	out := make(map[string][]byte, len(s.Data)+len(s.StringData))
	for k, v := range s.Data {
		out[k] = v
	}
	for k, v := range s.StringData {
		out[k] = []byte(v)
	}
	return out
}
