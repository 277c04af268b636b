//go:build integration

package integration

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

var alertmanagerResource = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "alertmanagers"}

// TestPrometheusOperatorReconciles runs prometheus-operator itself against
// the real kube-apiserver, applies examples/prometheus-operator, and checks
// the StatefulSet the operator generates: the sidecar with its arguments,
// its state file on the operator's data volume, the ServiceAccount, unique
// port names, the securityContext, and replication peers that name the
// pods the operator creates under its governing Service. Then the
// Alertmanager resource changes (replicas, version) and the sidecar
// survives the reconciliation. No kubelet runs: no pod starts, so only
// the generated objects are checked.
func TestPrometheusOperatorReconciles(t *testing.T) {
	t.Parallel()
	bin := compatBinary(t, "AMTENANT_PROMETHEUS_OPERATOR", "prometheus-operator")
	// The binary's version (the build script's stamp) is the one whose
	// CRDs the suite installs.
	if v, err := os.ReadFile(bin + ".version"); err == nil && strings.TrimSpace(string(v)) != prometheusOperatorVersion {
		t.Fatalf("%s is prometheus-operator %s, the suite's CRDs are %s: set OPERATOR_VERSION in scripts/build-prometheus-operator.sh", bin, strings.TrimSpace(string(v)), prometheusOperatorVersion)
	}
	c := startCluster(t)
	ctx := t.Context()
	crds := operatorCRDs(t)
	entries, err := os.ReadDir(crds)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") {
			c.installCRD(t, filepath.Join(crds, e.Name()))
		}
	}
	const ns = "op-monitoring"
	c.namespace(t, ns, nil)
	objs, err := render(filepath.Join(repoRoot(t), "examples/prometheus-operator"))
	if err != nil {
		t.Fatal(err)
	}
	var am *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "Alertmanager" {
			am = o
		}
	}
	if am == nil {
		t.Fatal("the example has no Alertmanager")
	}
	am.SetNamespace(ns)
	// The example's peers name its namespace's pods by their short names,
	// which resolve in any namespace.
	d := newDryRunner(t, c)
	d.patch(ctx, t, am, false)

	start(t, "prometheus-operator", bin,
		"--apiserver="+c.url, "--tls-insecure",
		"--cert-file="+c.ClientCert, "--key-file="+c.ClientKey,
		"--namespaces="+ns,
		"--web.listen-address=127.0.0.1:"+fmt.Sprint(freePort(t)),
		"--log-level=info",
		"--kubelet-service=",
	)
	name := "alertmanager-" + am.GetName()
	var sts *appsv1.StatefulSet
	eventually(t, 90*time.Second, "the operator generates the StatefulSet", func() bool {
		s, err := c.admin.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		sts = s
		return true
	})
	checkGenerated(t, c, sts, 2)

	// Scaled to 3 and another Alertmanager version: the operator rewrites
	// the StatefulSet; the sidecar stays as declared.
	patch := []byte(`{"spec":{"replicas":3,"version":"v0.30.0"}}`)
	if _, err := c.dynamic.Resource(alertmanagerResource).Namespace(ns).Patch(ctx, am.GetName(), types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the operator reconciles the change", func() bool {
		s, err := c.admin.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || s.Spec.Replicas == nil || *s.Spec.Replicas != 3 {
			return false
		}
		for _, ct := range s.Spec.Template.Spec.Containers {
			if ct.Name == "alertmanager" && strings.HasSuffix(ct.Image, "v0.30.0") {
				sts = s
				return true
			}
		}
		return false
	})
	checkGenerated(t, c, sts, 3)
}

// checkGenerated checks the operator's StatefulSet with the example's
// sidecar: the checks every example passes, and peers that are the
// StatefulSet's own pods (at least as many as the replicas the example
// declares, 2).
func checkGenerated(t *testing.T, c *cluster, sts *appsv1.StatefulSet, replicas int) {
	t.Helper()
	checkStatefulSet(t, sts)
	var sc *corev1.Container
	for i := range sts.Spec.Template.Spec.Containers {
		if sts.Spec.Template.Spec.Containers[i].Name == "amtenant" {
			sc = &sts.Spec.Template.Spec.Containers[i]
		}
	}
	if sc == nil {
		t.Fatal("the operator dropped the sidecar")
	}
	pods := map[string]bool{}
	for i := range replicas {
		pods[fmt.Sprintf("%s-%d.%s", sts.Name, i, sts.Spec.ServiceName)] = true
	}
	if sts.Spec.ServiceName == "" {
		t.Error("the StatefulSet has no governing Service: the peers' names would not resolve")
	}
	n := 0
	for _, a := range sc.Args {
		if p, ok := strings.CutPrefix(a, "--replication.peer="); ok {
			host, _, _ := net.SplitHostPort(p)
			if !pods[host] {
				t.Errorf("peer %s is not a pod of %s (%v)", p, sts.Name, pods)
			}
			n++
		}
	}
	if n < 2 {
		t.Errorf("%d replication peers", n)
	}
	t.Logf("generated StatefulSet %s: %d replicas, governing Service %s, containers %v", sts.Name, *sts.Spec.Replicas, sts.Spec.ServiceName, containerNames(sts))
}

func containerNames(sts *appsv1.StatefulSet) []string {
	var out []string
	for _, c := range sts.Spec.Template.Spec.Containers {
		out = append(out, c.Name)
	}
	return out
}
