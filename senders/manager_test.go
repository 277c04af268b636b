package senders

import (
	"context"
	"encoding/base64"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
	_ "time/tzdata"

	"github.com/prometheus/client_golang/prometheus"
	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/channel"
	"github.com/amtenant/amtenant/internal/testutil"
	pol "github.com/amtenant/amtenant/policy"
)

// builtOf returns the channel currently built for id.
func builtOf(m *Manager, id string) *builtChannel {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.channels[id]
}

func TestApplySameSpecIsNoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet(t)
		s := n.sink("hook", nil)
		m, reg := startMemManager(t, testOptions(t, NewGuard(nil)), n)
		spec := webhookSpec("team-a/hook", false, s.URL())
		types, err := m.Apply(spec)
		if err != nil || !slices.Equal(types, []string{"webhook"}) {
			t.Fatalf("Apply: got %v, %v", types, err)
		}
		first := builtOf(m, spec.ID)
		// A copy of the spec, as the informer hands a new object.
		again := spec
		again.Data = kv("type", "webhook", "url", s.URL())
		types, err = m.Apply(again)
		if err != nil || !slices.Equal(types, []string{"webhook"}) {
			t.Fatalf("second Apply: got %v, %v", types, err)
		}
		if builtOf(m, spec.ID) != first {
			t.Error("applying the same spec rebuilt the channel")
		}
		syncOne(m, spec.ID, newInc(1, alert.Firing, "alertname", "A"))
		waitDeliveredMem(t, reg, "webhook", 1)
		holdsFor(t, 100*time.Millisecond, func() bool { return s.count() == 1 }, testutil.Say("got %d requests, want 1", s.countAny))
	})
}

func TestApplyEditKeepsDeliveryState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet(t)
		s := n.sink("hook", nil)
		m, reg := startMemManager(t, testOptions(t, NewGuard(nil)), n)
		const id = "team-a/hook"
		mustApply(t, m, webhookSpec(id, false, s.URL()))
		a := newInc(1, alert.Firing, "alertname", "A")
		syncOne(m, id, a)
		waitDeliveredMem(t, reg, "webhook", 1)
		before := builtOf(m, id)

		edits := []channel.Spec{
			webhookSpec(id, false, s.URL(), "max_alerts", "10"),
			webhookSpec(id, false, s.URL()+"/moved"),
		}
		longer := webhookSpec(id, false, s.URL()+"/moved")
		longer.Policy.GroupWait = 30 * time.Millisecond
		edits = append(edits, longer)
		for i, spec := range edits {
			mustApply(t, m, spec)
			if builtOf(m, id) == before {
				t.Fatalf("edit %d: the channel was not rebuilt", i)
			}
			before = builtOf(m, id)
			syncOne(m, id, a)
			holdsFor(t, 100*time.Millisecond, func() bool { return s.count() == 1 },
				testutil.Say("edit %d: got %d requests, want 1: an edit notified an already notified alert again", testutil.Val(i), s.countAny))
		}

		// The edited channel delivers new alerts, to its new URL.
		syncOne(m, id, a, newInc(2, alert.Firing, "alertname", "B"))
		waitDeliveredMem(t, reg, "webhook", 2)
		waitForf(t, time.Minute, func() bool { return s.count() == 2 }, testutil.Say("got %d requests, want 2", s.countAny))
		req := s.requests()[1]
		if req.uri != "/moved" {
			t.Errorf("second request to %q, want the new URL's /moved", req.uri)
		}
		if msg := req.msg; len(msg.Alerts) != 1 || msg.Alerts[0].Labels["alertname"] != "B" {
			t.Errorf("second message: got %+v, want alert B only", msg.Alerts)
		}
	})
}

