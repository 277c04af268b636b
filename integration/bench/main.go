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
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/amtenant/amtenant/internal/harness"
)

const tenants = 100

func main() {
	amBin := flag.String("alertmanager", ".cache/bin/alertmanager", "Alertmanager binary")
	sidecarBin := flag.String("sidecar", "bin/sidecar", "sidecar binary")
	apiserverBin := flag.String("kube-apiserver", ".cache/bin/kube-apiserver", "kube-apiserver binary, for the Kubernetes-mode rows (etcd comes from PATH)")
	out := flag.String("out", "BENCHMARKS.md", "report file")
	window := flag.Duration("window", 30*time.Second, "measurement window")
	goBench := flag.String("go-bench", "", "output of the Go benchmarks to include")
	flag.StringVar(&profileDir, "profile-dir", "", "save the sidecar's heap and CPU profiles here (enables --web.enable-pprof)")
	fairOnly := flag.Bool("fair-only", false, "run only the fair-sharing load test, and print its rows")
	costOnly := flag.Bool("cost-only", false, "run only the measure of Alertmanager's cost of polling, and print its rows")
	kubeOnly := flag.Bool("kube-only", false, "run only the Kubernetes-mode rows, and print them")
	flag.BoolVar(&quick, "quick", false, "run only the local-mode idle and 10k-alert rows, and print them (profiling memory)")
	flag.BoolVar(&localOnly, "local-only", false, "run only the local-mode rows (10k and 50k alerts), and print them")
	flag.Parse()
	goBenchOut = *goBench
	if *kubeOnly {
		work, err := os.MkdirTemp("", "amtenant-bench")
		if err == nil {
			defer os.RemoveAll(work)
			var rows []result
			if rows, err = kubernetesMode(*amBin, *sidecarBin, *apiserverBin, work, *window); err == nil {
				fmt.Print(render(rows))
				return
			}
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
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
	if err := run(*amBin, *sidecarBin, *apiserverBin, *out, *window); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type result struct{ name, value, target string }

var goBenchOut, profileDir string

// quick stops the run after its 10k-alert rows; localOnly after the
// local-mode rows.
var quick, localOnly bool

// sidecarFlags are every run's: a fixed poll interval (these rows measure
// the sidecar's cost per poll; the budget's effect has rows of its own).
var sidecarFlags = []string{"--poll.interval=2s", "--notify.group-wait=1s", "--notify.group-interval=1s",
	"--alertmanager.restart-grace=0s", "--security.tenant-deny-cidrs=169.254.0.0/16", "--log.level=warn",
	"--poll.alertmanager-cpu-budget=0", "--web.enable-pprof"}

// pair is a fresh Alertmanager and sidecar, so that each peak RSS is the
// scenario's own.
type pair struct {
	am    *harness.Alertmanager
	sc    *harness.Process
	scURL string
}

func (p *pair) stop() {
	if p.sc != nil {
		p.sc.Stop()
	}
	p.am.Proc.Stop()
}

// startPair starts Alertmanager and a sidecar with args in work.
func startPair(amBin, sidecarBin, work string, args ...string) (*pair, error) {
	am, err := startAlertmanager(amBin, work)
	if err != nil {
		return nil, err
	}
	p := &pair{am: am}
	p.sc, p.scURL, err = startSidecar(sidecarBin, work, append(append([]string{"--alertmanager.url=" + am.URL, "--namespace=monitoring"}, sidecarFlags...), args...)...)
	if err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func run(amBin, sidecarBin, apiserverBin, out string, window time.Duration) error {
	work, err := os.MkdirTemp("", "amtenant-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	var res []result

	// Local mode, one admin channel: the smallest useful sidecar.
	fmt.Println("local mode, 1 admin channel...")
	rows, err := localAdminOnly(amBin, sidecarBin, filepath.Join(work, "local-1"))
	if err != nil {
		return fmt.Errorf("local mode, 1 channel: %w", err)
	}
	res = append(res, rows...)

	// Local mode, 100 tenant channels and the admin channel.
	fmt.Println("local mode, 100 tenant channels + 1 admin...")
	rows, err = localTenants(amBin, sidecarBin, filepath.Join(work, "local-100"), window)
	if err != nil {
		return fmt.Errorf("local mode, 100 tenants: %w", err)
	}
	res = append(res, rows...)
	if quick || localOnly {
		fmt.Print(render(res))
		return nil
	}

	// Kubernetes mode against a real kube-apiserver.
	fmt.Println("Kubernetes mode, 1 admin channel, then 100 tenant channels + 1 admin...")
	rows, err = kubernetesMode(amBin, sidecarBin, apiserverBin, filepath.Join(work, "kube"), window)
	if err != nil {
		return fmt.Errorf("Kubernetes mode: %w", err)
	}
	res = append(res, rows...)
	res = append(res, decodeRatio())

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

// local is a local-mode pair whose objects are n tenant namespaces with a
// channel each and the admin channel, all sending to one sink, measured
// once idle.
type local struct {
	*pair
	sink      *sink
	idle      int64
	closeSink func()
}

func startLocal(amBin, sidecarBin, work string, n int) (*local, error) {
	if err := os.MkdirAll(work, 0o700); err != nil {
		return nil, err
	}
	l := &local{sink: newSink()}
	sinkURL, closeSink, err := serve(l.sink)
	if err != nil {
		return nil, err
	}
	l.closeSink = closeSink
	objDir := filepath.Join(work, "objects")
	if err := writeObjects(objDir, sinkURL, n); err != nil {
		closeSink()
		return nil, err
	}
	if l.pair, err = startPair(amBin, sidecarBin, work, "--objects.dir="+objDir); err != nil {
		closeSink()
		return nil, err
	}
	if l.idle, err = settledRSS(l.scURL, l.sc.Pid()); err != nil {
		l.stop()
		return nil, err
	}
	return l, nil
}

func (l *local) stop() {
	l.pair.stop()
	l.closeSink()
}

// localAdminOnly is local mode with only the admin channel: idle RSS, then
// a 10k-alert storm's peak.
func localAdminOnly(amBin, sidecarBin, work string) ([]result, error) {
	l, err := startLocal(amBin, sidecarBin, work, 0)
	if err != nil {
		return nil, err
	}
	defer l.stop()
	alerts := gen(0, 10000, time.Now().Add(-time.Minute))
	if _, err := storm(l.pair, "admin-10k", alerts, l.sink.adminAlerts); err != nil {
		return nil, err
	}
	return []result{
		{"idle RSS, local mode, 1 admin channel", mib(l.idle), "≤ 40 MiB"},
		{"peak RSS, 10k alerts, 1 admin channel (local mode)", mib(rss(l.sc.Pid(), "VmHWM")), "≤ 64 MiB"},
	}, nil
}

// localTenants is the main local-mode run: 100 tenant channels and the
// admin channel, at 10k and then 50k alerts.
func localTenants(amBin, sidecarBin, work string, window time.Duration) ([]result, error) {
	l, err := startLocal(amBin, sidecarBin, work, tenants)
	if err != nil {
		return nil, err
	}
	defer l.stop()
	res := []result{{"idle RSS, local mode, 100 tenant channels + 1 admin", mib(l.idle), ""}}
	rows, err := underLoad(l.pair, l.sink, "local mode", window, true)
	return append(res, rows...), err
}

// kubernetesMode starts a kube-apiserver and etcd, runs the sidecar
// against it with the admin channel only (idle RSS), then adds 100 tenant
// namespaces with a channel each and loads it like the local run.
func kubernetesMode(amBin, sidecarBin, apiserverBin, work string, window time.Duration) ([]result, error) {
	if err := os.MkdirAll(work, 0o700); err != nil {
		return nil, err
	}
	c, err := harness.StartCluster(apiserverBin, work)
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	sink := newSink()
	sinkURL, closeSink, err := serve(sink)
	if err != nil {
		return nil, err
	}
	defer closeSink()
	ctx := context.Background()
	if err := createNamespace(ctx, c, "monitoring"); err != nil {
		return nil, err
	}
	if err := createChannel(ctx, c, "monitoring", "all", map[string]string{"amtenant.io/scope": "all"},
		map[string]string{"type": "webhook", "url": sinkURL + "/all", "max_alerts": "50"}); err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(work, "kubeconfig")
	if err := c.WriteKubeconfig(kubeconfig, ""); err != nil {
		return nil, err
	}
	p, err := startPair(amBin, sidecarBin, work, "--kubeconfig="+kubeconfig)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	idle, err := settledRSS(p.scURL, p.sc.Pid())
	if err != nil {
		return nil, err
	}
	res := []result{{"idle RSS, Kubernetes mode, 1 admin channel", mib(idle), "≤ 40 MiB"}}
	for i := range tenants {
		ns := fmt.Sprintf("team-%03d", i)
		if err := createNamespace(ctx, c, ns); err != nil {
			return nil, err
		}
		if err := createChannel(ctx, c, ns, "hook", nil, map[string]string{"type": "webhook", "url": fmt.Sprintf("%s/t/%03d", sinkURL, i)}); err != nil {
			return nil, err
		}
	}
	if err := waitFor(60*time.Second, func() bool {
		v, _ := harness.Metric(p.scURL, `amtenant_channels{state="valid",type="webhook"}`)
		return v == tenants+1
	}); err != nil {
		return nil, fmt.Errorf("the 101 channels were not all built: %w", err)
	}
	rows, err := underLoad(p, sink, "Kubernetes mode", window, false)
	return append(res, rows...), err
}

func createNamespace(ctx context.Context, c *harness.Cluster, name string) error {
	_, err := c.Admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	return err
}

func createChannel(ctx context.Context, c *harness.Cluster, ns, name string, labels, data map[string]string) error {
	l := map[string]string{"amtenant.io/channel": ""}
	maps.Copy(l, labels)
	_, err := c.Admin.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: l},
		StringData: data,
	}, metav1.CreateOptions{})
	return err
}

// settledRSS is the sidecar's RSS once it has polled twice more.
func settledRSS(scURL string, pid int) (int64, error) {
	if err := harness.WaitPolls(context.Background(), scURL, 2); err != nil {
		return 0, err
	}
	return rss(pid, "VmRSS"), nil
}

// storm posts alerts and waits until delivered() counts them all; it
// returns how long that took.
func storm(p *pair, name string, alerts []alertJSON, delivered func() int) (time.Duration, error) {
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
				if v, _ := harness.Metric(p.scURL, "go_memstats_heap_inuse_bytes"); v > most {
					most = v
					_ = save(p.scURL+"/debug/pprof/heap", filepath.Join(profileDir, "heap-peak-"+name+".pprof"))
				}
			}
		}()
	} else {
		close(peakDone)
	}
	defer func() { close(stopPeak); <-peakDone }()
	if err := post(p.am.URL, alerts); err != nil {
		return 0, err
	}
	want := len(alerts)
	if err := waitFor(120*time.Second, func() bool { return delivered() >= want }); err != nil {
		return 0, fmt.Errorf("storm: %w (got %d of %d)", err, delivered(), want)
	}
	return time.Since(begin), nil
}

