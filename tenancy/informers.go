package tenancy

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
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

func byLabel(l string) func(*metav1.ListOptions) {
	return func(o *metav1.ListOptions) { o.LabelSelector = l }
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

// NewInformers returns informers on client, with full Namespace objects;
// local mode uses it with an in-memory clientset. Secrets are selected by
// label on the server, so no other Secret is ever listed or cached; the
// global Secret is only looked for in the sidecar's own namespace.
func NewInformers(client kubernetes.Interface, namespace string, tenantSecrets bool, resync time.Duration) Informers {
	inf := Informers{
		Namespaces: coreinformers.NewNamespaceInformer(client, resync, cache.Indexers{}),
		Secrets:    coreinformers.NewFilteredSecretInformer(client, secretsNamespace(namespace, tenantSecrets), resync, cache.Indexers{}, byLabel(LabelChannel)),
		Globals:    coreinformers.NewFilteredSecretInformer(client, namespace, resync, cache.Indexers{}, byLabel(LabelGlobal)),
	}
	if tenantSecrets {
		// One informer per kind, each selected by its label on the server:
		// no other ConfigMap is ever listed or cached.
		inf.Silences = coreinformers.NewFilteredConfigMapInformer(client, metav1.NamespaceAll, resync, cache.Indexers{}, byLabel(policy.LabelSilence))
		inf.Inhibits = coreinformers.NewFilteredConfigMapInformer(client, metav1.NamespaceAll, resync, cache.Indexers{}, byLabel(policy.LabelInhibit))
		inf.Limits = coreinformers.NewFilteredConfigMapInformer(client, namespace, resync, cache.Indexers{}, byLabel(LabelLimits))
	}
	return inf
}

// NewClusterInformers returns the informers for Kubernetes mode. Namespaces
// are watched as metadata only: their labels are all the sidecar needs, and
// a cluster may have thousands of them.
func NewClusterInformers(client kubernetes.Interface, meta metadata.Interface, namespace string, tenantSecrets bool, resync time.Duration) Informers {
	inf := NewInformers(client, namespace, tenantSecrets, resync)
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
