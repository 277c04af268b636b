package senders

import (
	"context"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/alertmanager/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/internal/testutil"
)

// syncOne hands the channel id the given incarnations.
func syncOne(m *Manager, id string, incs ...*alert.Incarnation) {
	m.Sync(time.Now(), map[string][]*alert.Incarnation{id: incs})
}

// waitDelivered waits until n webhook notifications were delivered. Tests
// wait on the metric rather than on the sink, since the Manager's own
// bookkeeping is done when the metric moves.
func waitDelivered(t *testing.T, reg *prometheus.Registry, typ string, n float64) {
	t.Helper()
	testutil.Eventuallyf(t, 5*time.Second, func() bool { return deliveredCount(t, reg, typ) >= n },
		testutil.Say("%s notifications delivered: %v, want %v", testutil.Val(typ), func() any { return deliveredCount(t, reg, typ) }, testutil.Val(n)))
}

func TestDeliveryWebhookPayload(t *testing.T) {
	s := newSink(t, nil)
	m, reg := startManager(t, testOptions(t, NewGuard(nil)))
	const id = "team-a/hook"
	mustApply(t, m, webhookSpec(id, false, s.URL()))

	a1 := tenantOf(newInc(1, alert.Firing, "alertname", "DiskFull", "namespace", "shop", "instance", "1"), "team-a")
	a2 := tenantOf(newInc(2, alert.Firing, "alertname", "DiskFull", "namespace", "shop", "instance", "2"), "team-a")
	syncOne(m, id, a1, a2)
	waitDelivered(t, reg, "webhook", 1)

	reqs := s.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	msg := reqs[0].msg
	if msg.Receiver != id {
		t.Errorf("receiver: got %q, want %q", msg.Receiver, id)
	}
	if msg.Status != "firing" {
		t.Errorf("status: got %q, want firing", msg.Status)
	}
	if msg.GroupLabels["alertname"] != "DiskFull" || len(msg.GroupLabels) != 1 {
		t.Errorf("groupLabels: got %v, want {alertname: DiskFull}", msg.GroupLabels)
	}
	if !strings.Contains(msg.GroupKey, id) {
		t.Errorf("groupKey %q does not contain the channel", msg.GroupKey)
	}
	if len(msg.Alerts) != 2 {
		t.Fatalf("got %d alerts, want 2", len(msg.Alerts))
	}
	for _, a := range msg.Alerts {
		if a.Status != "firing" || a.Labels["tenant"] != "team-a" || a.Labels["namespace"] != "shop" {
			t.Errorf("alert: got status %q labels %v, want firing with tenant=team-a", a.Status, a.Labels)
		}
	}
	if ua := reqs[0].header.Get("User-Agent"); !strings.HasPrefix(ua, "Alertmanager/") {
		t.Errorf("User-Agent: got %q", ua)
	}

	// Resolution of one of them.
	syncOne(m, id, a1, with(a2, alert.Resolved))
	waitDelivered(t, reg, "webhook", 2)
	msg = s.requests()[1].msg
	if msg.Status != "firing" || len(msg.Alerts) != 2 {
		t.Fatalf("second message: got status %q with %d alerts, want firing with 2", msg.Status, len(msg.Alerts))
	}
	var states []string
	for _, a := range msg.Alerts {
		states = append(states, a.Labels["instance"]+"="+a.Status)
	}
	slices.Sort(states)
	if want := []string{"1=firing", "2=resolved"}; !slices.Equal(states, want) {
		t.Errorf("alert states: got %v, want %v", states, want)
	}

	// Resolution of the last one.
	syncOne(m, id, with(a1, alert.Resolved))
	waitDelivered(t, reg, "webhook", 3)
	msg = s.requests()[2].msg
	if msg.Status != "resolved" || len(msg.Alerts) != 1 || msg.Alerts[0].Status != "resolved" {
		t.Errorf("third message: got %+v, want one resolved alert", msg)
	}
	if n := testutil.MetricValue(t, reg, "amtenant_notification_latency_seconds", "type", "webhook"); n != 3 {
		t.Errorf("latency observations: got %v, want 3", n)
	}
}

