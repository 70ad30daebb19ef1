package recall_test

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/embed"
	"github.com/mnemohq/mnemo/recall"
	"github.com/mnemohq/mnemo/sqlite"
)

// now is fixed so that recency and state are reproducible.
var now = time.Date(2026, 3, 18, 15, 4, 5, 0, time.UTC)

// id returns a fixed memory id; the number is its last group.
func id(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

type fixture struct {
	t     *testing.T
	ctx   context.Context
	store *sqlite.Store
	emb   *embed.Hash
	// cfg is the configuration the fixture's recalls run with: the
	// defaults, except what a test sets because it relies on it (a weight,
	// the neighbour share), so that a change of a default, which the
	// evalset judges (internal/evalset), does not rewrite the test.
	cfg recall.Config
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	e := embed.NewHash(64)
	store, err := sqlite.OpenStore(ctx, filepath.Join(t.TempDir(), "memories.db"), e.Model(), e.Dim())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return &fixture{t: t, ctx: ctx, store: store, emb: e, cfg: recall.DefaultConfig}
}

type memOpt func(*mnemo.Memory)

func importance(v float64) memOpt { return func(m *mnemo.Memory) { m.Importance = v } }
func tags(t ...string) memOpt     { return func(m *mnemo.Memory) { m.Tags = t } }
func age(d time.Duration) memOpt {
	return func(m *mnemo.Memory) {
		ts := now.Add(-d)
		m.Timestamp, m.TValid, m.UpdatedAt, m.LastAccessed = ts, ts, ts, ts
	}
}
func expired(at time.Time) memOpt   { return func(m *mnemo.Memory) { m.TInvalid = &at } }
func validFrom(at time.Time) memOpt { return func(m *mnemo.Memory) { m.TValid = at } }

const day = 24 * time.Hour

// add stores memories with fixed ids and timestamps and their hash
// embeddings. By default a memory is 10 days old, importance 0.5,
// confidence 0.9.
func (f *fixture) add(n int, content string, opts ...memOpt) *mnemo.Memory {
	f.t.Helper()
	ts := now.Add(-10 * day)
	m := &mnemo.Memory{ID: id(n), Content: content, Tags: []string{}, Importance: 0.5, Type: "Context", Confidence: 0.9,
		Timestamp: ts, TValid: ts, UpdatedAt: ts, LastAccessed: ts, Metadata: map[string]any{}}
	for _, o := range opts {
		o(m)
	}
	vecs, err := f.emb.Embed(f.ctx, []string{content})
	if err != nil {
		f.t.Fatal(err)
	}
	m.Embedding, m.EmbeddingModel = vecs[0], f.emb.Model()
	if _, err := f.store.Write(f.ctx, mnemo.Write{Create: []*mnemo.Memory{m}}, mnemo.Quotas{}); err != nil {
		f.t.Fatal(err)
	}
	return m
}

func (f *fixture) relate(from, to int, typ mnemo.RelationType, strength float64) {
	f.t.Helper()
	_, err := f.store.Write(f.ctx, mnemo.Write{Relate: []mnemo.Relation{{From: id(from), To: id(to), Type: typ, Strength: strength, UpdatedAt: now.Add(-time.Hour)}}}, mnemo.Quotas{})
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) recall(raw string) *recall.Response {
	f.t.Helper()
	v, err := url.ParseQuery(raw)
	if err != nil {
		f.t.Fatal(err)
	}
	q, err := recall.ParseQuery(v, f.cfg, mnemo.DefaultLimits, f.emb.Dim(), now)
	if err != nil {
		f.t.Fatalf("ParseQuery(%q): %v", raw, err)
	}
	resp, err := (&recall.Recaller{Config: f.cfg, Embedder: f.emb}).Run(f.ctx, f.store, q)
	if err != nil {
		f.t.Fatalf("Run(%q): %v", raw, err)
	}
	if resp.Count != len(resp.Results) {
		f.t.Errorf("Count = %d, but %d results", resp.Count, len(resp.Results))
	}
	return resp
}

func resultIDs(resp *recall.Response) []string {
	out := []string{}
	for _, r := range resp.Results {
		out = append(out, r.ID)
	}
	return out
}

func ids(ns ...int) []string {
	out := []string{}
	for _, n := range ns {
		out = append(out, id(n))
	}
	return out
}

// wantOrder checks the results are exactly want, in order. Tests use it
// where a rule decides the order (a time sort, priority ids first, the
// seeds then what an expansion added, a memory that dominates the others:
// more of the query's words, all else equal), never where only today's
// weights do: the evalset judges those (issue 12).
func wantOrder(t *testing.T, resp *recall.Response, want ...int) {
	t.Helper()
	if got := resultIDs(resp); !reflect.DeepEqual(got, ids(want...)) {
		t.Errorf("result ids =\n  %v\nwant\n  %v\nscores: %s", got, ids(want...), scores(resp))
	}
}

// wantSet checks the results are exactly the memories want, in any order.
func wantSet(t *testing.T, resp *recall.Response, want ...int) {
	t.Helper()
	checkGroups(t, resp, true, [][]int{want})
}

// wantGroups checks the results are the groups one after the other, each
// in any order (the ranked seeds, then the rows an expansion added).
func wantGroups(t *testing.T, resp *recall.Response, groups ...[]int) {
	t.Helper()
	checkGroups(t, resp, true, groups)
}

// wantPrefix checks the results begin with the groups one after the other,
// each in any order; the rows after them are not checked.
func wantPrefix(t *testing.T, resp *recall.Response, groups ...[]int) {
	t.Helper()
	checkGroups(t, resp, false, groups)
}

func checkGroups(t *testing.T, resp *recall.Response, whole bool, groups [][]int) {
	t.Helper()
	got := resultIDs(resp)
	n, ok := 0, true
	for _, g := range groups {
		if n+len(g) > len(got) {
			ok = false
			break
		}
		part, want := append([]string{}, got[n:n+len(g)]...), ids(g...)
		sort.Strings(part)
		sort.Strings(want)
		ok = ok && reflect.DeepEqual(part, want)
		n += len(g)
	}
	if !ok || (whole && n != len(got)) {
		what := "want the groups"
		if !whole {
			what = "want them to begin with the groups"
		}
		t.Errorf("result ids =\n  %v\n%s\n  %v\nscores: %s", got, what, groups, scores(resp))
	}
}

// wantFirst checks the results begin with want, in order.
func wantFirst(t *testing.T, resp *recall.Response, want ...int) {
	t.Helper()
	if got := resultIDs(resp); len(got) < len(want) || !reflect.DeepEqual(got[:len(want)], ids(want...)) {
		t.Errorf("result ids =\n  %v\nwant them to begin with\n  %v\nscores: %s", got, ids(want...), scores(resp))
	}
}

// wantAbsent checks none of the memories is a result.
func wantAbsent(t *testing.T, resp *recall.Response, ns ...int) {
	t.Helper()
	for _, n := range ns {
		if rowOf(resp, n) != nil {
			t.Errorf("memory %d is a result: %s", n, scores(resp))
		}
	}
}

func scores(resp *recall.Response) string {
	s := ""
	for _, r := range resp.Results {
		s += fmt.Sprintf("\n  %s %-17s final=%.4f kw=%.3f vec=%.3f imp=%.2f", r.ID, r.MatchType, r.FinalScore, r.Components.Keyword, r.Components.Vector, r.Components.Importance)
	}
	return s
}

// The memory with the query's words outranks those with none of them, all
// else equal: a rule whatever the weights (how far relevance should beat
// importance is a question of weights, for the evalset).
func TestRecallKeywordMatchBeatsNoMatch(t *testing.T) {
	f := newFixture(t)
	f.add(1, "Grocery list: bananas, apples and oat milk")
	f.add(2, "Postgres connection pooling goes through pgbouncer")
	f.add(3, "Team offsite is planned in Lisbon")
	resp := f.recall("query=postgres+pooling&limit=1")
	wantOrder(t, resp, 2)
	if r := resp.Results[0]; r.Components.Keyword != 1 {
		t.Errorf("keyword component = %v, want 1", r.Components.Keyword)
	}
	if !reflect.DeepEqual(resp.Keywords, []string{"postgres", "pooling"}) {
		t.Errorf("Keywords = %v", resp.Keywords)
	}
}

// More of the query's words rank higher, all else equal (importance, age):
// each memory has more of them than the next, in its keyword and vector
// components both, so the order holds for any weights.
func TestRecallMoreMatchedWordsRankHigher(t *testing.T) {
	f := newFixture(t)
	f.add(1, "kafka broker disk is full")                  // 1 of 4 query words
	f.add(2, "weekly team lunch menu")                     // 0 of 4
	f.add(3, "kafka consumer lag alert fired at noon")     // 4 of 4
	f.add(4, "the kafka consumer was restarted yesterday") // 2 of 4
	resp := f.recall("query=kafka+consumer+lag+alert&adaptive_floor=false&context_window=0")
	wantOrder(t, resp, 3, 4, 1, 2)
	// The keyword component averages the share of the query's words with
	// normalised BM25. In a four-memory store FTS5 gives "kafka" (3 of 4)
	// and "consumer" (2 of 4) no weight, so only memory 3's rare words
	// count for BM25, and the others keep half their word share.
	for n, want := range map[int]float64{3: 1, 4: 0.25, 1: 0.125, 2: 0} {
		if r := rowOf(resp, n); r == nil || math.Abs(r.Components.Keyword-want) > 1e-5 {
			t.Errorf("memory %d keyword component: %+v, want %v", n, r, want)
		}
	}
}

// With equal text, the more important memory comes first. The two differ
// only in "the" and "a": the same length for BM25, the same vector (the
// hash embedder drops both), distinct content for dedupe; so importance is
// all that tells them apart, whatever the weights.
func TestRecallEqualTextHigherImportanceFirst(t *testing.T) {
	f := newFixture(t)
	f.add(1, "the kafka retention policy", importance(0.3))
	f.add(2, "a kafka retention policy", importance(0.9))
	resp := f.recall("query=kafka+retention")
	wantOrder(t, resp, 2, 1)
	if r1, r2 := rowOf(resp, 1), rowOf(resp, 2); r1 != nil && r2 != nil &&
		(r1.Components.Keyword != r2.Components.Keyword || r1.Components.Vector != r2.Components.Vector) {
		t.Errorf("the fixture's memories differ in more than importance: %s", scores(resp))
	}

	// Swapped importances swap the order.
	g := newFixture(t)
	g.add(1, "the kafka retention policy", importance(0.9))
	g.add(2, "a kafka retention policy", importance(0.3))
	wantOrder(t, g.recall("query=kafka+retention"), 1, 2)
}

func TestRecallTagScope(t *testing.T) {
	f := newFixture(t)
	f.add(1, "deploy checklist for the alpha release", tags("project:alpha"))
	f.add(2, "checklist review notes", tags("Project/Alpha", "notes"))
	f.add(3, "lunch order for friday", tags("project:alpha:ops"))
	n := 100
	for i := 0; i < 40; i++ {
		var tg []string
		switch i % 4 {
		case 0:
			tg = []string{"project:beta"}
		case 1:
			tg = []string{"project:alphabet"} // segment-wise: not project:alpha
		case 2:
			tg = []string{"alpha"}
		}
		f.add(n+i, fmt.Sprintf("deploy checklist deploy checklist alpha step %d", i), tags(tg...), importance(1))
	}
	for _, raw := range []string{
		"query=deploy+checklist&tags=project:alpha&limit=3",
		"query=deploy+checklist&tags=project:alpha&limit=10",
		"query=deploy+checklist&tags=PROJECT:ALPHA&limit=3&adaptive_floor=false",
	} {
		t.Run(raw, func(t *testing.T) {
			wantSet(t, f.recall(raw), 1, 2, 3)
		})
	}
	// Without the scope the better matches come first.
	resp := f.recall("query=deploy+checklist&limit=3")
	for _, r := range resp.Results {
		if r.ID == id(1) || r.ID == id(2) || r.ID == id(3) {
			t.Errorf("unscoped query returned in-scope %s among the top 3; the fixture does not test scoping", r.ID)
		}
	}
	// An exact scope excludes deeper tags; tag_mode=all needs every tag.
	wantSet(t, f.recall("query=deploy+checklist&tags=project:alpha&tag_match=exact&limit=5"), 1)
	wantSet(t, f.recall("query=deploy+checklist&tags=project:alpha&tags=notes&tag_mode=all&limit=5"), 2)
	// exclude_tags drops by raw prefix even inside the scope.
	wantSet(t, f.recall("query=deploy+checklist&tags=project:alpha&exclude_tags=project:alpha:o&limit=5"), 1, 2)
}

func TestRecallEmptyQueryIsTrending(t *testing.T) {
	f := newFixture(t)
	// All older than the recency window (set here: the order relies on
	// it), so only importance and, on ties, the newer timestamp decide.
	f.cfg.Weights.RecencyWindowDays = 180
	f.add(1, "alpha note", importance(0.7), age(300*day))
	f.add(2, "bravo note", importance(0.9), age(200*day))
	f.add(3, "charlie note", importance(0.2), age(190*day))
	f.add(4, "delta note", importance(0.7), age(250*day))
	f.add(5, "echo note", importance(0.5), age(400*day))
	for _, raw := range []string{"", "query=", "limit=10", "query=*"} {
		t.Run(raw, func(t *testing.T) {
			resp := f.recall(raw)
			wantOrder(t, resp, 2, 4, 1, 5, 3)
			for _, r := range resp.Results {
				if r.MatchType != "trending" {
					t.Errorf("%s match_type = %q, want trending", r.ID, r.MatchType)
				}
			}
		})
	}
	wantOrder(t, f.recall("limit=2"), 2, 4)
}

func TestRecallSortTime(t *testing.T) {
	f := newFixture(t)
	f.add(1, "release notes for version three", age(5*day), importance(0.1))
	f.add(2, "release notes for version one", age(40*day), importance(0.9))
	f.add(3, "release notes for version two", age(20*day), importance(0.5))
	f.add(4, "holiday schedule", age(1*day), importance(1))
	tests := []struct {
		raw  string
		want []int
	}{
		// With a query the candidates are ordered by time, not by score
		// (the unrelated memory 4 is a vector candidate too).
		{"query=release+notes&sort=time_asc&limit=10", []int{2, 3, 1, 4}},
		{"query=release+notes&sort=time_desc&limit=10", []int{4, 1, 3, 2}},
		{"query=release+notes&order_by=time_asc&limit=10", []int{2, 3, 1, 4}},
		{"sort=time_asc&limit=10", []int{2, 3, 1, 4}},
		{"sort=time_desc&limit=2", []int{4, 1}},
		// A window without a query sorts newest first and filters by timestamp.
		{"time_query=last+30+days", []int{4, 1, 3}},
		{"start=2026-02-26T15:04:05Z&end=2026-03-13T15:04:05Z", []int{1, 3}}, // bounds inclusive
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			wantOrder(t, f.recall(tt.raw), tt.want...)
		})
	}
}

