package main

import (
	"github.com/amtenant/amtenant/internal/harness"

	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The fair-sharing load test: one noisy tenant with many channels, each
// grouping by every label, and a storm in that tenant, beside 99 quiet
// tenants with one channel each. It measures the quiet tenants' latency
// (an alert POSTed to Alertmanager until their channel has it) during the
// storm, and the sidecar's peak memory and goroutines, once with every
// limit off and once with the defaults.
const (
	noisyChannels = 400
	noisyAlerts   = 250
	quietProbes   = 20
)

// fairSink counts messages and records when each probe arrived.
type fairSink struct {
	messages atomic.Int64
	mu       sync.Mutex
	arrived  map[string]time.Time
}

func (s *fairSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.messages.Add(1)
	if strings.HasPrefix(r.URL.Path, "/quiet/") {
		var msg struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
			} `json:"alerts"`
		}
		if err := decodeJSON(r, &msg); err == nil {
			s.mu.Lock()
			for _, a := range msg.Alerts {
				if _, ok := s.arrived[a.Labels["alertname"]]; !ok {
					s.arrived[a.Labels["alertname"]] = time.Now()
				}
			}
			s.mu.Unlock()
		}
	}
}

func (s *fairSink) at(name string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.arrived[name]
	return t, ok
}

type fairResult struct {
	quietMax, quietMedian time.Duration
	peakRSS               int64
	goroutines            float64
	noisyMessages         int64
	refused               float64
}

// runFairness runs the scenario with the given extra sidecar flags.
func runFairness(amBin, sidecarBin string, flags ...string) (fairResult, error) {
	var res fairResult
	work, err := os.MkdirTemp("", "amtenant-fair")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(work)
	sink := &fairSink{arrived: map[string]time.Time{}}
	sinkURL, closeSink, err := serve(sink)
	if err != nil {
		return res, err
	}
	defer closeSink()

	objDir := filepath.Join(work, "objects")
	if err := os.MkdirAll(objDir, 0o700); err != nil {
		return res, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: noisy}\n")
	for i := range noisyChannels {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Secret\nmetadata: {name: ch-%04d, namespace: noisy, labels: {amtenant.io/channel: \"\"}, annotations: {amtenant.io/group-by: \"...\"}}\nstringData: {type: webhook, url: \"%s/noisy/%d\"}\n", i, sinkURL, i)
	}
	for i := 1; i < tenants; i++ {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: quiet-%03d}\n", i)
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Secret\nmetadata: {name: hook, namespace: quiet-%03d, labels: {amtenant.io/channel: \"\"}}\nstringData: {type: webhook, url: \"%s/quiet/%03d\"}\n", i, sinkURL, i)
	}
	if err := os.WriteFile(filepath.Join(objDir, "objects.yaml"), []byte(b.String()), 0o600); err != nil {
		return res, err
	}

	am, err := startAlertmanager(amBin, work)
	if err != nil {
		return res, err
	}
	defer am.Proc.Stop()
	amURL := am.URL
	args := append([]string{"--alertmanager.url=" + amURL, "--objects.dir=" + objDir,
		"--namespace=monitoring", "--poll.interval=1s",
		"--notify.group-wait=1s", "--notify.group-interval=5s", "--alertmanager.restart-grace=0s",
		"--security.tenant-deny-cidrs=169.254.0.0/16", "--log.level=error", "--poll.alertmanager-cpu-budget=0"}, flags...)
	sc, scURL, err := startSidecar(sidecarBin, work, args...)
	if err != nil {
		return res, err
	}
	defer sc.Stop()

	// The storm, then probes to quiet tenants while the noisy channels
	// send.
	begin := time.Now()
	storm := make([]alertJSON, 0, noisyAlerts)
	for i := range noisyAlerts {
		storm = append(storm, alertJSON{Labels: map[string]string{"alertname": "NoisyStorm", "namespace": "noisy", "pod": fmt.Sprintf("pod-%05d", i)},
			StartsAt: begin.Add(-time.Minute), EndsAt: begin.Add(10 * time.Minute)})
	}
	if err := post(amURL, storm); err != nil {
		return res, err
	}
	var lat []time.Duration
	var peakGoroutines float64
	for i := range quietProbes {
		name := fmt.Sprintf("QuietProbe%02d", i)
		t0 := time.Now()
		if err := post(amURL, []alertJSON{{Labels: map[string]string{"alertname": name, "namespace": fmt.Sprintf("quiet-%03d", 1+i%(tenants-1))},
			StartsAt: t0, EndsAt: t0.Add(10 * time.Minute)}}); err != nil {
			return res, err
		}
		if err := waitFor(120*time.Second, func() bool { _, ok := sink.at(name); return ok }); err != nil {
			return res, fmt.Errorf("quiet probe %s: %w", name, err)
		}
		at, _ := sink.at(name)
		lat = append(lat, at.Sub(t0))
		if g, err := harness.Metric(scURL, "go_goroutines"); err == nil {
			peakGoroutines = max(peakGoroutines, g)
		}
		time.Sleep(250 * time.Millisecond)
	}
	slices.Sort(lat)
	res.quietMax, res.quietMedian = lat[len(lat)-1], lat[len(lat)/2]
	res.peakRSS = rss(sc.Pid(), "VmHWM")
	res.goroutines = peakGoroutines
	res.noisyMessages = sink.messages.Load()
	res.refused, _ = harness.Metric(scURL, `amtenant_channels{state="invalid",type="webhook"}`)
	return res, nil
}

// fairnessResults runs the scenario with the limits off and on.
func fairnessResults(amBin, sidecarBin string) ([]result, error) {
	fmt.Println("fair sharing: limits off...")
	off, err := runFairness(amBin, sidecarBin, "--limits.tenant-channels=0", "--limits.channel-groups=0", "--limits.channel-notifications-per-minute=0")
	if err != nil {
		return nil, err
	}
	fmt.Println("fair sharing: default limits...")
	on, err := runFairness(amBin, sidecarBin)
	if err != nil {
		return nil, err
	}
	row := func(name string, f func(fairResult) string, target string) result {
		return result{name, f(off) + " → " + f(on), target}
	}
	return []result{
		row(fmt.Sprintf("fair sharing, limits off → default limits: quiet tenants' latency, max of %d probes, during a %d-alert storm over %d channels of one tenant", quietProbes, noisyAlerts, noisyChannels),
			func(r fairResult) string { return r.quietMax.Round(10 * time.Millisecond).String() }, "≤ poll interval + group wait + 1 s = 3 s"),
		row("fair sharing: quiet tenants' latency, median", func(r fairResult) string { return r.quietMedian.Round(10 * time.Millisecond).String() }, ""),
		row("fair sharing: sidecar peak RSS", func(r fairResult) string { return mib(r.peakRSS) }, ""),
		row("fair sharing: sidecar goroutines (peak seen)", func(r fairResult) string { return fmt.Sprintf("%.0f", r.goroutines) }, ""),
		row("fair sharing: messages sent by the end of the probes", func(r fairResult) string { return fmt.Sprint(r.noisyMessages) }, ""),
		row("fair sharing: noisy tenant's channels refused", func(r fairResult) string { return fmt.Sprintf("%.0f", r.refused) }, ""),
	}, nil
}

func decodeJSON(r *http.Request, into any) error { return json.NewDecoder(r.Body).Decode(into) }

// serve serves h on a loopback port chosen at run time.
func serve(h http.Handler) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), func() { _ = srv.Close() }, nil
}
