package falkordb

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mnemohq/mnemo"
)

// Writes are optimistic: the store reads the counters node's version and
// what the write touches (the memories by id, the edges between them),
// checks the write in Go (missing or duplicate ids, quotas against the
// exact counters), and sends one query that applies everything only if
// the version is still the one read, bumping it. One GRAPH.QUERY is
// atomic, so a write is all or nothing, and a write that lost the race to
// another (another replica's, too) changes nothing and is planned again.
// Quota checks are therefore atomic under concurrent writes without a
// lock outside FalkorDB.

// maxAttempts bounds the replanning of a write that keeps losing races.
const maxAttempts = 200

// relTypePattern is what a relationship type written into Cypher may be:
// types cannot be parameters, so only these characters reach the query.
var relTypePattern = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

type memState struct {
	bytes, vbytes int64
	hasVec        bool
}

type edgeKey struct {
	from, typ, to string
}

type edgeState struct {
	bytes   int64
	updated string
}

// state is what a write's plan reads, at one version.
type state struct {
	version, seq int64
	stats        mnemo.TenantStats
	mems         map[string]memState
	edges        map[edgeKey]edgeState
}

func (s *Store) readState(ctx context.Context, ids []string, rels []mnemo.Relation) (*state, error) {
	var froms, tos []string
	for _, r := range rels {
		froms, tos = append(froms, r.From), append(tos, r.To)
	}
	if ids == nil {
		ids = []string{}
	}
	if froms == nil {
		froms, tos = []string{}, []string{}
	}
	res, err := s.graph().ROQuery(ctx, `MATCH (c:MnemoCounters)
		OPTIONAL MATCH (m:Memory) WHERE m.id IN $ids
		WITH c, collect([m.id, m.mnemo_bytes, coalesce(m.mnemo_vbytes, 0), m.embedding IS NOT NULL]) AS mems
		OPTIONAL MATCH (a:Memory)-[r]->(b:Memory) WHERE a.id IN $froms AND b.id IN $tos
		RETURN c.version, c.seq, c.memories, c.relations, c.vectors, c.bytes, mems,
			collect([a.id, type(r), b.id, r.mnemo_bytes, r.updated_at])`,
		Params{"ids": ids, "froms": froms, "tos": tos})
	if err != nil {
		return nil, storeErr(err)
	}
	if len(res.Rows) != 1 {
		return nil, fmt.Errorf("falkordb: %s: no counters node", s.graph().Name())
	}
	row := res.Rows[0]
	st := &state{version: integer(row[0]), seq: integer(row[1]),
		stats: mnemo.TenantStats{Memories: integer(row[2]), Relations: integer(row[3]), Vectors: integer(row[4]), StoredBytes: integer(row[5])},
		mems:  map[string]memState{}, edges: map[edgeKey]edgeState{}}
	mems, _ := row[6].([]any)
	for _, x := range mems {
		l, _ := x.([]any)
		if len(l) != 4 || l[0] == nil {
			continue
		}
		id, _ := l[0].(string)
		hv, _ := l[3].(bool)
		st.mems[id] = memState{bytes: integer(l[1]), vbytes: integer(l[2]), hasVec: hv}
	}
	edges, _ := row[7].([]any)
	for _, x := range edges {
		l, _ := x.([]any)
		if len(l) != 5 || l[0] == nil || l[1] == nil {
			continue
		}
		a, _ := l[0].(string)
		t, _ := l[1].(string)
		b, _ := l[2].(string)
		u, _ := l[4].(string)
		st.edges[edgeKey{a, t, b}] = edgeState{bytes: integer(l[3]), updated: u}
	}
	return st, nil
}

// change is a write planned against one state: the rows of its query and
// the counters after it.
type change struct {
	after      mnemo.TenantStats
	seq        int64
	createVec  []any // {p, v}
	createNone []any // {p}
	updKeep    []any // {id, p}
	updSet     []any // {id, p, v}
	updDrop    []any // {id, p}
	rels       map[string][]any
	created    []string
	relsNew    int
}