func TestRecallExpandRelations(t *testing.T) {
	f := newFixture(t)
	f.add(1, "rust borrow checker lifetimes explained")
	f.add(2, "rust borrow checker errors")
	f.add(3, "coffee beans from ethiopia")
	f.add(4, "green tea leaves")
	f.add(5, "bicycle repair shop")
	f.add(6, "piano lessons on tuesday")
	f.add(7, "garden compost heap")
	f.relate(1, 3, "RELATES_TO", 0.6) // seed 1 → 3
	f.relate(3, 4, "LEADS_TO", 0.9)   // two hops from a seed: not expanded
	f.relate(6, 2, "PART_OF", 0.4)    // incoming edge to seed 2: expanded (undirected)
	f.relate(1, 7, "SIMILAR_TO", 0.9) // system type: not expanded

	// Memory 1 has all four of the query's words, 2 three of them, all else
	// equal: they are the seeds in that order whatever the weights, and the
	// rows an expansion adds follow them, seed by seed.
	base := f.recall("query=rust+borrow+checker+lifetimes&limit=2&adaptive_floor=false")
	wantOrder(t, base, 1, 2)

	resp := f.recall("query=rust+borrow+checker+lifetimes&limit=2&adaptive_floor=false&expand_relations=true")
	wantOrder(t, resp, 1, 2, 3, 6)
	if len(resp.Results) != 4 {
		return
	}
	seed1, seed2, rel3, rel6 := resp.Results[0], resp.Results[1], resp.Results[2], resp.Results[3]
	if seed1.FinalScore != base.Results[0].FinalScore || seed2.FinalScore != base.Results[1].FinalScore {
		t.Errorf("seed scores changed by expansion")
	}
	checks := []struct {
		row      *recall.Row
		seed     *recall.Row
		rank     int
		typ      mnemo.RelationType
		strength float64
	}{{rel3, seed1, 1, "RELATES_TO", 0.6}, {rel6, seed2, 2, "PART_OF", 0.4}}
	for _, c := range checks {
		wantRS := c.strength + 0.25*c.seed.FinalScore
		if c.row.MatchType != "relation" || c.row.Source != "graph" {
			t.Errorf("%s match_type, source = %q, %q; want relation, graph", c.row.ID, c.row.MatchType, c.row.Source)
		}
		if math.Abs(c.row.RelationScore-wantRS) > 1e-12 {
			t.Errorf("%s relation_score = %v, want %v + 0.25*%v = %v", c.row.ID, c.row.RelationScore, c.strength, c.seed.FinalScore, wantRS)
		}
		if c.row.Components.Relation != c.row.RelationScore {
			t.Errorf("%s relation component = %v, want relation_score %v", c.row.ID, c.row.Components.Relation, c.row.RelationScore)
		}
		wantEdge := []recall.Edge{{Type: c.typ, Strength: c.strength, From: c.seed.ID, SeedRank: c.rank, SeedScore: c.seed.FinalScore}}
		if !reflect.DeepEqual(c.row.RelatedTo, wantEdge) {
			t.Errorf("%s related_to = %+v, want %+v", c.row.ID, c.row.RelatedTo, wantEdge)
		}
	}
	if resp.Expansion["seed_count"] != 2 || resp.Expansion["expanded_count"] != 2 {
		t.Errorf("expansion = %v, want seed_count 2, expanded_count 2", resp.Expansion)
	}

	// expansion_limit caps the added rows; expand_min_strength filters edges.
	wantOrder(t, f.recall("query=rust+borrow+checker+lifetimes&limit=2&adaptive_floor=false&expand=1&expansion_limit=1"), 1, 2, 3)
	wantOrder(t, f.recall("query=rust+borrow+checker+lifetimes&limit=2&adaptive_floor=false&expand=1&expand_min_strength=0.5"), 1, 2, 3)
}

