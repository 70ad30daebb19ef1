package falkordb

// The memory store of one tenant on FalkorDB: the tenant's graph
// "memories_<id>" holds (:Memory) nodes with AutoMem's properties and its
// typed relationships between them, plus one (:MnemoCounters) node that
// mnemo keeps in the same query as every write (GRAPH.MEMORY USAGE is
// rounded to megabytes, too coarse for quotas). Properties mnemo adds to a
// :Memory, beside AutoMem's: tags_lower and tags_text (the tags lower-cased
// by Go, for filters, and as text, for the full-text index), embedding
// (vecf32) and embedding_model ('' once a vector was dropped), mnemo_ts
// (the timestamp in microseconds since 1970: time filters and orders),
// mnemo_seq (the order of storing: Adjacent's ties and snapshots),
// mnemo_bytes and mnemo_vbytes (what the node and its vector cost in the
// byte counter). Edges carry strength and
// updated_at (AutoMem's), the scalar extra properties (so AutoMem's Cypher
// reads them), mnemo_props (all of them as JSON: the ones read back) and
// mnemo_bytes.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mnemohq/mnemo"
)

// Store is one tenant's mnemo.MemoryStore on its graph.
type Store struct {
	// g is the graph; Stores.Drop points a store still held at the
	// dropped graph's new name, so requests in flight finish on it.
	g     atomic.Pointer[Graph]
	model string
	dim   int
}

func (s *Store) graph() *Graph { return s.g.Load() }

var _ mnemo.MemoryStore = (*Store)(nil)

// GraphName is the graph of a tenant, as AutoMem names it.
func GraphName(tenantID string) string { return "memories_" + tenantID }

// OpenStore returns the store of tenantID for the embedding model of dim
// dimensions, creating its graph, indexes and counters when they are
// missing. c's client must not retry commands (MaxRetries -1): a graph
// write retried after a lost reply would apply twice.
func OpenStore(ctx context.Context, c *Client, tenantID, model string, dim int) (*Store, error) {
	s := newStore(c.Graph(GraphName(tenantID)), model, dim)
	if err := s.ensureSchema(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func newStore(g *Graph, model string, dim int) *Store {
	s := &Store{model: model, dim: dim}
	s.g.Store(g)
	return s
}

// Graph is the tenant's graph.
func (s *Store) Graph() *Graph { return s.graph() }

// ensureSchema creates the counters node and the indexes a graph lacks.
// Creating an index twice is an error in FalkorDB, so db.indexes() is read
// first.
func (s *Store) ensureSchema(ctx context.Context) error {
	if _, err := s.graph().Query(ctx, `MERGE (c:MnemoCounters) ON CREATE SET c.version = 0, c.memories = 0, c.relations = 0,
		c.vectors = 0, c.bytes = 0, c.seq = 0`, nil); err != nil {
		return storeErr(err)
	}
	res, err := s.graph().ROQuery(ctx, `CALL db.indexes() YIELD label, properties, types RETURN label, properties, types`, nil)
	if err != nil {
		return storeErr(err)
	}
	have := map[string]bool{} // "field/TYPE" of :Memory
	for _, row := range res.Rows {
		if row[0] != "Memory" {
			continue
		}
		types, _ := row[2].(map[string]any)
		for field, ts := range types {
			list, _ := ts.([]any)
			for _, t := range list {
				have[field+"/"+fmt.Sprint(t)] = true
			}
		}
	}
	for _, field := range []string{"id", "tag_prefixes", "timestamp", "mnemo_ts"} {
		if !have[field+"/RANGE"] {
			if _, err := s.graph().Query(ctx, "CREATE INDEX FOR (m:Memory) ON (m."+field+")", nil); err != nil {
				return storeErr(err)
			}
		}
	}
	if !have["embedding/VECTOR"] && s.dim > 0 {
		// Unscoped recall asks it for candidates (Nearest); M and
		// efConstruction are FalkorDB's defaults, efRuntime raised from 10,
		// which gave recall@10 of 0.23-0.52 (TestProbeVectorIndex).
		if _, err := s.graph().Query(ctx, fmt.Sprintf(`CREATE VECTOR INDEX FOR (m:Memory) ON (m.embedding)
			OPTIONS {dimension: %d, similarityFunction: 'cosine', M: 16, efConstruction: 200, efRuntime: %d}`, s.dim, vectorEfRuntime), nil); err != nil {
			return storeErr(err)
		}
	}
	if !have["content/FULLTEXT"] {
		if _, err := s.graph().Query(ctx, `CALL db.idx.fulltext.createNodeIndex('Memory', 'content', 'tags_text')`, nil); err != nil {
			return storeErr(err)
		}
	}
	return nil
}

// storeErr maps the adapter's errors to mnemo's: a server that cannot
// answer now is EUNAVAILABLE (a 503 with Retry-After); everything else is
// internal, its cause kept in the chain for the log.
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	var me *mnemo.Error
	if errors.As(err, &me) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrOutOfMemory) {
		return fmt.Errorf("%w: %w", &mnemo.Error{Code: mnemo.EUNAVAILABLE, RetryAfter: time.Second,
			Message: "The memory store is unavailable; retry later"}, err)
	}
	return err
}