// underLoad runs a 10k-alert storm over the tenant channels, measures the
// steady state at 10k and then at 50k alerts, and reports the peaks
// against Alertmanager's own; latency adds the probes of one new alert
// with 10k in the background.
func underLoad(p *pair, sink *sink, mode string, window time.Duration, latency bool) ([]result, error) {
	fmt.Printf("%s: posting a 10k-alert storm over 100 tenants...\n", mode)
	alerts := gen(0, 10000, time.Now().Add(-time.Minute))
	took, err := storm(p, "10k-"+strings.Fields(mode)[0], alerts, sink.tenantAlerts)
	if err != nil {
		return nil, err
	}
	var res []result
	res = append(res, result{fmt.Sprintf("10k-alert storm over 100 tenant channels, POST to all delivered (%s)", mode), took.Round(10 * time.Millisecond).String(), "≤ 10 s"})
	cpuRatio, perPoll, meanPoll, err := measure(p.am.URL, p.scURL, p.am.Proc.Pid(), p.sc.Pid(), alerts, window)
	if err != nil {
		return nil, err
	}
	sc10, am10 := rss(p.sc.Pid(), "VmHWM"), rss(p.am.Proc.Pid(), "VmHWM")
	res = append(res,
		result{fmt.Sprintf("sidecar CPU / Alertmanager CPU over the same window, 10k alerts (%s)", mode), fmt.Sprintf("%.3f", cpuRatio), "≤ 0.10"},
		result{fmt.Sprintf("sidecar CPU per poll, 10k alerts (%s)", mode), perPoll.Round(time.Millisecond).String(), ""},
		result{fmt.Sprintf("poll duration (mean), 10k alerts (%s)", mode), meanPoll.Round(time.Millisecond).String(), ""},
		result{fmt.Sprintf("peak RSS, 10k alerts, 100 tenant channels + 1 admin (%s)", mode), mib(sc10), "≤ 64 MiB"},
		result{fmt.Sprintf("Alertmanager peak RSS, 10k alerts, same run (%s)", mode), mib(am10), ""},
		result{fmt.Sprintf("sidecar / Alertmanager peak RSS, 10k alerts (%s)", mode), fmt.Sprintf("%.2f", float64(sc10)/float64(am10)), "≤ 0.5"})

	if profileDir != "" && latency {
		for name, path := range map[string]string{"heap.pprof": "/debug/pprof/heap", "allocs.pprof": "/debug/pprof/allocs", "cpu.pprof": "/debug/pprof/profile?seconds=10"} {
			if err := save(p.scURL+path, filepath.Join(profileDir, name)); err != nil {
				return nil, err
			}
		}
	}
	if quick {
		return res, nil
	}
	if latency {
		var lat []time.Duration
		for i := range 5 {
			name := fmt.Sprintf("LatencyProbe%d", i)
			t0 := time.Now()
			if err := post(p.am.URL, []alertJSON{{Labels: map[string]string{"alertname": name, "namespace": "team-000"}, StartsAt: t0, EndsAt: t0.Add(5 * time.Minute)}}); err != nil {
				return nil, err
			}
			if err := waitFor(30*time.Second, func() bool { return sink.seen(name) }); err != nil {
				return nil, fmt.Errorf("latency probe: %w", err)
			}
			lat = append(lat, time.Since(t0))
		}
		res = append(res, result{fmt.Sprintf("new alert POST → channel, 10k in the background (5 probes, max; %s)", mode), maxDur(lat).Round(10 * time.Millisecond).String(),
			"≤ poll interval + 0.5 s = 2.5 s (includes the channel's 1 s group wait)"})
	}

	fmt.Printf("%s: posting 40k more alerts...\n", mode)
	more := gen(10000, 40000, time.Now().Add(-time.Minute))
	if _, err := storm(p, "50k-"+strings.Fields(mode)[0], more, func() int { return sink.tenantAlerts() - len(alerts) }); err != nil {
		return nil, err
	}
	all := append(alerts, more...)
	cpuRatio50, perPoll50, meanPoll50, err := measure(p.am.URL, p.scURL, p.am.Proc.Pid(), p.sc.Pid(), all, window)
	if err != nil {
		return nil, err
	}
	sc50, am50 := rss(p.sc.Pid(), "VmHWM"), rss(p.am.Proc.Pid(), "VmHWM")
	res = append(res,
		result{fmt.Sprintf("sidecar CPU / Alertmanager CPU, 50k alerts (%s)", mode), fmt.Sprintf("%.3f", cpuRatio50), ""},
		result{fmt.Sprintf("sidecar CPU per poll, 50k alerts (%s)", mode), perPoll50.Round(time.Millisecond).String(), ""},
		result{fmt.Sprintf("poll duration (mean), 50k alerts (%s)", mode), meanPoll50.Round(time.Millisecond).String(), "well under the 10 s interval"},
		result{fmt.Sprintf("peak RSS, 50k alerts (%s)", mode), mib(sc50), "≤ 200 MiB"},
		result{fmt.Sprintf("Alertmanager peak RSS, 50k alerts, same run (%s)", mode), mib(am50), ""},
		result{fmt.Sprintf("sidecar / Alertmanager peak RSS, 50k alerts (%s)", mode), fmt.Sprintf("%.2f", float64(sc50)/float64(am50)), "≤ 0.5"})
	return res, nil
}