func TestRecallStateFilter(t *testing.T) {
	f := newFixture(t)
	// 1-3 have the query's words (different fingerprints: no dedupe), 4
	// none and no more importance than any of them: 1-3 are the three best
	// in history mode, whatever the weights.
	f.add(1, "api server port", importance(0.9))
	f.add(2, "the api server port", importance(0.6), expired(now.Add(-day)))
	f.add(3, "an api server port", importance(0.3), validFrom(now.Add(5*day)))
	f.add(4, "moved the service to 9090 behind the proxy", importance(0.3))
	f.relate(1, 4, "INVALIDATED_BY", 0.8)

	history := f.recall("query=api+server+port&limit=3&state_mode=history&adaptive_floor=false")
	wantSet(t, history, 1, 2, 3)
	if history.StateFilter != nil {
		t.Errorf("history state_filter = %v, want none", history.StateFilter)
	}
	wantSet(t, f.recall("query=api+server+port&limit=3&current_only=false&adaptive_floor=false"), 1, 2, 3)
	// current_only wins over state_mode.
	wantSet(t, f.recall("query=api+server+port&limit=3&state_mode=history&current_only=true&adaptive_floor=false"), 4)

	cur := f.recall("query=api+server+port&limit=3&adaptive_floor=false&state_debug=true")
	wantSet(t, cur, 4)
	var old *recall.Row
	for _, r := range history.Results {
		if r.ID == id(1) {
			old = r
		}
	}
	if len(cur.Results) == 1 && old != nil {
		rep := cur.Results[0]
		if rep.MatchType != "state_replacement" || rep.StateReplaces != id(1) {
			t.Errorf("replacement match_type, state_replaces = %q, %q; want state_replacement, %s", rep.MatchType, rep.StateReplaces, id(1))
		}
		if rep.FinalScore != old.FinalScore || rep.Score != old.Score {
			t.Errorf("replacement final_score = %v, want the suppressed row's %v", rep.FinalScore, old.FinalScore)
		}
		if want := []recall.Edge{{Type: "INVALIDATED_BY", Strength: 0.8, From: id(1)}}; !reflect.DeepEqual(rep.Relations, want) {
			t.Errorf("replacement edge = %+v, want %+v", rep.Relations, want)
		}
	}
	if cur.StateFilter["suppressed_count"] != 3 || cur.StateFilter["replacement_count"] != 1 {
		t.Errorf("state_filter = %v, want 3 suppressed, 1 replacement", cur.StateFilter)
	}
	// The entries follow the rows' order, which is not the point: compared
	// by id.
	wantSuppressed := []map[string]any{
		{"id": id(1), "reason": "superseded", "replacement_id": id(4), "relation_type": mnemo.RelationType("INVALIDATED_BY")},
		{"id": id(2), "reason": "expired"},
		{"id": id(3), "reason": "not_yet_valid"},
	}
	got, _ := cur.StateFilter["suppressed"].([]map[string]any)
	got = append([]map[string]any{}, got...)
	sort.Slice(got, func(i, j int) bool { return fmt.Sprint(got[i]["id"]) < fmt.Sprint(got[j]["id"]) })
	if !reflect.DeepEqual(got, wantSuppressed) {
		t.Errorf("suppressed = %v, want %v (in any order)", cur.StateFilter["suppressed"], wantSuppressed)
	}
	// A replacement outside the tag scope is not injected.
	g := newFixture(t)
	g.add(1, "api server port", tags("infra"))
	g.add(2, "moved the service to 9090", tags("legacy"))
	g.relate(1, 2, "INVALIDATED_BY", 0.8)
	wantSet(t, g.recall("query=api+server+port&tags=infra"))
}

