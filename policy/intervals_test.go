package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // locations without system zoneinfo
)

// Fixed dates used throughout: 2026-06-01 is a Monday, and in 2026 the EU
// moves to summer time on Sunday 2026-03-29 (02:00 CET -> 03:00 CEST) and
// the US on Sunday 2026-03-08 (02:00 EST -> 03:00 EDT).

// utc is a shorthand for a time in UTC.
func utc(y int, mo time.Month, d, h, mi int) time.Time {
	return time.Date(y, mo, d, h, mi, 0, 0, time.UTC)
}

func mustLocation(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("LoadLocation(%q): %v", name, err)
	}
	return loc
}

func mustIntervals(t *testing.T, s string) Intervals {
	t.Helper()
	iv, err := ParseIntervals(s)
	if err != nil {
		t.Fatalf("ParseIntervals(%q): %v", s, err)
	}
	return iv
}

// oneLine fails when an error message spans several lines.
func oneLine(t *testing.T, err error) {
	t.Helper()
	if strings.ContainsAny(err.Error(), "\n\r") {
		t.Errorf("error is not one line: %q", err)
	}
}

// Weekday nights, across midnight: 22:00-24:00 and 00:00-06:00, Monday to
// Friday (so Friday night ends at midnight: Saturday is not a weekday).
const weekdayNights = `
- times:
  - start_time: 22:00
    end_time: 24:00
  - start_time: 00:00
    end_time: 06:00
  weekdays: ['monday:friday']
`

// Office hours in Berlin.
const berlinOffice = `
- times:
  - start_time: 09:00
    end_time: 17:00
  weekdays: ['monday:friday']
  location: Europe/Berlin
`

// TestParseIntervals proves valid lists parse and that every rejection
// (strict keys, empty list, too many entries, bad times) is a one-line error.
func TestParseIntervals(t *testing.T) {
	entry := "- weekdays: [saturday]\n"
	for _, tc := range []struct {
		name, in string
		entries  int
		wantErr  string
	}{
		{name: "nights", in: weekdayNights, entries: 1},
		{name: "two entries", in: "- weekdays: [saturday]\n- weekdays: [sunday]\n", entries: 2},
		{name: "max entries", in: strings.Repeat(entry, MaxIntervals), entries: MaxIntervals},
		{name: "with location", in: berlinOffice, entries: 1},
		{name: "unknown key", in: "- weekdays: [monday]\n  hours: [1]\n", wantErr: "field hours not found"},
		{name: "unknown key in times", in: "- times:\n  - start: 09:00\n    end_time: 10:00\n", wantErr: "field start not found"},
		{name: "empty string", in: "", wantErr: "the list is empty"},
		{name: "empty list", in: "[]", wantErr: "the list is empty"},
		{name: "too many", in: strings.Repeat(entry, MaxIntervals+1), wantErr: fmt.Sprintf("%d entries, at most %d", MaxIntervals+1, MaxIntervals)},
		{name: "bad time", in: "- times:\n  - start_time: 25:00\n    end_time: 26:00\n", wantErr: "25:00"},
		{name: "start after end", in: "- times:\n  - start_time: 10:00\n    end_time: 09:00\n", wantErr: "start time"},
		{name: "bad weekday", in: "- weekdays: [funday]\n", wantErr: "funday"},
		{name: "bad location", in: "- location: Mars/Olympus\n", wantErr: "Mars/Olympus"},
		{name: "not a list", in: "weekdays: [monday]\n", wantErr: "cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iv, err := ParseIntervals(tc.in)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("got %d entries, want an error containing %q", len(iv), tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q does not contain %q", err, tc.wantErr)
				}
				oneLine(t, err)
				if iv != nil {
					t.Errorf("intervals %v returned with an error", iv)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if len(iv) != tc.entries {
				t.Errorf("got %d entries, want %d", len(iv), tc.entries)
			}
		})
	}
}

// TestIntervalsContainsAcrossMidnight proves a window made of 22:00-24:00
// and 00:00-06:00 is continuous over weekday midnights, with exact edges,
// and does not spill into Saturday morning.
func TestIntervalsContainsAcrossMidnight(t *testing.T) {
	iv := mustIntervals(t, weekdayNights)
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{utc(2026, 6, 1, 21, 59), false},                          // Mon, before the evening part
		{utc(2026, 6, 1, 22, 0), true},                            // Mon 22:00: start edge
		{time.Date(2026, 6, 1, 23, 59, 59, 999, time.UTC), true},  // just before midnight
		{utc(2026, 6, 2, 0, 0), true},                             // Tue 00:00
		{time.Date(2026, 6, 2, 5, 59, 59, 0, time.UTC), true},     // Tue 05:59:59
		{utc(2026, 6, 2, 6, 0), false},                            // Tue 06:00: end edge excluded
		{utc(2026, 6, 2, 12, 0), false},                           // Tue noon
		{utc(2026, 6, 5, 23, 0), true},                            // Fri 23:00
		{utc(2026, 6, 6, 1, 0), false},                            // Sat 01:00: not a weekday
		{utc(2026, 6, 7, 23, 0), false},                           // Sun 23:00
		{utc(2026, 6, 8, 0, 30), true},                            // Mon 00:30
		{time.Date(2026, 6, 1, 21, 59, 59, 999, time.UTC), false}, // sub-minute before start
	} {
		if got := iv.Contains(tc.at); got != tc.want {
			t.Errorf("Contains(%s) = %v, want %v", tc.at.Format(time.RFC3339Nano+" Mon"), got, tc.want)
		}
	}
	if (Intervals(nil)).Contains(utc(2026, 6, 1, 0, 0)) {
		t.Error("an empty list contains a time")
	}
}

