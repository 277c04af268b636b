package tenancy

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/channel"
)

// Builder builds channels from specs; the senders implement it.
type Builder interface {
	// Apply builds or rebuilds a channel and returns its integration types
	// and, if it is invalid, why (an error without secret values).
	Apply(spec channel.Spec) ([]string, error)
	// Remove deletes a channel.
	Remove(id string)
	// Refuse deletes a channel that a limit refuses, and counts it as
	// invalid.
	Refuse(id string, data map[string][]byte)
	// SetGlobal sets the global defaults from the global Secret's data.
	SetGlobal(data map[string][]byte) error
}

// Reporter tells users about their Secrets and Namespaces where they look:
// the log, and in Kubernetes mode, Events on the object.
type Reporter interface {
	Report(obj Object, warning bool, reason, message string)
}

// Object is a Kubernetes object reported on (a Secret, a Namespace).
type Object interface {
	runtime.Object
	metav1.Object
}

// Event reasons (a contract for users filtering Events).
const (
	ReasonInvalidChannel     = "InvalidChannel"
	ReasonTenantClaimIgnored = "TenantClaimIgnored"
	ReasonChannelReady       = "ChannelReady"
	ReasonInvalidGlobal      = "InvalidGlobal"
	// ReasonTenantNameShared is reported on a namespace without a tenant
	// label whose name other namespaces name as their tenant.
	ReasonTenantNameShared = "TenantNameShared"
)

// Controller keeps the channels and the router in line with the Secrets
// and Namespaces its informers see, the way a sample-controller does:
// handlers only enqueue keys, one worker reads the listers and acts.
type Controller struct {
	cfg        Config
	namespaces cache.SharedIndexInformer
	secrets    cache.SharedIndexInformer
	globals    cache.SharedIndexInformer
	builder    Builder
	router     *Router
	report     Reporter
	log        *slog.Logger
	queue      workqueue.TypedRateLimitingInterface[string]

	health *APIHealth

	// silences and inhibits are the policy ConfigMap informers; nil when
	// policies are not read (SetPolicies).
	silences, inhibits cache.SharedIndexInformer

	mu       sync.Mutex
	broken   map[string]string // channels whose latest version is invalid, and why
	reported map[string]string // last report per object, to report changes only
	synced   bool
	// policies are the policy ConfigMaps by key, valid or not.
	policies      map[string]*parsedPolicy
	policiesDirty bool
	// limitsInf is the limit overrides' informer (SetLimits); overrides
	// the tenants' overrides; refused the channels the channel limit
	// refuses, and why.
	limitsInf cache.SharedIndexInformer
	overrides map[string]override
	refused   map[string]string
	// limitChecked are the channel Secrets the last recheck of the channel
	// limit saw; limitsDirty is set by any change that may move a channel
	// over or under the limit.
	limitChecked map[string]bool
	limitsDirty  bool
}

const globalKey = "global"

// NewController wires the informers: namespaces (Namespace objects or
// their metadata), secrets (channel Secrets, selected by LabelChannel)
// and globals (the global Secret, selected by LabelGlobal in the sidecar's
// namespace).
func NewController(cfg Config, namespaces, secrets, globals cache.SharedIndexInformer, b Builder, rep Reporter, log *slog.Logger, out Deliverer) (*Controller, error) {
	c := &Controller{
		cfg:        cfg,
		namespaces: namespaces,
		secrets:    secrets,
		globals:    globals,
		builder:    b,
		report:     rep,
		log:        log,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "amtenant-channels"}),
		broken:   map[string]string{},
		refused:  map[string]string{},
		reported: map[string]string{},
		policies: map[string]*parsedPolicy{},
	}
	c.router = NewRouter(cfg.AlertNamespaceLabel, c.TenantOf, out)
	enqueue := func(obj any) {
		key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
		if err == nil {
			c.queue.Add("secret/" + key)
		}
	}
	if _, err := secrets.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		return nil, err
	}
	// The informer selects the global Secret by label; a Secret without it
	// (from a client that does not filter, such as a fake one) changes
	// nothing global, and would rebuild every channel.
	isGlobal := func(obj any) bool {
		s, ok := obj.(*corev1.Secret)
		return !ok || hasLabel(s, LabelGlobal) // a tombstone: look again
	}
	onGlobal := func(obj any) {
		if isGlobal(obj) {
			c.queue.Add(globalKey)
		}
	}
	if _, err := globals.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onGlobal,
		UpdateFunc: func(old, obj any) {
			if isGlobal(old) || isGlobal(obj) {
				c.queue.Add(globalKey)
			}
		},
		DeleteFunc: onGlobal,
	}); err != nil {
		return nil, err
	}
	onNamespace := func(obj any) {
		key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
		if err == nil {
			c.queue.Add("namespace/" + key)
		}
	}
	if _, err := namespaces.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onNamespace,
		UpdateFunc: func(old, obj any) {
			if labelsChanged(old, obj) {
				onNamespace(obj)
			}
		},
		DeleteFunc: onNamespace,
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Resource names the informers report to APIHealth under.
const (
	ResourceNamespaces = "namespaces"
	ResourceSecrets    = "secrets"
	ResourceGlobal     = "secrets (global)"
	ResourceLimits     = "configmaps (limits)"
)

