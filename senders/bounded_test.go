package senders

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/amtenant/amtenant/alert"
	"github.com/amtenant/amtenant/internal/testutil"
)

func TestTruncateError(t *testing.T) {
	short := "unexpected status code 500: boom"
	if got := truncateError(short); got != short {
		t.Errorf("truncateError(short) = %q", got)
	}
	long := "unexpected status code 500: " + strings.Repeat("é", 2000)
	got := truncateError(long)
	if len(got) > maxErrorBytes+40 || !strings.HasSuffix(got, "(4028 bytes in all)") || !strings.HasPrefix(got, "unexpected status code 500: éé") {
		t.Errorf("truncateError(long) = %q (%d bytes)", got[:60], len(got))
	}
	if !strings.Contains(got, "é…") {
		t.Error("cut inside a character")
	}
}

// A receiver answering with a huge error body (streamed, never ending):
// the sidecar reads at most MaxResponseBytes of it, keeps a short error,
// and its memory does not follow the body. For tenant and admin channels.
func TestHugeErrorBodyIsBounded(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		t.Run(map[bool]string{false: "tenant", true: "admin"}[trusted], func(t *testing.T) {
			chunk := []byte(strings.Repeat("x", 64<<10))
			s := newSink(t, func(n int, w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusInternalServerError)
				// Up to 512 MiB, or until the client hangs up.
				for range 8192 {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			})
			opts := testOptions(t, NewGuard(nil))
			opts.MaxRetryDuration = time.Millisecond // one attempt
			var before runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			m, reg := startManager(t, opts)
			spec := webhookSpec("team-a/hook", trusted, s.URL())
			spec.Policy.GroupInterval = time.Hour
			mustApply(t, m, spec)
			syncOne(m, spec.ID, newInc(1, alert.Firing, "alertname", "A"))
			testutil.Eventually(t, 10*time.Second, "dropped", func() bool { return droppedCount(t, reg, "webhook") == 1 })
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if grew := int64(after.TotalAlloc) - int64(before.TotalAlloc); grew > 64<<20 {
				t.Errorf("allocated %d MiB for one huge response, want it bounded", grew>>20)
			}
			st, ok := m.Explain(spec.ID, newInc(1, alert.Firing, "alertname", "A").Fingerprint)
			if !ok || len(st) != 1 || st[0].LastAttempt == nil {
				t.Fatalf("explain: %+v", st)
			}
			if e := st[0].LastAttempt.Error; len(e) > maxErrorBytes+64 || !strings.Contains(e, "500") {
				t.Errorf("recorded error: %d bytes %q…, want a short one naming the status", len(e), e[:min(len(e), 80)])
			}
		})
	}
}
