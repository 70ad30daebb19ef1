package recall

import (
	"context"
	"math"
	"time"

	"github.com/mnemohq/mnemo"
)

// Run answers q from store, which is bound to the caller's tenant. It is
// recall's pipeline: the stages below, in order, each reading and filling
// one run. A stage that does not apply to q does nothing.
func (rc *Recaller) Run(ctx context.Context, store mnemo.MemoryStore, q *Query) (*Response, error) {
	r := &run{rc: rc, store: store, q: q, began: time.Now(),
		resp: &Response{Status: "success", Query: q.Query, Sort: q.Sort, StateMode: q.StateMode,
			TagMode: q.Filter.TagMode, TagMatch: q.Filter.TagMatch, Results: []*Row{}}}
	for _, stage := range []func(*run, context.Context) error{
		(*run).planQueries,
		(*run).gatherCandidates,
		(*run).mergeQueries,
		(*run).applyContextHints,
		(*run).addTimeNeighbors,
		(*run).dedupe,
		(*run).cutToLimit,
		(*run).expandByRelations,
		(*run).expandByEntities,
		(*run).keepCurrentState,
		(*run).biasToRecent,
		(*run).applyScoreFloor,
		(*run).fillOutsideScope,
		(*run).listRelations,
		(*run).touchSeeds,
	} {
		if err := ctx.Err(); err != nil { // the request's time budget is spent, or its client gone
			return nil, err
		}
		if err := stage(r, ctx); err != nil {
			return nil, err
		}
	}
	return r.finish(), nil
}

// run is one recall on its way through the pipeline.
type run struct {
	rc    *Recaller
	store mnemo.MemoryStore
	q     *Query
	resp  *Response
	began time.Time

	queries []string // the texts ranked one by one
	widen   []string // sub-queries that only bring candidates (auto_decompose)
	matched bool     // the vector channel found something

	rows    []*Row // the ranked rows, until cutToLimit
	seeds   []*Row // the ranked rows within the limit
	results []*Row // seeds and what the post-steps add: the answer
}

// planQueries picks the texts to rank: the query, the given queries, or,
// with auto_decompose, the query alone with its sub-queries as extra
// candidate sources (every candidate is still ranked against the whole
// question). It reads the context hints and echoes the scope in resp.
func (r *run) planQueries(context.Context) error {
	q, resp := r.q, r.resp
	r.queries = []string{q.Query}
	switch {
	case q.Multi:
		r.queries = q.Queries
		resp.Queries = r.queries
	case q.AutoDecompose && q.searches() && q.Query != "":
		resp.Queries = Decompose(q.Query)
		r.widen = resp.Queries[1:]
	case q.Query != "":
		resp.Keywords = Keywords(q.Query)
	}
	q.profile = buildProfile(q, r.queries)
	if q.Window.Start != nil || q.Window.End != nil {
		resp.TimeWindow = map[string]any{"start": fmtPtr(q.Window.Start), "end": fmtPtr(q.Window.End)}
	}
	if q.TimeQuery != "" {
		resp.TimeQuery = map[string]any{"expression": q.TimeQuery, "understood": !q.TimeQueryUnparsed}
	}
	if len(q.Filter.Tags) > 0 {
		resp.Tags = q.Filter.Tags
		resp.TagScope = map[string]any{"filtered": true, "pool_size_hint": nil, "gated_low_evidence": 0}
	}
	resp.ExcludeTags = q.Filter.ExcludeTags
	return nil
}

// gatherCandidates gathers and scores each text's keyword and vector
// candidates within the query's filter (or lists memories when there is no
// text), and reports in resp whether vector search ran and found anything.
func (r *run) gatherCandidates(ctx context.Context) error {
	for _, text := range r.queries {
		if err := ctx.Err(); err != nil {
			return err
		}
		rows, removed, matched, err := r.rc.runOne(ctx, r.store, r.q, text, r.widen, r.resp)
		if err != nil {
			return err
		}
		r.matched = r.matched || matched
		r.resp.DedupRemoved += removed
		r.rows = append(r.rows, rows...)
	}
	enabled := (r.rc.Embedder != nil || r.q.Embedding != nil) && r.resp.EmbeddingNote == ""
	r.resp.VectorSearch = map[string]any{"enabled": enabled, "matched": r.matched}
	return nil
}

