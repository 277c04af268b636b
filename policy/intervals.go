package policy

import (
	"errors"
	"fmt"
	"slices"
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
	ranges := 0
	for i, ti := range iv {
		n := len(ti.Times) + len(ti.Weekdays) + len(ti.DaysOfMonth) + len(ti.Months) + len(ti.Years)
		if n == 0 {
			return nil, fmt.Errorf("entry %d has no times, weekdays, days_of_month, months or years: it would hold all the time", i+1)
		}
		ranges += n
	}
	if ranges > MaxRanges {
		return nil, fmt.Errorf("%d ranges in all, at most %d are allowed", ranges, MaxRanges)
	}
	return iv, nil
}

// MaxRanges bounds the ranges (times, weekdays, days, months, years) of
// one list, so that deciding whether a time is in it stays cheap.
const MaxRanges = 256

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

// Horizon is how far ahead the end of a window is looked for; a window
// that lasts longer is reported as lasting "beyond".
const Horizon = 14 * 24 * time.Hour

// change returns the first instant after t (within Horizon) at which in
// differs from in(t), and whether there is one. Membership in a list of
// time intervals depends only on the date and the minute of the day on
// each entry's clock, so it can change only at a midnight or at the start
// or end of a time range there: those are the only instants looked at.
func change(t time.Time, in func(time.Time) bool, lists ...Intervals) (time.Time, bool) {
	var at []time.Time
	for _, iv := range lists {
		at = iv.boundaries(t, at)
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	cur := in(t)
	for i, c := range at {
		if i > 0 && c.Equal(at[i-1]) {
			continue
		}
		if in(c) != cur {
			return c.In(t.Location()), true
		}
	}
	return time.Time{}, false
}

// boundaries appends the midnights and time range edges of every entry in
// (t, t+Horizon], on the entry's clock.
func (iv Intervals) boundaries(t time.Time, out []time.Time) []time.Time {
	end := t.Add(Horizon)
	add := func(c time.Time) {
		if c.After(t) && !c.After(end) {
			out = append(out, c)
		}
	}
	for _, ti := range iv {
		loc := t.Location()
		if ti.Location != nil {
			loc = ti.Location.Location
		}
		local := t.In(loc)
		for d := -1; d <= int(Horizon/(24*time.Hour))+1; d++ {
			y, m, day := local.AddDate(0, 0, d).Date()
			add(time.Date(y, m, day, 0, 0, 0, 0, loc))
			for _, tr := range ti.Times {
				add(time.Date(y, m, day, 0, tr.StartMinute, 0, 0, loc))
				add(time.Date(y, m, day, 0, tr.EndMinute, 0, 0, loc))
			}
		}
	}
	return out
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
	return change(t, m.Muted, m.Mute, m.Active)
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
