//go:build integration

package integration

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// The web port honours Prometheus' web configuration file, as
// Alertmanager's does: with basic authentication configured, /metrics and
// the explain API refuse anonymous requests.
func TestWebConfigBasicAuth(t *testing.T) {
	t.Parallel()
	am := startAlertmanager(t)
	dir := t.TempDir()
	writeObjects(t, dir, "ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n")
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(cfg, []byte("basic_auth_users:\n  prometheus: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	start(t, "sidecar", sidecarBinary(t), "--alertmanager.url="+am.url, "--objects.dir="+dir, "--namespace=monitoring",
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--web.config.file="+cfg, "--poll.interval=200ms")
	get := func(path, user, pass string) int {
		req, _ := http.NewRequest(http.MethodGet, url+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	eventually(t, 30*time.Second, "the web port answers with credentials", func() bool { return get("/metrics", "prometheus", "s3cret-pass") == 200 })
	for _, path := range []string{"/metrics", "/readyz", "/api/v1/explain?fingerprint=0"} {
		if got := get(path, "", ""); got != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d, want 401", path, got)
		}
		if got := get(path, "prometheus", "wrong"); got != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong password: %d, want 401", path, got)
		}
	}

	// A broken file is refused at start, naming the flag.
	bad := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(bad, []byte("basic_auth_users: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, "sidecar-bad", sidecarBinary(t), "--alertmanager.url="+am.url, "--objects.dir="+dir,
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", freePort(t)), "--web.config.file="+bad)
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("the sidecar started with a broken web configuration file")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the sidecar kept running with a broken web configuration file")
	}
}