func TestApplyInvalidUpdateKeepsOld(t *testing.T) {
	s := newSink(t, nil)
	m, reg := startManager(t, testOptions(t, NewGuard(nil)))
	const id = "team-a/hook"
	mustApply(t, m, webhookSpec(id, false, s.URL()))
	old := builtOf(m, id)

	bad := webhookSpec(id, false, s.URL(), "send_resolved", "maybe")
	types, err := m.Apply(bad)
	if err == nil {
		t.Fatal("Apply of an invalid update: got no error")
	}
	for _, w := range []string{id + ":", "send_resolved", "the previous configuration keeps delivering"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if !slices.Equal(types, []string{"webhook"}) {
		t.Errorf("types: got %v, want [webhook]", types)
	}
	if builtOf(m, id) != old {
		t.Error("the invalid update replaced the working channel")
	}
	if got := testutil.MetricValue(t, reg, "amtenant_channels", "type", "webhook", "state", "invalid"); got != 1 {
		t.Errorf("amtenant_channels{webhook,invalid}: got %v, want 1", got)
	}

	syncOne(m, id, newInc(1, alert.Firing, "alertname", "A"))
	waitDelivered(t, reg, "webhook", 1)
	if s.count() != 1 {
		t.Errorf("got %d requests, want 1", s.count())
	}
}

func TestApplyRevertAfterInvalidUpdate(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewManager(testOptions(t, NewGuard(nil)), reg)
	good := webhookSpec("team-a/hook", false, "http://hook.example/")
	mustApply(t, m, good)
	if _, err := m.Apply(webhookSpec("team-a/hook", false, "http://hook.example/", "send_resolved", "maybe")); err == nil {
		t.Fatal("invalid update: got no error")
	}
	mustApply(t, m, good)
	if got := testutil.MetricValue(t, reg, "amtenant_channels", "type", "webhook", "state", "invalid"); got != 0 {
		t.Errorf("amtenant_channels{webhook,invalid} after the revert: got %v, want 0", got)
	}
	if got := testutil.MetricValue(t, reg, "amtenant_channels", "type", "webhook", "state", "valid"); got != 1 {
		t.Errorf("amtenant_channels{webhook,valid}: got %v, want 1", got)
	}
}

func TestApplyBeforeStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet(t)
		s := n.sink("hook", nil)
		m, reg := newMemManager(t, testOptions(t, NewGuard(nil)), n)
		mustApply(t, m, webhookSpec("team-a/hook", false, s.URL()))
		syncOne(m, "team-a/hook", newInc(1, alert.Firing, "alertname", "A"))
		time.Sleep(time.Hour) // far more than the group wait, on the bubble's clock
		synctest.Wait()
		if s.count() != 0 {
			t.Fatal("delivered before Start")
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		m.Start(ctx)
		defer m.Stop(time.Second)
		waitFor(t, time.Minute, "delivered after Start", func() bool { return deliveredCount(t, reg, "webhook") == 1 })
	})
}

func TestRemoveStopsDeliveries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mn := newMemNet(t)
		s := mn.sink("hook", nil)
		m, reg := startMemManager(t, testOptions(t, NewGuard(nil)), mn)
		const id = "team-a/hook"
		spec := webhookSpec(id, false, s.URL())
		spec.Policy.GroupWait = 5 * time.Millisecond
		spec.Policy.RepeatInterval = 40 * time.Millisecond
		mustApply(t, m, spec)
		syncOne(m, id, newInc(1, alert.Firing, "alertname", "A"))
		// Repeats are running.
		waitDeliveredMem(t, reg, "webhook", 2)
		m.Remove(id)
		m.Remove("team-a/never-applied")
		if builtOf(m, id) != nil {
			t.Fatal("the channel is still there")
		}
		if got := testutil.MetricValue(t, reg, "amtenant_channels", "type", "webhook", "state", "valid"); got != 0 {
			t.Errorf("amtenant_channels{webhook,valid}: got %v, want 0", got)
		}
		// A notification in flight at Remove may still finish.
		waitForf(t, time.Minute, func() bool { return float64(s.count()) == deliveredCount(t, reg, "webhook") },
			testutil.Say("requests in flight after Remove: %d received, %v delivered", s.countAny, func() any { return deliveredCount(t, reg, "webhook") }))
		n := s.count()
		syncOne(m, id, newInc(2, alert.Firing, "alertname", "B"))
		holdsFor(t, 200*time.Millisecond, func() bool { return s.count() == n },
			testutil.Say("got %d requests after Remove, want %d", s.countAny, testutil.Val(n)))
	})
}

// In a bubble: the sink holds the request for 300 ms of the bubble's
// clock, which moves only while Stop waits, so that a Stop that did not
// wait would find nothing delivered however slow the machine.
func TestStopWaitsForInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mn := newMemNet(t)
		started := make(chan struct{}, 1)
		s := mn.sink("hook", func(_ int, w http.ResponseWriter, _ *http.Request) {
			started <- struct{}{}
			time.Sleep(300 * time.Millisecond)
			w.WriteHeader(http.StatusOK)
		})
		opts := testOptions(t, NewGuard(nil))
		opts.AttemptTimeout = 5 * time.Second
		m, reg := startMemManager(t, opts, mn)
		mustApply(t, m, webhookSpec("team-a/hook", false, s.URL()))
		syncOne(m, "team-a/hook", newInc(1, alert.Firing, "alertname", "A"))
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatal("no request")
		}
		m.Stop(5 * time.Second)
		if got := deliveredCount(t, reg, "webhook"); got != 1 {
			t.Errorf("delivered when Stop returned: got %v, want 1", got)
		}
	})
}

