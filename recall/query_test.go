package recall

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

var queryNow = time.Date(2026, 3, 18, 15, 4, 5, 0, time.UTC)

func parse(t *testing.T, raw string) *Query {
	t.Helper()
	v, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	q, err := ParseQuery(v, DefaultConfig, mnemo.DefaultLimits, 4, queryNow)
	if err != nil {
		t.Fatalf("ParseQuery(%q) error: %v", raw, err)
	}
	return q
}

func TestParseQueryDefaults(t *testing.T) {
	q := parse(t, "")
	want := &Query{
		Limit: 5, PerQueryLimit: 5, Sort: "score", StateMode: "current", AdaptiveFloor: true,
		RelationLimit: 5, ExpansionLimit: 25, Now: queryNow, RecencyBias: "off",
		// The neighbour step's settings come from the configuration: its
		// defaults are tuning, which the evalset judges.
		ContextWindow: DefaultConfig.ContextWindow, ContextWeight: DefaultConfig.ContextWeight, ContextMaxGap: DefaultConfig.ContextMaxGap,
		Filter: mnemo.Filter{TagMode: "any", TagMatch: "prefix"},
	}
	if !reflect.DeepEqual(q, want) {
		t.Errorf("ParseQuery(\"\") =\n %+v\nwant\n %+v", q, want)
	}
	q = parse(t, "query=+%20kafka%20retention%20")
	if q.Query != "kafka retention" {
		t.Errorf("Query = %q, want trimmed", q.Query)
	}
}

func TestParseQueryLimits(t *testing.T) {
	tests := []struct {
		raw                 string
		limit, perQuery     int
		relation, expansion int
	}{
		{"limit=7", 7, 7, 5, 25},
		{"limit=0", 1, 1, 5, 25},
		{"limit=-3", 1, 1, 5, 25},
		{"limit=100", 100, 100, 5, 25},
		{"limit=500", 100, 100, 5, 25},
		{"limit=abc", 5, 5, 5, 25},
		{"limit=7.5", 5, 5, 5, 25},
		{"limit=", 5, 5, 5, 25},
		{"limit=+8+", 8, 8, 5, 25},
		{"limit=10&per_query_limit=3", 10, 3, 5, 25},
		{"limit=10&per_query_limit=0", 10, 1, 5, 25},
		{"limit=10&per_query_limit=1000", 10, 100, 5, 25},
		{"limit=10&per_query_limit=x", 10, 10, 5, 25},
		{"relation_limit=0&expansion_limit=0", 5, 5, 1, 1},
		{"relation_limit=999&expansion_limit=9999", 5, 5, 200, 500},
		{"relation_limit=x&expansion_limit=x", 5, 5, 5, 25},
		{"relation_limit=12&relation_expansion_limit=40", 5, 5, 12, 40},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			q := parse(t, tt.raw)
			if q.Limit != tt.limit || q.PerQueryLimit != tt.perQuery || q.RelationLimit != tt.relation || q.ExpansionLimit != tt.expansion {
				t.Errorf("limit, per_query, relation, expansion = %d, %d, %d, %d; want %d, %d, %d, %d",
					q.Limit, q.PerQueryLimit, q.RelationLimit, q.ExpansionLimit, tt.limit, tt.perQuery, tt.relation, tt.expansion)
			}
		})
	}
}