// planOpts.importing changes the plan's rules into Import's: existing ids are
// skipped, and an existing relation is replaced only by a newer one.
type planOpts struct {
	importing bool
}

func (s *Store) plan(st *state, create, update []*mnemo.Memory, relate []mnemo.Relation, o planOpts) (*change, error) {
	ch := &change{after: st.stats, seq: st.seq, rels: map[string][]any{}}
	exists := func(id string) bool { _, ok := st.mems[id]; return ok }
	createdHere := map[string]bool{}
	for _, m := range create {
		if exists(m.ID) || createdHere[m.ID] {
			if o.importing {
				continue
			}
			return nil, mnemo.Errorf(mnemo.ECONFLICT, "Memory %s exists already", m.ID)
		}
		createdHere[m.ID] = true
		p, n, err := s.nodeProps(m)
		if err != nil {
			return nil, err
		}
		ch.seq++
		p["mnemo_seq"] = ch.seq
		ch.after.Memories++
		if len(m.Embedding) > 0 {
			vb := vectorBytes(m.Embedding, m.EmbeddingModel)
			p["embedding_model"], p["mnemo_vbytes"] = m.EmbeddingModel, vb
			ch.after.Vectors++
			ch.after.StoredBytes += n + vb
			ch.createVec = append(ch.createVec, map[string]any{"p": p, "v": m.Embedding})
		} else {
			ch.after.StoredBytes += n
			ch.createNone = append(ch.createNone, map[string]any{"p": p})
		}
		if p["t_invalid"] == nil {
			delete(p, "t_invalid")
		}
		ch.created = append(ch.created, m.ID)
	}
	cur := map[string]memState{}
	for _, m := range update {
		old, ok := cur[m.ID]
		if !ok {
			if old, ok = st.mems[m.ID]; !ok {
				return nil, notFound()
			}
		}
		p, n, err := s.nodeProps(m)
		if err != nil {
			return nil, err
		}
		// t_invalid travels beside the properties: null removes it.
		ti := p["t_invalid"]
		delete(p, "t_invalid")
		ch.after.StoredBytes += n - old.bytes
		next := memState{bytes: n, vbytes: old.vbytes, hasVec: old.hasVec}
		switch {
		case m.Embedding == nil:
			ch.updKeep = append(ch.updKeep, map[string]any{"id": m.ID, "p": p, "ti": ti})
		case len(m.Embedding) > 0:
			vb := vectorBytes(m.Embedding, m.EmbeddingModel)
			p["embedding_model"], p["mnemo_vbytes"] = m.EmbeddingModel, vb
			ch.after.StoredBytes += vb - old.vbytes
			if !old.hasVec {
				ch.after.Vectors++
			}
			next.vbytes, next.hasVec = vb, true
			ch.updSet = append(ch.updSet, map[string]any{"id": m.ID, "p": p, "ti": ti, "v": m.Embedding})
		default:
			ch.after.StoredBytes -= old.vbytes
			if old.hasVec {
				ch.after.Vectors--
			}
			next.vbytes, next.hasVec = 0, false
			ch.updDrop = append(ch.updDrop, map[string]any{"id": m.ID, "p": p, "ti": ti})
		}
		cur[m.ID] = next
	}
	// Relations: the last of the same (From, Type, To) wins.
	seen := map[edgeKey]int{}
	var rels []mnemo.Relation
	for _, r := range relate {
		if !relTypePattern.MatchString(string(r.Type)) {
			return nil, mnemo.Errorf(mnemo.EINVALID, "Relation type %q is not one mnemo writes", r.Type)
		}
		k := edgeKey{r.From, string(r.Type), r.To}
		if i, ok := seen[k]; ok {
			if !o.importing || r.UpdatedAt.After(rels[i].UpdatedAt) {
				rels[i] = r
			}
			continue
		}
		seen[k] = len(rels)
		rels = append(rels, r)
	}
	for _, r := range rels {
		for _, end := range []string{r.From, r.To} {
			if !exists(end) && !createdHere[end] {
				if o.importing {
					return nil, mnemo.Errorf(mnemo.ENOTFOUND, "Memory %s of a relation does not exist", end)
				}
				return nil, mnemo.Errorf(mnemo.ENOTFOUND, "One or both memories do not exist")
			}
		}
	}
	for _, r := range rels {
		p, n, err := relationProps(r)
		if err != nil {
			return nil, err
		}
		k := edgeKey{r.From, string(r.Type), r.To}
		old, had := st.edges[k]
		if had {
			if o.importing {
				if t, err := mnemo.ParseTime(old.updated); err == nil && !r.UpdatedAt.After(t) {
					continue
				}
			}
			ch.after.StoredBytes += n - old.bytes
		} else {
			ch.after.Relations++
			ch.after.StoredBytes += n
			ch.relsNew++
		}
		ch.rels[string(r.Type)] = append(ch.rels[string(r.Type)], map[string]any{"a": r.From, "b": r.To, "p": p})
	}
	return ch, nil
}

