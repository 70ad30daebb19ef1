// Package recall ranks a tenant's memories for a query: keyword (BM25) and
// vector candidates fused and scored with AutoMem's components, then
// AutoMem's post-steps (relation expansion, the current-state filter,
// dedupe, adaptive floor). It works on any mnemo.MemoryStore.
//
// Recaller.Run, in pipeline.go, lists the stages of a recall in order.
package recall

import (
	"context"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mnemohq/mnemo"
)

// The result types are the root's (mnemo.RecallResult and its rows), the
// wire contract of /recall; these names keep the ranking code short.
type (
	Row        = mnemo.RecallRow
	Edge       = mnemo.RecallEdge
	Response   = mnemo.RecallResult
	Components = mnemo.ScoreComponents
)

// Recaller runs recall queries against tenant stores.
type Recaller struct {
	Config   Config
	Embedder mnemo.Embedder
}

func keepAtLeast(rows []*Row, floor float64, filtered int) ([]*Row, int) {
	out := rows[:0:0]
	for _, r := range rows {
		if r.FinalScore >= floor {
			out = append(out, r)
		} else {
			filtered++
		}
	}
	return out, filtered
}

func byIDs(rows []*Row) map[string]bool {
	m := map[string]bool{}
	for _, r := range rows {
		m[r.ID] = true
	}
	return m
}

func fmtPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return mnemo.FormatTime(*t)
}

// runOne gathers and scores the candidates of one query text; it also
// reports how many duplicates it folded.
// A failed query embedding is noted in resp; the keyword channel still runs.
func (rc *Recaller) runOne(ctx context.Context, store mnemo.MemoryStore, q *Query, text string, widen []string, resp *Response) ([]*Row, int, bool, error) {
	p := q.PerQueryLimit
	if text == "*" {
		text = ""
	}
	if text == "" && q.Embedding == nil {
		// No query: AutoMem's "trending" list, or the time order asked for.
		order := mnemo.OrderImportance
		if q.Sort != "score" {
			order = q.Sort
		}
		mems, err := store.List(ctx, q.Filter, order, p, 0)
		if err != nil {
			return nil, 0, false, err
		}
		rows := make([]*Row, len(mems))
		for i, m := range mems {
			rows[i] = &Row{ID: m.ID, Memory: m, MatchType: "trending", Source: "graph", MatchScore: m.Importance}
			rc.score(rows[i], q, text)
		}
		return rows, 0, false, nil
	}

	fetch := max(p, min(p*4, 200))
	if len(q.Filter.Tags) > 0 {
		fetch = max(p, min(max(fetch, 100), 200))
	}
	rows := map[string]*Row{}
	var order []string
	add := func(h mnemo.Hit, matchType, source string) *Row {
		r, ok := rows[h.Memory.ID]
		if !ok {
			r = &Row{ID: h.Memory.ID, Memory: h.Memory, MatchType: matchType, Source: source, MatchScore: h.Score}
			rows[h.Memory.ID] = r
			order = append(order, h.Memory.ID)
		}
		return r
	}

	vec := q.Embedding
	if vec == nil && text != "" && rc.Embedder != nil {
		if vecs, err := rc.Embedder.Embed(ctx, []string{text}); err != nil {
			resp.EmbeddingNote = "query embedding failed; vector search skipped"
		} else {
			vec = vecs[0]
		}
	}
	if q.queryVec == nil {
		q.queryVec = vec
	}
	// The two channels are independent reads: run the keyword search
	// alongside the vector scan.
	type keywordResult struct {
		hits []mnemo.Hit
		err  error
	}
	kw := make(chan keywordResult, 1)
	go func() {
		hits, err := store.Keyword(ctx, SearchTerms(text), q.Filter, fetch)
		kw <- keywordResult{hits, err}
	}()
	matched := false
	if vec != nil {
		hits, err := store.Nearest(ctx, vec, q.Filter, fetch)
		if err != nil {
			<-kw
			return nil, 0, false, err
		}
		for _, h := range hits {
			r := add(h, "vector", "vector")
			r.Similarity, r.Searched = h.Score, true
		}
		matched = len(hits) > 0
	}
	kr := <-kw
	if kr.err != nil {
		return nil, 0, false, kr.err
	}
	hits := kr.hits
	best := 0.0
	for _, h := range hits {
		best = math.Max(best, h.Score)
	}
	var needSim []string
	for _, h := range hits {
		r := add(h, "keyword", "graph")
		r.Searched = true
		if best > 0 {
			r.Lexical = h.Score / best
		}
		if r.MatchType == "keyword" {
			r.MatchScore = r.Lexical
			needSim = append(needSim, r.ID)
		}
	}
	if len(widen) > 0 {
		extra, err := rc.widen(ctx, store, q, text, vec, best, widen, fetch, rows)
		if err != nil {
			return nil, 0, false, err
		}
		for _, r := range extra {
			rows[r.ID] = r
			order = append(order, r.ID)
			if r.MatchType == "keyword" {
				needSim = append(needSim, r.ID)
			}
		}
	}
	// Keyword-only candidates still get their vector similarity, so both
	// channels score every candidate.
	if vec != nil && len(needSim) > 0 {
		sims, err := store.Nearest(ctx, vec, mnemo.Filter{IDs: needSim}, len(needSim))
		if err != nil {
			return nil, 0, false, err
		}
		for _, h := range sims {
			rows[h.Memory.ID].Similarity = h.Score
		}
	}
	out := make([]*Row, 0, len(order))
	for _, id := range order {
		r := rows[id]
		rc.score(r, q, text)
		out = append(out, r)
	}
	if q.MinScore != nil {
		out, _ = keepAtLeast(out, *q.MinScore, 0)
	}
	out, removed := Dedupe(out)
	SortRows(out, q.Sort)
	if len(out) > p {
		out = out[:p]
	}
	return out, removed, matched, nil
}

