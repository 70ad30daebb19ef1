package recall

import (
	"context"
	"fmt"
	"strings"

	"github.com/mnemohq/mnemo"
)

// addNeighbors adds, for each of the top ContextWindow rows that belongs to
// a conversation, the memories of the same conversation stored just before
// and just after it (in time, within the query's scope; memories with the
// same timestamp go by the order they were stored; at most ContextMaxGap
// away), scored at least ContextWeight times the row's match to the query
// plus their own standing.
//
// A conversation is what memories share (conversationKeys): a session: or
// conversation: tag, or a session_id or conversation_id in metadata. Time
// alone does not make one: facts an assistant stores a minute apart are
// unrelated, and a neighbour by time would push relevant memories out.
//
// A memory is often meaningful only with its neighbours: in a conversation
// stored one turn per memory, the turn that matches a question is often the
// question, and the answer is the next turn. It lifts LoCoMo's recall@10
// from 0.63 to 0.67, and the assistant set's conversational questions'
// recall@5 from 0.29 to 0.94 (README, "Recall quality").
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
	// score never passes on to its own neighbours. A neighbour shares in
	// the hit's match to the query, not in its standing (importance,
	// confidence, recency): it keeps its own, so a store where every
	// memory stands the same ranks as one where none has standing.
	w := rc.Config.Weights
	shares := make([]float64, len(hits))
	for i, hit := range hits {
		shares[i] = q.ContextWeight * (hit.FinalScore - w.standing(hit.Components))
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
		keys := conversationKeys(hit.Memory)
		if len(keys) == 0 {
			return nil // not part of a conversation: no neighbours
		}
		// Where the conversation is a tag and the query has no tag scope,
		// the store looks inside it, so another conversation stored in
		// between does not hide the neighbour.
		if tag, ok := strings.CutPrefix(keys[0], "tag "); ok && len(f.Tags) == 0 {
			f.Tags, f.TagMode, f.TagMatch = []string{tag}, "any", "exact"
		}
		before, after, err := store.Adjacent(ctx, hit.ID, f)
		if mnemo.ErrorCode(err) == mnemo.ENOTFOUND {
			return nil // deleted since it was found: it has no neighbours now
		}
		for j, m := range []*mnemo.Memory{before, after} {
			if m != nil && sharesKey(keys, m) {
				adjacent[i][j] = m
			}
		}
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
			if s := share + w.standing(r.Components); s > r.FinalScore {
				r.FinalScore, r.Score, r.ContextOf = s, s, hit.ID
			}
		}
	}
	return rows, nil
}

// conversationKeys are the marks of the conversations m belongs to: its
// session: and conversation: tags (case aside) and its metadata's
// session_id and conversation_id.
func conversationKeys(m *mnemo.Memory) []string {
	var keys []string
	for _, t := range m.Tags {
		if lt := strings.ToLower(t); strings.HasPrefix(lt, "session:") || strings.HasPrefix(lt, "conversation:") {
			keys = append(keys, "tag "+lt)
		}
	}
	for _, k := range []string{"session_id", "conversation_id"} {
		if v, ok := m.Metadata[k]; ok && v != nil {
			if s := fmt.Sprint(v); s != "" {
				keys = append(keys, k+" "+s)
			}
		}
	}
	return keys
}

// sharesKey reports whether m belongs to one of the conversations keys mark.
func sharesKey(keys []string, m *mnemo.Memory) bool {
	for _, k := range conversationKeys(m) {
		for _, want := range keys {
			if k == want {
				return true
			}
		}
	}
	return false
}