// apply runs a planned change if the counters are still at version.
func (s *Store) apply(ctx context.Context, st *state, ch *change) (bool, error) {
	var q strings.Builder
	q.WriteString(`MATCH (c:MnemoCounters) WHERE c.version = $version
		SET c.version = c.version + 1, c.seq = $seq, c.memories = $memories, c.relations = $relations,
			c.vectors = $vectors, c.bytes = $bytes
		WITH c`)
	params := Params{"version": st.version, "seq": ch.seq, "memories": ch.after.Memories, "relations": ch.after.Relations,
		"vectors": ch.after.Vectors, "bytes": ch.after.StoredBytes}
	if len(ch.createNone) > 0 {
		q.WriteString(` CALL { UNWIND $cn AS row CREATE (m:Memory) SET m = row.p }`)
		params["cn"] = ch.createNone
	}
	if len(ch.createVec) > 0 {
		q.WriteString(` CALL { UNWIND $cv AS row CREATE (m:Memory) SET m = row.p SET m.embedding = vecf32(row.v) }`)
		params["cv"] = ch.createVec
	}
	if len(ch.updKeep) > 0 {
		q.WriteString(` CALL { UNWIND $uk AS row MATCH (m:Memory {id: row.id}) SET ` + updateSets + ` }`)
		params["uk"] = ch.updKeep
	}
	if len(ch.updSet) > 0 {
		// The vector is cleared in a subquery of its own first: FalkorDB
		// 4.16 skips a SET of a vector it deems equal to the old one, and
		// its comparison truncates element differences to integers, so
		// replacing a unit vector was silently lost (STATUS.md).
		q.WriteString(` CALL { UNWIND $us AS row MATCH (m:Memory {id: row.id}) SET m.embedding = null }`)
		q.WriteString(` CALL { UNWIND $us AS row MATCH (m:Memory {id: row.id}) SET ` + updateSets +
			`, m.embedding = vecf32(row.v), m.embedding_model = row.p.embedding_model, m.mnemo_vbytes = row.p.mnemo_vbytes }`)
		params["us"] = ch.updSet
	}
	if len(ch.updDrop) > 0 {
		q.WriteString(` CALL { UNWIND $ud AS row MATCH (m:Memory {id: row.id}) SET ` + updateSets +
			`, m.embedding_model = '', m.mnemo_vbytes = 0 }`)
		q.WriteString(` CALL { UNWIND $ud AS row MATCH (m:Memory {id: row.id}) SET m.embedding = null }`)
		params["ud"] = ch.updDrop
	}
	types := make([]string, 0, len(ch.rels))
	for t := range ch.rels {
		types = append(types, t)
	}
	slices.Sort(types)
	for i, t := range types {
		name := fmt.Sprintf("r%d", i)
		fmt.Fprintf(&q, ` CALL { UNWIND $%s AS row MATCH (a:Memory {id: row.a}), (b:Memory {id: row.b}) MERGE (a)-[r:%s]->(b) SET r = row.p }`, name, t)
		params[name] = ch.rels[t]
	}
	q.WriteString(` RETURN c.version`)
	res, err := s.graph().Query(ctx, q.String(), params)
	if err != nil {
		return false, storeErr(err)
	}

	return len(res.Rows) == 1, nil
}

