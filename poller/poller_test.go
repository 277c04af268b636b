package poller

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-openapi/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/amtenant/amtenant/alert"
)

// sourceFunc adapts a function to Source.
type sourceFunc func(ctx context.Context) (Snapshot, error)

func (f sourceFunc) Poll(ctx context.Context) (Snapshot, error) { return f(ctx) }

// sinkCall is one call of the recording sink.
type sinkCall struct {
	now  time.Time
	incs []alert.Incarnation
}

// pollerHarness drives a Poller with a scripted source, a recording sink
// and a fake clock.
type pollerHarness struct {
	t     *testing.T
	p     *Poller
	reg   *prometheus.Registry
	logs  *bytes.Buffer
	clock time.Time

	// next is what the source returns on its next call.
	next struct {
		snap Snapshot
		err  error
	}
	sourceCalls int
	sourceCtx   context.Context
	sinkCalls   []sinkCall
}

func newPollerHarness(t *testing.T) *pollerHarness {
	t.Helper()
	h := &pollerHarness{t: t, reg: prometheus.NewRegistry(), logs: &bytes.Buffer{}, clock: at(0)}
	cfg := Config{Interval: 10 * time.Second, Timeout: 5 * time.Second, Tracker: testTrackerConfig()}
	src := sourceFunc(func(ctx context.Context) (Snapshot, error) {
		h.sourceCalls++
		h.sourceCtx = ctx
		return h.next.snap, h.next.err
	})
	sink := SinkFunc(func(now time.Time, incs []*alert.Incarnation) {
		h.sinkCalls = append(h.sinkCalls, sinkCall{now: now, incs: values(incs)})
	})
	log := slog.New(slog.NewTextHandler(h.logs, nil))
	h.p = New(cfg, src, sink, log, h.reg)
	h.p.now = func() time.Time { return h.clock }
	return h
}

// succeed polls at t0+sec with a successful poll returning alerts.
func (h *pollerHarness) succeed(sec int, alerts ...alert.Alert) bool {
	h.t.Helper()
	h.clock = at(sec)
	h.next.snap, h.next.err = Snapshot{Alerts: ptrs(alerts...), Uptime: oldUptime}, nil
	return h.p.PollOnce(context.Background())
}

// fail polls at t0+sec with a poll failing with err.
func (h *pollerHarness) fail(sec int, err error) bool {
	h.t.Helper()
	h.clock = at(sec)
	h.next.snap, h.next.err = Snapshot{}, err
	return h.p.PollOnce(context.Background())
}

func (h *pollerHarness) polls(result string) float64 {
	return testutil.ToFloat64(h.p.m.polls.WithLabelValues(result))
}

// logLines counts the log lines containing msg.
func (h *pollerHarness) logLines(msg string) int {
	return strings.Count(h.logs.String(), msg)
}

const (
	logFailed    = "Polling Alertmanager failed"
	logRecovered = "Polling Alertmanager works again"
)

var (
	errRefused = &PollError{Op: "get alerts", Err: &url.Error{
		Op: "Get", URL: "http://am:9093/api/v2/alerts",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED},
	}}
	errTimeout  = &PollError{Op: "get alerts", Err: &url.Error{Op: "Get", URL: "http://am:9093/api/v2/alerts", Err: context.DeadlineExceeded}}
	errHTTP     = &PollError{Op: "get alerts", Err: runtime.NewAPIError("[GET /alerts] getAlerts", nil, 503)}
	errInvalid  = &PollError{Op: "get alerts", Err: errors.New("unexpected EOF")}
	errNoUptime = &PollError{Op: "get status", Err: errors.New("response has no uptime")}
)

