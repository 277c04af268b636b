package senders

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/alertmanager/types"
	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
)

// target is one integration of one channel with its delivery state and
// its own goroutine, so that a slow or failing integration never delays
// another.
type target struct {
	channelID string
	integ     integration
	red       *Redactor
	opts      *Options
	m         *metrics
	log       *slog.Logger

	d *dispatch
}

func newTarget(channelID string, in integration, d *dispatch, red *Redactor, opts *Options, m *metrics, log *slog.Logger) *target {
	return &target{
		channelID: channelID,
		integ:     in,
		red:       red,
		opts:      opts,
		m:         m,
		log:       log.With("channel", channelID, "integration", in.key()),
		d:         d,
	}
}

func (t *target) sync(now time.Time, incs []*alert.Incarnation) {
	t.d.mu.Lock()
	t.d.sync(now, incs)
	t.d.mu.Unlock()
	t.poke()
}

func (t *target) poke() {
	select {
	case t.d.wake <- struct{}{}:
	default:
	}
}

// run schedules batches until loopCtx is done. Sends run under sendCtx,
// which outlives loopCtx by the shutdown grace; wg tracks them.
func (t *target) run(loopCtx, sendCtx context.Context, wg *sync.WaitGroup) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := t.opts.Now()
		t.d.mu.Lock()
		batches := t.d.due(now, t.opts.MaxInFlight)
		next := t.d.wakeAt(now, t.opts.MaxInFlight)
		t.d.mu.Unlock()
		for _, b := range batches {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t.deliver(loopCtx, sendCtx, b)
			}()
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(t.opts.Now()), 0)
		}
		timer.Reset(wait)
		select {
		case <-loopCtx.Done():
			return
		case <-t.d.wake:
		case <-timer.C:
		}
	}
}

// outcome of one batch.
type outcome int

const (
	delivered outcome = iota
	dropped
	canceled
)

// deliver sends a batch, retrying retryable failures with exponential
// backoff and jitter until the maximum retry duration. On a follower it
// first waits in shadow (see Leadership); that wait ends with loopCtx, a
// send with ctx.
func (t *target) deliver(loopCtx, ctx context.Context, b *batch) {
	due := t.opts.Now()
	switch t.shadow(loopCtx, b, due) {
	case shadowCanceled:
		t.d.mu.Lock()
		t.d.cancel(b, t.opts.Now())
		t.d.mu.Unlock()
		t.poke() // a slot is free
		return
	case shadowTakeover:
		// Flushed again at once, against the log as the previous leader's
		// record left it: only what that does not show is sent.
		t.d.mu.Lock()
		t.d.cancel(b, t.opts.Now())
		t.d.mu.Unlock()
		t.log.Info("Leading now: flushing again a group the previous leader's record does not show as told", "group", b.groupKey, "due", due)
		t.poke()
		return
	case shadowUncovered:
		t.d.mu.Lock()
		t.d.release(b)
		t.d.mu.Unlock()
		t.log.Debug("The leader's record has not shown this group's notification for long; flushed again at its next interval", "group", b.groupKey, "due", due)
		t.poke()
		return
	case shadowRecorded:
		t.d.mu.Lock()
		t.d.settle(b, t.opts.Now())
		t.d.mu.Unlock()
		t.m.shadowed.WithLabelValues(t.integ.name).Inc()
		t.poke()
		return
	case shadowWindow:
		t.d.mu.Lock()
		t.d.complete(b, due, true)
		t.d.mu.Unlock()
		t.m.shadowed.WithLabelValues(t.integ.name).Inc()
		if f := t.opts.WindowFallback; f != nil {
			f()
		}
		t.poke()
		return
	}
	start := t.opts.Now()
	out := t.attempts(ctx, b, start)
	t.d.mu.Lock()
	switch out {
	case canceled:
		t.d.cancel(b, t.opts.Now())
	default:
		t.d.complete(b, t.opts.Now(), out == delivered)
	}
	t.d.mu.Unlock()
	if out == delivered {
		t.m.latency.WithLabelValues(t.integ.name).Observe(t.opts.Now().Sub(b.since).Seconds())
	}
	t.poke()
}

