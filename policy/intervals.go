package policy

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/timeinterval"
	"gopkg.in/yaml.v2"
)

// MaxIntervals bounds the entries of one list of time intervals.
const MaxIntervals = 64

// Intervals is a list of Alertmanager time interval entries: the body of
// one time_intervals[].time_intervals in Alertmanager's configuration. A
// time is in the list when any entry contains it.
type Intervals []timeinterval.TimeInterval

// ParseIntervals reads a YAML list of time interval entries, rejecting
// unknown keys as Alertmanager's configuration does. The caller names the
// field in the error.
func ParseIntervals(s string) (Intervals, error) {
	var iv Intervals
	if err := yaml.UnmarshalStrict([]byte(s), &iv); err != nil {
		return nil, errors.New(yamlError(err))
	}
	switch {
	case len(iv) == 0:
		return nil, errors.New("the list is empty")
	case len(iv) > MaxIntervals:
		return nil, fmt.Errorf("%d entries, at most %d are allowed", len(iv), MaxIntervals)
	}
	return iv, nil
}

// yamlError makes a YAML error one line.
func yamlError(err error) string {
	return strings.Join(strings.Fields(strings.TrimPrefix(err.Error(), "yaml: ")), " ")
}

// Contains reports whether t is in any entry.
func (iv Intervals) Contains(t time.Time) bool {
	for _, ti := range iv {
		if ti.ContainsTime(t) {
			return true
		}
	}
	return false
}

// Horizon is how far ahead the end of a window is looked for. Time
// intervals are minute-grained, so looking minute by minute finds every
// change; a window that lasts longer is reported as lasting "beyond".
const Horizon = 14 * 24 * time.Hour

// change returns the first whole minute after t (within Horizon) at which
// in differs from in(t), and whether there is one.
func change(t time.Time, in func(time.Time) bool) (time.Time, bool) {
	cur := in(t)
	for at := t.Truncate(time.Minute).Add(time.Minute); at.Sub(t) <= Horizon; at = at.Add(time.Minute) {
		if in(at) != cur {
			return at, true
		}
	}
	return time.Time{}, false
}

// Mute is a channel's time windows: it is muted inside any mute interval
// and, when it has active intervals, outside all of them (Alertmanager's
// mute_time_intervals and active_time_intervals of a route).
type Mute struct {
	Mute, Active Intervals
}

// IsZero reports whether the channel has no windows: it is never muted.
func (m Mute) IsZero() bool { return len(m.Mute) == 0 && len(m.Active) == 0 }

// Muted reports whether the channel is muted at t.
func (m Mute) Muted(t time.Time) bool {
	if m.Mute.Contains(t) {
		return true
	}
	return len(m.Active) > 0 && !m.Active.Contains(t)
}

// Until returns when a channel muted at t is next unmuted; ok is false
// when that is beyond Horizon.
func (m Mute) Until(t time.Time) (time.Time, bool) {
	return change(t, m.Muted)
}

// Describe says, for explain, whether the channel is muted at t and until
// when; empty when it is not muted.
func (m Mute) Describe(t time.Time) string {
	if m.IsZero() || !m.Muted(t) {
		return ""
	}
	if u, ok := m.Until(t); ok {
		return "channel muted until " + When(u)
	}
	return "channel muted beyond " + When(t.Add(Horizon))
}

// When formats a time for explain: the weekday helps with weekly windows.
func When(t time.Time) string { return t.Format("Mon 2006-01-02 15:04 MST") }
