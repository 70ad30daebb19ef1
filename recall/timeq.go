package recall

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mnemohq/mnemo"
)

// Window is a time range; either bound may be nil.
type Window struct {
	Start, End *time.Time
}

var (
	reLastN     = regexp.MustCompile(`^(?:last|past|previous)\s+(\d+)\s+(hour|day|week|month|year)s?$`)
	reAgo       = regexp.MustCompile(`^(\d+|an?|one)\s+(day|week|month|year)s?\s+ago$`)
	reSince     = regexp.MustCompile(`^(?:since|after)\s+(.+)$`)
	reBefore    = regexp.MustCompile(`^(?:before|until)\s+(.+)$`)
	reRange     = regexp.MustCompile(`^(?:between\s+(.+?)\s+and\s+(.+)|from\s+(.+?)\s+(?:to|until)\s+(.+)|(\S+)\s+(?:to|\.\.)\s+(\S+))$`)
	reMonthYear = regexp.MustCompile(`^(?:in\s+|during\s+)?([a-z]+)\.?(?:,?\s+(\d{4}))?$`)
	reYear      = regexp.MustCompile(`^(?:in\s+|during\s+)?(\d{4})$`)
	reYearMonth = regexp.MustCompile(`^(\d{4})-(\d{2})$`)
)

var monthNames = map[string]time.Month{}

func init() {
	for m := time.January; m <= time.December; m++ {
		name := strings.ToLower(m.String())
		monthNames[name] = m
		monthNames[name[:3]] = m
	}
	monthNames["sept"] = time.September
}

// ParseTimeQuery turns a natural-language time expression into a window
// at now (UTC). It understands everything AutoMem does (today, yesterday,
// this/last week, month, year, last N days, last 24/48 hours) and what
// users also type: "past N hours/days/weeks/months/years", "N days ago",
// "since <date>", "before <date>", month and year names ("in March 2023",
// "march", "2023"), ISO dates and months, and ranges ("2023-05-01 to
// 2023-05-10", "between X and Y", "from X to Y"). ok is false for anything
// else, so the caller can report the phrase instead of ignoring it.
func ParseTimeQuery(expr string, now time.Time) (w Window, ok bool) {
	s := strings.Join(strings.Fields(strings.ToLower(strings.TrimSpace(expr))), " ")
	now = now.UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	win := func(a, b time.Time) (Window, bool) { return Window{&a, &b}, true }
	switch s {
	case "":
		return Window{}, false
	case "today", "this day":
		return win(day, day.AddDate(0, 0, 1))
	case "yesterday":
		return win(day.AddDate(0, 0, -1), day)
	case "this week":
		mon := monday(day)
		return win(mon, mon.AddDate(0, 0, 7))
	case "last week", "past week", "previous week":
		mon := monday(day)
		return win(mon.AddDate(0, 0, -7), mon)
	case "this month":
		first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		return win(first, first.AddDate(0, 1, 0))
	case "last month", "past month", "previous month":
		first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		return win(first.AddDate(0, -1, 0), first)
	case "this year":
		jan := time.Date(now.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		return win(jan, jan.AddDate(1, 0, 0))
	case "last year", "past year", "previous year":
		jan := time.Date(now.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		return win(jan.AddDate(-1, 0, 0), jan)
	case "recently", "lately":
		return win(now.AddDate(0, 0, -7), now)
	}
	if m := reLastN.FindStringSubmatch(s); m != nil {
		return win(back(now, count(m[1]), m[2]), now)
	}
	if m := reAgo.FindStringSubmatch(s); m != nil {
		n := int64(1)
		if m[1] != "a" && m[1] != "an" && m[1] != "one" {
			n = count(m[1])
		}
		switch m[2] {
		case "day":
			d := back(day, n, "day")
			return win(d, d.AddDate(0, 0, 1))
		case "week":
			mon := back(monday(day), n, "week")
			return win(mon, mon.AddDate(0, 0, 7))
		case "month":
			first := back(time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC), n, "month")
			return win(first, first.AddDate(0, 1, 0))
		case "year":
			jan := back(time.Date(now.Year(), 1, 1, 0, 0, 0, 0, time.UTC), n, "year")
			return win(jan, jan.AddDate(1, 0, 0))
		}
	}
	if m := reSince.FindStringSubmatch(s); m != nil {
		if p, ok := ParseTimeQuery(m[1], now); ok && p.Start != nil {
			return Window{Start: p.Start, End: &now}, true
		}
	}
	if m := reBefore.FindStringSubmatch(s); m != nil {
		if p, ok := ParseTimeQuery(m[1], now); ok && p.Start != nil {
			return Window{End: p.Start}, true
		}
	}
	if m := reRange.FindStringSubmatch(s); m != nil {
		a, b := m[1]+m[3]+m[5], m[2]+m[4]+m[6]
		pa, okA := ParseTimeQuery(a, now)
		pb, okB := ParseTimeQuery(b, now)
		if okA && okB && pa.Start != nil && pb.End != nil {
			return Window{Start: pa.Start, End: pb.End}, true
		}
	}
	if m := reYear.FindStringSubmatch(s); m != nil {
		y, _ := strconv.Atoi(m[1])
		jan := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
		return win(jan, jan.AddDate(1, 0, 0))
	}
	if m := reYearMonth.FindStringSubmatch(s); m != nil {
		y, _ := strconv.Atoi(m[1])
		mo, _ := strconv.Atoi(m[2])
		if mo >= 1 && mo <= 12 {
			first := time.Date(y, time.Month(mo), 1, 0, 0, 0, 0, time.UTC)
			return win(first, first.AddDate(0, 1, 0))
		}
	}
	if m := reMonthYear.FindStringSubmatch(s); m != nil {
		if mo, isMonth := monthNames[m[1]]; isMonth {
			y := now.Year()
			if m[2] != "" {
				y, _ = strconv.Atoi(m[2])
			} else if mo > now.Month() {
				y-- // a bare month name means its most recent occurrence
			}
			first := time.Date(y, mo, 1, 0, 0, 0, 0, time.UTC)
			return win(first, first.AddDate(0, 1, 0))
		}
	}
	if len(s) == 10 {
		if t, err := time.Parse("2006-01-02", s); err == nil {
			return win(t, t.AddDate(0, 0, 1))
		}
	}
	if t, err := mnemo.ParseTime(s); err == nil {
		return win(t, t)
	}
	return Window{}, false
}

func monday(day time.Time) time.Time {
	return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
}

// count reads the N of an expression; a number too long for int64 is
// beyond every bound of mnemo.Back, not zero.
func count(digits string) int64 {
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return math.MaxInt64
	}
	return n
}

// beforeYear1 is the start of a window that reaches back past year 1: the
// caller refuses a window outside years 1 to 9999 (WindowInRange).
var beforeYear1 = mnemo.MinTime.Add(-time.Nanosecond)

// back is now minus n units, without overflow: beforeYear1 when that
// falls before year 1 or n is beyond mnemo.MaxBack.
func back(now time.Time, n int64, unit string) time.Time {
	if t, ok := mnemo.Back(now, n, unit); ok {
		return t
	}
	return beforeYear1
}

// InRange reports whether both of w's bounds lie within years 1 to 9999.
func (w Window) InRange() bool {
	return (w.Start == nil || mnemo.InTimeRange(*w.Start)) && (w.End == nil || mnemo.InTimeRange(*w.End))
}