func (t *target) attempts(ctx context.Context, b *batch, start time.Time) outcome {
	alerts := t.alerts(b, start)
	nctx := notifyContext(ctx, t.channelID, b, b.repeat, start)
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     t.opts.RetryInitialInterval,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         time.Minute,
	}
	bo.Reset()
	log := t.log.With("group", b.groupKey, "firing", len(b.firingIncs), "resolved", len(b.resolvedIncs))
	for attempt := 1; ; attempt++ {
		// A paced integration (a rate-limited robot) waits for its turn
		// outside the attempt's timeout: a storm is queued, not failed.
		if p, ok := t.integ.Notifier.(interface{ Wait(context.Context) error }); ok {
			if err := p.Wait(ctx); err != nil {
				return canceled
			}
		}
		actx, cancel := context.WithTimeout(nctx, t.opts.AttemptTimeout)
		retry, err := t.notify(actx, alerts)
		cancel()
		if err == nil {
			t.record(b, Attempt{At: t.opts.Now(), Attempts: attempt, Outcome: OutcomeDelivered})
			if t.setFailing(false) {
				t.health(false, ReasonDeliveryRecovered, fmt.Sprintf("%s: delivering again", t.integ.key()))
			}
			t.m.notifications.WithLabelValues(t.integ.name).Inc()
			log.Debug("Notification delivered", "attempt", attempt, "reason", b.reason)
			return delivered
		}
		if ctx.Err() != nil {
			if cause := context.Cause(ctx); errors.Is(cause, errChannelChanged) || errors.Is(cause, errChannelRemoved) {
				log.Info("Notification canceled; the channel's new configuration sends it, if it still exists", "cause", cause.Error())
			} else {
				log.Warn("Notification not delivered before shutdown", "err", truncateError(t.red.String(err.Error())))
			}
			return canceled
		}
		reason := failureReason(err)
		t.m.failed.WithLabelValues(t.integ.name, reason).Inc()
		retry = retryable(retry, err, reason)
		msg := truncateError(t.red.String(err.Error()))
		if t.setFailing(true) {
			t.health(true, ReasonDeliveryFailing, fmt.Sprintf("%s: %s: %s", t.integ.key(), reason, msg))
		}
		rec := Attempt{At: t.opts.Now(), Attempts: attempt, Outcome: OutcomeRetrying, Reason: reason, Error: msg}
		if !retry {
			rec.Outcome = OutcomeDropped
			t.record(b, rec)
			t.m.dropped.WithLabelValues(t.integ.name).Inc()
			log.Error("Notification failed permanently; not retrying", "reason", reason, "err", msg)
			t.health(true, ReasonNotificationDropped, fmt.Sprintf("%s: a notification of group %s was refused (%s): %s; tried again at the group's next interval", t.integ.key(), b.groupKey, reason, msg))
			return dropped
		}
		wait := bo.NextBackOff()
		if t.opts.Now().Add(wait).Sub(start) > t.opts.MaxRetryDuration {
			rec.Outcome = OutcomeDropped
			t.record(b, rec)
			t.m.dropped.WithLabelValues(t.integ.name).Inc()
			log.Error("Notification failed; giving up after the maximum retry duration", "attempts", attempt, "reason", reason, "err", msg, "max_retry_duration", t.opts.MaxRetryDuration)
			t.health(true, ReasonNotificationDropped, fmt.Sprintf("%s: a notification of group %s was given up after %d attempts (%s): %s; tried again at the group's next interval", t.integ.key(), b.groupKey, attempt, reason, msg))
			return dropped
		}
		t.record(b, rec)
		log.Warn("Notification failed; retrying", "attempt", attempt, "reason", reason, "retry_in", wait.Round(time.Millisecond), "err", msg)
		select {
		case <-ctx.Done():
			return canceled
		case <-time.After(wait):
		}
	}
}

// setFailing records whether the integration is failing, and reports
// whether that changed.
func (t *target) setFailing(failing bool) bool {
	t.d.mu.Lock()
	defer t.d.mu.Unlock()
	changed := t.d.failing != failing
	t.d.failing = failing
	return changed
}

// health reports on the channel's delivery health, if anyone listens.
func (t *target) health(warning bool, reason, message string) {
	if h := t.opts.Health; h != nil {
		h.DeliveryHealth(t.channelID, warning, reason, message)
	}
}

// record keeps the last attempt of a group for explain.
func (t *target) record(b *batch, a Attempt) {
	t.d.mu.Lock()
	t.d.attempts[b.groupKey] = a
	if a.Outcome != OutcomeDelivered {
		t.d.lastFailure = &a
	}
	t.d.mu.Unlock()
}