func TestParseQueryUnitFloats(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		raw                      string
		minScore, minImp, minStr *float64
	}{
		{"", nil, nil, nil},
		{"min_score=0.4&expand_min_importance=0.3&expand_min_strength=0.2", f(0.4), f(0.3), f(0.2)},
		{"min_score=2&expand_min_importance=-1&expand_min_strength=1", f(1), f(0), f(1)},
		{"min_score=abc&expand_min_importance=&expand_min_strength=x", nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			q := parse(t, tt.raw)
			for name, c := range map[string][2]*float64{"min_score": {q.MinScore, tt.minScore}, "expand_min_importance": {q.ExpandMinImportance, tt.minImp}, "expand_min_strength": {q.ExpandMinStrength, tt.minStr}} {
				if (c[0] == nil) != (c[1] == nil) || (c[0] != nil && *c[0] != *c[1]) {
					t.Errorf("%s = %v, want %v", name, deref(c[0]), deref(c[1]))
				}
			}
		})
	}
	// The server default applies when the parameter is absent.
	cfg := DefaultConfig
	cfg.MinScore = 0.25
	q, err := ParseQuery(url.Values{}, cfg, mnemo.DefaultLimits, 4, queryNow)
	if err != nil {
		t.Fatal(err)
	}
	if q.MinScore == nil || *q.MinScore != 0.25 {
		t.Errorf("MinScore with RECALL_MIN_SCORE=0.25 = %v, want 0.25", deref(q.MinScore))
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestParseQueryAliases(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		check func(*Query) bool
	}{
		{"time is time_query", "time=yesterday", func(q *Query) bool {
			return q.TimeQuery == "yesterday" && q.Window.Start != nil && q.Window.Start.Equal(time.Date(2026, 3, 17, 0, 0, 0, 0, time.UTC))
		}},
		{"time_query wins over time", "time_query=today&time=yesterday", func(q *Query) bool {
			return q.TimeQuery == "today"
		}},
		{"order_by is sort", "query=x&order_by=time_asc", func(q *Query) bool { return q.Sort == "time_asc" }},
		{"sort wins over order_by", "query=x&sort=updated_desc&order_by=time_asc", func(q *Query) bool { return q.Sort == "updated_desc" }},
		{"sort is case-insensitive", "query=x&sort=TIME_ASC", func(q *Query) bool { return q.Sort == "time_asc" }},
		{"unknown sort is score", "query=x&sort=random", func(q *Query) bool { return q.Sort == "score" }},
		{"expand_relations", "expand_relations=true", func(q *Query) bool { return q.ExpandRelations }},
		{"expand_associations", "expand_associations=yes", func(q *Query) bool { return q.ExpandRelations }},
		{"expand", "expand=1", func(q *Query) bool { return q.ExpandRelations }},
		{"expand off", "expand=off", func(q *Query) bool { return !q.ExpandRelations }},
		{"expand junk is the default", "expand=maybe", func(q *Query) bool { return !q.ExpandRelations }},
		{"expand_relations wins over expand", "expand_relations=false&expand=true", func(q *Query) bool { return !q.ExpandRelations }},
		{"expand_respect_tags", "expand_respect_tags=on", func(q *Query) bool { return q.ExpandRespectTags }},
		{"adaptive_floor off", "adaptive_floor=0", func(q *Query) bool { return !q.AdaptiveFloor }},
		{"adaptive_floor junk keeps the default", "adaptive_floor=maybe", func(q *Query) bool { return q.AdaptiveFloor }},
		{"state_debug", "state_debug=y", func(q *Query) bool { return q.StateDebug }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if q := parse(t, tt.raw); !tt.check(q) {
				t.Errorf("ParseQuery(%q) = %+v", tt.raw, q)
			}
		})
	}
}

func TestParseQueryBool(t *testing.T) {
	for _, s := range []string{"1", "true", "TRUE", " yes ", "y", "on"} {
		if !Bool(s, false) {
			t.Errorf("Bool(%q, false) = false", s)
		}
	}
	for _, s := range []string{"0", "false", "No", "off", "n"} {
		if Bool(s, true) {
			t.Errorf("Bool(%q, true) = true", s)
		}
	}
	for _, s := range []string{"", "maybe", "2", "t"} {
		if Bool(s, true) != true || Bool(s, false) != false {
			t.Errorf("Bool(%q) does not fall back to the default", s)
		}
	}
}

func TestParseQueryQueries(t *testing.T) {
	q := parse(t, "queries=a,b&queries=+c+&queries=")
	if want := []string{"a", "b", "c"}; !reflect.DeepEqual(q.Queries, want) || !q.Multi {
		t.Errorf("Queries, Multi = %v, %v; want %v, true", q.Queries, q.Multi, want)
	}
	if q := parse(t, "query=a,b"); q.Multi || q.Query != "a,b" {
		t.Errorf("query=a,b gives Multi %v, Query %q", q.Multi, q.Query)
	}
}

