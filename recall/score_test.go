package recall

import (
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

var scoreNow = time.Date(2026, 3, 18, 15, 4, 5, 0, time.UTC)

func daysAgo(d float64) time.Time {
	return scoreNow.Add(-time.Duration(d * 24 * float64(time.Hour)))
}

func TestKeywords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"The quick-brown fox's __init__ and API-v2 for ab data data", []string{"quick-brown", "fox", "init", "api-v2", "data"}},
		{"", nil},
		{"the and for with that this from into using have will your about after before when then than also just very more less over under", nil},
		{"Hello HELLO hello", []string{"hello"}},
		{"--abc__ -x- a_b_c", []string{"abc", "a_b_c"}},
		{"C++ and Go", nil},
		{"ids: 123 4567", []string{"ids", "123", "4567"}},
		{"Über café naïve", []string{"ber", "caf"}}, // only ASCII letters form tokens
		{"postgres, Postgres; POSTGRES!", []string{"postgres"}},
		{"what did we decide", []string{"what", "did", "decide"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := Keywords(tt.in)
			if len(got) != len(tt.want) || (len(got) > 0 && !reflect.DeepEqual(got, tt.want)) {
				t.Errorf("Keywords(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

func approx(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func checkComponents(t *testing.T, got, want Components) {
	t.Helper()
	g := reflect.ValueOf(got)
	w := reflect.ValueOf(want)
	for i := 0; i < g.NumField(); i++ {
		name := g.Type().Field(i).Name
		switch gv := g.Field(i).Interface().(type) {
		case float64:
			if wv := w.Field(i).Interface().(float64); !approx(gv, wv) {
				t.Errorf("component %s = %v, want %v", name, gv, wv)
			}
		case bool:
			if wv := w.Field(i).Interface().(bool); gv != wv {
				t.Errorf("component %s = %v, want %v", name, gv, wv)
			}
		case *float64:
			if wv := w.Field(i).Interface().(*float64); (gv == nil) != (wv == nil) || (gv != nil && !approx(*gv, *wv)) {
				t.Errorf("component %s = %v, want %v", name, gv, wv)
			}
		}
	}
}

// formulaWeights are AutoMem's weights (reference §4.3) and mnemo's
// TimeMention, stated here: the score tests check the formula with given
// weights, so a change of DefaultWeights, which the evalset judges
// (internal/evalset), does not rewrite them.
var formulaWeights = Weights{Vector: 0.35, Keyword: 0.35, Metadata: 0.35, Relation: 0.25, Tag: 0.2, Importance: 0.1,
	Confidence: 0.05, Recency: 0.1, Exact: 0.2, Relevance: 0, Temporal: 0.1, RecencyWindowDays: 180, TimeMention: 0.1}

func TestScore(t *testing.T) {
	w := formulaWeights
	tests := []struct {
		name      string
		row       Row
		query     string
		want      Components
		wantFinal float64
	}{
		{
			name: "vector row: keyword overlap, tag and metadata hits, linear recency",
			row: Row{MatchType: "vector", Similarity: 0.5, MatchScore: 0.5, Memory: &mnemo.Memory{
				Content: "Deploy the API gateway", Tags: []string{"API", "Infra"}, Importance: 0.8, Confidence: 0.9,
				Timestamp: daysAgo(90), Metadata: map[string]any{"project": "Gateway"}}},
			query: "api gateway deploy",
			// tokens api, gateway, deploy: all three in content; api is a
			// tag and gateway a metadata term, deploy neither.
			want:      Components{Vector: 0.5, Keyword: 1, Tag: 2.0 / 3, Importance: 0.8, Confidence: 0.9, Recency: 0.5, Evidence: 1},
			wantFinal: 0.35*0.5 + 0.35*1 + 0.2*2/3 + 0.1*0.8 + 0.05*0.9 + 0.1*0.5,
		},
		{
			name: "keyword overlap is the fraction of query tokens present as whole words",
			row: Row{MatchType: "vector", Memory: &mnemo.Memory{
				Content: "Postgres pooling: pgbouncer in transaction-mode", Importance: 0.5, Confidence: 0.6, Timestamp: daysAgo(200)}},
			query:     "postgres transaction pool settings",
			want:      Components{Keyword: 0.5, Importance: 0.5, Confidence: 0.6, Evidence: 0.5}, // postgres, transaction; not pool (pooling), not settings
			wantFinal: 0.35*0.5 + 0.1*0.5 + 0.05*0.6,
		},
		{
			name: "a searched row averages its share of the query's words with its normalised BM25",
			row: Row{MatchType: "keyword", Searched: true, Lexical: 0.6, MatchScore: 0.6, Memory: &mnemo.Memory{
				Content: "kafka kafka", Importance: 0.2, Confidence: 0.5, Timestamp: daysAgo(180)}},
			query:     "kafka",
			want:      Components{Keyword: 0.8, Importance: 0.2, Confidence: 0.5, Evidence: 0.8},
			wantFinal: 0.35*0.8 + 0.1*0.2 + 0.05*0.5,
		},
		{
			name: "a searched row BM25 did not rank keeps only half its word share",
			row: Row{MatchType: "vector", Searched: true, Similarity: 0.3, Memory: &mnemo.Memory{
				Content: "kafka", Timestamp: daysAgo(400)}},
			query:     "kafka",
			want:      Components{Vector: 0.3, Keyword: 0.5, Evidence: 0.5},
			wantFinal: 0.35*0.3 + 0.35*0.5,
		},
		{
			name: "a when-question rewards a memory that mentions a time",
			row: Row{MatchType: "keyword", Searched: true, Lexical: 1, Memory: &mnemo.Memory{
				Content: "We went camping last weekend", Timestamp: daysAgo(400)}},
			query:     "When did we go camping?", // searched words: go, camping
			want:      Components{Keyword: 0.75, TimeMention: 1, Evidence: 0.75},
			wantFinal: 0.35*0.75 + 0.1,
		},
		{
			name: "no time bonus when the question does not ask when",
			row: Row{MatchType: "keyword", Searched: true, Lexical: 1, Memory: &mnemo.Memory{
				Content: "We went camping last weekend", Timestamp: daysAgo(400)}},
			query:     "Where did we go camping?",
			want:      Components{Keyword: 0.75, Evidence: 0.75},
			wantFinal: 0.35 * 0.75,
		},
		{
			name: "trending row: keyword component is its importance",
			row: Row{MatchType: "trending", MatchScore: 0.7, Memory: &mnemo.Memory{
				Content: "anything", Importance: 0.7, Confidence: 0.9, Timestamp: daysAgo(45)}},
			query:     "",
			want:      Components{Keyword: 0.7, Importance: 0.7, Confidence: 0.9, Recency: 0.75, Evidence: 0.7},
			wantFinal: 0.35*0.7 + 0.1*0.7 + 0.05*0.9 + 0.1*0.75,
		},
		{
			name: "exact metadata match is case-insensitive on the whole query",
			row: Row{MatchType: "vector", Memory: &mnemo.Memory{
				Content: "unrelated words", Importance: 0.5, Confidence: 0.5, Timestamp: daysAgo(400),
				Metadata: map[string]any{"tool": "Claude Code"}}},
			query:     "  CLAUDE code ",
			want:      Components{Tag: 1, Exact: 1, Importance: 0.5, Confidence: 0.5, Evidence: 1},
			wantFinal: 0.2*1 + 0.2*1 + 0.1*0.5 + 0.05*0.5,
		},
		{
			name: "metadata terms are found in nested values but not under entities",
			row: Row{MatchType: "vector", Memory: &mnemo.Memory{
				Content: "x", Timestamp: daysAgo(400),
				Metadata: map[string]any{"a": map[string]any{"b": []any{"Redis Cache"}}, "entities": map[string]any{"tools": []any{"kafka"}}}}},
			query:     "redis kafka",
			want:      Components{Tag: 0.5},
			wantFinal: 0.2 * 0.5,
		},
		{
			name: "metadata strings longer than 256 characters are not terms",
			row: Row{MatchType: "vector", Memory: &mnemo.Memory{
				Content: "x", Timestamp: daysAgo(400), Metadata: map[string]any{"note": "zebra " + strings.Repeat("y", 260)}}},
			query:     "zebra",
			want:      Components{},
			wantFinal: 0,
		},
		{
			name: "a tag hit needs the whole lower-cased tag",
			row: Row{MatchType: "vector", Memory: &mnemo.Memory{
				Content: "x", Tags: []string{"Project:Alpha", "ALPHA"}, Timestamp: daysAgo(400)}},
			query:     "project alpha",
			want:      Components{Tag: 0.5},
			wantFinal: 0.2 * 0.5,
		},
		{
			name: "relation score is weighted 0.25",
			row: Row{MatchType: "relation", RelationScore: 0.9, MatchScore: 0.9, Memory: &mnemo.Memory{
				Content: "x", Importance: 0.4, Confidence: 1, Timestamp: daysAgo(400)}},
			query:     "",
			want:      Components{Relation: 0.9, Importance: 0.4, Confidence: 1},
			wantFinal: 0.25*0.9 + 0.1*0.4 + 0.05,
		},
		{
			name: "negative similarity counts as 0",
			row: Row{MatchType: "vector", Similarity: -0.4, Memory: &mnemo.Memory{
				Content: "x", Timestamp: daysAgo(400)}},
			query:     "",
			want:      Components{},
			wantFinal: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.row
			Score(w, &r, Keywords(tt.query), tt.query, scoreNow)
			checkComponents(t, r.Components, tt.want)
			if !approx(r.FinalScore, tt.wantFinal) {
				t.Errorf("FinalScore = %v, want %v", r.FinalScore, tt.wantFinal)
			}
		})
	}
}

func TestScoreRecency(t *testing.T) {
	tests := []struct {
		name string
		ts   time.Time
		want float64
	}{
		{"now", scoreNow, 1},
		{"45 days", daysAgo(45), 0.75},
		{"90 days", daysAgo(90), 0.5},
		{"179 days", daysAgo(179), 1.0 / 180},
		{"180 days", daysAgo(180), 0},
		{"a year", daysAgo(365), 0},
		{"future", scoreNow.Add(time.Hour), 1},
		{"far future", scoreNow.AddDate(1, 0, 0), 1},
		{"no timestamp", time.Time{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Row{MatchType: "vector", Memory: &mnemo.Memory{Content: "x", Timestamp: tt.ts}}
			Score(formulaWeights, &r, nil, "", scoreNow)
			if !approx(r.Components.Recency, tt.want) {
				t.Errorf("Recency = %v, want %v", r.Components.Recency, tt.want)
			}
			if !approx(r.FinalScore, 0.1*tt.want) {
				t.Errorf("FinalScore = %v, want %v", r.FinalScore, 0.1*tt.want)
			}
		})
	}
	// The window is configurable.
	r := Row{MatchType: "vector", Memory: &mnemo.Memory{Content: "x", Timestamp: daysAgo(45)}}
	w := formulaWeights
	w.RecencyWindowDays = 90
	Score(w, &r, nil, "", scoreNow)
	if !approx(r.Components.Recency, 0.5) {
		t.Errorf("Recency with a 90-day window at 45 days = %v, want 0.5", r.Components.Recency)
	}
}

// Each weight multiplies its own component: with distinct powers of two as
// weights, the final score identifies every term.
func TestScoreWeightedSum(t *testing.T) {
	w := Weights{Vector: 1, Keyword: 2, Metadata: 4, Relation: 8, Tag: 16, Importance: 32, Confidence: 64, Recency: 128,
		Exact: 256, Relevance: 512, Temporal: 1024, RecencyWindowDays: 180}
	r := Row{MatchType: "relation", Similarity: 0.5, RelationScore: 0.25, Memory: &mnemo.Memory{
		Content: "alpha beta", Tags: []string{"alpha"}, Importance: 0.75, Confidence: 0.5, Timestamp: daysAgo(90),
		Metadata: map[string]any{"k": "alpha gamma"}}}
	Score(w, &r, Keywords("alpha gamma"), "alpha gamma", scoreNow)
	want := Components{Vector: 0.5, Keyword: 0.5, Relation: 0.25, Tag: 1, Importance: 0.75, Confidence: 0.5, Recency: 0.5, Exact: 1, Evidence: 1}
	checkComponents(t, r.Components, want)
	// 1*.5 + 2*.5 + 8*.25 + 16*1 + 32*.75 + 64*.5 + 128*.5 + 256*1
	if r.FinalScore != 0.5+1+2+16+24+32+64+256 {
		t.Errorf("FinalScore = %v, want %v", r.FinalScore, 0.5+1+2+16+24+32+64+256)
	}
}

func TestFingerprint(t *testing.T) {
	tests := []struct{ in, want string }{
		{"## Hello, *World*!  `code`-block_x", "hello world code block x"},
		{"Same text", "same text"},
		{"same  TEXT!", "same text"},
		{"> quoted ~~strike~~", "quoted strike"},
		{"Don't STOP", "don t stop"},
		{"tab\tand\nnewline", "tab and newline"},
		{"Café au lait", "caf au lait"}, // non-ASCII is dropped, as Python's encode("ascii", "ignore")
		{"日本語", ""},
		{"***", ""},
		{"", ""},
		{strings.Repeat("ab ", 200), strings.Repeat("ab ", 200)[:320]},
	}
	for _, tt := range tests {
		if got := Fingerprint(tt.in); got != tt.want {
			t.Errorf("Fingerprint(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func dedupeRow(id, content string, score float64, ts time.Time) *Row {
	return &Row{ID: id, FinalScore: score, Memory: &mnemo.Memory{ID: id, Content: content, Timestamp: ts}}
}

func TestDedupe(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := []*Row{
		dedupeRow("m-a", "Same text", 0.5, t0.Add(time.Hour)),
		dedupeRow("m-b", "same  TEXT!", 0.7, t0),
		dedupeRow("m-c", "other", 0.9, t0),
		dedupeRow("m-d", "**same** text", 0.7, t0.Add(2*time.Hour)), // ties m-b, newer
		dedupeRow("m-e", "!!!", 0.1, t0),                            // empty fingerprint: never merged
		dedupeRow("m-f", "???", 0.1, t0),
	}
	got, removed := Dedupe(rows)
	if removed != 2 {
		t.Errorf("removed = %d, want 2", removed)
	}
	var ids []string
	for _, r := range got {
		ids = append(ids, r.ID)
	}
	if want := []string{"m-d", "m-c", "m-e", "m-f"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("ids = %v, want %v", ids, want)
	}
	// AutoMem (reference §4.7) gives the winner the sorted ids of every
	// memory that collapsed into it, its own included.
	if want := []string{"m-a", "m-b", "m-d"}; !reflect.DeepEqual(got[0].DedupedFrom, want) {
		t.Errorf("winner DedupedFrom = %v, want %v", got[0].DedupedFrom, want)
	}
	for _, r := range got[1:] {
		if r.DedupedFrom != nil {
			t.Errorf("%s DedupedFrom = %v, want none", r.ID, r.DedupedFrom)
		}
	}
}

func TestDedupeWinner(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		rows   []*Row
		winner string
	}{
		{"higher score wins over newer", []*Row{dedupeRow("x1", "t", 0.9, t0), dedupeRow("x2", "t", 0.8, t0.Add(time.Hour))}, "x1"},
		{"higher score wins when second", []*Row{dedupeRow("x1", "t", 0.8, t0.Add(time.Hour)), dedupeRow("x2", "t", 0.9, t0)}, "x2"},
		{"tie goes to the newer timestamp", []*Row{dedupeRow("x1", "t", 0.8, t0), dedupeRow("x2", "t", 0.8, t0.Add(time.Second))}, "x2"},
		{"tie and same timestamp keeps the first", []*Row{dedupeRow("x2", "t", 0.8, t0), dedupeRow("x1", "t", 0.8, t0)}, "x2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, removed := Dedupe(tt.rows)
			if len(got) != 1 || removed != 1 || got[0].ID != tt.winner {
				var ids []string
				for _, r := range got {
					ids = append(ids, r.ID)
				}
				t.Errorf("Dedupe = %v (removed %d), want [%s] (removed 1)", ids, removed, tt.winner)
			}
		})
	}
}

func rowIDs(rows []*Row) []string {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	return ids
}

func TestSortRowsScore(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(id string, final float64, source string, orig, imp float64, ts time.Time) *Row {
		return &Row{ID: id, FinalScore: final, Source: source, OriginalScore: orig, Memory: &mnemo.Memory{ID: id, Importance: imp, Timestamp: ts}}
	}
	rows := []*Row{
		mk("b", 0.1, "graph", 0.5, 0.5, t0),
		mk("s9", 0.2, "graph", 0.5, 0.5, t0),
		mk("s7", 0.3, "graph", 0.5, 0.1, t0),
		mk("s4", 0.4, "graph", 0.5, 0.2, t0),
		mk("s2", 0.5, "graph", 0.9, 0.5, t0),
		mk("a", 0.1, "graph", 0.5, 0.5, t0),
		mk("s1", 0.9, "graph", 0.0, 0.0, t0),
		mk("s3", 0.5, "vector", 0.1, 0.5, t0),               // same final as s2: vector rows first
		mk("s5", 0.4, "graph", 0.6, 0.2, t0),                // same final as s4: higher channel score first
		mk("s6", 0.3, "graph", 0.5, 0.9, t0),                // same final and channel score as s7: higher importance first
		mk("s8", 0.2, "graph", 0.5, 0.5, t0.Add(time.Hour)), // newer first
	}
	SortRows(rows, "score")
	if want := []string{"s1", "s3", "s2", "s5", "s4", "s6", "s7", "s8", "s9", "a", "b"}; !reflect.DeepEqual(rowIDs(rows), want) {
		t.Errorf("score order = %v, want %v", rowIDs(rows), want)
	}
}

// AutoMem sorts time_* primarily by updated_at (reference §4.8); mnemo sorts
// time_* by timestamp and updated_* by updated_at then timestamp, with ties
// by id ascending, exactly as the stores' SQL (docs/compatibility.md).
func TestSortRowsTimeModes(t *testing.T) {
	d := func(day int) time.Time { return time.Date(2026, 1, day, 0, 0, 0, 0, time.UTC) }
	mk := func(id string, ts, updated time.Time) *Row {
		return &Row{ID: id, FinalScore: 1, Memory: &mnemo.Memory{ID: id, Timestamp: ts, UpdatedAt: updated}}
	}
	fresh := func() []*Row {
		return []*Row{
			mk("r1", d(1), d(20)), // oldest, but edited last
			mk("r2", d(5), d(10)),
			mk("r3", d(3), d(10)), // same updated_at as r2, older timestamp
			mk("r4", d(9), d(9)),
			mk("r5", d(9), d(9)), // identical times to r4: id decides
		}
	}
	tests := []struct {
		mode string
		want []string
	}{
		{"time_desc", []string{"r4", "r5", "r2", "r3", "r1"}},
		{"time_asc", []string{"r1", "r3", "r2", "r4", "r5"}},
		{"updated_desc", []string{"r1", "r2", "r3", "r4", "r5"}},
		{"updated_asc", []string{"r4", "r5", "r3", "r2", "r1"}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			rows := fresh()
			SortRows(rows, tt.mode)
			if got := rowIDs(rows); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s order = %v, want %v", tt.mode, got, tt.want)
			}
		})
	}
}

// When updated_at equals timestamp (the usual case, and what the stores'
// time orders use), the time modes are plain chronological orders.
func TestSortRowsTimeModesChronological(t *testing.T) {
	d := func(day int) time.Time { return time.Date(2026, 1, day, 0, 0, 0, 0, time.UTC) }
	fresh := func() []*Row {
		var rows []*Row
		for _, x := range []struct {
			id  string
			day int
		}{{"c", 3}, {"a", 1}, {"e", 5}, {"b", 2}, {"d", 4}} {
			rows = append(rows, &Row{ID: x.id, FinalScore: float64(x.day), Memory: &mnemo.Memory{ID: x.id, Timestamp: d(x.day), UpdatedAt: d(x.day)}})
		}
		return rows
	}
	for mode, want := range map[string][]string{
		"time_desc": {"e", "d", "c", "b", "a"}, "time_asc": {"a", "b", "c", "d", "e"},
		"updated_desc": {"e", "d", "c", "b", "a"}, "updated_asc": {"a", "b", "c", "d", "e"},
	} {
		rows := fresh()
		SortRows(rows, mode)
		if got := rowIDs(rows); !reflect.DeepEqual(got, want) {
			t.Errorf("%s order = %v, want %v", mode, got, want)
		}
	}
}

func TestAdaptiveFloor(t *testing.T) {
	tests := []struct {
		name      string
		scores    []float64
		wantFloor float64
		wantOK    bool
	}{
		{"three rows are never cut", []float64{1, 0.1, 0.05}, 0, false},
		{"large gap in the upper half cuts", []float64{1.0, 0.9, 0.3, 0.2}, 0.3, true},
		{"input order does not matter", []float64{0.2, 1.0, 0.3, 0.9}, 0.3, true},
		{"gap right after the top", []float64{1.0, 0.2, 0.15, 0.1}, 0.2, true},
		{"small gaps do not cut", []float64{1, 0.95, 0.9, 0.85}, 0, false},
		{"gap of exactly a quarter does not cut", []float64{1, 0.75, 0.7, 0.65}, 0, false},
		{"gap in the lower half is ignored", []float64{1.0, 0.95, 0.9, 0.2, 0.15, 0.1}, 0, false},
		{"gap at the last upper-half position is ignored for four rows", []float64{1.0, 0.9, 0.8, 0.1}, 0, false},
		{"a cut keeping fewer than half is refused", []float64{1.0, 0.3, 0.29, 0.28, 0.27}, 0, false},
		{"a cut keeping exactly half is allowed", []float64{1.0, 0.3, 0.05, 0.04}, 0.3, true},
		{"equal scores", []float64{0.5, 0.5, 0.5, 0.5, 0.5}, 0, false},
		{"all zero", []float64{0, 0, 0, 0}, 0, false},
		{"ties at the floor survive", []float64{1.0, 0.9, 0.3, 0.3, 0.3, 0.1}, 0.3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rows []*Row
			for _, s := range tt.scores {
				rows = append(rows, &Row{FinalScore: s})
			}
			floor, ok := AdaptiveFloor(rows)
			if ok != tt.wantOK || floor != tt.wantFloor {
				t.Errorf("AdaptiveFloor(%v) = %v, %v; want %v, %v", tt.scores, floor, ok, tt.wantFloor, tt.wantOK)
			}
		})
	}
}

// The tokenizers split exactly as the regexps they stand for.
func TestTokenizersMatchTheirRegexps(t *testing.T) {
	for _, tc := range []struct {
		split func(string) []string
		re    *regexp.Regexp
	}{{contentTokens, regexp.MustCompile(`[a-z0-9]+`)}, {keywordTokens, regexp.MustCompile(`[a-z0-9_-]+`)}} {
		for _, s := range []string{"", "a", "hello world", "  lead and trail  ", "snake_case-and-kebab", "__x--", "x1y2 3z",
			"café naïve 東京 ok", "tabs\tand\nnewlines", "MiXeD", "emoji 😀 end", "a,b;c.d", "ﬁ ligature", "\xff\xfebad utf8ok"} {
			s = strings.ToLower(s)
			if got, want := tc.split(s), tc.re.FindAllString(s, -1); !reflect.DeepEqual(got, want) {
				t.Errorf("%s on %q: %q, want %q", tc.re, s, got, want)
			}
		}
	}
}

// TestTimeMentionWords: the "when" bonus counts times, not modal verbs or
// ordinary words: "may", "last", "next", "later" and "soon" alone fired it
// on any text (issue 12).
func TestTimeMentionWords(t *testing.T) {
	for text, want := range map[string]bool{
		"you may want tabs":               false,
		"the last step of the build":      false,
		"next to the window":              false,
		"we can talk later":               false,
		"coming soon":                     false,
		"surgery in May":                  true,
		"on May 3 we moved":               true,
		"the 3 May meeting":               true,
		"last week we shipped":            true,
		"next month the lease ends":       true,
		"we met yesterday":                true,
		"in 2023 she moved":               true,
		"every Tuesday":                   true,
		"since March the team is smaller": true,
		"a year ago":                      true,
	} {
		if got := reTimeMention.MatchString(strings.ToLower(text)); got != want {
			t.Errorf("%q: time mention %v, want %v", text, got, want)
		}
	}
}