// notify calls the integration, turning a panic in it into an error so
// that one broken integration cannot take the sidecar down.
func (t *target) notify(ctx context.Context, alerts []*types.Alert) (retry bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			retry, err = false, fmt.Errorf("integration panicked: %v", r)
		}
	}()
	return t.integ.Notify(ctx, alerts...)
}

// alerts converts a batch for Alertmanager's notifiers, adding the tenant
// label. Firing alerts get a zero endsAt (rendered as firing whatever the
// delay), resolved ones the time they were found gone.
//
// The notifiers and templates only read an alert's labels (Alertmanager
// hands the same alerts to every integration of a receiver), and the
// tracker's maps are never changed once decoded, so they are shared: only
// labels that take the tenant label are copied. The annotations, held
// compactly between polls, are made a map here, for the notification's
// time only.
func (t *target) alerts(b *batch, now time.Time) []*types.Alert {
	out := make([]*types.Alert, 0, len(b.firingIncs)+len(b.resolvedIncs))
	conv := func(inc *alert.Incarnation, resolved bool) *types.Alert {
		ls := inc.Labels
		if v := model.LabelValue(inc.Tenant); inc.Tenant != "" && ls[t.opts.TenantLabel] != v {
			ls = make(model.LabelSet, len(inc.Labels)+1)
			maps.Copy(ls, inc.Labels)
			ls[t.opts.TenantLabel] = v
		}
		a := &types.Alert{Alert: model.Alert{
			Labels:       ls,
			Annotations:  inc.Annotations.LabelSet(),
			StartsAt:     inc.StartsAt,
			GeneratorURL: inc.GeneratorURL,
		}, UpdatedAt: now}
		if resolved {
			a.EndsAt = inc.EndsAt
			if !a.EndsAt.Before(now) {
				a.EndsAt = now.Add(-time.Millisecond)
			}
		}
		return a
	}
	for _, inc := range b.firingIncs {
		out = append(out, conv(inc, false))
	}
	for _, inc := range b.resolvedIncs {
		out = append(out, conv(inc, true))
	}
	// Alertmanager's order (job, instance, then all labels), which also
	// decides what an integration's max_alerts keeps.
	sort.Stable(types.AlertSlice(out))
	return out
}

// notifyContext carries what Alertmanager's notifiers read from the
// context: without the group key, receiver name, group labels and
// notification reason they fail or log errors.
func notifyContext(ctx context.Context, channelID string, b *batch, repeat time.Duration, now time.Time) context.Context {
	ctx = notify.WithReceiverName(ctx, channelID)
	ctx = notify.WithGroupKey(ctx, channelID+":"+b.groupKey)
	ctx = notify.WithGroupLabels(ctx, b.groupLabels)
	ctx = notify.WithNow(ctx, now)
	ctx = notify.WithRepeatInterval(ctx, repeat)
	ctx = notify.WithNotificationReason(ctx, b.reason)
	firing := make([]uint64, 0, len(b.firingIncs))
	for _, inc := range b.firingIncs {
		firing = append(firing, uint64(inc.Labels.Fingerprint()))
	}
	resolved := make([]uint64, 0, len(b.resolvedIncs))
	for _, inc := range b.resolvedIncs {
		resolved = append(resolved, uint64(inc.Labels.Fingerprint()))
	}
	ctx = notify.WithFiringAlerts(ctx, firing)
	return notify.WithResolvedAlerts(ctx, resolved)
}

// Failure reasons beyond Alertmanager's (its Reason strings are reused).
const reasonDenied = "denied"

func failureReason(err error) string {
	if errors.Is(err, ErrDenied) {
		return reasonDenied
	}
	var ewr *notify.ErrorWithReason
	if errors.As(err, &ewr) {
		return ewr.Reason.String()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return notify.ContextDeadlineExceededReason.String()
	case errors.Is(err, context.Canceled):
		return notify.ContextCanceledReason.String()
	}
	return notify.DefaultReason.String()
}

// retryable widens the notifier's own verdict: some of Alertmanager's
// notifiers (Slack, webhook) do not retry 429, and a timeout is always
// worth another try. A denied destination never is.
func retryable(retry bool, err error, reason string) bool {
	switch reason {
	case reasonDenied:
		return false
	case notify.RateLimitedReason.String(), notify.ServerErrorReason.String(), notify.ContextDeadlineExceededReason.String():
		return true
	}
	return retry
}
