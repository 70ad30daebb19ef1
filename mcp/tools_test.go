package mcp

import (
	"net/url"
	"reflect"
	"testing"
)

// recall_memory's arguments become /recall's query string as the npm
// bridge sends them: lists repeated, the embedding comma-joined, unset
// fields left out, and the tool-only fields dropped.
func TestRecallArgsQuery(t *testing.T) {
	yes, half := true, 0.5
	a := RecallArgs{Query: "db choice", Limit: 7, Tags: []string{"a", "b"}, Queries: []string{"x", "y"},
		Embedding: []float64{0.25, -1}, ExpandRelations: &yes, MinScore: &half, Format: "detailed", Offset: 3}
	want := url.Values{"query": {"db choice"}, "limit": {"7"}, "tags": {"a", "b"}, "queries": {"x", "y"},
		"embedding": {"0.25,-1"}, "expand_relations": {"true"}, "min_score": {"0.5"}}
	if got := a.query(); !reflect.DeepEqual(got, want) {
		t.Fatalf("query = %v, want %v", got, want)
	}
}

func TestDescribe(t *testing.T) {
	m := map[string]any{"id": "m1", "type": "Decision", "timestamp": "2026-01-02T03:04:05+00:00",
		"tags": []any{"z", "a"}, "content": "We chose Go"}
	if got, want := describe(m), "m1 (Decision, 2026-01-02) [a, z]: We chose Go"; got != want {
		t.Fatalf("describe = %q, want %q", got, want)
	}
}