// updateSets sets every property an update replaces, one by one. Not SET
// += with a map: on FalkorDB 4.16, a query that removes the vector
// property and another property keeps the vector and may remove an
// unrelated one (type); so a dropped vector leaves embedding_model ”
// and mnemo_vbytes 0 rather than removing them (STATUS.md).
var updateSets = func() string {
	var b strings.Builder
	for i, k := range []string{"content", "tags", "tag_prefixes", "tags_lower", "tags_text", "importance", "type",
		"confidence", "timestamp", "mnemo_ts", "t_valid", "updated_at", "last_accessed", "metadata", "archived", "mnemo_bytes"} {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "m.%s = row.p.%s", k, k)
	}
	b.WriteString(", m.t_invalid = row.ti")
	return b.String()
}()

// touchedIDs are the memories a write reads the state of.
func touchedIDs(create, update []*mnemo.Memory, relate []mnemo.Relation) []string {
	seen := map[string]bool{}
	var ids []string
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, m := range create {
		add(m.ID)
	}
	for _, m := range update {
		add(m.ID)
	}
	for _, r := range relate {
		add(r.From)
		add(r.To)
	}
	return ids
}

// write plans and applies until the plan meets the version it read.
func (s *Store) write(ctx context.Context, create, update []*mnemo.Memory, relate []mnemo.Relation, quotas mnemo.Quotas, o planOpts) (*change, mnemo.TenantStats, error) {
	ids := touchedIDs(create, update, relate)
	for attempt := 0; ; attempt++ {
		st, err := s.readState(ctx, ids, relate)
		if err != nil {
			return nil, mnemo.TenantStats{}, err
		}
		ch, err := s.plan(st, create, update, relate, o)
		if err != nil {
			return nil, mnemo.TenantStats{}, err
		}
		if err := quotas.Check(st.stats, ch.after); err != nil {
			return nil, mnemo.TenantStats{}, err
		}
		if ch.after == st.stats && ch.seq == st.seq && len(ch.updKeep)+len(ch.updSet)+len(ch.updDrop)+len(ch.rels) == 0 {
			return ch, mnemo.TenantStats{}, nil // nothing to write
		}
		ok, err := s.apply(ctx, st, ch)
		if err != nil {
			return nil, mnemo.TenantStats{}, err
		}
		if ok {
			a, b := ch.after, st.stats
			return ch, mnemo.TenantStats{Memories: a.Memories - b.Memories, Relations: a.Relations - b.Relations,
				Vectors: a.Vectors - b.Vectors, StoredBytes: a.StoredBytes - b.StoredBytes}, nil
		}
		if attempt >= maxAttempts {
			return nil, mnemo.TenantStats{}, mnemo.Errorf(mnemo.EUNAVAILABLE, "The memory store is busy; retry later")
		}
		// Lost a race: wait a little, more the more it loses.
		d := time.Duration(rand.IntN(1+min(attempt, 20))) * time.Millisecond
		select {
		case <-ctx.Done():
			return nil, mnemo.TenantStats{}, ctx.Err()
		case <-time.After(d):
		}
	}
}

// Write applies w in one query, gated on the counters' version.
func (s *Store) Write(ctx context.Context, w mnemo.Write, quotas mnemo.Quotas) (mnemo.TenantStats, error) {
	s.forgetTouches(w.Create)
	_, added, err := s.write(ctx, w.Create, w.Update, w.Relate, quotas, planOpts{})
	return added, err
}

// Import writes the memories whose ids are new and merges the relations,
// in one query, as Write does.
func (s *Store) Import(ctx context.Context, mems []*mnemo.Memory, rels []mnemo.Relation, quotas mnemo.Quotas) ([]string, int, error) {
	s.forgetTouches(mems)
	ch, _, err := s.write(ctx, mems, nil, rels, quotas, planOpts{importing: true})
	if err != nil {
		return nil, 0, err
	}
	created := ch.created
	if created == nil {
		created = []string{}
	}
	return created, ch.relsNew, nil
}
