// Command demo runs amtenant next to a real Alertmanager on this machine:
// it starts Alertmanager, the sidecar (in local mode, reading the objects
// in examples/demo/objects) and a receiver that prints what each channel
// gets, fires a few alerts the way Prometheus does, resolves one, prints a
// summary and cleans up. `make demo` runs it.
package main

import (
	"github.com/amtenant/amtenant/internal/harness"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	amBin := flag.String("alertmanager", ".cache/bin/alertmanager", "Alertmanager binary")
	sidecarBin := flag.String("sidecar", "bin/sidecar", "sidecar binary")
	objects := flag.String("objects", "examples/demo/objects", "directory of Namespace and Secret manifests")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *amBin, *sidecarBin, *objects); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, amBin, sidecarBin, objects string) error {
	work, err := os.MkdirTemp("", "amtenant-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	rcv := &receiver{}
	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	rsrv := &http.Server{Handler: rcv, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = rsrv.Serve(rln) }()
	defer rsrv.Close()
	rcvURL := "http://" + rln.Addr().String()

	objDir := filepath.Join(work, "objects")
	if err := copyObjects(objects, objDir, rcvURL); err != nil {
		return err
	}

	// Alertmanager's own routing is left alone: its receiver does nothing.
	am, err := harness.StartAlertmanager(amBin, work, harness.BlackholeConfig)
	if err != nil {
		return fmt.Errorf("alertmanager: %w", err)
	}
	defer am.Proc.Stop()
	amURL := am.URL
	step("Started Alertmanager on %s", amURL)

	scPort, err := harness.FreePort()
	if err != nil {
		return err
	}
	scURL := fmt.Sprintf("http://127.0.0.1:%d", scPort)
	step("Starting the amtenant sidecar on %s, channels from %s", scURL, objects)
	fmt.Println("  (the demo's receiver listens on loopback, which tenant channels may not reach by")
	fmt.Println("   default; the demo allows it with --security.tenant-deny-cidrs=169.254.0.0/16)")
	sc, err := harness.Start(filepath.Join(work, "sidecar.log"), nil, sidecarBin,
		"--alertmanager.url="+amURL, "--objects.dir="+objDir, "--namespace=monitoring",
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", scPort),
		// Demo timings: a resolution is sent at the group's next interval.
		"--poll.interval=1s", "--notify.resolve-grace=3s", "--alertmanager.restart-grace=3s", "--notify.group-interval=5s",
		"--security.tenant-deny-cidrs=169.254.0.0/16")
	if err != nil {
		return err
	}
	defer sc.Stop()
	sidecarLog := func() string { return "--- sidecar log ---\n" + harness.Tail(sc.Log(), 4000) }
	if err := harness.WaitHTTP(ctx, scURL+"/readyz", 30*time.Second); err != nil {
		return fmt.Errorf("sidecar: %w\n%s", err, sidecarLog())
	}

	start := time.Now().Add(-2 * time.Minute)
	alerts := []alert{
		newAlert(start, "HighErrorRate", "shop-frontend", "warning", "5% of checkout requests fail"),
		newAlert(start, "SlowQueries", "shop-backend", "warning", "p99 query time above 2s"),
		newAlert(start, "PaymentGatewayDown", "payments", "critical", "the payment gateway does not answer"),
		newAlert(start, "PaymentLatency", "payments", "warning", "payments are slow (not critical: the pager ignores it)"),
		newAlert(start, "NodeDiskFull", "", "critical", "node-3 root filesystem is 95% full"),
	}
	step("Firing %d alerts into Alertmanager, as Prometheus would", len(alerts))
	for _, a := range alerts {
		fmt.Printf("  %-20s namespace=%-14q severity=%s\n", a.Labels["alertname"], a.Labels["namespace"], a.Labels["severity"])
	}
	if err := post(amURL, alerts); err != nil {
		return err
	}
	want := map[string][]string{
		"shop/team-chat":   {"HighErrorRate firing", "SlowQueries firing"},
		"payments/pager":   {"PaymentGatewayDown firing"},
		"platform/cluster": {"NodeDiskFull firing"},
	}
	if err := rcv.wait(ctx, want, 60*time.Second); err != nil {
		return fmt.Errorf("%w\n%s", err, sidecarLog())
	}

	step("Resolving PaymentGatewayDown")
	resolved := alerts[2]
	resolved.EndsAt = time.Now()
	if err := post(amURL, []alert{resolved}); err != nil {
		return err
	}
	want["payments/pager"] = append(want["payments/pager"], "PaymentGatewayDown resolved")
	if err := rcv.wait(ctx, want, 60*time.Second); err != nil {
		return fmt.Errorf("%w\n%s", err, sidecarLog())
	}
	// Give a duplicate every chance to show itself before the summary: the
	// sidecar acts on what it sees at each poll, and a group's next
	// message waits for its interval (5 s).
	if err := harness.WaitPolls(ctx, scURL, 6); err != nil {
		return fmt.Errorf("sidecar: %w\n%s", err, sidecarLog())
	}

	step("Summary: what each tenant's channels received")
	rcv.summary()
	if err := rcv.exactly(want); err != nil {
		return err
	}
	step("Done: each alert reached its tenant's channels once, the resolution once.")
	return nil
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

type alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
}

func newAlert(start time.Time, name, ns, severity, summary string) alert {
	ls := map[string]string{"alertname": name, "severity": severity}
	if ns != "" {
		ls["namespace"] = ns
	}
	return alert{Labels: ls, Annotations: map[string]string{"summary": summary}, StartsAt: start, EndsAt: time.Now().Add(4 * time.Minute)}
}

func post(amURL string, alerts []alert) error {
	body, _ := json.Marshal(alerts)
	resp, err := http.Post(amURL+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("post alerts: %s: %s", resp.Status, b)
	}
	return nil
}

// receiver prints and records the webhook messages of every channel.
type receiver struct {
	mu  sync.Mutex
	got map[string][]string // channel path → "alertname status"
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var msg struct {
		Receiver string `json:"receiver"`
		Status   string `json:"status"`
		Alerts   []struct {
			Status      string            `json:"status"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"alerts"`
	}
	if err := json.NewDecoder(req.Body).Decode(&msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	path := strings.TrimPrefix(req.URL.Path, "/")
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.got == nil {
		r.got = map[string][]string{}
	}
	fmt.Printf("  [%s] %s message from channel %s:\n", path, strings.ToUpper(msg.Status), msg.Receiver)
	for _, a := range msg.Alerts {
		fmt.Printf("      %-8s %-20s tenant=%-9s %s\n", a.Status, a.Labels["alertname"], orDash(a.Labels["tenant"]), a.Annotations["summary"])
		r.got[path] = append(r.got[path], a.Labels["alertname"]+" "+a.Status)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (r *receiver) has(want map[string][]string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for path, items := range want {
		for _, it := range items {
			found := false
			for _, g := range r.got[path] {
				if g == it {
					found = true
				}
			}
			if !found {
				return false
			}
		}
	}
	return true
}

func (r *receiver) wait(ctx context.Context, want map[string][]string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for !r.has(want) {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for notifications; got %v", r.got)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// exactly checks that nothing more than want arrived: no duplicates, no
// alert at the wrong tenant.
func (r *receiver) exactly(want map[string][]string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for path, got := range r.got {
		g := append([]string(nil), got...)
		w := append([]string(nil), want[path]...)
		sort.Strings(g)
		sort.Strings(w)
		if strings.Join(g, ",") != strings.Join(w, ",") {
			errs = append(errs, fmt.Errorf("%s received %v, want %v", path, g, w))
		}
	}
	return errors.Join(errs...)
}

func (r *receiver) summary() {
	r.mu.Lock()
	defer r.mu.Unlock()
	paths := make([]string, 0, len(r.got))
	for p := range r.got {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	fmt.Printf("  %-18s %-18s %s\n", "TENANT", "CHANNEL", "RECEIVED")
	for _, p := range paths {
		tenant, ch, _ := strings.Cut(p, "/")
		fmt.Printf("  %-18s %-18s %s\n", tenant, ch, strings.Join(r.got[p], ", "))
	}
}

// copyObjects copies the manifests, pointing their URLs at the receiver.
func copyObjects(from, to, rcvURL string) error {
	if err := os.MkdirAll(to, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		b = bytes.ReplaceAll(b, []byte("${RECEIVER}"), []byte(rcvURL))
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}
