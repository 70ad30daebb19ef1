package mnemo

import (
	"encoding/json"
	"net/url"
	"reflect"
	"testing"
	"time"
)

// The findings of issue 10's sweep: each was accepted and is now refused
// naming the field, on every path that takes the field.
func TestInputRulesRefuse(t *testing.T) {
	with := func(k string, v any) map[string]any { return map[string]any{"content": "valid", k: v} }
	for _, tt := range []struct {
		name string
		body map[string]any
		want string
	}{
		{"empty tag", with("tags", []any{"a", ""}), "'tags' item at index 1 must not be empty"},
		{"blank tag", with("tags", []any{"  "}), "'tags' item at index 0 must not be empty"},
		{"empty tag string", with("tags", ""), "'tags' item at index 0 must not be empty"},
		{"NUL in a tag", with("tags", []any{"a\x00b"}), "'tags' item at index 0 must not contain NUL characters (\\u0000)"},
		{"invalid UTF-8 in a tag", with("tags", []any{"ok", "\xff"}), "'tags' item at index 1 must be valid UTF-8"},
		{"NUL in content", map[string]any{"content": "a\x00b"}, "'content' must not contain NUL characters (\\u0000)"},
		{"invalid UTF-8 in content", map[string]any{"content": "a\xc3"}, "'content' must be valid UTF-8"},
		{"NUL in type", with("type", "Deci\x00sion"), "'type' must not contain NUL characters (\\u0000)"},
		{"NUL in a metadata value", with("metadata", map[string]any{"a": map[string]any{"b": []any{"x", "\x00"}}}), "'metadata.a.b[1]' must not contain NUL characters (\\u0000)"},
		{"NUL in a metadata key", with("metadata", map[string]any{"a\x00": 1.0}), "a key in 'metadata' must not contain NUL characters (\\u0000)"},
		{"garbage confidence without a type", with("confidence", "very"), "'confidence' must be a number"},
		{"confidence out of range without a type", with("confidence", 5.0), "'confidence' must be between 0 and 1"},
		{"NaN as a numeric string", with("importance", "NaN"), "'importance' must be a number"},
		{"t_invalid before t_valid", map[string]any{"content": "x", "t_valid": "2025-01-02", "t_invalid": "2025-01-01"},
			"'t_invalid' (2025-01-01T00:00:00+00:00) must not be before 't_valid' (2025-01-02T00:00:00+00:00)"},
		{"t_invalid before the timestamp t_valid follows", map[string]any{"content": "x", "timestamp": "2025-01-02", "t_invalid": "2025-01-01"},
			"'t_invalid' (2025-01-01T00:00:00+00:00) must not be before 't_valid' (2025-01-02T00:00:00+00:00)"},
		{"year 0", with("t_valid", "0000-06-01"), `Invalid t_valid: Invalid ISO timestamp "0000-06-01"`},
		{"year 10000", with("updated_at", "10000-01-01"), `Invalid updated_at: Invalid ISO timestamp "10000-01-01"`},
		{"year 0 by the offset", with("timestamp", "0001-01-01T00:00:00+01:00"), `Invalid ISO timestamp: 'timestamp' must be ISO 8601, got "0001-01-01T00:00:00+01:00"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewMemory(tt.body, inputNow, testLim, 3)
			wantErr(t, err, tt.want)
			_, err = NewBatchMemory(tt.body, 2, inputNow, testLim, 3)
			if ErrorCode(err) != EINVALID || ErrorMessage(err)[:len("Memory at index 2")] != "Memory at index 2" {
				t.Errorf("batch: %v", err)
			}
		})
	}
}

func TestInputRulesLeniency(t *testing.T) {
	// AutoMem's float() takes a number sent as a string.
	m, err := NewMemory(map[string]any{"content": "x", "importance": " 0.8 ", "type": "Decision", "confidence": "0.25"}, inputNow, testLim, 3)
	if err != nil || m.Importance != 0.8 || m.Confidence != 0.25 {
		t.Errorf("numeric strings: %+v, %v", m, err)
	}
	// t_invalid equal to t_valid is a memory valid for no time at all, not a contradiction.
	if _, err := NewMemory(map[string]any{"content": "x", "t_valid": "2025-01-01", "t_invalid": "2025-01-01"}, inputNow, testLim, 3); err != nil {
		t.Errorf("t_invalid = t_valid: %v", err)
	}
	// A U+FFFD the client meant is text like any other.
	if _, err := NewMemory(map[string]any{"content": "\ufffd", "tags": []any{"\ufffd"}}, inputNow, testLim, 3); err != nil {
		t.Errorf("U+FFFD: %v", err)
	}
}

// PATCH {"tags": 5} answered 200 and wiped the tags; any wrong type is now
// refused, while AutoMem's comma-split string stays.
func TestApplyPatchTagsRule(t *testing.T) {
	for _, tt := range []struct {
		tags any
		want string
	}{
		{5.0, "'tags' must be a list of strings or a single string"},
		{true, "'tags' must be a list of strings or a single string"},
		{map[string]any{}, "'tags' must be a list of strings or a single string"},
		{[]any{"x", 5.0}, "'tags' must be a list of strings or a single string"},
		{[]any{"x", nil}, "'tags' must be a list of strings or a single string"},
		{[]any{""}, "'tags' item at index 0 must not be empty"},
		{"a,\x00", "'tags' item at index 1 must not contain NUL characters (\\u0000)"},
	} {
		m := patchBase()
		_, err := ApplyPatch(m, map[string]any{"tags": tt.tags}, testLim, 3)
		wantErr(t, err, tt.want)
		if !reflect.DeepEqual(m.Tags, []string{"old"}) {
			t.Errorf("tags %v: the memory's tags became %v", tt.tags, m.Tags)
		}
	}
	for _, tt := range []struct {
		tags any
		want []string
	}{{"a, b,,c", []string{"a", "b", "c"}}, {",", []string{}}, {nil, []string{}}, {[]any{"x", "Y"}, []string{"x", "Y"}}} {
		m := patchBase()
		if _, err := ApplyPatch(m, map[string]any{"tags": tt.tags}, testLim, 3); err != nil || !reflect.DeepEqual(m.Tags, tt.want) {
			t.Errorf("tags %#v: %#v, %v; want %#v", tt.tags, m.Tags, err, tt.want)
		}
	}
}

func TestApplyPatchValidity(t *testing.T) {
	m := patchBase() // t_valid 2025-01-01
	_, err := ApplyPatch(m, map[string]any{"t_valid": "2025-01-01", "t_invalid": "2024-12-31T23:59:59Z"}, testLim, 3)
	wantErr(t, err, "'t_invalid' (2024-12-31T23:59:59+00:00) must not be before 't_valid' (2025-01-01T00:00:00+00:00)")
	// One end alone is not held against the stored other: AutoMem's bridge
	// supersedes by a PATCH of t_invalid (now), also of a memory valid from
	// a future date; and a memory stored before the rule can still be
	// updated otherwise.
	for _, body := range []map[string]any{{"t_invalid": "2024-12-31T23:59:59Z"}, {"t_valid": "2026-07-01"}, {"importance": 0.9}} {
		m = patchBase()
		m.TInvalid = ptrTime(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
		if _, err := ApplyPatch(m, body, testLim, 3); err != nil {
			t.Errorf("PATCH %v: %v", body, err)
		}
	}
	m = patchBase()
	if _, err := ApplyPatch(m, map[string]any{"t_invalid": "2024-12-31T23:59:59Z"}, testLim, 3); err != nil || m.TInvalid == nil || m.TInvalid.Year() != 2024 {
		t.Errorf("supersede of a memory valid from a later date: %+v, %v", m.TInvalid, err)
	}
}

func ptrTime(t time.Time) *time.Time { return &t }

// An import restores what was stored, which a supersede (or data stored
// before the rule) may leave with t_invalid before t_valid: it must import.
func TestImportKeepsValidityAsStored(t *testing.T) {
	m, err := ImportMemory(map[string]any{"id": "66666666-6666-4666-8666-666666666666", "content": "x", "t_valid": "2025-01-02", "t_invalid": "2025-01-01"}, 2, testLim, inputNow)
	if err != nil || m.TInvalid == nil || !m.TInvalid.Before(m.TValid) {
		t.Errorf("import: %+v, %v", m, err)
	}
	// With neither t_valid nor timestamp, t_valid is now: a t_invalid in the
	// past stores a fact that is already over, as AutoMem's clients do.
	m, err = NewMemory(map[string]any{"content": "x", "t_invalid": "2020-01-01"}, inputNow, testLim, 3)
	if err != nil || !m.TValid.Equal(inputNow) || m.TInvalid == nil || m.TInvalid.Year() != 2020 {
		t.Errorf("an already expired memory: %+v, %v", m, err)
	}
}

// 0001-01-01 showed as "" and the tenant's export then failed to import.
func TestYearOneRoundTrips(t *testing.T) {
	m, err := NewMemory(map[string]any{"content": "x", "timestamp": "0001-01-01", "t_invalid": "9999-12-31T23:59:59.999999Z"}, inputNow, testLim, 3)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := m.MarshalJSON()
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	if obj["timestamp"] != "0001-01-01T00:00:00+00:00" || obj["t_invalid"] != "9999-12-31T23:59:59.999999+00:00" {
		t.Errorf("shown as %v and %v", obj["timestamp"], obj["t_invalid"])
	}
	back, err := ImportMemory(obj, 2, testLim, inputNow)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Timestamp.Equal(m.Timestamp) || !back.TValid.Equal(m.TValid) || !back.TInvalid.Equal(*m.TInvalid) {
		t.Errorf("imported %v %v %v, want %v %v %v", back.Timestamp, back.TValid, back.TInvalid, m.Timestamp, m.TValid, m.TInvalid)
	}
}

func TestCheckJSONText(t *testing.T) {
	for _, tt := range []struct{ raw, want string }{
		{`{"content":"a \ud83d\ude00 pair"}`, ""},
		{`{"content":"\ufffd meant"}`, ""},
		{`{"content":"an escaped \\ud800 backslash"}`, ""},
		{`{"content":"\u00e9\n\t\"\\"}`, ""},
		{`{"content":"lone \ud800"}`, `'content' must not contain a lone UTF-16 surrogate (\ud800)`},
		{`{"content":"lone \uDC00 low"}`, `'content' must not contain a lone UTF-16 surrogate (\udc00)`},
		{`{"content":"high then high \ud800\ud800"}`, `'content' must not contain a lone UTF-16 surrogate (\ud800)`},
		{`{"content":"high at the end \udbff"}`, `'content' must not contain a lone UTF-16 surrogate (\udbff)`},
		{`{"content":"nul \u0000"}`, `'content' must not contain NUL characters (\u0000)`},
		{"{\"content\":\"bad \xff byte\"}", `'content' must be valid UTF-8`},
		{`{"content":"x","tags":["ok","\ud800"]}`, `'tags[1]' must not contain a lone UTF-16 surrogate (\ud800)`},
		{`{"memories":[{"content":"x"},{"content":"y","metadata":{"a":{"b":"\u0000"}}}]}`, `'memories[1].metadata.a.b' must not contain NUL characters (\u0000)`},
		{`{"metadata":{"k\ud800":1}}`, `a key in 'metadata' must not contain a lone UTF-16 surrogate (\ud800)`},
		{`{"k\u0000":1}`, `a key of the body must not contain NUL characters (\u0000)`},
		{`"\ud800"`, `the body must not contain a lone UTF-16 surrogate (\ud800)`},
		{`{"a":[1,{"b":2},"\u0000"]}`, `'a[2]' must not contain NUL characters (\u0000)`},
		{`{"broken": "\ud800`, ""}, // not JSON: the decoder's to report
	} {
		err := CheckJSONText([]byte(tt.raw))
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.raw, err)
			}
			continue
		}
		wantErr(t, err, tt.want)
	}
}