func TestPollOnceSuccess(t *testing.T) {
	h := newPollerHarness(t)
	if !h.p.LastSuccess().IsZero() {
		t.Fatalf("LastSuccess() = %v before any poll, want zero", h.p.LastSuccess())
	}
	a := newAlert("A", at(-60))
	if !h.succeed(0, a) {
		t.Fatal("PollOnce = false, want true")
	}
	if len(h.sinkCalls) != 1 {
		t.Fatalf("sink called %d times, want 1", len(h.sinkCalls))
	}
	call := h.sinkCalls[0]
	if !call.now.Equal(at(0)) {
		t.Errorf("sink now = %v, want %v", call.now, at(0))
	}
	requireStatus(t, only(t, call.incs, a.Fingerprint), alert.Firing)
	if got := h.p.LastSuccess(); !got.Equal(at(0)) {
		t.Errorf("LastSuccess() = %v, want %v", got, at(0))
	}
	if got := h.polls(resultSuccess); got != 1 {
		t.Errorf("polls_total{result=success} = %v, want 1", got)
	}
	if h.logs.Len() != 0 {
		t.Errorf("unexpected logs: %s", h.logs)
	}

	// A second success moves LastSuccess and reuses the incarnation.
	first := only(t, call.incs, a.Fingerprint)
	h.succeed(10, a)
	if got := h.p.LastSuccess(); !got.Equal(at(10)) {
		t.Errorf("LastSuccess() = %v, want %v", got, at(10))
	}
	if inc := only(t, h.sinkCalls[1].incs, a.Fingerprint); inc.ID != first.ID {
		t.Errorf("ID %d at the second poll, want %d", inc.ID, first.ID)
	}
	if got := h.polls(resultSuccess); got != 2 {
		t.Errorf("polls_total{result=success} = %v, want 2", got)
	}
}

func TestPollOnceSourceContext(t *testing.T) {
	h := newPollerHarness(t)
	before := time.Now()
	h.succeed(0)
	after := time.Now()
	dl, ok := h.sourceCtx.Deadline()
	if !ok {
		t.Fatal("the source's context has no deadline, want the configured timeout")
	}
	if timeout := h.p.cfg.Timeout; dl.Before(before.Add(timeout)) || dl.After(after.Add(timeout)) {
		t.Errorf("deadline %v, want the configured timeout %v after the poll started (between %v and %v)",
			dl, timeout, before.Add(timeout), after.Add(timeout))
	}
	if h.sourceCtx.Err() == nil {
		t.Error("the source's context is not cancelled after PollOnce returned")
	}
}

func TestPollOnceFailure(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		result string
	}{
		{"connection refused", errRefused, resultUnreachable},
		{"timeout", errTimeout, resultTimeout},
		{"http error", errHTTP, resultHTTPError},
		{"invalid response", errInvalid, resultInvalid},
		{"status without uptime", errNoUptime, resultInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newPollerHarness(t)
			h.succeed(0, newAlert("A", at(-60)))
			if h.fail(10, tt.err) {
				t.Fatal("PollOnce = true for a failed poll")
			}
			if len(h.sinkCalls) != 1 {
				t.Fatalf("sink called %d times, want only for the successful poll", len(h.sinkCalls))
			}
			if got := h.p.LastSuccess(); !got.Equal(at(0)) {
				t.Errorf("LastSuccess() = %v, want the last success %v", got, at(0))
			}
			for _, r := range []string{resultSuccess, resultTimeout, resultUnreachable, resultHTTPError, resultInvalid} {
				want := 0.0
				switch r {
				case tt.result:
					want = 1
				case resultSuccess:
					want = 1
				}
				if got := h.polls(r); got != want {
					t.Errorf("polls_total{result=%q} = %v, want %v", r, got, want)
				}
			}
			if n := h.logLines(logFailed); n != 1 {
				t.Errorf("%d failure log lines, want 1:\n%s", n, h.logs)
			}
			if !strings.Contains(h.logs.String(), "level=WARN") {
				t.Errorf("failure not logged as a warning:\n%s", h.logs)
			}
		})
	}
}

