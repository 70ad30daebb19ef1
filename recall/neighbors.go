package recall

import (
	"context"

	"github.com/mnemohq/mnemo"
)

// addNeighbors adds, for each of the top ContextWindow rows, the memories
// stored just before and just after it (in time, within the query's scope;
// memories with the same timestamp go by the order they were stored; at
// most ContextMaxGap away), scored at least ContextWeight times the row they
// neighbour.
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
	// Shares come from the scores before this step, so a neighbour's raised
	// score never passes on to its own neighbours.
	shares := make([]float64, len(hits))
	for i, hit := range hits {
		shares[i] = q.ContextWeight * hit.FinalScore
	}
	// The lookups are independent reads: made at once (on a networked
	// store each is a round trip), used in order.
	adjacent := make([][2]*mnemo.Memory, len(hits))
	err := inParallel(ctx, len(hits), func(ctx context.Context, i int) error {
		// Only memories stored close to the hit are its context: a
		// conversation's turns, a session's notes.
		hit := hits[i]
		f := q.Filter
		lo, hi := hit.Memory.Timestamp.Add(-q.ContextMaxGap), hit.Memory.Timestamp.Add(q.ContextMaxGap)
		if f.Start == nil || f.Start.Before(lo) {
			f.Start = &lo
		}
		if f.End == nil || f.End.After(hi) {
			f.End = &hi
		}
		before, after, err := store.Adjacent(ctx, hit.ID, f)
		if mnemo.ErrorCode(err) == mnemo.ENOTFOUND {
			return nil // deleted since it was found: it has no neighbours now
		}
		adjacent[i] = [2]*mnemo.Memory{before, after}
		return err
	})
	if err != nil {
		return nil, err
	}
	for i, hit := range hits {
		share := shares[i]
		for _, m := range adjacent[i] {
			if m == nil || absorbed[m.ID] {
				continue
			}
			r, ok := byID[m.ID]
			if !ok {
				r = &Row{ID: m.ID, Memory: m, MatchType: "context", Source: "graph", ContextOf: hit.ID}
				rc.score(r, q, q.Query)
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
