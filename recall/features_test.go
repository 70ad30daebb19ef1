package recall_test

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/recall"
)

// Tests of recall's optional features: context hints (reference §4.5, the
// context component of §4.3), recency_bias, expand_entities,
// scope_fallback, auto_decompose (§4.2) and the context window with
// memories stored at the same instant.

func memType(typ string) memOpt { return func(m *mnemo.Memory) { m.Type = typ } }

func withMeta(md map[string]any) memOpt { return func(m *mnemo.Memory) { m.Metadata = md } }

// stamped sets every time field of a memory to ts.
func stamped(ts time.Time) memOpt {
	return func(m *mnemo.Memory) { m.Timestamp, m.TValid, m.UpdatedAt, m.LastAccessed = ts, ts, ts, ts }
}

// rowOf returns the result row of memory n, or nil.
func rowOf(resp *recall.Response, n int) *recall.Row {
	for _, r := range resp.Results {
		if r.ID == id(n) {
			return r
		}
	}
	return nil
}

// close9 compares values computed in one run.
func close9(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// closeRuns compares scores of two runs: the hash embedder sums float32
// features in map order, so a query's vector, and the cosines, can differ
// in the last float32 bits from one run to the next.
func closeRuns(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

// weightedSum is the row's score without the unweighted parts (context,
// entity expansion, temporal, neighbour share), with the fixture's weights.
func (f *fixture) weightedSum(c recall.Components) float64 {
	w := f.cfg.Weights
	return w.Vector*c.Vector + w.Keyword*c.Keyword + w.Metadata*c.Metadata + w.Relation*c.Relation + w.Tag*c.Tag +
		w.Importance*c.Importance + w.Confidence*c.Confidence + w.Recency*c.Recency + w.Exact*c.Exact +
		w.Relevance*c.Relevance + w.TimeMention*c.TimeMention
}

// contextPriority is resp.context_priority as a client decodes it.
func contextPriority(t *testing.T, resp *recall.Response) map[string]any {
	t.Helper()
	if resp.ContextPriority == nil {
		return nil
	}
	raw, err := json.Marshal(resp.ContextPriority)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// wantContextPriority is context_priority as AutoMem sends it: language and
// context null when absent, the two lists always lists, sorted.
func wantContextPriority(language, context any, tags, types []string, injected bool) map[string]any {
	list := func(s []string) []any {
		out := []any{}
		for _, v := range s {
			out = append(out, v)
		}
		return out
	}
	return map[string]any{"language": language, "context": context, "priority_tags": list(tags),
		"priority_types": list(types), "injected": injected}
}

// styleTags are the priority tags of style focus (reference §4.5).
var styleTags = []string{"coding-style", "style", "style-guide", "preferences", "preference:coding"}

func sortedTags(tags ...string) []string {
	out := append([]string{}, tags...)
	sort.Strings(out)
	return out
}

// checkBonus compares each row's context component with want (0 for a row
// not listed) and its final score with the same row's score without hints
// plus the bonus.
func checkBonus(t *testing.T, plain, resp *recall.Response, want map[int]float64) {
	t.Helper()
	if len(resp.Results) != len(plain.Results) {
		t.Errorf("%d results with hints, %d without", len(resp.Results), len(plain.Results))
	}
	for _, r := range resp.Results {
		n := 0
		fmt.Sscanf(r.ID[len(r.ID)-12:], "%d", &n)
		b := want[n]
		if !close9(r.Components.Context, b) {
			t.Errorf("memory %d: score_components.context = %v, want %v", n, r.Components.Context, b)
		}
		if p := rowOf(plain, n); p == nil {
			t.Errorf("memory %d: not in the results without hints", n)
		} else if !closeRuns(r.FinalScore, p.FinalScore+b) || r.Score != r.FinalScore {
			t.Errorf("memory %d: final_score %v (score %v), want %v without hints + %v", n, r.FinalScore, r.Score, p.FinalScore, b)
		}
	}
}

// --- context hints -------------------------------------------------------

// sameContextPriority compares context_priority with want, reading an
// absent (null) list as empty: TestRecallContextPriorityListsAreLists pins
// that they are lists.
func sameContextPriority(t *testing.T, resp *recall.Response, want map[string]any) {
	t.Helper()
	got := contextPriority(t, resp)
	if got != nil {
		for _, k := range []string{"priority_tags", "priority_types"} {
			if v, ok := got[k]; ok && v == nil {
				got[k] = []any{}
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("context_priority =\n  %v\nwant\n  %v", got, want)
	}
}

// context_tags: +0.45 when a tag of the memory contains a priority tag once
// ':' and '/' runs are one ':' (so an equal, deeper or longer tag matches).
func TestRecallContextTags(t *testing.T) {
	f := newFixture(t)
	f.add(1, "deploy pipeline runs on every merge", tags("team:backend"))
	f.add(2, "deploy pipeline uses a blue green rollout", tags("Lang/Python/Tools"))
	f.add(3, "deploy pipeline caches docker layers", tags("ci", "my-lang:python"))
	f.add(4, "deploy pipeline posts to the chat room", tags("lang::pythonic"))
	f.add(5, "deploy pipeline secrets live in vault", tags("lang", "python"))
	f.add(6, "deploy pipeline owners rotate weekly", tags("lang/ruby"))
	base := "query=deploy+pipeline&limit=10&adaptive_floor=false&context_window=0"
	// The hints add their bonus to the same rows (checkBonus); how that
	// reorders them follows from the weights, for the evalset to judge.
	plain := f.recall(base)
	wantSet(t, plain, 1, 2, 3, 4, 5, 6)
	if plain.ContextPriority != nil {
		t.Errorf("context_priority without hints = %v, want none", plain.ContextPriority)
	}
	for _, hint := range []string{"Lang/Python", "lang:python", "lang//python", "LANG:/python"} {
		raw := base + "&context_tags=" + hint
		t.Run(raw, func(t *testing.T) {
			resp := f.recall(raw)
			checkBonus(t, plain, resp, map[int]float64{2: 0.45, 3: 0.45, 4: 0.45})
			sameContextPriority(t, resp, wantContextPriority(nil, nil, []string{strings.ToLower(hint)}, nil, false))
		})
	}
	// Several tags: a memory gets +0.45 once, however many match.
	resp := f.recall(base + "&context_tags=python,lang&context_tags=ruby")
	checkBonus(t, plain, resp, map[int]float64{2: 0.45, 3: 0.45, 4: 0.45, 5: 0.45, 6: 0.45})
	sameContextPriority(t, resp, wantContextPriority(nil, nil, []string{"lang", "python", "ruby"}, nil, false))
}

// context_types: +0.25 for a memory of a priority type; the types are
// title-cased. A tag and a type add up.
func TestRecallContextTypes(t *testing.T) {
	f := newFixture(t)
	f.add(1, "deploy pipeline never runs on fridays", memType("Decision"))
	f.add(2, "deploy pipeline prefers small batches", memType("Preference"), tags("team-python"))
	f.add(3, "deploy pipeline has three stages", memType("Context"))
	f.add(4, "deploy pipeline logs are kept a week", memType("Insight"), tags("python"))
	base := "query=deploy+pipeline&limit=10&adaptive_floor=false&context_window=0"
	plain := f.recall(base)
	wantSet(t, plain, 1, 2, 3, 4)

	resp := f.recall(base + "&context_types=DECISION")
	checkBonus(t, plain, resp, map[int]float64{1: 0.25})
	sameContextPriority(t, resp, wantContextPriority(nil, nil, nil, []string{"Decision"}, false))

	resp = f.recall(base + "&context_types=preference,decision&context_tags=python")
	checkBonus(t, plain, resp, map[int]float64{1: 0.25, 2: 0.7, 4: 0.45})
	sameContextPriority(t, resp, wantContextPriority(nil, nil, []string{"python"}, []string{"Decision", "Preference"}, false))
}

// AutoMem always sends priority_tags and priority_types as lists (sorted(...)
// of a set), [] when empty; clients iterate over them.
func TestRecallContextPriorityListsAreLists(t *testing.T) {
	f := newFixture(t)
	f.add(1, "deploy pipeline never runs on fridays", memType("Decision"))
	for _, raw := range []string{
		"query=deploy+pipeline&context_types=decision",
		"query=deploy+pipeline&context_tags=ops",
		"query=deploy+pipeline&priority_ids=" + id(1),
	} {
		resp := f.recall(raw)
		cp := contextPriority(t, resp)
		for _, k := range []string{"priority_tags", "priority_types"} {
			if _, ok := cp[k].([]any); !ok {
				t.Errorf("%s: context_priority.%s = %#v, want a JSON list", raw, k, cp[k])
			}
		}
	}
}

// langTags are a language's priority tags with style focus, sorted.
func langTags(lang string) []string {
	return sortedTags(append([]string{lang, lang + "-style", lang + ":style"}, styleTags...)...)
}

// The language comes from language/lang, then the context label as an
// alias, then active_path's extension, then a word of the query. It adds
// the tags {lang, lang-style, lang:style} (+0.45) and the keyword lang
// (+0.2 when it is a metadata term).
func TestRecallContextLanguage(t *testing.T) {
	f := newFixture(t)
	f.add(1, "error handling with exceptions", tags("python"))
	f.add(2, "error handling with result types", tags("rust"))
	f.add(3, "error handling by returning errors", tags("go"))
	f.add(5, "error handling in maintenance scripts", withMeta(map[string]any{"language": "python"}))
	f.add(6, "error handling in general")
	base := "limit=10&adaptive_floor=false&context_window=0&query=error+handling"
	plain := f.recall(base)
	tests := []struct {
		raw      string
		language string
		context  any
		bonus    map[int]float64
	}{
		{base + "&language=python", "python", nil, map[int]float64{1: 0.45, 5: 0.2}},
		{base + "&lang=PY", "python", nil, map[int]float64{1: 0.45, 5: 0.2}},
		{base + "&context=py", "python", "py", map[int]float64{1: 0.45, 5: 0.2}},
		{base + "&active_path=src/app.py", "python", nil, map[int]float64{1: 0.45, 5: 0.2}},
		{base + "&focus_path=lib/Main.RS", "rust", nil, map[int]float64{2: 0.45}},
		{base + "&file_path=cmd/main.go", "go", nil, map[int]float64{3: 0.45}},
		{base + "&language=rust&active_path=src/app.py", "rust", nil, map[int]float64{2: 0.45}},
		{base + "&context=golang&active_path=src/app.py", "go", "golang", map[int]float64{3: 0.45}},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			resp := f.recall(tt.raw)
			checkBonus(t, plain, resp, tt.bonus)
			cp := contextPriority(t, resp)
			if cp["language"] != tt.language || cp["context"] != tt.context {
				t.Errorf("context_priority language, context = %v, %v; want %v, %v", cp["language"], cp["context"], tt.language, tt.context)
			}
			got := map[string]bool{}
			for _, v := range cp["priority_tags"].([]any) {
				got[v.(string)] = true
			}
			for _, tag := range []string{tt.language, tt.language + "-style", tt.language + ":style"} {
				if !got[tag] {
					t.Errorf("priority_tags %v lack %q", cp["priority_tags"], tag)
				}
			}
		})
	}
	// A language named in the query: "golang" is go.
	g := newFixture(t)
	g.add(1, "golang error handling with wrapped errors", tags("go"))
	g.add(2, "golang error handling in the rust port", tags("rust"))
	g.add(3, "golang error handling notes", withMeta(map[string]any{"lang": "Go"}))
	g.add(4, "golang error handling house rules")
	resp := g.recall("query=golang+error+handling&limit=10&adaptive_floor=false&context_window=0")
	for n, want := range map[int]float64{1: 0.45, 2: 0, 3: 0.2, 4: 0} {
		r := rowOf(resp, n)
		if r == nil {
			t.Errorf("memory %d missing", n)
			continue
		}
		if !close9(r.Components.Context, want) || !close9(r.FinalScore, g.weightedSum(r.Components)+want) {
			t.Errorf("memory %d: context component %v, final %v; want context %v, final %v",
				n, r.Components.Context, r.FinalScore, want, g.weightedSum(r.Components)+want)
		}
	}
	if cp := contextPriority(t, resp); cp["language"] != "go" {
		t.Errorf("language = %v, want go", cp["language"])
	}
	// No language, style word or label: no profile.
	for _, raw := range []string{base, base + "&active_path=README.md", base + "&language="} {
		if resp := f.recall(raw); resp.ContextPriority != nil {
			t.Errorf("%s: context_priority = %v, want none", raw, resp.ContextPriority)
		}
	}
}

// Reference §4.5: "A language adds the tags {lang, lang-style, lang:style}
// and the keyword lang, and sets style focus" (AutoMem's
// _build_context_profile: style_focus = True with a language hint). Style
// focus adds the style tags and the types Style, Preference.
func TestRecallContextLanguageSetsStyleFocus(t *testing.T) {
	f := newFixture(t)
	f.add(1, "error handling with exceptions", tags("python"))
	f.add(4, "error handling conventions for the team", memType("Style"))
	f.add(6, "error handling in general")
	base := "limit=10&adaptive_floor=false&context_window=0&query=error+handling"
	plain := f.recall(base)
	for _, tt := range []struct {
		raw, language string
		context       any
	}{
		{base + "&language=python", "python", nil},
		{base + "&active_path=src/app.py", "python", nil},
		{base + "&context=ts", "typescript", "ts"},
	} {
		t.Run(tt.raw, func(t *testing.T) {
			resp := f.recall(tt.raw)
			bonus := map[int]float64{4: 0.25}
			if tt.language == "python" {
				bonus[1] = 0.45
			}
			checkBonus(t, plain, resp, bonus)
			sameContextPriority(t, resp, wantContextPriority(tt.language, tt.context, langTags(tt.language), []string{"Preference", "Style"}, false))
		})
	}
	g := newFixture(t)
	g.add(1, "golang error handling house rules", memType("Preference"))
	resp := g.recall("query=golang+error+handling&limit=10&adaptive_floor=false&context_window=0")
	if r := rowOf(resp, 1); r == nil || !close9(r.Components.Context, 0.25) {
		t.Errorf("Preference memory for a golang query: %+v, want context 0.25", r)
	}
	sameContextPriority(t, resp, wantContextPriority("go", nil, langTags("go"), []string{"Preference", "Style"}, false))
}

// Style words in the query or the context label (style(s), guideline(s),
// pep8, formatting, lint, preference(s), whole words) add the style tags
// and the types Style, Preference. A label that is neither a language nor
// style becomes a priority tag.
func TestRecallContextStyleWords(t *testing.T) {
	f := newFixture(t)
	f.add(1, "repo rules: run the checks before merging", tags("style-guide"))
	f.add(2, "repo rules for weekends", tags("lifestyle"))
	f.add(3, "repo rules: tabs not spaces", memType("Preference"))
	f.add(4, "repo rules: small commits", memType("Style"), tags("preferences:git"))
	f.add(5, "repo rules for billing code", tags("billing"))
	f.add(6, "repo rules in general")
	styleTypes := []string{"Preference", "Style"}
	bonus := map[int]float64{1: 0.45, 2: 0.45, 3: 0.25, 4: 0.7}
	for _, word := range []string{"style", "styles", "guideline", "guidelines", "pep8", "formatting", "lint", "preference", "preferences", "LINT"} {
		t.Run(word, func(t *testing.T) {
			base := "limit=10&adaptive_floor=false&context_window=0&query=repo+rules+" + word
			// The style word is part of the query text, so the check is
			// against the row's own weighted components.
			resp := f.recall(base)
			for n := 1; n <= 6; n++ {
				r := rowOf(resp, n)
				if r == nil {
					t.Errorf("memory %d missing", n)
					continue
				}
				if !close9(r.Components.Context, bonus[n]) || !close9(r.FinalScore, f.weightedSum(r.Components)+bonus[n]) {
					t.Errorf("memory %d: context %v final %v, want context %v final %v", n, r.Components.Context, r.FinalScore, bonus[n], f.weightedSum(r.Components)+bonus[n])
				}
			}
			sameContextPriority(t, resp, wantContextPriority(nil, nil, sortedTags(styleTags...), styleTypes, false))
		})
	}
	base := "limit=10&adaptive_floor=false&context_window=0&query=repo+rules"
	plain := f.recall(base)
	for _, word := range []string{"linting", "stylish", "guided"} {
		if resp := f.recall(base + "+" + word); resp.ContextPriority != nil {
			t.Errorf("query with %q: context_priority = %v, want none", word, resp.ContextPriority)
		}
	}
	// A style label.
	resp := f.recall(base + "&context=Coding+Style")
	checkBonus(t, plain, resp, bonus)
	sameContextPriority(t, resp, wantContextPriority(nil, "coding style", sortedTags(styleTags...), styleTypes, false))
	// Any other label is a priority tag.
	resp = f.recall(base + "&context=Billing")
	checkBonus(t, plain, resp, map[int]float64{5: 0.45})
	sameContextPriority(t, resp, wantContextPriority(nil, "billing", []string{"billing"}, nil, false))
}

// priority_ids: +0.9 each, and first in the results in the order given,
// whatever their score.
func TestRecallPriorityIDs(t *testing.T) {
	f := newFixture(t)
	f.add(1, "kafka consumer lag alert fired")
	f.add(2, "kafka consumer group rebalance")
	f.add(3, "kafka broker disk usage")
	f.add(4, "garden compost heap")
	f.add(5, "piano lessons on tuesday")
	base := "query=kafka+consumer+lag&limit=5&adaptive_floor=false&context_window=0"
	plain := f.recall(base)
	wantSet(t, plain, 1, 2, 3, 4, 5)

	// The priority id first; the others after it, as they rank (checkBonus:
	// the same rows).
	resp := f.recall(base + "&priority_ids=" + id(4))
	checkBonus(t, plain, resp, map[int]float64{4: 0.9})
	wantFirst(t, resp, 4)
	sameContextPriority(t, resp, wantContextPriority(nil, nil, nil, nil, false))

	// In the given order, even when a later one scores higher (1 has the
	// query's words, 5 none); spellings of a UUID are canonical ids.
	for _, list := range []string{
		id(5) + "," + id(1),
		strings.ToUpper(id(5)) + "&priority_ids={" + id(1) + "}",
		id(5) + ",not-a-uuid," + id(1) + "," + id(5),
	} {
		resp := f.recall(base + "&priority_ids=" + list)
		checkBonus(t, plain, resp, map[int]float64{1: 0.9, 5: 0.9})
		wantFirst(t, resp, 5, 1)
		if r1, r5 := rowOf(resp, 1), rowOf(resp, 5); r1 == nil || r5 == nil || !(r1.FinalScore > r5.FinalScore) {
			t.Errorf("the fixture should have memory 1 score above memory 5")
		}
	}
	// With limit 2 the priority ids take both places.
	wantOrder(t, f.recall("query=kafka+consumer+lag&limit=2&adaptive_floor=false&context_window=0&priority_ids="+id(5)+","+id(4)), 5, 4)
}

// A priority id the channels did not find is fetched and injected
// (match_type priority_id, injected true), unless it fails the query's tag
// scope, time window or exclude_tags.
func TestRecallPriorityIDInjected(t *testing.T) {
	f := newFixture(t)
	for i := 1; i <= 12; i++ {
		f.add(i, fmt.Sprintf("kafka consumer lag report number %d", i), tags("kafka"), age(time.Duration(i)*time.Hour))
	}
	f.add(99, "garden compost heap", tags("garden"), age(30*day))
	base := "query=kafka+consumer+lag&limit=1&adaptive_floor=false&context_window=0"
	plain := f.recall(base)
	if len(plain.Results) != 1 || rowOf(plain, 99) != nil {
		t.Errorf("without priority ids: %s; want one kafka memory", scores(plain))
	}

	resp := f.recall(base + "&priority_ids=" + id(99))
	wantOrder(t, resp, 99)
	if r := rowOf(resp, 99); r != nil {
		if r.MatchType != "priority_id" || r.Source != "graph" || r.MatchScore != 0 {
			t.Errorf("injected row match_type %q source %q match_score %v; want priority_id, graph, 0", r.MatchType, r.Source, r.MatchScore)
		}
		if !close9(r.Components.Context, 0.9) || !close9(r.FinalScore, f.weightedSum(r.Components)+0.9) {
			t.Errorf("injected row context %v final %v, want 0.9 and %v", r.Components.Context, r.FinalScore, f.weightedSum(r.Components)+0.9)
		}
	}
	sameContextPriority(t, resp, wantContextPriority(nil, nil, nil, nil, true))

	for _, extra := range []string{
		"&tags=kafka",
		"&start=" + now.Add(-5*day).Format(time.RFC3339),
		"&time_query=last+7+days",
		"&end=" + now.Add(-40*day).Format(time.RFC3339),
		"&exclude_tags=garden",
	} {
		t.Run(extra, func(t *testing.T) {
			resp := f.recall(base + extra + "&priority_ids=" + id(99))
			for _, r := range resp.Results {
				if r.ID == id(99) {
					t.Errorf("priority id outside the query's filters was injected: %s", scores(resp))
				}
			}
			if cp := contextPriority(t, resp); cp["injected"] != false {
				t.Errorf("injected = %v, want false", cp["injected"])
			}
		})
	}
	wantOrder(t, f.recall(base+"&tags=garden&priority_ids="+id(99)), 99)
}

// A priority tag that none of the top results carries brings in memories
// with it (graph "trending", through the query's filters), and
// context_priority.injected is true.
func TestRecallPriorityTagInjected(t *testing.T) {
	f := newFixture(t)
	// Scored by importance alone (and the context bonus), so that the cut
	// to the limit, after the injection, shows what came in: a 0.5 filler
	// scores below an injected memory with its +0.45, whatever the default
	// weights make of it.
	f.cfg.Weights = recall.Weights{Importance: 1, RecencyWindowDays: 180}
	// More fillers than any fetch size, all closer to the query than the
	// tagged memories.
	for i := 1; i <= 110; i++ {
		f.add(i, fmt.Sprintf("kafka consumer lag report number %d", i), tags("ops"), age(time.Duration(i)*time.Minute))
	}
	f.add(200, "garden compost heap", tags("Python/Tips"), importance(1))
	f.add(201, "bicycle repair shop", tags("python"), importance(0.2))
	f.add(202, "tea leaves", tags("pythonic"), importance(0.9)) // contains "python", but prefix search does not reach it
	base := "query=kafka+consumer+lag&limit=3&adaptive_floor=false&context_window=0"
	plain := f.recall(base)
	if len(plain.Results) != 3 {
		t.Errorf("without hints: %s; want three fillers", scores(plain))
	}
	wantAbsent(t, plain, 200, 201, 202)

	resp := f.recall(base + "&context_tags=python")
	wantFirst(t, resp, 200, 201)
	wantAbsent(t, resp, 202)
	for _, n := range []int{200, 201} {
		r := rowOf(resp, n)
		if r == nil {
			continue
		}
		if r.MatchType != "trending" || r.Source != "graph" {
			t.Errorf("injected row %d match_type %q source %q, want trending, graph", n, r.MatchType, r.Source)
		}
		// A trending row's keyword component is its importance.
		if r.Components.Keyword != r.Memory.Importance || !close9(r.Components.Context, 0.45) || !close9(r.FinalScore, f.weightedSum(r.Components)+0.45) {
			t.Errorf("injected row %d components %+v final %v", n, r.Components, r.FinalScore)
		}
	}
	sameContextPriority(t, resp, wantContextPriority(nil, nil, []string{"python"}, nil, true))

	// The scope applies: a priority-tag memory out of scope is not injected.
	resp = f.recall(base + "&context_tags=python&tags=ops")
	if len(resp.Results) != 3 {
		t.Errorf("scoped: %s; want three fillers", scores(resp))
	}
	wantAbsent(t, resp, 200, 201, 202)
	sameContextPriority(t, resp, wantContextPriority(nil, nil, []string{"python"}, nil, false))
	// So does exclude_tags, and the time window.
	resp = f.recall(base + "&context_tags=python&exclude_tags=python/tips")
	wantFirst(t, resp, 201)
	wantAbsent(t, resp, 200, 202)
	resp = f.recall(base + "&context_tags=python&start=" + now.Add(-5*day).Format(time.RFC3339))
	wantAbsent(t, resp, 200, 201, 202)
	sameContextPriority(t, resp, wantContextPriority(nil, nil, []string{"python"}, nil, false))
}

// --- recency_bias ----------------------------------------------------------

// recencyFixture: four memories with the same words whose importance falls
// as they get newer. The bias's weight is set, since the checks rely on it.
func recencyFixture(t *testing.T) *fixture {
	f := newFixture(t)
	f.cfg.Weights.Temporal = 0.1
	f.add(1, "api gateway release notes alpha", age(170*day), importance(1))
	f.add(2, "api gateway release notes bravo", age(100*day), importance(0.7))
	f.add(3, "api gateway release notes charlie", age(10*day), importance(0))
	f.add(4, "api gateway release notes delta", age(60*day), importance(0.3))
	return f
}

// checkTemporal checks that each row of on gains the Temporal weight x its
// place between the oldest and newest result over the same row in off,
// reports it in score_components.temporal, and is ranked by the new score.
func checkTemporal(t *testing.T, f *fixture, off, on *recall.Response) {
	t.Helper()
	if len(on.Results) != len(off.Results) {
		t.Fatalf("%d results with the bias, %d without", len(on.Results), len(off.Results))
	}
	lo, hi := on.Results[0].Memory.Timestamp, on.Results[0].Memory.Timestamp
	for _, r := range on.Results {
		if r.Memory.Timestamp.Before(lo) {
			lo = r.Memory.Timestamp
		}
		if r.Memory.Timestamp.After(hi) {
			hi = r.Memory.Timestamp
		}
	}
	for _, r := range on.Results {
		n := 0
		fmt.Sscanf(r.ID[len(r.ID)-12:], "%d", &n)
		p := rowOf(off, n)
		if p == nil {
			t.Errorf("memory %d only with the bias", n)
			continue
		}
		frac := r.Memory.Timestamp.Sub(lo).Seconds() / hi.Sub(lo).Seconds()
		if r.Components.Temporal == nil || !close9(*r.Components.Temporal, frac) {
			t.Errorf("memory %d: score_components.temporal = %v, want %v", n, r.Components.Temporal, frac)
		}
		if w := f.cfg.Weights.Temporal; !closeRuns(r.FinalScore, p.FinalScore+w*frac) || r.Score != r.FinalScore {
			t.Errorf("memory %d: final_score %v, want %v + %v x %v", n, r.FinalScore, p.FinalScore, w, frac)
		}
	}
	if !sort.SliceIsSorted(on.Results, func(i, j int) bool { return on.Results[i].FinalScore > on.Results[j].FinalScore }) {
		t.Errorf("with the bias, not ranked by the new scores: %s", scores(on))
	}
	if on.RecencyBias != "on" {
		t.Errorf("recency_bias = %q, want on", on.RecencyBias)
	}
}

func checkNoTemporal(t *testing.T, resp *recall.Response) {
	t.Helper()
	if resp.RecencyBias != "" {
		t.Errorf("recency_bias = %q, want absent", resp.RecencyBias)
	}
	for _, r := range resp.Results {
		if r.Components.Temporal != nil {
			t.Errorf("%s: score_components.temporal = %v without the bias", r.ID, *r.Components.Temporal)
		}
	}
}

func TestRecallRecencyBias(t *testing.T) {
	f := recencyFixture(t)
	base := "query=api+gateway+release+notes&limit=10&adaptive_floor=false&context_window=0"
	off := f.recall(base)
	wantSet(t, off, 1, 2, 3, 4)
	checkNoTemporal(t, off)
	for _, raw := range []string{base + "&recency_bias=off", base + "&recency_bias=auto", base + "&recency_bias=sometimes"} {
		resp := f.recall(raw)
		if !reflect.DeepEqual(resultIDs(resp), resultIDs(off)) {
			t.Errorf("%s: %v, want the order without the bias, %v", raw, resultIDs(resp), resultIDs(off))
		}
		checkNoTemporal(t, resp)
	}
	for _, raw := range []string{base + "&recency_bias=on", base + "&recency_bias=ON"} {
		// Newest 3 gains the whole weight, 4 (60 days) 110/160 of it, 2
		// (100 days) 70/160, the oldest nothing.
		checkTemporal(t, f, off, f.recall(raw))
	}
	// The spread is among the results: with limit 2 the newer of the two
	// gains the whole weight, whichever two they are.
	two := f.recall("query=api+gateway+release+notes&limit=2&adaptive_floor=false&context_window=0&recency_bias=on")
	checkTemporal(t, f, f.recall("query=api+gateway+release+notes&limit=2&adaptive_floor=false&context_window=0"), two)
	if len(two.Results) == 2 {
		newer := two.Results[0]
		if two.Results[1].Memory.Timestamp.After(newer.Memory.Timestamp) {
			newer = two.Results[1]
		}
		if newer.Components.Temporal == nil || *newer.Components.Temporal != 1 {
			t.Errorf("newest of two (%s): temporal %v, want 1", newer.ID, newer.Components.Temporal)
		}
	}
	// Only for sort=score.
	resp := f.recall("query=api+gateway+release+notes&limit=10&sort=time_asc&recency_bias=on")
	wantOrder(t, resp, 1, 2, 4, 3)
	checkNoTemporal(t, resp)
}

// recency_bias=auto is on when a query asks about the present, with
// whole words: latest, most recent, recently, current, currently, now,
// nowadays, today, changed, updated, last time, newest, these days,
// anymore.
func TestRecallRecencyBiasAuto(t *testing.T) {
	f := recencyFixture(t)
	for _, words := range []string{"latest", "most recent", "recently", "current", "currently", "now", "nowadays", "today",
		"changed", "updated", "last time", "newest", "these days", "anymore", "Currently", "what is it NOW?"} {
		t.Run(words, func(t *testing.T) {
			q := "limit=10&adaptive_floor=false&context_window=0&query=api+gateway+release+notes+" + strings.ReplaceAll(words, " ", "+")
			on := f.recall(q + "&recency_bias=auto")
			checkTemporal(t, f, f.recall(q), on)
		})
	}
	// With several queries, any of them.
	multi := "limit=10&adaptive_floor=false&context_window=0&queries=api+gateway+release+notes,what+changed"
	checkTemporal(t, f, f.recall(multi), f.recall(multi+"&recency_bias=auto"))
	for _, words := range []string{"nowhere", "known", "recent", "update", "last", "newer", "day", "currency", "most"} {
		t.Run(words, func(t *testing.T) {
			q := "limit=10&adaptive_floor=false&context_window=0&query=api+gateway+release+notes+" + words
			checkNoTemporal(t, f.recall(q+"&recency_bias=auto"))
		})
	}
}

// --- expand_entities -------------------------------------------------------

// entityFixture: the seed, 1, has the query's words and the highest
// importance, so it is the top result whatever the weights; the others are
// what its entities bring in, by importance.
func entityFixture(t *testing.T) *fixture {
	f := newFixture(t)
	f.add(1, "Caroline went to the adoption agency meeting", importance(1),
		withMeta(map[string]any{"entities": map[string]any{"people": []any{"Caroline"}, "places": []any{"New York"}}}))
	f.add(2, "painted a lake sunrise", importance(0.9), tags("entity:people:caroline"))
	f.add(3, "the pottery class on saturday", importance(0.8), tags("entity:people:caroline"))
	f.add(4, "a new puppy named Oscar", importance(0.7), tags("entity:people:caroline", "pets"))
	f.add(5, "camping trip to the mountains", importance(0.6), tags("entity:people:caroline"))
	f.add(6, "a counselling course in spring", importance(0.5), tags("entity:people:caroline"))
	f.add(7, "a charity run for shelters", importance(0.4), tags("entity:people:caroline"))
	f.add(8, "guitar practice every evening", importance(0.3), tags("entity:people:caroline"))
	f.add(9, "the secret diary entry", importance(1), tags("entity:people:caroline", "private"))
	f.add(10, "harbour walk on sunday", importance(0.5), tags("entity:places:new-york"))
	f.add(11, "an unrelated note about taxes", importance(1))
	f.add(12, "a note on caroline without an entity tag", importance(1), tags("caroline"))
	return f
}

func checkEntityRows(t *testing.T, f *fixture, resp *recall.Response, from map[int]string) {
	t.Helper()
	for n, slug := range from {
		r := rowOf(resp, n)
		if r == nil {
			continue // wantOrder reports it
		}
		if r.MatchType != "entity_expansion" || r.Source != "graph" || r.ExpandedFromEntity != slug {
			t.Errorf("memory %d: match_type %q source %q expanded_from_entity %q; want entity_expansion, graph, %q",
				n, r.MatchType, r.Source, r.ExpandedFromEntity, slug)
		}
		if r.Components.EntityExpansion == nil || *r.Components.EntityExpansion != 0.15 {
			t.Errorf("memory %d: score_components.entity_expansion = %v, want 0.15", n, r.Components.EntityExpansion)
		}
		if want := f.weightedSum(r.Components) + r.Components.Context + 0.15; !close9(r.FinalScore, want) || r.Score != r.FinalScore {
			t.Errorf("memory %d: final_score %v, want components %v + 0.15", n, r.FinalScore, want)
		}
	}
}

func TestRecallExpandEntities(t *testing.T) {
	f := entityFixture(t)
	base := "query=adoption+agency+meeting&limit=1&adaptive_floor=false&context_window=0"
	plain := f.recall(base)
	wantOrder(t, plain, 1)
	if plain.EntityExpansion != nil {
		t.Errorf("entity_expansion without the flag: %v", plain.EntityExpansion)
	}

	// The seed names Caroline and New York (metadata.entities): at most
	// five Caroline memories, by importance, then the New York one; the
	// excluded tag drops memory 9 wherever it would rank.
	resp := f.recall(base + "&expand_entities=true&exclude_tags=private")
	wantOrder(t, resp, 1, 2, 3, 4, 5, 6, 10)
	checkEntityRows(t, f, resp, map[int]string{2: "caroline", 3: "caroline", 4: "caroline", 5: "caroline", 6: "caroline", 10: "new-york"})
	if want := map[string]any{"enabled": true, "expanded_count": 6, "entities_found": []string{"caroline", "new-york"}}; !reflect.DeepEqual(resp.EntityExpansion, want) {
		t.Errorf("entity_expansion = %v, want %v", resp.EntityExpansion, want)
	}
	// The alias, and exclusion of another tag: the five after 4.
	resp = f.recall(base + "&entity_expansion=1&exclude_tags=private,pets")
	wantOrder(t, resp, 1, 2, 3, 5, 6, 7, 10)
	checkEntityRows(t, f, resp, map[int]string{7: "caroline"})
	// Without exclusion the private memory comes first.
	resp = f.recall(base + "&expand_entities=true")
	wantOrder(t, resp, 1, 9, 2, 3, 4, 5, 10)
	// expansion_limit caps the total.
	resp = f.recall(base + "&expand_entities=true&exclude_tags=private&expansion_limit=3")
	wantOrder(t, resp, 1, 2, 3, 4)
	if resp.EntityExpansion["expanded_count"] != 3 {
		t.Errorf("expanded_count = %v, want 3", resp.EntityExpansion["expanded_count"])
	}
	// expand_min_importance filters them.
	wantOrder(t, f.recall(base+"&expand_entities=true&exclude_tags=private&expand_min_importance=0.65"), 1, 2, 3, 4)
	// A time window applies to them.
	g := newFixture(t)
	g.add(1, "Caroline went to the adoption agency meeting", importance(1), tags("entity:people:caroline"))
	g.add(2, "painted a lake sunrise", importance(0.9), tags("entity:people:caroline"), age(40*day))
	g.add(3, "the pottery class on saturday", importance(0.8), tags("entity:people:caroline"))
	wantOrder(t, g.recall(base+"&expand_entities=true&time_query=last+30+days"), 1, 3)
	wantOrder(t, g.recall(base+"&expand_entities=true"), 1, 2, 3)
}

// Entity tags of a seed (entity:<category>:<slug>) name entities too, and
// a memory tagged with the slug in any category comes in. Each seed has the
// query's words and no less importance than the memories it competes with
// (in the query's scope): it is the top result whatever the weights.
func TestRecallExpandEntitiesFromTags(t *testing.T) {
	f := newFixture(t)
	f.add(1, "quarterly planning meeting notes", importance(1), tags("entity:people:jon-snow", "entity:organizations:acme-corp"))
	f.add(2, "winter is coming again", importance(0.9), tags("entity:people:jon-snow"))
	f.add(3, "acme corp signed the contract", importance(0.8), tags("entity:organizations:acme-corp"))
	f.add(4, "jon snow without a tag", importance(1), tags("people:jon-snow"))
	f.add(5, "someone else", importance(1), tags("entity:people:jon"))
	base := "query=quarterly+planning+meeting&limit=1&adaptive_floor=false&context_window=0&expand_entities=true"
	resp := f.recall(base)
	wantOrder(t, resp, 1, 2, 3)
	checkEntityRows(t, f, resp, map[int]string{2: "jon-snow", 3: "acme-corp"})
	if want := map[string]any{"enabled": true, "expanded_count": 2, "entities_found": []string{"jon-snow", "acme-corp"}}; !reflect.DeepEqual(resp.EntityExpansion, want) {
		t.Errorf("entity_expansion = %v, want %v", resp.EntityExpansion, want)
	}
	// Relation-expanded rows name entities too.
	h := newFixture(t)
	h.add(1, "quarterly planning meeting notes", importance(1))
	h.add(2, "follow-up actions from the offsite", tags("entity:people:jon-snow"))
	h.add(3, "winter is coming again", importance(0.9), tags("entity:people:jon-snow"))
	h.relate(1, 2, "LEADS_TO", 0.8)
	q1 := "query=quarterly+planning+meeting&limit=1&adaptive_floor=false&context_window=0&expand_entities=true"
	wantOrder(t, h.recall(q1), 1)
	resp = h.recall(q1 + "&expand_relations=true")
	wantOrder(t, resp, 1, 2, 3)
	checkEntityRows(t, h, resp, map[int]string{3: "jon-snow"})

	// expand_respect_tags keeps them inside the request's scope.
	g := newFixture(t)
	g.add(1, "quarterly planning meeting notes", tags("entity:people:jon-snow", "work"))
	g.add(2, "winter is coming again", importance(0.9), tags("entity:people:jon-snow"))
	g.add(3, "jon snow at the office", importance(0.1), tags("entity:people:jon-snow", "work"))
	q := "query=quarterly+planning+meeting&limit=1&adaptive_floor=false&context_window=0&expand_entities=true&tags=work"
	wantOrder(t, g.recall(q), 1, 2, 3)
	wantOrder(t, g.recall(q+"&expand_respect_tags=true"), 1, 3)
}

// At most five entities are expanded.
func TestRecallExpandEntitiesFiveEntities(t *testing.T) {
	f := newFixture(t)
	people := []any{"Ann", "Bob", "Cid", "Dee", "Eve", "Fay"}
	f.add(1, "team offsite attendance list", withMeta(map[string]any{"entities": map[string]any{"people": people}}))
	for i, p := range people {
		f.add(10+i, fmt.Sprintf("private note number %d", i), tags("entity:people:"+strings.ToLower(p.(string))))
	}
	resp := f.recall("query=team+offsite+attendance&limit=1&adaptive_floor=false&context_window=0&expand_entities=true")
	if resp.EntityExpansion["expanded_count"] != 5 || len(resp.Results) != 6 {
		t.Errorf("expanded_count %v with %d results, want 5 entity rows: %s", resp.EntityExpansion["expanded_count"], len(resp.Results), scores(resp))
	}
	if found, _ := resp.EntityExpansion["entities_found"].([]string); len(found) != 6 {
		t.Errorf("entities_found = %v, want all six", resp.EntityExpansion["entities_found"])
	}
	seen := map[string]bool{}
	for _, r := range resp.Results[1:] {
		if seen[r.ExpandedFromEntity] {
			t.Errorf("entity %q expanded twice", r.ExpandedFromEntity)
		}
		seen[r.ExpandedFromEntity] = true
	}
}

// --- scope_fallback --------------------------------------------------------

func scopeFixture(t *testing.T) *fixture {
	f := newFixture(t)
	f.add(1, "postgres backup schedule runs nightly", tags("infra"))
	f.add(2, "postgres backup retention is thirty days", tags("infra:db"))
	f.add(3, "postgres backup restore drill results", tags("legacy"))
	f.add(4, "postgres backup encryption keys rotation", tags("legacy"), expired(now.Add(-day)))
	f.add(5, "holiday party planning", tags("social"))
	f.add(6, "postgres backup notes for the audit", tags("private"))
	f.add(7, "postgres backup to tape", tags("legacy"), age(400*day))
	f.add(8, "postgres backup", tags("infrastructure")) // not under infra: prefixes go by segment
	return f
}

// checkScope checks that the first inScope results are in the tag scope
// and not marked, and the rest are outside it and marked, best first, each
// id once.
func checkScope(t *testing.T, resp *recall.Response, inScope int, scope mnemo.Filter) {
	t.Helper()
	seen := map[string]bool{}
	for i, r := range resp.Results {
		if i > inScope && r.FinalScore > resp.Results[i-1].FinalScore {
			t.Errorf("fallback rows not best first: %s", scores(resp))
		}
		if seen[r.ID] {
			t.Errorf("%s returned twice: %s", r.ID, scores(resp))
		}
		seen[r.ID] = true
		in := scope.Matches(r.Memory)
		if i < inScope && (!in || r.OutsideTagScope) {
			t.Errorf("result %d (%s): in scope %v, outside_tag_scope %v; want an in-scope row", i, r.ID, in, r.OutsideTagScope)
		}
		if i >= inScope && (in || !r.OutsideTagScope) {
			t.Errorf("result %d (%s): in scope %v, outside_tag_scope %v; want a fallback row", i, r.ID, in, r.OutsideTagScope)
		}
		if r.Memory.TInvalid != nil && !r.Memory.TInvalid.After(now) {
			t.Errorf("expired memory %s returned", r.ID)
		}
	}
}

func TestRecallScopeFallback(t *testing.T) {
	f := scopeFixture(t)
	f.cfg.Weights = unitWeights // the min_score check needs scores within [0, 1]
	infra := mnemo.Filter{Tags: []string{"infra"}, TagMode: "any", TagMatch: "prefix"}
	base := "query=postgres+backup&tags=infra&adaptive_floor=false&context_window=0"

	// Without scope_fallback nothing out of scope, however short.
	for _, raw := range []string{base + "&limit=5", base + "&limit=5&scope_fallback=false", base + "&limit=100"} {
		resp := f.recall(raw)
		wantSet(t, resp, 1, 2)
		checkScope(t, resp, 2, infra)
		if resp.ScopeFallback {
			t.Errorf("%s: scope_fallback = true", raw)
		}
	}

	// Two in scope, three places left: the best memories outside the
	// scope, best first (checkScope), after the scoped ones. The expired 4
	// never. Which three follows from the weights, but 8, which is the
	// query, outranks every other one, and 5, without the query's words,
	// is outranked by 3, 6 and 8 (all else equal).
	resp := f.recall(base + "&limit=5&scope_fallback=true")
	wantPrefix(t, resp, []int{1, 2}, []int{8})
	if len(resp.Results) != 5 {
		t.Errorf("%d results, want 5: %s", len(resp.Results), scores(resp))
	}
	wantAbsent(t, resp, 4, 5)
	checkScope(t, resp, 2, infra)
	if !resp.ScopeFallback {
		t.Errorf("scope_fallback = false, want true")
	}
	for _, r := range resp.Results[2:] {
		if r.MatchType != "vector" || !close9(r.FinalScore, f.weightedSum(r.Components)) || r.Components.Vector <= 0 {
			t.Errorf("fallback row %s: match_type %q final %v components %+v", r.ID, r.MatchType, r.FinalScore, r.Components)
		}
	}
	// exclude_tags applies to the fallback (3, above 5, is among the three
	// left), and then the time window (7, 400 days old, goes: the three left
	// are the fallback).
	resp = f.recall(base + "&limit=5&scope_fallback=true&exclude_tags=private")
	wantPrefix(t, resp, []int{1, 2}, []int{8})
	wantAbsent(t, resp, 4, 6)
	if len(resp.Results) != 5 || rowOf(resp, 3) == nil {
		t.Errorf("want 5 results with 3 among them: %s", scores(resp))
	}
	checkScope(t, resp, 2, infra)
	resp = f.recall(base + "&limit=5&scope_fallback=true&exclude_tags=private&start=" + now.Add(-200*day).Format(time.RFC3339))
	wantGroups(t, resp, []int{1, 2}, []int{8}, []int{3, 5})
	checkScope(t, resp, 2, infra)
	// min_score applies to the fallback rows as to the others; the scoped
	// memory it drops does not come back through the fallback. The
	// threshold lies between the scores of the two scoped memories.
	scoped := f.recall(base + "&limit=5")
	if len(scoped.Results) != 2 || scoped.Results[0].FinalScore-scoped.Results[1].FinalScore < 1e-6 {
		t.Fatalf("the fixture should score the scoped memories apart: %s", scores(scoped))
	}
	hi, lo := scoped.Results[0], scoped.Results[1]
	min := (hi.FinalScore + lo.FinalScore) / 2
	resp = f.recall(fmt.Sprintf("%s&limit=5&scope_fallback=true&exclude_tags=private&min_score=%v", base, min))
	if len(resp.Results) < 2 || resp.Results[0].ID != hi.ID || !resp.ScopeFallback {
		t.Errorf("min_score %v: want %s, then the fallback: %s", min, hi.ID, scores(resp))
	}
	for _, r := range resp.Results {
		if r.ID == lo.ID || r.FinalScore < min {
			t.Errorf("min_score %v: %s (%v) returned: %s", min, r.ID, r.FinalScore, scores(resp))
		}
	}
	checkScope(t, resp, 1, infra)
	// Up to limit only.
	resp = f.recall(base + "&limit=3&scope_fallback=true")
	wantGroups(t, resp, []int{1, 2}, []int{8})
	checkScope(t, resp, 2, infra)
	// A full scoped result needs no fallback.
	resp = f.recall(base + "&limit=2&scope_fallback=true")
	wantSet(t, resp, 1, 2)
	checkScope(t, resp, 2, infra)
	// The expired memory is near enough to be taken in history mode: the
	// fixture does test the current-state filter.
	resp = f.recall(base + "&limit=8&scope_fallback=true&state_mode=history")
	if rowOf(resp, 4) == nil {
		t.Errorf("history mode: expired memory 4 not in the fallback: %s", scores(resp))
	}
	// No fallback without tags or without a query.
	resp = f.recall("query=postgres+backup&limit=10&adaptive_floor=false&context_window=0&scope_fallback=true")
	if resp.ScopeFallback {
		t.Errorf("scope_fallback without tags")
	}
	for _, r := range resp.Results {
		if r.OutsideTagScope {
			t.Errorf("outside_tag_scope without tags: %s", r.ID)
		}
	}
	resp = f.recall("tags=infra&limit=10&scope_fallback=true")
	wantSet(t, resp, 1, 2)
	checkScope(t, resp, 2, infra)
}

// A fallback candidate superseded by a memory inside the scope must not
// bring that memory in a second time (as a state replacement).
func TestRecallScopeFallbackNoInScopeDuplicates(t *testing.T) {
	f := scopeFixture(t)
	f.add(9, "postgres backup cron on the old host", tags("legacy"))
	f.relate(9, 1, "INVALIDATED_BY", 0.9)
	infra := mnemo.Filter{Tags: []string{"infra"}, TagMode: "any", TagMatch: "prefix"}
	resp := f.recall("query=postgres+backup&tags=infra&limit=6&adaptive_floor=false&context_window=0&scope_fallback=true")
	// Four of the five outside memories fill the places left (the expired
	// 4 never), each once; 9 is superseded.
	wantPrefix(t, resp, []int{1, 2})
	if len(resp.Results) != 6 {
		t.Errorf("%d results, want 6: %s", len(resp.Results), scores(resp))
	}
	wantAbsent(t, resp, 4, 9)
	checkScope(t, resp, 2, infra)
}

// --- auto_decompose --------------------------------------------------------

func TestDecompose(t *testing.T) {
	tests := []struct {
		q    string
		want []string
	}{
		{"What did Caroline research?", []string{"What did Caroline research?", "Caroline", "Caroline research"}},
		// Possessive, and "interests goals plans" for a work topic.
		{"What are Melanie's plans for her career and work?", []string{"What are Melanie's plans for her career and work?",
			"Melanie", "Melanie plans", "Melanie career", "Melanie work", "Melanie interests goals plans"}},
		// At most two entities, each with at most three topics.
		{"When did Caroline and Melanie go camping with Jon?", []string{"When did Caroline and Melanie go camping with Jon?",
			"Caroline", "Caroline camping", "Melanie", "Melanie camping"}},
		{"Did Caroline paint sunsets, lakes, forests and mountains?", []string{"Did Caroline paint sunsets, lakes, forests and mountains?",
			"Caroline", "Caroline paint", "Caroline sunsets", "Caroline lakes"}},
		// No entity: up to three topics alone (words of four letters or
		// more, minus stopwords and filler).
		{"how long has the database migration been running", []string{"how long has the database migration been running",
			"long", "database", "migration"}},
		{"what about the weather", []string{"what about the weather", "weather"}},
		// A lower-case possessive is an entity; a curly apostrophe too.
		{"where is my dog's favourite park", []string{"where is my dog's favourite park", "dog", "dog favourite", "dog park"}},
		{"Did Jon’s startup raise money?", []string{"Did Jon’s startup raise money?", "Jon", "Jon startup", "Jon raise", "Jon money"}},
		// The first word is not an entity unless possessive.
		{"Caroline", []string{"Caroline"}},
		{"Caroline's hobbies", []string{"Caroline's hobbies", "Caroline", "Caroline hobbies"}},
		// Capitalised stopwords and filler are not entities.
		{"So What Would They Do About It", []string{"So What Would They Do About It"}},
		// Any other capitalised word after the first is one.
		{"So what would they Say", []string{"So what would they Say", "Say"}},
		{"hi", []string{"hi"}},
		{"", []string{""}},
	}
	for _, tt := range tests {
		if got := recall.Decompose(tt.q); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Decompose(%q) =\n  %q\nwant\n  %q", tt.q, got, tt.want)
		}
	}
}

// auto_decompose: the sub-queries widen the candidates, and every
// candidate is scored against the whole question.
func TestRecallAutoDecompose(t *testing.T) {
	f := newFixture(t)
	// The answer, and twenty copies of another match that fill the main
	// query's candidates (and fold into one row by content).
	f.add(1, "Caroline research adoption agencies adoption", importance(0.9))
	for i := 0; i < 20; i++ {
		f.add(10+i, "Caroline: research, adoption agencies!", importance(0.2), age(10*day+time.Duration(i)*time.Minute))
	}
	// Only the sub-query "Caroline" finds this one.
	f.add(2, "Caroline", importance(0.5))
	for i := 0; i < 30; i++ {
		f.add(100+i, fmt.Sprintf("weather report for city %d", i))
	}
	question := "What did Caroline research about adoption agencies?"
	base := "limit=3&adaptive_floor=false&context_window=0&query=" + strings.ReplaceAll(question, " ", "+")

	// The copies fold into one row, the newest, 10; memory 2 is not found.
	plain := f.recall(base)
	wantSet(t, plain, 1, 10)
	if plain.Queries != nil {
		t.Errorf("queries without auto_decompose: %q", plain.Queries)
	}

	resp := f.recall(base + "&auto_decompose=true")
	wantSet(t, resp, 1, 2, 10)
	wantQueries := []string{question, "Caroline", "Caroline research", "Caroline adoption", "Caroline agencies"}
	if !reflect.DeepEqual(resp.Queries, wantQueries) || !reflect.DeepEqual(resp.Queries, recall.Decompose(question)) {
		t.Errorf("queries = %q, want %q", resp.Queries, wantQueries)
	}
	if resp.Keywords != nil {
		t.Errorf("keywords with auto_decompose: %q", resp.Keywords)
	}
	// Memory 2 is scored as the whole question scores it, the same as when
	// the main query finds it (a larger limit), not as "Caroline" would.
	wide := f.recall(strings.Replace(base, "limit=3", "limit=100", 1))
	got, want := rowOf(resp, 2), rowOf(wide, 2)
	if got != nil && want != nil {
		if !closeRuns(got.FinalScore, want.FinalScore) || !closeRuns(got.Components.Keyword, want.Components.Keyword) ||
			!closeRuns(got.Components.Vector, want.Components.Vector) || got.MatchType != want.MatchType {
			t.Errorf("memory 2: final %v keyword %v vector %v %s; scored against the whole question: final %v keyword %v vector %v %s",
				got.FinalScore, got.Components.Keyword, got.Components.Vector, got.MatchType,
				want.FinalScore, want.Components.Keyword, want.Components.Vector, want.MatchType)
		}
		if got.Components.Keyword >= 0.5 {
			t.Errorf("memory 2 keyword component %v: scored against the sub-query", got.Components.Keyword)
		}
	}
	for _, n := range []int{1, 10} {
		if a, b := rowOf(resp, n), rowOf(plain, n); a != nil && b != nil && !closeRuns(a.FinalScore, b.FinalScore) {
			t.Errorf("memory %d: final %v with auto_decompose, %v without", n, a.FinalScore, b.FinalScore)
		}
	}
	// Sub-queries search within the query's filters too.
	resp = f.recall(base + "&auto_decompose=true&exclude_tags=nothing&tags=none")
	wantOrder(t, resp)
}

// --- context window --------------------------------------------------------

// Memories stored at the same instant (a batch import of a conversation)
// are neighbours in the order they were stored, not in id order.
func TestRecallContextWindowSameTimestamp(t *testing.T) {
	f := newFixture(t)
	f.neighbours()
	ts := now.Add(-5 * day)
	// Stored in this order, all at ts: 40, 10, 30, 20; then 50 three hours
	// later. One conversation: they share a conversation_id.
	conv := withMeta(map[string]any{"conversation_id": "c1"})
	f.add(40, "Melanie: did you see the meteor shower?", stamped(ts), conv)
	f.add(10, "Caroline: what was your favourite camping trip?", stamped(ts), conv)
	f.add(30, "Melanie: the one at the lake, we watched the Perseids all night", stamped(ts), conv)
	f.add(20, "Caroline: sounds wonderful", stamped(ts), conv)
	f.add(50, "Melanie: bought a new tent", stamped(ts.Add(3*time.Hour)), conv)
	q := "query=favourite+camping+trip&adaptive_floor=false&limit=10"
	before := f.recall(q + "&context_window=0")
	wantSet(t, before, 10, 20, 30, 40, 50)
	// 10 has the query's words, the others none: it is the top hit, and
	// with context_window=1 the only one. Its neighbours are 40 and 30 (by
	// id they would be none and 20); 20 and 50 are nobody's.
	resp := f.recall(q + "&context_window=1")
	wantSet(t, resp, 10, 20, 30, 40, 50)
	wantFirst(t, resp, 10)
	checkNeighbour(t, f, resp, before, 40, 10)
	checkNeighbour(t, f, resp, before, 30, 10)
	checkNoNeighbour(t, resp, before, 20)
	checkNoNeighbour(t, resp, before, 50)
}