func TestDeliveryCustomTenantLabel(t *testing.T) {
	s := newSink(t, nil)
	opts := testOptions(t, NewGuard(nil))
	opts.TenantLabel = "team"
	m, reg := startManager(t, opts)
	mustApply(t, m, webhookSpec("platform/hook", true, s.URL()))
	cluster := newInc(1, alert.Firing, "alertname", "NodeDown")
	owned := tenantOf(newInc(2, alert.Firing, "alertname", "PodCrash"), "team-b")
	syncOne(m, "platform/hook", cluster, owned)
	waitDelivered(t, reg, "webhook", 2)
	for _, r := range s.requests() {
		a := r.msg.Alerts[0]
		switch a.Labels["alertname"] {
		case "NodeDown":
			if _, ok := a.Labels["team"]; ok {
				t.Errorf("a cluster alert got a tenant label: %v", a.Labels)
			}
		case "PodCrash":
			if a.Labels["team"] != "team-b" {
				t.Errorf("labels: got %v, want team=team-b", a.Labels)
			}
		}
		if _, ok := a.Labels["tenant"]; ok {
			t.Errorf("the default tenant label is used: %v", a.Labels)
		}
	}
}

func TestDeliveryRetries(t *testing.T) {
	hangFirst := func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}
		w.WriteHeader(http.StatusOK)
	}
	closeFirst := func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			c, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				c.Close()
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	}
	tests := []struct {
		name         string
		respond      func(int, http.ResponseWriter, *http.Request)
		reason       string
		wantRequests int
		wantDropped  bool
	}{
		{"500 then 200", statuses(500, 200), "serverError", 2, false},
		{"503 twice then 200", statuses(503, 503, 200), "serverError", 3, false},
		{"429 then 200", statuses(429, 200), "rateLimited", 2, false},
		{"400", statuses(400), "clientError", 1, true},
		{"401", statuses(401), "authError", 1, true},
		{"hangs past the attempt timeout", hangFirst, "contextDeadlineExceeded", 2, false},
		{"connection closed", closeFirst, "other", 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// In a bubble: "nothing more" below is checked once every
			// goroutine has done what it could, on the bubble's clock.
			synctest.Test(t, func(t *testing.T) {
				mn := newMemNet(t)
				s := mn.sink("hook", tt.respond)
				opts := testOptions(t, NewGuard(nil))
				opts.AttemptTimeout = 200 * time.Millisecond
				m, reg := startMemManager(t, opts, mn)
				spec := webhookSpec("team-a/hook", false, s.URL())
				spec.Policy.GroupInterval = time.Hour // one flush
				mustApply(t, m, spec)
				syncOne(m, "team-a/hook", newInc(1, alert.Firing, "alertname", "A"))
				if tt.wantDropped {
					waitFor(t, time.Minute, "dropped", func() bool { return droppedCount(t, reg, "webhook") == 1 })
				} else {
					waitDeliveredMem(t, reg, "webhook", 1)
				}
				wantFailed := float64(tt.wantRequests - 1)
				if tt.wantDropped {
					wantFailed = 1
				}
				if got := failed(t, reg, "webhook", tt.reason); got != wantFailed {
					t.Errorf("failed{reason=%q}: got %v, want %v", tt.reason, got, wantFailed)
				}
				// Nothing more: no retry after a permanent failure, no second
				// delivery after success.
				holdsFor(t, 100*time.Millisecond, func() bool { return s.count() == tt.wantRequests },
					testutil.Say("got %d requests, want %d", s.countAny, testutil.Val(tt.wantRequests)))
				if tt.wantDropped {
					if got := deliveredCount(t, reg, "webhook"); got != 0 {
						t.Errorf("delivered: got %v, want 0", got)
					}
				} else if got := droppedCount(t, reg, "webhook"); got != 0 {
					t.Errorf("dropped: got %v, want 0", got)
				}
			})
		})
	}
}

