package explain

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/poller"
	"github.com/amtenant/amtenant/replication"
	"github.com/amtenant/amtenant/senders"
	"github.com/amtenant/amtenant/tenancy"
)

// fakeAlerts returns fixed alerts and records the last query.
type fakeAlerts struct {
	tracked []poller.Tracked

	mu    sync.Mutex
	calls int
	ms    labels.Matchers
	fp    string
}

func (f *fakeAlerts) Find(ms labels.Matchers, fp string) []poller.Tracked {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.ms, f.fp = ms, fp
	return f.tracked
}

func (f *fakeAlerts) query() (int, labels.Matchers, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.ms, f.fp
}

// fakeRoutes returns the same route for every alert.
type fakeRoutes struct{ route tenancy.Route }

func (f fakeRoutes) Explain(model.LabelSet, time.Time) tenancy.Route { return f.route }

// fakeDeliveries returns the states of each channel and records which
// channels were asked about.
type fakeDeliveries struct {
	states map[string][]senders.IntegrationState

	mu    sync.Mutex
	asked []string
}

func (f *fakeDeliveries) Explain(channel, fp string) ([]senders.IntegrationState, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, channel+" "+fp)
	s, ok := f.states[channel]
	return s, ok
}

var (
	now       = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	startedAt = now.Add(-time.Hour)
)

func firingAlert() poller.Tracked {
	return poller.Tracked{Incarnation: alert.Incarnation{
		Alert: alert.Alert{
			Fingerprint: "abc",
			Labels:      model.LabelSet{"alertname": "X", "namespace": "team-a"},
			StartsAt:    startedAt,
		},
		ID:     7,
		Status: alert.Firing,
	}}
}

func routedTo(channels ...tenancy.Verdict) tenancy.Route {
	return tenancy.Route{Tenant: "alpha", TenantReason: "namespace team-a belongs to alpha", Channels: channels}
}

var (
	hookRouted    = tenancy.Verdict{Channel: "team-a/hook", Routed: true, Reason: "the tenant's channel"}
	otherUnrouted = tenancy.Verdict{Channel: "team-b/hook", Routed: false, Reason: "belongs to tenant beta"}
)

func delivered() senders.IntegrationState {
	return senders.IntegrationState{
		Integration:  "webhook[0]",
		SendResolved: true,
		Known:        true,
		Incarnation:  7,
		Notified:     true,
		LastNotified: now.Add(-10 * time.Minute),
		NextRepeat:   now.Add(4*time.Hour - 10*time.Minute),
		LastAttempt:  &senders.Attempt{At: now.Add(-10 * time.Minute), Attempts: 1, Outcome: senders.OutcomeDelivered},
	}
}