// TestIntervalsLocationDST proves location: is honoured and follows the
// DST change: Berlin office hours start at 08:00 UTC in winter and 07:00
// UTC in summer, and New York's at 14:00 then 13:00 UTC.
func TestIntervalsLocationDST(t *testing.T) {
	berlin := mustIntervals(t, berlinOffice)
	ny := mustIntervals(t, strings.Replace(berlinOffice, "Europe/Berlin", "America/New_York", 1))
	for _, tc := range []struct {
		name string
		iv   Intervals
		at   time.Time
		want bool
	}{
		{"berlin Fri before DST 07:30Z = 08:30 CET", berlin, utc(2026, 3, 27, 7, 30), false},
		{"berlin Fri before DST 08:00Z = 09:00 CET", berlin, utc(2026, 3, 27, 8, 0), true},
		{"berlin Fri before DST 15:59Z = 16:59 CET", berlin, utc(2026, 3, 27, 15, 59), true},
		{"berlin Fri before DST 16:00Z = 17:00 CET", berlin, utc(2026, 3, 27, 16, 0), false},
		{"berlin Mon after DST 07:00Z = 09:00 CEST", berlin, utc(2026, 3, 30, 7, 0), true},
		{"berlin Mon after DST 06:59Z = 08:59 CEST", berlin, utc(2026, 3, 30, 6, 59), false},
		{"berlin Mon after DST 15:00Z = 17:00 CEST", berlin, utc(2026, 3, 30, 15, 0), false},
		{"berlin Mon after DST 14:59Z = 16:59 CEST", berlin, utc(2026, 3, 30, 14, 59), true},
		{"berlin weekday in local time: Sun 23:30Z is Mon 01:30", berlin, utc(2026, 6, 7, 23, 30), false},
		{"ny Fri before DST 13:30Z = 08:30 EST", ny, utc(2026, 3, 6, 13, 30), false},
		{"ny Fri before DST 14:00Z = 09:00 EST", ny, utc(2026, 3, 6, 14, 0), true},
		{"ny Mon after DST 13:00Z = 09:00 EDT", ny, utc(2026, 3, 9, 13, 0), true},
		{"ny Mon after DST 21:00Z = 17:00 EDT", ny, utc(2026, 3, 9, 21, 0), false},
		{"ny Mon after DST 20:59Z = 16:59 EDT", ny, utc(2026, 3, 9, 20, 59), true},
	} {
		if got := tc.iv.Contains(tc.at); got != tc.want {
			t.Errorf("%s: Contains = %v, want %v", tc.name, got, tc.want)
		}
	}
	// The time's own location does not matter, only the instant.
	at := utc(2026, 3, 30, 7, 0).In(mustLocation(t, "Asia/Tokyo"))
	if !berlin.Contains(at) {
		t.Errorf("Contains(%s) = false: the instant is 09:00 in Berlin", at)
	}
}

// TestMuteMuted proves Muted for mute intervals only, active intervals only
// (muted outside them), both, and none.
func TestMuteMuted(t *testing.T) {
	nights := mustIntervals(t, weekdayNights)
	office := mustIntervals(t, berlinOffice) // summer: 07:00-15:00 UTC, Mon-Fri
	lunch := mustIntervals(t, `
- times:
  - start_time: 10:00
    end_time: 11:00
  location: Europe/Berlin
`) // summer: 08:00-09:00 UTC
	for _, tc := range []struct {
		name string
		m    Mute
		at   time.Time
		want bool
	}{
		{"zero", Mute{}, utc(2026, 6, 1, 23, 0), false},
		{"mute only, inside", Mute{Mute: nights}, utc(2026, 6, 1, 23, 0), true},
		{"mute only, outside", Mute{Mute: nights}, utc(2026, 6, 1, 12, 0), false},
		{"active only, inside", Mute{Active: office}, utc(2026, 6, 1, 7, 0), false},
		{"active only, before", Mute{Active: office}, utc(2026, 6, 1, 6, 59), true},
		{"active only, at end", Mute{Active: office}, utc(2026, 6, 1, 15, 0), true},
		{"active only, weekend", Mute{Active: office}, utc(2026, 6, 6, 10, 0), true},
		{"both, active and not muted", Mute{Mute: lunch, Active: office}, utc(2026, 6, 1, 9, 0), false},
		{"both, active but muted", Mute{Mute: lunch, Active: office}, utc(2026, 6, 1, 8, 30), true},
		{"both, outside active", Mute{Mute: lunch, Active: office}, utc(2026, 6, 1, 16, 0), true},
		{"both, lunch on weekend", Mute{Mute: lunch, Active: office}, utc(2026, 6, 6, 8, 30), true},
	} {
		if got := tc.m.Muted(tc.at); got != tc.want {
			t.Errorf("%s: Muted(%s) = %v, want %v", tc.name, tc.at.Format(time.RFC3339), got, tc.want)
		}
	}
	if !(Mute{}).IsZero() || (Mute{Mute: nights}).IsZero() || (Mute{Active: office}).IsZero() {
		t.Error("IsZero is wrong")
	}
}