func TestPollOnceLogsFailuresOnce(t *testing.T) {
	h := newPollerHarness(t)
	steps := []struct {
		err           error // nil for a success
		wantFailed    int   // cumulative failure lines
		wantRecovered int   // cumulative recovery lines
	}{
		{nil, 0, 0},
		{errRefused, 1, 0},
		{errRefused, 1, 0},
		{errRefused, 1, 0},
		{errTimeout, 2, 0}, // a different error is logged
		{errTimeout, 2, 0},
		{nil, 2, 1}, // recovery logged once
		{nil, 2, 1},
		{errTimeout, 3, 1}, // same error as before the recovery: logged again
		{errTimeout, 3, 1},
		{nil, 3, 2},
	}
	for i, s := range steps {
		sec := i * 10
		if s.err == nil {
			h.succeed(sec)
		} else {
			h.fail(sec, s.err)
		}
		if got := h.logLines(logFailed); got != s.wantFailed {
			t.Fatalf("step %d: %d failure lines, want %d:\n%s", i, got, s.wantFailed, h.logs)
		}
		if got := h.logLines(logRecovered); got != s.wantRecovered {
			t.Fatalf("step %d: %d recovery lines, want %d:\n%s", i, got, s.wantRecovered, h.logs)
		}
	}
	if got := h.polls(resultUnreachable); got != 3 {
		t.Errorf("polls_total{result=unreachable} = %v, want 3 (every failure counted)", got)
	}
	if got := h.polls(resultTimeout); got != 4 {
		t.Errorf("polls_total{result=timeout} = %v, want 4", got)
	}
	if got := h.polls(resultSuccess); got != 4 {
		t.Errorf("polls_total{result=success} = %v, want 4", got)
	}
	if lines := strings.Count(h.logs.String(), "\n"); lines != 5 {
		t.Errorf("%d log lines, want 5:\n%s", lines, h.logs)
	}
	if !strings.Contains(h.logs.String(), "connection refused") {
		t.Errorf("the error is not in the log:\n%s", h.logs)
	}
}

