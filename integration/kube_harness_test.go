//go:build integration

package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/amtenant/amtenant/internal/harness"
)

// cluster is a real kube-apiserver with its etcd (harness.Cluster),
// started once for the whole run (it takes several seconds) and shared by
// the Kubernetes tests, each of which works in namespaces of its own.
type cluster struct {
	*harness.Cluster
	url     string
	admin   *kubernetes.Clientset
	dynamic dynamic.Interface
}

var (
	clusterOnce sync.Once
	theCluster  *cluster
	clusterErr  error
)

// kubeAPIServerBinary is what scripts/build-kube-apiserver.sh builds.
func kubeAPIServerBinary(t testing.TB) string {
	return cachedBinary(t, "AMTENANT_KUBE_APISERVER", "kube-apiserver", "kube-apiserver")
}

func startCluster(t testing.TB) *cluster {
	t.Helper()
	clusterOnce.Do(func() { theCluster, clusterErr = newCluster(t) })
	if clusterErr != nil {
		t.Fatal(clusterErr)
	}
	return theCluster
}

func newCluster(t testing.TB) (*cluster, error) {
	h, err := harness.StartCluster(kubeAPIServerBinary(t), "")
	if err != nil {
		return nil, err
	}
	c := &cluster{Cluster: h, url: h.URL, admin: h.Admin}
	if c.dynamic, err = dynamic.NewForConfig(c.AdminConfig()); err != nil {
		c.Stop()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The default ServiceAccount controller does not run here; the
	// namespace the manifests install into must exist first.
	if _, err := c.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "monitoring"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		c.Stop()
		return nil, err
	}
	if err := c.applyKustomization(ctx, filepath.Join(repoRoot(t), "manifests")); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// stopCluster stops the shared cluster, if one was started.
func stopCluster() {
	if theCluster != nil {
		theCluster.Stop()
	}
}

// render builds a kustomization the way `kubectl kustomize` does.
func render(dir string) ([]*unstructured.Unstructured, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	var out []*unstructured.Unstructured
	for _, r := range rm.Resources() {
		m, err := r.Map()
		if err != nil {
			return nil, err
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out, nil
}

// applyKustomization creates or updates every object of a kustomization.
func (c *cluster) applyKustomization(ctx context.Context, dir string) error {
	objs, err := render(dir)
	if err != nil {
		return err
	}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		gvr := schema.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: strings.ToLower(gvk.Kind) + "s"}
		var ri dynamic.ResourceInterface = c.dynamic.Resource(gvr)
		if ns := o.GetNamespace(); ns != "" {
			ri = c.dynamic.Resource(gvr).Namespace(ns)
		}
		data, err := o.MarshalJSON()
		if err != nil {
			return err
		}
		if _, err := ri.Patch(ctx, o.GetName(), "application/apply-patch+yaml", data, metav1.PatchOptions{FieldManager: "amtenant-integration", Force: ptrTrue()}); err != nil {
			return fmt.Errorf("apply %s %s: %w", gvk.Kind, o.GetName(), err)
		}
	}
	return nil
}

func ptrTrue() *bool { b := true; return &b }

// kubeconfig writes a kubeconfig that impersonates the ServiceAccount the
// manifests define, so that the sidecar gets exactly their permissions.
func (c *cluster) kubeconfig(t testing.TB, serviceAccount string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := c.WriteKubeconfig(p, serviceAccount); err != nil {
		t.Fatal(err)
	}
	return p
}

// namespace creates a namespace for one test, with labels, and deletes it
// at the end.
func (c *cluster) namespace(t testing.TB, name string, labels map[string]string) {
	t.Helper()
	ctx := context.Background()
	_, err := c.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.admin.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

// secret creates or updates a Secret.
func (c *cluster) secret(t testing.TB, s *corev1.Secret) {
	t.Helper()
	ctx := context.Background()
	api := c.admin.CoreV1().Secrets(s.Namespace)
	cur, err := api.Get(ctx, s.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if _, err := api.Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	s.ResourceVersion = cur.ResourceVersion
	if _, err := api.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// configMap creates a ConfigMap.
func (c *cluster) configMap(t testing.TB, cm *corev1.ConfigMap) {
	t.Helper()
	if _, err := c.admin.CoreV1().ConfigMaps(cm.Namespace).Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func channelSecret(ns, name string, labels, annotations, data map[string]string) *corev1.Secret {
	l := map[string]string{"amtenant.io/channel": ""}
	for k, v := range labels {
		l[k] = v
	}
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: l, Annotations: annotations}, StringData: data}
}

// events returns "Type Reason: message" of the Events on a Secret.
func (c *cluster) events(t testing.TB, ns, name string) []string {
	t.Helper()
	return c.eventsOn(t, "Secret", ns, name)
}

// eventsOn returns "Type Reason: message" of the Events on an object.
func (c *cluster) eventsOn(t testing.TB, kind, ns, name string) []string {
	t.Helper()
	list, err := c.admin.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{
		FieldSelector: "involvedObject.kind=" + kind + ",involvedObject.name=" + name,
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Type+" "+e.Reason+": "+e.Message)
	}
	return out
}

// startKubeSidecar runs the sidecar in Kubernetes mode as a ServiceAccount.
func startKubeSidecar(t testing.TB, am *alertmanager, c *cluster, namespace, serviceAccount string, extra ...string) *sidecar {
	t.Helper()
	port := freePort(t)
	args := append([]string{
		"--alertmanager.url=" + am.url,
		"--kubeconfig=" + c.kubeconfig(t, serviceAccount),
		"--namespace=" + namespace,
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
		"--poll.interval=200ms",
		"--poll.alertmanager-cpu-budget=0",
		"--poll.timeout=2s",
		"--notify.group-wait=300ms",
		"--notify.group-interval=1s",
		"--notify.resolve-grace=1s",
		"--alertmanager.restart-grace=3s",
		"--security.tenant-deny-cidrs=169.254.0.0/16",
		"--log.level=debug",
	}, extra...)
	s := &sidecar{proc: start(t, "sidecar", sidecarBinary(t), args...), url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	waitHTTP(t, s.url+"/readyz", 60*time.Second)
	return s
}