func TestDeliveryGivesUpAfterMaxRetryDuration(t *testing.T) {
	// In a bubble: the retries' backoff and the maximum retry duration run
	// on its clock, so that a slow machine cannot turn the retries into a
	// single attempt.
	synctest.Test(t, func(t *testing.T) {
		mn := newMemNet(t)
		s := mn.sink("hook", statuses(500))
		opts := testOptions(t, NewGuard(nil))
		opts.MaxRetryDuration = 300 * time.Millisecond
		m, reg := startMemManager(t, opts, mn)
		spec := webhookSpec("team-a/hook", false, s.URL())
		spec.Policy.GroupInterval = time.Hour // one flush
		mustApply(t, m, spec)
		syncOne(m, "team-a/hook", newInc(1, alert.Firing, "alertname", "A"))
		waitFor(t, time.Minute, "dropped", func() bool { return droppedCount(t, reg, "webhook") == 1 })
		n := s.count()
		// Backoff from 10 ms, doubling with ±50 % jitter, within 300 ms:
		// at least 4 attempts.
		if n < 4 {
			t.Errorf("got %d requests, want at least 4 (retries with backoff within the maximum retry duration)", n)
		}
		if got := failed(t, reg, "webhook", "serverError"); got != float64(n) {
			t.Errorf("failed{serverError}: got %v, want one per request (%d)", got, n)
		}
		// Given up: no more requests until the next group interval.
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		if s.count() != n {
			t.Errorf("requests after giving up: %d, want %d", s.count(), n)
		}
		if got := deliveredCount(t, reg, "webhook"); got != 0 {
			t.Errorf("delivered: got %v, want 0", got)
		}
	})
}

// A notification refused (404) or given up is not lost: its group is tried
// again at the next group interval, and at once when the channel changes.
func TestDroppedNotificationTriedAgain(t *testing.T) {
	t.Run("next group interval", func(t *testing.T) {
		s := newSink(t, statuses(404, 404, 404, 200))
		m, reg := startManager(t, testOptions(t, NewGuard(nil)))
		mustApply(t, m, webhookSpec("team-a/hook", false, s.URL()))
		syncOne(m, "team-a/hook", newInc(1, alert.Firing, "alertname", "A"))
		waitDelivered(t, reg, "webhook", 1)
		if got := droppedCount(t, reg, "webhook"); got != 3 {
			t.Errorf("dropped: got %v, want 3", got)
		}
		if msg := s.requests()[3].msg; msg.Status != "firing" || len(msg.Alerts) != 1 {
			t.Errorf("delivered message: %+v, want the firing alert", msg)
		}
	})
	t.Run("the Secret is fixed", func(t *testing.T) {
		bad := newSink(t, statuses(404))
		good := newSink(t, nil)
		m, reg := startManager(t, testOptions(t, NewGuard(nil)))
		spec := webhookSpec("team-a/hook", false, bad.URL())
		spec.Policy.GroupInterval = time.Hour
		mustApply(t, m, spec)
		syncOne(m, "team-a/hook", newInc(1, alert.Firing, "alertname", "A"))
		testutil.Eventually(t, 5*time.Second, "dropped", func() bool { return droppedCount(t, reg, "webhook") == 1 })
		fixed := webhookSpec("team-a/hook", false, good.URL())
		fixed.Policy.GroupInterval = time.Hour
		mustApply(t, m, fixed)
		waitDelivered(t, reg, "webhook", 1)
		if msg := good.requests()[0].msg; msg.Status != "firing" || len(msg.Alerts) != 1 {
			t.Errorf("delivered message: %+v, want the firing alert", msg)
		}
	})
	t.Run("the global Secret changes", func(t *testing.T) {
		s := newSink(t, statuses(404, 200))
		m, reg := startManager(t, testOptions(t, NewGuard(nil)))
		spec := webhookSpec("team-a/hook", false, s.URL())
		spec.Policy.GroupInterval = time.Hour
		mustApply(t, m, spec)
		syncOne(m, "team-a/hook", newInc(1, alert.Firing, "alertname", "A"))
		testutil.Eventually(t, 5*time.Second, "dropped", func() bool { return droppedCount(t, reg, "webhook") == 1 })
		if err := m.SetGlobal(kv(KeyGlobal, "resolve_timeout: 5m\n")); err != nil {
			t.Fatal(err)
		}
		mustApply(t, m, spec) // the controller applies every channel again
		waitDelivered(t, reg, "webhook", 1)
	})
}

