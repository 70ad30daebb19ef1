package recall

import (
	"net/url"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

// FuzzParseTimeQuery: any expression, at any time in range. An understood
// window that /recall accepts lies within years 1 to 9999; nothing the
// parser does with a number overflows (an overflow showed as a window
// after now).
func FuzzParseTimeQuery(f *testing.F) {
	f.Add("last 3000000 hours", int64(0))
	f.Fuzz(func(t *testing.T, expr string, at int64) {
		// now anywhere within years 1 to 9999.
		span := mnemo.MaxTime.Unix() - mnemo.MinTime.Unix()
		now := time.Unix(mnemo.MinTime.Unix()+((at%span)+span)%span, 0).UTC()
		w, ok := ParseTimeQuery(expr, now)
		if !ok {
			return
		}
		if w.Start == nil && w.End == nil {
			t.Fatalf("%q understood as no window at all", expr)
		}
		q, err := ParseQuery(url.Values{"time_query": {expr}}, DefaultConfig, mnemo.Limits{}, 8, now)
		if err != nil {
			if mnemo.ErrorCode(err) != mnemo.EINVALID || w.InRange() && len(expr) <= mnemo.DefaultLimits.MaxQueryLength {
				t.Fatalf("%q: window %v refused: %v", expr, w, err)
			}
			return
		}
		if !q.Window.InRange() {
			t.Fatalf("%q accepted with a window outside years 1 to 9999: %v %v", expr, q.Window.Start, q.Window.End)
		}
	})
}

// FuzzParseQuery: any query string. Whatever /recall accepts has its
// numbers within their bounds, its window within years 1 to 9999, and
// every list within the list bound.
func FuzzParseQuery(f *testing.F) {
	f.Add("query=postgres&limit=5&tags=project:x&time_query=last+week&min_score=0.2")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
		q, err := ParseQuery(v, DefaultConfig, mnemo.Limits{}, 8, now)
		if err != nil {
			if mnemo.ErrorCode(err) != mnemo.EINVALID {
				t.Fatalf("refused with %s: %v", mnemo.ErrorCode(err), err)
			}
			return
		}
		lim := mnemo.DefaultLimits
		if q.Limit < 1 || q.Limit > DefaultConfig.MaxLimit || q.PerQueryLimit < 1 || q.PerQueryLimit > DefaultConfig.MaxLimit ||
			q.RelationLimit < 1 || q.RelationLimit > 200 || q.ExpansionLimit < 1 || q.ExpansionLimit > 500 ||
			q.ContextWindow < 0 || q.ContextWindow > 10 || len(q.Queries) > MaxQueries {
			t.Fatalf("accepted out-of-bound numbers: %+v", q)
		}
		for _, u := range []*float64{q.MinScore, q.ExpandMinImportance, q.ExpandMinStrength} {
			if u != nil && (*u < 0 || *u > 1) {
				t.Fatalf("accepted a unit parameter %v", *u)
			}
		}
		if !q.Window.InRange() {
			t.Fatalf("accepted a window outside years 1 to 9999: %v %v", q.Window.Start, q.Window.End)
		}
		for _, list := range [][]string{q.Filter.Tags, q.Filter.ExcludeTags, q.ContextTags, q.ContextTypes, q.PriorityIDs} {
			if len(list) > lim.MaxListEntries {
				t.Fatalf("accepted a list of %d", len(list))
			}
		}
		if q.Embedding != nil && len(q.Embedding) != 8 {
			t.Fatalf("accepted an embedding of %d values", len(q.Embedding))
		}
	})
}