func TestPollOnceShutdownIsNotAFailure(t *testing.T) {
	t.Run("context cancelled before the poll", func(t *testing.T) {
		h := newPollerHarness(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		h.next.err = &PollError{Op: "get alerts", Err: context.Canceled}
		if h.p.PollOnce(ctx) {
			t.Fatal("PollOnce = true on a cancelled context")
		}
		requireNothingRecorded(t, h)
	})

	t.Run("context cancelled during a successful poll", func(t *testing.T) {
		h := newPollerHarness(t)
		ctx, cancel := context.WithCancel(context.Background())
		h.p.src = sourceFunc(func(context.Context) (Snapshot, error) {
			cancel()
			return Snapshot{Alerts: ptrs(newAlert("A", at(-60))), Uptime: oldUptime}, nil
		})
		if h.p.PollOnce(ctx) {
			t.Fatal("PollOnce = true on a cancelled context")
		}
		requireNothingRecorded(t, h)
	})
}

func requireNothingRecorded(t *testing.T, h *pollerHarness) {
	t.Helper()
	if len(h.sinkCalls) != 0 {
		t.Errorf("sink called %d times, want 0", len(h.sinkCalls))
	}
	for _, r := range []string{resultSuccess, resultTimeout, resultUnreachable, resultHTTPError, resultInvalid} {
		if got := h.polls(r); got != 0 {
			t.Errorf("polls_total{result=%q} = %v, want 0 when shutting down", r, got)
		}
	}
	if h.logs.Len() != 0 {
		t.Errorf("unexpected logs:\n%s", h.logs)
	}
	if !h.p.LastSuccess().IsZero() {
		t.Errorf("LastSuccess() = %v, want zero", h.p.LastSuccess())
	}
}

// Failed polls say nothing about absence: the grace only counts from the
// first successful poll that misses the alert.
func TestPollerFailedPollsAreNotAbsence(t *testing.T) {
	h := newPollerHarness(t) // resolve grace 30s
	a := newAlert("A", at(-60))
	h.succeed(0, a)
	first := only(t, h.sinkCalls[0].incs, a.Fingerprint)
	for sec := 10; sec <= 60; sec += 10 {
		h.fail(sec, errRefused)
	}
	h.succeed(70) // first seen absent
	inc := only(t, h.sinkCalls[1].incs, a.Fingerprint)
	requireStatus(t, inc, alert.Firing)
	h.succeed(90)
	requireStatus(t, only(t, h.sinkCalls[2].incs, a.Fingerprint), alert.Firing)
	h.succeed(100)
	inc = only(t, h.sinkCalls[3].incs, a.Fingerprint)
	requireStatus(t, inc, alert.Resolved)
	if inc.ID != first.ID || !inc.EndsAt.Equal(at(70)) || !inc.ResolvedAt.Equal(at(100)) {
		t.Fatalf("got %+v, want ID %d, EndsAt %v, ResolvedAt %v", inc, first.ID, at(70), at(100))
	}
}

func TestPollOnceDurationHistogram(t *testing.T) {
	h := newPollerHarness(t)
	// The fake clock does not move during a poll: every duration is 0.
	h.succeed(0)
	h.fail(10, errRefused)
	const want = `
# HELP amtenant_poll_duration_seconds Duration of one poll of Alertmanager's API (alerts and status).
# TYPE amtenant_poll_duration_seconds histogram
amtenant_poll_duration_seconds_bucket{le="0.01"} 2
amtenant_poll_duration_seconds_bucket{le="0.025"} 2
amtenant_poll_duration_seconds_bucket{le="0.05"} 2
amtenant_poll_duration_seconds_bucket{le="0.1"} 2
amtenant_poll_duration_seconds_bucket{le="0.25"} 2
amtenant_poll_duration_seconds_bucket{le="0.5"} 2
amtenant_poll_duration_seconds_bucket{le="1"} 2
amtenant_poll_duration_seconds_bucket{le="2.5"} 2
amtenant_poll_duration_seconds_bucket{le="5"} 2
amtenant_poll_duration_seconds_bucket{le="10"} 2
amtenant_poll_duration_seconds_bucket{le="30"} 2
amtenant_poll_duration_seconds_bucket{le="+Inf"} 2
amtenant_poll_duration_seconds_sum 0
amtenant_poll_duration_seconds_count 2
`
	if err := testutil.GatherAndCompare(h.reg, strings.NewReader(want), "amtenant_poll_duration_seconds"); err != nil {
		t.Fatal(err)
	}
}

func TestNewRegistersMetrics(t *testing.T) {
	h := newPollerHarness(t)
	n, err := testutil.GatherAndCount(h.reg,
		"amtenant_polls_total", "amtenant_poll_duration_seconds", "amtenant_alerts", "amtenant_dedup_evictions_total")
	if err != nil {
		t.Fatal(err)
	}
	// 5 results, 1 histogram, 4 states, 1 counter, all present from the start.
	if n != 11 {
		t.Fatalf("%d series, want 11", n)
	}
	// A nil registerer is allowed.
	New(Config{Interval: time.Second, Timeout: time.Second}, sourceFunc(nil), SinkFunc(nil), discardLogger(), nil)
}

func TestRunStopsWhenContextDone(t *testing.T) {
	t.Run("already cancelled", func(t *testing.T) {
		h := newPollerHarness(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		h.p.Run(ctx) // returns
		if h.sourceCalls != 1 {
			t.Fatalf("source called %d times, want the one immediate poll", h.sourceCalls)
		}
		requireNothingRecorded(t, h)
	})

	t.Run("cancelled after some polls", func(t *testing.T) {
		h := newPollerHarness(t)
		h.p.cfg.Interval = time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		calls := 0
		h.p.src = sourceFunc(func(context.Context) (Snapshot, error) {
			calls++
			if calls == 3 {
				cancel()
			}
			return Snapshot{Uptime: oldUptime}, nil
		})
		h.p.Run(ctx) // returns
		if calls < 3 {
			t.Fatalf("source called %d times, want at least 3", calls)
		}
		if len(h.sinkCalls) != 2 {
			t.Fatalf("sink called %d times, want 2 (the third poll ran into the shutdown)", len(h.sinkCalls))
		}
		if got := h.polls(resultSuccess); got != 2 {
			t.Fatalf("polls_total{result=success} = %v, want 2", got)
		}
	})
}

// An alert that cannot be read is logged once (again if its error changes)
// and counted while it lasts; a known alert skipped that way stays firing
// well past the resolve grace.
func TestPollOnceSkippedAlerts(t *testing.T) {
	h := newPollerHarness(t) // resolve grace 30s
	a := newAlert("A", at(-60))
	h.succeed(0, a)
	bad := errors.New(`time "yesterday": cannot parse`)
	pollSkipped := func(sec int, err error) {
		h.clock = at(sec)
		h.next.snap, h.next.err = Snapshot{Uptime: oldUptime}, nil
		h.next.snap.skip(a.Fingerprint, SkipMalformed, err)
		h.next.snap.skip("", SkipOversized, errAlertTooLarge)
		if !h.p.PollOnce(context.Background()) {
			t.Fatal("a poll with skipped alerts failed")
		}
	}
	for sec := 10; sec <= 100; sec += 10 {
		pollSkipped(sec, bad)
	}
	requireStatus(t, only(t, h.sinkCalls[len(h.sinkCalls)-1].incs, a.Fingerprint), alert.Firing)
	const msg = "Skipping an alert that cannot be read"
	if n := h.logLines(msg); n != 2 {
		t.Errorf("logged %d times, want once per skipped alert (2)", n)
	}
	for reason, want := range map[string]float64{SkipMalformed: 1, SkipOversized: 1} {
		if got := testutil.ToFloat64(h.p.m.skipped.WithLabelValues(reason)); got != want {
			t.Errorf("amtenant_alerts_skipped{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	pollSkipped(110, errors.New("labels: not a string"))
	if n := h.logLines(msg); n != 3 {
		t.Errorf("logged %d times after the error changed, want 3", n)
	}
	h.succeed(120, a) // readable again
	if got := testutil.ToFloat64(h.p.m.skipped.WithLabelValues(SkipMalformed)); got != 0 {
		t.Errorf("amtenant_alerts_skipped after recovery = %v, want 0", got)
	}
}

// With a budget, the interval stretches to a poll's duration divided by
// the budget (smoothed over polls), never below --poll.interval nor above
// the maximum, and comes back when polls get cheap again.
func TestAdaptiveInterval(t *testing.T) {
	cfg := Config{Interval: 10 * time.Second, Budget: 0.05, MaxInterval: time.Minute}
	for _, tt := range []struct {
		avg, want time.Duration
	}{
		{50 * time.Millisecond, 10 * time.Second}, // 1k alerts: unchanged
		{time.Second, 20 * time.Second},
		{3 * time.Second, time.Minute},
		{10 * time.Second, time.Minute},
	} {
		if got := cfg.nextInterval(tt.avg); got != tt.want {
			t.Errorf("nextInterval(%s) = %s, want %s", tt.avg, got, tt.want)
		}
	}
	if got := (Config{Interval: 10 * time.Second}).nextInterval(time.Hour); got != 10*time.Second {
		t.Errorf("without a budget the interval changed to %s", got)
	}

	// Through PollOnce, on a clock the source moves forward.
	h := newPollerHarness(t)
	h.p.cfg = cfg
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h.p.now = func() time.Time { return clock }
	took := 2 * time.Second
	h.p.src = sourceFunc(func(context.Context) (Snapshot, error) {
		clock = clock.Add(took)
		return Snapshot{Uptime: oldUptime}, nil
	})
	h.p.PollOnce(context.Background())
	if got := h.p.Interval(); got != 40*time.Second {
		t.Fatalf("after a 2 s poll: interval %s, want 40s", got)
	}
	took = 10 * time.Millisecond
	for range 10 {
		h.p.PollOnce(context.Background())
	}
	if got := h.p.Interval(); got != 10*time.Second {
		t.Fatalf("after cheap polls: interval %s, want back at 10s", got)
	}
}