func TestFailingChannelDoesNotDelayOthers(t *testing.T) {
	release := make(chan struct{})
	var inBad atomic.Int32
	bad := newSink(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		inBad.Add(1)
		defer inBad.Add(-1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusInternalServerError)
	})
	good := newSink(t, nil)
	opts := testOptions(t, NewGuard(nil))
	opts.AttemptTimeout = 5 * time.Second
	m, reg := startManager(t, opts)
	defer close(release)
	mustApply(t, m, webhookSpec("team-a/bad", false, bad.URL()))
	mustApply(t, m, webhookSpec("team-a/good", false, good.URL()))
	// Two integrations of one channel are independent too.
	both := webhookSpec("team-b/both", false, "")
	both.Data = kv(KeyReceiver, "webhook_configs:\n- url: "+bad.URL()+"\n- url: "+good.URL()+"/b\n")
	mustApply(t, m, both)

	a := newInc(1, alert.Firing, "alertname", "A")
	m.Sync(time.Now(), map[string][]*alert.Incarnation{"team-a/bad": {a}, "team-a/good": {a}, "team-b/both": {a}})
	testutil.Eventuallyf(t, 5*time.Second, func() bool {
		return good.count() == 2 && deliveredCount(t, reg, "webhook") == 2 && inBad.Load() == 2
	}, testutil.Say("good sink got %d requests (want 2), %v delivered (want 2), failing endpoint holds %d (want 2)",
		good.countAny, func() any { return deliveredCount(t, reg, "webhook") }, func() any { return inBad.Load() }))
	if bad.count() != 2 {
		t.Errorf("the failing endpoint got %d requests, want 2 (both still in their first attempt)", bad.count())
	}
}

// A panicking integration is a failure, not a crash.
func TestDeliveryRecoversFromPanic(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := testOptions(t, nil)
	opts.setDefaults()
	d := newDispatch(fastPolicy(), false)
	in := integration{Notifier: panicky{}, name: "webhook"}
	tg := newTarget("team-a/x", in, d, nil, &opts, newMetrics(reg), discard())
	d.sync(time.Now(), []*alert.Incarnation{newInc(1, alert.Firing, "alertname", "A")})
	bs := d.due(time.Now().Add(time.Second), DefaultMaxInFlight)
	if len(bs) != 1 {
		t.Fatalf("got %d batches, want 1", len(bs))
	}
	tg.deliver(t.Context(), t.Context(), bs[0])
	if got := droppedCount(t, reg, "webhook"); got != 1 {
		t.Errorf("dropped: got %v, want 1", got)
	}
	if got := failed(t, reg, "webhook", "other"); got != 1 {
		t.Errorf("failed{other}: got %v, want 1", got)
	}
}

type panicky struct{}

func (panicky) Notify(context.Context, ...*types.Alert) (bool, error) { panic("boom") }
func (panicky) SendResolved() bool                                    { return false }

// The notifiers get the tracker's label maps, not copies, except labels
// that take the tenant label: those are a copy, and the tracker's stay as
// they were. The annotations are the alert's.
func TestAlertsShareMaps(t *testing.T) {
	tg := &target{opts: &Options{TenantLabel: "tenant"}}
	cluster := newInc(1, alert.Firing, "alertname", "Cluster")
	tenant := newInc(2, alert.Firing, "alertname", "Tenant", "tenant", "spoofed")
	tenant.Tenant = "team-a"
	labelled := newInc(3, alert.Firing, "alertname", "Labelled", "tenant", "team-b")
	labelled.Tenant = "team-b"
	b := &batch{firingIncs: incs(cluster, tenant, labelled)}
	same := func(a, b model.LabelSet) bool {
		return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
	}
	got := map[string]*types.Alert{}
	for _, a := range tg.alerts(b, t0) {
		got[string(a.Labels[model.AlertNameLabel])] = a
	}
	for name, inc := range map[string]*alert.Incarnation{"Cluster": cluster, "Tenant": tenant, "Labelled": labelled} {
		a := got[name]
		if a == nil {
			t.Fatalf("%s: not converted", name)
		}
		if !reflect.DeepEqual(alert.NewAnnotations(a.Annotations), inc.Annotations) {
			t.Errorf("%s: annotations %v, want %v", name, a.Annotations, inc.Annotations)
		}
		if want := name != "Tenant"; same(a.Labels, inc.Labels) != want {
			t.Errorf("%s: labels shared = %v, want %v", name, !want, want)
		}
	}
	if v := got["Tenant"].Labels["tenant"]; v != "team-a" {
		t.Errorf("tenant label = %q, want the namespace's tenant", v)
	}
	if v := tenant.Labels["tenant"]; v != "spoofed" {
		t.Errorf("the tracker's labels were changed: tenant = %q", v)
	}
}
