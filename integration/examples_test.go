//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"
)

// prometheusOperatorVersion is the prometheus-operator whose CRDs validate
// the examples: its Go module ships them in example/prometheus-operator-crd.
const prometheusOperatorVersion = "v0.85.0"

// sidecarImage is the image every manifest and example names.
const sidecarImage = "ghcr.io/amtenant/amtenant:v0.1.0"

// TestExamples sends every installable manifest of the repository to the
// real kube-apiserver as a server-side dry run with strict field validation:
// manifests/, examples/ (prometheus-operator's resources against the CRDs of
// a pinned prometheus-operator, kube-prometheus-stack's values turned into
// the resources the chart makes of them) and mixin/. It also checks what the
// API server cannot: that the sidecar container is configured as the README
// promises wherever it appears.
func TestExamples(t *testing.T) {
	c := startCluster(t)
	ctx := t.Context()
	crds := operatorCRDs(t)
	for _, name := range []string{"alertmanagers", "podmonitors", "prometheusrules"} {
		c.installCRD(t, filepath.Join(crds, "monitoring.coreos.com_"+name+".yaml"))
	}
	d := newDryRunner(t, c)
	root := repoRoot(t)

	for _, dir := range []string{"manifests", "examples/admin-only", "mixin"} {
		t.Run(dir, func(t *testing.T) {
			objs, err := render(filepath.Join(root, dir))
			if err != nil {
				t.Fatal(err)
			}
			d.applyAll(ctx, t, objs)
		})
	}

	t.Run("examples/statefulset", func(t *testing.T) {
		objs, err := render(filepath.Join(root, "examples/statefulset"))
		if err != nil {
			t.Fatal(err)
		}
		d.applyAll(ctx, t, objs)
		kinds := map[string]int{}
		for _, o := range objs {
			kinds[o.GetKind()]++
		}
		for _, k := range []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ConfigMap", "Service", "StatefulSet"} {
			if kinds[k] == 0 {
				t.Errorf("the example has no %s: it does not install into an empty cluster", k)
			}
		}
		sts := statefulSetOf(t, objs, "alertmanager")
		checkStatefulSet(t, sts)
	})

	t.Run("manifests/components/sidecar with kubectl patch", func(t *testing.T) {
		// The component's patch applied to a running StatefulSet shaped
		// like the Alertmanager Helm chart's, as the README says.
		ns := "examples-patch"
		c.namespace(t, ns, nil)
		sts := &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: "alertmanager", Namespace: ns},
			Spec: appsv1.StatefulSetSpec{
				Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "am"}},
				ServiceName: "alertmanager-headless",
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "am"}},
					Spec: corev1.PodSpec{
						SecurityContext: &corev1.PodSecurityContext{FSGroup: ptrInt64(65534)},
						Containers: []corev1.Container{{
							Name: "alertmanager", Image: "quay.io/prometheus/alertmanager:v0.31.1",
							Args:         []string{"--storage.path=/alertmanager"},
							Ports:        []corev1.ContainerPort{{Name: "http", ContainerPort: 9093}},
							VolumeMounts: []corev1.VolumeMount{{Name: "storage", MountPath: "/alertmanager"}},
						}},
					},
				},
				VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
					ObjectMeta: metav1.ObjectMeta{Name: "storage"},
					Spec: corev1.PersistentVolumeClaimSpec{
						AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
						Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
					},
				}},
			},
		}
		if _, err := c.admin.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(root, "manifests/components/sidecar/statefulset-patch.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		patch, err := yaml.YAMLToJSON(b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.admin.AppsV1().StatefulSets(ns).Patch(ctx, "alertmanager", types.StrategicMergePatchType, patch,
			metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
		if err != nil {
			t.Fatal(err)
		}
		checkStatefulSet(t, got)
	})

	t.Run("examples/prometheus-operator", func(t *testing.T) {
		objs, err := render(filepath.Join(root, "examples/prometheus-operator"))
		if err != nil {
			t.Fatal(err)
		}
		d.applyAll(ctx, t, objs)
		var am, pm *unstructured.Unstructured
		for _, o := range objs {
			switch o.GetKind() {
			case "Alertmanager":
				am = o
			case "PodMonitor":
				pm = o
			}
		}
		if am == nil || pm == nil {
			t.Fatal("the example needs an Alertmanager and a PodMonitor")
		}
		port := checkAlertmanagerResource(t, am, "web")
		checkPodMonitor(t, pm, operatorPodLabels(t, am), port)
	})

	t.Run("examples/kube-prometheus-stack", func(t *testing.T) {
		am, pms := kubePrometheusStack(t, filepath.Join(root, "examples/kube-prometheus-stack/values.yaml"))
		d.apply(ctx, t, am)
		port := checkAlertmanagerResource(t, am, "http-web")
		if len(pms) == 0 {
			t.Fatal("the values declare no PodMonitor for the sidecar")
		}
		for _, pm := range pms {
			d.apply(ctx, t, pm)
			checkPodMonitor(t, pm, operatorPodLabels(t, am), port)
		}
	})

	t.Run("one image", func(t *testing.T) {
		// Every file that names the image names the same version.
		var files []string
		for _, dir := range []string{"manifests", "examples"} {
			_ = filepath.WalkDir(filepath.Join(root, dir), func(p string, e os.DirEntry, err error) error {
				if err == nil && !e.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
					files = append(files, p)
				}
				return err
			})
		}
		seen := 0
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(b), "\n") {
				if i := strings.Index(line, "ghcr.io/amtenant/amtenant"); i >= 0 {
					seen++
					if got := strings.Fields(line[i:])[0]; got != sidecarImage {
						t.Errorf("%s: image %s, want %s", f, got, sidecarImage)
					}
				}
			}
		}
		if seen < 3 {
			t.Errorf("the image appears %d times in manifests/ and examples/, want at least 3", seen)
		}
	})
}