func TestParseQueryTags(t *testing.T) {
	tests := []struct {
		raw               string
		tags, exclude     []string
		tagMode, tagMatch string
	}{
		{"tags=a,b", []string{"a,b"}, nil, "any", "prefix"},
		{"tags=Project:X&tags=+Lang+&tags=", []string{"project:x", "lang"}, nil, "any", "prefix"},
		{"exclude_tags=A,b&exclude_tags=c", nil, []string{"a", "b", "c"}, "any", "prefix"},
		{"exclude_tags=,+x+,", nil, []string{"x"}, "any", "prefix"},
		{"tags=a&tag_mode=all&tag_match=exact", []string{"a"}, nil, "all", "exact"},
		{"tags=a&tag_mode=ALL&tag_match=EXACT", []string{"a"}, nil, "all", "exact"},
		{"tags=a&tag_mode=some&tag_match=fuzzy", []string{"a"}, nil, "any", "prefix"},
		{"tags=a&tag_mode=any&tag_match=prefix", []string{"a"}, nil, "any", "prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			q := parse(t, tt.raw)
			f := q.Filter
			if !reflect.DeepEqual(f.Tags, tt.tags) || !reflect.DeepEqual(f.ExcludeTags, tt.exclude) || f.TagMode != tt.tagMode || f.TagMatch != tt.tagMatch {
				t.Errorf("Filter = tags %#v, exclude %#v, mode %q, match %q; want %#v, %#v, %q, %q",
					f.Tags, f.ExcludeTags, f.TagMode, f.TagMatch, tt.tags, tt.exclude, tt.tagMode, tt.tagMatch)
			}
		})
	}
}

func TestParseQuerySortWithWindow(t *testing.T) {
	tests := []struct {
		raw  string
		sort string
	}{
		{"time_query=today", "time_desc"},
		{"start=2026-01-01", "time_desc"},
		{"end=2026-01-01", "time_desc"},
		{"time_query=today&query=kafka", "score"},
		{"time_query=today&queries=a,b", "score"},
		{"time_query=today&embedding=1,0,0,0", "score"},
		{"time_query=today&sort=time_asc", "time_asc"},
		{"time_query=today&sort=updated_desc", "updated_desc"},
		{"time_query=someday", "score"}, // not understood: no window
		{"", "score"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			if q := parse(t, tt.raw); q.Sort != tt.sort {
				t.Errorf("Sort = %q, want %q", q.Sort, tt.sort)
			}
		})
	}
}

func TestParseQueryWindow(t *testing.T) {
	q := parse(t, "time_query=last+week&end=2026-03-12T00:00:00%2B01:00")
	if !q.Window.Start.Equal(time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)) || !q.Window.End.Equal(time.Date(2026, 3, 11, 23, 0, 0, 0, time.UTC)) {
		t.Errorf("Window = %s, want [2026-03-09, 2026-03-11T23:00Z]: end overrides only the end", fmtWindow(q.Window))
	}
	if q.Filter.Start != q.Window.Start || q.Filter.End != q.Window.End {
		t.Errorf("Filter bounds %v, %v do not follow the window", q.Filter.Start, q.Filter.End)
	}
	if q.TimeQueryUnparsed {
		t.Error("TimeQueryUnparsed = true for \"last week\"")
	}
	q = parse(t, "time_query=someday")
	if !q.TimeQueryUnparsed || q.Window.Start != nil || q.Window.End != nil || q.TimeQuery != "someday" {
		t.Errorf("time_query=someday: unparsed %v, window %s, TimeQuery %q", q.TimeQueryUnparsed, fmtWindow(q.Window), q.TimeQuery)
	}
	q = parse(t, "start=2026-01-01")
	if q.Window.Start == nil || !q.Window.Start.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || q.Window.End != nil {
		t.Errorf("start only: window %s", fmtWindow(q.Window))
	}
}

