package falkordb_test

import (
	"context"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/falkordb"
	"github.com/mnemohq/mnemo/internal/falkortest"
	"github.com/mnemohq/mnemo/internal/storetest"
)

// TestNearestUnscopedUsesTheIndexWithExactScores: an unscoped Nearest
// takes its candidates from the approximate vector index, so it is held
// here to brute force on more vectors than it over-fetches: its recall@10
// stays high, its scores are the exact cosine, and memories of another
// model never appear. (The contract's sets are too small to tell the index
// from the exact scan.)
func TestNearestUnscopedUsesTheIndexWithExactScores(t *testing.T) {
	ctx := context.Background()
	const dim, n, queries, limit = 128, 3000, 40, 10
	srv := falkortest.Start(t)
	c := falkordb.New(srv.Client())
	s, err := falkordb.OpenStore(ctx, c, "nearest", "m", dim)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	vec := func() []float32 {
		v := make([]float32, dim)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	vecs := map[string][]float32{}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for b := 0; b < n; b += 250 {
		var w mnemo.Write
		for i := b; i < b+250; i++ {
			m := &mnemo.Memory{ID: uuid.NewString(), Content: "memory", Timestamp: at, UpdatedAt: at, LastAccessed: at,
				Importance: 0.5, Confidence: 0.5, Tags: []string{}, Metadata: map[string]any{}, Embedding: vec(), EmbeddingModel: "m"}
			vecs[m.ID] = m.Embedding
			w.Create = append(w.Create, m)
		}
		if _, err := s.Write(ctx, w, mnemo.Quotas{}); err != nil {
			t.Fatal(err)
		}
	}
	// Vectors of another model, nearer than any: never a hit.
	other, err := falkordb.OpenStore(ctx, c, "nearest", "other", dim) // the same graph
	if err != nil {
		t.Fatal(err)
	}
	var found, want int
	for range queries {
		q := vec()
		var w mnemo.Write
		w.Create = append(w.Create, &mnemo.Memory{ID: uuid.NewString(), Content: "decoy", Timestamp: at, UpdatedAt: at, LastAccessed: at,
			Tags: []string{}, Metadata: map[string]any{}, Embedding: q, EmbeddingModel: "other"})
		if _, err := other.Write(ctx, w, mnemo.Quotas{}); err != nil {
			t.Fatal(err)
		}
		hits, err := s.Nearest(ctx, q, mnemo.Filter{}, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != limit {
			t.Fatalf("%d hits, want %d", len(hits), limit)
		}
		type scored struct {
			id    string
			score float64
		}
		var all []scored
		for id, v := range vecs {
			all = append(all, scored{id, storetest.Cosine(q, v)})
		}
		sort.Slice(all, func(i, j int) bool { return all[i].score > all[j].score })
		truth := map[string]bool{}
		for _, x := range all[:limit] {
			truth[x.id] = true
		}
		for _, h := range hits {
			v, ok := vecs[h.Memory.ID]
			if !ok {
				t.Fatalf("hit %s is not a memory of the store's model", h.Memory.ID)
			}
			if exact := storetest.Cosine(q, v); math.Abs(exact-h.Score) > 1e-5 {
				t.Fatalf("score %v, exact cosine %v", h.Score, exact)
			}
			if truth[h.Memory.ID] {
				found++
			}
		}
		want += limit
	}
	recall := float64(found) / float64(want)
	t.Logf("unscoped Nearest recall@%d over %d vectors of %d dims: %.3f", limit, n, dim, recall)
	if recall < 0.95 {
		t.Fatalf("recall@%d %.3f, want at least 0.95", limit, recall)
	}
}