// operatorCRDs returns the directory of prometheus-operator's CRDs, from
// its Go module. The download runs outside this module: go.mod is never
// touched.
func operatorCRDs(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", "github.com/prometheus-operator/prometheus-operator@"+prometheusOperatorVersion)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	out, err := cmd.Output()
	var mod struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &mod); jerr != nil || err != nil || mod.Error != "" {
		t.Fatalf("go mod download prometheus-operator: %v %s %s", err, mod.Error, out)
	}
	return filepath.Join(mod.Dir, "example", "prometheus-operator-crd")
}

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// installCRD creates a CRD for real and waits until it is established.
func (c *cluster) installCRD(t *testing.T, file string) {
	t.Helper()
	ctx := t.Context()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	var crd unstructured.Unstructured
	if err := crd.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	if _, err := c.dynamic.Resource(crdResource).Patch(ctx, crd.GetName(), types.ApplyPatchType, j,
		metav1.PatchOptions{FieldManager: "amtenant-integration", Force: ptrTrue()}); err != nil {
		t.Fatalf("install %s: %v", crd.GetName(), err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := c.dynamic.Resource(crdResource).Get(ctx, crd.GetName(), metav1.GetOptions{})
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
			for _, cond := range conds {
				if m, _ := cond.(map[string]any); m["type"] == "Established" && m["status"] == "True" {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("CRD %s not established after 60s (%v)", crd.GetName(), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dryRunner applies objects server-side with dryRun=All and strict field
// validation: the API server validates, defaults and admits them, then
// stores nothing.
type dryRunner struct {
	c      *cluster
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newDryRunner(t *testing.T, c *cluster) *dryRunner {
	return &dryRunner{c: c, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.admin.Discovery()))}
}

func (d *dryRunner) applyAll(ctx context.Context, t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	if len(objs) == 0 {
		t.Fatal("nothing to apply")
	}
	for _, o := range objs {
		d.apply(ctx, t, o)
	}
}

func (d *dryRunner) apply(ctx context.Context, t *testing.T, o *unstructured.Unstructured) {
	t.Helper()
	d.patch(ctx, t, o, true)
}

// patch applies o (server-side), as a dry run or for real.
func (d *dryRunner) patch(ctx context.Context, t *testing.T, o *unstructured.Unstructured, dryRun bool) {
	t.Helper()
	gvk := o.GroupVersionKind()
	var m *meta.RESTMapping
	var err error
	// A CRD just established can take a moment to show in discovery.
	for i := 0; i < 50; i++ {
		if m, err = d.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err == nil {
			break
		}
		d.mapper.Reset()
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("%s: %v", gvk, err)
	}
	ri := d.c.dynamic.Resource(m.Resource)
	var res dynamic.ResourceInterface = ri
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		if o.GetNamespace() == "" {
			t.Fatalf("%s %s has no namespace", gvk.Kind, o.GetName())
		}
		res = ri.Namespace(o.GetNamespace())
	}
	data, err := o.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	opts := metav1.PatchOptions{FieldManager: "amtenant-examples", Force: ptrTrue(), FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := res.Patch(ctx, o.GetName(), types.ApplyPatchType, data, opts); err != nil {
		t.Errorf("apply (dry run %t) of %s %s/%s: %v", dryRun, gvk.Kind, o.GetNamespace(), o.GetName(), err)
	}
}

func statefulSetOf(t *testing.T, objs []*unstructured.Unstructured, name string) *appsv1.StatefulSet {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == "StatefulSet" && o.GetName() == name {
			var sts appsv1.StatefulSet
			mustConvert(t, o.Object, &sts)
			return &sts
		}
	}
	t.Fatalf("no StatefulSet %s", name)
	return nil
}

// checkStatefulSet checks a StatefulSet with the sidecar: its state file is
// on a volume claim template that Alertmanager mounts too, and kubectl's
// default container is still Alertmanager.
func checkStatefulSet(t *testing.T, sts *appsv1.StatefulSet) {
	t.Helper()
	pod := sts.Spec.Template.Spec
	var claims []string
	for _, c := range sts.Spec.VolumeClaimTemplates {
		claims = append(claims, c.Name)
	}
	vol := checkSidecar(t, pod, claims, nil)
	def := sts.Spec.Template.Annotations["kubectl.kubernetes.io/default-container"]
	var am *corev1.Container
	for i := range pod.Containers {
		if pod.Containers[i].Name == def {
			am = &pod.Containers[i]
		}
	}
	if am == nil || def == "amtenant" {
		t.Fatalf("the default container %q is not Alertmanager's", def)
	}
	if !slices.ContainsFunc(am.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == vol }) {
		t.Errorf("the state file's volume %s is not Alertmanager's data volume", vol)
	}
}

// checkAlertmanagerResource checks an Alertmanager resource of
// prometheus-operator with the sidecar in spec.containers. The operator
// names the storage volume alertmanager-<name>-db unless the claim template
// has a name, and gives its own containers the ports web (portName), mesh-tcp,
// mesh-udp and reloader-web. It returns the sidecar's metrics port.
func checkAlertmanagerResource(t *testing.T, am *unstructured.Unstructured, portName string) string {
	t.Helper()
	var spec struct {
		ServiceAccountName string                     `json:"serviceAccountName"`
		SecurityContext    *corev1.PodSecurityContext `json:"securityContext"`
		Containers         []corev1.Container         `json:"containers"`
		PortName           string                     `json:"portName"`
		Storage            *struct {
			VolumeClaimTemplate *struct {
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			} `json:"volumeClaimTemplate"`
		} `json:"storage"`
	}
	mustConvert(t, specOf(am), &spec)
	if spec.PortName != "" {
		portName = spec.PortName
	}
	var claims []string
	if spec.Storage != nil && spec.Storage.VolumeClaimTemplate != nil {
		name := spec.Storage.VolumeClaimTemplate.Metadata.Name
		if name == "" {
			name = "alertmanager-" + am.GetName() + "-db"
		}
		claims = append(claims, name)
	}
	pod := corev1.PodSpec{ServiceAccountName: spec.ServiceAccountName, SecurityContext: spec.SecurityContext, Containers: spec.Containers}
	checkSidecar(t, pod, claims, []string{portName, "mesh-tcp", "mesh-udp", "reloader-web"})
	for _, c := range spec.Containers {
		if c.Name == "amtenant" {
			return c.Ports[0].Name
		}
	}
	return ""
}

// operatorPodLabels are the labels prometheus-operator gives the pods of an
// Alertmanager resource.
func operatorPodLabels(t *testing.T, am *unstructured.Unstructured) labels.Set {
	t.Helper()
	l := labels.Set{
		"app.kubernetes.io/name":       "alertmanager",
		"app.kubernetes.io/managed-by": "prometheus-operator",
		"app.kubernetes.io/instance":   am.GetName(),
		"alertmanager":                 am.GetName(),
	}
	var spec struct {
		PodMetadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"podMetadata"`
	}
	mustConvert(t, specOf(am), &spec)
	maps.Copy(l, spec.PodMetadata.Labels)
	return l
}

// specOf is an object's spec. (The objects kustomize renders hold Go ints,
// which unstructured's Nested helpers refuse to copy.)
func specOf(o *unstructured.Unstructured) map[string]any {
	m, _ := o.Object["spec"].(map[string]any)
	return m
}

// checkPodMonitor checks that a PodMonitor selects the sidecar's pods and
// port, and names the job the mixin's rules select.
func checkPodMonitor(t *testing.T, pm *unstructured.Unstructured, podLabels labels.Set, port string) {
	t.Helper()
	type relabeling struct {
		TargetLabel string `json:"targetLabel"`
		Replacement string `json:"replacement"`
	}
	var spec struct {
		Selector            metav1.LabelSelector `json:"selector"`
		PodMetricsEndpoints []struct {
			Port        string       `json:"port"`
			Relabelings []relabeling `json:"relabelings"`
		} `json:"podMetricsEndpoints"`
	}
	mustConvert(t, specOf(pm), &spec)
	sel, err := metav1.LabelSelectorAsSelector(&spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(podLabels) {
		t.Errorf("PodMonitor %s: selector %s does not select the Alertmanager pods %v", pm.GetName(), sel, podLabels)
	}
	if len(spec.PodMetricsEndpoints) != 1 || spec.PodMetricsEndpoints[0].Port != port {
		t.Fatalf("PodMonitor %s: want one endpoint, the sidecar's port %q", pm.GetName(), port)
	}
	if !slices.ContainsFunc(spec.PodMetricsEndpoints[0].Relabelings, func(r relabeling) bool {
		return r.TargetLabel == "job" && r.Replacement == "amtenant"
	}) {
		t.Errorf("PodMonitor %s: the job is not amtenant, which the mixin's rules select", pm.GetName())
	}
}

// checkSidecar checks the sidecar container and its pod: image, flags,
// downward API, probes, resources, security, ServiceAccount, and a state
// file on one of the persistent volumes. otherPorts are port names that
// other containers of the pod use besides those in pod. It returns the
// state file's volume.
func checkSidecar(t *testing.T, pod corev1.PodSpec, persistent, otherPorts []string) string {
	t.Helper()
	var sc *corev1.Container
	ports := map[string]int{}
	for _, n := range otherPorts {
		ports[n]++
	}
	for i, c := range pod.Containers {
		if c.Name == "amtenant" {
			sc = &pod.Containers[i]
		}
		for _, p := range c.Ports {
			if p.Name != "" {
				ports[p.Name]++
			}
		}
	}
	if sc == nil {
		t.Fatal("no container amtenant")
	}
	for name, n := range ports {
		if n > 1 {
			// A Service's targetPort, and a PodMonitor's port, select by
			// name across the pod's containers.
			t.Errorf("port name %q used %d times in the pod", name, n)
		}
	}
	if pod.ServiceAccountName != "amtenant" {
		t.Errorf("serviceAccountName %q, want amtenant", pod.ServiceAccountName)
	}
	if pod.AutomountServiceAccountToken != nil && !*pod.AutomountServiceAccountToken {
		t.Error("the pod does not mount its ServiceAccount token")
	}
	if sc.Image != sidecarImage {
		t.Errorf("image %s, want %s", sc.Image, sidecarImage)
	}
	var stateFile string
	for _, want := range []string{"--alertmanager.url=http://127.0.0.1:9093", "--leader-elect"} {
		if !slices.Contains(sc.Args, want) {
			t.Errorf("args %v lack %s", sc.Args, want)
		}
	}
	for _, a := range sc.Args {
		if f, ok := strings.CutPrefix(a, "--state.file="); ok {
			stateFile = f
		}
	}
	env := map[string]string{}
	for _, e := range sc.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			env[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	if env["POD_NAME"] != "metadata.name" || env["POD_NAMESPACE"] != "metadata.namespace" {
		t.Errorf("POD_NAME and POD_NAMESPACE do not come from the downward API: %v", env)
	}
	if len(sc.Ports) != 2 || sc.Ports[0].ContainerPort != 9097 || sc.Ports[0].Name == "" || sc.Ports[1].ContainerPort != 9098 || sc.Ports[1].Name == "" {
		t.Fatalf("ports %v, want the named ports 9097 (web) and 9098 (replication)", sc.Ports)
	}
	var peers []string
	for _, a := range sc.Args {
		if p, ok := strings.CutPrefix(a, "--replication.peer="); ok {
			peers = append(peers, p)
		}
	}
	if len(peers) < 2 {
		t.Errorf("replication peers %v, want one per replica", peers)
	}
	for _, p := range peers {
		if host, port, err := net.SplitHostPort(p); err != nil || port != "9098" || !strings.Contains(host, ".") {
			t.Errorf("replication peer %q: want <pod>.<governing service>:9098", p)
		}
	}
	if p := sc.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" ||
		(p.HTTPGet.Port.String() != sc.Ports[0].Name && p.HTTPGet.Port.IntValue() != 9097) {
		t.Errorf("livenessProbe %+v, want GET /healthz on the sidecar's port", p)
	}
	if sc.ReadinessProbe != nil {
		t.Error("the sidecar has a readinessProbe: it would take Alertmanager out of its Service")
	}
	// BENCHMARKS.md: 165 MiB at the peak of a 10k-alert storm.
	if lim := sc.Resources.Limits.Memory(); lim.Cmp(resource.MustParse("165Mi")) < 0 {
		t.Errorf("memory limit %s, below the 10k-alert peak of 165Mi", lim)
	}
	if sc.Resources.Requests.Memory().IsZero() || sc.Resources.Requests.Cpu().IsZero() {
		t.Error("no CPU or memory request")
	}
	s := sc.SecurityContext
	if s == nil || s.RunAsNonRoot == nil || !*s.RunAsNonRoot || s.ReadOnlyRootFilesystem == nil || !*s.ReadOnlyRootFilesystem ||
		s.AllowPrivilegeEscalation == nil || *s.AllowPrivilegeEscalation || s.Capabilities == nil ||
		!slices.Contains(s.Capabilities.Drop, "ALL") || s.SeccompProfile == nil || s.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("securityContext %+v is not the restricted one", s)
	}
	if s != nil && s.RunAsUser != nil && *s.RunAsUser != 65532 {
		t.Errorf("runAsUser %d: the image's user is 65532", *s.RunAsUser)
	}
	// The state file's directory is a mount of a persistent volume, which
	// the fsGroup makes writable for uid 65532.
	var vol string
	for _, m := range sc.VolumeMounts {
		if m.MountPath == path.Dir(stateFile) && !m.ReadOnly && m.SubPath == "" {
			vol = m.Name
		}
	}
	if stateFile == "" || !slices.Contains(persistent, vol) {
		t.Errorf("state file %q is not on a persistent volume %v (mounts %v)", stateFile, persistent, sc.VolumeMounts)
	}
	if pod.SecurityContext == nil || pod.SecurityContext.FSGroup == nil {
		t.Error("no fsGroup: the sidecar (uid 65532) may not be able to write its state file")
	}
	return vol
}

// kubePrometheusStack turns the example values into what the chart makes of
// them: the Alertmanager resource (alertmanager.alertmanagerSpec over the
// chart's defaults, the ServiceAccount's name) and the PodMonitors of
// prometheus.additionalPodMonitors. Keys the chart does not have, or that
// this conversion does not know, fail the test. The release is called
// kube-prometheus-stack, in monitoring.
func kubePrometheusStack(t *testing.T, file string) (*unstructured.Unstructured, []*unstructured.Unstructured) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.UnmarshalStrict(b, &values); err != nil {
		t.Fatal(err)
	}
	known := func(where string, m map[string]any, keys ...string) {
		for k := range m {
			if !slices.Contains(keys, k) {
				t.Errorf("%s.%s: not a key this test knows in the chart", where, k)
			}
		}
	}
	sub := func(m map[string]any, key string) map[string]any {
		v, _ := m[key].(map[string]any)
		return v
	}
	known("", values, "alertmanager", "prometheus")
	alertmanager := sub(values, "alertmanager")
	known("alertmanager", alertmanager, "serviceAccount", "alertmanagerSpec")
	sa := sub(alertmanager, "serviceAccount")
	known("alertmanager.serviceAccount", sa, "create", "name", "annotations", "automountServiceAccountToken")
	if sa["create"] != false {
		t.Error("alertmanager.serviceAccount.create must be false: the pods use the ServiceAccount of manifests/")
	}
	// The chart's defaults for alertmanagerSpec that matter here (its
	// values.yaml); the chart-only keys (image, podAntiAffinity, …) are not
	// copied as they are, so they are refused.
	spec := map[string]any{
		"portName": "http-web",
		"securityContext": map[string]any{
			"runAsGroup": 2000, "runAsNonRoot": true, "runAsUser": 1000, "fsGroup": 2000,
			"seccompProfile": map[string]any{"type": "RuntimeDefault"},
		},
	}
	for k, v := range sub(alertmanager, "alertmanagerSpec") {
		switch k {
		case "image", "podAntiAffinity", "podAntiAffinityTopologyKey", "additionalConfig", "additionalConfigString":
			t.Errorf("alertmanager.alertmanagerSpec.%s: the chart does not copy it as it is; this test does not know it", k)
		default:
			spec[k] = v
		}
	}
	spec["serviceAccountName"] = sa["name"]
	am := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "monitoring.coreos.com/v1", "kind": "Alertmanager",
		"metadata": map[string]any{"name": "kube-prometheus-stack-alertmanager", "namespace": "monitoring"},
		"spec":     spec,
	}}

	prometheus := sub(values, "prometheus")
	known("prometheus", prometheus, "additionalPodMonitors")
	list, _ := prometheus["additionalPodMonitors"].([]any)
	var pms []*unstructured.Unstructured
	for i, item := range list {
		pm, _ := item.(map[string]any)
		where := fmt.Sprintf("prometheus.additionalPodMonitors[%d]", i)
		// The keys of the chart's templates/prometheus/podmonitors.yaml.
		known(where, pm, "name", "additionalLabels", "jobLabel", "namespaceSelector", "selector", "podMetricsEndpoints",
			"podTargetLabels", "sampleLimit", "fallbackScrapeProtocol", "attachMetadata",
			"targetLimit", "labelLimit", "labelNameLengthLimit", "labelValueLengthLimit")
		pmSpec := map[string]any{}
		for k, v := range pm {
			if k != "name" && k != "additionalLabels" {
				pmSpec[k] = v
			}
		}
		lbls := map[string]any{"release": "kube-prometheus-stack"}
		if extra, ok := pm["additionalLabels"].(map[string]any); ok {
			maps.Copy(lbls, extra)
		}
		pms = append(pms, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
			"metadata": map[string]any{"name": pm["name"], "namespace": "monitoring", "labels": lbls},
			"spec":     pmSpec,
		}})
	}
	return am, pms
}

func ptrInt64(v int64) *int64 { return &v }
