// Command bench measures the sidecar side by side with a real
// Alertmanager: CPU per poll against Alertmanager's CPU over the same
// window, peak memory, the latency of one new alert under load, a
// 10k-alert storm over 100 tenant channels, and polls at 50k alerts. It
// prints a table and writes BENCHMARKS.md. `make bench` runs it.
package main

import (
	"bufio"
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
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const tenants = 100

func main() {
	amBin := flag.String("alertmanager", ".cache/bin/alertmanager", "Alertmanager binary")
	sidecarBin := flag.String("sidecar", "bin/sidecar", "sidecar binary")
	out := flag.String("out", "BENCHMARKS.md", "report file")
	window := flag.Duration("window", 30*time.Second, "measurement window")
	goBench := flag.String("go-bench", "", "output of the Go benchmarks to include")
	flag.StringVar(&profileDir, "profile-dir", "", "save the sidecar's heap and CPU profiles here (enables --web.enable-pprof)")
	fairOnly := flag.Bool("fair-only", false, "run only the fair-sharing load test, and print its rows")
	costOnly := flag.Bool("cost-only", false, "run only the measure of Alertmanager's cost of polling, and print its rows")
	flag.BoolVar(&quick, "quick", false, "run only the idle and 10k-alert rows, and print them (profiling memory)")
	flag.Parse()
	goBenchOut = *goBench
	if *fairOnly || *costOnly {
		only := fairnessResults
		if *costOnly {
			only = costResults
		}
		rows, err := only(*amBin, *sidecarBin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		fmt.Print(render(rows))
		return
	}
	if err := run(*amBin, *sidecarBin, *out, *window); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type result struct{ name, value, target string }

var goBenchOut, profileDir string

// quick stops the run after its 10k-alert rows.
var quick bool

func run(amBin, sidecarBin, out string, window time.Duration) error {
	work, err := os.MkdirTemp("", "amtenant-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	sink := newSink()
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = http.Serve(sl, sink) }()
	sinkURL := "http://" + sl.Addr().String()

	objDir := filepath.Join(work, "objects")
	if err := writeObjects(objDir, sinkURL); err != nil {
		return err
	}
	am, amURL, err := startAlertmanager(amBin, work)
	if err != nil {
		return err
	}
	defer stop(am)
	scPort := freePort()
	scURL := fmt.Sprintf("http://127.0.0.1:%d", scPort)
	sc, err := start(sidecarBin, filepath.Join(work, "sidecar.log"), "--alertmanager.url="+amURL, "--objects.dir="+objDir,
		"--namespace=monitoring", fmt.Sprintf("--web.listen-address=127.0.0.1:%d", scPort), "--poll.interval=2s",
		"--notify.group-wait=1s", "--notify.group-interval=1s", "--alertmanager.restart-grace=0s", "--security.tenant-deny-cidrs=169.254.0.0/16", "--log.level=warn",
		// A fixed interval: these rows measure the sidecar's cost per poll
		// (the budget's effect has rows of its own).
		"--poll.alertmanager-cpu-budget=0",
		"--web.enable-pprof")
	if err != nil {
		return err
	}
	defer stop(sc)
	if err := waitOK(scURL + "/readyz"); err != nil {
		return err
	}
	time.Sleep(3 * time.Second)
	var res []result
	idle := rss(sc.Process.Pid, "VmRSS")
	res = append(res, result{"sidecar RSS, idle", mib(idle), "baseline"})

	// A 10k-alert storm over 100 tenants' channels.
	fmt.Println("posting a 10k-alert storm over 100 tenants...")
	begin := time.Now()
	stopPeak := make(chan struct{})
	peakDone := make(chan struct{})
	if profileDir != "" {
		// The heap at the storm's peak, sampled every 200 ms.
		go func() {
			defer close(peakDone)
			var most float64
			for {
				select {
				case <-stopPeak:
					return
				case <-time.After(200 * time.Millisecond):
				}
				if v, _ := metric(scURL, "go_memstats_heap_inuse_bytes"); v > most {
					most = v
					_ = save(scURL+"/debug/pprof/heap", filepath.Join(profileDir, "heap-peak.pprof"))
				}
			}
		}()
	} else {
		close(peakDone)
	}
	alerts := gen(0, 10000, begin.Add(-time.Minute))
	if err := post(amURL, alerts); err != nil {
		return err
	}
	if err := waitFor(120*time.Second, func() bool { return sink.tenantAlerts() >= 10000 }); err != nil {
		return fmt.Errorf("storm: %w (got %d)", err, sink.tenantAlerts())
	}
	storm := time.Since(begin)
	close(stopPeak)
	<-peakDone
	res = append(res, result{"10k-alert storm over 100 tenant channels, POST to all delivered", storm.Round(10 * time.Millisecond).String(), "≤ 10 s"})

	// Steady state at 10k.
	cpuRatio, perPoll, meanPoll, err := measure(amURL, scURL, am.Process.Pid, sc.Process.Pid, alerts, window)
	if err != nil {
		return err
	}
	res = append(res,
		result{"sidecar CPU / Alertmanager CPU over the same window, 10k alerts", fmt.Sprintf("%.3f", cpuRatio), "≤ 0.25"},
		result{"sidecar CPU per poll, 10k alerts", perPoll.Round(time.Millisecond).String(), ""},
		result{"poll duration (mean), 10k alerts", meanPoll.Round(time.Millisecond).String(), ""},
		result{"sidecar peak RSS, 10k alerts", mib(rss(sc.Process.Pid, "VmHWM")), "≤ 64 MiB"})

	if profileDir != "" {
		for name, path := range map[string]string{"heap.pprof": "/debug/pprof/heap", "allocs.pprof": "/debug/pprof/allocs", "cpu.pprof": "/debug/pprof/profile?seconds=10"} {
			if err := save(scURL+path, filepath.Join(profileDir, name)); err != nil {
				return err
			}
		}
	}
	if quick {
		fmt.Print(render(res))
		return nil
	}

	// Latency of one new alert with 10k in the background.
	var lat []time.Duration
	for i := range 5 {
		name := fmt.Sprintf("LatencyProbe%d", i)
		t0 := time.Now()
		if err := post(amURL, []alertJSON{{Labels: map[string]string{"alertname": name, "namespace": "team-000"}, StartsAt: t0, EndsAt: t0.Add(5 * time.Minute)}}); err != nil {
			return err
		}
		if err := waitFor(30*time.Second, func() bool { return sink.seen(name) }); err != nil {
			return fmt.Errorf("latency probe: %w", err)
		}
		lat = append(lat, time.Since(t0))
	}
	res = append(res, result{"new alert POST → channel, 10k in the background (5 probes, max)", maxDur(lat).Round(10 * time.Millisecond).String(),
		"≤ poll interval + 0.5 s = 2.5 s (includes the channel's 1 s group wait)"})

	// 50k alerts.
	fmt.Println("posting 40k more alerts...")
	more := gen(10000, 40000, begin.Add(-time.Minute))
	if err := post(amURL, more); err != nil {
		return err
	}
	all := append(alerts, more...)
	time.Sleep(10 * time.Second)
	cpuRatio50, perPoll50, meanPoll50, err := measure(amURL, scURL, am.Process.Pid, sc.Process.Pid, all, window)
	if err != nil {
		return err
	}
	res = append(res,
		result{"sidecar CPU / Alertmanager CPU, 50k alerts", fmt.Sprintf("%.3f", cpuRatio50), ""},
		result{"sidecar CPU per poll, 50k alerts", perPoll50.Round(time.Millisecond).String(), ""},
		result{"poll duration (mean), 50k alerts", meanPoll50.Round(time.Millisecond).String(), "well under the 10 s interval"},
		result{"sidecar peak RSS, 50k alerts", mib(rss(sc.Process.Pid, "VmHWM")), ""})

	// Stop this pair before the fair-sharing runs start their own.
	stop(sc)
	stop(am)
	fair, err := fairnessResults(amBin, sidecarBin)
	if err != nil {
		return err
	}
	res = append(res, fair...)
	cost, err := costResults(amBin, sidecarBin)
	if err != nil {
		return err
	}
	res = append(res, cost...)

	report := render(res)
	fmt.Print(report)
	return os.WriteFile(out, []byte(report), 0o644)
}

// measure resends the alerts as Prometheus would and measures both
// processes' CPU over the window.
func measure(amURL, scURL string, amPid, scPid int, alerts []alertJSON, window time.Duration) (ratio float64, perPoll, meanPoll time.Duration, err error) {
	fmt.Printf("measuring for %s...\n", window)
	for i := range alerts {
		alerts[i].EndsAt = time.Now().Add(5 * time.Minute)
	}
	amCPU0, scCPU0 := cpu(amPid), cpu(scPid)
	polls0, sum0, err := pollStats(scURL)
	if err != nil {
		return 0, 0, 0, err
	}
	if err := post(amURL, alerts); err != nil {
		return 0, 0, 0, err
	}
	time.Sleep(window)
	amCPU, scCPU := cpu(amPid)-amCPU0, cpu(scPid)-scCPU0
	polls, sum, err := pollStats(scURL)
	if err != nil {
		return 0, 0, 0, err
	}
	n := polls - polls0
	if n <= 0 || amCPU <= 0 {
		return 0, 0, 0, errors.New("no polls or no Alertmanager CPU in the window")
	}
	return scCPU.Seconds() / amCPU.Seconds(), scCPU / time.Duration(n), time.Duration((sum - sum0) / n * float64(time.Second)), nil
}

func render(res []result) string {
	var b strings.Builder
	b.WriteString("# amtenant benchmarks\n\n")
	b.WriteString("Measured by `make bench` (integration/bench): a real Alertmanager v0.31.1 and the sidecar on one machine, ")
	b.WriteString("100 tenant namespaces with one webhook channel each plus one admin channel for all alerts, local webhook sinks, ")
	b.WriteString("poll interval 2 s, group wait 1 s. Alerts are realistic (12 labels, 3 annotations, a generator URL). ")
	b.WriteString("Ratios come from one run; absolute times are only indicative on a shared machine. ")
	b.WriteString("The fair-sharing rows run one tenant with many channels grouping by every label and a storm beside 99 quiet tenants, with every limit off and then with the defaults. ")
	b.WriteString("The rows on Alertmanager's cost run Alertmanager alone with the alerts (re-posted once in the window, as Prometheus does), then polled every 10 s, then with the default --poll.alertmanager-cpu-budget, each with a fresh Alertmanager.\n\n")
	fmt.Fprintf(&b, "Machine: %s, %d CPUs, %s, %s. Date: %s.\n\n", cpuModel(), runtime.NumCPU(), runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH, time.Now().UTC().Format("2006-01-02"))
	b.WriteString("| measure | value | target |\n|---|---|---|\n")
	for _, r := range res {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", r.name, r.value, r.target)
	}
	b.WriteString("\nDecoding and tracking, from `go test -bench . -benchmem ./poller/` in the same `make bench` run: ")
	b.WriteString("`generated` is the generated client's default consumer and models, `lean-first` the sidecar's decoder on a first poll, ")
	b.WriteString("`lean-steady` on a later poll of the same alerts. `BenchmarkPollPath` (`./tenancy/`) is one whole steady poll: ")
	b.WriteString("the HTTP request to a local server, decoding, tracking, routing to 100 tenant channels and an admin channel, and the senders' sync; ")
	b.WriteString("its B/op and allocs/op are per poll.\n\n```\n")
	if raw, err := os.ReadFile(goBenchOut); err == nil {
		for line := range strings.SplitSeq(string(raw), "\n") {
			if strings.HasPrefix(line, "Benchmark") {
				b.WriteString(line + "\n")
			}
		}
	} else {
		b.WriteString("(not run)\n")
	}
	b.WriteString("```\n\n")
	b.WriteString("Reproduce: `make bench` (builds the sidecar and Alertmanager into .cache/bin first).\n")
	return b.String()
}

type alertJSON struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
}

func gen(from, n int, start time.Time) []alertJSON {
	out := make([]alertJSON, 0, n)
	for i := from; i < from+n; i++ {
		ns := fmt.Sprintf("team-%03d", i%tenants)
		pod := fmt.Sprintf("checkout-%08x-%05d", i*2654435761, i)
		out = append(out, alertJSON{
			Labels: map[string]string{
				"alertname": fmt.Sprintf("KubePodCrashLooping%d", i%23), "severity": []string{"critical", "warning", "info"}[i%3],
				"namespace": ns, "pod": pod, "container": "app", "job": "kube-state-metrics",
				"instance": fmt.Sprintf("10.%d.%d.%d:8080", i%250, (i/250)%250, i%7), "cluster": "prod-eu-1",
				"prometheus": "monitoring/k8s", "service": "kube-state-metrics", "endpoint": "http", "uid": fmt.Sprintf("%08x", i),
			},
			Annotations: map[string]string{
				"summary":     "Pod " + ns + "/" + pod + " (app) is in waiting state (reason: \"CrashLoopBackOff\").",
				"description": "Pod " + ns + "/" + pod + " has been restarting 3 times / 10 minutes.",
				"runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping",
			},
			StartsAt: start, EndsAt: time.Now().Add(5 * time.Minute),
		})
	}
	return out
}

func post(amURL string, alerts []alertJSON) error {
	for i := 0; i < len(alerts); i += 1000 {
		body, _ := json.Marshal(alerts[i:min(i+1000, len(alerts))])
		resp, err := http.Post(amURL+"/api/v2/alerts", "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("post alerts: %s", resp.Status)
		}
	}
	return nil
}

func writeObjects(dir, sinkURL string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var b strings.Builder
	for i := range tenants {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: team-%03d}\n", i)
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Secret\nmetadata: {name: hook, namespace: team-%03d, labels: {amtenant.io/channel: \"\"}}\nstringData: {type: webhook, url: \"%s/t/%03d\"}\n", i, sinkURL, i)
	}
	fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Secret\nmetadata: {name: all, namespace: monitoring, labels: {amtenant.io/channel: \"\", amtenant.io/scope: all}}\nstringData: {type: webhook, url: \"%s/all\", max_alerts: \"50\"}\n", sinkURL)
	return os.WriteFile(filepath.Join(dir, "objects.yaml"), []byte(b.String()), 0o600)
}

// sink counts alerts received on tenant channels (firing, first time).
type sink struct {
	mu     sync.Mutex
	firing map[string]bool
	names  map[string]bool
}

func newSink() *sink { return &sink{firing: map[string]bool{}, names: map[string]bool{}} }

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var msg struct {
		Alerts []struct {
			Status string            `json:"status"`
			Labels map[string]string `json:"labels"`
		} `json:"alerts"`
	}
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range msg.Alerts {
		s.names[a.Labels["alertname"]] = true
		if strings.HasPrefix(r.URL.Path, "/t/") && a.Status == "firing" {
			s.firing[a.Labels["uid"]] = true
		}
	}
}

func (s *sink) tenantAlerts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.firing)
}

