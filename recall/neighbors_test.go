package recall_test

import (
	"math"
	"net/url"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/recall"
)

// A neighbour shares in its hit's match to the query, not in the hit's
// standing: an important hit does not lift an unimportant neighbour, and
// the neighbour keeps its own importance, confidence and recency. So a
// store where every memory stands the same ranks as one where none does.
func TestRecallNeighbourSharesMatchNotStanding(t *testing.T) {
	f := newFixture(t)
	session := withMeta(map[string]any{"session_id": "trip"})
	f.add(1, "Caroline: what was your favourite camping trip?", age(5*day), importance(1), session)
	f.add(2, "Melanie: the lake, we watched the Perseids", age(5*day-time.Minute), importance(0.2), session)

	cfg := recall.DefaultConfig
	cfg.Weights.Importance, cfg.Weights.Confidence, cfg.Weights.Recency = 0.3, 0.05, 0.1
	cfg.ContextWindow, cfg.ContextWeight = 1, 0.5
	q, err := recall.ParseQuery(url.Values{"query": {"favourite camping trip"}, "adaptive_floor": {"false"}}, cfg, mnemo.DefaultLimits, f.emb.Dim(), now)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&recall.Recaller{Config: cfg, Embedder: f.emb}).Run(f.ctx, f.store, q)
	if err != nil {
		t.Fatal(err)
	}
	hit, nb := rowOf(resp, 1), rowOf(resp, 2)
	if hit == nil || nb == nil || nb.ContextOf != id(1) {
		t.Fatalf("want memory 2 as the neighbour of 1; got %s", scores(resp))
	}
	w := cfg.Weights
	standing := func(c recall.Components) float64 {
		return w.Importance*c.Importance + w.Confidence*c.Confidence + w.Recency*c.Recency
	}
	share := cfg.ContextWeight * (hit.FinalScore - standing(hit.Components))
	if nb.Components.Neighbor == nil || math.Abs(*nb.Components.Neighbor-share) > 1e-9 {
		t.Errorf("neighbor component %v, want %v: the share of the hit's match", nb.Components.Neighbor, share)
	}
	if want := share + standing(nb.Components); math.Abs(nb.FinalScore-want) > 1e-9 {
		t.Errorf("neighbour's final score %v, want %v: the share plus its own standing", nb.FinalScore, want)
	}
	// Had it shared in the hit's score, importance 1 would have passed on.
	if shared := cfg.ContextWeight * hit.FinalScore; math.Abs(nb.FinalScore-shared) < 1e-6 {
		t.Errorf("neighbour scored %v, the share of the hit's whole score", nb.FinalScore)
	}
}
