package senders

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/channel"
	"github.com/amtenant/amtenant/internal/testutil"
)

// A Secret declaring tens of thousands of integrations (well under
// Kubernetes' 1 MiB) is refused before anything is built for it.
func TestChannelIntegrationBound(t *testing.T) {
	var b strings.Builder
	b.WriteString("webhook_configs:\n")
	for i := range 20000 {
		fmt.Fprintf(&b, "- url: http://hook.example/%d\n", i)
	}
	if b.Len() > 1<<20 {
		t.Fatalf("the Secret is %d bytes, more than Kubernetes allows", b.Len())
	}
	m := NewManager(testOptions(t, NewGuard(nil)), nil)
	before := runtime.NumGoroutine()
	_, err := m.Apply(channel.Spec{ID: "team-a/many", Data: kv(KeyReceiver, b.String()), Policy: fastPolicy()})
	if err == nil || !strings.Contains(err.Error(), "20000 integrations, more than the 32") {
		t.Fatalf("Apply: %v, want the integration bound", err)
	}
	if n := runtime.NumGoroutine() - before; n > 5 {
		t.Errorf("%d goroutines more after refusing the channel", n)
	}
	// At the bound, it is a channel.
	b.Reset()
	b.WriteString("webhook_configs:\n")
	for i := range MaxIntegrations {
		fmt.Fprintf(&b, "- url: http://hook.example/%d\n", i)
	}
	if _, err := m.Apply(channel.Spec{ID: "team-a/enough", Data: kv(KeyReceiver, b.String()), Policy: fastPolicy()}); err != nil {
		t.Fatalf("Apply with %d integrations: %v", MaxIntegrations, err)
	}
}

// A flat Secret with thousands of unknown keys is refused at once; one with
// many fields and a wrong one names it (each field is tried alone: linear).
func TestChannelFieldBound(t *testing.T) {
	m := NewManager(testOptions(t, NewGuard(nil)), nil)
	pairs := []string{"type", "webhook", "url", "http://hook.example/"}
	for i := range 4000 {
		pairs = append(pairs, fmt.Sprintf("unknown_%d", i), "x")
	}
	_, err := m.Apply(channel.Spec{ID: "team-a/keys", Data: kv(pairs...), Policy: fastPolicy()})
	if err == nil || !strings.Contains(err.Error(), "more than the 64 an integration may set") {
		t.Fatalf("Apply: %v, want the field bound", err)
	}
	pairs = []string{"type", "webhook", "url", "http://hook.example/", "max_alerts", "many"}
	_, err = m.Apply(channel.Spec{ID: "team-a/typo", Data: kv(pairs...), Policy: fastPolicy()})
	if err == nil || !strings.Contains(err.Error(), "webhook_configs[0].max_alerts") {
		t.Fatalf("Apply: %v, want the field at fault named", err)
	}
	_, err = m.Apply(channel.Spec{ID: "team-a/unknown", Data: kv("type", "webhook", "url", "http://hook.example/", "colour", "red"), Policy: fastPolicy()})
	if err == nil || !strings.Contains(err.Error(), "webhook_configs[0].colour") {
		t.Fatalf("Apply: %v, want the unknown field named", err)
	}
}

// Building a channel never holds up the polls' syncs, explain, or other
// channels: the build runs without the manager's lock.
func TestApplyDoesNotBlockSync(t *testing.T) {
	m, _ := startManager(t, testOptions(t, NewGuard(nil)))
	s := newSink(t, nil)
	mustApply(t, m, webhookSpec("team-b/hook", false, s.URL()))
	building, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	// Released at the end in any case, so that a failure does not hang.
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	m.b.started = func(spec channel.Spec) {
		if spec.ID == "team-a/slow" {
			close(building)
			<-release
		}
	}
	applied := make(chan error, 1)
	go func() {
		_, err := m.Apply(webhookSpec("team-a/slow", false, "http://hook.example/"))
		applied <- err
	}()
	<-building
	done := make(chan struct{})
	go func() {
		defer close(done)
		syncOne(m, "team-b/hook", newInc(1, alert.Firing, "alertname", "A"))
		m.Explain("team-b/hook", "f")
		_, _ = m.Apply(webhookSpec("team-c/other", false, "http://hook.example/"))
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Sync, Explain or another channel's Apply waited for a channel being built")
	}
	once.Do(func() { close(release) })
	if err := <-applied; err != nil {
		t.Fatal(err)
	}
}

