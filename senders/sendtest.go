package senders

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
)

// TestResult is the outcome of a test notification through one
// integration.
type TestResult struct {
	// Integration is "<type>[<index>]", e.g. "slack[0]".
	Integration string
	// Err is nil when the integration accepted the message. It holds no
	// secret value.
	Err error
	// Retryable tells whether a real notification would have been retried.
	Retryable bool
}

// TestAlertName is the alertname of test notifications.
const TestAlertName = "AmtenantTestNotification"

// SendTest sends one clearly marked test notification through every
// integration of a channel, once, without retries, and reports each
// answer. tenant is set on the test alert as a delivered alert's would be.
func (m *Manager) SendTest(ctx context.Context, id, tenant string) ([]TestResult, error) {
	m.mu.Lock()
	c, ok := m.channels[id]
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("channel %s is not loaded (invalid, or not a channel)", id)
	}
	now := m.opts.Now()
	inc := &alert.Incarnation{
		Alert: alert.Alert{
			Fingerprint: "test",
			Labels: model.LabelSet{
				model.AlertNameLabel: TestAlertName,
				"severity":           "info",
			},
			Annotations: alert.NewAnnotations(model.LabelSet{
				"summary":     model.LabelValue("Test notification from amtenant for channel " + id),
				"description": "amtenant send-test checks that this channel delivers. No action is needed.",
			}),
			StartsAt: now,
		},
		Status: alert.Firing,
		Tenant: tenant,
	}
	keys := make([]string, 0, len(c.targets))
	for k := range c.targets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]TestResult, 0, len(keys))
	for _, k := range keys {
		t := c.targets[k]
		b := &batch{
			groupKey:    "send-test",
			groupLabels: model.LabelSet{model.AlertNameLabel: TestAlertName},
			firingIncs:  []*alert.Incarnation{inc},
			reason:      notify.ReasonFirstNotification,
			since:       now,
			repeat:      time.Hour,
		}
		actx, cancel := context.WithTimeout(notifyContext(ctx, id, b, b.repeat, now), m.opts.AttemptTimeout)
		retry, err := t.notify(actx, t.alerts(b, now))
		cancel()
		r := TestResult{Integration: k}
		if err != nil {
			r.Err = t.red.Error(err)
			r.Retryable = retryable(retry, err, failureReason(err))
		}
		out = append(out, r)
	}
	return out, nil
}