func TestBuildSummary(t *testing.T) {
	tests := []struct {
		name       string
		tracked    func(*poller.Tracked)
		route      tenancy.Route
		states     []senders.IntegrationState
		wantStatus string
		// wantPrefix, if set, must start the summary; every want must be
		// in it.
		wantPrefix string
		want       []string
	}{
		{
			name:       "delivered",
			route:      routedTo(hookRouted, otherUnrouted),
			states:     []senders.IntegrationState{delivered()},
			wantStatus: "firing",
			want: []string{"team-a/hook webhook[0]: delivered at " + ts(now.Add(-10*time.Minute)) +
				"; next repeat at " + ts(now.Add(4*time.Hour-10*time.Minute))},
		},
		{
			name: "silenced",
			tracked: func(tr *poller.Tracked) {
				tr.Status = alert.Suppressed
				tr.SilencedBy = []string{"sil-1", "sil-2"}
			},
			route:      routedTo(hookRouted),
			states:     []senders.IntegrationState{{Integration: "webhook[0]", Known: true}},
			wantStatus: "suppressed",
			wantPrefix: "held back: silenced by sil-1, sil-2",
			want:       []string{"not sent while suppressed"},
		},
		{
			name: "inhibited",
			tracked: func(tr *poller.Tracked) {
				tr.Status = alert.Suppressed
				tr.InhibitedBy = []string{"def"}
			},
			route:      routedTo(hookRouted),
			states:     []senders.IntegrationState{{Integration: "webhook[0]", Known: true}},
			wantStatus: "suppressed",
			wantPrefix: "held back: inhibited by the alert(s) def",
		},
		{
			name: "held by a tenant policy",
			route: routedTo(tenancy.Verdict{Channel: "team-a/hook", Routed: true, Reason: "the tenant's own channel",
				Held: "silenced by team-a/quiet until Mon 2025-06-02 08:00 UTC"}),
			states:     []senders.IntegrationState{{Integration: "webhook[0]", Known: true}},
			wantStatus: "firing",
			wantPrefix: "team-a/hook: held back: silenced by team-a/quiet until Mon 2025-06-02 08:00 UTC",
		},
		{
			name:       "suppressed without ids",
			tracked:    func(tr *poller.Tracked) { tr.Status = alert.Suppressed },
			route:      routedTo(hookRouted),
			wantStatus: "suppressed",
			wantPrefix: "held back: suppressed in Alertmanager",
		},
		{
			name: "resolving",
			tracked: func(tr *poller.Tracked) {
				tr.MissingSince = now.Add(-10 * time.Second)
				tr.ResolveAt = now.Add(20 * time.Second)
			},
			route:      routedTo(hookRouted),
			states:     []senders.IntegrationState{delivered()},
			wantStatus: "resolving",
			wantPrefix: "absent since " + ts(now.Add(-10*time.Second)),
			want:       []string{"counts as resolved at " + ts(now.Add(20*time.Second)), "resolve grace"},
		},
		{
			name: "resolving while resolutions are held",
			tracked: func(tr *poller.Tracked) {
				tr.MissingSince = now.Add(-10 * time.Second)
				tr.ResolveAt = now.Add(20 * time.Second)
				tr.HoldUntil = now.Add(time.Minute)
			},
			route:      routedTo(hookRouted),
			states:     []senders.IntegrationState{delivered()},
			wantStatus: "resolving",
			want:       []string{"resolutions are held until " + ts(now.Add(time.Minute))},
		},
		{
			name: "resolved is not resolving",
			tracked: func(tr *poller.Tracked) {
				tr.Status = alert.Resolved
				tr.MissingSince = now.Add(-time.Minute)
				tr.ResolvedAt = now.Add(-30 * time.Second)
			},
			route: routedTo(hookRouted),
			states: []senders.IntegrationState{
				{Integration: "webhook[0]", Known: true, SendResolved: true, ResolvedSent: true},
				{Integration: "webhook[1]"},
			},
			wantStatus: "resolved",
			want: []string{
				"team-a/hook webhook[0]: resolution delivered",
				"team-a/hook webhook[1]: nothing pending",
			},
		},
		{
			name:       "no channel routed",
			route:      routedTo(otherUnrouted),
			wantStatus: "firing",
			wantPrefix: "no channel receives it",
		},
		{
			name:       "no channels at all",
			route:      routedTo(),
			wantStatus: "firing",
			wantPrefix: "no channel Secret exists",
		},
		{
			name:  "denied destination",
			route: routedTo(hookRouted),
			states: []senders.IntegrationState{{
				Integration: "webhook[0]", Known: true,
				LastAttempt: &senders.Attempt{At: now, Attempts: 1, Outcome: senders.OutcomeDropped, Reason: "denied",
					Error: "destination denied for tenant channels: 169.254.169.254"},
			}},
			wantStatus: "firing",
			want:       []string{"may not reach", "169.254.169.254"},
		},
		{
			name:  "dropped",
			route: routedTo(hookRouted),
			states: []senders.IntegrationState{{
				Integration: "webhook[0]", Known: true,
				LastAttempt: &senders.Attempt{At: now, Attempts: 1, Outcome: senders.OutcomeDropped, Reason: "clientError",
					Error: "unexpected status code 400"},
			}},
			wantStatus: "firing",
			want:       []string{"dropped after 1 attempt(s) (clientError): unexpected status code 400; still pending, tried again at the group's next flush"},
		},
		{
			name:  "dropped repeat",
			route: routedTo(hookRouted),
			states: []senders.IntegrationState{func() senders.IntegrationState {
				s := delivered()
				s.LastAttempt = &senders.Attempt{At: now, Attempts: 3, Outcome: senders.OutcomeDropped, Reason: "serverError", Error: "boom"}
				s.DueAt = now.Add(5 * time.Minute)
				return s
			}()},
			wantStatus: "firing",
			want:       []string{"last notification dropped (serverError): boom; tried again at the group's next flush at " + ts(now.Add(5*time.Minute))},
		},
		{
			name:  "retrying",
			route: routedTo(hookRouted),
			states: []senders.IntegrationState{{
				Integration: "webhook[0]", Known: true, InFlight: true,
				LastAttempt: &senders.Attempt{At: now, Attempts: 3, Outcome: senders.OutcomeRetrying, Reason: "serverError",
					Error: "unexpected status code 503"},
			}},
			wantStatus: "firing",
			want:       []string{"retrying after 3 failed attempt(s), last serverError: unexpected status code 503"},
		},
		{
			name:       "being sent",
			route:      routedTo(hookRouted),
			states:     []senders.IntegrationState{{Integration: "webhook[0]", Known: true, InFlight: true}},
			wantStatus: "firing",
			want:       []string{"webhook[0]: being sent"},
		},
		{
			name:  "group wait",
			route: routedTo(hookRouted),
			states: []senders.IntegrationState{{
				Integration: "webhook[0]", Known: true,
				PendingSince: now.Add(-5 * time.Second), DueAt: now.Add(5 * time.Second),
			}},
			wantStatus: "firing",
			want:       []string{"waiting for the group's next flush (group wait, then group interval) at " + ts(now.Add(5*time.Second))},
		},
		{
			name:  "due now",
			route: routedTo(hookRouted),
			states: []senders.IntegrationState{{
				Integration: "webhook[0]", Known: true,
				PendingSince: now.Add(-15 * time.Second), DueAt: now.Add(-5 * time.Second),
			}},
			wantStatus: "firing",
			want:       []string{"webhook[0]: due now"},
		},
		{
			name:       "not synced",
			route:      routedTo(hookRouted),
			states:     []senders.IntegrationState{{Integration: "webhook[0]"}},
			wantStatus: "firing",
			want:       []string{"not yet synced to this channel"},
		},
		{
			name: "two routed channels",
			route: routedTo(hookRouted, otherUnrouted,
				tenancy.Verdict{Channel: "monitoring/all", Routed: true, Reason: "scope all"}),
			states:     []senders.IntegrationState{delivered()},
			wantStatus: "firing",
			want:       []string{"team-a/hook webhook[0]: delivered at", "; monitoring/all webhook[0]: delivered at"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := firingAlert()
			if tt.tracked != nil {
				tt.tracked(&tr)
			}
			a := &fakeAlerts{tracked: []poller.Tracked{tr}}
			d := &fakeDeliveries{states: map[string][]senders.IntegrationState{}}
			for _, c := range tt.route.Channels {
				d.states[c.Channel] = tt.states
			}
			rep := Build(a, fakeRoutes{tt.route}, d, nil, "abc", now)
			if len(rep.Alerts) != 1 {
				t.Fatalf("got %d alert reports, want 1", len(rep.Alerts))
			}
			ar := rep.Alerts[0]
			if ar.Status != tt.wantStatus {
				t.Errorf("Status = %q, want %q", ar.Status, tt.wantStatus)
			}
			if !strings.HasPrefix(ar.Summary, tt.wantPrefix) {
				t.Errorf("Summary = %q, want it to start with %q", ar.Summary, tt.wantPrefix)
			}
			for _, w := range tt.want {
				if !strings.Contains(ar.Summary, w) {
					t.Errorf("Summary = %q, want it to contain %q", ar.Summary, w)
				}
			}
			// Only routed channels are asked about their deliveries.
			for _, q := range d.asked {
				if strings.HasPrefix(q, otherUnrouted.Channel+" ") {
					t.Errorf("Deliveries asked about unrouted channel: %q", q)
				}
				if !strings.HasSuffix(q, " abc") {
					t.Errorf("Deliveries asked with the wrong fingerprint: %q", q)
				}
			}
			if len(ar.Channels) != len(tt.route.Channels) {
				t.Errorf("got %d channel reports, want %d", len(ar.Channels), len(tt.route.Channels))
			}
		})
	}
}

