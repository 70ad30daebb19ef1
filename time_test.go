package mnemo

import (
	"testing"
	"time"
)

func TestFormatTime(t *testing.T) {
	plus2 := time.FixedZone("+02:00", 2*3600)
	minus530 := time.FixedZone("-05:30", -(5*3600 + 30*60))
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{"year 1 (Go's zero time) is a time like any other", time.Time{}, "0001-01-01T00:00:00+00:00"},
		{"the last microsecond of year 9999", time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), "9999-12-31T23:59:59.999999+00:00"},
		{"whole seconds have no fraction", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "2026-01-02T03:04:05+00:00"},
		{"microseconds", time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC), "2026-01-02T03:04:05.123456+00:00"},
		{"one microsecond keeps six digits", time.Date(2026, 1, 2, 3, 4, 5, 1000, time.UTC), "2026-01-02T03:04:05.000001+00:00"},
		{"milliseconds pad to six digits", time.Date(2026, 1, 2, 3, 4, 5, 10000000, time.UTC), "2026-01-02T03:04:05.010000+00:00"},
		{"trailing zeros are kept", time.Date(2026, 1, 2, 3, 4, 5, 500000000, time.UTC), "2026-01-02T03:04:05.500000+00:00"},
		{"nanoseconds are truncated, not rounded", time.Date(2026, 1, 2, 3, 4, 5, 123456999, time.UTC), "2026-01-02T03:04:05.123456+00:00"},
		{"below a microsecond counts as zero", time.Date(2026, 1, 2, 3, 4, 5, 999, time.UTC), "2026-01-02T03:04:05+00:00"},
		{"offset converted to UTC", time.Date(2026, 1, 2, 5, 4, 5, 0, plus2), "2026-01-02T03:04:05+00:00"},
		{"negative offset crosses midnight", time.Date(2026, 1, 1, 22, 0, 0, 0, minus530), "2026-01-02T03:30:00+00:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatTime(tt.in); got != tt.want {
				t.Errorf("FormatTime(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want string // FormatTime of the result
	}{
		{"2026-01-02", "2026-01-02T00:00:00+00:00"},
		{"2026-01-02T03:04:05", "2026-01-02T03:04:05+00:00"},
		{"2026-01-02T03:04:05Z", "2026-01-02T03:04:05+00:00"},
		{"2026-01-02T03:04:05z", "2026-01-02T03:04:05+00:00"},
		{"2026-01-02T03:04:05+00:00", "2026-01-02T03:04:05+00:00"},
		{"2026-01-02T03:04:05+02:00", "2026-01-02T01:04:05+00:00"},
		{"2026-01-02T03:04:05-05:30", "2026-01-02T08:34:05+00:00"},
		{"2026-01-02T03:04:05+0200", "2026-01-02T01:04:05+00:00"},
		{"2026-01-01T23:30:00-01:00", "2026-01-02T00:30:00+00:00"},
		{"2026-01-02 03:04:05", "2026-01-02T03:04:05+00:00"},
		{"2026-01-02 03:04:05+01:00", "2026-01-02T02:04:05+00:00"},
		{"2026-01-02T03:04:05.123456", "2026-01-02T03:04:05.123456+00:00"},
		{"2026-01-02T03:04:05.5Z", "2026-01-02T03:04:05.500000+00:00"},
		{"2026-01-02T03:04:05.1234567", "2026-01-02T03:04:05.123456+00:00"},
		{"2026-01-02T03:04", "2026-01-02T03:04:00+00:00"},
		{"2026-01-02T03", "2026-01-02T03:00:00+00:00"},
		{"20260102", "2026-01-02T00:00:00+00:00"},
		{"20260102T030405", "2026-01-02T03:04:05+00:00"},
		{"20260102T0304", "2026-01-02T03:04:00+00:00"},
		{"  2026-01-02T03:04:05Z  ", "2026-01-02T03:04:05+00:00"},
		{"0001-01-01", "0001-01-01T00:00:00+00:00"},
		{"0001-01-01T00:00:00+00:00", "0001-01-01T00:00:00+00:00"},
		{"9999-12-31T23:59:59.999999", "9999-12-31T23:59:59.999999+00:00"},
		{"9999-12-31T23:59:59.9999999", "9999-12-31T23:59:59.999999+00:00"},
		{"0001-01-01T05:00:00+05:00", "0001-01-01T00:00:00+00:00"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTime(tt.in)
			if err != nil {
				t.Fatalf("ParseTime(%q) error: %v", tt.in, err)
			}
			if got.Location() != time.UTC {
				t.Errorf("ParseTime(%q) location = %v, want UTC", tt.in, got.Location())
			}
			if s := FormatTime(got); s != tt.want {
				t.Errorf("ParseTime(%q) = %s, want %s", tt.in, s, tt.want)
			}
		})
	}
}

