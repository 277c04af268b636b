package main

import (
	"github.com/amtenant/amtenant/internal/harness"

	"fmt"
	"os"
	"path/filepath"
	"time"
)

// What polling costs Alertmanager: its CPU and peak RSS with the same
// alerts (re-posted as Prometheus does) without the sidecar, with the
// sidecar polling every 10 s, and with the default CPU budget, which
// spreads the polls out when they cost more than it allows.
const costWindow = 40 * time.Second

type costRun struct {
	cpu      time.Duration
	peakRSS  int64
	polls    float64
	interval float64
}

func runCost(amBin, sidecarBin string, n int, mode string) (costRun, error) {
	var r costRun
	work, err := os.MkdirTemp("", "amtenant-cost")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(work)
	sinkURL, closeSink, err := serve(newSink())
	if err != nil {
		return r, err
	}
	defer closeSink()
	objDir := filepath.Join(work, "objects")
	if err := writeObjects(objDir, sinkURL, tenants); err != nil {
		return r, err
	}
	am, err := startAlertmanager(amBin, work)
	if err != nil {
		return r, err
	}
	defer am.Proc.Stop()
	amURL := am.URL
	alerts := gen(0, n, time.Now().Add(-time.Minute))
	if err := post(amURL, alerts); err != nil {
		return r, err
	}
	scURL := ""
	if mode != "none" {
		args := []string{"--alertmanager.url=" + amURL, "--objects.dir=" + objDir, "--namespace=monitoring",
			"--poll.interval=10s", "--log.level=warn", "--security.tenant-deny-cidrs=169.254.0.0/16"}
		if mode == "fixed" {
			args = append(args, "--poll.alertmanager-cpu-budget=0")
		}
		sc, url, err := startSidecar(sidecarBin, work, args...)
		if err != nil {
			return r, err
		}
		defer sc.Stop()
		scURL = url
	}
	time.Sleep(5 * time.Second)
	polls0, _ := harness.Metric(scURL, harness.SuccessfulPolls)
	cpu0 := cpu(am.Proc.Pid())
	time.Sleep(costWindow / 2)
	for i := range alerts {
		alerts[i].EndsAt = time.Now().Add(5 * time.Minute)
	}
	if err := post(amURL, alerts); err != nil { // Prometheus re-sends
		return r, err
	}
	time.Sleep(costWindow / 2)
	r.cpu = cpu(am.Proc.Pid()) - cpu0
	r.peakRSS = rss(am.Proc.Pid(), "VmHWM")
	if scURL != "" {
		polls, _ := harness.Metric(scURL, harness.SuccessfulPolls)
		r.polls = polls - polls0
		r.interval, _ = harness.Metric(scURL, "amtenant_poll_interval_seconds")
	}
	return r, nil
}

// costResults measures at 1k, 10k and 50k alerts.
func costResults(amBin, sidecarBin string) ([]result, error) {
	var out []result
	for _, n := range []int{1000, 10000, 50000} {
		runs := map[string]costRun{}
		for _, mode := range []string{"none", "fixed", "adaptive"} {
			fmt.Printf("Alertmanager's cost, %d alerts, sidecar %s...\n", n, mode)
			r, err := runCost(amBin, sidecarBin, n, mode)
			if err != nil {
				return nil, fmt.Errorf("%d alerts, %s: %w", n, mode, err)
			}
			runs[mode] = r
		}
		k := fmt.Sprintf("%dk alerts", n/1000)
		none, fixed, adaptive := runs["none"], runs["fixed"], runs["adaptive"]
		perPoll := "n/a"
		if fixed.polls > 0 {
			perPoll = fmt.Sprintf("%.0f ms", (fixed.cpu-none.cpu).Seconds()*1000/fixed.polls/(float64(n)/1000))
		}
		out = append(out,
			result{fmt.Sprintf("Alertmanager CPU over %s, %s: no sidecar / polled every 10 s / default budget", costWindow, k),
				fmt.Sprintf("%s / %s / %s", none.cpu.Round(10*time.Millisecond), fixed.cpu.Round(10*time.Millisecond), adaptive.cpu.Round(10*time.Millisecond)), ""},
			result{fmt.Sprintf("Alertmanager peak RSS, %s: no sidecar / polled every 10 s / default budget", k),
				fmt.Sprintf("%s / %s / %s", mib(none.peakRSS), mib(fixed.peakRSS), mib(adaptive.peakRSS)), ""},
			result{fmt.Sprintf("Alertmanager CPU per poll per 1k alerts, %s", k), perPoll, ""},
			result{fmt.Sprintf("polls in the window, %s: every 10 s / default budget (its interval at the end)", k),
				fmt.Sprintf("%.0f / %.0f (%.0f s)", fixed.polls, adaptive.polls, adaptive.interval), ""},
		)
	}
	return out, nil
}