// SetHealth lets Run stop waiting for a cache whose resource the API server
// forbids: the rest keeps working without it. Call before Run.
func (c *Controller) SetHealth(h *APIHealth) { c.health = h }

// Observe routes a poll's verdicts to the channels (Router.Observe): the
// controller is the poller's sink.
func (c *Controller) Observe(now time.Time, incs []*alert.Incarnation) { c.router.Observe(now, incs) }

// TenantOf returns the tenant of a namespace: its tenant label, or its own
// name when the label is missing or empty. ok is false when the namespace
// does not exist.
func (c *Controller) TenantOf(ns string) (string, bool) {
	label, exists := c.tenantLabel(ns)
	if !exists {
		return "", false
	}
	return c.cfg.TenantOfNamespace(ns, map[string]string{c.cfg.NamespaceTenantLabel: label}), true
}

// HasSynced reports whether the caches synced and the initial channels were
// built.
func (c *Controller) HasSynced() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.synced
}

// Run waits for the caches, builds every channel, starts routing, and then
// follows changes until ctx is done. The informers must have been started.
func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	usable := func(inf cache.SharedIndexInformer, resource string) cache.InformerSynced {
		return func() bool { return inf.HasSynced() || c.health.Forbidden(resource) }
	}
	synced := []cache.InformerSynced{usable(c.namespaces, ResourceNamespaces), usable(c.secrets, ResourceSecrets), usable(c.globals, ResourceGlobal)}
	if c.silences != nil {
		synced = append(synced, usable(c.silences, ResourceSilences), usable(c.inhibits, ResourceInhibits))
	}
	if c.limitsInf != nil {
		synced = append(synced, usable(c.limitsInf, ResourceLimits))
	}
	if !cache.WaitForNamedCacheSync("amtenant", ctx.Done(), synced...) {
		return fmt.Errorf("wait for caches: %w", ctx.Err())
	}
	// Build everything before the first routing decision, so that no
	// channel misses the alerts already firing and none is notified twice
	// by an early, partial picture.
	c.syncGlobal()
	c.syncLimits()
	c.recheckChannelLimit()
	for _, obj := range c.secrets.GetStore().List() {
		if s, ok := obj.(*corev1.Secret); ok {
			c.resync(s.Namespace + "/" + s.Name)
		}
	}
	// Policies too: an alert silenced before a restart stays held.
	for _, inf := range []cache.SharedIndexInformer{c.silences, c.inhibits} {
		if inf != nil {
			for _, key := range inf.GetStore().ListKeys() {
				c.syncPolicy(key)
			}
		}
	}
	c.rebuildPolicies()
	c.checkTenantNames()
	c.router.SetReady()
	c.mu.Lock()
	c.synced = true
	c.mu.Unlock()
	c.log.Info("Channels loaded", "channels", len(c.secrets.GetStore().ListKeys()))
	go wait.UntilWithContext(ctx, c.worker, 0)
	<-ctx.Done()
	return nil
}

