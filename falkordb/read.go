package falkordb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mnemohq/mnemo"
)

// filterCypher is the Cypher form of f on the memory m, with its
// parameters added to p (named f_*); "true" when f is zero. It selects
// exactly what mnemo.Filter.Matches accepts: tags are compared through
// the lists Go lower-cased (tags_lower, tag_prefixes), never FalkorDB's
// toLower, and times through mnemo_ts, the timestamp in microseconds
// since 1970. Not the timestamp string: FalkorDB 4.16's range index
// answers "timestamp <= $end" on strings with every node, and a range
// with both ends wrongly too (see STATUS.md), while the expression itself
// compares correctly.
func filterCypher(f mnemo.Filter, p Params) string {
	var conds []string
	if f.IDs != nil {
		p["f_ids"] = append([]string{}, f.IDs...)
		conds = append(conds, "m.id IN $f_ids")
	}
	if f.Start != nil {
		// Stored times are whole microseconds: a start inside one admits
		// the next.
		start := f.Start.UTC()
		if t := start.Truncate(time.Microsecond); !t.Equal(start) {
			start = t.Add(time.Microsecond)
		}
		p["f_start"] = start.UnixMicro()
		conds = append(conds, "m.mnemo_ts >= $f_start")
	}
	if f.End != nil {
		p["f_end"] = f.End.UTC().Truncate(time.Microsecond).UnixMicro()
		conds = append(conds, "m.mnemo_ts <= $f_end")
	}
	var ex []string
	for _, e := range f.ExcludeTags {
		if e = strings.ToLower(strings.TrimSpace(e)); e != "" {
			ex = append(ex, e)
		}
	}
	if len(ex) > 0 {
		p["f_ex"] = ex
		conds = append(conds, "NONE(x IN m.tags_lower WHERE ANY(e IN $f_ex WHERE x STARTS WITH e))")
	}
	if len(f.Tags) > 0 {
		var want []string
		seen := map[string]bool{}
		for _, t := range f.Tags {
			if t = strings.ToLower(strings.TrimSpace(t)); t != "" && !seen[t] {
				seen[t] = true
				want = append(want, t)
			}
		}
		switch {
		case len(want) == 0 && f.TagMode == "all":
		case len(want) == 0:
			conds = append(conds, "false")
		default:
			p["f_tags"] = want
			list := "m.tag_prefixes"
			if f.TagMatch == "exact" {
				list = "m.tags_lower"
			}
			q := "ANY"
			if f.TagMode == "all" {
				q = "ALL"
			}
			conds = append(conds, fmt.Sprintf("%s(t IN $f_tags WHERE t IN %s)", q, list))
		}
	}
	if len(conds) == 0 {
		return "true"
	}
	return "(" + strings.Join(conds, " AND ") + ")"
}

