package e2e

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The recall features that reach beyond the ranked candidates
// (priority_ids, context hints, scope_fallback, expand_entities,
// auto_decompose, recency_bias) through the real binary: each works over
// HTTP, and none of them ever brings another tenant's memory in.

// rpMem is one fixture memory of a tenant.
type rpMem struct {
	key, content string
	tags         []string
	importance   float64
	typ          string
	timestamp    string
	tInvalid     string
	metadata     map[string]any
}

// rpTenant is a seeded tenant: its token and its memory ids by key.
type rpTenant struct {
	id, token string
	ids       map[string]string // key -> id
	keys      map[string]string // id -> key
}

func rpSeed(t *testing.T, s *Server, tenant string, mems []rpMem) *rpTenant {
	t.Helper()
	ten := &rpTenant{id: tenant, token: tenant + "-recall-params-token", ids: map[string]string{}, keys: map[string]string{}}
	s.CreateTenant(ten.id, ten.token)
	for _, m := range mems {
		body := map[string]any{"content": m.content, "tags": m.tags, "importance": m.importance}
		if m.typ != "" {
			body["type"] = m.typ
		}
		if m.timestamp != "" {
			body["timestamp"] = m.timestamp
		}
		if m.tInvalid != "" {
			body["t_invalid"] = m.tInvalid
		}
		if m.metadata != nil {
			body["metadata"] = m.metadata
		}
		id := s.Store(ten.token, body)
		ten.ids[m.key], ten.keys[id] = id, m.key
	}
	return ten
}

