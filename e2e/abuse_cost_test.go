package e2e

import (
	"fmt"
	"testing"
	"time"
)

// Every tenant request has a time budget (MNEMO_REQUEST_TIMEOUT): past it,
// the store and recall stop working on it and it answers 503. With a budget
// of a nanosecond every request runs out, and none stores anything.
func TestAbuseRequestTimeBudget(t *testing.T) {
	t.Parallel()
	s := Start(t, map[string]string{"MNEMO_REQUEST_TIMEOUT": "1ns"})
	const token = "budget-abuse-token-0123456789"
	mcTenant(t, s, "b", token)
	s.As(token, "POST", "/memory", map[string]any{"content": "never stored"}).ExpectError(t, 503, "ran out of time")
	s.As(token, "GET", "/recall"+Q("query", "anything"), nil).ExpectError(t, 503, "ran out of time")
	mcExpectCount(t, s, "b", 0)
	s.ExpectUp(t)
}

// /related on a dense graph reads a bounded number of relations: it once
// took 3 CPU seconds per call, running past the write timeout.
func TestAbuseDenseGraphRelated(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	const token = "dense-abuse-token-0123456789"
	mcTenant(t, s, "d", token)
	batch := func(prefix string, n int) []string {
		items := make([]any, n)
		for i := range items {
			items[i] = map[string]any{"content": fmt.Sprintf("%s %d", prefix, i)}
		}
		r := s.As(token, "POST", "/memory/batch", map[string]any{"memories": items}).Expect(t, 201)
		var ids []string
		for _, id := range r.Body["memory_ids"].([]any) {
			ids = append(ids, id.(string))
		}
		return ids
	}
	hub := batch("hub", 1)[0]
	var rels []any
	relate := func() {
		s.As(token, "POST", "/associate", map[string]any{"associations": rels}).Expect(t, 201)
		rels = nil
	}
	for i, spoke := range batch("spoke", 60) {
		rels = append(rels, map[string]any{"memory1_id": hub, "memory2_id": spoke, "type": "RELATES_TO"})
		for _, leaf := range batch(fmt.Sprintf("leaf of %d", i), 60) {
			rels = append(rels, map[string]any{"memory1_id": spoke, "memory2_id": leaf, "type": "RELATES_TO"})
		}
		if len(rels) >= 400 {
			relate()
		}
	}
	relate()

	cpu := s.CPU(t)
	for range 20 {
		r := s.As(token, "GET", "/memories/"+hub+"/related"+Q("max_depth", "3", "limit", "200"), nil).Expect(t, 200)
		if n := len(r.Body["related_memories"].([]any)); n != 200 {
			t.Fatalf("/related found %d memories, want 200", n)
		}
	}
	// About 0.4 s here; without the budget, 5.7 s.
	if used := s.CPU(t) - cpu; used > 2*time.Second {
		t.Fatalf("20 deep /related calls on a dense graph used %v of CPU", used)
	}
}
