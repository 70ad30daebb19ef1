package recall

import (
	"testing"
	"time"
)

// tqNow is a Wednesday.
var tqNow = time.Date(2026, 3, 18, 15, 4, 5, 0, time.UTC)

func TestParseTimeQuery(t *testing.T) {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		expr       string
		start, end *time.Time
	}{
		{"today", p(day(2026, 3, 18)), p(day(2026, 3, 19))},
		{"this day", p(day(2026, 3, 18)), p(day(2026, 3, 19))},
		{"Today", p(day(2026, 3, 18)), p(day(2026, 3, 19))},
		{"yesterday", p(day(2026, 3, 17)), p(day(2026, 3, 18))},
		{"last 24 hours", p(tqNow.Add(-24 * time.Hour)), p(tqNow)},
		{"past 24 hours", p(tqNow.Add(-24 * time.Hour)), p(tqNow)},
		{"last 48 hours", p(tqNow.Add(-48 * time.Hour)), p(tqNow)},
		{"this week", p(day(2026, 3, 16)), p(day(2026, 3, 23))},
		{"last week", p(day(2026, 3, 9)), p(day(2026, 3, 16))},
		{"past week", p(day(2026, 3, 9)), p(day(2026, 3, 16))},
		{"  Last   Week ", p(day(2026, 3, 9)), p(day(2026, 3, 16))},
		{"this month", p(day(2026, 3, 1)), p(day(2026, 4, 1))},
		{"last month", p(day(2026, 2, 1)), p(day(2026, 3, 1))},
		{"past month", p(day(2026, 2, 1)), p(day(2026, 3, 1))},
		{"this year", p(day(2026, 1, 1)), p(day(2027, 1, 1))},
		{"last year", p(day(2025, 1, 1)), p(day(2026, 1, 1))},
		{"past year", p(day(2025, 1, 1)), p(day(2026, 1, 1))},
		{"last 7 days", p(time.Date(2026, 3, 11, 15, 4, 5, 0, time.UTC)), p(tqNow)},
		{"last 1 day", p(time.Date(2026, 3, 17, 15, 4, 5, 0, time.UTC)), p(tqNow)},
		{"last 30 days", p(time.Date(2026, 2, 16, 15, 4, 5, 0, time.UTC)), p(tqNow)},
		{"past 7 days", p(time.Date(2026, 3, 11, 15, 4, 5, 0, time.UTC)), p(tqNow)},
		{"past 2 weeks", p(time.Date(2026, 3, 4, 15, 4, 5, 0, time.UTC)), p(tqNow)},
		{"last 3 months", p(time.Date(2025, 12, 18, 15, 4, 5, 0, time.UTC)), p(tqNow)},
		{"past 2 years", p(time.Date(2024, 3, 18, 15, 4, 5, 0, time.UTC)), p(tqNow)},
		{"last 6 hours", p(tqNow.Add(-6 * time.Hour)), p(tqNow)},
		{"3 days ago", p(day(2026, 3, 15)), p(day(2026, 3, 16))},
		{"a day ago", p(day(2026, 3, 17)), p(day(2026, 3, 18))},
		{"2 weeks ago", p(day(2026, 3, 2)), p(day(2026, 3, 9))},
		{"one week ago", p(day(2026, 3, 9)), p(day(2026, 3, 16))},
		{"a month ago", p(day(2026, 2, 1)), p(day(2026, 3, 1))},
		{"3 months ago", p(day(2025, 12, 1)), p(day(2026, 1, 1))},
		{"2 years ago", p(day(2024, 1, 1)), p(day(2025, 1, 1))},
		{"since 2026-03-01", p(day(2026, 3, 1)), p(tqNow)},
		{"since yesterday", p(day(2026, 3, 17)), p(tqNow)},
		{"after 2025", p(day(2025, 1, 1)), p(tqNow)},
		{"before 2026-01-01", nil, p(day(2026, 1, 1))},
		{"until march 2025", nil, p(day(2025, 3, 1))},
		{"in March 2025", p(day(2025, 3, 1)), p(day(2025, 4, 1))},
		{"march 2025", p(day(2025, 3, 1)), p(day(2025, 4, 1))},
		{"mar 2025", p(day(2025, 3, 1)), p(day(2025, 4, 1))},
		{"sept 2024", p(day(2024, 9, 1)), p(day(2024, 10, 1))},
		{"march", p(day(2026, 3, 1)), p(day(2026, 4, 1))},     // the current month
		{"february", p(day(2026, 2, 1)), p(day(2026, 3, 1))},  // earlier this year
		{"december", p(day(2025, 12, 1)), p(day(2026, 1, 1))}, // later than now → last year
		{"in april", p(day(2025, 4, 1)), p(day(2025, 5, 1))},  // later than now → last year
		{"2023", p(day(2023, 1, 1)), p(day(2024, 1, 1))},
		{"in 2023", p(day(2023, 1, 1)), p(day(2024, 1, 1))},
		{"2023-05", p(day(2023, 5, 1)), p(day(2023, 6, 1))},
		{"2023-12", p(day(2023, 12, 1)), p(day(2024, 1, 1))},
		{"2023-05-08", p(day(2023, 5, 8)), p(day(2023, 5, 9))},
		{"2023-05-01 to 2023-05-10", p(day(2023, 5, 1)), p(day(2023, 5, 11))},
		{"between 2023-05-01 and 2023-05-10", p(day(2023, 5, 1)), p(day(2023, 5, 11))},
		{"from 2023-05-01 to 2023-05-10", p(day(2023, 5, 1)), p(day(2023, 5, 11))},
		{"2023-05-01 .. 2023-05-10", p(day(2023, 5, 1)), p(day(2023, 5, 11))},
		{"between march 2025 and may 2025", p(day(2025, 3, 1)), p(day(2025, 6, 1))},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			w, ok := ParseTimeQuery(tt.expr, tqNow)
			wantOK := tt.start != nil || tt.end != nil
			if ok != wantOK {
				t.Fatalf("ParseTimeQuery(%q) ok = %v, want %v (window %s)", tt.expr, ok, wantOK, fmtWindow(w))
			}
			if !sameTime(w.Start, tt.start) || !sameTime(w.End, tt.end) {
				t.Errorf("ParseTimeQuery(%q) = %s, want %s", tt.expr, fmtWindow(w), fmtWindow(Window{tt.start, tt.end}))
			}
		})
	}
}