// A chain old → mid → head is followed to its head.
func TestRecallStateFilterChain(t *testing.T) {
	f := newFixture(t)
	f.add(1, "deploy with fabric scripts", importance(0.9))
	f.add(2, "unrelated: ansible playbooks now", importance(0.5))
	f.add(3, "unrelated: argo cd pipelines", importance(0.5))
	f.relate(1, 2, "EVOLVED_INTO", 0.7)
	f.relate(2, 3, "INVALIDATED_BY", 0.9)
	resp := f.recall("query=deploy+fabric+scripts&limit=1")
	wantOrder(t, resp, 3)
	if len(resp.Results) == 1 {
		r := resp.Results[0]
		if r.StateReplaces != id(1) || !reflect.DeepEqual(r.Relations, []recall.Edge{{Type: "EVOLVED_INTO", Strength: 0.7, From: id(1)}}) {
			t.Errorf("replacement = replaces %q, edge %+v; want replaces %s via the first hop EVOLVED_INTO", r.StateReplaces, r.Relations, id(1))
		}
	}
}

// Identical content is one result: the better row of the two, here 2,
// which is more important and newer than 1 (so it scores higher whatever
// the weights, and wins a tie as the newer).
func TestRecallDedupeIdenticalContent(t *testing.T) {
	f := newFixture(t)
	f.add(1, "Use ruff for linting python", importance(0.4), age(30*day))
	f.add(2, "Use ruff for linting python", importance(0.8), age(20*day))
	f.add(3, "Use black for formatting python", importance(0.5))
	resp := f.recall("query=ruff+linting+python")
	wantSet(t, resp, 2, 3)
	if resp.DedupRemoved != 1 {
		t.Errorf("dedup_removed = %d, want 1", resp.DedupRemoved)
	}
	// Reference §4.7: the winner lists the sorted ids of every memory in
	// its group (AutoMem: sorted(set(sources)), its own id included).
	if r := rowOf(resp, 2); r != nil {
		if got, want := r.DedupedFrom, ids(1, 2); !reflect.DeepEqual(got, want) {
			t.Errorf("deduped_from = %v, want %v", got, want)
		}
	}
	if r := rowOf(resp, 3); r != nil && r.DedupedFrom != nil {
		t.Errorf("deduped_from on a unique row = %v", r.DedupedFrom)
	}
}

