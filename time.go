package mnemo

import (
	"fmt"
	"strings"
	"time"
)

// Every time a client gives or is given lies within years 1 to 9999 (UTC):
// the four-digit years ISO 8601 and Python's datetime can write and read,
// so that everything an export holds imports again.
var (
	MinTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

// InTimeRange reports whether t lies within years 1 to 9999 (UTC).
func InTimeRange(t time.Time) bool { return !t.Before(MinTime) && !t.After(MaxTime) }

// FormatTime renders t as Python's datetime.isoformat() in UTC, the form
// AutoMem stores and clients compare: microseconds only when non-zero.
// 0001-01-01T00:00:00 is a time like any other (it is Go's zero value,
// which once rendered as "" and then failed to import).
func FormatTime(t time.Time) string {
	t = t.UTC().Truncate(time.Microsecond)
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02T15:04:05+00:00")
	}
	return t.Format("2006-01-02T15:04:05.000000+00:00")
}

var isoLayouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02T15Z07:00",
	"2006-01-02T15",
	"2006-01-02",
	"20060102T150405.999999999Z0700",
	"20060102T150405.999999999",
	"20060102T1504",
	"20060102",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999Z07",
	"2006-01-02T15:04Z07",
}

// ParseTime parses an ISO 8601 timestamp the way Python 3.12's
// datetime.fromisoformat does for the forms clients send: date only, 'T' or
// ' ' separator, fractional seconds, 'Z' or an offset, and the basic format.
// A value without an offset is taken as UTC. The result is in UTC and
// within years 1 to 9999 (an offset may not carry it outside). Precision
// beyond a microsecond is dropped, as the store keeps microseconds.
func ParseTime(s string) (time.Time, error) {
	v := strings.TrimSpace(s)
	if v == "" {
		return time.Time{}, fmt.Errorf("empty timestamp")
	}
	if len(v) > 10 && v[10] == ' ' {
		v = v[:10] + "T" + v[11:]
	}
	if strings.HasSuffix(v, "z") {
		v = v[:len(v)-1] + "Z"
	}
	for _, layout := range isoLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			t = t.UTC().Truncate(time.Microsecond)
			if !InTimeRange(t) {
				return time.Time{}, fmt.Errorf("timestamp %q is outside years 0001 to 9999 (UTC)", s)
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid ISO timestamp %q", s)
}

// MaxBack bounds how far back a time expression counts, per unit (hour,
// day, week, month or year; 0 for any other): as far as year 1 from any
// time before year 10000, and no further, so that the arithmetic cannot
// overflow (3,000,000 hours as a time.Duration does).
func MaxBack(unit string) int64 {
	switch unit {
	case "hour":
		return 9999 * 366 * 24
	case "day":
		return 9999 * 366
	case "week":
		return 9999 * 53
	case "month":
		return 9999 * 12
	case "year":
		return 9999
	}
	return 0
}

// Back returns now minus n units (hour, day, week, month or year), and
// false when n is negative, beyond MaxBack, or the result falls before
// year 1: a window the caller must refuse rather than compute.
func Back(now time.Time, n int64, unit string) (time.Time, bool) {
	if n < 0 || n > MaxBack(unit) || MaxBack(unit) == 0 {
		return time.Time{}, false
	}
	var t time.Time
	switch unit {
	case "hour":
		// In days and hours: n hours as one Duration overflows past 292 years.
		t = now.AddDate(0, 0, -int(n/24)).Add(-time.Duration(n%24) * time.Hour)
	case "day":
		t = now.AddDate(0, 0, -int(n))
	case "week":
		t = now.AddDate(0, 0, -7*int(n))
	case "month":
		t = now.AddDate(0, -int(n), 0)
	default:
		t = now.AddDate(-int(n), 0, 0)
	}
	return t, InTimeRange(t)
}