func TestCheckQuery(t *testing.T) {
	if err := CheckQuery(url.Values{"query": {"café \ufffd"}, "tags": {"a", "b"}}); err != nil {
		t.Error(err)
	}
	wantErr(t, CheckQuery(url.Values{"tags": {"a", "b\xff"}}), "'tags' must be valid UTF-8")
	wantErr(t, CheckQuery(url.Values{"query": {"a\x00"}}), "'query' must not contain NUL characters (\\u0000)")
	wantErr(t, CheckQuery(url.Values{"q\xff": {"a"}}), "a query parameter name must be valid UTF-8")
}

// AutoMem's PATCH ignored an embedding; it is the memory's vector, checked
// as a store's.
func TestApplyPatchEmbedding(t *testing.T) {
	m := patchBase()
	_, err := ApplyPatch(m, map[string]any{"embedding": []any{1.0, 2.0}}, testLim, 3)
	wantErr(t, err, "Embedding must contain exactly 3 values")
	if m.Embedding != nil {
		t.Errorf("a refused embedding was applied: %v", m.Embedding)
	}
	changed, err := ApplyPatch(m, map[string]any{"embedding": "1, 2, 3"}, testLim, 3)
	if err != nil || changed || !reflect.DeepEqual(m.Embedding, []float32{1, 2, 3}) {
		t.Errorf("embedding patch: %v, %v, %v", m.Embedding, changed, err)
	}
}

// A relation's properties are text like a memory's metadata, on
// /associate (and the MCP tool) and on import.
func TestRelationPropertiesText(t *testing.T) {
	a, b := "66666666-6666-4666-8666-666666666666", "77777777-7777-4777-8777-777777777777"
	_, _, err := ParseAssociation(map[string]any{"memory1_id": a, "memory2_id": b, "type": "PREFERS_OVER", "reason": "a\x00"}, testLim, inputNow)
	wantErr(t, err, "'reason' must not contain NUL characters (\\u0000)")
	_, err = ImportRelation(map[string]any{"memory1_id": a, "memory2_id": b, "type": "PREFERS_OVER", "properties": map[string]any{"reason": json.Number("1e999")}}, 3, testLim, inputNow)
	wantErr(t, err, "line 3: 'properties.reason' must be a finite number within the range of a 64-bit float (got 1e999)")
}