func TestParseQueryStateMode(t *testing.T) {
	tests := []struct {
		raw  string
		mode string
	}{
		{"", "current"},
		{"state_mode=history", "history"},
		{"state_mode=HISTORY", "history"},
		{"state_mode=current", "current"},
		{"state_mode=", "current"},
		{"current_only=false", "history"},
		{"current_only=true", "current"},
		{"current_only=", "current"}, // present: default true
		{"current_only=maybe", "current"},
		{"state_mode=history&current_only=true", "current"}, // current_only wins
		{"state_mode=current&current_only=0", "history"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			if q := parse(t, tt.raw); q.StateMode != tt.mode {
				t.Errorf("StateMode = %q, want %q", q.StateMode, tt.mode)
			}
		})
	}
}

func TestParseQueryErrors(t *testing.T) {
	tests := []struct {
		raw  string
		want string
	}{
		{"state_mode=bogus", "'state_mode' must be 'current' or 'history'"},
		{"state_mode=bogus&current_only=true", "'state_mode' must be 'current' or 'history'"},
		{"start=junk", `Invalid start time: 'start' must be ISO 8601, got "junk"`},
		{"end=2026-13-01", `Invalid end time: 'end' must be ISO 8601, got "2026-13-01"`},
		{"start=2026-01-01&end=nope", `Invalid end time: 'end' must be ISO 8601, got "nope"`},
		{"embedding=1,2,3", "Embedding must contain exactly 4 values"},
		{"embedding=1,2,3,4,5", "Embedding must contain exactly 4 values"},
		{"embedding=1,x,3,4", "Embedding must contain numeric values"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			v, _ := url.ParseQuery(tt.raw)
			q, err := ParseQuery(v, DefaultConfig, mnemo.DefaultLimits, 4, queryNow)
			if err == nil {
				t.Fatalf("ParseQuery(%q) = %+v, want error %q", tt.raw, q, tt.want)
			}
			if mnemo.ErrorCode(err) != mnemo.EINVALID || mnemo.ErrorMessage(err) != tt.want {
				t.Errorf("error = %s %q, want invalid %q", mnemo.ErrorCode(err), mnemo.ErrorMessage(err), tt.want)
			}
		})
	}
}

func TestParseQueryEmbedding(t *testing.T) {
	q := parse(t, "embedding=0.5,-1,2,0")
	if want := []float32{0.5, -1, 2, 0}; !reflect.DeepEqual(q.Embedding, want) {
		t.Errorf("Embedding = %v, want %v", q.Embedding, want)
	}
	if q := parse(t, "embedding="); q.Embedding != nil {
		t.Errorf("empty embedding = %v, want nil", q.Embedding)
	}
}

// list returns name=v0&name=v1... with n values, or one comma-joined value.
func listParam(name string, n int, joined bool) url.Values {
	vals := make([]string, n)
	for i := range vals {
		vals[i] = fmt.Sprintf("v%d", i)
	}
	if joined {
		return url.Values{name: {strings.Join(vals, ",")}}
	}
	return url.Values{name: vals}
}

// terms is a query of n distinct search terms.
func terms(n int) string {
	words := make([]string, n)
	for i := range words {
		words[i] = fmt.Sprintf("w%d", i)
	}
	return strings.Join(words, " OR ")
}