func TestBuildCopiesAlert(t *testing.T) {
	tr := firingAlert()
	tr.SilencedBy = []string{"sil-1"}
	a := &fakeAlerts{tracked: []poller.Tracked{tr}}
	d := &fakeDeliveries{states: map[string][]senders.IntegrationState{"team-a/hook": {delivered()}}}
	rep := Build(a, fakeRoutes{routedTo(hookRouted, otherUnrouted)}, d, nil, "abc", now)
	if len(rep.Alerts) != 1 {
		t.Fatalf("got %d alert reports, want 1", len(rep.Alerts))
	}
	ar := rep.Alerts[0]
	if ar.Fingerprint != "abc" || ar.Incarnation != 7 || !ar.StartsAt.Equal(startedAt) {
		t.Errorf("identity = %s/%d/%s", ar.Fingerprint, ar.Incarnation, ar.StartsAt)
	}
	if ar.Labels["alertname"] != "X" || ar.Labels["namespace"] != "team-a" || len(ar.Labels) != 2 {
		t.Errorf("Labels = %v", ar.Labels)
	}
	if ar.Tenant != "alpha" || ar.TenantReason == "" {
		t.Errorf("tenant = %q (%q)", ar.Tenant, ar.TenantReason)
	}
	if len(ar.SilencedBy) != 1 {
		t.Errorf("SilencedBy = %v", ar.SilencedBy)
	}
	if len(ar.Channels) != 2 || len(ar.Channels[0].Integrations) != 1 || len(ar.Channels[1].Integrations) != 0 {
		t.Errorf("Channels = %+v", ar.Channels)
	}
	if d.asked[0] != "team-a/hook abc" || len(d.asked) != 1 {
		t.Errorf("Deliveries asked %v", d.asked)
	}

	if rep := Build(&fakeAlerts{}, fakeRoutes{}, d, nil, "none", now); len(rep.Alerts) != 0 {
		t.Errorf("Build without alerts = %+v", rep)
	}
}

