package recall

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

// A time expression that counts back past year 1, or with a number too big
// to hold, is refused naming time_query; before the bound existed, "last
// 3000000 hours" overflowed a time.Duration into a window after now and
// answered "understood" with nothing in it.
func TestParseQueryTimeQueryBounds(t *testing.T) {
	for _, expr := range []string{
		"past 87591241 hours", "last 99999999999999999999999 days", "last 3660000 days",
		"past 9999999 weeks", "last 200000 months", "past 2027 years", "3000 years ago", "99999999999 days ago",
		"in 0000", "since 5000 years ago", "before 9999999999 weeks ago", "between 3000 years ago and 2024",
	} {
		_, err := ParseQuery(url.Values{"time_query": {expr}}, DefaultConfig, mnemo.Limits{}, 768, tqNow)
		if mnemo.ErrorCode(err) != mnemo.EINVALID || !strings.Contains(mnemo.ErrorMessage(err), "'time_query'") ||
			!strings.Contains(mnemo.ErrorMessage(err), "years 0001 to 9999") {
			t.Errorf("time_query=%q: got %v, want EINVALID naming 'time_query' and the bound", expr, err)
		}
	}
	// Within the bound, the window is exact, however far back: 3,000,000
	// hours is 125,000 days.
	for expr, start := range map[string]time.Time{
		"last 3000000 hours": tqNow.AddDate(0, 0, -125000),
		"past 2025 years":    tqNow.AddDate(-2025, 0, 0),
		"2025 years ago":     time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		q, err := ParseQuery(url.Values{"time_query": {expr}}, DefaultConfig, mnemo.Limits{}, 768, tqNow)
		if err != nil || q.TimeQueryUnparsed || q.Window.Start == nil || !q.Window.Start.Equal(start) {
			t.Errorf("time_query=%q: %+v, %v; want start %v", expr, q, err, start)
		}
	}
}

func TestParseQueryStartEndBounds(t *testing.T) {
	for _, kv := range [][2]string{{"start", "0000-12-31"}, {"end", "0001-01-01T00:00:00+01:00"}, {"start", "10000-01-01"}} {
		_, err := ParseQuery(url.Values{kv[0]: {kv[1]}}, DefaultConfig, mnemo.Limits{}, 768, tqNow)
		if mnemo.ErrorCode(err) != mnemo.EINVALID || !strings.Contains(mnemo.ErrorMessage(err), "'"+kv[0]+"'") {
			t.Errorf("%s=%s: got %v, want EINVALID naming it", kv[0], kv[1], err)
		}
	}
	q, err := ParseQuery(url.Values{"start": {"0001-01-01"}, "end": {"9999-12-31T23:59:59.999999"}}, DefaultConfig, mnemo.Limits{}, 768, tqNow)
	if err != nil || !q.Window.Start.Equal(mnemo.MinTime) || mnemo.FormatTime(*q.Window.End) != "9999-12-31T23:59:59.999999+00:00" {
		t.Errorf("the edges themselves: %+v, %v", q, err)
	}
}
