package tenancy

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Informers are the three caches the Controller reads.
type Informers struct {
	Namespaces, Secrets, Globals cache.SharedIndexInformer
}

// NewInformers returns informers on client. Secrets are selected by label
// on the server, so no other Secret is ever listed or cached; the global
// Secret is only looked for in the sidecar's own namespace.
func NewInformers(client kubernetes.Interface, namespace string, resync time.Duration) Informers {
	byLabel := func(l string) func(*metav1.ListOptions) {
		return func(o *metav1.ListOptions) { o.LabelSelector = l }
	}
	return Informers{
		Namespaces: coreinformers.NewNamespaceInformer(client, resync, cache.Indexers{}),
		Secrets:    coreinformers.NewFilteredSecretInformer(client, metav1.NamespaceAll, resync, cache.Indexers{}, byLabel(LabelChannel)),
		Globals:    coreinformers.NewFilteredSecretInformer(client, namespace, resync, cache.Indexers{}, byLabel(LabelGlobal)),
	}
}

// Run starts the informers; they stop when stop is closed.
func (i Informers) Run(stop <-chan struct{}) {
	go i.Namespaces.Run(stop)
	go i.Secrets.Run(stop)
	go i.Globals.Run(stop)
}
