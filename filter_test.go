package mnemo

import (
	"testing"
	"time"
)

func TestMatches(t *testing.T) {
	ts := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	m := &Memory{ID: "m1", Tags: []string{"conversation_5", "Project:X", "lang/Go"}, Timestamp: ts}
	untagged := &Memory{Timestamp: ts}
	at := func(d time.Duration) *time.Time { v := ts.Add(d); return &v }
	tests := []struct {
		name string
		mem  *Memory
		f    Filter
		want bool
	}{
		{"zero filter", m, Filter{}, true},
		{"prefix: partial segment does not match", m, Filter{Tags: []string{"conv"}}, false},
		{"prefix: whole tag", m, Filter{Tags: []string{"conversation_5"}}, true},
		{"prefix: first segment", m, Filter{Tags: []string{"project"}}, true},
		{"prefix: full path", m, Filter{Tags: []string{"project:x"}}, true},
		{"prefix: other leaf", m, Filter{Tags: []string{"project:y"}}, false},
		{"prefix: partial second segment", m, Filter{Tags: []string{"project:"}}, false},
		{"prefix: slash tag found with colon", m, Filter{Tags: []string{"lang:go"}}, true},
		{"prefix: a filter with a slash never matches", m, Filter{Tags: []string{"lang/go"}}, false},
		{"prefix: case-insensitive", m, Filter{Tags: []string{"PROJECT"}}, true},
		{"exact: segment is not enough", m, Filter{Tags: []string{"project"}, TagMatch: "exact"}, false},
		{"exact: whole tag", m, Filter{Tags: []string{"project:x"}, TagMatch: "exact"}, true},
		{"exact: case-insensitive", m, Filter{Tags: []string{"PROJECT:X"}, TagMatch: "exact"}, true},
		{"exact: slash kept", m, Filter{Tags: []string{"lang/go"}, TagMatch: "exact"}, true},
		{"exact: no prefix", m, Filter{Tags: []string{"conv"}, TagMatch: "exact"}, false},
		{"any: one of two", m, Filter{Tags: []string{"nope", "project"}}, true},
		{"all: both", m, Filter{Tags: []string{"project", "conversation_5"}, TagMode: "all"}, true},
		{"all: one missing", m, Filter{Tags: []string{"project", "nope"}, TagMode: "all"}, false},
		{"all: exact", m, Filter{Tags: []string{"project:x", "lang/go"}, TagMode: "all", TagMatch: "exact"}, true},
		{"untagged memory fails a tag filter", untagged, Filter{Tags: []string{"project"}}, false},
		{"exclude: startswith, not segment-wise", m, Filter{ExcludeTags: []string{"conv"}}, false},
		{"exclude: first segment", m, Filter{ExcludeTags: []string{"proj"}}, false},
		{"exclude: raw slash prefix", m, Filter{ExcludeTags: []string{"lang/g"}}, false},
		{"exclude: case-insensitive", m, Filter{ExcludeTags: []string{"PROJECT"}}, false},
		{"exclude: no tag starts with it", m, Filter{ExcludeTags: []string{"x"}}, true},
		{"exclude: longer than the tag", m, Filter{ExcludeTags: []string{"project:x:y"}}, true},
		{"exclude beats a matching tag", m, Filter{Tags: []string{"project"}, ExcludeTags: []string{"conversation"}}, false},
		{"exclude on an untagged memory", untagged, Filter{ExcludeTags: []string{"a"}}, true},
		{"start is inclusive", m, Filter{Start: at(0)}, true},
		{"end is inclusive", m, Filter{End: at(0)}, true},
		{"before start", m, Filter{Start: at(time.Nanosecond)}, false},
		{"after end", m, Filter{End: at(-time.Nanosecond)}, false},
		{"inside the window", m, Filter{Start: at(-time.Hour), End: at(time.Hour)}, true},
		{"window and tags both apply", m, Filter{Start: at(-time.Hour), End: at(time.Hour), Tags: []string{"nope"}}, false},
		{"blank values are dropped", m, Filter{Tags: []string{" ", "project"}, TagMode: "all"}, true},
		{"only blanks, all: nothing required", m, Filter{Tags: []string{"", " "}, TagMode: "all"}, true},
		{"only blanks, any: nothing found", m, Filter{Tags: []string{"", " "}}, false},
		{"blank exclusion excludes nothing", m, Filter{ExcludeTags: []string{" "}}, true},
		{"ids: listed", m, Filter{IDs: []string{"x", "m1"}}, true},
		{"ids: not listed", m, Filter{IDs: []string{"x"}}, false},
		{"ids: case matters", m, Filter{IDs: []string{"M1"}}, false},
		{"ids: empty matches nothing", m, Filter{IDs: []string{}}, false},
		{"ids and tags both apply", m, Filter{IDs: []string{"m1"}, Tags: []string{"nope"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Matches(tt.mem); got != tt.want {
				t.Errorf("%+v.Matches(%v) = %v, want %v", tt.f, tt.mem.Tags, got, tt.want)
			}
		})
	}
}
