// Package testutil holds the helpers the tests of every package share:
// waiting for observable progress, and reading a metric.
package testutil

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Eventually polls cond every few milliseconds until it holds, and fails
// the test when within passed first; what names the awaited state.
// Inside a testing/synctest bubble, use the bubble's own helpers instead:
// this one sleeps.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	Eventuallyf(t, within, cond, func() string { return what })
}

// Eventuallyf is Eventually with a description made at failure, so that it
// can say what the state was.
func Eventuallyf(t testing.TB, within time.Duration, cond func() bool, what func() string) {
	t.Helper()
	EventuallyEvery(t, within, 5*time.Millisecond, cond, what)
}

// EventuallyEvery is Eventuallyf looking every period: for a cond that
// costs (an HTTP request to a process under test).
func EventuallyEvery(t testing.TB, within, period time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what())
		}
		time.Sleep(period)
	}
}

// Say returns a description for Eventuallyf: format with the values of
// args at the time of the failure.
func Say(format string, args ...func() any) func() string {
	return func() string {
		vals := make([]any, len(args))
		for i, a := range args {
			vals[i] = a()
		}
		return fmt.Sprintf(format, vals...)
	}
}

// Val is a constant argument for Say.
func Val(v any) func() any { return func() any { return v } }

// MetricValue reads one counter or gauge (a histogram: its count) from g;
// labels are name, value pairs that must all match. A missing series reads
// 0.
func MetricValue(t testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue metric
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

// SeriesValue returns the value of one series, written as in the text
// exposition (`name{label="value"}`), from a /metrics page; 0 if absent.
func SeriesValue(t testing.TB, exposition, series string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(exposition)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Buffer is a bytes.Buffer safe for concurrent writers: a log sink for
// code under test that logs from its own goroutines.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
