package harness

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
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Cluster is a real kube-apiserver with its etcd: token, client
// certificate and service-account authentication, RBAC, and an audit log
// of who read Secrets. No controller manager or kubelet runs.
type Cluster struct {
	// URL is kube-apiserver's, https://127.0.0.1:<port> (a self-signed
	// serving certificate).
	URL string
	// Token is a system:masters bearer token.
	Token string
	// Dir holds etcd's data, the certificates and the logs.
	Dir string
	// AuditLog records every request on Secrets (level Metadata).
	AuditLog string
	// ClientCert and ClientKey are a system:masters client certificate,
	// for components that authenticate with one.
	ClientCert, ClientKey string
	// Admin is a clientset authenticated with Token.
	Admin *kubernetes.Clientset

	apiserverBin  string
	apiserverArgs []string
	apiserver     *Process
	etcd          *Process
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

// StartCluster starts etcd (from PATH: Debian's etcd-server) and
// apiserverBin in a new directory under dir ("" for the system's), and
// waits until kube-apiserver is ready.
func StartCluster(apiserverBin, dir string) (c *Cluster, err error) {
	etcdBin, err := exec.LookPath("etcd")
	if err != nil {
		return nil, fmt.Errorf("etcd not found (make test installs Debian's etcd-server): %w", err)
	}
	dir, err = os.MkdirTemp(dir, "amtenant-cluster")
	if err != nil {
		return nil, err
	}
	c = &Cluster{Dir: dir, Token: "amtenant-admin-token", AuditLog: filepath.Join(dir, "audit.log"), apiserverBin: apiserverBin}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdPort, peerPort, port := ports[0], ports[1], ports[2]
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	c.etcd, err = Start(filepath.Join(dir, "etcd.log"), nil, etcdBin,
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		fmt.Sprintf("--listen-peer-urls=http://127.0.0.1:%d", peerPort),
		fmt.Sprintf("--initial-advertise-peer-urls=http://127.0.0.1:%d", peerPort),
		fmt.Sprintf("--initial-cluster=default=http://127.0.0.1:%d", peerPort),
		"--log-level=warn", "--unsafe-no-fsync")
	if err != nil {
		return nil, err
	}
	if err := WaitHTTP(context.Background(), etcdURL+"/health", 60*time.Second); err != nil {
		return nil, fmt.Errorf("etcd: %w\n%s", err, Tail(c.etcd.Log(), 4000))
	}

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	keyFile := filepath.Join(dir, "sa.key")
	tokens := filepath.Join(dir, "tokens.csv")
	policy := filepath.Join(dir, "audit-policy.yaml")
	for f, b := range map[string][]byte{
		keyFile: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		tokens:  []byte(c.Token + ",admin,admin,system:masters\n"),
		policy:  []byte(auditPolicy),
	} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			return nil, err
		}
	}
	clientCA, err := c.writeClientCerts()
	if err != nil {
		return nil, err
	}
	c.URL = fmt.Sprintf("https://127.0.0.1:%d", port)
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
		"--audit-log-path=" + c.AuditLog,
		"--audit-log-mode=blocking",
		"--disable-admission-plugins=ServiceAccount",
		"--v=1",
	}
	if c.Admin, err = kubernetes.NewForConfig(c.AdminConfig()); err != nil {
		return nil, err
	}
	if err := c.StartAPIServer(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func freePorts(n int) ([]int, error) {
	out := make([]int, n)
	for i := range out {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

// writeClientCerts makes a client CA for kube-apiserver and a
// system:masters certificate it signs; it returns the CA's file.
func (c *Cluster) writeClientCerts() (string, error) {
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
	caFile := filepath.Join(c.Dir, "client-ca.crt")
	c.ClientCert, c.ClientKey = filepath.Join(c.Dir, "client.crt"), filepath.Join(c.Dir, "client.key")
	for f, b := range map[string]*pem.Block{
		caFile:       {Type: "CERTIFICATE", Bytes: caDER},
		c.ClientCert: {Type: "CERTIFICATE", Bytes: leafDER},
		c.ClientKey:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(f, pem.EncodeToMemory(b), 0o600); err != nil {
			return "", err
		}
	}
	return caFile, nil
}

// StartAPIServer starts kube-apiserver (again, after StopAPIServer: etcd
// kept the data). It does not wait: see WaitReady.
func (c *Cluster) StartAPIServer() error {
	p, err := Start(filepath.Join(c.Dir, "kube-apiserver.log"), nil, c.apiserverBin, c.apiserverArgs...)
	if err != nil {
		return err
	}
	c.apiserver = p
	return nil
}

// StopAPIServer kills kube-apiserver; etcd keeps the data.
func (c *Cluster) StopAPIServer() { c.apiserver.Kill() }

// WaitReady waits until kube-apiserver's /readyz answers.
func (c *Cluster) WaitReady(ctx context.Context) error {
	for {
		err := c.Admin.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver not ready: %v\n%s", err, Tail(c.apiserver.Log(), 4000))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// AdminConfig is a client configuration authenticated with Token.
func (c *Cluster) AdminConfig() *rest.Config {
	return &rest.Config{Host: c.URL, BearerToken: c.Token, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 100, Burst: 200}
}

// Stop kills kube-apiserver and etcd and removes the directory.
func (c *Cluster) Stop() {
	for _, p := range []*Process{c.apiserver, c.etcd} {
		if p != nil {
			p.Kill()
		}
	}
	os.RemoveAll(c.Dir)
}

// WriteKubeconfig writes a kubeconfig for the cluster to path,
// authenticated with Token and, when as is not empty, impersonating as
// ("system:serviceaccount:monitoring:amtenant").
func (c *Cluster) WriteKubeconfig(path, as string) error {
	user := "    token: " + c.Token + "\n"
	if as != "" {
		user += "    as: " + as + "\n"
	}
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
%scontexts:
- name: test
  context:
    cluster: test
    user: sidecar
current-context: test
`, c.URL, user)
	return os.WriteFile(path, []byte(cfg), 0o600)
}