// unitWeights keep every score without a context bonus within [0, 1],
// min_score's range, whatever the defaults add up to: the tests of
// min_score set them.
var unitWeights = recall.Weights{Vector: 0.4, Keyword: 0.4, Importance: 0.1, Recency: 0.1, RecencyWindowDays: 180}

// min_score keeps the rows that score at least it. The thresholds are cut
// in the gaps between the scores the recall gives without one, so the test
// holds whatever the weights make those scores, as long as they are within
// min_score's range.
func TestRecallMinScore(t *testing.T) {
	f := newFixture(t)
	f.cfg.Weights = unitWeights
	f.add(1, "grafana dashboard for latency", importance(0.5))
	f.add(2, "grafana alerts are noisy", importance(0.5))
	f.add(3, "cooking pasta tonight", importance(0.5))
	f.add(4, "latency dashboard in grafana for checkout", importance(0.5))
	base := "query=grafana+dashboard+latency&adaptive_floor=false&context_window=0"
	all := f.recall(base)
	wantSet(t, all, 1, 2, 3, 4)
	if all.ScoreFilter != nil {
		t.Errorf("score_filter without min_score = %v", all.ScoreFilter)
	}

	mins := []float64{0}
	for i := 0; i+1 < len(all.Results); i++ {
		if hi, lo := all.Results[i].FinalScore, all.Results[i+1].FinalScore; hi-lo > 1e-6 {
			mins = append(mins, (hi+lo)/2)
		}
	}
	if len(mins) < 3 || all.Results[0].FinalScore >= 1 {
		t.Fatalf("the fixture should score its memories apart, below 1: %s", scores(all))
	}
	mins = append(mins, 1)
	for _, min := range mins {
		raw := fmt.Sprintf("%s&min_score=%v", base, min)
		t.Run(raw, func(t *testing.T) {
			resp := f.recall(raw)
			var want []string
			for _, r := range all.Results {
				if r.FinalScore >= min {
					want = append(want, r.ID)
				}
			}
			if want == nil {
				want = []string{}
			}
			if got := resultIDs(resp); !reflect.DeepEqual(got, want) {
				t.Errorf("ids = %v, want %v%s", got, want, scores(all))
			}
			if resp.ScoreFilter == nil {
				t.Errorf("score_filter missing")
			}
		})
	}
}