func decodeMemories(rows [][]any, col int) ([]*mnemo.Memory, error) {
	out := make([]*mnemo.Memory, 0, len(rows))
	for _, r := range rows {
		m, err := decodeMemory(r[col])
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// Memory returns one memory, or ENOTFOUND.
func (s *Store) Memory(ctx context.Context, id string) (*mnemo.Memory, error) {
	res, err := s.graph().ROQuery(ctx, `MATCH (m:Memory {id: $id}) RETURN `+memoryReturn, Params{"id": id})
	if err != nil {
		return nil, storeErr(err)
	}
	if len(res.Rows) == 0 {
		return nil, notFound()
	}
	m, err := decodeMemory(res.Rows[0][0])
	if err != nil {
		return nil, err
	}
	s.touchedAt(m)
	return m, nil
}

// Memories returns those of ids that exist, keyed by id.
func (s *Store) Memories(ctx context.Context, ids []string) (map[string]*mnemo.Memory, error) {
	out := map[string]*mnemo.Memory{}
	if len(ids) == 0 {
		return out, nil
	}
	res, err := s.graph().ROQuery(ctx, `MATCH (m:Memory) WHERE m.id IN $ids RETURN `+memoryReturn, Params{"ids": ids})
	if err != nil {
		return nil, storeErr(err)
	}
	mems, err := decodeMemories(res.Rows, 0)
	if err != nil {
		return nil, err
	}
	s.touchedAt(mems...)
	for _, m := range mems {
		out[m.ID] = m
	}
	return out, nil
}

// deleteWhere removes the memories cond selects with their edges, and
// takes them off the counters, in one query.
func (s *Store) deleteWhere(ctx context.Context, cond string, p Params) (int, error) {
	res, err := s.graph().Query(ctx, `MATCH (c:MnemoCounters)
		OPTIONAL MATCH (m:Memory) WHERE `+cond+`
		OPTIONAL MATCH (m)-[r]-(:Memory)
		WITH c, collect(DISTINCT m) AS ms, collect(DISTINCT r) AS rs
		WITH c, ms, rs,
			reduce(n = 0, x IN ms | n + coalesce(x.mnemo_bytes, 0) + coalesce(x.mnemo_vbytes, 0)) +
			reduce(n = 0, x IN rs | n + coalesce(x.mnemo_bytes, 0)) AS freed,
			size([x IN ms WHERE x.embedding IS NOT NULL]) AS nv
		SET c.memories = c.memories - size(ms), c.relations = c.relations - size(rs), c.vectors = c.vectors - nv,
			c.bytes = c.bytes - freed, c.version = c.version + CASE WHEN size(ms) > 0 THEN 1 ELSE 0 END
		WITH ms
		UNWIND ms AS x
		DETACH DELETE x
		RETURN count(x)`, p)
	if err != nil {
		return 0, storeErr(err)
	}
	if len(res.Rows) == 0 {
		return 0, nil
	}
	return int(integer(res.Rows[0][0])), nil
}

// Delete removes a memory with its vector and relations.
func (s *Store) Delete(ctx context.Context, id string) error {
	n, err := s.deleteWhere(ctx, "m.id = $id", Params{"id": id})
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound()
	}
	return nil
}

// DeleteMatching removes every memory f matches.
func (s *Store) DeleteMatching(ctx context.Context, f mnemo.Filter) (int, error) {
	p := Params{}
	return s.deleteWhere(ctx, filterCypher(f, p), p)
}

var listOrders = map[string]string{
	mnemo.OrderImportance:  "m.importance DESC, m.mnemo_ts DESC, m.id",
	mnemo.OrderTimeDesc:    "m.mnemo_ts DESC, m.id",
	mnemo.OrderTimeAsc:     "m.mnemo_ts, m.id",
	mnemo.OrderUpdatedDesc: "m.updated_at DESC, m.mnemo_ts DESC, m.id",
	mnemo.OrderUpdatedAsc:  "m.updated_at, m.mnemo_ts, m.id",
}

// List returns memories that match f in the given order.
func (s *Store) List(ctx context.Context, f mnemo.Filter, order string, limit, offset int) ([]*mnemo.Memory, error) {
	by, ok := listOrders[order]
	if !ok {
		return nil, mnemo.Errorf(mnemo.EINVALID, "unknown order %q", order)
	}
	if limit <= 0 {
		return []*mnemo.Memory{}, nil
	}
	p := Params{"limit": limit, "offset": max(offset, 0)}
	res, err := s.graph().ROQuery(ctx, `MATCH (m:Memory) WHERE `+filterCypher(f, p)+` WITH m ORDER BY `+by+` SKIP $offset LIMIT $limit RETURN `+memoryReturn+` ORDER BY `+by, p)
	if err != nil {
		return nil, storeErr(err)
	}
	mems, err := decodeMemories(res.Rows, 0)
	s.touchedAt(mems...)
	return mems, err
}

// Adjacent returns the memories f matches just before and after id in
// (timestamp, order of storing).
func (s *Store) Adjacent(ctx context.Context, id string, f mnemo.Filter) (before, after *mnemo.Memory, err error) {
	p := Params{"id": id}
	cond := filterCypher(f, p)
	anchor, err := s.graph().ROQuery(ctx, `MATCH (m:Memory {id: $id}) RETURN m.mnemo_ts, m.mnemo_seq`, Params{"id": id})
	if err != nil {
		return nil, nil, storeErr(err)
	}
	if len(anchor.Rows) == 0 {
		return nil, nil, notFound()
	}
	p["ts"], p["seq"] = integer(anchor.Rows[0][0]), integer(anchor.Rows[0][1])
	one := func(where, order string) (*mnemo.Memory, error) {
		res, err := s.graph().ROQuery(ctx, `MATCH (m:Memory) WHERE `+cond+` AND `+where+` WITH m ORDER BY `+order+` LIMIT 1 RETURN `+memoryReturn, p)
		if err != nil {
			return nil, storeErr(err)
		}
		if len(res.Rows) == 0 {
			return nil, nil
		}
		m, err := decodeMemory(res.Rows[0][0])
		if err != nil {
			return nil, err
		}
		s.touchedAt(m)
		return m, nil
	}
	if before, err = one(`(m.mnemo_ts < $ts OR (m.mnemo_ts = $ts AND m.mnemo_seq < $seq))`, `m.mnemo_ts DESC, m.mnemo_seq DESC`); err != nil {
		return nil, nil, err
	}
	if after, err = one(`(m.mnemo_ts > $ts OR (m.mnemo_ts = $ts AND m.mnemo_seq > $seq))`, `m.mnemo_ts, m.mnemo_seq`); err != nil {
		return nil, nil, err
	}
	return before, after, nil
}

// Touch sets last_accessed of the memories that exist among ids. The
// time is informational and recall should not wait for a graph write
// (which waits for the append-only file's fsync and holds the graph's
// write lock), so touches are gathered per graph and written once a
// second (lastAccessed); this process's reads show them at once, other
// replicas' when they land, and a crash may lose the last second of them.
func (s *Store) Touch(ctx context.Context, ids []string, at time.Time) error {
	if len(ids) > 0 {
		lastAccessed.add(s.graph(), ids, at)
	}
	return nil
}

// forgetTouches keeps a touch of a missing id off a memory created with
// that id later: it drops the pending times of mems' ids. (A flush that
// took its batch before may still land on it: that window is one write
// long, as in the embedded store.)
func (s *Store) forgetTouches(mems []*mnemo.Memory) {
	if len(mems) == 0 {
		return
	}
	lastAccessed.forget(s.graph(), mems)
}

// touchedAt shows the access times not yet written on mems.
func (s *Store) touchedAt(mems ...*mnemo.Memory) {
	g := s.graph()
	for _, m := range mems {
		if m == nil {
			continue
		}
		if at, ok := lastAccessed.at(g, m.ID); ok && at.After(m.LastAccessed) {
			m.LastAccessed = at
		}
	}
}

// Vector index settings: an unscoped Nearest asks the index for
// max(vectorOverFetch × limit, vectorMinK) candidates (at most vectorMaxK)
// and ranks them by exact cosine; efRuntime is the index's search breadth.
const (
	vectorEfRuntime = 200
	vectorOverFetch = 2
	vectorMinK      = 200
	vectorMaxK      = 1000
)

// Nearest ranks the memories f matches by cosine similarity to vec (0
// where a vector is all zeros, whose cosine is NaN, as in the embedded
// store). An
// unscoped query takes its candidates from the vector index, over-fetched
// and re-scored exactly; a scoped one scans its scope exactly, since the
// index filters only the k it found and would miss scoped memories. So
// does an unscoped one the index answers short (vectors of another model,
// a graph made before the index).
func (s *Store) Nearest(ctx context.Context, vec []float32, f mnemo.Filter, limit int) ([]mnemo.Hit, error) {
	if limit <= 0 || len(vec) == 0 {
		return []mnemo.Hit{}, nil
	}
	// mnemo_vbytes equal to the query's means the same dimension: one
	// vector of another would fail the whole scan ("Vector dimension
	// mismatch").
	p := Params{"q": vec, "model": s.model, "limit": limit, "vb": vectorBytes(vec, s.model)}
	if f.IsZero() && len(vec) == s.dim {
		p["k"] = min(max(vectorOverFetch*limit, vectorMinK), vectorMaxK)
		res, err := s.graph().ROQuery(ctx, `CALL db.idx.vector.queryNodes('Memory', 'embedding', $k, vecf32($q)) YIELD node
			WITH node AS m WHERE m.embedding_model = $model AND m.mnemo_vbytes = $vb
			WITH m, vec.cosineDistance(m.embedding, vecf32($q)) AS d
			WITH m, CASE WHEN d = d THEN d ELSE 1.0 END AS d ORDER BY d, m.id LIMIT $limit
			RETURN `+memoryReturn+`, d ORDER BY d, m.id`, p)
		if err == nil && len(res.Rows) == limit {
			return s.nearestHits(res)
		}
		var qerr *QueryError
		if err != nil && !errors.As(err, &qerr) {
			return nil, storeErr(err)
		}
	}
	res, err := s.graph().ROQuery(ctx, `MATCH (m:Memory) WHERE m.embedding_model = $model AND m.mnemo_vbytes = $vb AND `+filterCypher(f, p)+`
		WITH m, vec.cosineDistance(m.embedding, vecf32($q)) AS d
			WITH m, CASE WHEN d = d THEN d ELSE 1.0 END AS d ORDER BY d, m.id LIMIT $limit
		RETURN `+memoryReturn+`, d ORDER BY d, m.id`, p)
	if err != nil {
		return nil, storeErr(err)
	}
	return s.nearestHits(res)
}

// nearestHits reads Nearest's rows: a memory and its cosine distance.
func (s *Store) nearestHits(res *Result) ([]mnemo.Hit, error) {
	hits := make([]mnemo.Hit, 0, len(res.Rows))
	for _, r := range res.Rows {
		m, err := decodeMemory(r[0])
		if err != nil {
			return nil, err
		}
		s.touchedAt(m)
		hits = append(hits, mnemo.Hit{Memory: m, Score: 1 - num(r[1])})
	}
	return hits, nil
}

// Unembedded returns memories without a vector of the store's model.
func (s *Store) Unembedded(ctx context.Context, limit int) ([]*mnemo.Memory, error) {
	if limit <= 0 {
		return []*mnemo.Memory{}, nil
	}
	res, err := s.graph().ROQuery(ctx, `MATCH (m:Memory) WHERE m.embedding IS NULL OR m.embedding_model IS NULL OR m.embedding_model <> $model
		WITH m ORDER BY m.mnemo_seq LIMIT $limit RETURN `+memoryReturn+` ORDER BY m.mnemo_seq`, Params{"model": s.model, "limit": limit})
	if err != nil {
		return nil, storeErr(err)
	}
	return decodeMemories(res.Rows, 0)
}

// SetEmbedding stores the vector of an existing memory, with the
// counters, in one query. The old vector is cleared in a subquery first
// (see apply in write.go).
func (s *Store) SetEmbedding(ctx context.Context, id string, vec []float32, model string) error {
	if len(vec) == 0 {
		return mnemo.Errorf(mnemo.EINVALID, "an empty vector")
	}
	vb := vectorBytes(vec, model)
	res, err := s.graph().Query(ctx, `MATCH (c:MnemoCounters), (m:Memory {id: $id})
		SET c.vectors = c.vectors + CASE WHEN m.embedding IS NULL THEN 1 ELSE 0 END,
			c.bytes = c.bytes - coalesce(m.mnemo_vbytes, 0) + $vb, c.version = c.version + 1
		SET m.embedding_model = $model, m.mnemo_vbytes = $vb
		WITH m
		CALL { MATCH (x:Memory {id: $id}) SET x.embedding = null }
		CALL { MATCH (x:Memory {id: $id}) SET x.embedding = vecf32($v) }
		RETURN m.id`, Params{"id": id, "v": vec, "model": model, "vb": vb})
	if err != nil {
		return storeErr(err)
	}
	if len(res.Rows) == 0 {
		return notFound()
	}
	return nil
}

func typeStrings(types []mnemo.RelationType) []string {
	out := make([]string, len(types))
	for i, t := range types {
		out[i] = string(t)
	}
	return out
}

// Neighbors returns the relations touching id, newest first.
func (s *Store) Neighbors(ctx context.Context, id string, types []mnemo.RelationType, outgoingOnly bool, limit int) ([]mnemo.Neighbor, error) {
	if limit <= 0 {
		return []mnemo.Neighbor{}, nil
	}
	arrow := "-[r]-"
	if outgoingOnly {
		arrow = "-[r]->"
	}
	res, err := s.graph().ROQuery(ctx, `MATCH (a:Memory {id: $id})`+arrow+`(b:Memory)
		WHERE size($types) = 0 OR type(r) IN $types
		WITH r, b, id(startNode(r)) = id(a) AS out ORDER BY r.updated_at DESC, b.id, type(r) LIMIT $limit
		WITH r, b AS m, out
		RETURN type(r), properties(r), out, `+memoryReturn+`, m.id
		ORDER BY r.updated_at DESC, m.id, type(r)`,
		Params{"id": id, "types": typeStrings(types), "limit": limit})
	if err != nil {
		return nil, storeErr(err)
	}
	out := make([]mnemo.Neighbor, 0, len(res.Rows))
	for _, r := range res.Rows {
		outgoing, _ := r[2].(bool)
		from, to := any(id), r[4]
		if !outgoing {
			from, to = r[4], id
		}
		rel, err := decodeRelation(from, r[0], to, r[1])
		if err != nil {
			return nil, err
		}
		m, err := decodeMemory(r[3])
		if err != nil {
			return nil, err
		}
		s.touchedAt(m)
		out = append(out, mnemo.Neighbor{Relation: rel, Memory: m, Outgoing: outgoing})
	}
	return out, nil
}

// Relations returns up to limit relations of the given types, newest
// first.
func (s *Store) Relations(ctx context.Context, types []mnemo.RelationType, limit int) ([]mnemo.Relation, error) {
	if limit <= 0 {
		return []mnemo.Relation{}, nil
	}
	res, err := s.graph().ROQuery(ctx, `MATCH (a:Memory)-[r]->(b:Memory)
		WHERE size($types) = 0 OR type(r) IN $types
		RETURN a.id, type(r), b.id, properties(r)
		ORDER BY r.updated_at DESC, a.id, type(r), b.id LIMIT $limit`,
		Params{"types": typeStrings(types), "limit": limit})
	if err != nil {
		return nil, storeErr(err)
	}
	out := make([]mnemo.Relation, 0, len(res.Rows))
	for _, r := range res.Rows {
		rel, err := decodeRelation(r[0], r[1], r[2], r[3])
		if err != nil {
			return nil, err
		}
		out = append(out, rel)
	}
	return out, nil
}
