package mnemo

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// nested is an object n levels deep: {} is 1, {"a":{}} is 2.
func nested(n int) map[string]any {
	obj := map[string]any{}
	for range n - 1 {
		obj = map[string]any{"a": obj}
	}
	return obj
}

// metadataOf is metadata of exactly n bytes as JSON: {"k":"xxx..."}.
func metadataOf(n int) map[string]any {
	return map[string]any{"k": strings.Repeat("x", n-8)}
}

// segmented is a tag of n ':'-separated segments.
func segmented(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("s%d", i)
	}
	return strings.Join(parts, ":")
}

func manyTags(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = fmt.Sprintf("tag%d", i)
	}
	return out
}

// inputPaths run one set of fields through each way a memory arrives, and
// say how that way prefixes a message.
var inputPaths = []struct {
	name   string
	prefix string
	run    func(fields map[string]any) error
}{
	{"store", "", func(f map[string]any) error {
		_, err := NewMemory(withContent(f), inputNow, testLim, 3)
		return err
	}},
	{"batch", "Memory at index 4: ", func(f map[string]any) error {
		_, err := NewBatchMemory(withContent(f), 4, inputNow, testLim, 3)
		return err
	}},
	{"update", "", func(f map[string]any) error {
		m := patchBase()
		before := *m
		_, err := ApplyPatch(m, f, testLim, 3)
		if err != nil && !reflect.DeepEqual(*m, before) {
			return fmt.Errorf("a refused patch changed the memory: %+v", *m)
		}
		return err
	}},
	{"import", "line 7: ", func(f map[string]any) error {
		obj := withContent(f)
		obj["id"] = "6f1c3f0e-8d2a-4b7e-9c1d-2a3b4c5d6e7f"
		_, err := ImportMemory(obj, 7, testLim, inputNow)
		return err
	}},
}

func withContent(f map[string]any) map[string]any {
	out := map[string]any{"content": "fine content"}
	for k, v := range f {
		out[k] = v
	}
	return out
}

// TestMemoryBounds: every bound of a memory's fields refuses one past it
// with the same message on every path, and accepts exactly the limit.
func TestMemoryBounds(t *testing.T) {
	for _, c := range []struct {
		name     string
		ok, over map[string]any
		want     string
	}{
		{"tags count", map[string]any{"tags": manyTags(50)}, map[string]any{"tags": manyTags(51)},
			"'tags' may hold at most 50 tags per memory (got 51)"},
		{"tag bytes", map[string]any{"tags": []any{"a", strings.Repeat("é", 128)}}, map[string]any{"tags": []any{"a", strings.Repeat("é", 128) + "x"}},
			"'tags' item at index 1 must be at most 256 bytes (got 257)"},
		{"tag segments", map[string]any{"tags": []any{segmented(10)}}, map[string]any{"tags": []any{"ok", "ok", segmented(11)}},
			"'tags' item at index 2 must have at most 10 segments separated by ':' or '/' (got 11)"},
		{"tag segments with '/'", map[string]any{"tags": []any{"a/b/c/d/e/f/g/h/i/j"}}, map[string]any{"tags": []any{"a/b/c/d/e/f/g/h/i/j/k"}},
			"'tags' item at index 0 must have at most 10 segments separated by ':' or '/' (got 11)"},
		{"200,000 segments", map[string]any{"tags": []any{"a::::b"}}, map[string]any{"tags": []any{strings.Repeat("a:", 200000)}},
			"'tags' item at index 0 must be at most 256 bytes (got 400000)"},
		{"metadata bytes", map[string]any{"metadata": metadataOf(65536)}, map[string]any{"metadata": metadataOf(65537)},
			"'metadata' must be at most 65536 bytes as JSON (got 65537)"},
		{"metadata depth", map[string]any{"metadata": nested(32)}, map[string]any{"metadata": nested(33)},
			"'metadata' must nest at most 32 levels deep"},
		{"metadata depth in lists", map[string]any{"metadata": map[string]any{"l": []any{[]any{nested(29)}}}},
			map[string]any{"metadata": map[string]any{"l": []any{[]any{nested(30)}}}},
			"'metadata' must nest at most 32 levels deep"},
		{"type length", map[string]any{"type": strings.Repeat("ж", 64)}, map[string]any{"type": strings.Repeat("ж", 65)},
			"'type' must be at most 64 characters (got 65)"},
	} {
		for _, p := range inputPaths {
			t.Run(c.name+"/"+p.name, func(t *testing.T) {
				if err := p.run(c.ok); err != nil {
					t.Fatalf("at the limit: %v", err)
				}
				err := p.run(c.over)
				wantErr(t, err, p.prefix+c.want)
			})
		}
	}
}