// score computes a row's components for query text, plus the context
// hints' bonus.
func (rc *Recaller) score(r *Row, q *Query, text string) {
	r.OriginalScore = r.MatchScore
	Score(rc.Config.Weights, r, Keywords(text), text, q.Now)
	if b := q.profile.bonus(r.Memory); b > 0 {
		r.Components.Context = b
		r.FinalScore += b
	}
	r.Score = r.FinalScore
}

// expand adds the memories related to the seeds (reference §4.2 step 2).
// ExpansionVisitLimit bounds the relations one recall's expansion reads,
// whatever its seeds and relation_limit: a dense graph costs a bounded
// amount, the strongest relations of the best seeds first.
const ExpansionVisitLimit = 2000

func (rc *Recaller) expand(ctx context.Context, store mnemo.MemoryStore, q *Query, seeds []*Row, present map[string]bool) ([]*Row, error) {
	var out []*Row
	added := map[string]*Row{}
	expFilter := mnemo.Filter{Start: q.Filter.Start, End: q.Filter.End, ExcludeTags: q.Filter.ExcludeTags}
	if q.ExpandRespectTags {
		expFilter.Tags, expFilter.TagMode, expFilter.TagMatch = q.Filter.Tags, q.Filter.TagMode, q.Filter.TagMatch
	}
	// When every seed's relations fit the visit budget, they are read at
	// once (on a networked store each read is a round trip); otherwise one
	// seed after another, each read limited to what the budget leaves.
	var lists [][]mnemo.Neighbor
	if len(seeds)*q.RelationLimit <= ExpansionVisitLimit {
		lists = make([][]mnemo.Neighbor, len(seeds))
		err := inParallel(ctx, len(seeds), func(ctx context.Context, i int) error {
			var err error
			lists[i], err = store.Neighbors(ctx, seeds[i].ID, mnemo.AuthorableRelationTypes, false, q.RelationLimit)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	visits := ExpansionVisitLimit
	for rank, seed := range seeds {
		if len(out) >= q.ExpansionLimit || visits <= 0 {
			break
		}
		var nbs []mnemo.Neighbor
		if lists != nil {
			nbs = lists[rank] // within the budget: all of it
		} else {
			var err error
			if nbs, err = store.Neighbors(ctx, seed.ID, mnemo.AuthorableRelationTypes, false, min(q.RelationLimit, visits)); err != nil {
				return nil, err
			}
		}
		visits -= len(nbs)
		for _, nb := range nbs {
			m := nb.Memory
			if present[m.ID] {
				continue
			}
			if q.ExpandMinStrength != nil && nb.Relation.Strength < *q.ExpandMinStrength {
				continue
			}
			if q.ExpandMinImportance != nil && m.Importance < *q.ExpandMinImportance {
				continue
			}
			if !expFilter.Matches(m) {
				continue
			}
			edge := Edge{Type: nb.Relation.Type, Strength: nb.Relation.Strength, From: seed.ID, SeedRank: rank + 1, SeedScore: seed.FinalScore}
			if r, ok := added[m.ID]; ok {
				r.RelatedTo = append(r.RelatedTo, edge)
				r.Relations = append(r.Relations, edge)
				continue
			}
			if len(out) >= q.ExpansionLimit {
				break
			}
			rs := nb.Relation.Strength + math.Max(seed.FinalScore, 0)*0.25
			r := &Row{ID: m.ID, Memory: m, MatchType: "relation", Source: "graph", MatchScore: rs, RelationScore: rs,
				RelatedTo: []Edge{edge}, Relations: []Edge{edge}}
			rc.score(r, q, q.Query)
			added[m.ID] = r
			out = append(out, r)
		}
	}
	return out, nil
}

// active reports whether m is current at now: not archived, already valid
// and not yet invalid.
func active(m *mnemo.Memory, now time.Time) (bool, string) {
	switch {
	case m.Archived:
		return false, "archived"
	case m.TValid.After(now):
		return false, "not_yet_valid"
	case m.TInvalid != nil && !m.TInvalid.After(now):
		return false, "expired"
	}
	return true, ""
}

// supersededBy follows INVALIDATED_BY/EVOLVED_INTO edges from m to the head
// of its chain (at most 5 hops, cycle-safe). It returns nil when m is not
// superseded by an active memory.
func supersededBy(ctx context.Context, store mnemo.MemoryStore, m *mnemo.Memory, now time.Time) (*mnemo.Memory, *mnemo.Relation, error) {
	var head *mnemo.Memory
	var firstHop *mnemo.Relation
	seen := map[string]bool{m.ID: true}
	cur := m
	for hop := 0; hop < 5; hop++ {
		nbs, err := store.Neighbors(ctx, cur.ID, []mnemo.RelationType{"INVALIDATED_BY", "EVOLVED_INTO"}, true, 10)
		if err != nil {
			return nil, nil, err
		}
		var next *mnemo.Neighbor
		for i := range nbs {
			if ok, _ := active(nbs[i].Memory, now); ok && !seen[nbs[i].Memory.ID] {
				next = &nbs[i]
				break
			}
		}
		if next == nil {
			// A superseded-but-inactive successor can still lead on.
			for i := range nbs {
				if !seen[nbs[i].Memory.ID] {
					next = &nbs[i]
					break
				}
			}
			if next == nil {
				break
			}
		}
		if firstHop == nil {
			rel := next.Relation
			firstHop = &rel
		}
		seen[next.Memory.ID] = true
		cur = next.Memory
		if ok, _ := active(cur, now); ok {
			head = cur
		}
	}
	if head == nil {
		return nil, nil, nil
	}
	return head, firstHop, nil
}

// currentState hides memories that are archived, not yet valid, expired or
// superseded, and puts the head of a supersession chain in their place.
func (rc *Recaller) currentState(ctx context.Context, store mnemo.MemoryStore, q *Query, rows []*Row) ([]*Row, map[string]any, error) {
	present := byIDs(rows)
	// Each active row's chain is its own read: all looked up at once (on a
	// networked store each hop is a round trip), then used in order.
	type chainHead struct {
		head *mnemo.Memory
		rel  *mnemo.Relation
	}
	heads := make([]chainHead, len(rows))
	err := inParallel(ctx, len(rows), func(ctx context.Context, i int) error {
		if ok, _ := active(rows[i].Memory, q.Now); !ok {
			return nil
		}
		head, rel, err := supersededBy(ctx, store, rows[i].Memory, q.Now)
		heads[i] = chainHead{head, rel}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	var out []*Row
	var suppressed, replacements []map[string]any
	for i, r := range rows {
		ok, reason := active(r.Memory, q.Now)
		var head *mnemo.Memory
		var rel *mnemo.Relation
		if ok {
			head, rel = heads[i].head, heads[i].rel
			if head == nil {
				out = append(out, r)
				continue
			}
			reason = "superseded"
		}
		entry := map[string]any{"id": r.ID, "reason": reason}
		if head != nil {
			entry["replacement_id"], entry["relation_type"] = head.ID, rel.Type
			if !present[head.ID] && q.Filter.Matches(head) {
				present[head.ID] = true
				rep := &Row{ID: head.ID, Memory: head, MatchType: "state_replacement", Source: "graph",
					Score: r.Score, MatchScore: r.MatchScore, FinalScore: r.FinalScore, OriginalScore: r.OriginalScore,
					Components: r.Components, StateReplaces: r.ID,
					Relations: []Edge{{Type: rel.Type, Strength: rel.Strength, From: r.ID}}}
				out = append(out, rep)
				replacements = append(replacements, map[string]any{"id": head.ID, "replaces_id": r.ID, "relation_type": rel.Type})
			}
		}
		suppressed = append(suppressed, entry)
	}
	sf := map[string]any{"current_only": true, "suppressed_count": len(suppressed), "replacement_count": len(replacements)}
	if q.StateDebug {
		sf["suppressed"], sf["replacements"] = nonNil(suppressed), nonNil(replacements)
	}
	return out, sf, nil
}

func nonNil(v []map[string]any) []map[string]any {
	if v == nil {
		return []map[string]any{}
	}
	return v
}

// hydrateRelations lists a row's outgoing relations (reference §4.6).
// Expanded and replacing rows keep the edge that brought them in instead.
func (rc *Recaller) hydrateRelations(ctx context.Context, store mnemo.MemoryStore, r *Row) error {
	if r.Relations != nil {
		return nil
	}
	nbs, err := store.Neighbors(ctx, r.ID, nil, true, rc.Config.RelationLimit)
	if err != nil {
		return err
	}
	r.Relations = make([]Edge, 0, len(nbs))
	for _, nb := range nbs {
		r.Relations = append(r.Relations, Edge{Type: nb.Relation.Type, Strength: nb.Relation.Strength, Memory: Summary(nb.Memory)})
	}
	return nil
}

// Summary is the short form of a related memory: its content cut to 160
// characters at a word boundary, and its first five tags.
func Summary(m *mnemo.Memory) map[string]any {
	tags := m.Tags
	if len(tags) > 5 {
		tags = tags[:5]
	}
	if tags == nil {
		tags = []string{}
	}
	return map[string]any{"id": m.ID, "type": m.Type, "timestamp": mnemo.FormatTime(m.Timestamp),
		"importance": m.Importance, "confidence": m.Confidence, "content": shorten(m.Content, 160), "tags": tags}
}

func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)[:n]
	cut := string(r)
	if i := strings.LastIndex(cut, " "); i > n/2 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,.;:") + "…"
}

func anyRow(rows []*Row, pred func(*Row) bool) bool {
	for _, r := range rows {
		if pred(r) {
			return true
		}
	}
	return false
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// widen gathers the candidates of the sub-queries that the main query's
// channels missed, and measures them against the main query: its vector
// similarity and its BM25 score over best, the main query's best.
func (rc *Recaller) widen(ctx context.Context, store mnemo.MemoryStore, q *Query, text string, vec []float32, best float64,
	subs []string, fetch int, have map[string]*Row) ([]*Row, error) {
	found := map[string]*Row{}
	var ids []string
	for _, sub := range subs {
		var hits []mnemo.Hit
		if rc.Embedder != nil && vec != nil {
			if vecs, err := rc.Embedder.Embed(ctx, []string{sub}); err == nil {
				if hits, err = store.Nearest(ctx, vecs[0], q.Filter, fetch); err != nil {
					return nil, err
				}
			}
		}
		kw, err := store.Keyword(ctx, SearchTerms(sub), q.Filter, fetch)
		if err != nil {
			return nil, err
		}
		for i, h := range append(hits, kw...) {
			if have[h.Memory.ID] != nil || found[h.Memory.ID] != nil {
				continue
			}
			matchType, source := "vector", "vector"
			if i >= len(hits) {
				matchType, source = "keyword", "graph"
			}
			found[h.Memory.ID] = &Row{ID: h.Memory.ID, Memory: h.Memory, MatchType: matchType, Source: source, Searched: true}
			ids = append(ids, h.Memory.ID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if vec != nil {
		sims, err := store.Nearest(ctx, vec, mnemo.Filter{IDs: ids}, len(ids))
		if err != nil {
			return nil, err
		}
		for _, h := range sims {
			found[h.Memory.ID].Similarity = h.Score
		}
	}
	if best > 0 {
		f := q.Filter
		f.IDs = ids
		lex, err := store.Keyword(ctx, SearchTerms(text), f, len(ids))
		if err != nil {
			return nil, err
		}
		for _, h := range lex {
			found[h.Memory.ID].Lexical = math.Min(1, h.Score/best)
		}
	}
	out := make([]*Row, len(ids))
	for i, id := range ids {
		r := found[id]
		if r.MatchType == "vector" {
			r.MatchScore = r.Similarity
		} else {
			r.MatchScore = r.Lexical
		}
		out[i] = r
	}
	return out, nil
}
