package mnemo

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestTagPrefixes(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"reference example", []string{"Project/AutoMem:api"}, []string{"project", "project:automem", "project:automem:api"}},
		{"plain tag", []string{"conversation_5"}, []string{"conversation_5"}},
		{"shared prefixes are deduplicated", []string{"a:b", "A:c"}, []string{"a", "a:b", "a:c"}},
		{"exact duplicates", []string{"x", "X", "x"}, []string{"x"}},
		{"empty segments are dropped", []string{"x//y", ":z:"}, []string{"x", "x:y", "z"}},
		{"first occurrence order", []string{"b", "a", "b:c"}, []string{"b", "a", "b:c"}},
		{"only separators", []string{"", "::", "/"}, []string{}},
		{"nil", nil, []string{}},
		{"spaces are kept inside segments", []string{"My Project:Team A"}, []string{"my project", "my project:team a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TagPrefixes(tt.in)
			if got == nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("TagPrefixes(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestMemoryMarshalJSON(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := &Memory{ID: "6f1c3f0e-8d2a-4b7e-9c1d-2a3b4c5d6e7f", Content: "c", Tags: []string{"A:b"}, Importance: 0.5,
		Type: "Context", Confidence: 0.6, Timestamp: ts, TValid: ts, UpdatedAt: ts, LastAccessed: ts.Add(1500 * time.Microsecond)}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id": m.ID, "content": "c", "tags": []any{"A:b"}, "tag_prefixes": []any{"a", "a:b"}, "importance": 0.5,
		"type": "Context", "confidence": 0.6, "timestamp": "2026-01-02T03:04:05+00:00", "t_valid": "2026-01-02T03:04:05+00:00",
		"t_invalid": nil, "updated_at": "2026-01-02T03:04:05+00:00", "last_accessed": "2026-01-02T03:04:05.001500+00:00",
		"metadata": map[string]any{}, "archived": false,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("MarshalJSON =\n %v\nwant\n %v", got, want)
	}
}
