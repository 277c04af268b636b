package tenancy

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"

	"github.com/amtenant/amtenant/policy"
)

// Informers are the caches the Controller reads. Silences and Inhibits
// (tenant policy ConfigMaps) are nil when tenant Secrets are off: without
// tenant channels, tenant policies have nothing to hold.
type Informers struct {
	Namespaces, Secrets, Globals cache.SharedIndexInformer
	Silences, Inhibits           cache.SharedIndexInformer
	// Limits is the admin's limit overrides (a ConfigMap in the sidecar's
	// namespace); nil with tenant Secrets off.
	Limits cache.SharedIndexInformer
}

// secretsNamespace is where channel Secrets are watched: everywhere, or
// only the sidecar's namespace when tenant Secrets are off (which then
// needs only a Role on Secrets there).
func secretsNamespace(namespace string, tenantSecrets bool) string {
	if tenantSecrets {
		return metav1.NamespaceAll
	}
	return namespace
}

// ListerWatchers makes the list and watch of one resource ("namespaces",
// "secrets" or "configmaps") in namespace ("" for all) whose labels match
// selector: from the API server (CoreListerWatchers) or, in local mode,
// from files (objectfiles.Feed).
type ListerWatchers func(resource, namespace, selector string) cache.ListerWatcher

// CoreListerWatchers lists and watches through the core API group's
// client, not a clientset: the other groups' clients are not linked in
// (their types are, through client-go's scheme).
func CoreListerWatchers(core corev1client.CoreV1Interface) ListerWatchers {
	return func(resource, namespace, selector string) cache.ListerWatcher {
		sel := func(o *metav1.ListOptions) { o.LabelSelector = selector }
		var lw *cache.ListWatch
		switch resource {
		case "namespaces":
			api := core.Namespaces()
			lw = listWatch(sel, api.List, api.Watch)
		case "secrets":
			api := core.Secrets(namespace)
			lw = listWatch(sel, api.List, api.Watch)
		case "configmaps":
			api := core.ConfigMaps(namespace)
			lw = listWatch(sel, api.List, api.Watch)
		default:
			panic("tenancy: no informer for resource " + resource)
		}
		// As client-go's informers do: a client that says it has no
		// streaming lists is listed, then watched. (A fake clientset says
		// so; its CoreV1() does not, and tests wrap it.)
		return cache.ToListWatcherWithWatchListSemantics(lw, core)
	}
}

func listWatch[L runtime.Object](sel func(*metav1.ListOptions), list func(context.Context, metav1.ListOptions) (L, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error)) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			sel(&o)
			return list(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			sel(&o)
			return watchFn(ctx, o)
		},
	}
}

// NewInformers returns informers on lw, with full Namespace objects (local
// mode). Secrets are selected by label on the server, so no other Secret
// is ever listed or cached; the global Secret is only looked for in the
// sidecar's own namespace.
func NewInformers(lw ListerWatchers, namespace string, tenantSecrets bool, resync time.Duration) Informers {
	inform := func(resource, ns, selector string, obj runtime.Object) cache.SharedIndexInformer {
		return cache.NewSharedIndexInformer(lw(resource, ns, selector), obj, resync, cache.Indexers{})
	}
	inf := Informers{
		Namespaces: inform("namespaces", "", "", &corev1.Namespace{}),
		Secrets:    inform("secrets", secretsNamespace(namespace, tenantSecrets), LabelChannel, &corev1.Secret{}),
		Globals:    inform("secrets", namespace, LabelGlobal, &corev1.Secret{}),
	}
	if tenantSecrets {
		// One informer per kind, each selected by its label on the server:
		// no other ConfigMap is ever listed or cached.
		inf.Silences = inform("configmaps", metav1.NamespaceAll, policy.LabelSilence, &corev1.ConfigMap{})
		inf.Inhibits = inform("configmaps", metav1.NamespaceAll, policy.LabelInhibit, &corev1.ConfigMap{})
		inf.Limits = inform("configmaps", namespace, LabelLimits, &corev1.ConfigMap{})
	}
	return inf
}

// NewClusterInformers returns the informers for Kubernetes mode. Namespaces
// are watched as metadata only: their labels are all the sidecar needs, and
// a cluster may have thousands of them.
func NewClusterInformers(core corev1client.CoreV1Interface, meta metadata.Interface, namespace string, tenantSecrets bool, resync time.Duration) Informers {
	inf := NewInformers(CoreListerWatchers(core), namespace, tenantSecrets, resync)
	inf.Namespaces = metadatainformer.NewFilteredMetadataInformer(meta, corev1.SchemeGroupVersion.WithResource("namespaces"),
		metav1.NamespaceAll, resync, cache.Indexers{}, nil).Informer()
	return inf
}

// Named is an informer with the resource name APIHealth reports it under.
type Named struct {
	Informer cache.SharedIndexInformer
	Resource string
}

// All returns every informer there is, with its resource name.
func (i Informers) All() []Named {
	all := []Named{{i.Namespaces, ResourceNamespaces}, {i.Secrets, ResourceSecrets}, {i.Globals, ResourceGlobal}}
	if i.Silences != nil {
		all = append(all, Named{i.Silences, ResourceSilences}, Named{i.Inhibits, ResourceInhibits}, Named{i.Limits, ResourceLimits})
	}
	return all
}

// Run starts the informers; they stop when stop is closed.
func (i Informers) Run(stop <-chan struct{}) {
	for _, n := range i.All() {
		go n.Informer.Run(stop)
	}
}