// Python's fromisoformat (reference §3.1) also accepts an hour-only offset.
func TestParseTimeHourOffset(t *testing.T) {
	got, err := ParseTime("2026-01-02T03:04:05+02")
	if err != nil {
		t.Fatalf("ParseTime(%q) error: %v", "2026-01-02T03:04:05+02", err)
	}
	if s := FormatTime(got); s != "2026-01-02T01:04:05+00:00" {
		t.Errorf("ParseTime = %s, want 2026-01-02T01:04:05+00:00", s)
	}
}

func TestParseTimeRejects(t *testing.T) {
	for _, in := range []string{
		"", "   ", "junk", "yesterday", "2026-1-2", "2026-13-01", "2026-02-30", "2026-01-02T25:00:00",
		"2026-01-02T03:04:05+25:00", "02/01/2026", "1735689600", "2026-01-02T03:04:05Zjunk", "2026",
		// Outside years 1 to 9999 in UTC, directly or by the offset.
		"0000-01-01", "0000-12-31T23:59:59Z", "0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01",
		"10000-01-01", "-0001-01-01",
	} {
		if got, err := ParseTime(in); err == nil {
			t.Errorf("ParseTime(%q) = %v, want an error", in, got)
		}
	}
}

// Every time ParseTime accepts formats to a string it reads back as the
// same instant: what an export writes, an import reads.
func TestParseTimeRoundTripsAtTheEdges(t *testing.T) {
	for _, in := range []string{"0001-01-01", "0001-01-01T00:00:00.000001Z", "9999-12-31T23:59:59.999999Z", "2026-06-01T12:00:00+14:00"} {
		first, err := ParseTime(in)
		if err != nil {
			t.Fatalf("ParseTime(%q): %v", in, err)
		}
		again, err := ParseTime(FormatTime(first))
		if err != nil || !again.Equal(first) {
			t.Errorf("ParseTime(FormatTime(%q)) = %v, %v; want %v", in, again, err, first)
		}
	}
}

func TestBack(t *testing.T) {
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		n    int64
		unit string
		want string // "" when refused
	}{
		{3, "hour", "2026-12-06T05:00:00+00:00"},
		{49, "hour", "2026-12-04T07:00:00+00:00"},
		{2, "day", "2026-12-04T08:00:00+00:00"},
		{2, "week", "2026-11-22T08:00:00+00:00"},
		{13, "month", "2025-11-06T08:00:00+00:00"},
		{2025, "year", "0001-12-06T08:00:00+00:00"},
		// 3,000,000 hours overflowed a time.Duration into a window after now.
		{3000000, "hour", "1684-09-09T08:00:00+00:00"},
		{2026, "year", ""},
		{MaxBack("hour") + 1, "hour", ""},
		{MaxBack("day"), "day", ""},
		{1 << 62, "month", ""},
		{-1, "day", ""},
		{1, "fortnight", ""},
	}
	for _, tt := range tests {
		got, ok := Back(now, tt.n, tt.unit)
		if tt.want == "" {
			if ok {
				t.Errorf("Back(%d %s) = %v, want refused", tt.n, tt.unit, got)
			}
			continue
		}
		if !ok || FormatTime(got) != tt.want {
			t.Errorf("Back(%d %s) = %s, %v; want %s", tt.n, tt.unit, FormatTime(got), ok, tt.want)
		}
	}
}