func (c *Controller) worker(ctx context.Context) {
	for c.next() {
	}
}

func (c *Controller) next() bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	kind, name, _ := strings.Cut(key, "/")
	retry := false
	switch kind {
	case globalKey:
		c.syncGlobal()
		// Every channel inherits from the global Secret.
		for _, k := range c.secrets.GetStore().ListKeys() {
			c.resync(k)
		}
	case "secret":
		c.markLimitsDirty()
		// What an admin channel's build reads besides the Secret (a
		// *_file, mounted later) may change without an event: a failed
		// build is tried again, backing off, for a few minutes. The report
		// is made once, not per attempt.
		retry = !c.syncSecret(name) && c.queue.NumRequeues(key) < maxRequeues
	case "policy":
		c.syncPolicy(name)
	case limitsKey:
		c.markLimitsDirty()
		if c.syncLimits() {
			for _, k := range c.secrets.GetStore().ListKeys() {
				c.resync(k)
			}
		}
	case "namespace":
		c.checkTenantNames()
		// Policies and channel counts follow their namespace's tenant.
		c.mu.Lock()
		c.policiesDirty, c.limitsDirty = true, true
		c.mu.Unlock()
		// A relabelled namespace moves its channels and alerts to another
		// tenant; its tenant channels' claims must be checked again.
		for _, obj := range c.secrets.GetStore().List() {
			if s, ok := obj.(*corev1.Secret); ok && s.Namespace == name {
				c.resync(s.Namespace + "/" + s.Name)
			}
		}
	}
	if retry {
		c.queue.AddRateLimited(key)
	} else {
		c.queue.Forget(key)
	}
	if c.queue.Len() == 0 {
		// Channels added, deleted or moved change who is over the limit.
		c.mu.Lock()
		dirty := c.limitsDirty
		c.mu.Unlock()
		if dirty {
			c.recheckChannelLimit()
		}
		c.rebuildPolicies()
		c.router.Reroute()
	}
	return true
}

// resync syncs a channel Secret outside its own key's turn (after a change
// of the global Secret, the limits or its namespace); a failed build goes
// back to the queue under its own key, to be retried.
func (c *Controller) resync(key string) {
	if !c.syncSecret(key) {
		c.queue.AddRateLimited("secret/" + key)
	}
}

// maxRequeues bounds the retries of an admin channel that failed to
// build: with the work queue's backoff (5 ms doubling) the last is about 3
// minutes after the first failure, the total cost 16 builds. Tenant
// channels are not retried: they cannot read files, so only an edit of
// their Secret (or the global one) can mend them.
const maxRequeues = 15

// syncSecret brings one channel in line with its Secret: builds, rebuilds
// or removes it. It returns false only when the builder failed on an
// admin channel, which a retry may mend (a file it reads, mounted later).
func (c *Controller) syncSecret(key string) bool {
	obj, exists, err := c.secrets.GetStore().GetByKey(key)
	s, _ := obj.(*corev1.Secret)
	if err != nil || !exists || s == nil || !isChannel(s) {
		c.remove(key)
		return true
	}
	cl, err := c.cfg.classify(s, c.TenantOf)
	if err != nil {
		c.invalid(s, key, err.Error())
		return true // the Secret itself is wrong: only a change mends it
	}
	c.mu.Lock()
	refusal, refused := c.refused[key]
	checked := c.limitChecked[key]
	c.mu.Unlock()
	if !refused && !checked && !cl.spec.Trusted {
		if refusal, refused = c.refusalOf(s); refused {
			c.mu.Lock()
			c.refused[key] = refusal
			c.mu.Unlock()
		}
	}
	if refused {
		c.refuse(s, key, refusal)
		return true
	}
	if !cl.spec.Trusted {
		cl.spec.Tenant, _ = c.TenantOf(s.Namespace)
	}
	cl.spec.Limits = c.limitsFor(cl.spec.Tenant).channelLimits()
	if len(cl.ignoredClaims) > 0 {
		c.reportOnce(s, key+"#claims", true, ReasonTenantClaimIgnored, strings.Join(cl.ignoredClaims, "; "))
	} else {
		c.forget(key + "#claims")
	}
	types, err := c.builder.Apply(cl.spec)
	if err != nil {
		c.invalid(s, key, err.Error())
		return !cl.spec.Trusted
	}
	c.mu.Lock()
	delete(c.broken, key)
	c.mu.Unlock()
	c.router.set(cl.binding)
	msg := fmt.Sprintf("channel %s is ready (%s)", key, strings.Join(types, ", "))
	if cl.binding.scope == scopeOwnTenant {
		if _, ok := c.TenantOf(s.Namespace); !ok {
			msg += "; its namespace does not exist, so it receives nothing until it does"
		}
	}
	c.reportOnce(s, key, false, ReasonChannelReady, msg)
	return true
}

