package harness

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Metric reads one series, written as in the text exposition
// (`name{label="value"}`), from the /metrics page of baseURL.
func Metric(baseURL, series string) (float64, error) {
	resp, err := http.Get(baseURL + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no series %s", series)
}

// SuccessfulPolls is the sidecar's count of successful polls.
const SuccessfulPolls = `amtenant_polls_total{result="success"}`

// WaitPolls waits until the sidecar at baseURL has polled Alertmanager
// successfully n more times: what it has seen by then, it has acted on.
// It waits at most 5 s per poll.
func WaitPolls(ctx context.Context, baseURL string, n int) error {
	before, err := Metric(baseURL, SuccessfulPolls)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(n)*5*time.Second)
	defer cancel()
	for {
		if v, err := Metric(baseURL, SuccessfulPolls); err == nil && v >= before+float64(n) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d more successful polls: %w", n, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