// TestUpdateTagsStringBounded: an update's comma-split tags string is
// bounded like a list.
func TestUpdateTagsStringBounded(t *testing.T) {
	var parts []string
	for i := range 51 {
		parts = append(parts, fmt.Sprintf("t%d", i))
	}
	_, err := ApplyPatch(patchBase(), map[string]any{"tags": strings.Join(parts, ",")}, testLim, 3)
	wantErr(t, err, "'tags' may hold at most 50 tags per memory (got 51)")
}

// TestEmbeddingFiniteFloat32: a value beyond float32's range was stored as
// +Inf, and every recall and export of the tenant then failed.
func TestEmbeddingFiniteFloat32(t *testing.T) {
	for _, c := range []struct {
		name string
		in   any
		want string
	}{
		{"list", []any{1.0, 1e39, 0.5}, "Embedding values must be finite 32-bit floats (at most 3.4028234663852886e+38 in magnitude); the value at index 1 is 1e+39"},
		{"string", "0.5,-1e39,1", "Embedding values must be finite 32-bit floats (at most 3.4028234663852886e+38 in magnitude); the value at index 1 is -1e+39"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseEmbedding(c.in, 3)
			wantErr(t, err, c.want)
			_, err = NewMemory(map[string]any{"content": "x", "embedding": c.in}, inputNow, testLim, 3)
			wantErr(t, err, c.want)
		})
	}
	if v, err := ParseEmbedding([]any{math.MaxFloat32, -math.MaxFloat32, 0.0}, 3); err != nil || v[0] != math.MaxFloat32 {
		t.Fatalf("the largest float32 = %v, %v", v, err)
	}
	obj := map[string]any{"kind": "memory", "id": "6f1c3f0e-8d2a-4b7e-9c1d-2a3b4c5d6e7f", "content": "x", "embedding": []any{json.Number("1e39")}}
	_, err := ImportMemory(obj, 3, testLim, inputNow)
	wantErr(t, err, "line 3: 'embedding' values must be finite 32-bit floats (at most 3.4028234663852886e+38 in magnitude); the value at index 0 is 1e+39")
}

func TestRelationPropertyBounds(t *testing.T) {
	a, b := "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	big := strings.Repeat("r", 65536)
	_, reason, err := ParseAssociation(map[string]any{"memory1_id": a, "memory2_id": b, "type": "CONTRADICTS", "reason": big}, testLim, inputNow)
	if reason != "" {
		t.Fatalf("reason %q, want a fatal error", reason)
	}
	wantErr(t, err, "Relation properties must be at most 65536 bytes as JSON (got 65549)")
	_, _, err = ParseAssociation(map[string]any{"memory1_id": a, "memory2_id": b, "type": "PART_OF", "role": nested(33)}, testLim, inputNow)
	wantErr(t, err, "Relation properties must nest at most 32 levels deep")
	if _, reason, err := ParseAssociation(map[string]any{"memory1_id": a, "memory2_id": b, "type": "PART_OF", "role": nested(31)}, testLim, inputNow); err != nil || reason != "" {
		t.Fatalf("at the limit: %q, %v", reason, err)
	}

	line := map[string]any{"memory1_id": a, "memory2_id": b, "type": "CONTRADICTS", "properties": map[string]any{"reason": big}}
	_, err = ImportRelation(line, 9, testLim, inputNow)
	wantErr(t, err, "line 9: 'properties' must be at most 65536 bytes as JSON (got 65549)")
	line["properties"] = map[string]any{"resolution": nested(33)}
	_, err = ImportRelation(line, 9, testLim, inputNow)
	wantErr(t, err, "line 9: 'properties' must nest at most 32 levels deep")
}