func notFound() error { return mnemo.Errorf(mnemo.ENOTFOUND, "Memory not found") }

// memoryReturn projects the fields decodeMemory reads, and not the vector:
// properties(m) would build every row's vector (768 floats) for the reply,
// and for every row a scan visits before its ORDER BY ... LIMIT, which made
// recall at 10k memories 10-30 times slower (bench load --backend both).
const memoryReturn = `m {.id, .content, .type, .importance, .confidence, .archived, .tags, .timestamp, .t_valid, .t_invalid, .updated_at, .last_accessed, .metadata}`

// nodeProps are the properties a memory is stored with, vector aside.
// t_invalid is nil when unset: SET += removes it.
func (s *Store) nodeProps(m *mnemo.Memory) (map[string]any, int64, error) {
	tags := m.Tags
	if tags == nil {
		tags = []string{}
	}
	meta := m.Metadata
	if meta == nil {
		meta = map[string]any{}
	}
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return nil, 0, fmt.Errorf("falkordb: metadata of %s: %w", m.ID, err)
	}
	lower := make([]string, len(tags))
	for i, t := range tags {
		lower[i] = strings.ToLower(t)
	}
	prefixes := mnemo.TagPrefixes(tags)
	var tInvalid any
	if m.TInvalid != nil {
		tInvalid = mnemo.FormatTime(*m.TInvalid)
	}
	p := map[string]any{
		"id": m.ID, "content": m.Content, "tags": tags, "tag_prefixes": prefixes, "tags_lower": lower,
		"tags_text": strings.Join(tags, " "), "importance": m.Importance, "type": m.Type, "confidence": m.Confidence,
		"timestamp": mnemo.FormatTime(m.Timestamp), "t_valid": mnemo.FormatTime(m.TValid), "t_invalid": tInvalid,
		"updated_at": mnemo.FormatTime(m.UpdatedAt), "last_accessed": mnemo.FormatTime(m.LastAccessed),
		"metadata": string(metaJSON), "archived": m.Archived,
		"mnemo_ts": m.Timestamp.UTC().Truncate(time.Microsecond).UnixMicro(),
	}
	// The cost model: every string the node and its indexes hold (content
	// twice: the property and the full-text index; tags three times: the
	// list, the lower-cased list and the text), plus a fixed part for the
	// numbers, times and the node itself.
	n := int64(len(m.ID)+2*len(m.Content)+len(m.Type)+len(metaJSON)) + 160
	for _, t := range tags {
		n += int64(3*len(t)) + 16
	}
	for _, t := range prefixes {
		n += int64(len(t)) + 16
	}
	p["mnemo_bytes"] = n
	return p, n, nil
}

// vectorBytes is what a vector costs in the byte counter.
func vectorBytes(v []float32, model string) int64 { return int64(4*len(v)+len(model)) + 8 }

// relationProps are the properties an edge is stored with, and its cost.
func relationProps(r mnemo.Relation) (map[string]any, int64, error) {
	props := r.Props
	if props == nil {
		props = map[string]any{}
	}
	js, err := json.Marshal(props)
	if err != nil {
		return nil, 0, fmt.Errorf("falkordb: relation properties: %w", err)
	}
	p := map[string]any{}
	for k, v := range props {
		switch v.(type) {
		case string, bool, float64, int64, int:
			if k != "" && !strings.ContainsAny(k, "`\x00") && !strings.HasPrefix(k, "mnemo_") {
				p[k] = v
			}
		}
	}
	n := int64(len(r.Type)+len(js)) + 64
	p["strength"] = r.Strength
	p["updated_at"] = mnemo.FormatTime(r.UpdatedAt)
	p["mnemo_props"] = string(js)
	p["mnemo_bytes"] = n
	return p, n, nil
}