// neighbours sets the neighbour step the tests below rely on, so that a
// change of its defaults does not rewrite them: the top three rows bring in
// the memories of their conversation stored within the hour before and
// after them, at 0.7 of their match to the query.
func (f *fixture) neighbours() {
	f.cfg.ContextWindow, f.cfg.ContextWeight, f.cfg.ContextMaxGap = 3, 0.7, time.Hour
}

// checkNeighbour checks that memory n was brought in beside the hit: its
// neighbor component is ContextWeight x the hit's match to the query (its
// score less its standing), its final score the larger of that share plus
// its own standing and its own score (in plain, the same recall without
// the step), and context_of names the hit when the share raised it. Which
// of the two is larger follows from the weights; that the rule holds does
// not.
func checkNeighbour(t *testing.T, f *fixture, resp, plain *recall.Response, n, hit int) {
	t.Helper()
	r, h, p := rowOf(resp, n), rowOf(resp, hit), rowOf(plain, n)
	if r == nil || h == nil || p == nil {
		t.Errorf("memory %d or its hit %d missing: %s", n, hit, scores(resp))
		return
	}
	// The share is of the hit's match to the query, its score less its
	// standing; the neighbour adds its own standing to it.
	w := f.cfg.Weights
	standing := func(c recall.Components) float64 {
		return w.Importance*c.Importance + w.Confidence*c.Confidence + w.Recency*c.Recency
	}
	share := f.cfg.ContextWeight * (h.FinalScore - standing(h.Components))
	raised := share + standing(p.Components)
	wantOf := ""
	if raised > p.FinalScore {
		wantOf = id(hit)
	}
	if r.Components.Neighbor == nil || !close9(*r.Components.Neighbor, share) ||
		!closeRuns(r.FinalScore, math.Max(raised, p.FinalScore)) || r.Score != r.FinalScore || r.ContextOf != wantOf {
		t.Errorf("memory %d: neighbor %v final %v context_of %q; want neighbor %v x the hit's match %v, final the larger of that plus its standing and %v, context_of %q",
			n, r.Components.Neighbor, r.FinalScore, r.ContextOf, f.cfg.ContextWeight, h.FinalScore-standing(h.Components), p.FinalScore, wantOf)
	}
}