// invalid reports a broken channel. If an earlier version was built, the
// builder keeps it delivering and its routing (the router's binding) is
// kept too; if none was, there is no binding.
func (c *Controller) invalid(s *corev1.Secret, key, msg string) {
	if !strings.HasPrefix(msg, key) {
		msg = key + ": " + msg
	}
	c.mu.Lock()
	c.broken[key] = msg
	c.mu.Unlock()
	c.reportOnce(s, key, true, ReasonInvalidChannel, msg)
}

// refuse stops a channel that a limit refuses, and reports it like an
// invalid channel.
func (c *Controller) refuse(s *corev1.Secret, key, msg string) {
	msg = key + ": " + msg
	c.builder.Refuse(key, SecretData(s))
	c.router.remove(key)
	c.mu.Lock()
	c.broken[key] = msg
	c.mu.Unlock()
	c.reportOnce(s, key, true, ReasonInvalidChannel, msg)
}

func (c *Controller) markLimitsDirty() {
	c.mu.Lock()
	c.limitsDirty = true
	c.mu.Unlock()
}

func (c *Controller) remove(key string) {
	c.builder.Remove(key)
	had := c.router.remove(key)
	c.mu.Lock()
	delete(c.broken, key)
	c.mu.Unlock()
	c.forget(key)
	c.forget(key + "#claims")
	if had {
		c.log.Info("Channel removed", "channel", key)
	}
}

func (c *Controller) syncGlobal() {
	var globals []*corev1.Secret
	for _, obj := range c.globals.GetStore().List() {
		if s, ok := obj.(*corev1.Secret); ok && s.Namespace == c.cfg.Namespace && hasLabel(s, LabelGlobal) {
			globals = append(globals, s)
		}
	}
	sort.Slice(globals, func(i, j int) bool { return globals[i].Name < globals[j].Name })
	// Forget reports about global Secrets that are gone, so that one
	// created again is reported again.
	c.mu.Lock()
	for key := range c.reported {
		name, ok := strings.CutPrefix(key, "global/")
		if ok && !slices.ContainsFunc(globals, func(s *corev1.Secret) bool { return s.Name == name }) {
			delete(c.reported, key)
		}
	}
	c.mu.Unlock()
	if len(globals) == 0 {
		if err := c.builder.SetGlobal(nil); err != nil {
			c.log.Error("Resetting global defaults failed", "err", err)
		}
		return
	}
	g := globals[0]
	for _, other := range globals[1:] {
		c.reportOnce(other, "global/"+other.Name, true, ReasonInvalidGlobal,
			fmt.Sprintf("ignored: %s/%s is the global Secret (the first by name); there must be only one", g.Namespace, g.Name))
	}
	if err := c.builder.SetGlobal(SecretData(g)); err != nil {
		c.reportOnce(g, "global/"+g.Name, true, ReasonInvalidGlobal, fmt.Sprintf("%s/%s: %s; the previous global defaults stay in use", g.Namespace, g.Name, err))
		return
	}
	c.reportOnce(g, "global/"+g.Name, false, ReasonChannelReady, fmt.Sprintf("global defaults loaded from %s/%s", g.Namespace, g.Name))
}

// reportOnce reports only what changed, so that resyncs and unrelated
// updates do not repeat the same message.
func (c *Controller) reportOnce(s Object, key string, warning bool, reason, msg string) {
	c.mu.Lock()
	last := c.reported[key]
	c.reported[key] = reason + "\x00" + msg
	c.mu.Unlock()
	if last == reason+"\x00"+msg {
		return
	}
	c.report.Report(s, warning, reason, msg)
}

