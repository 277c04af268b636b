//go:build integration

package integration

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestImageAssumptions proves what the Dockerfile's image relies on,
// without a container engine: the binary built with exactly the
// Dockerfile's command runs in an otherwise empty root directory (the
// binary and CA certificates only, as in distroless/static) as uid 65532,
// serves /healthz, reports its version, and fails clearly rather than
// crashing when Alertmanager is unreachable.
func TestImageAssumptions(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root for chroot and to run as uid 65532")
	}
	build := dockerfileBuildCommand(t)
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"bin", "etc/ssl/certs", "objects", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	if ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		_ = os.WriteFile(filepath.Join(root, "etc/ssl/certs/ca-certificates.crt"), ca, 0o644)
	}
	cmd := exec.Command("sh", "-c", build)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "VERSION=1.2.3-test", "REVISION=abc1234", "OUT="+filepath.Join(root, "bin", "sidecar"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's build command failed: %v\n%s", err, out)
	}
	if err := os.Chmod(filepath.Join(root, "bin", "sidecar"), 0o755); err != nil {
		t.Fatal(err)
	}

	inRoot := func(args ...string) *exec.Cmd {
		c := exec.Command("/bin/sidecar", args...)
		c.Env = []string{} // the image sets none
		c.SysProcAttr = &syscall.SysProcAttr{
			Chroot:     root,
			Credential: &syscall.Credential{Uid: 65532, Gid: 65532},
			Pdeathsig:  syscall.SIGKILL,
		}
		c.Dir = "/"
		return c
	}
	out, err := inRoot("--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1.2.3-test") || !strings.Contains(string(out), "abc1234") {
		t.Fatalf("--version: %v\n%s", err, out)
	}

	port := freePort(t)
	deadAM := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	sc := inRoot("--alertmanager.url="+deadAM, "--objects.dir=/objects", "--namespace=monitoring",
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--poll.interval=200ms")
	stderr, _ := sc.StderrPipe()
	if err := sc.Start(); err != nil {
		t.Fatal(err)
	}
	logs := make(chan string, 100)
	go func() {
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			logs <- s.Text()
		}
		close(logs)
	}()
	exited := make(chan error, 1)
	go func() { exited <- sc.Wait() }()
	t.Cleanup(func() { _ = sc.Process.Kill() })

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, base+"/healthz", 20*time.Second)
	var failed bool
	deadline := time.After(10 * time.Second)
	for !failed {
		select {
		case line, ok := <-logs:
			if !ok {
				t.Fatal("the sidecar's log ended")
			}
			failed = strings.Contains(line, "Polling Alertmanager failed") && strings.Contains(line, "connection refused")
		case err := <-exited:
			t.Fatalf("the sidecar exited: %v", err)
		case <-deadline:
			t.Fatal("no clear log line about the unreachable Alertmanager")
		}
	}
	// Not ready, and saying why: once the (empty) channels are loaded, the
	// reason left is Alertmanager.
	var status int
	var body []byte
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		status = resp.StatusCode
		if strings.Contains(string(body), "no successful poll") {
			break
		}
	}
	if status != http.StatusServiceUnavailable || !strings.Contains(string(body), "no successful poll") {
		t.Errorf("/readyz = %d %q, want 503 saying no poll succeeded", status, body)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `amtenant_build_info{branch="main",goarch=`) || !strings.Contains(string(metrics), `revision="abc1234"`) ||
		!strings.Contains(string(metrics), `version="1.2.3-test"`) || !strings.Contains(string(metrics), `goversion="go1.`) {
		t.Errorf("amtenant_build_info lacks the version, revision or Go version")
	}
	select {
	case err := <-exited:
		t.Fatalf("the sidecar exited: %v", err)
	default:
	}
}

// dockerfileBuildCommand returns the Dockerfile's `go build` command as a
// shell command writing to $OUT.
func dockerfileBuildCommand(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if cmd, ok := strings.CutPrefix(strings.TrimSpace(line), "RUN CGO_ENABLED=0 go build"); ok {
			cmd = "CGO_ENABLED=0 go build" + cmd
			if !strings.Contains(cmd, "-o /out/sidecar") {
				t.Fatalf("the Dockerfile's build command does not write /out/sidecar: %s", cmd)
			}
			return strings.Replace(cmd, "-o /out/sidecar", `-o "$OUT"`, 1)
		}
	}
	t.Fatal("no `RUN CGO_ENABLED=0 go build` line in the Dockerfile")
	return ""
}