// TestLimitsAreSettings: a configured limit is the one applied, and a
// zero field means the default.
func TestLimitsAreSettings(t *testing.T) {
	lim := Limits{MaxTags: 2, MaxTypeLength: 3}
	_, err := NewMemory(map[string]any{"content": "x", "tags": manyTags(3)}, inputNow, lim, 3)
	wantErr(t, err, "'tags' may hold at most 2 tags per memory (got 3)")
	_, err = NewMemory(map[string]any{"content": "x", "type": "Long"}, inputNow, lim, 3)
	wantErr(t, err, "'type' must be at most 3 characters (got 4)")
	_, err = NewMemory(map[string]any{"content": "x", "tags": []any{segmented(11)}}, inputNow, lim, 3)
	wantErr(t, err, "'tags' item at index 0 must have at most 10 segments separated by ':' or '/' (got 11)")
	if got := (Limits{}).OrDefaults(); got != DefaultLimits {
		t.Fatalf("zero limits = %+v, want the defaults %+v", got, DefaultLimits)
	}
}

func TestListAndQueryBounds(t *testing.T) {
	wantErr(t, testLim.CheckList("exclude_tags", 101), "'exclude_tags' may hold at most 100 entries (got 101)")
	if err := testLim.CheckList("exclude_tags", 100); err != nil {
		t.Fatal(err)
	}
	words := func(n int) func(string) []string { return func(string) []string { return make([]string, n) } }
	wantErr(t, testLim.CheckQuery("'query'", strings.Repeat("é", 2001), words(1)), "'query' must be at most 2000 characters (got 2001)")
	wantErr(t, testLim.CheckQuery("'query'", "x", words(65)), "'query' may hold at most 64 search terms (got 65)")
	if err := testLim.CheckQuery("'query'", strings.Repeat("é", 2000), words(64)); err != nil {
		t.Fatal(err)
	}
	split := false
	testLim.CheckQuery("'query'", strings.Repeat("x ", 2001), func(string) []string { split = true; return nil })
	if split {
		t.Error("a query over the length was split into terms")
	}
}

func TestParamsRefuseNonFinite(t *testing.T) {
	for _, raw := range []string{"NaN", "nan", "Inf", "-Inf", "+Infinity", "1e400", "-1e999", " NaN "} {
		_, err := IntParam("limit", raw, 5, 1, 100)
		wantErr(t, err, "'limit' must be a finite number")
		_, err = UnitParam("min_score", raw, true)
		wantErr(t, err, "'min_score' must be a finite number")
	}
	// Anything else is read as AutoMem reads it.
	for raw, want := range map[string]int{"": 5, "abc": 5, "1.5": 5, "7": 7, "0": 1, "1000": 100, "99999999999999999999": 5} {
		if n, err := IntParam("limit", raw, 5, 1, 100); err != nil || n != want {
			t.Errorf("IntParam(%q) = %d, %v; want %d", raw, n, err, want)
		}
	}
	for raw, want := range map[string]any{"abc": nil, "0.25": 0.25, "7": 1.0, "-3": 0.0} {
		f, err := UnitParam("min_score", raw, true)
		if err != nil || (want == nil) != (f == nil) || (f != nil && *f != want) {
			t.Errorf("UnitParam(%q) = %v, %v; want %v", raw, f, err, want)
		}
	}
	if f, err := UnitParam("min_score", "", false); f != nil || err != nil {
		t.Errorf("absent = %v, %v", f, err)
	}
}

