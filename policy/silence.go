package policy

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
)

// Data keys of a silence ConfigMap (DESIGN.md §3, a contract).
const (
	KeyMatchers      = "matchers"
	KeyStartsAt      = "starts-at"
	KeyEndsAt        = "ends-at"
	KeyTimeIntervals = "time-intervals"
	KeyComment       = "comment"
)

// Silence is a tenant silence. It is active from StartsAt (if set) until
// EndsAt (if set), and, when it has Intervals, only inside them.
type Silence struct {
	Matchers         labels.Matchers
	StartsAt, EndsAt time.Time
	Intervals        Intervals
	Comment          string
}

// State of a policy, for the metrics and explain.
type State string

// The states of a tenant policy.
const (
	StateActive  State = "active"
	StatePending State = "pending"
	StateExpired State = "expired"
	StateInvalid State = "invalid"
)

// ParseSilence reads a silence ConfigMap's data.
func ParseSilence(data map[string]string) (*Silence, error) {
	s := &Silence{}
	for k := range data {
		switch k {
		case KeyMatchers, KeyStartsAt, KeyEndsAt, KeyTimeIntervals, KeyComment:
		default:
			return nil, fmt.Errorf("unknown data key %q (a silence has %s, %s or %s, and optionally %s and %s)",
				k, KeyMatchers, KeyEndsAt, KeyTimeIntervals, KeyStartsAt, KeyComment)
		}
	}
	var err error
	if s.Matchers, err = ParseMatcherLines(KeyMatchers, data[KeyMatchers]); err != nil {
		return nil, err
	}
	if len(s.Matchers) == 0 {
		return nil, fmt.Errorf("%s: at least one matcher is required", KeyMatchers)
	}
	// As Alertmanager's API requires of a silence: a silence must not match
	// every alert by accident.
	if !matchesSomethingOnly(s.Matchers) {
		return nil, fmt.Errorf("%s: at least one matcher must not match the empty string (as in Alertmanager); to silence all of the tenant's alerts use for example namespace=~\".+\"", KeyMatchers)
	}
	if s.StartsAt, err = parseTime(data, KeyStartsAt); err != nil {
		return nil, err
	}
	if s.EndsAt, err = parseTime(data, KeyEndsAt); err != nil {
		return nil, err
	}
	if v, ok := data[KeyTimeIntervals]; ok {
		if s.Intervals, err = ParseIntervals(v); err != nil {
			return nil, fmt.Errorf("%s: %w", KeyTimeIntervals, err)
		}
	}
	switch {
	case s.EndsAt.IsZero() && s.Intervals == nil:
		return nil, fmt.Errorf("either %s (an RFC 3339 time) or %s (a recurring window) is required: a silence must end", KeyEndsAt, KeyTimeIntervals)
	case !s.StartsAt.IsZero() && !s.EndsAt.IsZero() && !s.EndsAt.After(s.StartsAt):
		return nil, fmt.Errorf("%s %s is not after %s %s", KeyEndsAt, s.EndsAt.Format(time.RFC3339), KeyStartsAt, s.StartsAt.Format(time.RFC3339))
	}
	s.Comment = data[KeyComment]
	return s, nil
}

func matchesSomethingOnly(ms labels.Matchers) bool {
	for _, m := range ms {
		if !m.Matches("") {
			return true
		}
	}
	return false
}

func parseTime(data map[string]string, key string) (time.Time, error) {
	v, ok := data[key]
	if !ok {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %q is not an RFC 3339 time (for example 2026-12-01T18:00:00Z)", key, v)
	}
	return t, nil
}

// Active reports whether the silence holds alerts at t.
func (s *Silence) Active(t time.Time) bool {
	if !s.StartsAt.IsZero() && t.Before(s.StartsAt) {
		return false
	}
	if !s.EndsAt.IsZero() && !t.Before(s.EndsAt) {
		return false
	}
	return s.Intervals == nil || s.Intervals.Contains(t)
}

// State returns the silence's state at t. A recurring silence outside its
// window is pending.
func (s *Silence) State(t time.Time) State {
	switch {
	case !s.EndsAt.IsZero() && !t.Before(s.EndsAt):
		return StateExpired
	case s.Active(t):
		return StateActive
	}
	return StatePending
}

// Matches reports whether the silence's matchers match ls.
func (s *Silence) Matches(ls model.LabelSet) bool { return s.Matchers.Matches(ls) }

// Until returns when a silence active at t stops; ok is false when that is
// not known within Horizon.
func (s *Silence) Until(t time.Time) (time.Time, bool) {
	if s.Intervals == nil {
		return s.EndsAt, !s.EndsAt.IsZero()
	}
	u, ok := change(t, s.Intervals.Contains, s.Intervals)
	if !s.EndsAt.IsZero() && (!ok || s.EndsAt.Before(u)) {
		return s.EndsAt, true
	}
	return u, ok
}
