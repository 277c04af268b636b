package senders

import (
	"context"
	"time"
)

// Leadership says whether this replica delivers. With several sidecars
// (one per Alertmanager replica) only the leader sends; the others run
// the same pipeline in shadow: when a batch becomes due, a follower waits
// until it sees the leader alive at least TakeoverWindow later, and then
// records the batch as delivered without sending it. So when a follower
// takes over, it knows what the leader told and sends only the batches
// that became due within the takeover window before the leader was last
// seen: at least once for those, exactly once for everything else.
type Leadership interface {
	// Status returns whether this replica leads, the last local time
	// another replica was seen leading (a renewal of its lease observed),
	// and a channel closed at the next change of either.
	Status() (leading bool, leaderSeen time.Time, changed <-chan struct{})
}

// shadowResult is how a follower's wait for a batch ended.
type shadowResult int

const (
	// shadowLead: this replica leads now and sends the batch itself.
	shadowLead shadowResult = iota
	// shadowConfirmed: the leader was seen alive long enough after the
	// batch became due to have sent it.
	shadowConfirmed
	// shadowCanceled: shutting down; the batch stays pending.
	shadowCanceled
)

// shadow waits, on a follower, until the batch that became due at due is
// either confirmed as the leader's or this replica leads.
func (t *target) shadow(ctx context.Context, due time.Time) shadowResult {
	l := t.opts.Leadership
	if l == nil {
		return shadowLead
	}
	for {
		leading, seen, changed := l.Status()
		if leading {
			return shadowLead
		}
		if !seen.Before(due.Add(t.opts.takeoverWindow())) {
			return shadowConfirmed
		}
		select {
		case <-ctx.Done():
			return shadowCanceled
		case <-changed:
		}
	}
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