// The global Secret arriving (or changing) while a notification is in
// flight rebuilds the channels but lets that notification finish: it is
// neither canceled with a misleading "shutdown" nor sent twice.
func TestGlobalChangeLetsSendsFinish(t *testing.T) {
	// In a bubble: that nothing is sent twice is checked once every
	// goroutine has done what it could, on the bubble's clock.
	synctest.Test(t, func(t *testing.T) {
		mn := newMemNet(t)
		release := make(chan struct{})
		var once sync.Once
		s := mn.sink("hook", func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				<-release
			}
			w.WriteHeader(http.StatusOK)
		})
		opts := testOptions(t, NewGuard(nil))
		opts.AttemptTimeout = time.Minute
		m, reg := startMemManager(t, opts, mn)
		// Registered last, so run first: a failure does not leave the sink's
		// handler hanging.
		t.Cleanup(func() { once.Do(func() { close(release) }) })
		spec := webhookSpec("team-a/hook", false, s.URL())
		mustApply(t, m, spec)
		syncOne(m, spec.ID, newInc(1, alert.Firing, "alertname", "A"))
		waitFor(t, time.Minute, "in flight", func() bool { return s.count() == 1 && inFlight(m, spec.ID) })
		if err := m.SetGlobal(kv(KeyGlobal, "resolve_timeout: 5m\n")); err != nil {
			t.Fatal(err)
		}
		mustApply(t, m, spec) // the controller applies every channel again
		once.Do(func() { close(release) })
		waitDeliveredMem(t, reg, "webhook", 1)
		for range 5 {
			syncOne(m, spec.ID, newInc(1, alert.Firing, "alertname", "A"))
		}
		holdsFor(t, 200*time.Millisecond, func() bool { return s.count() == 1 }, testutil.Say("requests: %d, want 1", s.countAny))
	})
}

func inFlight(m *Manager, id string) bool {
	m.mu.Lock()
	c := m.channels[id]
	m.mu.Unlock()
	for _, tg := range c.targets {
		tg.d.mu.Lock()
		defer tg.d.mu.Unlock()
		for _, mb := range tg.d.members {
			if mb.inflight {
				return true
			}
		}
	}
	return false
}

// healthRec records delivery health reports.
type healthRec struct {
	mu  sync.Mutex
	got []string
}

func (h *healthRec) DeliveryHealth(id string, warning bool, reason, message string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, fmt.Sprintf("%s %t %s %s", id, warning, reason, message))
}

func (h *healthRec) reasons() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, g := range h.got {
		out = append(out, strings.Fields(g)[2])
	}
	return out
}

// A channel's deliveries are reported on their transitions: failing at
// the first failure, recovered at the next delivery, and each notification
// given up; never with a secret value.
func TestDeliveryHealthReports(t *testing.T) {
	t.Run("500 then 200", func(t *testing.T) {
		s := newSink(t, statuses(500, 500, 200))
		h := &healthRec{}
		m, reg := startManager(t, testOptions(t, NewGuard(nil)))
		m.SetHealth(h)
		mustApply(t, m, webhookSpec("team-a/hook", false, s.URL()+"/tok3nInThePath1234"))
		syncOne(m, "team-a/hook", newInc(1, alert.Firing, "alertname", "A"))
		waitDelivered(t, reg, "webhook", 1)
		testutil.Eventuallyf(t, 5*time.Second, func() bool { return len(h.reasons()) == 2 }, testutil.Say("reports: %v", func() any { return h.got }))
		if got := strings.Join(h.reasons(), ","); got != ReasonDeliveryFailing+","+ReasonDeliveryRecovered {
			t.Errorf("reports: %v, want failing once then recovered", h.got)
		}
		for _, g := range h.got {
			if strings.Contains(g, "tok3nInThePath1234") {
				t.Errorf("a report shows the secret: %s", g)
			}
		}
	})
	t.Run("refused", func(t *testing.T) {
		s := newSink(t, statuses(404))
		h := &healthRec{}
		m, reg := startManager(t, testOptions(t, NewGuard(nil)))
		m.SetHealth(h)
		spec := webhookSpec("team-a/hook", false, s.URL())
		spec.Policy.GroupInterval = 100 * time.Millisecond
		mustApply(t, m, spec)
		syncOne(m, "team-a/hook", newInc(1, alert.Firing, "alertname", "A"))
		testutil.Eventually(t, 5*time.Second, "three drops", func() bool { return droppedCount(t, reg, "webhook") >= 3 })
		r := h.reasons()
		failing := 0
		for _, x := range r {
			if x == ReasonDeliveryFailing {
				failing++
			}
		}
		if failing != 1 || r[0] != ReasonDeliveryFailing || r[1] != ReasonNotificationDropped || len(r) < 4 {
			t.Errorf("reports: %v, want failing once, then one drop per attempt", h.got)
		}
	})
}