// decodeRatio is the first-poll decode of 10k alerts, the generated
// client's time over the sidecar's, from the Go benchmarks of this run.
func decodeRatio() result {
	r := result{"first-poll decode of 10k alerts vs the generated client (ns/op ratio)", "(Go benchmarks not run)", "≥ 5×"}
	raw, err := os.ReadFile(goBenchOut)
	if err != nil {
		return r
	}
	nsOp := map[string]float64{}
	for line := range strings.SplitSeq(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[3] == "ns/op" {
			v, _ := strconv.ParseFloat(f[2], 64)
			nsOp[strings.TrimSuffix(f[0], "-"+strconv.Itoa(runtime.GOMAXPROCS(0)))] = v
		}
	}
	gen, lean := nsOp["BenchmarkDecode/generated/10000"], nsOp["BenchmarkDecode/lean-first/10000"]
	if gen > 0 && lean > 0 {
		r.value = fmt.Sprintf("%.1f× faster", gen/lean)
	}
	return r
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
	b.WriteString("each scenario with a fresh pair so that every peak RSS is its own. ")
	b.WriteString("Local mode reads its channels from files; Kubernetes mode runs against a real kube-apiserver and etcd (the suite's) with the channels as Secrets. ")
	b.WriteString("The main scenarios have 100 tenant namespaces with one webhook channel each plus one admin channel for all alerts; ")
	b.WriteString("the smallest has only the admin channel. Local webhook sinks, poll interval 2 s, group wait 1 s. ")
	b.WriteString("Alerts are realistic (12 labels, 3 annotations, a generator URL); 10k are posted at once, then 40k more. ")
	b.WriteString("Alertmanager's peak RSS is that of the Alertmanager beside the sidecar in the same scenario. ")
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
	b.WriteString("Reproduce: `make bench` (builds the sidecar, Alertmanager and kube-apiserver into .cache/bin first; etcd from Debian's etcd-server). ")
	b.WriteString("`go run ./integration/bench --quick` runs only the local-mode rows, `--kube-only` the Kubernetes-mode rows, `--local-only` all the local-mode rows, `--profile-dir=DIR` saves the sidecar's heap profiles (at each storm's peak too).\n")
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

// writeObjects writes n tenant namespaces with a webhook channel each, and
// the admin channel for all alerts.
func writeObjects(dir, sinkURL string, n int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: team-%03d}\n", i)
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Secret\nmetadata: {name: hook, namespace: team-%03d, labels: {amtenant.io/channel: \"\"}}\nstringData: {type: webhook, url: \"%s/t/%03d\"}\n", i, sinkURL, i)
	}
	// Beside tenant channels, the admin channel's messages carry at most 50
	// alerts; alone, it carries them all, which the storm counts.
	maxAlerts := ", max_alerts: \"50\""
	if n == 0 {
		maxAlerts = ""
	}
	fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Secret\nmetadata: {name: all, namespace: monitoring, labels: {amtenant.io/channel: \"\", amtenant.io/scope: all}}\nstringData: {type: webhook, url: \"%s/all\"%s}\n", sinkURL, maxAlerts)
	return os.WriteFile(filepath.Join(dir, "objects.yaml"), []byte(b.String()), 0o600)
}

// sink counts alerts received on tenant channels (firing, first time).
type sink struct {
	mu     sync.Mutex
	firing map[string]bool
	// admin are the alerts received firing on the admin channel.
	admin map[string]bool
	names map[string]bool
}

func newSink() *sink {
	return &sink{firing: map[string]bool{}, admin: map[string]bool{}, names: map[string]bool{}}
}

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
		switch {
		case a.Status != "firing":
		case strings.HasPrefix(r.URL.Path, "/t/"):
			s.firing[a.Labels["uid"]] = true
		case r.URL.Path == "/all":
			s.admin[a.Labels["uid"]] = true
		}
	}
}

func (s *sink) tenantAlerts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.firing)
}

func (s *sink) adminAlerts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.admin)
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
func startAlertmanager(amBin, work string) (*harness.Alertmanager, error) {
	return harness.StartAlertmanager(amBin, work, harness.BlackholeConfig)
}

// startSidecar runs the sidecar on a loopback port chosen at run time
// with args (the listen address added), and waits until it is ready.
func startSidecar(bin, work string, args ...string) (*harness.Process, string, error) {
	port, err := harness.FreePort()
	if err != nil {
		return nil, "", err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	p, err := harness.Start(filepath.Join(work, "sidecar.log"), nil, bin, append(args, fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))...)
	if err != nil {
		return nil, "", err
	}
	if err := harness.WaitHTTP(context.Background(), url+"/readyz", 90*time.Second); err != nil {
		p.Stop()
		return nil, "", fmt.Errorf("%w\n%s", err, harness.Tail(p.Log(), 4000))
	}
	return p, url, nil
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