// decodeMemory reads memoryReturn (or properties(m)).
func decodeMemory(v any) (*mnemo.Memory, error) {
	p, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("falkordb: memory properties %T", v)
	}
	m := &mnemo.Memory{Tags: []string{}, Metadata: map[string]any{}}
	m.ID, _ = p["id"].(string)
	m.Content, _ = p["content"].(string)
	m.Type, _ = p["type"].(string)
	m.Importance = num(p["importance"])
	m.Confidence = num(p["confidence"])
	m.Archived, _ = p["archived"].(bool)
	if list, ok := p["tags"].([]any); ok {
		for _, t := range list {
			if s, ok := t.(string); ok {
				m.Tags = append(m.Tags, s)
			}
		}
	}
	var err error
	for _, f := range []struct {
		key string
		dst *time.Time
	}{{"timestamp", &m.Timestamp}, {"t_valid", &m.TValid}, {"updated_at", &m.UpdatedAt}, {"last_accessed", &m.LastAccessed}} {
		if s, ok := p[f.key].(string); ok {
			if *f.dst, err = mnemo.ParseTime(s); err != nil {
				return nil, fmt.Errorf("falkordb: memory %s %s: %w", m.ID, f.key, err)
			}
		}
	}
	if s, ok := p["t_invalid"].(string); ok {
		t, err := mnemo.ParseTime(s)
		if err != nil {
			return nil, fmt.Errorf("falkordb: memory %s t_invalid: %w", m.ID, err)
		}
		m.TInvalid = &t
	}
	if s, ok := p["metadata"].(string); ok && s != "" {
		if err := json.Unmarshal([]byte(s), &m.Metadata); err != nil {
			return nil, fmt.Errorf("falkordb: memory %s metadata: %w", m.ID, err)
		}
		if m.Metadata == nil {
			m.Metadata = map[string]any{}
		}
	}
	return m, nil
}

// withVector sets the memory's vector from its properties.
func withVector(m *mnemo.Memory, v any) {
	p, _ := v.(map[string]any)
	if vec, ok := p["embedding"].([]float32); ok {
		m.Embedding = vec
		m.EmbeddingModel, _ = p["embedding_model"].(string)
	}
}

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	}
	return 0
}

func integer(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case float64:
		return int64(x)
	}
	return 0
}

// decodeRelation reads an edge's ends, type and properties(r).
func decodeRelation(from, typ, to, props any) (mnemo.Relation, error) {
	r := mnemo.Relation{Props: map[string]any{}}
	r.From, _ = from.(string)
	r.To, _ = to.(string)
	t, _ := typ.(string)
	r.Type = mnemo.RelationType(t)
	p, _ := props.(map[string]any)
	r.Strength = num(p["strength"])
	if s, ok := p["updated_at"].(string); ok {
		var err error
		if r.UpdatedAt, err = mnemo.ParseTime(s); err != nil {
			return r, fmt.Errorf("falkordb: relation updated_at: %w", err)
		}
	}
	if s, ok := p["mnemo_props"].(string); ok && s != "" {
		if err := json.Unmarshal([]byte(s), &r.Props); err != nil {
			return r, fmt.Errorf("falkordb: relation properties: %w", err)
		}
		if r.Props == nil {
			r.Props = map[string]any{}
		}
	}
	return r, nil
}

// countersCypher reads the counters node; countersFromRow reads its row.
// The registry sends it too, for tenant stats.
const countersCypher = `MATCH (c:MnemoCounters) RETURN c.memories, c.relations, c.vectors, c.bytes, c.version, c.seq`

func countersFromRow(r []any) (st mnemo.TenantStats, version, seq int64) {
	st = mnemo.TenantStats{Memories: integer(r[0]), Relations: integer(r[1]), Vectors: integer(r[2]), StoredBytes: integer(r[3])}
	return st, integer(r[4]), integer(r[5])
}

// counters reads the counters node.
func (s *Store) counters(ctx context.Context) (st mnemo.TenantStats, version, seq int64, err error) {
	res, err := s.graph().ROQuery(ctx, countersCypher, nil)
	if err != nil {
		return st, 0, 0, storeErr(err)
	}
	if len(res.Rows) != 1 {
		return st, 0, 0, fmt.Errorf("falkordb: %s has %d counter nodes, want 1", s.graph().Name(), len(res.Rows))
	}
	st, version, seq = countersFromRow(res.Rows[0])
	return st, version, seq, nil
}

// Stats returns the counters mnemo keeps in the graph. StorageBytes is
// FalkorDB's own figure, in whole megabytes.
func (s *Store) Stats(ctx context.Context) (mnemo.TenantStats, error) {
	st, _, _, err := s.counters(ctx)
	if err != nil {
		return st, err
	}
	if v, err := s.graph().c.rdb.Do(ctx, "GRAPH.MEMORY", "USAGE", s.graph().Name()).Result(); err == nil {
		st.StorageBytes = storageBytes(memoryUsageMB(v), st.StoredBytes)
	}
	return st, nil
}

// storageBytes is a graph's size from FalkorDB's accounting, which counts
// whole megabytes rounded down; a graph under one megabyte is given
// mnemo's own count of its stored bytes instead of 0.
func storageBytes(mb, stored int64) int64 {
	if mb > 0 {
		return mb << 20
	}
	return stored
}

// memoryUsageMB reads total_graph_sz_mb from GRAPH.MEMORY USAGE's reply
// (a map in RESP3, a flat list in RESP2).
func memoryUsageMB(v any) int64 {
	switch x := v.(type) {
	case map[any]any:
		return integer(x["total_graph_sz_mb"])
	case []any:
		for i := 0; i+1 < len(x); i += 2 {
			if x[i] == "total_graph_sz_mb" {
				return integer(x[i+1])
			}
		}
	}
	return 0
}