func TestTrimMemory(t *testing.T) {
	tags := manyTags(60)
	list := make([]string, len(tags))
	for i, tg := range tags {
		list[i] = tg.(string)
	}
	list[0] = strings.Repeat("a:", 200000)    // 200,000 segments
	list[1] = "x/" + strings.Repeat("é", 300) // 602 bytes, 2 segments
	list[2] = "a::b:c:d:e:f:g:h:i:j:k:l"      // 12 segments
	meta := map[string]any{"small": 1.0, "deep": nested(40), "big": strings.Repeat("b", 70000), "mid": strings.Repeat("m", 1000)}
	m := &Memory{Tags: list, Type: strings.Repeat("t", 100), Metadata: meta}
	if !testLim.TrimMemory(m) {
		t.Fatal("TrimMemory reported no change")
	}
	if len(m.Tags) != 50 {
		t.Fatalf("%d tags, want 50", len(m.Tags))
	}
	if want := strings.TrimSuffix(strings.Repeat("a:", 10), ":"); m.Tags[0] != want {
		t.Errorf("tag 0 = %.40q..., want %q", m.Tags[0], want)
	}
	if want := "x/" + strings.Repeat("é", 127); m.Tags[1] != want {
		t.Errorf("tag 1 = %q (%d bytes), want %q", m.Tags[1], len(m.Tags[1]), want)
	}
	if m.Tags[2] != "a::b:c:d:e:f:g:h:i:j" || m.Tags[3] != "tag3" {
		t.Errorf("tags 2, 3 = %q, %q", m.Tags[2], m.Tags[3])
	}
	if err := testLim.CheckTags(m.Tags); err != nil {
		t.Errorf("trimmed tags still refused: %v", err)
	}
	if m.Type != strings.Repeat("t", 64) {
		t.Errorf("type = %q", m.Type)
	}
	if _, ok := m.Metadata["big"]; ok {
		t.Error("the largest metadata entry was kept")
	}
	if m.Metadata["small"] != 1.0 || m.Metadata["mid"] != strings.Repeat("m", 1000) {
		t.Errorf("entries within the limit were dropped: %v", m.Metadata)
	}
	if err := testLim.CheckObject("'metadata'", m.Metadata); err != nil {
		t.Errorf("trimmed metadata still refused: %v", err)
	}
	if d := m.Metadata["deep"].(map[string]any); !reflect.DeepEqual(d, cutDepth(nested(40), 31)) {
		t.Error("deep metadata not cut at the limit")
	}

	within := &Memory{Tags: []string{"a:b", "c"}, Type: "Decision", Metadata: map[string]any{"k": "v"}}
	before := *within
	if testLim.TrimMemory(within) || !reflect.DeepEqual(*within, before) {
		t.Errorf("a memory within the limits changed: %+v", within)
	}
}

// TestMemoryReadBounded: reading a memory can no longer return tens of MB:
// at every limit, and with the characters JSON escapes the most, a memory
// is well under 1 MiB as the API sends it.
func TestMemoryReadBounded(t *testing.T) {
	for _, ch := range []string{"a", "<", "\u0001", "€"} {
		escaped, _ := json.Marshal(ch)
		unit := len(escaped) - 2 // the bytes of one ch in JSON
		// Distinct tags, so that no prefix is shared.
		tags := make([]string, testLim.MaxTags)
		seg := strings.Repeat(ch, ((testLim.MaxTagBytes-2)/(testLim.MaxTagSegments-1)-1)/len(ch))
		for i := range tags {
			tags[i] = fmt.Sprintf("%02d", i) + strings.Repeat(":"+seg, testLim.MaxTagSegments-1)
		}
		meta := map[string]any{"k": strings.Repeat(ch, (testLim.MaxMetadataBytes-8)/unit)}
		m := &Memory{ID: "6f1c3f0e-8d2a-4b7e-9c1d-2a3b4c5d6e7f", Content: strings.Repeat(ch, testLim.ContentHardLimit),
			Tags: tags, Type: strings.Repeat(ch, testLim.MaxTypeLength), Metadata: meta}
		if err := testLim.CheckTags(m.Tags); err != nil {
			t.Fatal(err)
		}
		if err := testLim.CheckObject("'metadata'", m.Metadata); err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) > 1<<20 {
			t.Errorf("with %q: a memory at every limit is %d bytes as JSON, over 1 MiB", ch, len(raw))
		}
	}
}
