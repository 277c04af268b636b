package senders

import (
	"context"
	"time"
)

// Leadership says whether this replica delivers. With several sidecars
// (one per Alertmanager replica) only the leader sends; the others run
// the same pipeline in shadow, and hold a copy of the leader's
// notification log (Replication): a follower's batch that the leader's
// log covers is told without being sent, and after a takeover only what
// that log does not show is sent. So only what the leader delivered in
// the moment before it died, whose record did not reach the follower, can
// be sent twice.
//
// When the copy is not available (no peers configured, a partition, the
// leader just died), a follower falls back to the takeover window: it
// counts a batch as the leader's once it sees the leader alive a takeover
// window after the batch became due (and after the copy was last known
// complete). At least once for batches that became due within that
// window before the leader was last seen, exactly once for the rest.
type Leadership interface {
	// Status returns whether this replica leads, the last local time
	// another replica was seen leading (a renewal of its lease observed),
	// and a channel closed at the next change of either.
	Status() (leading bool, leaderSeen time.Time, changed <-chan struct{})
}

// Replication is a follower's copy of the leader's notification log (the
// manager's ApplyTarget and ApplyRecord fill it).
type Replication interface {
	// Synced reports whether this replica's log holds the leader's record
	// up to now; lost is the last time it did before it stopped (zero if
	// it never did); changed is closed at the next change of either.
	Synced() (synced bool, lost time.Time, changed <-chan struct{})
}

// shadowResult is how a follower's wait for a batch ended.
type shadowResult int

const (
	// shadowLead: this replica leads, and the batch was made while it
	// did: it sends the batch.
	shadowLead shadowResult = iota
	// shadowTakeover: this replica took over while the batch waited: the
	// group is flushed again, against the log as the leader left it.
	shadowTakeover
	// shadowRecorded: the leader's record covers the batch.
	shadowRecorded
	// shadowWindow: no record, but the leader was seen alive long enough
	// after the batch became due, with no copy of its record, to have
	// sent it (the fallback).
	shadowWindow
	// shadowUncovered: the copy is complete, yet the leader's record has
	// not covered the batch for a takeover window and a group interval:
	// the batch ends untold, and its group is flushed again later.
	shadowUncovered
	// shadowCanceled: shutting down; the batch stays pending.
	shadowCanceled
)

// shadow waits, on a follower, until the batch that became due at due is
// covered by the leader's record, confirmed by the window rule, or this
// replica leads.
func (t *target) shadow(ctx context.Context, b *batch, due time.Time) shadowResult {
	l := t.opts.Leadership
	if l == nil {
		return shadowLead
	}
	t.d.mu.Lock()
	giveUp := due.Add(t.opts.takeoverWindow() + t.d.groupInterval())
	t.d.mu.Unlock()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for waited := false; ; waited = true {
		leading, seen, changed := l.Status()
		if leading {
			if waited {
				return shadowTakeover
			}
			return shadowLead
		}
		t.d.mu.Lock()
		covered, logChanged := t.d.covers(b), t.d.logChanged
		t.d.mu.Unlock()
		if covered {
			return shadowRecorded
		}
		var synced bool
		var lost time.Time
		var replChanged <-chan struct{}
		if r := t.opts.Replication; r != nil {
			synced, lost, replChanged = r.Synced()
		}
		// With the leader's record at hand, only the record confirms: a
		// leader alive but failing to deliver has not told the batch.
		if !synced && !seen.Before(later(due, lost).Add(t.opts.takeoverWindow())) {
			return shadowWindow
		}
		var expired <-chan time.Time
		if synced {
			if !t.opts.Now().Before(giveUp) {
				return shadowUncovered
			}
			if timer == nil {
				timer = time.NewTimer(giveUp.Sub(t.opts.Now()))
			}
			expired = timer.C
		}
		select {
		case <-ctx.Done():
			return shadowCanceled
		case <-changed:
		case <-replChanged:
		case <-logChanged:
		case <-expired:
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// takeoverWindow is how long after a batch became due a follower must see
// the leader alive before it counts the batch as sent: a follower learns
// of a renewal up to a lease duration late (TakeoverWindow), and the leader
// may have seen the alert up to one poll interval later.
func (o *Options) takeoverWindow() time.Duration {
	if o.PollInterval != nil {
		return o.TakeoverWindow + o.PollInterval()
	}
	return o.TakeoverWindow
}