// checkNoNeighbour checks that memory n, if a result, is nobody's neighbour
// and scores as in plain.
func checkNoNeighbour(t *testing.T, resp, plain *recall.Response, n int) {
	t.Helper()
	r, p := rowOf(resp, n), rowOf(plain, n)
	if r == nil {
		return
	}
	if r.ContextOf != "" || r.Components.Neighbor != nil || p == nil || !closeRuns(r.FinalScore, p.FinalScore) {
		t.Errorf("memory %d: context_of %q neighbor %v final %v; want no neighbour, scored as without the step (%+v)",
			n, r.ContextOf, r.Components.Neighbor, r.FinalScore, p)
	}
}

// TestRecallNeighboursNeedAConversation: time alone makes no neighbour.
// Facts an assistant stores a minute apart are unrelated: none of them is
// brought in beside a hit (issue 12's example: the user's birthday must
// not follow a PostgreSQL fact). Memories of one conversation are (a
// session: or conversation: tag, any case, or a session_id or
// conversation_id in metadata); a memory next in time but of another
// conversation is not.
func TestRecallNeighboursNeedAConversation(t *testing.T) {
	f := newFixture(t)
	f.neighbours()
	fact := func(n int, minutes time.Duration, content string, opts ...memOpt) {
		f.add(n, content, append([]memOpt{age(5*day - minutes*time.Minute)}, opts...)...)
	}
	fact(1, 0, "The user's birthday is on March 3rd")
	fact(2, 1, "Project atlas uses PostgreSQL 16 for billing")
	fact(3, 2, "The user prefers dark roast coffee")
	resp := f.recall("query=postgresql&adaptive_floor=false&limit=10")
	for _, r := range resp.Results {
		if r.ContextOf != "" || r.Components.Neighbor != nil {
			t.Errorf("memory %s brought in as a neighbour of %s, with no conversation", r.ID, r.ContextOf)
		}
	}

	fact(11, 10, "Caroline: what was your favourite camping trip?", tags("Session:7"))
	fact(12, 11, "Melanie: the lake, we watched the Perseids", tags("session:7"))
	fact(13, 12, "Melanie: I also bought a tent", tags("session:8")) // the next in time, another session
	// Another conversation stored between 11 and 12 does not hide 12.
	f.add(14, "Bob: lunch at noon?", age(5*day-10*time.Minute-30*time.Second), tags("session:9"))
	q := "query=favourite+camping+trip&adaptive_floor=false&limit=10"
	resp, plain := f.recall(q), f.recall(q+"&context_window=0")
	// 11 has the query's words, the others none: it is the top hit.
	wantFirst(t, resp, 11)
	checkNeighbour(t, f, resp, plain, 12, 11)
	// 13, of another session, and the facts are nobody's neighbours.
	for _, n := range []int{1, 2, 3, 13, 14} {
		checkNoNeighbour(t, resp, plain, n)
	}
}