// mergeQueries keeps one row per memory across the query texts, the one
// with the best score, and sorts them.
func (r *run) mergeQueries(context.Context) error {
	byID := map[string]*Row{}
	var merged []*Row
	for _, row := range r.rows {
		if cur, ok := byID[row.ID]; ok {
			if row.FinalScore > cur.FinalScore {
				*cur = *row
			}
			continue
		}
		byID[row.ID] = row
		merged = append(merged, row)
	}
	SortRows(merged, r.q.Sort)
	r.rows = merged
	return nil
}

// applyContextHints brings in the priority ids, and priority-tag memories
// when the top rows have none, within the query's filter (AutoMem's
// context injection), and reports the hints in resp.
func (r *run) applyContextHints(ctx context.Context) error {
	q, p := r.q, r.q.profile
	if p == nil {
		return nil
	}
	injected := false
	if len(p.PriorityIDs) > 0 || !anyRow(r.rows[:min(len(r.rows), q.Limit)], p.matches) {
		var err error
		if r.rows, injected, err = r.rc.inject(ctx, r.store, q, r.rows); err != nil {
			return err
		}
		SortRows(r.rows, q.Sort)
	}
	r.resp.ContextPriority = map[string]any{"language": nilIfEmpty(p.Language), "context": nilIfEmpty(p.Context),
		"priority_tags": p.PriorityTags[:min(10, len(p.PriorityTags))], "priority_types": p.PriorityTypes, "injected": injected}
	return nil
}

// addTimeNeighbors gives the memories stored just before and after the top
// rows a share of their score: in a conversation stored turn by turn, the
// answer is the turn after the one that matches. Only when ranking by score.
func (r *run) addTimeNeighbors(ctx context.Context) error {
	q := r.q
	if q.ContextWindow <= 0 || q.Sort != "score" || !q.searches() {
		return nil
	}
	var err error
	r.rows, err = r.rc.addNeighbors(ctx, r.store, q, r.rows)
	return err
}

// dedupe folds rows of the same content into the best one (AutoMem's
// dedupe), then puts the rows in order, priority ids first.
func (r *run) dedupe(context.Context) error {
	rows, removed := Dedupe(r.rows)
	r.resp.DedupRemoved += removed
	SortRows(rows, r.q.Sort)
	r.rows = priorityFirst(rows, r.q.PriorityIDs)
	return nil
}

// cutToLimit keeps the first limit rows. They are the seeds of the
// expansions and the memories touched; what the later stages add comes on
// top, so the answer may exceed limit, as in AutoMem.
func (r *run) cutToLimit(context.Context) error {
	if len(r.rows) > r.q.Limit {
		r.rows = r.rows[:r.q.Limit]
	}
	r.seeds = r.rows
	r.results = append([]*Row{}, r.seeds...)
	return nil
}

// expandByRelations adds the memories related to the seeds
// (expand_relations; reference §4.2 step 2).
func (r *run) expandByRelations(ctx context.Context) error {
	q := r.q
	if !q.ExpandRelations || len(r.seeds) == 0 {
		return nil
	}
	expanded, err := r.rc.expand(ctx, r.store, q, r.seeds, byIDs(r.results))
	if err != nil {
		return err
	}
	r.resp.Expansion = map[string]any{"enabled": true, "seed_count": len(r.seeds), "expanded_count": len(expanded),
		"relation_limit": q.RelationLimit, "expansion_limit": q.ExpansionLimit, "respect_tags": q.ExpandRespectTags}
	r.results = append(r.results, expanded...)
	return nil
}

