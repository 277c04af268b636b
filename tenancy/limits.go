package tenancy

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/amtenant/amtenant/channel"
)

// The admin's per-tenant limit overrides: a ConfigMap in the sidecar's
// namespace (where only admins write) with this label and data key.
const (
	LabelLimits = "amtenant.io/limits"
	KeyLimits   = "limits.yaml"
)

// Event reasons of the limits ConfigMap.
const (
	ReasonInvalidLimits = "InvalidLimits"
	ReasonLimitsLoaded  = "LimitsLoaded"
)

// Limits bound what one tenant may cost (DESIGN.md §3 "Limits"). Zero
// means unlimited.
type Limits struct {
	// Channels is the most channel Secrets of one tenant.
	Channels int `yaml:"channels"`
	// ChannelGroups is the most groups of one channel integration.
	ChannelGroups int `yaml:"channel-groups"`
	// ChannelPerMinute is the most notifications of one channel integration
	// per minute.
	ChannelPerMinute int `yaml:"channel-notifications-per-minute"`
}

// override is one tenant's entry of the limits ConfigMap: what it leaves
// out keeps the default.
type override struct {
	Channels         *int `yaml:"channels"`
	ChannelGroups    *int `yaml:"channel-groups"`
	ChannelPerMinute *int `yaml:"channel-notifications-per-minute"`
}

func (o override) apply(l Limits) Limits {
	if o.Channels != nil {
		l.Channels = *o.Channels
	}
	if o.ChannelGroups != nil {
		l.ChannelGroups = *o.ChannelGroups
	}
	if o.ChannelPerMinute != nil {
		l.ChannelPerMinute = *o.ChannelPerMinute
	}
	return l
}

// parseOverrides reads limits.yaml: a map from tenant to its limits.
func parseOverrides(raw string) (map[string]override, error) {
	var out map[string]override
	if err := yaml.UnmarshalStrict([]byte(raw), &out); err != nil {
		return nil, fmt.Errorf("%s: %s", KeyLimits, strings.Join(strings.Fields(err.Error()), " "))
	}
	for tenant, o := range out {
		for name, v := range map[string]*int{"channels": o.Channels, "channel-groups": o.ChannelGroups, "channel-notifications-per-minute": o.ChannelPerMinute} {
			if v != nil && *v < 0 {
				return nil, fmt.Errorf("%s: tenant %q: %s is negative (0 means unlimited)", KeyLimits, tenant, name)
			}
		}
	}
	return out, nil
}

// SetLimits makes the controller read per-tenant limit overrides from a
// ConfigMap informer on the sidecar's namespace, selected by LabelLimits.
// Call before Run.
func (c *Controller) SetLimits(inf cache.SharedIndexInformer) error {
	on := func(any) { c.queue.Add(limitsKey) }
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: on, UpdateFunc: func(_, obj any) { on(obj) }, DeleteFunc: on,
	}); err != nil {
		return err
	}
	c.limitsInf = inf
	return nil
}

const limitsKey = "limits"

