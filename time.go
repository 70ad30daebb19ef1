package mnemo

import (
	"fmt"
	"strings"
	"time"
)

// FormatTime renders t as Python's datetime.isoformat() in UTC, the form
// AutoMem stores and clients compare: microseconds only when non-zero.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
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
// A value without an offset is taken as UTC. The result is in UTC.
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
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid ISO timestamp %q", s)
}
