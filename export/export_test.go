package export

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

var importNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func mustRead(t *testing.T, lines ...string) *File {
	t.Helper()
	f, err := Read([]byte(strings.Join(lines, "\n")), mnemo.DefaultLimits, importNow)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return f
}

// TestReadFields: every field is read; what a hand-written file
// leaves out gets POST /memory's defaults; ids are canonicalised; metadata
// numbers keep their exact digits.
func TestReadFields(t *testing.T) {
	f := mustRead(t,
		`{"format":"mnemo-export","version":1,"tenant_id":"src"}`,
		``,
		`{"kind":"memory","id":"{AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA}","content":"  full  ","tags":["X:y"],"importance":0.25,"type":"Decision","confidence":0.4,`+
			`"timestamp":"2024-01-02T03:04:05.123456Z","t_valid":"2024-01-01","t_invalid":"2024-12-31T00:00:00+02:00","updated_at":"2024-01-03T00:00:00Z",`+
			`"last_accessed":"2024-01-04T00:00:00Z","metadata":{"big":12345678901234567890,"f":0.1},"archived":true,"embedding":[0.1,-2,3e-3],"embedding_model":"m"}`,
		`{"kind":"memory","id":"bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb","content":"I prefer tea over coffee"}`,
		`{"kind":"relation","memory1_id":"aaaaaaaaaaaa4aaa8aaaaaaaaaaaaaaa","memory2_id":"bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb","type":"prefers_over","properties":{"reason":"taste","role":"not a PREFERS_OVER property"}}`,
		`{"kind":"relation","memory1_id":"bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb","memory2_id":"cccccccc-cccc-4ccc-8ccc-cccccccccccc","type":"RELATES_TO","strength":1,"updated_at":"2024-02-02T00:00:00Z"}`,
	)
	if f.SourceTenant != "src" || len(f.Memories) != 2 || len(f.Relations) != 2 {
		t.Fatalf("parsed %+v", f)
	}
	a := f.Memories[0]
	inv := time.Date(2024, 12, 30, 22, 0, 0, 0, time.UTC)
	wantA := &mnemo.Memory{ID: "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", Content: "full", Tags: []string{"X:y"}, Importance: 0.25, Type: "Decision",
		Confidence: 0.4, Timestamp: time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC), TValid: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		TInvalid: &inv, UpdatedAt: time.Date(2024, 1, 3, 0, 0, 0, 0, time.UTC), LastAccessed: time.Date(2024, 1, 4, 0, 0, 0, 0, time.UTC),
		Metadata: map[string]any{"big": json.Number("12345678901234567890"), "f": json.Number("0.1")}, Archived: true,
		Embedding: []float32{0.1, -2, 0.003}, EmbeddingModel: "m"}
	if !reflect.DeepEqual(a, wantA) {
		t.Fatalf("memory a:\n%+v\nwant\n%+v", a, wantA)
	}
	meta, _ := json.Marshal(a.Metadata)
	if string(meta) != `{"big":12345678901234567890,"f":0.1}` {
		t.Fatalf("metadata marshals as %s", meta)
	}
	b := f.Memories[1]
	typ, conf := mnemo.Classify("I prefer tea over coffee")
	wantB := &mnemo.Memory{ID: "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb", Content: "I prefer tea over coffee", Tags: []string{}, Importance: 0.5,
		Type: typ, Confidence: conf, Timestamp: importNow, TValid: importNow, UpdatedAt: importNow, LastAccessed: importNow, Metadata: map[string]any{}}
	if !reflect.DeepEqual(b, wantB) {
		t.Fatalf("memory b:\n%+v\nwant\n%+v", b, wantB)
	}
	wantRels := []mnemo.Relation{
		{From: "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", To: "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb", Type: "PREFERS_OVER", Strength: 0.5,
			Props: map[string]any{"reason": "taste"}, UpdatedAt: importNow},
		{From: "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb", To: "cccccccc-cccc-4ccc-8ccc-cccccccccccc", Type: "RELATES_TO", Strength: 1,
			Props: map[string]any{}, UpdatedAt: time.Date(2024, 2, 2, 0, 0, 0, 0, time.UTC)},
	}
	if !reflect.DeepEqual(f.Relations, wantRels) {
		t.Fatalf("relations:\n%+v\nwant\n%+v", f.Relations, wantRels)
	}
	// The end outside the file is to be found in the tenant, named with
	// the first line that uses it.
	if !reflect.DeepEqual(f.Foreign, map[string]int{"cccccccc-cccc-4ccc-8ccc-cccccccccccc": 6}) {
		t.Fatalf("foreign ends %v", f.Foreign)
	}
}

func TestReadErrors(t *testing.T) {
	header := `{"format":"mnemo-export","version":1}`
	mem := `{"kind":"memory","id":"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa","content":"x"}`
	cases := []struct {
		lines []string
		want  string
	}{
		{[]string{`[1,2]`}, "line 1: not a JSON object"},
		{[]string{header + ` {}`}, "line 1: unexpected data after the JSON object (one object per line)"},
		{[]string{`{"format":"mnemo-export","version":"1"}`}, "line 1: 'version' must be a number"},
		{[]string{`{"format":"mnemo-export","version":1,"memories":-1}`}, "line 1: 'memories' must be a non-negative integer"},
		{[]string{header, mem, strings.Replace(mem, `"content":"x"`, `"content":"y","archived":"yes"`, 1)}, "line 3: 'archived' must be true or false"},
		{[]string{header, strings.Replace(mem, `"content":"x"`, `"content":"x","type":""`, 1)}, "line 2: 'type' must be a non-empty string"},
		{[]string{header, strings.Replace(mem, `"content":"x"`, `"content":"x","t_invalid":5`, 1)}, "line 2: 't_invalid' must be an ISO 8601 string"},
		{[]string{header, strings.Replace(mem, `"content":"x"`, `"content":"x","embedding":[1],"embedding_model":7`, 1)}, "line 2: 'embedding_model' must be a string"},
		{[]string{header, strings.Replace(mem, `"content":"x"`, `"content":"x","embedding":[]`, 1)}, "line 2: 'embedding' must be a non-empty list of numbers"},
		{[]string{header, mem, `{"kind":"relation","memory1_id":"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa","memory2_id":"x","type":"RELATES_TO"}`}, "line 3: 'memory2_id' must be a UUID"},
		{[]string{header, mem, `{"kind":"relation","memory1_id":"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa","memory2_id":"bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb","type":"RELATES_TO","properties":"p"}`}, "line 3: 'properties' must be an object"},
		{[]string{header, mem, `{"kind":"relation","memory1_id":"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa","memory2_id":"bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb","type":"SIMILAR_TO"}`}, "line 3: 'type' must be one of"},
		{[]string{`{"format":"mnemo-export","version":1,"memories":2}`, mem}, "line 1: the header counts 2 memories but the file has 1 (is it truncated?)"},
		{[]string{"", "  "}, "The import body is empty"},
	}
	for _, c := range cases {
		_, err := Read([]byte(strings.Join(c.lines, "\n")), mnemo.DefaultLimits, importNow)
		if mnemo.ErrorCode(err) != mnemo.EINVALID || !strings.HasPrefix(mnemo.ErrorMessage(err), c.want) {
			t.Errorf("%v: got %v, want a 400 starting %q", c.lines, err, c.want)
		}
	}
}