func TestStopGraceCancelsInFlight(t *testing.T) {
	started := make(chan struct{}, 1)
	s := newSink(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		w.WriteHeader(http.StatusOK)
	})
	opts := testOptions(t, NewGuard(nil))
	opts.AttemptTimeout = 10 * time.Second
	m, reg := startManager(t, opts)
	mustApply(t, m, webhookSpec("team-a/hook", false, s.URL()))
	syncOne(m, "team-a/hook", newInc(1, alert.Firing, "alertname", "A"))
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("no request")
	}
	begin := time.Now()
	m.Stop(100 * time.Millisecond)
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("Stop took %s with a 100ms grace", d)
	}
	if got := deliveredCount(t, reg, "webhook"); got != 0 {
		t.Errorf("delivered: got %v, want 0", got)
	}
	// Canceled at shutdown is neither a failure to report nor a drop.
	if got := droppedCount(t, reg, "webhook"); got != 0 {
		t.Errorf("dropped: got %v, want 0", got)
	}
}

// Sync replaces incarnations while deliveries read them; the race
// detector must find nothing. The syncs go on until three deliveries
// were made meanwhile, rather than for a fixed time that a slow machine
// could spend before the first delivery.
func TestSyncDuringDeliveries(t *testing.T) {
	s := newSink(t, nil)
	m, reg := startManager(t, testOptions(t, NewGuard(nil)))
	spec := webhookSpec("team-a/hook", false, s.URL())
	spec.Policy.GroupWait = time.Millisecond
	spec.Policy.RepeatInterval = 2 * time.Millisecond
	mustApply(t, m, spec)
	a := newInc(1, alert.Firing, "alertname", "A")
	deadline := time.Now().Add(10 * time.Second)
	for deliveredCount(t, reg, "webhook") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("deliveries while syncing: %v within 10s, want 3", deliveredCount(t, reg, "webhook"))
		}
		for range 100 {
			syncOne(m, spec.ID, with(a, alert.Firing))
			runtime.Gosched()
		}
	}
}

func TestChannelsGauge(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewManager(testOptions(t, NewGuard(nil)), reg)
	apply := func(id string, data map[string][]byte, wantErr bool) {
		t.Helper()
		_, err := m.Apply(channel.Spec{ID: id, Data: data, Policy: fastPolicy()})
		if (err != nil) != wantErr {
			t.Fatalf("Apply(%s): got error %v, want error %t", id, err, wantErr)
		}
	}
	apply("platform/hook", kv("type", "webhook", "url", "http://hook.example/"), false)
	apply("team-a/slack", kv("type", "slack", "api_url", "https://hooks.slack.com/services/x"), false)
	apply("team-a/both", kv(KeyReceiver, "webhook_configs: [{url: 'http://a.example/'}]\nemail_configs: [{to: a@example.org, from: b@example.org, smarthost: 'smtp.example.org:25'}]\n"), false)
	apply("team-b/bad", kv("type", "webhook", "send_resolved", "maybe"), true)
	apply("team-b/pigeon", kv("type", "carrierpigeon"), true)
	apply("team-b/pigeon2", kv(KeyReceiver, "carrierpigeon_configs: [{}]"), true)
	apply("team-b/empty", kv("url", "http://x.example/"), true)
	apply("team-b/secret-type", kv("type", secret), true)

	gauge := func(typ, state string) float64 {
		return testutil.MetricValue(t, reg, "amtenant_channels", "type", typ, "state", state)
	}
	check := func(want map[[2]string]float64) {
		t.Helper()
		for k, v := range want {
			if got := gauge(k[0], k[1]); got != v {
				t.Errorf("amtenant_channels{type=%q,state=%q}: got %v, want %v", k[0], k[1], got, v)
			}
		}
	}
	check(map[[2]string]float64{
		{"webhook", "valid"}:   2,
		{"slack", "valid"}:     1,
		{"email", "valid"}:     1,
		{"webhook", "invalid"}: 1,
		{"unknown", "invalid"}: 4,
		{"slack", "invalid"}:   0,
		{"unknown", "valid"}:   0,
	})
	// Known types are exported at zero.
	n, err := promtestutil.GatherAndCount(reg, "amtenant_channels")
	if err != nil {
		t.Fatal(err)
	}
	if want := 2*len(KnownTypes()) + 1; n != want {
		t.Errorf("amtenant_channels series: got %d, want %d (every known type in both states, and unknown)", n, want)
	}

	m.Remove("team-b/bad")
	apply("team-b/pigeon", kv("type", "webhook", "url", "http://fixed.example/"), false)
	check(map[[2]string]float64{
		{"webhook", "valid"}:   3,
		{"webhook", "invalid"}: 0,
		{"unknown", "invalid"}: 3,
	})

	// Label values stay bounded and free of secrets.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if strings.Contains(lp.GetValue(), secret) {
					t.Errorf("%s has the secret in label %s", mf.GetName(), lp.GetName())
				}
			}
		}
	}
}