func TestParseTimeQueryUnknown(t *testing.T) {
	for _, expr := range []string{
		"", "   ", "whenever", "next week", "sometime", "last foo", "last few days", "2023-13", "2023-00",
		"recent stuff", "last march", "tomorrow", "since whenever", "before long", "between a and b", "13th",
	} {
		w, ok := ParseTimeQuery(expr, tqNow)
		if ok || w.Start != nil || w.End != nil {
			t.Errorf("ParseTimeQuery(%q) = %s, %v; want no window, false", expr, fmtWindow(w), ok)
		}
	}
}

// Weeks start on Monday whatever day now is.
func TestParseTimeQueryWeekBoundaries(t *testing.T) {
	tests := []struct {
		now       time.Time
		thisWeek  time.Time
		lastWeek  time.Time
		yesterday time.Time
	}{
		{time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)},     // Monday
		{time.Date(2026, 3, 22, 23, 59, 0, 0, time.UTC), time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 21, 0, 0, 0, 0, time.UTC)},   // Sunday
		{time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), time.Date(2025, 12, 29, 0, 0, 0, 0, time.UTC), time.Date(2025, 12, 22, 0, 0, 0, 0, time.UTC), time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)}, // Thursday
	}
	for _, tt := range tests {
		w, _ := ParseTimeQuery("this week", tt.now)
		if !sameTime(w.Start, &tt.thisWeek) || !sameTime(w.End, p(tt.thisWeek.AddDate(0, 0, 7))) {
			t.Errorf("this week at %v = %s", tt.now, fmtWindow(w))
		}
		w, _ = ParseTimeQuery("last week", tt.now)
		if !sameTime(w.Start, &tt.lastWeek) || !sameTime(w.End, &tt.thisWeek) {
			t.Errorf("last week at %v = %s", tt.now, fmtWindow(w))
		}
		w, _ = ParseTimeQuery("yesterday", tt.now)
		if !sameTime(w.Start, &tt.yesterday) || !sameTime(w.End, p(tt.yesterday.AddDate(0, 0, 1))) {
			t.Errorf("yesterday at %v = %s", tt.now, fmtWindow(w))
		}
	}
	// A non-UTC now is read in UTC.
	local := time.Date(2026, 3, 19, 1, 0, 0, 0, time.FixedZone("+05:00", 5*3600)) // 2026-03-18T20:00Z
	w, _ := ParseTimeQuery("today", local)
	if !sameTime(w.Start, p(time.Date(2026, 3, 18, 0, 0, 0, 0, time.UTC))) {
		t.Errorf("today at %v = %s, want the UTC day 2026-03-18", local, fmtWindow(w))
	}
	// January's "last month" is December of the previous year.
	w, _ = ParseTimeQuery("last month", time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC))
	if !sameTime(w.Start, p(time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC))) || !sameTime(w.End, p(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))) {
		t.Errorf("last month in January = %s", fmtWindow(w))
	}
}

func p(t time.Time) *time.Time { return &t }

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b) && a.Location() == time.UTC
}

func fmtWindow(w Window) string {
	f := func(t *time.Time) string {
		if t == nil {
			return "nil"
		}
		return t.Format(time.RFC3339Nano) + "(" + t.Location().String() + ")"
	}
	return "[" + f(w.Start) + ", " + f(w.End) + "]"
}