func (ten *rpTenant) allIDs() []string {
	out := []string{}
	for _, id := range ten.ids {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// names maps ids to fixture keys for messages ("?id" for a stranger).
func (ten *rpTenant) names(ids []string) []string {
	out := []string{}
	for _, id := range ids {
		if k, ok := ten.keys[id]; ok {
			out = append(out, k)
		} else {
			out = append(out, "?"+id)
		}
	}
	return out
}

// The marker words that only tenant A's memories contain.
const (
	rpMarkerA = "zebracodename"
	rpEntityA = "entity:people:zebra-person"
)

// rpTemporal is the recency bias's weight, set for the server since a
// check relies on it.
const rpTemporal = 0.1

// rpFixture: in B, the memory about the trip has the most importance and
// the most of the queries' words about it, so it ranks first for them
// whatever the weights.
func rpFixture(t *testing.T) (*Server, *rpTenant, *rpTenant) {
	s := Start(t, map[string]string{"SEARCH_WEIGHT_TEMPORAL": strconv.FormatFloat(rpTemporal, 'f', -1, 64)})
	a := rpSeed(t, s, "rp-alpha", []rpMem{
		{key: "trip", content: "Caroline planned the Paris trip for the project x team, " + rpMarkerA,
			tags: []string{"project:x", "entity:people:caroline", "alpha-only"}, importance: 0.9,
			metadata: map[string]any{"entities": map[string]any{"people": []any{"Caroline", "Zebra Person"}, "places": []any{"Paris"}}}},
		{key: "lake", content: "Caroline painted sunsets by the lake " + rpMarkerA,
			tags: []string{"entity:people:caroline", rpEntityA}, importance: 1},
		{key: "hotel", content: "Paris hotel booking details " + rpMarkerA,
			tags: []string{"entity:places:paris", "alpha-only"}, importance: 1},
		{key: "style", content: "project x release notes style guide, latest " + rpMarkerA,
			tags: []string{"project:x", "python-style"}, typ: "Style", importance: 1},
		{key: "zebra", content: "Zebra Person joined the team " + rpMarkerA,
			tags: []string{rpEntityA, "alpha-only"}, importance: 1},
		// The same content as B's: a leak would show in dedup_removed.
		{key: "groceries", content: "weekly groceries list", tags: []string{"home", "entity:people:caroline"}, importance: 1},
		{key: "museum", content: "Paris museum visit notes", tags: []string{"entity:places:paris", "project:x"}, importance: 1},
		// Expired: a leak would show in state_filter.suppressed_count.
		{key: "expired", content: "Caroline planned the Paris trip for the project x team, expired",
			tags: []string{"project:x", "entity:people:caroline", "alpha-only"}, importance: 1, tInvalid: "2020-01-01T00:00:00Z"},
	})
	b := rpSeed(t, s, "rp-bravo", []rpMem{
		{key: "trip", content: "Caroline planned the Paris trip for the project x team",
			tags: []string{"project:x", "entity:people:caroline"}, importance: 0.8,
			metadata: map[string]any{"entities": map[string]any{"people": []any{"Caroline"}, "places": []any{"Paris"}}}},
		{key: "hike", content: "Caroline went hiking in the mountains", tags: []string{"entity:people:caroline"}, importance: 0.8},
		{key: "museum", content: "Paris museum visit notes", tags: []string{"entity:places:paris"}, importance: 0.7},
		{key: "release", content: "project x release notes for the spring", tags: []string{"project:x"}, importance: 0.5,
			timestamp: "2025-01-01T00:00:00Z"},
		{key: "budget", content: "project x budget review", tags: []string{"project:x", "python"}, importance: 0.5,
			timestamp: "2025-06-01T00:00:00Z"},
		{key: "groceries", content: "weekly groceries list", tags: []string{"home"}, importance: 0.3},
	})
	return s, a, b
}

func rpRecall(t *testing.T, s *Server, ten *rpTenant, kv ...string) *Response {
	t.Helper()
	r := s.As(ten.token, "GET", "/recall"+Q(kv...), nil)
	if r.Status != 200 || r.Body["status"] != "success" {
		t.Fatalf("recall %v: %d %s", kv, r.Status, r.Raw)
	}
	results, ok := r.Body["results"].([]any)
	if !ok {
		t.Fatalf("results is not a list: %s", r.Raw)
	}
	if r.Body["count"] != float64(len(results)) {
		t.Errorf("count %v but %d results", r.Body["count"], len(results))
	}
	return r
}

func rpRows(r *Response) []map[string]any {
	out := []map[string]any{}
	for _, row := range r.Body["results"].([]any) {
		out = append(out, row.(map[string]any))
	}
	return out
}

func rpComponents(row map[string]any) map[string]any {
	c, _ := row["score_components"].(map[string]any)
	return c
}

// rpNoLeak fails unless every UUID in the body is the caller's and the
// body (apart from the echo of the query text) carries no trace of the
// other tenant.
func rpNoLeak(t *testing.T, desc string, r *Response, caller, other *rpTenant) {
	t.Helper()
	found := map[string]bool{}
	isoCollectUUIDs(r.Body, found)
	for id := range found {
		if _, ok := other.keys[id]; ok {
			t.Errorf("LEAK %s: %s's memory %q (%s) in the response: %s", desc, other.id, other.keys[id], id, r.Raw)
		} else if _, ok := caller.keys[id]; !ok {
			t.Errorf("%s: id %s is not %s's: %s", desc, id, caller.id, r.Raw)
		}
	}
	body := map[string]any{}
	for k, v := range r.Body {
		if k != "query" && k != "queries" && k != "keywords" {
			body[k] = v
		}
	}
	raw, _ := json.Marshal(body)
	for _, marker := range []string{rpMarkerA, "zebra-person", "zebra person", other.id} {
		if bytes.Contains(bytes.ToLower(raw), []byte(marker)) {
			t.Errorf("LEAK %s: response contains %q: %s", desc, marker, r.Raw)
		}
	}
}

// TestRecallParamsIsolation: tenant B asks with A's ids as priority ids,
// A's tags as context tags and as a scope only A uses, entity tags both
// tenants use, decomposition into entity sub-queries, and recency bias,
// alone and together; B sees only its own memories and counts only them.
func TestRecallParamsIsolation(t *testing.T) {
	t.Parallel()
	s, a, b := rpFixture(t)
	aIDs := strings.Join(a.allIDs(), ",")
	question := "What did Caroline plan for the Paris trip with Zebra Person " + rpMarkerA + "?"
	all := []string{"priority_ids", aIDs, "context_tags", "alpha-only,python-style", "context_types", "style", "language", "python",
		"expand_entities", "true", "auto_decompose", "true", "recency_bias", "on", "expand_relations", "true"}
	probes := []struct {
		name string
		kv   []string
		want []string // B keys, as a set; nil: not checked
	}{
		{"priority ids", []string{"query", question, "priority_ids", aIDs}, nil},
		{"priority ids, no query", []string{"priority_ids", aIDs}, nil},
		{"priority ids in a scope", []string{"query", question, "priority_ids", aIDs, "tags", "project:x"}, []string{"trip", "release", "budget"}},
		{"context tags", []string{"query", question, "context_tags", "alpha-only", "context_tags", "python-style", "context_types", "Style", "language", "python"}, nil},
		{"context tags, no query", []string{"context_tags", "alpha-only"}, nil},
		{"scope only A uses", []string{"query", question, "tags", "alpha-only", "scope_fallback", "true"}, b.sortedKeys()},
		{"scope only A uses, exact", []string{"query", question, "tags", "alpha-only", "tag_match", "exact", "scope_fallback", "true", "limit", "3"}, nil},
		{"shared scope", []string{"query", question, "tags", "project:x", "scope_fallback", "true"}, b.sortedKeys()},
		{"entities", []string{"query", question, "expand_entities", "true"}, nil},
		{"entities, one seed", []string{"query", "Caroline planned the Paris trip", "limit", "1", "expand_entities", "true"}, []string{"trip", "hike", "museum"}},
		{"entities in a scope", []string{"query", question, "tags", "entity:people", "expand_entities", "true", "expand_respect_tags", "true"}, []string{"trip", "hike"}},
		{"decompose", []string{"query", question, "auto_decompose", "true"}, nil},
		{"recency", []string{"query", question, "recency_bias", "on"}, nil},
		{"recency auto", []string{"query", "latest " + question, "recency_bias", "auto"}, nil},
		{"everything", append([]string{"query", question}, all...), nil},
		{"everything, A's scope", append([]string{"query", question, "tags", "alpha-only", "scope_fallback", "true"}, all...), nil},
		{"everything, shared scope", append([]string{"query", question, "tags", "project:x", "scope_fallback", "true"}, all...), nil},
	}
	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			kv := append([]string{"adaptive_floor", "false"}, p.kv...)
			hasLimit := false
			for i := 0; i < len(p.kv); i += 2 {
				hasLimit = hasLimit || p.kv[i] == "limit"
			}
			if !hasLimit {
				kv = append(kv, "limit", "100")
			}
			r := rpRecall(t, s, b, kv...)
			rpNoLeak(t, p.name, r, b, a)
			got := ids(r)
			if len(got) == 0 {
				t.Errorf("no results: B's own memories should match: %s", r.Raw)
			}
			// B has no duplicates and nothing expired or superseded: any
			// count above zero is A's.
			if r.Body["dedup_removed"] != 0.0 {
				t.Errorf("dedup_removed = %v, want 0: %s", r.Body["dedup_removed"], r.Raw)
			}
			if sf, _ := r.Body["state_filter"].(map[string]any); sf == nil || sf["suppressed_count"] != 0.0 || sf["replacement_count"] != 0.0 {
				t.Errorf("state_filter = %v, want nothing suppressed", r.Body["state_filter"])
			}
			if r.Body["score_filter"] != nil {
				t.Errorf("score_filter = %v, want none", r.Body["score_filter"])
			}
			if p.want != nil {
				g := b.names(got)
				sort.Strings(g)
				w := append([]string{}, p.want...)
				sort.Strings(w)
				if !reflect.DeepEqual(g, w) {
					t.Errorf("results %v, want %v", g, w)
				}
			}
			if ee, ok := r.Body["entity_expansion"].(map[string]any); ok {
				for _, e := range ee["entities_found"].([]any) {
					if e != "caroline" && e != "paris" {
						t.Errorf("entities_found has %q, which only A's memories name: %s", e, r.Raw)
					}
				}
				n := 0
				for _, row := range rpRows(r) {
					if row["match_type"] == "entity_expansion" {
						n++
					}
				}
				if ee["expanded_count"] != float64(n) {
					t.Errorf("entity_expansion.expanded_count %v, but %d entity rows", ee["expanded_count"], n)
				}
			}
			if cp, ok := r.Body["context_priority"].(map[string]any); ok && cp["injected"] == true {
				// Only B's own priority-tag memories may be injected: B has
				// none with alpha-only or python-style, but budget is tagged
				// python (a language tag).
				for _, row := range rpRows(r) {
					if row["match_type"] == "priority_id" {
						t.Errorf("a priority_id row was injected, but all priority ids are A's: %v", row["id"])
					}
				}
			}
		})
	}
	// A's view is untouched by all this, and B's ids never reach A either.
	r := rpRecall(t, s, a, "query", question, "priority_ids", strings.Join(b.allIDs(), ","), "tags", "entity", "scope_fallback", "true",
		"expand_entities", "true", "auto_decompose", "true", "recency_bias", "on", "limit", "100")
	found := map[string]bool{}
	isoCollectUUIDs(r.Body, found)
	for id := range found {
		if _, ok := a.keys[id]; !ok {
			t.Errorf("A's response holds id %s (B's %q): %s", id, b.keys[id], r.Raw)
		}
	}
}

