package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func mustSilence(t *testing.T, data map[string]string) *Silence {
	t.Helper()
	s, err := ParseSilence(data)
	if err != nil {
		t.Fatalf("ParseSilence(%v): %v", data, err)
	}
	return s
}

// TestParseSilence proves a complete silence keeps every field, that
// starts-at is optional, that time-intervals may replace ends-at, and that
// surrounding whitespace in times is tolerated.
func TestParseSilence(t *testing.T) {
	s := mustSilence(t, map[string]string{
		KeyMatchers:      "# the pager storm\nalertname=\"NodeDown\"\n\n  node=~\"n1|n2\"  \n",
		KeyStartsAt:      " 2026-06-01T10:00:00Z\n",
		KeyEndsAt:        "2026-06-01T14:00:00+02:00", // 12:00Z
		KeyTimeIntervals: weekdayNights,
		KeyComment:       "maintenance",
	})
	if len(s.Matchers) != 2 || s.Matchers[0].String() != `alertname="NodeDown"` || s.Matchers[1].String() != `node=~"n1|n2"` {
		t.Errorf("matchers = %v", s.Matchers)
	}
	if !s.StartsAt.Equal(utc(2026, 6, 1, 10, 0)) || !s.EndsAt.Equal(utc(2026, 6, 1, 12, 0)) {
		t.Errorf("times = %s .. %s", s.StartsAt, s.EndsAt)
	}
	if len(s.Intervals) != 1 || s.Comment != "maintenance" {
		t.Errorf("intervals = %v, comment = %q", s.Intervals, s.Comment)
	}
	if !s.Matches(model.LabelSet{"alertname": "NodeDown", "node": "n2", "x": "y"}) || s.Matches(model.LabelSet{"alertname": "NodeDown", "node": "n3"}) {
		t.Error("Matches is wrong")
	}

	// A recurring silence needs no ends-at, nor starts-at.
	r := mustSilence(t, map[string]string{KeyMatchers: "namespace=~\".+\"", KeyTimeIntervals: weekdayNights})
	if !r.StartsAt.IsZero() || !r.EndsAt.IsZero() || r.Intervals == nil || r.Comment != "" {
		t.Errorf("recurring silence = %+v", r)
	}
	// A fixed one needs no starts-at.
	f := mustSilence(t, map[string]string{KeyMatchers: "foo!=\"\"", KeyEndsAt: "2026-06-01T12:00:00Z"})
	if !f.StartsAt.IsZero() || f.Intervals != nil {
		t.Errorf("fixed silence = %+v", f)
	}
}

