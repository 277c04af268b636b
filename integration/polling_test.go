//go:build integration

package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/amtenant/amtenant/internal/testutil"
)

// With a CPU budget for Alertmanager, the sidecar spreads its polls out
// when a poll costs more than the budget allows at --poll.interval, up to
// --poll.max-interval, and says so in its log and metric; notifications
// still arrive.
func TestAdaptivePollInterval(t *testing.T) {
	t.Parallel()
	am := startAlertmanager(t)
	s := newSink(t)
	dir := t.TempDir()
	writeObjects(t, dir, "objects.yaml", objects(s))
	// A budget so small that any poll stretches the interval to its maximum.
	sc := startSidecar(t, am, dir, "--poll.alertmanager-cpu-budget=0.0001", "--poll.max-interval=2s")
	start := time.Now().Add(-time.Minute)
	var alerts []testAlert
	for i := range 500 {
		alerts = append(alerts, firing(start, "alertname", "Many", "namespace", "team-b", "instance", fmt.Sprint(i)))
	}
	am.post(alerts...)
	eventually(t, 20*time.Second, "the alerts delivered", func() bool { return len(s.alertsAt("/team-b")) == 500 })
	eventually(t, 20*time.Second, "the stretched interval", func() bool {
		return testutil.SeriesValue(t, sc.metrics(t), "amtenant_poll_interval_seconds") == 2
	})
	if !strings.Contains(sc.proc.Log(), "Poll interval adapted to Alertmanager's cost per poll") {
		t.Error("the adapted interval was not logged")
	}
	// Polls are now 2 s apart, not 200 ms.
	sc.waitPolls(t, 1)
	began := time.Now()
	sc.waitPolls(t, 2)
	if took := time.Since(began); took < 3*time.Second {
		t.Errorf("2 polls took %s, want about 4 s at the stretched interval", took.Round(time.Millisecond))
	}
}