func TestMetricsInitialisedAndLintClean(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewManager(testOptions(t, nil), reg)
	n, err := promtestutil.GatherAndCount(reg, "amtenant_notifications_failed_total")
	if err != nil {
		t.Fatal(err)
	}
	// denied and Alertmanager's seven reasons, for every type.
	if want := 8 * len(KnownTypes()); n != want {
		t.Errorf("amtenant_notifications_failed_total series: got %d, want %d", n, want)
	}
	for _, name := range []string{"amtenant_notifications_total", "amtenant_notifications_dropped_total"} {
		if n, _ := promtestutil.GatherAndCount(reg, name); n != len(KnownTypes()) {
			t.Errorf("%s series: got %d, want %d", name, n, len(KnownTypes()))
		}
	}
	problems, err := promtestutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// Global defaults: the same global.yaml is inherited in full by admin
// channels and without credentials that would follow a tenant's own
// endpoint by tenant channels.
const globalYAML = `
smtp_smarthost: %s
smtp_from: alertmanager@example.org
smtp_auth_username: relay-user
smtp_auth_password: s3cr3t-smtp-pass
smtp_require_tls: false
`

func TestGlobalEmailInheritance(t *testing.T) {
	relay := newSMTPSink(t)
	own := newSMTPSink(t)
	m, reg := startManager(t, testOptions(t, NewGuard(nil)))
	if err := m.SetGlobal(kv(KeyGlobal, strings.ReplaceAll(globalYAML, "%s", relay.addr()))); err != nil {
		t.Fatalf("SetGlobal: %v", err)
	}
	specs := []channel.Spec{
		{ID: "platform/mail", Trusted: true, Data: kv("type", "email", "to", "ops@example.org"), Policy: fastPolicy()},
		{ID: "team-a/mail", Data: kv("type", "email", "to", "team-a@example.org"), Policy: fastPolicy()},
		{ID: "team-b/mail", Data: kv("type", "email", "to", "team-b@example.org", "smarthost", own.addr()), Policy: fastPolicy()},
	}
	byChannel := map[string][]*alert.Incarnation{}
	for _, s := range specs {
		mustApply(t, m, s)
		byChannel[s.ID] = []*alert.Incarnation{newInc(1, alert.Firing, "alertname", "A")}
	}
	m.Sync(time.Now(), byChannel)
	waitDelivered(t, reg, "email", 3)

	conns, mails, auths, froms := relay.snapshot()
	if conns != 2 || mails != 2 {
		t.Errorf("relay: got %d connections and %d mails, want 2 (admin and tenant without smarthost)", conns, mails)
	}
	if want := []string{"relay-user:s3cr3t-smtp-pass", "relay-user:s3cr3t-smtp-pass"}; !slices.Equal(auths, want) {
		t.Errorf("relay AUTH: got %q, want %q", auths, want)
	}
	for _, f := range froms {
		if !strings.Contains(f, "alertmanager@example.org") {
			t.Errorf("relay MAIL: got %q, want the global from", f)
		}
	}
	conns, mails, auths, froms = own.snapshot()
	if conns != 1 || mails != 1 {
		t.Errorf("tenant's own smarthost: got %d connections and %d mails, want 1", conns, mails)
	}
	if len(auths) != 0 {
		t.Errorf("tenant's own smarthost received the global SMTP credentials: %q", auths)
	}
	if len(froms) != 1 || !strings.Contains(froms[0], "alertmanager@example.org") {
		t.Errorf("tenant's own smarthost MAIL: got %q, want the global from", froms)
	}
}

func TestGlobalHTTPConfigInheritance(t *testing.T) {
	tests := []struct {
		name       string
		httpConfig string
		wantHeader string
	}{
		{"authorization", "authorization: {credentials: s3cr3t-bearer-XYZ}", "Bearer s3cr3t-bearer-XYZ"},
		{"basic_auth", "basic_auth: {username: admin, password: s3cr3t-basic-XYZ}", "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:s3cr3t-basic-XYZ"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, nil)
			m, reg := startManager(t, testOptions(t, NewGuard(nil)))
			global := "http_config:\n  " + tt.httpConfig + "\n  http_headers: {X-Admin: {secrets: [s3cr3t-header-XYZ]}}\n"
			if err := m.SetGlobal(kv(KeyGlobal, global)); err != nil {
				t.Fatalf("SetGlobal: %v", err)
			}
			mustApply(t, m, webhookSpec("platform/hook", true, s.URL()+"/admin"))
			mustApply(t, m, webhookSpec("team-a/hook", false, s.URL()+"/tenant"))
			a := newInc(1, alert.Firing, "alertname", "A")
			m.Sync(time.Now(), map[string][]*alert.Incarnation{"platform/hook": {a}, "team-a/hook": {a}})
			waitDelivered(t, reg, "webhook", 2)
			for _, r := range s.requests() {
				switch r.msg.Receiver {
				case "platform/hook":
					if got := r.header.Get("Authorization"); got != tt.wantHeader {
						t.Errorf("admin webhook: Authorization %q, want %q", got, tt.wantHeader)
					}
					if got := r.header.Get("X-Admin"); got != "s3cr3t-header-XYZ" {
						t.Errorf("admin webhook: X-Admin %q, want the global header", got)
					}
				case "team-a/hook":
					if got := r.header.Get("Authorization"); got != "" {
						t.Errorf("tenant webhook received the global credentials: Authorization %q", got)
					}
					if got := r.header.Get("X-Admin"); got != "" {
						t.Errorf("tenant webhook received the global headers: X-Admin %q", got)
					}
				default:
					t.Errorf("unexpected receiver %q", r.msg.Receiver)
				}
			}
		})
	}
}

