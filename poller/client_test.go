package poller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
)

const (
	testUptimeJSON = "2026-01-02T03:04:05.000Z"
	statusJSON     = `{"cluster":{"name":"01HX","peers":[],"status":"disabled"},` +
		`"config":{"original":"route:\n  receiver: x\n"},` +
		`"uptime":"` + testUptimeJSON + `",` +
		`"versionInfo":{"branch":"HEAD","buildDate":"","buildUser":"","goVersion":"go1.26","revision":"","version":"0.34.2"}}`
)

var testUptime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// gettableAlert renders one alert as /api/v2/alerts does. An empty state
// leaves the status out; an empty startsAt leaves startsAt out.
type gettableAlert struct {
	labels      map[string]string
	annotations map[string]string
	fingerprint string
	startsAt    string
	state       string
	silencedBy  []string
	inhibitedBy []string
	generator   string
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ",") + "]"
}

func quoteMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%q:%q", k, m[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func (g gettableAlert) JSON() string {
	var b strings.Builder
	b.WriteString(`{"labels":` + quoteMap(g.labels))
	b.WriteString(`,"annotations":` + quoteMap(g.annotations))
	if g.startsAt != "" {
		b.WriteString(`,"startsAt":"` + g.startsAt + `"`)
	}
	b.WriteString(`,"endsAt":"2026-01-02T03:10:00.000Z","updatedAt":"2026-01-02T03:05:00.123Z"`)
	if g.generator != "" {
		b.WriteString(`,"generatorURL":"` + g.generator + `"`)
	}
	if g.fingerprint != "" {
		b.WriteString(`,"fingerprint":"` + g.fingerprint + `"`)
	}
	b.WriteString(`,"receivers":[{"name":"x"}]`)
	if g.state != "" {
		fmt.Fprintf(&b, `,"status":{"state":%q,"silencedBy":%s,"inhibitedBy":%s,"mutedBy":[]}`,
			g.state, quoteList(g.silencedBy), quoteList(g.inhibitedBy))
	}
	b.WriteString("}")
	return b.String()
}

func alertsJSON(alerts ...gettableAlert) string {
	parts := make([]string, len(alerts))
	for i, a := range alerts {
		parts[i] = a.JSON()
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func activeAlert(name, fp string) gettableAlert {
	return gettableAlert{
		labels:      map[string]string{"alertname": name, "namespace": "team-a"},
		annotations: map[string]string{"summary": name + " is firing"},
		fingerprint: fp,
		startsAt:    "2026-01-02T03:00:00.000Z",
		state:       "active",
		silencedBy:  []string{},
		inhibitedBy: []string{},
	}
}

// fakeAM imitates Alertmanager's v2 API under prefix. It records the
// requests it gets.
type fakeAM struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests []*url.URL
}

func writeJSON(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

// newFakeAM serves alerts and status under prefix ("" for the root). A
// nil handler serves a valid empty list, resp. a valid status.
func newFakeAM(t *testing.T, prefix string, alerts, status http.HandlerFunc) *fakeAM {
	t.Helper()
	if alerts == nil {
		alerts = func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, "[]") }
	}
	if status == nil {
		status = func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, statusJSON) }
	}
	am := &fakeAM{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+prefix+"/api/v2/alerts", alerts)
	mux.HandleFunc("GET "+prefix+"/api/v2/status", status)
	am.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		am.mu.Lock()
		am.requests = append(am.requests, r.URL)
		am.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(am.srv.Close)
	return am
}

func (am *fakeAM) client(t *testing.T, prefix string, filter []string) *Client {
	t.Helper()
	u, err := url.Parse(am.srv.URL + prefix)
	if err != nil {
		t.Fatal(err)
	}
	return NewClient(u, filter, am.srv.Client())
}

func (am *fakeAM) requestsTo(path string) []*url.URL {
	am.mu.Lock()
	defer am.mu.Unlock()
	var out []*url.URL
	for _, u := range am.requests {
		if u.Path == path {
			out = append(out, u)
		}
	}
	return out
}

func pollCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func serveAlerts(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, body) }
}

func TestClientPollConvertsAlerts(t *testing.T) {
	silenced := activeAlert("Silenced", "00000000000000b1")
	silenced.state = "suppressed"
	silenced.silencedBy = []string{"sil-1"}
	inhibited := activeAlert("Inhibited", "00000000000000b2")
	inhibited.state = "suppressed"
	inhibited.inhibitedBy = []string{"00000000000000a1"}
	unprocSilenced := activeAlert("UnprocessedSilenced", "00000000000000b3")
	unprocSilenced.state = "unprocessed"
	unprocSilenced.silencedBy = []string{"sil-2"}
	unprocInhibited := activeAlert("UnprocessedInhibited", "00000000000000b4")
	unprocInhibited.state = "unprocessed"
	unprocInhibited.inhibitedBy = []string{"00000000000000a1"}
	unproc := activeAlert("Unprocessed", "00000000000000b5")
	unproc.state = "unprocessed"
	active := activeAlert("Active", "00000000000000a1")
	active.generator = "http://prometheus:9090/graph?g0.expr=up"

	am := newFakeAM(t, "", serveAlerts(alertsJSON(active, silenced, inhibited, unprocSilenced, unprocInhibited, unproc)), nil)
	snap, err := am.client(t, "", nil).Poll(pollCtx(t))
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if !snap.Uptime.Equal(testUptime) {
		t.Errorf("Uptime = %v, want %v", snap.Uptime, testUptime)
	}
	if len(snap.Incomplete) != 0 {
		t.Errorf("Incomplete = %v, want none", snap.Incomplete)
	}
	if len(snap.Alerts) != 6 {
		t.Fatalf("got %d alerts, want 6: %+v", len(snap.Alerts), snap.Alerts)
	}

	a := snap.Alerts[0]
	if a.Fingerprint != "00000000000000a1" {
		t.Errorf("Fingerprint = %q", a.Fingerprint)
	}
	wantLabels := model.LabelSet{"alertname": "Active", "namespace": "team-a"}
	if !reflect.DeepEqual(a.Labels, wantLabels) {
		t.Errorf("Labels = %v, want %v", a.Labels, wantLabels)
	}
	wantAnn := model.LabelSet{"summary": "Active is firing"}
	if !reflect.DeepEqual(a.Annotations, alert.NewAnnotations(wantAnn)) {
		t.Errorf("Annotations = %v, want %v", a.Annotations, wantAnn)
	}
	for _, c := range []struct {
		name      string
		got, want time.Time
	}{
		{"StartsAt", a.StartsAt, time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)},
		{"EndsAt", a.EndsAt, time.Date(2026, 1, 2, 3, 10, 0, 0, time.UTC)},
		{"UpdatedAt", a.UpdatedAt, time.Date(2026, 1, 2, 3, 5, 0, 123e6, time.UTC)},
	} {
		if !c.got.Equal(c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if a.GeneratorURL != active.generator {
		t.Errorf("GeneratorURL = %q, want %q", a.GeneratorURL, active.generator)
	}

	wantSuppressed := map[string]bool{
		"Active":               false,
		"Silenced":             true,
		"Inhibited":            true,
		"UnprocessedSilenced":  true,
		"UnprocessedInhibited": true,
		"Unprocessed":          false,
	}
	for _, a := range snap.Alerts {
		name := string(a.Labels["alertname"])
		if a.Suppressed != wantSuppressed[name] {
			t.Errorf("%s: Suppressed = %v, want %v", name, a.Suppressed, wantSuppressed[name])
		}
	}
	if got := snap.Alerts[1].SilencedBy; !reflect.DeepEqual(got, []string{"sil-1"}) {
		t.Errorf("SilencedBy = %v, want [sil-1]", got)
	}
	if got := snap.Alerts[2].InhibitedBy; !reflect.DeepEqual(got, []string{"00000000000000a1"}) {
		t.Errorf("InhibitedBy = %v, want [00000000000000a1]", got)
	}
}

func TestClientPollEmpty(t *testing.T) {
	am := newFakeAM(t, "", nil, nil)
	snap, err := am.client(t, "", nil).Poll(pollCtx(t))
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if len(snap.Alerts) != 0 || len(snap.Incomplete) != 0 || !snap.Uptime.Equal(testUptime) {
		t.Fatalf("got %+v, want no alerts and uptime %v", snap, testUptime)
	}
}

func TestClientRoutePrefix(t *testing.T) {
	for _, prefix := range []string{"/alertmanager", "/alertmanager/", "/a/b"} {
		t.Run(prefix, func(t *testing.T) {
			clean := strings.TrimSuffix(prefix, "/")
			am := newFakeAM(t, clean, serveAlerts(alertsJSON(activeAlert("A", "00000000000000a1"))), nil)
			snap, err := am.client(t, prefix, nil).Poll(pollCtx(t))
			if err != nil {
				t.Fatalf("Poll: %v", err)
			}
			if len(snap.Alerts) != 1 {
				t.Fatalf("got %d alerts, want 1", len(snap.Alerts))
			}
			if n := len(am.requestsTo(clean + "/api/v2/alerts")); n != 1 {
				t.Errorf("%d requests to %s/api/v2/alerts, want 1", n, clean)
			}
			if n := len(am.requestsTo(clean + "/api/v2/status")); n != 1 {
				t.Errorf("%d requests to %s/api/v2/status, want 1", n, clean)
			}
		})
	}
}

func TestClientRequestParameters(t *testing.T) {
	tests := []struct {
		name   string
		filter []string
	}{
		{"no filter", nil},
		{"one matcher", []string{`namespace="team-a"`}},
		{"repeated matchers", []string{`namespace=~"team-.*"`, `severity!="info"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			am := newFakeAM(t, "", nil, nil)
			if _, err := am.client(t, "", tt.filter).Poll(pollCtx(t)); err != nil {
				t.Fatalf("Poll: %v", err)
			}
			reqs := am.requestsTo("/api/v2/alerts")
			if len(reqs) != 1 {
				t.Fatalf("%d requests to /api/v2/alerts, want 1", len(reqs))
			}
			q := reqs[0].Query()
			for _, p := range []string{"active", "silenced", "inhibited", "unprocessed"} {
				if got := q[p]; !reflect.DeepEqual(got, []string{"true"}) {
					t.Errorf("query %s = %v, want [true]", p, got)
				}
			}
			if got := q["filter"]; !reflect.DeepEqual(got, tt.filter) {
				t.Errorf("filter params = %q, want %q", got, tt.filter)
			}
		})
	}
}

func TestClientPollErrors(t *testing.T) {
	text := func(code int, ct, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", ct)
			w.WriteHeader(code)
			_, _ = w.Write([]byte(body))
		}
	}
	const html = "<html><head><title>Sign in</title></head><body>login</body></html>"
	tests := []struct {
		name    string
		alerts  http.HandlerFunc
		status  http.HandlerFunc
		want    string // Result(err)
		wantOp  string
		wantMsg string // substring of err.Error()
	}{
		{
			name:    "HTTP 500 with a JSON string",
			alerts:  text(500, "application/json", `"context deadline exceeded"`),
			want:    resultHTTPError,
			wantOp:  "get alerts",
			wantMsg: "HTTP 500",
		},
		{
			name:    "HTTP 500 with plain text",
			alerts:  text(500, "text/plain; charset=utf-8", "boom\n"),
			want:    resultHTTPError,
			wantOp:  "get alerts",
			wantMsg: "HTTP 500 Internal Server Error: boom",
		},
		{
			name:    "HTTP 503",
			alerts:  text(503, "text/html", "<html>unavailable</html>"),
			want:    resultHTTPError,
			wantOp:  "get alerts",
			wantMsg: "HTTP 503 Service Unavailable",
		},
		{
			name:    "HTTP 400",
			alerts:  text(400, "application/json", `"bad matcher"`),
			want:    resultHTTPError,
			wantOp:  "get alerts",
			wantMsg: "HTTP 400 Bad Request: bad matcher",
		},
		{
			name:   "HTML page",
			alerts: text(200, "text/html; charset=utf-8", html),
			want:   resultInvalid,
			wantOp: "get alerts",
		},
		{
			name:   "unknown content type",
			alerts: text(200, "application/x-unknown", "[]"),
			want:   resultInvalid,
			wantOp: "get alerts",
		},
		{
			name:   "truncated JSON",
			alerts: text(200, "application/json", `[{"labels":{"alertname":"A"},"annot`),
			want:   resultInvalid,
			wantOp: "get alerts",
		},
		{
			name:   "JSON object instead of an array",
			alerts: text(200, "application/json", `{"alerts":[]}`),
			want:   resultInvalid,
			wantOp: "get alerts",
		},
		{
			name:   "JSON null",
			alerts: text(200, "application/json", `null`),
			want:   resultInvalid,
			wantOp: "get alerts",
		},
		{
			name:   "empty body",
			alerts: text(200, "application/json", ``),
			want:   resultInvalid,
			wantOp: "get alerts",
		},
		{
			name:    "status endpoint failing",
			status:  text(500, "application/json", `"boom"`),
			want:    resultHTTPError,
			wantOp:  "get status",
			wantMsg: "500",
		},
		{
			name:   "status without uptime",
			status: text(200, "application/json", `{"cluster":{"name":"x","peers":[],"status":"disabled"}}`),
			want:   resultInvalid,
			wantOp: "get status",
		},
		{
			name:   "status not JSON",
			status: text(200, "text/html", html),
			want:   resultInvalid,
			wantOp: "get status",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			am := newFakeAM(t, "", tt.alerts, tt.status)
			snap, err := am.client(t, "", nil).Poll(pollCtx(t))
			requirePollError(t, snap, err, tt.wantOp, tt.want)
			if tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
}

func requirePollError(t *testing.T, snap Snapshot, err error, op, result string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Poll succeeded with %+v, want an error", snap)
	}
	if !reflect.DeepEqual(snap, Snapshot{}) {
		t.Errorf("Poll returned %+v with its error, want a zero Snapshot", snap)
	}
	var pe *PollError
	if !errors.As(err, &pe) {
		t.Fatalf("error %T %v is not a *PollError", err, err)
	}
	if op != "" && pe.Op != op {
		t.Errorf("PollError.Op = %q, want %q (err: %v)", pe.Op, op, err)
	}
	if got := Result(err); got != result {
		t.Errorf("Result(%v) = %q, want %q", err, got, result)
	}
}

func TestClientConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	snap, err := NewClient(u, nil, nil).Poll(pollCtx(t))
	requirePollError(t, snap, err, "get alerts", resultUnreachable)
}

// hangingHandler blocks until the client gives up or the test ends.
func hangingHandler(t *testing.T, afterHeaders bool) http.HandlerFunc {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	return func(w http.ResponseWriter, r *http.Request) {
		if afterHeaders {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			_, _ = w.Write([]byte(`[{"labels":`))
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
}

func TestClientTimeout(t *testing.T) {
	tests := []struct {
		name   string
		alerts func(t *testing.T) http.HandlerFunc
		status func(t *testing.T) http.HandlerFunc
		op     string
	}{
		{
			name:   "alerts hang before the response",
			alerts: func(t *testing.T) http.HandlerFunc { return hangingHandler(t, false) },
			op:     "get alerts",
		},
		{
			name:   "status hangs",
			status: func(t *testing.T) http.HandlerFunc { return hangingHandler(t, false) },
			op:     "get status",
		},
		{
			name:   "alerts hang in the middle of the body",
			alerts: func(t *testing.T) http.HandlerFunc { return hangingHandler(t, true) },
			op:     "get alerts",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var alerts, status http.HandlerFunc
			if tt.alerts != nil {
				alerts = tt.alerts(t)
			}
			if tt.status != nil {
				status = tt.status(t)
			}
			am := newFakeAM(t, "", alerts, status)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			snap, err := am.client(t, "", nil).Poll(ctx)
			requirePollError(t, snap, err, tt.op, resultTimeout)
		})
	}
}

func TestClientFingerprints(t *testing.T) {
	t.Run("missing fingerprint computed from labels", func(t *testing.T) {
		a := activeAlert("NoFP", "")
		am := newFakeAM(t, "", serveAlerts(alertsJSON(a)), nil)
		snap, err := am.client(t, "", nil).Poll(pollCtx(t))
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		want := model.LabelSet{"alertname": "NoFP", "namespace": "team-a"}.Fingerprint().String()
		if len(snap.Alerts) != 1 || snap.Alerts[0].Fingerprint != want {
			t.Fatalf("got %+v, want one alert with fingerprint %s", snap.Alerts, want)
		}
	})

	t.Run("incomplete alerts", func(t *testing.T) {
		noStart := activeAlert("NoStart", "00000000000000c1")
		noStart.startsAt = ""
		noStatus := activeAlert("NoStatus", "00000000000000c2")
		noStatus.state = ""
		noStartNoFP := activeAlert("NoStartNoFP", "")
		noStartNoFP.startsAt = ""
		noLabels := activeAlert("", "00000000000000c3")
		noLabels.labels = nil
		ok := activeAlert("OK", "00000000000000c4")
		am := newFakeAM(t, "", serveAlerts(alertsJSON(noStart, noStatus, noStartNoFP, noLabels, ok)), nil)
		snap, err := am.client(t, "", nil).Poll(pollCtx(t))
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		wantIncomplete := []string{
			"00000000000000c1",
			"00000000000000c2",
			model.LabelSet{"alertname": "NoStartNoFP", "namespace": "team-a"}.Fingerprint().String(),
			"00000000000000c3",
		}
		if !reflect.DeepEqual(snap.Incomplete, wantIncomplete) {
			t.Errorf("Incomplete = %v, want %v", snap.Incomplete, wantIncomplete)
		}
		if len(snap.Alerts) != 1 || snap.Alerts[0].Fingerprint != "00000000000000c4" {
			t.Errorf("Alerts = %+v, want only OK", snap.Alerts)
		}
	})

	t.Run("alert without labels nor fingerprint dropped", func(t *testing.T) {
		anon := activeAlert("", "")
		anon.labels = nil
		am := newFakeAM(t, "", serveAlerts(alertsJSON(anon, activeAlert("OK", "00000000000000c4"))), nil)
		snap, err := am.client(t, "", nil).Poll(pollCtx(t))
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		if len(snap.Alerts) != 1 || len(snap.Incomplete) != 0 {
			t.Fatalf("got %+v, want only OK", snap)
		}
	})

	t.Run("duplicates dropped", func(t *testing.T) {
		first := activeAlert("Dup", "00000000000000d1")
		second := activeAlert("Dup", "00000000000000d1")
		second.annotations = map[string]string{"summary": "second copy"}
		computed := activeAlert("Dup", "") // same labels, fingerprint computed
		other := activeAlert("Other", "00000000000000d2")
		incomplete := activeAlert("Inc", "00000000000000d3")
		incomplete.state = ""
		am := newFakeAM(t, "", serveAlerts(alertsJSON(first, second, other, other, incomplete, incomplete, computed, computed)), nil)
		snap, err := am.client(t, "", nil).Poll(pollCtx(t))
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		var fps []string
		for _, a := range snap.Alerts {
			fps = append(fps, a.Fingerprint)
		}
		computedFP := model.LabelSet{"alertname": "Dup", "namespace": "team-a"}.Fingerprint().String()
		want := []string{"00000000000000d1", "00000000000000d2", computedFP}
		if !reflect.DeepEqual(fps, want) {
			t.Errorf("fingerprints = %v, want %v", fps, want)
		}
		if snap.Alerts[0].Annotations.Get("summary") != "Dup is firing" {
			t.Errorf("kept %v, want the first copy", snap.Alerts[0].Annotations)
		}
		if !reflect.DeepEqual(snap.Incomplete, []string{"00000000000000d3"}) {
			t.Errorf("Incomplete = %v, want [00000000000000d3]", snap.Incomplete)
		}
	})
}

func TestConvertNil(t *testing.T) {
	if _, err := convert(nil); err == nil {
		t.Fatal("convert(nil) succeeded, want an error")
	}
	snap, err := convert(models.GettableAlerts{nil})
	if err != nil || len(snap.Alerts) != 0 || len(snap.Incomplete) != 0 {
		t.Fatalf("convert([nil]) = %+v, %v; want empty, nil", snap, err)
	}
}

func TestIsSuppressed(t *testing.T) {
	tests := []struct {
		state               string
		silenced, inhibited []string
		want                bool
	}{
		{"active", nil, nil, false},
		{"active", []string{"s"}, nil, false},
		{"suppressed", nil, nil, true},
		{"suppressed", []string{"s"}, nil, true},
		{"unprocessed", nil, nil, false},
		{"unprocessed", []string{}, []string{}, false},
		{"unprocessed", []string{"s"}, nil, true},
		{"unprocessed", nil, []string{"i"}, true},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s/silenced=%v/inhibited=%v", tt.state, tt.silenced, tt.inhibited)
		t.Run(name, func(t *testing.T) {
			if got := IsSuppressed(tt.state, tt.silenced, tt.inhibited); got != tt.want {
				t.Errorf("IsSuppressed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestResult(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, resultSuccess},
		{"deadline", &PollError{Op: "get alerts", Err: context.DeadlineExceeded}, resultTimeout},
		{"url error", &PollError{Op: "get alerts", Err: &url.Error{Op: "Get", URL: "http://am", Err: errors.New("connection refused")}}, resultUnreachable},
		{"plain error", &PollError{Op: "get alerts", Err: errors.New("garbage")}, resultInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Result(tt.err); got != tt.want {
				t.Errorf("Result(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

// An HTTP error status whose body the generated client could not decode is
// still classified by its status, with the code in the message.
func TestClientHTTPErrorWithUndecodableBody(t *testing.T) {
	tests := []struct {
		name     string
		code     int
		ct, body string
	}{
		{"HTTP 500 with a JSON object", 500, "application/json", `{"error":"upstream failed"}`},
		{"HTTP 400 with a JSON object", 400, "application/json", `{"error":"bad request"}`},
		{"HTTP 502 with problem+json", 502, "application/problem+json", `{"title":"Bad Gateway","status":502}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			am := newFakeAM(t, "", func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", tt.ct)
				w.WriteHeader(tt.code)
				_, _ = w.Write([]byte(tt.body))
			}, nil)
			snap, err := am.client(t, "", nil).Poll(pollCtx(t))
			if err == nil || !reflect.DeepEqual(snap, Snapshot{}) {
				t.Fatalf("Poll = %+v, %v; want a zero Snapshot and an error", snap, err)
			}
			if got := Result(err); got != resultHTTPError || !strings.Contains(err.Error(), fmt.Sprint(tt.code)) {
				t.Errorf("HTTP %d with Content-Type %s is classified %q with message %q; want %q and the status code in the message",
					tt.code, tt.ct, got, err, resultHTTPError)
			}
		})
	}
}

// An HTML page with status 200 (an auth proxy's login page) reads as "not
// JSON", not as the text consumer's cryptic message.
func TestClientHTMLErrorMessageIsReadable(t *testing.T) {
	am := newFakeAM(t, "", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<html><body>Sign in</body></html>"))
	}, nil)
	snap, err := am.client(t, "", nil).Poll(pollCtx(t))
	requirePollError(t, snap, err, "get alerts", resultInvalid)
	if !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("HTML response rendered as %q; want \"response is not JSON (...)\"", err)
	}
}