// TestParseSilenceErrors proves every rejection, and that the messages are
// one line and never echo a field that is not at fault (the comment here).
func TestParseSilenceErrors(t *testing.T) {
	const secret = "s3cr3t-comment-value"
	valid := func(kv ...string) map[string]string {
		d := map[string]string{
			KeyMatchers: "alertname=\"X\"",
			KeyEndsAt:   "2026-06-01T12:00:00Z",
			KeyComment:  secret,
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "<delete>" {
				delete(d, kv[i])
			} else {
				d[kv[i]] = kv[i+1]
			}
		}
		return d
	}
	for _, tc := range []struct {
		name    string
		data    map[string]string
		wantErr string
	}{
		{"unknown key", valid("endsAt", "2026-06-01T12:00:00Z"), `unknown data key "endsAt"`},
		{"missing matchers", valid(KeyMatchers, "<delete>"), "at least one matcher is required"},
		{"only comments", valid(KeyMatchers, "# nothing\n\n"), "at least one matcher is required"},
		{"matches everything", valid(KeyMatchers, `foo=~".*"`), "must not match the empty string"},
		{"all match empty", valid(KeyMatchers, "foo=\"\"\nbar!=\"x\"\nbaz=~\"a|\""), "must not match the empty string"},
		{"bad matcher", valid(KeyMatchers, "alertname=\"X\"\nfoo=~\"(\""), "matchers, line 2"},
		{"too many matchers", valid(KeyMatchers, strings.Repeat("a=\"b\"\n", MaxMatchers+1)), "more than 64 matchers"},
		{"bad ends-at", valid(KeyEndsAt, "2026-06-01 12:00"), `ends-at: "2026-06-01 12:00" is not an RFC 3339 time`},
		{"ends-at without zone", valid(KeyEndsAt, "2026-06-01T12:00:00"), "not an RFC 3339 time"},
		{"empty ends-at", valid(KeyEndsAt, ""), "not an RFC 3339 time"},
		{"bad starts-at", valid(KeyStartsAt, "tomorrow\nat noon"), `starts-at: "tomorrow\nat noon" is not`},
		{"no end", valid(KeyEndsAt, "<delete>"), "a silence must end"},
		{"starts-at only", valid(KeyEndsAt, "<delete>", KeyStartsAt, "2026-06-01T10:00:00Z"), "a silence must end"},
		{"ends-at equals starts-at", valid(KeyStartsAt, "2026-06-01T12:00:00Z"), "ends-at 2026-06-01T12:00:00Z is not after starts-at 2026-06-01T12:00:00Z"},
		{"ends-at before starts-at", valid(KeyStartsAt, "2026-06-01T14:00:00+02:00", KeyEndsAt, "2026-06-01T11:59:59Z"), "is not after"},
		{"bad time-intervals", valid(KeyTimeIntervals, "- times:\n  - start_time: 25:00\n    end_time: 26:00\n"), "time-intervals: "},
		{"time-intervals unknown key", valid(KeyTimeIntervals, "- weekday: [monday]\n"), "time-intervals: "},
		{"empty time-intervals", valid(KeyTimeIntervals, ""), "time-intervals: the list is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSilence(tc.data)
			if err == nil {
				t.Fatalf("got %+v, want an error containing %q", s, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
			oneLine(t, err)
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q echoes the comment", err)
			}
			if s != nil {
				t.Errorf("silence %+v returned with an error", s)
			}
		})
	}
}

// TestSilenceWindow proves the edges of a fixed silence: active from
// starts-at exactly, pending one nanosecond before, expired at ends-at
// exactly, and Until is ends-at.
func TestSilenceWindow(t *testing.T) {
	start, end := utc(2026, 6, 1, 10, 0), utc(2026, 6, 1, 12, 0)
	s := mustSilence(t, map[string]string{
		KeyMatchers: "alertname=\"X\"",
		KeyStartsAt: start.Format(time.RFC3339),
		KeyEndsAt:   end.Format(time.RFC3339),
	})
	noStart := mustSilence(t, map[string]string{KeyMatchers: "alertname=\"X\"", KeyEndsAt: end.Format(time.RFC3339)})
	for _, tc := range []struct {
		name   string
		s      *Silence
		at     time.Time
		active bool
		state  State
	}{
		{"long before", s, start.Add(-time.Hour), false, StatePending},
		{"1ns before starts-at", s, start.Add(-time.Nanosecond), false, StatePending},
		{"at starts-at", s, start, true, StateActive},
		{"inside", s, start.Add(time.Hour), true, StateActive},
		{"1ns before ends-at", s, end.Add(-time.Nanosecond), true, StateActive},
		{"at ends-at", s, end, false, StateExpired},
		{"after ends-at", s, end.Add(24 * time.Hour), false, StateExpired},
		{"no starts-at, long before", noStart, utc(2000, 1, 1, 0, 0), true, StateActive},
		{"no starts-at, at ends-at", noStart, end, false, StateExpired},
	} {
		if got := tc.s.Active(tc.at); got != tc.active {
			t.Errorf("%s: Active = %v, want %v", tc.name, got, tc.active)
		}
		if got := tc.s.State(tc.at); got != tc.state {
			t.Errorf("%s: State = %q, want %q", tc.name, got, tc.state)
		}
		// A fixed silence ends at ends-at, whenever asked.
		if u, ok := tc.s.Until(tc.at); !ok || !u.Equal(end) {
			t.Errorf("%s: Until = %s, %v; want %s, true", tc.name, u, ok, end)
		}
	}
}

