//go:build integration

package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// cluster is a real kube-apiserver with its etcd, started once for the
// whole run (it takes several seconds) and shared by the Kubernetes tests,
// each of which works in namespaces of its own.
type cluster struct {
	url       string
	token     string
	dir       string
	auditLog  string
	admin     *kubernetes.Clientset
	dynamic   dynamic.Interface
	apiserver *exec.Cmd
	etcd      *exec.Cmd
	// apiserverBin and apiserverArgs restart kube-apiserver.
	apiserverBin  string
	apiserverArgs []string
	// clientCert and clientKey are a cluster-admin client certificate, for
	// components that authenticate with one (prometheus-operator).
	clientCert, clientKey string
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

// auditPolicy records who read Secrets, and how.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  resources:
  - group: ""
    resources: ["secrets"]
- level: None
`

func startCluster(t testing.TB) *cluster {
	t.Helper()
	clusterOnce.Do(func() { theCluster, clusterErr = newCluster(t) })
	if clusterErr != nil {
		t.Fatal(clusterErr)
	}
	return theCluster
}

func newCluster(t testing.TB) (*cluster, error) {
	apiserverBin := kubeAPIServerBinary(t)
	etcdBin, err := exec.LookPath("etcd")
	if err != nil {
		return nil, fmt.Errorf("etcd not found (make test installs Debian's etcd-server): %w", err)
	}
	dir, err := os.MkdirTemp("", "amtenant-cluster")
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, token: "amtenant-admin-token", auditLog: filepath.Join(dir, "audit.log")}

	etcdPort, peerPort := freePort(t), freePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	c.etcd = exec.Command(etcdBin,
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		fmt.Sprintf("--listen-peer-urls=http://127.0.0.1:%d", peerPort),
		fmt.Sprintf("--initial-advertise-peer-urls=http://127.0.0.1:%d", peerPort),
		fmt.Sprintf("--initial-cluster=default=http://127.0.0.1:%d", peerPort),
		"--log-level=warn", "--unsafe-no-fsync")
	etcdLog, _ := os.Create(filepath.Join(dir, "etcd.log"))
	c.etcd.Stdout, c.etcd.Stderr = etcdLog, etcdLog
	c.etcd.SysProcAttr = dieWithParent()
	if err := c.etcd.Start(); err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	if err := waitEtcd(etcdURL, filepath.Join(dir, "etcd.log")); err != nil {
		c.stop()
		return nil, err
	}

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	keyFile := filepath.Join(dir, "sa.key")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return nil, err
	}
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(c.token+",admin,admin,system:masters\n"), 0o600); err != nil {
		return nil, err
	}
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		return nil, err
	}
	clientCA, err := c.writeClientCerts(dir)
	if err != nil {
		return nil, err
	}
	port := freePort(t)
	c.url = fmt.Sprintf("https://127.0.0.1:%d", port)
	c.apiserverBin = apiserverBin
	c.apiserverArgs = []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir=" + filepath.Join(dir, "certs"),
		"--token-auth-file=" + tokens,
		"--client-ca-file=" + clientCA,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + keyFile,
		"--service-account-signing-key-file=" + keyFile,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--audit-policy-file=" + policy,
		"--audit-log-path=" + c.auditLog,
		"--audit-log-mode=blocking",
		"--disable-admission-plugins=ServiceAccount",
		"--v=1",
	}
	if err := c.startAPIServer(); err != nil {
		c.stop()
		return nil, err
	}
	cfg := c.adminConfig()
	c.admin, err = kubernetes.NewForConfig(cfg)
	if err != nil {
		c.stop()
		return nil, err
	}
	c.dynamic, err = dynamic.NewForConfig(cfg)
	if err != nil {
		c.stop()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := c.waitReady(ctx); err != nil {
		c.stop()
		return nil, err
	}
	// The default ServiceAccount controller does not run here; the
	// namespace the manifests install into must exist first.
	if _, err := c.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "monitoring"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		c.stop()
		return nil, err
	}
	if err := c.applyKustomization(ctx, filepath.Join(repoRoot(t), "manifests")); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// writeClientCerts makes a client CA for kube-apiserver and a
// cluster-admin (system:masters) certificate it signs; it returns the CA's
// file.
func (c *cluster) writeClientCerts(dir string) (string, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "amtenant-test-client-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "test-admin", Organization: []string{"system:masters"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return "", err
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", err
	}
	caFile := filepath.Join(dir, "client-ca.crt")
	c.clientCert, c.clientKey = filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	for f, b := range map[string]*pem.Block{
		caFile:       {Type: "CERTIFICATE", Bytes: caDER},
		c.clientCert: {Type: "CERTIFICATE", Bytes: leafDER},
		c.clientKey:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(f, pem.EncodeToMemory(b), 0o600); err != nil {
			return "", err
		}
	}
	return caFile, nil
}

func (c *cluster) startAPIServer() error {
	c.apiserver = exec.Command(c.apiserverBin, c.apiserverArgs...)
	apiLog, err := os.OpenFile(filepath.Join(c.dir, "kube-apiserver.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	c.apiserver.Stdout, c.apiserver.Stderr = apiLog, apiLog
	c.apiserver.SysProcAttr = dieWithParent()
	if err := c.apiserver.Start(); err != nil {
		return fmt.Errorf("start kube-apiserver: %w", err)
	}
	return nil
}

func (c *cluster) waitReady(ctx context.Context) error {
	for {
		err := c.admin.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			b, _ := os.ReadFile(filepath.Join(c.dir, "kube-apiserver.log"))
			return fmt.Errorf("kube-apiserver not ready: %v\n%s", err, tail(string(b), 4000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stopAPIServer kills kube-apiserver (etcd keeps the data).
func (c *cluster) stopAPIServer() {
	_ = c.apiserver.Process.Kill()
	_ = c.apiserver.Wait()
}

// waitEtcd waits until etcd answers its health endpoint.
func waitEtcd(url, logPath string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(logPath)
	return fmt.Errorf("etcd not healthy at %s after 60s:\n%s", url, tail(string(b), 4000))
}

// dieWithParent makes a child process get SIGKILL when the test process
// ends, however it ends, so that no server outlives a test run.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// stopCluster stops the shared cluster, if one was started.
func stopCluster() {
	if theCluster != nil {
		theCluster.stop()
	}
}

func (c *cluster) adminConfig() *rest.Config {
	return &rest.Config{Host: c.url, BearerToken: c.token, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 100, Burst: 200}
}

func (c *cluster) stop() {
	for _, p := range []*exec.Cmd{c.apiserver, c.etcd} {
		if p != nil && p.Process != nil {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	}
	os.RemoveAll(c.dir)
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
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: sidecar
  user:
    token: %s
    as: %s
contexts:
- name: test
  context:
    cluster: test
    user: sidecar
current-context: test
`, c.url, c.token, serviceAccount)
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
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