// TestParseQueryBounds: each bound refuses one past it with its message,
// and accepts exactly the limit.
func TestParseQueryBounds(t *testing.T) {
	with := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	long := strings.Repeat("é", 2001)
	tests := []struct {
		name     string
		ok, over url.Values
		want     string
	}{
		{"query length", with("query", strings.Repeat("é", 2000)), with("query", long), "'query' must be at most 2000 characters (got 2001)"},
		{"query terms", with("query", terms(64)), with("query", terms(65)), "'query' may hold at most 64 search terms (got 65)"},
		{"5,000 OR terms", with("query", "a"), with("query", terms(5000)), "'query' must be at most 2000 characters (got 43886)"},
		{"terms are distinct words", with("query", strings.Repeat("same ", 400)), with("query", terms(65)), "'query' may hold at most 64 search terms (got 65)"},
		{"queries length", with("queries", "fine", "queries", strings.Repeat("q", 2000)), with("queries", "fine", "queries", long),
			"'queries' item at index 1 must be at most 2000 characters (got 2001)"},
		{"queries terms", with("queries", terms(64)), with("queries", "a", "queries", "b", "queries", terms(65)),
			"'queries' item at index 2 may hold at most 64 search terms (got 65)"},
		{"tags", listParam("tags", 100, false), listParam("tags", 101, false), "'tags' may hold at most 100 entries (got 101)"},
		{"exclude_tags", listParam("exclude_tags", 100, true), listParam("exclude_tags", 1000, true), "'exclude_tags' may hold at most 100 entries (got 1000)"},
		{"exclude_tags repeated", listParam("exclude_tags", 100, false), listParam("exclude_tags", 101, false), "'exclude_tags' may hold at most 100 entries (got 101)"},
		{"context_tags", listParam("context_tags", 100, true), listParam("context_tags", 101, true), "'context_tags' may hold at most 100 entries (got 101)"},
		{"context_types", listParam("context_types", 100, false), listParam("context_types", 101, false), "'context_types' may hold at most 100 entries (got 101)"},
		{"priority_ids", listParam("priority_ids", 100, true), listParam("priority_ids", 101, true), "'priority_ids' may hold at most 100 entries (got 101)"},
		{"time_query", with("time_query", "last week"), with("time_query", long), "'time_query' must be at most 2000 characters (got 2001)"},
		{"time alias", with("time", "last week"), with("time", long), "'time' must be at most 2000 characters (got 2001)"},
		{"context", with("context", "coding"), with("context", long), "'context' must be at most 2000 characters (got 2001)"},
		{"language", with("language", "go"), with("lang", long), "'lang' must be at most 2000 characters (got 2001)"},
		{"active_path", with("active_path", "/src/main.go"), with("file_path", long), "'file_path' must be at most 2000 characters (got 2001)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseQuery(tt.ok, DefaultConfig, mnemo.DefaultLimits, 4, queryNow); err != nil {
				t.Fatalf("at the limit: %v", err)
			}
			q, err := ParseQuery(tt.over, DefaultConfig, mnemo.DefaultLimits, 4, queryNow)
			if q != nil || mnemo.ErrorCode(err) != mnemo.EINVALID || mnemo.ErrorMessage(err) != tt.want {
				t.Errorf("ParseQuery = %v, %s %q; want invalid %q", q, mnemo.ErrorCode(err), mnemo.ErrorMessage(err), tt.want)
			}
		})
	}
	// The limits are the configured ones.
	_, err := ParseQuery(listParam("tags", 3, false), DefaultConfig, mnemo.Limits{MaxListEntries: 2}, 4, queryNow)
	if mnemo.ErrorMessage(err) != "'tags' may hold at most 2 entries (got 3)" {
		t.Errorf("configured list bound: %v", err)
	}
}

// TestParseQueryNonFinite: min_score=NaN answered 500; every numeric
// parameter refuses a number that is not finite.
func TestParseQueryNonFinite(t *testing.T) {
	for _, name := range []string{"limit", "per_query_limit", "relation_limit", "expansion_limit", "relation_expansion_limit",
		"context_window", "min_score", "expand_min_importance", "expand_min_strength"} {
		for _, bad := range []string{"NaN", "inf", "-Infinity", "1e999"} {
			q, err := ParseQuery(url.Values{"query": {"x"}, name: {bad}}, DefaultConfig, mnemo.DefaultLimits, 4, queryNow)
			if want := "'" + name + "' must be a finite number"; q != nil || mnemo.ErrorCode(err) != mnemo.EINVALID || mnemo.ErrorMessage(err) != want {
				t.Errorf("%s=%s: %v, %q; want %q", name, bad, q, mnemo.ErrorMessage(err), want)
			}
		}
	}
	// Other garbage keeps AutoMem's leniency.
	q := parse(t, "limit=abc&min_score=high&context_window=x")
	if q.Limit != 5 || q.MinScore != nil || q.ContextWindow != DefaultConfig.ContextWindow {
		t.Errorf("lenient defaults: limit %d, min_score %v, context_window %d", q.Limit, q.MinScore, q.ContextWindow)
	}
}
