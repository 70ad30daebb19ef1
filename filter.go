package mnemo

import (
	"slices"
	"strings"
	"time"
)

// Filter narrows a memory query. Tags and ExcludeTags are compared
// lower-cased; the zero Filter matches every memory. Matches is the
// definition of what a filter selects.
type Filter struct {
	Tags        []string
	TagMode     string // "any" (default) or "all"
	TagMatch    string // "prefix" (default): segment-wise via tag prefixes; or "exact"
	ExcludeTags []string
	Start, End  *time.Time // inclusive bounds on Timestamp
	// IDs, when non-nil, restricts the query to these memories.
	IDs []string
}

// IsZero reports whether f matches every memory.
func (f Filter) IsZero() bool {
	return len(f.Tags) == 0 && len(f.ExcludeTags) == 0 && f.Start == nil && f.End == nil && f.IDs == nil
}

// Matches reports whether m passes f. This is the definition of a filter:
// every store's query (SQL, graph, vector payload) must select exactly the
// memories Matches accepts, and code that filters memories in Go calls it.
// internal/storetest holds every store to it. A memory passes when
// all of these hold:
//
//   - Time: m.Timestamp is not before Start nor after End, when they are
//     set (both bounds inclusive, to the nanosecond).
//   - IDs: when IDs is non-nil, m.ID is one of them (compared exactly); an
//     empty non-nil IDs matches nothing.
//   - ExcludeTags: no tag of m, lower-cased, starts with an excluded value,
//     lower-cased and trimmed. This is a plain string prefix, not
//     segment-wise, and TagMatch does not change it (AutoMem's rule):
//     "conv" excludes "conversation_5", "lang/g" excludes "lang/go". Blank
//     values exclude nothing.
//   - Tags: when Tags is empty, tags do not restrict. Otherwise its
//     values, lower-cased and trimmed, blanks dropped and duplicates counted
//     once, are the wanted tags. A wanted tag is present in m when:
//     with TagMatch "exact", a tag of m lower-cased equals it;
//     otherwise ("prefix", the default), it is one of TagPrefixes(m.Tags),
//     so matching is segment-wise on ':' or '/': "project" and "project:x"
//     match "Project/X", "proj" and "project:" do not, and a value holding
//     '/' never matches.
//     With TagMode "all", every wanted tag must be present; otherwise
//     ("any", the default), at least one. So Tags holding only blanks
//     matches every memory with "all" and none with "any".
//
// Two known differences of the SQLite store's SQL (internal/storetest
// logs them): it ignores a Tags of only blanks in "any" mode too (every
// memory passes), and it compares Start truncated to the microsecond, so
// a Start with a sub-microsecond part admits memories of that microsecond.
// Recall never meets the first (ParseQuery drops blank tags), and meets the
// second only for a start given with more than six fractional digits.
func (f Filter) Matches(m *Memory) bool {
	if f.Start != nil && m.Timestamp.Before(*f.Start) {
		return false
	}
	if f.End != nil && m.Timestamp.After(*f.End) {
		return false
	}
	if f.IDs != nil && !slices.Contains(f.IDs, m.ID) {
		return false
	}
	lower := make([]string, len(m.Tags))
	for i, t := range m.Tags {
		lower[i] = strings.ToLower(t)
	}
	for _, ex := range f.ExcludeTags {
		ex = strings.ToLower(strings.TrimSpace(ex))
		for _, t := range lower {
			if ex != "" && strings.HasPrefix(t, ex) {
				return false
			}
		}
	}
	if len(f.Tags) == 0 {
		return true
	}
	have := map[string]bool{}
	if f.TagMatch == "exact" {
		for _, t := range lower {
			have[t] = true
		}
	} else {
		for _, p := range TagPrefixes(m.Tags) {
			have[p] = true
		}
	}
	want := map[string]bool{}
	for _, t := range f.Tags {
		if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
			want[t] = true
		}
	}
	hits := 0
	for t := range want {
		if have[t] {
			hits++
		}
	}
	if f.TagMode == "all" {
		return hits == len(want)
	}
	return hits > 0
}