// TestMuteUntilAndDescribe proves Until finds the first whole minute the
// channel is unmuted (across midnight, across a weekend spanning the DST
// change, from a time with seconds), Describe's text, and the Horizon
// "beyond" case with its exact boundary.
func TestMuteUntilAndDescribe(t *testing.T) {
	nights := mustIntervals(t, weekdayNights)
	office := mustIntervals(t, berlinOffice)
	berlin := mustLocation(t, "Europe/Berlin")
	// Muted 2026-06-01 00:00 until 2026-06-15 00:00 (exactly Horizon) or
	// until 2026-06-16 00:00 (a day beyond it).
	atHorizon := mustIntervals(t, "- months: [june]\n  days_of_month: ['1:14']\n")
	pastHorizon := mustIntervals(t, "- months: [june]\n  days_of_month: ['1:15']\n")
	always := mustIntervals(t, "- years: ['2000:2100']\n")
	for _, tc := range []struct {
		name     string
		m        Mute
		at       time.Time
		until    time.Time
		ok       bool
		describe string
	}{
		{
			name: "night mute across midnight", m: Mute{Mute: nights},
			at: time.Date(2026, 6, 2, 23, 30, 15, 0, time.UTC), until: utc(2026, 6, 3, 6, 0), ok: true,
			describe: "channel muted until Wed 2026-06-03 06:00 UTC",
		},
		{
			name: "friday night ends at midnight", m: Mute{Mute: nights},
			at: utc(2026, 6, 5, 22, 0), until: utc(2026, 6, 6, 0, 0), ok: true,
			describe: "channel muted until Sat 2026-06-06 00:00 UTC",
		},
		{
			// Fri 17:00 CET until Mon 09:00 CEST: 07:00 UTC, not 08:00.
			name: "weekend across DST", m: Mute{Active: office},
			at: utc(2026, 3, 27, 16, 0), until: utc(2026, 3, 30, 7, 0), ok: true,
			describe: "channel muted until Mon 2026-03-30 07:00 UTC",
		},
		{
			name: "weekend across DST, in Berlin time", m: Mute{Active: office},
			at: utc(2026, 3, 27, 16, 0).In(berlin), until: utc(2026, 3, 30, 7, 0), ok: true,
			describe: "channel muted until Mon 2026-03-30 09:00 CEST",
		},
		{
			name: "window closing exactly at the horizon", m: Mute{Mute: atHorizon},
			at: utc(2026, 6, 1, 0, 0), until: utc(2026, 6, 15, 0, 0), ok: true,
			describe: "channel muted until Mon 2026-06-15 00:00 UTC",
		},
		{
			name: "window closing after the horizon", m: Mute{Mute: pastHorizon},
			at: utc(2026, 6, 1, 0, 0), ok: false,
			describe: "channel muted beyond Mon 2026-06-15 00:00 UTC",
		},
		{
			name: "always muted", m: Mute{Mute: always},
			at: utc(2026, 6, 1, 12, 34), ok: false,
			describe: "channel muted beyond Mon 2026-06-15 12:34 UTC",
		},
		{
			name: "not muted describes nothing", m: Mute{Mute: nights},
			at: utc(2026, 6, 1, 12, 0), until: utc(2026, 6, 1, 22, 0), ok: true, // Until gives the next change
			describe: "",
		},
		{
			name: "zero mute describes nothing", m: Mute{},
			at: utc(2026, 6, 1, 12, 0), ok: false,
			describe: "",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, ok := tc.m.Until(tc.at)
			if ok != tc.ok || !u.Equal(tc.until) {
				t.Errorf("Until(%s) = %s, %v; want %s, %v", tc.at, u, ok, tc.until, tc.ok)
			}
			if got := tc.m.Describe(tc.at); got != tc.describe {
				t.Errorf("Describe = %q, want %q", got, tc.describe)
			}
		})
	}
}

// TestWhen pins the explain time format (weekday and zone included).
func TestWhen(t *testing.T) {
	ny := mustLocation(t, "America/New_York")
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{utc(2026, 6, 1, 9, 5), "Mon 2026-06-01 09:05 UTC"},
		{time.Date(2026, 3, 8, 1, 59, 0, 0, ny), "Sun 2026-03-08 01:59 EST"},
		{time.Date(2026, 3, 8, 3, 0, 0, 0, ny), "Sun 2026-03-08 03:00 EDT"},
	} {
		if got := When(tc.at); got != tc.want {
			t.Errorf("When(%s) = %q, want %q", tc.at, got, tc.want)
		}
	}
}