func TestSetGlobal(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewManager(testOptions(t, NewGuard(nil)), reg)
	mail := channel.Spec{ID: "platform/mail", Trusted: true, Data: kv("type", "email", "to", "ops@example.org"), Policy: fastPolicy()}

	// No global yet: email has no smarthost.
	if _, err := m.Apply(mail); err == nil || !strings.Contains(err.Error(), "smarthost") {
		t.Fatalf("Apply without a global: got %v, want an error about the smarthost", err)
	}
	// The global section may come wrapped in "global:".
	if err := m.SetGlobal(kv(KeyGlobal, "global:\n  smtp_smarthost: smtp.example.org:25\n  smtp_from: am@example.org\n")); err != nil {
		t.Fatalf("SetGlobal: %v", err)
	}
	// The same spec is built again against the new global.
	mustApply(t, m, mail)

	for _, tt := range []struct {
		name string
		yaml string
		want string
	}{
		{"invalid YAML", "smtp_smarthost: [" + secret + "\n", "invalid YAML"},
		{"wrong type", "smtp_require_tls: " + secret + "\n", "global.yaml"},
		{"invalid value", "smtp_smarthost: " + secret + "\n", "global.yaml"},
		{"not a mapping", "- " + secret + "\n", "global.yaml"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := m.SetGlobal(kv(KeyGlobal, tt.yaml))
			if err == nil {
				t.Fatal("SetGlobal: got no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error contains the secret: %q", err)
			}
			// The previous defaults are in effect.
			other := mail
			other.ID = "platform/mail-" + strings.ReplaceAll(tt.name, " ", "-")
			if _, err := m.Apply(other); err != nil {
				t.Errorf("Apply after a failed SetGlobal: %v", err)
			}
		})
	}

	// An empty global Secret clears the defaults.
	if err := m.SetGlobal(nil); err != nil {
		t.Fatalf("SetGlobal(nil): %v", err)
	}
	if _, err := m.Apply(mail); err == nil {
		t.Error("Apply after clearing the global: got no error")
	}
}