// expandByEntities adds memories about the entities the results mention
// (expand_entities).
func (r *run) expandByEntities(ctx context.Context) error {
	if !r.q.ExpandEntities || len(r.seeds) == 0 {
		return nil
	}
	expanded, found, err := r.rc.expandEntities(ctx, r.store, r.q, r.results)
	if err != nil {
		return err
	}
	r.resp.EntityExpansion = map[string]any{"enabled": true, "expanded_count": len(expanded), "entities_found": found[:min(10, len(found))]}
	r.results = append(r.results, expanded...)
	return nil
}

// keepCurrentState hides memories that are archived, not yet valid,
// expired or superseded, putting the head of a supersession chain in their
// place (state_mode=current, the default).
func (r *run) keepCurrentState(ctx context.Context) error {
	if r.q.StateMode != "current" {
		return nil
	}
	var err error
	r.results, r.resp.StateFilter, err = r.rc.currentState(ctx, r.store, r.q, r.results)
	return err
}

// biasToRecent adds a recency bonus across the results when asked, or when
// a query asks about the present (recency_bias), and re-sorts them.
func (r *run) biasToRecent(context.Context) error {
	if r.rc.recencyBias(r.q, r.queries, r.results) {
		r.resp.RecencyBias = "on"
		r.results = priorityFirst(r.results, r.q.PriorityIDs)
	}
	return nil
}

// applyScoreFloor drops the results below AutoMem's adaptive floor (a cut
// at a large score gap) and below min_score.
func (r *run) applyScoreFloor(context.Context) error {
	q := r.q
	filtered := 0
	var floor *float64
	if q.Sort == "score" && q.AdaptiveFloor {
		if f, ok := AdaptiveFloor(r.results); ok {
			floor = &f
			r.results, filtered = keepAtLeast(r.results, f, filtered)
		}
	}
	if q.MinScore != nil {
		r.results, filtered = keepAtLeast(r.results, *q.MinScore, filtered)
	}
	if q.MinScore != nil || floor != nil {
		r.resp.ScoreFilter = map[string]any{"min_score": q.MinScore, "adaptive_floor": floor, "filtered_count": filtered}
	}
	return nil
}

// fillOutsideScope fills a tag-scoped answer that came back short with the
// nearest memories outside the scope, marked so (scope_fallback).
func (r *run) fillOutsideScope(ctx context.Context) error {
	q := r.q
	if !q.ScopeFallback || len(q.Filter.Tags) == 0 || q.queryVec == nil || len(r.results) >= q.Limit {
		return nil
	}
	extra, err := r.rc.scopeFallback(ctx, r.store, q, r.results)
	if err != nil {
		return err
	}
	r.resp.ScopeFallback = true
	r.results = append(r.results, extra...)
	return nil
}

// listRelations lists each result's outgoing relations (reference §4.6);
// rows that an edge brought in keep that edge instead.
func (r *run) listRelations(ctx context.Context) error {
	for _, row := range r.results {
		if err := r.rc.hydrateRelations(ctx, r.store, row); err != nil {
			return err
		}
	}
	return nil
}

// touchSeeds records that the seeds were recalled (last_accessed), as
// AutoMem does; expanded rows are not touched.
func (r *run) touchSeeds(ctx context.Context) error {
	if len(r.seeds) == 0 {
		return nil
	}
	ids := make([]string, len(r.seeds))
	for i, s := range r.seeds {
		ids[i] = s.ID
	}
	return r.store.Touch(ctx, ids, r.q.Now)
}

// finish completes the response with the results, their count and the
// time taken.
func (r *run) finish() *Response {
	if r.results == nil {
		r.results = []*Row{} // clients iterate over it: never null
	}
	r.resp.Results = r.results
	r.resp.Count = len(r.results)
	r.resp.QueryTimeMS = math.Round(float64(time.Since(r.began).Microseconds())/10) / 100
	return r.resp
}