func TestSummarizeDirect(t *testing.T) {
	tr := firingAlert()
	tr.Status = alert.Suppressed
	tr.SilencedBy = []string{"s1"}
	// A silenced alert that no channel receives says both.
	ar := AlertReport{Status: "suppressed", Channels: []ChannelReport{{Verdict: otherUnrouted}}}
	got := summarize(ar, tr, now)
	want := "held back: silenced by s1; no channel receives it (see each channel's reason)"
	if got != want {
		t.Errorf("summarize = %q, want %q", got, want)
	}
	// A firing alert routed to a channel without integrations has nothing
	// to say.
	tr = firingAlert()
	ar = AlertReport{Status: "firing", Channels: []ChannelReport{{Verdict: hookRouted}}}
	if got := summarize(ar, tr, now); got != "" {
		t.Errorf("summarize = %q, want empty", got)
	}
}

func TestRenderEmpty(t *testing.T) {
	var buf bytes.Buffer
	Render(&buf, Report{Query: `alertname="Nope"`})
	if !strings.HasPrefix(buf.String(), `No alert matching "alertname=\"Nope\""`) {
		t.Errorf("Render = %q", buf.String())
	}
}

func TestRender(t *testing.T) {
	dropped := delivered()
	dropped.Integration = "webhook[1]"
	dropped.LastAttempt = &senders.Attempt{At: now, Attempts: 2, Outcome: senders.OutcomeDropped, Reason: "serverError", Error: "boom"}
	dropped.Failing, dropped.LastFailure, dropped.DueAt = true, dropped.LastAttempt, now.Add(5*time.Minute)
	neverSent := senders.IntegrationState{
		Integration: "webhook[2]", Known: true,
		LastAttempt: &senders.Attempt{At: now, Attempts: 1, Outcome: senders.OutcomeDropped, Reason: "denied", Error: "destination denied"},
	}
	rep := Report{Alerts: []AlertReport{
		{
			Fingerprint: "abc", Incarnation: 7, Labels: map[string]string{"namespace": "team-a", "alertname": "X"},
			Status: "suppressed", StartsAt: startedAt, SilencedBy: []string{"sil-1"}, InhibitedBy: []string{"def"},
			Tenant: "alpha", TenantReason: "namespace team-a belongs to alpha",
			Channels: []ChannelReport{
				{Verdict: hookRouted, Integrations: []senders.IntegrationState{delivered(), dropped, neverSent, {Integration: "email[0]", SendResolved: true}}},
				{Verdict: otherUnrouted},
				{Verdict: tenancy.Verdict{Channel: "team-a/muted", Routed: true, Reason: "the tenant's own channel", Held: "channel muted until Mon 2025-06-02 08:00 UTC"}},
			},
			Summary: "the summary",
		},
		{Fingerprint: "def", Labels: map[string]string{"alertname": "Y"}, Status: "firing", StartsAt: startedAt, Summary: "no channel Secret exists"},
	}}
	var buf bytes.Buffer
	Render(&buf, rep)
	out := buf.String()
	lineWith := func(prefix string) string {
		t.Helper()
		for line := range strings.SplitSeq(out, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), prefix) {
				return line
			}
		}
		t.Errorf("no line starting with %q in\n%s", prefix, out)
		return ""
	}
	for _, w := range []string{
		`Alert {alertname="X", namespace="team-a"} (fingerprint abc, incarnation 7)`,
		"status:  suppressed, since " + ts(startedAt),
		"silenced by sil-1",
		"inhibited by def",
		"tenant:  alpha: namespace team-a belongs to alpha",
		"    + team-a/hook: the tenant's channel\n",
		"    - team-b/hook: belongs to tenant beta\n",
		"summary: the summary",
		"    + team-a/muted: the tenant's own channel\n        held: channel muted until Mon 2025-06-02 08:00 UTC\n",
		"tenant:  (none: cluster alert)",
		"(no channel Secret exists)",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("Render output lacks %q:\n%s", w, out)
		}
	}
	if l := lineWith("webhook[0]:"); !strings.Contains(l, "notified at "+ts(now.Add(-10*time.Minute))) ||
		!strings.Contains(l, "next repeat "+ts(now.Add(4*time.Hour-10*time.Minute))) {
		t.Errorf("delivered integration: %q", l)
	}
	if l := lineWith("webhook[1]:"); strings.Contains(l, "notified at") || !strings.Contains(l, "not delivered") ||
		!strings.Contains(l, "(serverError: boom)") ||
		!strings.Contains(l, "the integration is failing: last failure "+ts(now)+" (serverError: boom); next attempt "+ts(now.Add(5*time.Minute))) {
		t.Errorf("integration whose last attempt was dropped: %q", l)
	}
	if l := lineWith("webhook[2]:"); strings.Contains(l, "notified at") || !strings.Contains(l, "dropped after 1 attempt(s) (denied: destination denied)") ||
		!strings.Contains(l, "does not send resolutions") {
		t.Errorf("integration that never delivered: %q", l)
	}
	if l := lineWith("email[0]:"); !strings.Contains(l, "holds nothing about this alert") || strings.Contains(l, "does not send resolutions") {
		t.Errorf("unknown integration: %q", l)
	}
}