// A conversation stored one turn per memory: the question matches, the
// answer is the next turn. The top rows bring their neighbours in time
// (within ContextMaxGap, within the query's scope) at ContextWeight of
// their score.
func TestRecallContextWindow(t *testing.T) {
	f := newFixture(t)
	f.neighbours()
	// One conversation, stored turn by turn: its turns share a session_id.
	turn := func(n int, minutes time.Duration, content string, opts ...memOpt) {
		f.add(n, content, append([]memOpt{age(5*day - minutes*time.Minute), withMeta(map[string]any{"session_id": "camping"})}, opts...)...)
	}
	turn(1, 0, "Melanie: did you see the meteor shower?", tags("chat"))
	turn(2, 1, "Caroline: what was your favourite camping trip?", tags("chat"))
	turn(3, 2, "Melanie: the one at the lake, we watched the Perseids all night", tags("chat"))
	turn(4, 3, "Caroline: sounds wonderful", tags("other"))
	turn(5, 4, "Melanie: it really was", tags("chat"))
	turn(6, 180, "Melanie: bought a new tent", tags("chat")) // three hours later: another episode

	// context_window=0 turns the step off.
	q := "query=favourite+camping+trip&adaptive_floor=false&limit=10"
	plain := f.recall(q + "&context_window=0")
	wantSet(t, plain, 1, 2, 3, 4, 5, 6)
	for _, r := range plain.Results {
		if r.ContextOf != "" || r.Components.Neighbor != nil {
			t.Errorf("context_window=0: %s is a neighbour of %q (%v)", r.ID, r.ContextOf, r.Components.Neighbor)
		}
	}

	// 2 has the query's words, the others none: it is the top hit, and the
	// turns before and after it, 1 and 3, are its neighbours.
	resp := f.recall(q)
	wantSet(t, resp, 1, 2, 3, 4, 5, 6)
	wantFirst(t, resp, 2)
	checkNeighbour(t, f, resp, plain, 1, 2)
	checkNeighbour(t, f, resp, plain, 3, 2)
	// Memory 6 is three hours after 5: even with every row a hit, it is
	// no neighbour of 5.
	if r := rowOf(f.recall(q+"&context_window=10"), 6); r == nil || r.Components.Neighbor != nil || r.ContextOf != "" {
		t.Errorf("memory 6, three hours after 5, as a neighbour: %+v", r)
	}

	// Within a tag scope, the neighbour is the nearest memory in the scope:
	// memory 4 is out of scope, so 3's next neighbour is 5.
	sq := "query=perseids+lake&tags=chat&adaptive_floor=false&limit=10"
	scoped, scopedPlain := f.recall(sq), f.recall(sq+"&context_window=0")
	wantSet(t, scoped, 1, 2, 3, 5, 6)
	wantFirst(t, scoped, 3)
	checkNeighbour(t, f, scoped, scopedPlain, 2, 3)
	checkNeighbour(t, f, scoped, scopedPlain, 5, 3)
}

// deletedMidway is a store whose memories are all deleted between the
// search and the neighbour step: Adjacent no longer finds them.
type deletedMidway struct{ *sqlite.Store }

func (deletedMidway) Adjacent(context.Context, string, mnemo.Filter) (*mnemo.Memory, *mnemo.Memory, error) {
	return nil, nil, mnemo.Errorf(mnemo.ENOTFOUND, "Memory not found")
}

// A top result deleted while recall runs has no neighbours any more; the
// recall still answers, with what it found.
func TestRecallHitDeletedDuringNeighbourStep(t *testing.T) {
	f := newFixture(t)
	f.add(1, "the deploy runs nightly")
	f.add(2, "unrelated note about lunch")
	q, err := recall.ParseQuery(url.Values{"query": {"deploy nightly"}}, recall.DefaultConfig, mnemo.DefaultLimits, f.emb.Dim(), now)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&recall.Recaller{Config: recall.DefaultConfig, Embedder: f.emb}).Run(f.ctx, deletedMidway{f.store}, q)
	if err != nil {
		t.Fatalf("recall failed on a memory deleted midway: %v", err)
	}
	if ids := resultIDs(resp); len(ids) == 0 || ids[0] != id(1) {
		t.Fatalf("results %v, want %s first", ids, id(1))
	}
}