func (ten *rpTenant) sortedKeys() []string {
	out := []string{}
	for k := range ten.ids {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Each feature works over HTTP.
func TestRecallParamsOverHTTP(t *testing.T) {
	t.Parallel()
	s, _, b := rpFixture(t)
	base := []string{"adaptive_floor", "false", "context_window", "0"}
	q := func(kv ...string) []string { return append(append([]string{}, base...), kv...) }

	t.Run("priority id first", func(t *testing.T) {
		// Then trip: of the rest, it has the most of the query's words and
		// no less importance (rpFixture).
		r := rpRecall(t, s, b, q("query", "Caroline Paris trip", "limit", "3", "priority_ids", b.ids["groceries"]+","+b.ids["budget"])...)
		got := b.names(ids(r))
		if len(got) != 3 || got[0] != "groceries" || got[1] != "budget" || got[2] != "trip" {
			t.Errorf("results %v, want groceries, budget (priority ids in order), then trip", got)
		}
		for _, row := range rpRows(r)[:2] {
			if c := rpComponents(row); c["context"] != 0.9 {
				t.Errorf("%s: context component %v, want 0.9", b.keys[row["id"].(string)], c["context"])
			}
		}
	})

	t.Run("context tags", func(t *testing.T) {
		// budget, tagged python, gains 0.45 over its score without the
		// hint; the others nothing. Where that ranks it is the weights'.
		plain := map[string]float64{}
		for _, row := range rpRows(rpRecall(t, s, b, q("query", "project x", "limit", "10")...)) {
			plain[row["id"].(string)] = row["final_score"].(float64)
		}
		r := rpRecall(t, s, b, q("query", "project x", "limit", "10", "context_tags", "python")...)
		if got := b.names(ids(r)); len(got) != len(plain) || !slices.Contains(got, "budget") {
			t.Errorf("results %v, want the %d without the hint, budget among them", got, len(plain))
		}
		for _, row := range rpRows(r) {
			id, want := row["id"].(string), 0.0
			if id == b.ids["budget"] {
				want = 0.45
			}
			if c := rpComponents(row); c["context"] != want {
				t.Errorf("%s: context component %v, want %v", b.keys[id], c["context"], want)
			}
			if p, ok := plain[id]; !ok || math.Abs(row["final_score"].(float64)-(p+want)) > 1e-6 {
				t.Errorf("%s: final %v, want %v without the hint + %v", b.keys[id], row["final_score"], p, want)
			}
		}
		cp, _ := r.Body["context_priority"].(map[string]any)
		if cp == nil || cp["language"] != nil || cp["context"] != nil || cp["injected"] != false ||
			!reflect.DeepEqual(cp["priority_tags"], []any{"python"}) {
			t.Errorf("context_priority = %v", r.Body["context_priority"])
		}
	})

	t.Run("scope fallback", func(t *testing.T) {
		// Three in the scope, three outside: with limit 6 the fallback is
		// every outside memory, best first.
		kv := q("query", "weekly groceries list", "limit", "6", "tags", "project:x")
		r := rpRecall(t, s, b, kv...)
		if got := b.names(ids(r)); len(got) != 3 || r.Body["scope_fallback"] != nil {
			t.Errorf("without scope_fallback: %v, scope_fallback %v; want the three project:x memories only", got, r.Body["scope_fallback"])
		}
		r = rpRecall(t, s, b, append(kv, "scope_fallback", "true")...)
		rows := rpRows(r)
		if len(rows) != 6 || r.Body["scope_fallback"] != true {
			t.Fatalf("with scope_fallback: %d results, scope_fallback %v; want 6, true: %s", len(rows), r.Body["scope_fallback"], r.Raw)
		}
		inScope := map[string]bool{b.ids["trip"]: true, b.ids["release"]: true, b.ids["budget"]: true}
		for i, row := range rows {
			id := row["id"].(string)
			outside, _ := row["outside_tag_scope"].(bool)
			if i < 3 && (!inScope[id] || outside) {
				t.Errorf("result %d %s: want a project:x memory without outside_tag_scope", i, b.keys[id])
			}
			if i >= 3 && (inScope[id] || !outside) {
				t.Errorf("result %d %s: want an outside memory with outside_tag_scope true", i, b.keys[id])
			}
		}
		for i := 4; i < len(rows); i++ {
			if rows[i]["final_score"].(float64) > rows[i-1]["final_score"].(float64) {
				t.Errorf("fallback rows not best first: %s", r.Raw)
			}
		}
	})

	t.Run("expand entities", func(t *testing.T) {
		r := rpRecall(t, s, b, q("query", "Caroline planned the Paris trip", "limit", "1", "expand_entities", "true")...)
		got := b.names(ids(r))
		if !reflect.DeepEqual(got, []string{"trip", "hike", "museum"}) {
			t.Errorf("results %v, want trip, then hike (caroline) and museum (paris)", got)
		}
		for _, row := range rpRows(r)[1:] {
			want := map[string]string{b.ids["hike"]: "caroline", b.ids["museum"]: "paris"}[row["id"].(string)]
			if row["match_type"] != "entity_expansion" || row["expanded_from_entity"] != want || rpComponents(row)["entity_expansion"] != 0.15 {
				t.Errorf("row %s: match_type %v expanded_from_entity %v entity_expansion %v", b.keys[row["id"].(string)],
					row["match_type"], row["expanded_from_entity"], rpComponents(row)["entity_expansion"])
			}
		}
		want := map[string]any{"enabled": true, "expanded_count": 2.0, "entities_found": []any{"caroline", "paris"}}
		if !reflect.DeepEqual(r.Body["entity_expansion"], want) {
			t.Errorf("entity_expansion = %v, want %v", r.Body["entity_expansion"], want)
		}
	})

	t.Run("auto decompose", func(t *testing.T) {
		question := "What did Caroline plan for Paris?"
		r := rpRecall(t, s, b, q("query", question, "limit", "5", "auto_decompose", "true")...)
		want := []any{question, "Caroline", "Caroline plan", "Paris", "Paris plan"}
		if !reflect.DeepEqual(r.Body["queries"], want) {
			t.Errorf("queries = %v, want %v", r.Body["queries"], want)
		}
		if _, ok := r.Body["keywords"]; ok {
			t.Errorf("keywords with auto_decompose: %v", r.Body["keywords"])
		}
		if got := b.names(ids(r)); len(got) == 0 || got[0] != "trip" {
			t.Errorf("results %v, want trip first", got)
		}
	})

	t.Run("recency bias", func(t *testing.T) {
		kv := q("query", "project x", "tags", "project:x", "limit", "10")
		off := rpRecall(t, s, b, kv...)
		on := rpRecall(t, s, b, append(kv, "recency_bias", "on")...)
		if on.Body["recency_bias"] != "on" || off.Body["recency_bias"] != nil {
			t.Errorf("recency_bias on %v, off %v", on.Body["recency_bias"], off.Body["recency_bias"])
		}
		offScore := map[string]float64{}
		for _, row := range rpRows(off) {
			offScore[row["id"].(string)] = row["final_score"].(float64)
			if _, ok := rpComponents(row)["temporal"]; ok {
				t.Errorf("temporal component without the bias")
			}
		}
		// release is the oldest (2025-01-01), budget 2025-06-01, trip now.
		wantFrac := map[string]float64{b.ids["release"]: 0, b.ids["trip"]: 1}
		for _, row := range rpRows(on) {
			id := row["id"].(string)
			frac, ok := rpComponents(row)["temporal"].(float64)
			if !ok {
				t.Errorf("%s: no temporal component", b.keys[id])
				continue
			}
			if w, ok := wantFrac[id]; ok && frac != w {
				t.Errorf("%s: temporal %v, want %v", b.keys[id], frac, w)
			}
			if math.Abs(row["final_score"].(float64)-(offScore[id]+rpTemporal*frac)) > 1e-6 {
				t.Errorf("%s: final %v, want %v + %v x %v", b.keys[id], row["final_score"], offScore[id], rpTemporal, frac)
			}
		}
		if got := b.names(ids(on)); len(got) != 3 {
			t.Errorf("with the bias: %v, want the three project:x memories", got)
		}
	})
}