// DeliveryHealth reports on a channel's deliveries (failing, recovered, a
// notification dropped) on its Secret, where its owner looks. The message
// is the senders', already redacted.
func (c *Controller) DeliveryHealth(channelID string, warning bool, reason, message string) {
	obj, exists, err := c.secrets.GetStore().GetByKey(channelID)
	s, _ := obj.(*corev1.Secret)
	if err != nil || !exists || s == nil {
		return // deleted meanwhile
	}
	c.report.Report(s, warning, reason, message)
}

// checkTenantNames reports every namespace without a tenant label whose
// name other namespaces give as their tenant: by the tenancy rule it is
// that tenant too, sharing its alerts and channels, which may not be what
// anyone meant. Labelling it with its own name confirms it.
func (c *Controller) checkTenantNames() {
	claimed := map[string][]string{} // tenant → namespaces labelled with it
	unlabelled := map[string]*corev1.Namespace{}
	for _, obj := range c.namespaces.GetStore().List() {
		ns, ok := obj.(*corev1.Namespace)
		if !ok {
			continue
		}
		if t := ns.Labels[c.cfg.NamespaceTenantLabel]; t != "" {
			if t != ns.Name {
				claimed[t] = append(claimed[t], ns.Name)
			}
		} else {
			unlabelled[ns.Name] = ns
		}
	}
	for name, ns := range unlabelled {
		key := "namespace/" + name + "#tenant"
		others := claimed[name]
		if len(others) == 0 {
			c.forget(key)
			continue
		}
		sort.Strings(others)
		c.reportOnce(ns, key, true, ReasonTenantNameShared, fmt.Sprintf(
			"namespace %s has no %s label, so it is its own tenant %q, and namespaces %s are labelled %s=%s: all are one tenant, sharing alerts and channels; label %s with %s=%s to confirm, or choose another tenant name",
			name, c.cfg.NamespaceTenantLabel, name, strings.Join(others, ", "), c.cfg.NamespaceTenantLabel, name, name, c.cfg.NamespaceTenantLabel, name))
	}
	for key := range c.reportedKeys("namespace/") {
		if _, ok := unlabelled[strings.TrimSuffix(strings.TrimPrefix(key, "namespace/"), "#tenant")]; !ok {
			c.forget(key)
		}
	}
}

// reportedKeys returns the reported keys with prefix.
func (c *Controller) reportedKeys(prefix string) map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]bool{}
	for k := range c.reported {
		if strings.HasPrefix(k, prefix) {
			out[k] = true
		}
	}
	return out
}

func (c *Controller) forget(key string) {
	c.mu.Lock()
	delete(c.reported, key)
	c.mu.Unlock()
}

func isChannel(s *corev1.Secret) bool { return hasLabel(s, LabelChannel) }

func hasLabel(s *corev1.Secret, l string) bool {
	_, ok := s.Labels[l]
	return ok
}

func labelsChanged(old, cur any) bool {
	o, err1 := meta.Accessor(old)
	n, err2 := meta.Accessor(cur)
	if err1 != nil || err2 != nil {
		return true
	}
	ol, nl := o.GetLabels(), n.GetLabels()
	if len(ol) != len(nl) {
		return true
	}
	for k, v := range ol {
		if w, ok := nl[k]; !ok || w != v {
			return true
		}
	}
	return false
}

// LogReporter reports to the log only.
type LogReporter struct{ Log *slog.Logger }

// Report logs the report at Warn or Info.
func (r LogReporter) Report(obj Object, warning bool, reason, message string) {
	key, name := "secret", obj.GetNamespace()+"/"+obj.GetName()
	switch obj.(type) {
	case *corev1.Namespace:
		key, name = "namespace", obj.GetName()
	case *corev1.ConfigMap:
		key = "configmap"
	}
	if warning {
		r.Log.Warn(message, key, name, "reason", reason)
		return
	}
	r.Log.Info(message, key, name, "reason", reason)
}