// Stop while batches are being started; the race detector must find
// nothing. Nothing may tie the start of a batch to Stop (that would hide
// the race this looks for), so the point where Stop comes varies; but
// managers are made until enough of them had started a batch by the time
// they stopped (it is delivered within the grace), so that the test
// cannot pass by stopping every manager before its first batch.
func TestStopWhileBatchesStart(t *testing.T) {
	s := newSink(t, nil)
	const want = 50
	started, i := 0, 0
	for ; started < want; i++ {
		if i == 1000 {
			t.Fatalf("only %d of %d managers started a batch before they stopped, want %d", started, i, want)
		}
		reg := prometheus.NewRegistry()
		m := NewManager(testOptions(t, NewGuard(nil)), reg)
		spec := webhookSpec("team-a/hook", false, s.URL())
		spec.Policy.GroupWait = 0
		spec.Policy.RepeatInterval = time.Microsecond
		mustApply(t, m, spec)
		m.Start(context.Background())
		syncOne(m, spec.ID, newInc(1, alert.Firing, "alertname", "A"))
		for range i % 5 {
			runtime.Gosched()
		}
		m.Stop(time.Second)
		if deliveredCount(t, reg, "webhook") > 0 {
			started++
		}
	}
	t.Logf("%d of %d managers had started a batch when they stopped", started, i)
}

// Fixing a channel whose notification is being retried stops the retries
// against the old configuration and delivers through the new one at once,
// not at the next repeat.
func TestApplyFixWhileRetrying(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet(t)
		broken := n.sink("broken", statuses(http.StatusInternalServerError))
		fixed := n.sink("fixed", nil)
		opts := testOptions(t, NewGuard(nil))
		opts.MaxRetryDuration = time.Hour
		m, reg := startMemManager(t, opts, n)
		mustApply(t, m, webhookSpec("team-a/hook", false, broken.URL()))
		syncOne(m, "team-a/hook", newInc(1, alert.Firing, "alertname", "A"))
		waitFor(t, time.Minute, "retries against the broken URL", func() bool { return broken.count() >= 2 })
		mustApply(t, m, webhookSpec("team-a/hook", false, fixed.URL()))
		waitFor(t, time.Minute, "delivered through the fix", func() bool { return deliveredCount(t, reg, "webhook") == 1 })
		if fixed.count() != 1 {
			t.Errorf("the fixed URL got %d requests, want 1", fixed.count())
		}
		n0 := broken.count()
		// Longer than the longest backoff (1 minute): a retry left would
		// have come.
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if broken.count() != n0 {
			t.Errorf("retries against the old URL went on after the fix: %d more", broken.count()-n0)
		}
	})
}

// Removing a channel stops its retries.
func TestRemoveStopsRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet(t)
		broken := n.sink("broken", statuses(http.StatusInternalServerError))
		opts := testOptions(t, NewGuard(nil))
		opts.MaxRetryDuration = time.Hour
		m, _ := startMemManager(t, opts, n)
		mustApply(t, m, webhookSpec("team-a/hook", false, broken.URL()))
		syncOne(m, "team-a/hook", newInc(1, alert.Firing, "alertname", "A"))
		waitFor(t, time.Minute, "retries", func() bool { return broken.count() >= 2 })
		m.Remove("team-a/hook")
		synctest.Wait()
		n0 := broken.count()
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if broken.count() != n0 {
			t.Errorf("retries went on after the channel was removed: %d more", broken.count()-n0)
		}
	})
}

// A change of a channel's mute window alone takes effect: it is part of
// what makes a channel's version, and parsed twice it is the same.
func TestApplyMuteChange(t *testing.T) {
	m := NewManager(testOptions(t, NewGuard(nil)), nil)
	spec := webhookSpec("team-a/hook", false, "http://127.0.0.1:1/")
	if _, err := m.Apply(spec); err != nil {
		t.Fatal(err)
	}
	first := builtOf(m, spec.ID)
	muted := spec
	var err error
	if muted.Policy.Mute.Mute, err = pol.ParseIntervals("- weekdays: [saturday]\n  location: Europe/Berlin\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(muted); err != nil {
		t.Fatal(err)
	}
	second := builtOf(m, spec.ID)
	if second == first {
		t.Fatal("a new mute window did not rebuild the channel")
	}
	for _, tg := range second.targets {
		if tg.d.policy.Mute.IsZero() {
			t.Error("the integration's policy has no mute window")
		}
	}
	again := spec
	again.Policy.Mute.Mute, _ = pol.ParseIntervals("- weekdays: [saturday]\n  location: Europe/Berlin\n")
	if _, err := m.Apply(again); err != nil {
		t.Fatal(err)
	}
	if builtOf(m, spec.ID) != second {
		t.Error("the same mute window parsed again rebuilt the channel")
	}
}