// TestSilenceRecurring proves a time-intervals silence is active inside its
// window only, pending outside it, bounded by starts-at and ends-at, and
// that Until is the first minute the window closes or ends-at if sooner.
func TestSilenceRecurring(t *testing.T) {
	nights := map[string]string{KeyMatchers: "alertname=\"X\"", KeyTimeIntervals: weekdayNights}
	bounded := map[string]string{
		KeyMatchers:      "alertname=\"X\"",
		KeyTimeIntervals: weekdayNights,
		KeyStartsAt:      "2026-06-02T00:00:00Z", // Tue
		KeyEndsAt:        "2026-06-04T03:00:00Z", // Thu, inside Wed night's window
	}
	office := map[string]string{KeyMatchers: "alertname=\"X\"", KeyTimeIntervals: berlinOffice}
	always := map[string]string{KeyMatchers: "alertname=\"X\"", KeyTimeIntervals: "- years: ['2000:2100']\n"}
	alwaysBounded := map[string]string{KeyMatchers: "alertname=\"X\"", KeyTimeIntervals: "- years: ['2000:2100']\n", KeyEndsAt: "2026-07-01T00:00:00Z"}
	for _, tc := range []struct {
		name  string
		data  map[string]string
		at    time.Time
		state State
		until time.Time // when active
		ok    bool
	}{
		{"inside, Mon 23:30", nights, utc(2026, 6, 1, 23, 30), StateActive, utc(2026, 6, 2, 6, 0), true},
		{"inside with seconds", nights, time.Date(2026, 6, 2, 5, 59, 59, 0, time.UTC), StateActive, utc(2026, 6, 2, 6, 0), true},
		{"at window start", nights, utc(2026, 6, 2, 22, 0), StateActive, utc(2026, 6, 3, 6, 0), true},
		{"at window end", nights, utc(2026, 6, 2, 6, 0), StatePending, time.Time{}, false},
		{"outside, noon", nights, utc(2026, 6, 2, 12, 0), StatePending, time.Time{}, false},
		{"Fri night closes at midnight", nights, utc(2026, 6, 5, 23, 0), StateActive, utc(2026, 6, 6, 0, 0), true},
		{"Saturday morning", nights, utc(2026, 6, 6, 1, 0), StatePending, time.Time{}, false},
		{"bounded, before starts-at inside window", bounded, utc(2026, 6, 1, 23, 0), StatePending, time.Time{}, false},
		{"bounded, from starts-at", bounded, utc(2026, 6, 2, 0, 0), StateActive, utc(2026, 6, 2, 6, 0), true},
		{"bounded, ends-at cuts the window", bounded, utc(2026, 6, 3, 23, 0), StateActive, utc(2026, 6, 4, 3, 0), true},
		{"bounded, 1ns before ends-at", bounded, utc(2026, 6, 4, 3, 0).Add(-time.Nanosecond), StateActive, utc(2026, 6, 4, 3, 0), true},
		{"bounded, at ends-at inside window", bounded, utc(2026, 6, 4, 3, 0), StateExpired, time.Time{}, false},
		{"bounded, after ends-at outside window", bounded, utc(2026, 6, 4, 12, 0), StateExpired, time.Time{}, false},
		{"berlin office, summer", office, utc(2026, 6, 1, 7, 0), StateActive, utc(2026, 6, 1, 15, 0), true},
		{"berlin office, before DST 07:00Z", office, utc(2026, 3, 27, 7, 0), StatePending, time.Time{}, false},
		{"berlin office, after DST 07:00Z", office, utc(2026, 3, 30, 7, 0), StateActive, utc(2026, 3, 30, 15, 0), true},
		{"always, unbounded: beyond the horizon", always, utc(2026, 6, 1, 0, 0), StateActive, time.Time{}, false},
		{"always, ends-at beyond the horizon", alwaysBounded, utc(2026, 6, 1, 0, 0), StateActive, utc(2026, 7, 1, 0, 0), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustSilence(t, tc.data)
			if got := s.State(tc.at); got != tc.state {
				t.Errorf("State = %q, want %q", got, tc.state)
			}
			if got := s.Active(tc.at); got != (tc.state == StateActive) {
				t.Errorf("Active = %v, want %v", got, tc.state == StateActive)
			}
			if tc.state != StateActive {
				return
			}
			u, ok := s.Until(tc.at)
			if ok != tc.ok || !u.Equal(tc.until) {
				t.Errorf("Until = %s, %v; want %s, %v", u, ok, tc.until, tc.ok)
			}
		})
	}
}
