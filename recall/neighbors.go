package recall

import (
	"context"
	"time"

	"github.com/mnemohq/mnemo"
)

// addNeighbors adds, for each of the top ContextWindow rows, the memories
// stored just before and just after it (in time, within the query's scope),
// scored at least ContextWeight times the row they neighbour.
//
// A memory is often meaningful only with its neighbours: in a conversation
// stored one turn per memory, the turn that matches a question is often the
// question, and the answer is the next turn. On LoCoMo this step lifts
// recall@10 by about a tenth (README, "Recall quality").
func (rc *Recaller) addNeighbors(ctx context.Context, store mnemo.MemoryStore, q *Query, rows []*Row) ([]*Row, error) {
	byID := make(map[string]*Row, len(rows))
	absorbed := map[string]bool{} // folded into another row by dedupe: not to come back
	for _, r := range rows {
		byID[r.ID] = r
		for _, id := range r.DedupedFrom {
			absorbed[id] = id != r.ID
		}
	}
	hits := rows[:min(q.ContextWindow, len(rows))]
	for _, hit := range hits {
		neighbours, err := timeNeighbours(ctx, store, q.Filter, hit.Memory.Timestamp)
		if err != nil {
			return nil, err
		}
		share := q.ContextWeight * hit.FinalScore
		for _, m := range neighbours {
			if absorbed[m.ID] {
				continue
			}
			r, ok := byID[m.ID]
			if !ok {
				r = &Row{ID: m.ID, Memory: m, MatchType: "context", Source: "graph", ContextOf: hit.ID}
				rc.score(r, Keywords(q.Query), q.Query, q.Now)
				byID[m.ID] = r
				rows = append(rows, r)
			}
			if r.Components.Neighbor == nil || *r.Components.Neighbor < share {
				v := share
				r.Components.Neighbor = &v
			}
			if share > r.FinalScore {
				r.FinalScore, r.Score, r.ContextOf = share, share, hit.ID
			}
		}
	}
	return rows, nil
}

// timeNeighbours returns the memory just before and the one just after ts
// that match f. Memories with exactly the same timestamp are not neighbours.
func timeNeighbours(ctx context.Context, store mnemo.MemoryStore, f mnemo.Filter, ts time.Time) ([]*mnemo.Memory, error) {
	before, after := ts.Add(-time.Microsecond), ts.Add(time.Microsecond)
	fb, fa := f, f
	fb.End, fa.Start = &before, &after
	if f.End != nil && f.End.Before(before) {
		fb.End = f.End
	}
	if f.Start != nil && f.Start.After(after) {
		fa.Start = f.Start
	}
	prev, err := store.List(ctx, fb, mnemo.OrderTimeDesc, 1, 0)
	if err != nil {
		return nil, err
	}
	next, err := store.List(ctx, fa, mnemo.OrderTimeAsc, 1, 0)
	if err != nil {
		return nil, err
	}
	return append(prev, next...), nil
}