// syncLimits reads the overrides; it reports whether they changed. An
// invalid ConfigMap keeps the previous overrides.
func (c *Controller) syncLimits() bool {
	var cms []*corev1.ConfigMap
	if c.limitsInf != nil {
		for _, obj := range c.limitsInf.GetStore().List() {
			if cm, ok := obj.(*corev1.ConfigMap); ok && cm.Namespace == c.cfg.Namespace {
				if _, ok := cm.Labels[LabelLimits]; ok {
					cms = append(cms, cm)
				}
			}
		}
	}
	sort.Slice(cms, func(i, j int) bool { return cms[i].Name < cms[j].Name })
	next := map[string]override{}
	for i, cm := range cms {
		key := "limits/" + cm.Name
		if i > 0 {
			c.reportOnce(cm, key, true, ReasonInvalidLimits, fmt.Sprintf("ignored: %s/%s holds the limit overrides (the first by name); keep one", cms[0].Namespace, cms[0].Name))
			continue
		}
		o, err := parseOverrides(cm.Data[KeyLimits])
		if err != nil {
			c.reportOnce(cm, key, true, ReasonInvalidLimits, fmt.Sprintf("%s/%s: %s; the previous limits stay in use", cm.Namespace, cm.Name, err))
			c.mu.Lock()
			next = c.overrides
			c.mu.Unlock()
			continue
		}
		next = o
		c.reportOnce(cm, key, false, ReasonLimitsLoaded, fmt.Sprintf("limit overrides loaded from %s/%s for %d tenant(s)", cm.Namespace, cm.Name, len(o)))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Forget reports about limit ConfigMaps that are gone.
	for key := range c.reported {
		name, ok := strings.CutPrefix(key, "limits/")
		if ok && !slices.ContainsFunc(cms, func(cm *corev1.ConfigMap) bool { return cm.Name == name }) {
			delete(c.reported, key)
		}
	}
	changed := !reflect.DeepEqual(next, c.overrides)
	c.overrides = next
	return changed
}

// limitsFor returns a tenant's limits: the defaults with its overrides.
func (c *Controller) limitsFor(tenant string) Limits {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg.Limits.withOverride(c.overrides, tenant)
}

func (l Limits) withOverride(overrides map[string]override, tenant string) Limits {
	if tenant == "" {
		tenant = AdminChannels
	}
	if o, ok := overrides[tenant]; ok {
		return o.apply(l)
	}
	return l
}

// AdminChannels is the entry of the limits ConfigMap for the admin
// channels (no tenant is named so: tenant names are label values, without
// parentheses).
const AdminChannels = "(admin)"

// channelLimits are what a channel of tenant ("" for an admin channel) may
// cost per integration.
func (l Limits) channelLimits() channel.Limits {
	return channel.Limits{Groups: l.ChannelGroups, PerMinute: l.ChannelPerMinute}
}

// refusedChannels applies the channel limit: per tenant, the channel
// Secrets beyond its limit, the newest first (by creation time, then
// name), each with the message that says so. limitsFor gives a tenant's
// limits; secrets are all channel Secrets.
func refusedChannels(cfg *Config, secrets []*corev1.Secret, tenantOf TenantFunc, limitsFor func(string) Limits) map[string]string {
	byTenant := map[string][]*corev1.Secret{}
	for _, s := range secrets {
		if s.Namespace == cfg.Namespace || !isChannel(s) {
			continue
		}
		t, ok := tenantOf(s.Namespace)
		if !ok {
			t = s.Namespace // a namespace not (yet) known is its own tenant
		}
		byTenant[t] = append(byTenant[t], s)
	}
	out := map[string]string{}
	for tenant, list := range byTenant {
		limit := limitsFor(tenant).Channels
		if limit <= 0 || len(list) <= limit {
			continue
		}
		sort.Slice(list, func(i, j int) bool {
			a, b := list[i], list[j]
			if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
				return a.CreationTimestamp.Before(&b.CreationTimestamp)
			}
			return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
		})
		for _, s := range list[limit:] {
			out[s.Namespace+"/"+s.Name] = fmt.Sprintf(
				"refused: tenant %q has more channel Secrets than its limit of %d (--limits.tenant-channels, or the admin's %s ConfigMap); the newest are refused: delete some, or ask an admin to raise the limit",
				tenant, limit, LabelLimits)
		}
	}
	return out
}

// refusalOf decides at once whether the channel limit refuses a tenant
// channel that the last recheck did not see, so that an over-limit Secret
// is never built, not even until the next recheck.
func (c *Controller) refusalOf(s *corev1.Secret) (string, bool) {
	if s.Namespace == c.cfg.Namespace {
		return "", false
	}
	tenant, ok := c.TenantOf(s.Namespace)
	if !ok {
		tenant = s.Namespace
	}
	if c.limitsFor(tenant).Channels <= 0 {
		return "", false
	}
	var same []*corev1.Secret
	for _, obj := range c.secrets.GetStore().List() {
		o, ok := obj.(*corev1.Secret)
		if !ok || o.Namespace == c.cfg.Namespace || !isChannel(o) {
			continue
		}
		t, known := c.TenantOf(o.Namespace)
		if !known {
			t = o.Namespace
		}
		if t == tenant {
			same = append(same, o)
		}
	}
	msg, refused := refusedChannels(&c.cfg, same, c.TenantOf, c.limitsFor)[s.Namespace+"/"+s.Name]
	return msg, refused
}

// recheckChannelLimit recomputes the refused channels and queues those
// whose verdict changed.
func (c *Controller) recheckChannelLimit() {
	var secrets []*corev1.Secret
	for _, obj := range c.secrets.GetStore().List() {
		if s, ok := obj.(*corev1.Secret); ok {
			secrets = append(secrets, s)
		}
	}
	next := refusedChannels(&c.cfg, secrets, c.TenantOf, c.limitsFor)
	checked := make(map[string]bool, len(secrets))
	for _, s := range secrets {
		checked[s.Namespace+"/"+s.Name] = true
	}
	c.mu.Lock()
	prev := c.refused
	c.refused, c.limitChecked, c.limitsDirty = next, checked, false
	c.mu.Unlock()
	for key, msg := range next {
		if prev[key] != msg {
			c.queue.Add("secret/" + key)
		}
	}
	for key := range prev {
		if _, still := next[key]; !still {
			c.queue.Add("secret/" + key)
		}
	}
}