func (s *sink) seen(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.names[name]
}

func pollStats(scURL string) (count, sum float64, err error) {
	resp, err := http.Get(scURL + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "amtenant_poll_duration_seconds_count "):
			count, _ = strconv.ParseFloat(strings.Fields(line)[1], 64)
		case strings.HasPrefix(line, "amtenant_poll_duration_seconds_sum "):
			sum, _ = strconv.ParseFloat(strings.Fields(line)[1], 64)
		}
	}
	return count, sum, sc.Err()
}

// cpu is a process's user+system CPU time, from /proc.
func cpu(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration((utime + stime) / hz * float64(time.Second))
}

func rss(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown CPU"
}

func maxDur(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// startAlertmanager runs Alertmanager with a receiver that sends nothing,
// on a loopback port chosen at run time, and waits until it is ready.
func startAlertmanager(amBin, work string) (*exec.Cmd, string, error) {
	port := freePort()
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg := filepath.Join(work, "am.yml")
	if err := os.WriteFile(cfg, []byte("route:\n  receiver: blackhole\nreceivers:\n- name: blackhole\n"), 0o600); err != nil {
		return nil, "", err
	}
	am, err := start(amBin, filepath.Join(work, "am.log"), "--config.file="+cfg, "--storage.path="+filepath.Join(work, "am"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--cluster.listen-address=", "--log.level=warn")
	if err != nil {
		return nil, "", err
	}
	if err := waitOK(url + "/-/ready"); err != nil {
		stop(am)
		return nil, "", err
	}
	return am, url, nil
}

func start(bin, logPath string, args ...string) (*exec.Cmd, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	return cmd, cmd.Start()
}

func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
	}
}

func waitOK(url string) error {
	return waitFor(60*time.Second, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func waitFor(d time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s", d)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

func save(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