func TestHandler(t *testing.T) {
	tr := firingAlert()
	d := &fakeDeliveries{states: map[string][]senders.IntegrationState{"team-a/hook": {delivered()}}}
	tests := []struct {
		name       string
		query      url.Values
		wantCode   int
		wantBody   string
		wantCalled bool
		check      func(t *testing.T, ms labels.Matchers, fp string)
	}{
		{name: "no parameters", wantCode: http.StatusBadRequest, wantBody: "give ?match="},
		{
			name: "unparsable match", query: url.Values{"match": {`alertname=~"(`}},
			wantCode: http.StatusBadRequest, wantBody: "match: ",
		},
		{
			name: "two matchers", query: url.Values{"match": {`alertname="X",namespace="a"`}},
			wantCode: http.StatusOK, wantCalled: true,
			check: func(t *testing.T, ms labels.Matchers, fp string) {
				if len(ms) != 2 || fp != "" {
					t.Fatalf("Find(%v, %q), want two matchers and no fingerprint", ms, fp)
				}
				if ms[0].Name != "alertname" || ms[0].Value != "X" || ms[0].Type != labels.MatchEqual ||
					ms[1].Name != "namespace" || ms[1].Value != "a" {
					t.Errorf("matchers = %v", ms)
				}
			},
		},
		{
			name: "braces", query: url.Values{"match": {`{alertname="X", namespace="a"}`}},
			wantCode: http.StatusOK, wantCalled: true,
			check: func(t *testing.T, ms labels.Matchers, fp string) {
				if len(ms) != 2 {
					t.Errorf("matchers = %v, want two", ms)
				}
			},
		},
		{
			name: "fingerprint", query: url.Values{"fingerprint": {"abc"}},
			wantCode: http.StatusOK, wantCalled: true,
			check: func(t *testing.T, ms labels.Matchers, fp string) {
				if len(ms) != 0 || fp != "abc" {
					t.Errorf("Find(%v, %q), want no matchers and fingerprint abc", ms, fp)
				}
			},
		},
		{
			name: "comma inside quotes", query: url.Values{"match": {`team=~"a,b"`}},
			wantCode: http.StatusOK, wantCalled: true,
			check: func(t *testing.T, ms labels.Matchers, fp string) {
				if len(ms) != 1 || ms[0].Name != "team" || ms[0].Value != "a,b" || ms[0].Type != labels.MatchRegexp {
					t.Fatalf("matchers = %v, want one team=~\"a,b\"", ms)
				}
				if !ms[0].Matches("a,b") || ms[0].Matches("a") {
					t.Errorf("matcher %v does not match as a regexp for \"a,b\"", ms[0])
				}
			},
		},
		{
			name: "escaped quote", query: url.Values{"match": {`summary="a\",b",severity="critical"`}},
			wantCode: http.StatusOK, wantCalled: true,
			check: func(t *testing.T, ms labels.Matchers, fp string) {
				if len(ms) != 2 || ms[0].Value != `a",b` || ms[1].Value != "critical" {
					t.Errorf("matchers = %v, want summary=\"a\\\",b\" and severity", ms)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &fakeAlerts{tracked: []poller.Tracked{tr}}
			srv := httptest.NewServer(Handler(a, fakeRoutes{routedTo(hookRouted)}, d, nil, func() time.Time { return now }))
			defer srv.Close()
			resp, err := http.Get(srv.URL + Path + "?" + tt.query.Encode())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body bytes.Buffer
			if _, err := body.ReadFrom(resp.Body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantCode, body.String())
			}
			if !strings.Contains(body.String(), tt.wantBody) {
				t.Errorf("body %q, want it to contain %q", body.String(), tt.wantBody)
			}
			calls, ms, fp := a.query()
			if (calls > 0) != tt.wantCalled {
				t.Fatalf("Find called %d times, want called=%v", calls, tt.wantCalled)
			}
			if tt.wantCode != http.StatusOK {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var rep Report
			if err := json.Unmarshal(body.Bytes(), &rep); err != nil {
				t.Fatalf("decode %s: %v", body.String(), err)
			}
			wantQuery := strings.TrimSpace(tt.query.Get("match") + " " + tt.query.Get("fingerprint"))
			if rep.Query != wantQuery {
				t.Errorf("Query = %q, want %q", rep.Query, wantQuery)
			}
			if len(rep.Alerts) != 1 || rep.Alerts[0].Fingerprint != "abc" || !strings.Contains(rep.Alerts[0].Summary, "delivered at") ||
				len(rep.Alerts[0].Channels) != 1 || rep.Alerts[0].Channels[0].Channel != "team-a/hook" {
				t.Errorf("report = %+v", rep)
			}
			tt.check(t, ms, fp)
		})
	}
}

func TestSplitMatchers(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{``, nil},
		{`a="1"`, []string{`a="1"`}},
		{` a="1" , b!="2" ,`, []string{`a="1"`, `b!="2"`}},
		{`team=~"a,b",x="y"`, []string{`team=~"a,b"`, `x="y"`}},
		{`s="a\",b",x="y"`, []string{`s="a\",b"`, `x="y"`}},
	}
	for _, tt := range tests {
		got := splitMatchers(tt.in)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("splitMatchers(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestHandlerEmptySelector: a match that parses to no matchers selects
// nothing specific, so it must be refused like a missing one rather than
// list every tracked alert.
func TestHandlerEmptySelector(t *testing.T) {
	for _, match := range []string{"{}", " ", ","} {
		t.Run(match, func(t *testing.T) {
			a := &fakeAlerts{tracked: []poller.Tracked{firingAlert()}}
			h := Handler(a, fakeRoutes{}, &fakeDeliveries{}, nil, func() time.Time { return now })
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Path+"?"+url.Values{"match": {match}}.Encode(), nil))
			calls, _, _ := a.query()
			if rec.Code != http.StatusBadRequest || calls != 0 {
				t.Errorf("match=%q: status %d, Find called %d times; want 400 without a lookup", match, rec.Code, calls)
			}
		})
	}
}

func TestRenderReplica(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		r    Replica
		want []string
	}{
		{"leader", Replica{At: at, Leading: true, Leader: "amtenant-0"}, []string{"This replica leads"}},
		{"follower without replication", Replica{At: at, Leader: "amtenant-0"},
			[]string{"This replica follows (amtenant-0 leads)", "--replication.peer unset", "takeover window"}},
		{"follower with a complete copy", Replica{At: at, Leader: "amtenant-0", Replication: &replication.Status{
			Leader: "amtenant-0", Synced: true, SyncedSince: at.Add(-time.Hour), LastMessage: at.Add(-300 * time.Millisecond)}},
			[]string{"copy of amtenant-0's delivery record is complete", "last message 300ms ago", "complete since 2026-12-01T11:00:00Z"}},
		{"follower with an incomplete copy", Replica{At: at, Leader: "amtenant-0", Replication: &replication.Status{Lost: at.Add(-time.Minute)}},
			[]string{"incomplete (since 2026-12-01T11:59:00Z)", "takeover window stands in"}},
		{"follower that never had a copy", Replica{At: at, Replication: &replication.Status{}},
			[]string{"no replica (yet) leads", "incomplete (it never was)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			Render(&b, Report{Query: "x", Replica: &tt.r})
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}
