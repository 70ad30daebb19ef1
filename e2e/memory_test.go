package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// Helpers shared by memory_test.go and badinput_test.go.

// mtTenant creates a tenant with a client-supplied token and returns the token.
func mtTenant(t *testing.T, s *Server, id string) string {
	t.Helper()
	tok := id + "-secret-token"
	s.CreateTenant(id, tok)
	return tok
}

// mtCounts are a tenant's counters as GET /admin/tenants/{id}/stats reports them.
type mtCounts struct{ Memories, Relations, Vectors float64 }

func mtStats(t *testing.T, s *Server, id string) mtCounts {
	t.Helper()
	r := s.Admin("GET", "/admin/tenants/"+id+"/stats", nil).Expect(t, 200)
	return mtCounts{mtNum(t, r.Body["memory_count"]), mtNum(t, r.Body["graph_relationships"]), mtNum(t, r.Body["vector_points"])}
}

func mtExpectStats(t *testing.T, s *Server, id string, want mtCounts) {
	t.Helper()
	if got := mtStats(t, s, id); got != want {
		t.Fatalf("stats of %s = %+v, want %+v", id, got, want)
	}
}

func mtNum(t *testing.T, v any) float64 {
	t.Helper()
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("not a number: %#v", v)
	}
	return f
}

func mtObj(t *testing.T, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("not an object: %#v", v)
	}
	return m
}

func mtArr(t *testing.T, v any) []any {
	t.Helper()
	a, ok := v.([]any)
	if !ok {
		t.Fatalf("not an array: %#v", v)
	}
	return a
}

func mtStrs(t *testing.T, v any) []string {
	t.Helper()
	out := []string{}
	for _, x := range mtArr(t, v) {
		s, ok := x.(string)
		if !ok {
			t.Fatalf("not a string: %#v", x)
		}
		out = append(out, s)
	}
	return out
}

func mtNear(a, b, eps float64) bool { return math.Abs(a-b) <= eps }

// mtJSON compares got, after a JSON round trip, with the JSON text want.
func mtJSON(t *testing.T, what string, got any, want string) {
	t.Helper()
	var w, g any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want JSON for %s: %v", what, err)
	}
	raw, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(raw, &g)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s = %s, want %s", what, raw, want)
	}
}

func mtList(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func mtSet(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	g := append([]string{}, got...)
	w := append([]string{}, want...)
	sort.Strings(g)
	sort.Strings(w)
	mtList(t, what, g, w...)
}

// mtGet fetches one memory with GET /memory/{id}.
func mtGet(t *testing.T, s *Server, tok, id string) map[string]any {
	t.Helper()
	r := s.As(tok, "GET", "/memory/"+id, nil).Expect(t, 200)
	if r.Body["status"] != "success" {
		t.Fatalf("get: %s", r.Raw)
	}
	m := mtObj(t, r.Body["memory"])
	if m["id"] != id {
		t.Fatalf("get %s returned id %v", id, m["id"])
	}
	return m
}

// mtRecall runs GET /recall with query parameters and expects a 200.
func mtRecall(t *testing.T, s *Server, tok string, kv ...string) *Response {
	t.Helper()
	r := s.As(tok, "GET", "/recall"+Q(kv...), nil).Expect(t, 200)
	if r.Body["status"] != "success" {
		t.Fatalf("recall: %s", r.Raw)
	}
	if r.Body["results"] == nil {
		t.Fatalf("\"results\" is %s, want a JSON list ([] when empty, as AutoMem sends): %s", "null or missing", r.Raw)
	}
	if got := len(mtArr(t, r.Body["results"])); r.Body["count"] != float64(got) {
		t.Fatalf("recall count %v but %d results", r.Body["count"], got)
	}
	return r
}

func mtRows(t *testing.T, r *Response) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, x := range mtArr(t, r.Body["results"]) {
		out = append(out, mtObj(t, x))
	}
	return out
}

func mtRow(t *testing.T, r *Response, id string) map[string]any {
	t.Helper()
	for _, row := range mtRows(t, r) {
		if row["id"] == id {
			return row
		}
	}
	t.Fatalf("no result row %s in %s", id, r.Raw)
	return nil
}

func mtIDs(t *testing.T, v any) []string {
	t.Helper()
	var out []string
	for _, x := range mtArr(t, v) {
		out = append(out, mtObj(t, x)["id"].(string))
	}
	return out
}

var (
	mtISOPattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?\+00:00$`)
	mtUUIDv4     = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

// mtTime checks the canonical form (Python isoformat in UTC) and parses it.
func mtTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	if !mtISOPattern.MatchString(s) {
		t.Fatalf("timestamp %#v is not isoformat UTC", v)
	}
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func mtWithin(t *testing.T, what string, got, lo, hi time.Time) {
	t.Helper()
	if got.Before(lo.Truncate(time.Microsecond)) || got.After(hi) {
		t.Errorf("%s = %s, want within [%s, %s]", what, got, lo, hi)
	}
}

// mtISO renders t as the server must: isoformat, UTC, microseconds if non-zero.
func mtISO(t time.Time) string {
	t = t.UTC().Truncate(time.Microsecond)
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02T15:04:05+00:00")
	}
	return t.Format("2006-01-02T15:04:05.000000+00:00")
}

// mtOneHot is a unit vector of dim values with a 1 at i.
func mtOneHot(dim, i int) []float64 {
	v := make([]float64, dim)
	v[i] = 1
	return v
}

func mtCSV(v []float64) string {
	parts := make([]string, len(v))
	for i, f := range v {
		parts[i] = strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}

// ---------------------------------------------------------------------------
// POST /memory and GET /memory/{id}

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tok := mtTenant(t, s, "store")

	t.Run("defaults", func(t *testing.T) {
		before := time.Now().UTC()
		r := s.As(tok, "POST", "/memory", map[string]any{"content": "  plain note about gardening  "}).Expect(t, 201)
		after := time.Now().UTC()
		b := r.Body
		id, _ := b["memory_id"].(string)
		if !mtUUIDv4.MatchString(id) {
			t.Fatalf("memory_id %q is not a UUIDv4", id)
		}
		if b["status"] != "success" || b["type"] != "Context" || b["confidence"] != 0.3 {
			t.Errorf("store response: %s", r.Raw)
		}
		mtJSON(t, "metadata", b["metadata"], `{}`)
		for _, k := range []string{"stored_at", "qdrant", "embedding_status", "enrichment", "query_time_ms"} {
			if _, ok := b[k]; !ok {
				t.Errorf("store response lacks %q: %s", k, r.Raw)
			}
		}
		ts := mtTime(t, b["timestamp"])
		mtWithin(t, "timestamp", ts, before, after)
		mtTime(t, b["stored_at"])
		if b["updated_at"] != b["timestamp"] || b["last_accessed"] != b["timestamp"] {
			t.Errorf("updated_at/last_accessed must default to timestamp: %s", r.Raw)
		}

		m := mtGet(t, s, tok, id)
		if m["content"] != "plain note about gardening" {
			t.Errorf("content not trimmed: %q", m["content"])
		}
		mtJSON(t, "tags", m["tags"], `[]`)
		mtJSON(t, "tag_prefixes", m["tag_prefixes"], `[]`)
		mtJSON(t, "metadata", m["metadata"], `{}`)
		if m["importance"] != 0.5 || m["type"] != "Context" || m["confidence"] != 0.3 {
			t.Errorf("defaults: %v", m)
		}
		if m["timestamp"] != b["timestamp"] || m["t_valid"] != b["timestamp"] || m["updated_at"] != b["timestamp"] {
			t.Errorf("timestamps: %v vs %s", m, r.Raw)
		}
		if v, ok := m["t_invalid"]; !ok || v != nil {
			t.Errorf("t_invalid = %#v, want null", v)
		}
		mtExpectStats(t, s, "store", mtCounts{1, 0, 1})
	})

	t.Run("classifier", func(t *testing.T) {
		for _, c := range []struct {
			content string
			typ     string
			conf    float64
		}{
			{"I decided to migrate the billing service", "Decision", 0.6},
			{"We decided to ship, picked Go and selected SQLite", "Decision", 0.9},
			{"I usually review code in the morning", "Pattern", 0.6},
			{"I prefer tabs over spaces", "Preference", 0.6},
			{"I always use dark mode", "Preference", 0.6},
			{"I always drink water at night", "Habit", 0.6},
			{"wrote the memo in a formal style", "Style", 0.6},
			{"I realized the cache was stale", "Insight", 0.6},
			{"We met during the offsite", "Context", 0.6},
		} {
			r := s.As(tok, "POST", "/memory", map[string]any{"content": c.content}).Expect(t, 201)
			if r.Body["type"] != c.typ || r.Body["confidence"] != c.conf {
				t.Errorf("%q classified %v/%v, want %s/%v", c.content, r.Body["type"], r.Body["confidence"], c.typ, c.conf)
			}
			m := mtGet(t, s, tok, r.Body["memory_id"].(string))
			if m["type"] != c.typ || m["confidence"] != c.conf {
				t.Errorf("%q stored as %v/%v, want %s/%v", c.content, m["type"], m["confidence"], c.typ, c.conf)
			}
		}
	})

	t.Run("explicit type", func(t *testing.T) {
		for _, c := range []struct {
			body map[string]any
			typ  string
			conf float64
		}{
			{map[string]any{"content": "I decided to use Postgres", "type": "Insight"}, "Insight", 0.9},
			{map[string]any{"content": "anything", "type": "SomethingCustom"}, "SomethingCustom", 0.9},
			{map[string]any{"content": "anything", "type": "Decision", "confidence": 0.42}, "Decision", 0.42},
			// confidence without type is the classifier's, not the client's
			{map[string]any{"content": "I decided to use Postgres", "confidence": 0.1}, "Decision", 0.6},
		} {
			r := s.As(tok, "POST", "/memory", c.body).Expect(t, 201)
			m := mtGet(t, s, tok, r.Body["memory_id"].(string))
			if r.Body["type"] != c.typ || r.Body["confidence"] != c.conf || m["type"] != c.typ || m["confidence"] != c.conf {
				t.Errorf("%v: response %v/%v stored %v/%v, want %s/%v", c.body, r.Body["type"], r.Body["confidence"], m["type"], m["confidence"], c.typ, c.conf)
			}
		}
	})

	t.Run("tags", func(t *testing.T) {
		id := s.Store(tok, map[string]any{"content": "tagged", "tags": []string{"Alpha", "Project/AutoMem:api"}})
		m := mtGet(t, s, tok, id)
		mtJSON(t, "tags", m["tags"], `["Alpha","Project/AutoMem:api"]`)
		mtJSON(t, "tag_prefixes", m["tag_prefixes"], `["alpha","project","project:automem","project:automem:api"]`)

		id = s.Store(tok, map[string]any{"content": "single tag", "tags": "x,y"})
		m = mtGet(t, s, tok, id)
		mtJSON(t, "single string tag", m["tags"], `["x,y"]`)
		mtJSON(t, "single string tag_prefixes", m["tag_prefixes"], `["x,y"]`)
	})

	t.Run("importance and metadata", func(t *testing.T) {
		meta := map[string]any{"source": "unit", "nested": map[string]any{"k": []any{1, "two", true, nil}}, "n": 1.5, "empty": map[string]any{}}
		r := s.As(tok, "POST", "/memory", map[string]any{"content": "with metadata", "importance": 0.85, "metadata": meta}).Expect(t, 201)
		want := `{"source":"unit","nested":{"k":[1,"two",true,null]},"n":1.5,"empty":{}}`
		mtJSON(t, "response metadata", r.Body["metadata"], want)
		m := mtGet(t, s, tok, r.Body["memory_id"].(string))
		mtJSON(t, "stored metadata", m["metadata"], want)
		if m["importance"] != 0.85 {
			t.Errorf("importance = %v", m["importance"])
		}
		for _, imp := range []float64{0, 1} {
			r := s.As(tok, "POST", "/memory", map[string]any{"content": "boundary importance", "importance": imp}).Expect(t, 201)
			if m := mtGet(t, s, tok, r.Body["memory_id"].(string)); m["importance"] != imp {
				t.Errorf("importance %v stored as %v", imp, m["importance"])
			}
		}
	})

	t.Run("timestamps", func(t *testing.T) {
		for _, c := range []struct{ in, want string }{
			{"2024-03-05T08:07:08.5+02:00", "2024-03-05T06:07:08.500000+00:00"},
			{"2024-03-05T06:07:08Z", "2024-03-05T06:07:08+00:00"},
			{"2024-03-05T06:07:08.123456Z", "2024-03-05T06:07:08.123456+00:00"},
			{"2024-03-05", "2024-03-05T00:00:00+00:00"},
			{"2024-03-05T10:00:00", "2024-03-05T10:00:00+00:00"},
		} {
			r := s.As(tok, "POST", "/memory", map[string]any{"content": "dated " + c.in, "timestamp": c.in}).Expect(t, 201)
			if r.Body["timestamp"] != c.want || r.Body["updated_at"] != c.want || r.Body["last_accessed"] != c.want {
				t.Errorf("timestamp %q: %s, want %s everywhere", c.in, r.Raw, c.want)
			}
			m := mtGet(t, s, tok, r.Body["memory_id"].(string))
			if m["timestamp"] != c.want || m["t_valid"] != c.want || m["updated_at"] != c.want {
				t.Errorf("timestamp %q stored as %v / t_valid %v / updated_at %v, want %s", c.in, m["timestamp"], m["t_valid"], m["updated_at"], c.want)
			}
		}

		r := s.As(tok, "POST", "/memory", map[string]any{"content": "all times", "timestamp": "2024-03-05T00:00:00Z",
			"t_valid": "2024-03-01", "t_invalid": "2030-01-01T00:00:00Z", "updated_at": "2024-03-06T00:00:00+00:00",
			"last_accessed": "2024-03-07T01:02:03Z"}).Expect(t, 201)
		if r.Body["timestamp"] != "2024-03-05T00:00:00+00:00" || r.Body["updated_at"] != "2024-03-06T00:00:00+00:00" ||
			r.Body["last_accessed"] != "2024-03-07T01:02:03+00:00" {
			t.Errorf("explicit times: %s", r.Raw)
		}
		m := mtGet(t, s, tok, r.Body["memory_id"].(string))
		if m["t_valid"] != "2024-03-01T00:00:00+00:00" || m["t_invalid"] != "2030-01-01T00:00:00+00:00" ||
			m["updated_at"] != "2024-03-06T00:00:00+00:00" || m["timestamp"] != "2024-03-05T00:00:00+00:00" {
			t.Errorf("explicit times stored: %v", m)
		}

		// last_accessed defaults to updated_at when only that is sent.
		r = s.As(tok, "POST", "/memory", map[string]any{"content": "updated only", "timestamp": "2024-03-05T00:00:00Z",
			"updated_at": "2024-04-01T00:00:00Z"}).Expect(t, 201)
		if r.Body["last_accessed"] != "2024-04-01T00:00:00+00:00" {
			t.Errorf("last_accessed must default to updated_at: %s", r.Raw)
		}
	})

	t.Run("get bumps last_accessed", func(t *testing.T) {
		id := s.Store(tok, map[string]any{"content": "accessed long ago", "timestamp": "2020-01-01T00:00:00Z"})
		before := time.Now().UTC()
		m := mtGet(t, s, tok, id)
		mtWithin(t, "last_accessed after GET", mtTime(t, m["last_accessed"]), before, time.Now().UTC())
		if m["updated_at"] != "2020-01-01T00:00:00+00:00" {
			t.Errorf("GET must not touch updated_at: %v", m["updated_at"])
		}
	})

	t.Run("client id ignored", func(t *testing.T) {
		clientID := "11111111-1111-4111-8111-111111111111"
		id := s.Store(tok, map[string]any{"content": "client sent an id", "id": clientID})
		if id == clientID {
			t.Fatalf("server used the client id")
		}
		s.As(tok, "GET", "/memory/"+clientID, nil).ExpectError(t, 404, "Memory not found")
	})

	t.Run("content limit mtCounts characters", func(t *testing.T) {
		content := strings.Repeat("é", 2000)
		id := s.Store(tok, map[string]any{"content": content})
		if m := mtGet(t, s, tok, id); m["content"] != content {
			t.Errorf("2000-character content not stored whole")
		}
	})

	t.Run("client embedding", func(t *testing.T) {
		before := mtStats(t, s, "store")
		r := s.As(tok, "POST", "/memory", map[string]any{"content": "vector supplied by client", "embedding": mtOneHot(768, 5)}).Expect(t, 201)
		if r.Body["embedding_status"] != "provided" || r.Body["qdrant"] != "stored" {
			t.Errorf("client embedding: %s", r.Raw)
		}
		id := r.Body["memory_id"].(string)
		r = s.As(tok, "POST", "/memory", map[string]any{"content": "vector as csv", "embedding": mtCSV(mtOneHot(768, 9))}).Expect(t, 201)
		if r.Body["embedding_status"] != "provided" {
			t.Errorf("csv embedding: %s", r.Raw)
		}
		csvID := r.Body["memory_id"].(string)
		mtExpectStats(t, s, "store", mtCounts{before.Memories + 2, before.Relations, before.Vectors + 2})

		for want, hot := range map[string]int{id: 5, csvID: 9} {
			rr := mtRecall(t, s, tok, "embedding", mtCSV(mtOneHot(768, hot)), "limit", "1")
			row := mtRows(t, rr)[0]
			if row["id"] != want {
				t.Fatalf("recall by embedding %d: top %v, want %s", hot, row["id"], want)
			}
			if v := mtNum(t, mtObj(t, row["score_components"])["vector"]); !mtNear(v, 1, 1e-4) {
				t.Errorf("vector component = %v, want 1", v)
			}
		}
	})
}

// TestMemoryVectorSize checks that VECTOR_SIZE sets the embedding dimension.
func TestMemoryVectorSize(t *testing.T) {
	t.Parallel()
	s := Start(t, map[string]string{"VECTOR_SIZE": "8"})
	tok := mtTenant(t, s, "dim")
	r := s.Do("GET", "/health", nil).Expect(t, 200)
	if mtObj(t, r.Body["vector_dimensions"])["configured"] != float64(8) {
		t.Errorf("vector_dimensions: %s", r.Raw)
	}
	r = s.As(tok, "POST", "/memory", map[string]any{"content": "eight", "embedding": mtOneHot(8, 3)}).Expect(t, 201)
	if r.Body["embedding_status"] != "provided" {
		t.Errorf("8-dim embedding: %s", r.Raw)
	}
	s.As(tok, "POST", "/memory", map[string]any{"content": "wrong", "embedding": mtOneHot(768, 3)}).ExpectError(t, 400, "Embedding must contain exactly 8 values")
	mtExpectStats(t, s, "dim", mtCounts{1, 0, 1})
}

// ---------------------------------------------------------------------------
// POST /memory/batch

func TestMemoryBatch(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tok := mtTenant(t, s, "batch")

	t.Run("ids in input order", func(t *testing.T) {
		items := []map[string]any{
			{"content": "first batch item", "tags": []string{"b1"}, "importance": 0.9},
			{"content": "second batch item", "tags": "b2", "metadata": map[string]any{"k": "v"}},
			{"content": "third batch item", "type": "Insight", "timestamp": "2024-05-06T07:08:09Z"},
		}
		r := s.As(tok, "POST", "/memory/batch", map[string]any{"memories": items}).Expect(t, 201)
		if r.Body["status"] != "success" || r.Body["stored"] != float64(3) {
			t.Fatalf("batch: %s", r.Raw)
		}
		got := mtStrs(t, r.Body["memory_ids"])
		if len(got) != 3 {
			t.Fatalf("memory_ids: %v", got)
		}
		for i, id := range got {
			m := mtGet(t, s, tok, id)
			if m["content"] != items[i]["content"] {
				t.Errorf("memory_ids[%d] is %q, want %q", i, m["content"], items[i]["content"])
			}
		}
		m0, m1, m2 := mtGet(t, s, tok, got[0]), mtGet(t, s, tok, got[1]), mtGet(t, s, tok, got[2])
		mtJSON(t, "item 0 tags", m0["tags"], `["b1"]`)
		if m0["importance"] != 0.9 || m1["importance"] != 0.5 {
			t.Errorf("importance: %v %v", m0["importance"], m1["importance"])
		}
		mtJSON(t, "item 1 tags", m1["tags"], `["b2"]`)
		mtJSON(t, "item 1 metadata", m1["metadata"], `{"k":"v"}`)
		if m2["type"] != "Insight" || m2["confidence"] != 0.9 || m2["timestamp"] != "2024-05-06T07:08:09+00:00" ||
			m2["updated_at"] != "2024-05-06T07:08:09+00:00" || m2["t_valid"] != "2024-05-06T07:08:09+00:00" {
			t.Errorf("item 2: %v", m2)
		}
		mtExpectStats(t, s, "batch", mtCounts{3, 0, 3})
	})

	// Items take a single store's fields and rules (issue 10): AutoMem
	// ignored t_valid, t_invalid and embedding and forgave a bad timestamp.
	t.Run("items follow the store's rules", func(t *testing.T) {
		before := mtStats(t, s, "batch")
		for _, c := range []struct {
			item map[string]any
			want string
		}{
			{map[string]any{"content": "bad timestamp", "timestamp": "not a date"}, "Memory at index 1: Invalid timestamp"},
			{map[string]any{"content": "bad metadata", "metadata": "not an object"}, "Memory at index 1: 'metadata' must be an object"},
			{map[string]any{"content": "bad validity", "t_valid": "2024-01-01", "t_invalid": "2023-01-01"}, "Memory at index 1: 't_invalid'"},
			{map[string]any{"content": "bad embedding", "embedding": []float64{1, 2}}, "Memory at index 1: Embedding must contain exactly 768 values"},
		} {
			s.As(tok, "POST", "/memory/batch", map[string]any{"memories": []any{map[string]any{"content": "fine"}, c.item}}).ExpectError(t, 400, c.want)
		}
		mtExpectStats(t, s, "batch", before)

		vec := make([]float64, 768)
		vec[7] = 1
		r := s.As(tok, "POST", "/memory/batch", map[string]any{"memories": []any{
			map[string]any{"content": "validity fields honoured", "timestamp": "2024-01-01T00:00:00Z",
				"t_valid": "2023-01-01T00:00:00Z", "t_invalid": "2023-06-01T00:00:00Z",
				"updated_at": "2025-01-01T00:00:00Z", "last_accessed": "2025-01-02T00:00:00Z",
				"id": "11111111-1111-4111-8111-111111111111", "embedding": vec},
		}}).Expect(t, 201)
		got := mtStrs(t, r.Body["memory_ids"])
		if got[0] == "11111111-1111-4111-8111-111111111111" {
			t.Errorf("batch used the client id")
		}
		m := mtGet(t, s, tok, got[0])
		if m["t_valid"] != "2023-01-01T00:00:00+00:00" || m["t_invalid"] != "2023-06-01T00:00:00+00:00" || m["updated_at"] != "2025-01-01T00:00:00+00:00" {
			t.Errorf("batch must keep t_valid/t_invalid/updated_at: %v", m)
		}
		// The given embedding is the memory's vector: recall by it finds the
		// memory, expired or not, with a perfect vector score.
		q := make([]string, 768)
		for i := range q {
			q[i] = "0"
		}
		q[7] = "1"
		rr := mtRecall(t, s, tok, "embedding", strings.Join(q, ","), "state_mode", "history", "limit", "1", "adaptive_floor", "false")
		rows := mtRows(t, rr)
		if len(rows) != 1 || rows[0]["id"] != got[0] || !mtNear(mtNum(t, mtObj(t, rows[0]["score_components"])["vector"]), 1, 1e-4) {
			t.Errorf("recall by the batch item's embedding: %s", rr.Raw)
		}
	})

	t.Run("500 items is the limit", func(t *testing.T) {
		before := mtStats(t, s, "batch")
		items := make([]map[string]any, 500)
		for i := range items {
			items[i] = map[string]any{"content": fmt.Sprintf("bulk item number %d", i)}
		}
		r := s.As(tok, "POST", "/memory/batch", map[string]any{"memories": items}).Expect(t, 201)
		got := mtStrs(t, r.Body["memory_ids"])
		if r.Body["stored"] != float64(500) || len(got) != 500 {
			t.Fatalf("stored %v, %d ids", r.Body["stored"], len(got))
		}
		if m := mtGet(t, s, tok, got[437]); m["content"] != "bulk item number 437" {
			t.Errorf("memory_ids[437] is %q", m["content"])
		}
		mtExpectStats(t, s, "batch", mtCounts{before.Memories + 500, 0, before.Vectors + 500})

		items = append(items, map[string]any{"content": "one too many"})
		s.As(tok, "POST", "/memory/batch", map[string]any{"memories": items}).ExpectError(t, 400, "Batch size limit is 500 memories per request")
		mtExpectStats(t, s, "batch", mtCounts{before.Memories + 500, 0, before.Vectors + 500})
	})

	t.Run("empty array", func(t *testing.T) {
		before := mtStats(t, s, "batch")
		s.As(tok, "POST", "/memory/batch", map[string]any{"memories": []any{}}).ExpectError(t, 400, "'memories' must be a non-empty array")
		mtExpectStats(t, s, "batch", before)
	})
}

// ---------------------------------------------------------------------------
// PATCH and DELETE /memory/{id}

func TestMemoryPatchDelete(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tok := mtTenant(t, s, "patch")
	id := s.Store(tok, map[string]any{"content": "original content about ferns", "tags": []string{"a"},
		"metadata": map[string]any{"x": 1, "y": 2}, "timestamp": "2024-01-01T00:00:00Z", "importance": 0.3})
	other := s.Store(tok, map[string]any{"content": "another memory about cacti", "tags": []string{"a"}})

	patch := func(t *testing.T, body any) {
		t.Helper()
		r := s.As(tok, "PATCH", "/memory/"+id, body).Expect(t, 200)
		if r.Body["status"] != "success" || r.Body["memory_id"] != id {
			t.Fatalf("patch: %s", r.Raw)
		}
	}

	t.Run("metadata is replaced", func(t *testing.T) {
		patch(t, map[string]any{"metadata": map[string]any{"z": 3}})
		m := mtGet(t, s, tok, id)
		mtJSON(t, "metadata", m["metadata"], `{"z":3}`)
		mtJSON(t, "tags untouched", m["tags"], `["a"]`)
		if m["content"] != "original content about ferns" || m["importance"] != 0.3 {
			t.Errorf("unsent fields changed: %v", m)
		}
	})

	t.Run("string tags are comma-split and prefixes recomputed", func(t *testing.T) {
		patch(t, map[string]any{"tags": "alpha, Beta:Gamma ,"})
		m := mtGet(t, s, tok, id)
		mtJSON(t, "tags", m["tags"], `["alpha","Beta:Gamma"]`)
		mtJSON(t, "tag_prefixes", m["tag_prefixes"], `["alpha","beta","beta:gamma"]`)
		// The new prefixes drive tag filters at once; the old tag is gone.
		mtList(t, "recall tags=beta", ids(mtRecall(t, s, tok, "tags", "beta", "adaptive_floor", "false")), id)
		mtList(t, "recall tags=a", ids(mtRecall(t, s, tok, "tags", "a", "adaptive_floor", "false")), other)
		r := s.As(tok, "GET", "/memory/by-tag"+Q("tags", "beta:gamma"), nil).Expect(t, 200)
		mtList(t, "by-tag beta:gamma", mtIDs(t, r.Body["memories"]), id)

		// AutoMem dropped non-strings from the list (and {"tags": 5} wiped
		// the tags); a wrong type is refused and changes nothing.
		s.As(tok, "PATCH", "/memory/"+id, map[string]any{"tags": []any{1, "ok", nil, "Fine"}}).ExpectError(t, 400, "'tags' must be a list of strings")
		s.As(tok, "PATCH", "/memory/"+id, map[string]any{"tags": 5}).ExpectError(t, 400, "'tags' must be a list of strings")
		m = mtGet(t, s, tok, id)
		mtJSON(t, "tags after refused patches", m["tags"], `["alpha","Beta:Gamma"]`)
	})

	t.Run("updated_at kept unless sent", func(t *testing.T) {
		patch(t, map[string]any{"importance": 0.9, "type": "Decision", "confidence": 0.7})
		m := mtGet(t, s, tok, id)
		if m["updated_at"] != "2024-01-01T00:00:00+00:00" {
			t.Errorf("PATCH bumped updated_at to %v", m["updated_at"])
		}
		if m["importance"] != 0.9 || m["type"] != "Decision" || m["confidence"] != 0.7 {
			t.Errorf("patched fields: %v", m)
		}
		patch(t, map[string]any{"updated_at": "2025-02-02T00:00:00Z", "timestamp": "2024-12-31T23:00:00+01:00"})
		m = mtGet(t, s, tok, id)
		if m["updated_at"] != "2025-02-02T00:00:00+00:00" || m["timestamp"] != "2024-12-31T22:00:00+00:00" {
			t.Errorf("sent times: updated_at %v timestamp %v", m["updated_at"], m["timestamp"])
		}
	})

	t.Run("content change re-embeds", func(t *testing.T) {
		before := mtStats(t, s, "patch")
		patch(t, map[string]any{"content": "  zebra migration plan for the northern herd  "})
		m := mtGet(t, s, tok, id)
		if m["content"] != "zebra migration plan for the northern herd" {
			t.Errorf("content = %q", m["content"])
		}
		r := mtRecall(t, s, tok, "query", "zebra migration plan for the northern herd", "limit", "1")
		row := mtRows(t, r)[0]
		if row["id"] != id {
			t.Fatalf("recall after content patch: %s", r.Raw)
		}
		if v := mtNum(t, mtObj(t, row["score_components"])["vector"]); !mtNear(v, 1, 1e-4) {
			t.Errorf("vector component %v: the vector was not recomputed from the new content", v)
		}
		mtExpectStats(t, s, "patch", before)
	})

	t.Run("t_invalid set and cleared", func(t *testing.T) {
		patch(t, map[string]any{"t_invalid": "2024-06-01T00:00:00Z"})
		if m := mtGet(t, s, tok, id); m["t_invalid"] != "2024-06-01T00:00:00+00:00" {
			t.Errorf("t_invalid = %v", m["t_invalid"])
		}
		mtSet(t, "recall hides the expired memory", ids(mtRecall(t, s, tok, "limit", "10", "adaptive_floor", "false")), other)
		patch(t, map[string]any{"t_invalid": nil})
		if m := mtGet(t, s, tok, id); m["t_invalid"] != nil {
			t.Errorf("t_invalid = %v after clearing", m["t_invalid"])
		}
		mtSet(t, "recall shows it again", ids(mtRecall(t, s, tok, "limit", "10", "adaptive_floor", "false")), id, other)
	})

	t.Run("patch unknown memory", func(t *testing.T) {
		s.As(tok, "PATCH", "/memory/22222222-2222-4222-8222-222222222222", map[string]any{"importance": 0.1}).ExpectError(t, 404, "Memory not found")
	})

	t.Run("delete", func(t *testing.T) {
		third := s.Store(tok, map[string]any{"content": "third"})
		s.As(tok, "POST", "/associate", map[string]any{"memory1_id": id, "memory2_id": third}).Expect(t, 201)
		s.As(tok, "POST", "/associate", map[string]any{"memory1_id": other, "memory2_id": id}).Expect(t, 201)
		mtExpectStats(t, s, "patch", mtCounts{3, 2, 3})

		r := s.As(tok, "DELETE", "/memory/"+id, nil).Expect(t, 200)
		mtJSON(t, "delete response", r.Body, fmt.Sprintf(`{"status":"success","memory_id":%q}`, id))
		s.As(tok, "GET", "/memory/"+id, nil).ExpectError(t, 404, "Memory not found")
		s.As(tok, "DELETE", "/memory/"+id, nil).ExpectError(t, 404, "Memory not found")
		s.As(tok, "PATCH", "/memory/"+id, map[string]any{"importance": 0.2}).ExpectError(t, 404, "Memory not found")
		// Its relations went with it.
		mtExpectStats(t, s, "patch", mtCounts{2, 0, 2})
		r = s.As(tok, "GET", "/memories/"+other+"/related", nil).Expect(t, 200)
		if r.Body["count"] != float64(0) {
			t.Errorf("related of a neighbour of a deleted memory: %s", r.Raw)
		}
		mtSet(t, "recall after delete", ids(mtRecall(t, s, tok, "limit", "10", "adaptive_floor", "false")), other, third)
	})
}

// ---------------------------------------------------------------------------
// GET and DELETE /memory/by-tag

func TestMemoryByTag(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tok := mtTenant(t, s, "bytag")
	m1 := s.Store(tok, map[string]any{"content": "m1", "tags": []string{"Alpha"}, "importance": 0.9, "timestamp": "2024-01-01T00:00:00Z"})
	m2 := s.Store(tok, map[string]any{"content": "m2", "tags": []string{"alpha", "beta"}, "importance": 0.5, "timestamp": "2024-02-01T00:00:00Z"})
	m3 := s.Store(tok, map[string]any{"content": "m3", "tags": []string{"beta"}, "importance": 0.5, "timestamp": "2024-03-01T00:00:00Z"})
	m4 := s.Store(tok, map[string]any{"content": "m4", "tags": []string{"alpha:sub"}, "importance": 1.0})
	m5 := s.Store(tok, map[string]any{"content": "m5", "tags": []string{"gamma"}, "importance": 0.2, "metadata": map[string]any{"k": "v"}})

	byTag := func(t *testing.T, kv ...string) *Response {
		t.Helper()
		r := s.As(tok, "GET", "/memory/by-tag"+Q(kv...), nil).Expect(t, 200)
		if r.Body["status"] != "success" {
			t.Fatalf("by-tag: %s", r.Raw)
		}
		if n := len(mtArr(t, r.Body["memories"])); r.Body["count"] != float64(n) {
			t.Fatalf("count %v for %d memories", r.Body["count"], n)
		}
		return r
	}

	t.Run("exact case-insensitive", func(t *testing.T) {
		r := byTag(t, "tags", "alpha")
		mtList(t, "tags=alpha", mtIDs(t, r.Body["memories"]), m1, m2)
		mtJSON(t, "echoed tags", r.Body["tags"], `["alpha"]`)
		if r.Body["limit"] != float64(20) || r.Body["offset"] != float64(0) || r.Body["has_more"] != false {
			t.Errorf("paging defaults: %s", r.Raw)
		}
		mtList(t, "tags=ALPHA", mtIDs(t, byTag(t, "tags", "ALPHA").Body["memories"]), m1, m2)
		mtList(t, "tags=alpha:sub", mtIDs(t, byTag(t, "tags", "alpha:sub").Body["memories"]), m4)
		mtList(t, "tags=alph", mtIDs(t, byTag(t, "tags", "alph").Body["memories"]))
	})

	t.Run("any of, importance then newest first", func(t *testing.T) {
		r := byTag(t, "tags", "ALPHA", "tags", "beta")
		mtList(t, "tags=ALPHA&tags=beta", mtIDs(t, r.Body["memories"]), m1, m3, m2)
		mtJSON(t, "echoed tags", r.Body["tags"], `["ALPHA","beta"]`)
	})

	t.Run("not comma-split", func(t *testing.T) {
		mtList(t, "tags=alpha,beta", mtIDs(t, byTag(t, "tags", "alpha,beta").Body["memories"]))
	})

	t.Run("limit offset has_more", func(t *testing.T) {
		r := byTag(t, "tags", "alpha", "tags", "beta", "limit", "2")
		mtList(t, "page 1", mtIDs(t, r.Body["memories"]), m1, m3)
		if r.Body["has_more"] != true || r.Body["limit"] != float64(2) {
			t.Errorf("page 1: %s", r.Raw)
		}
		r = byTag(t, "tags", "alpha", "tags", "beta", "limit", "2", "offset", "2")
		mtList(t, "page 2", mtIDs(t, r.Body["memories"]), m2)
		if r.Body["has_more"] != false || r.Body["offset"] != float64(2) {
			t.Errorf("page 2: %s", r.Raw)
		}
		r = byTag(t, "tags", "alpha", "tags", "beta", "limit", "0")
		if r.Body["limit"] != float64(1) || r.Body["count"] != float64(1) || r.Body["has_more"] != true {
			t.Errorf("limit=0 must clamp to 1: %s", r.Raw)
		}
		r = byTag(t, "tags", "alpha", "limit", "abc", "offset", "-4")
		if r.Body["limit"] != float64(20) || r.Body["offset"] != float64(0) || r.Body["count"] != float64(2) {
			t.Errorf("invalid limit/offset must default: %s", r.Raw)
		}
		r = byTag(t, "tags", "alpha", "limit", "999")
		if r.Body["limit"] != float64(200) {
			t.Errorf("limit must clamp to 200: %s", r.Raw)
		}
	})

	t.Run("full memories", func(t *testing.T) {
		r := byTag(t, "tags", "gamma")
		m := mtObj(t, mtArr(t, r.Body["memories"])[0])
		if m["id"] != m5 || m["content"] != "m5" || m["importance"] != 0.2 {
			t.Errorf("memory: %v", m)
		}
		mtJSON(t, "metadata", m["metadata"], `{"k":"v"}`)
		mtJSON(t, "tags", m["tags"], `["gamma"]`)
	})

	t.Run("delete by tag", func(t *testing.T) {
		s.As(tok, "POST", "/associate", map[string]any{"memory1_id": m1, "memory2_id": m3}).Expect(t, 201)
		mtExpectStats(t, s, "bytag", mtCounts{5, 1, 5})
		r := s.As(tok, "DELETE", "/memory/by-tag"+Q("tags", "BETA"), nil).Expect(t, 200)
		mtJSON(t, "delete by tag", r.Body, `{"status":"success","tags":["BETA"],"deleted_count":2}`)
		mtList(t, "beta after delete", mtIDs(t, byTag(t, "tags", "beta").Body["memories"]))
		mtList(t, "alpha after delete", mtIDs(t, byTag(t, "tags", "alpha").Body["memories"]), m1)
		s.As(tok, "GET", "/memory/"+m2, nil).ExpectError(t, 404, "Memory not found")
		mtExpectStats(t, s, "bytag", mtCounts{3, 0, 3})

		r = s.As(tok, "DELETE", "/memory/by-tag"+Q("tags", "nothing-has-this"), nil).Expect(t, 200)
		if r.Body["deleted_count"] != float64(0) {
			t.Errorf("delete unknown tag: %s", r.Raw)
		}
		r = s.As(tok, "DELETE", "/memory/by-tag"+Q("tags", "alpha", "tags", "gamma"), nil).Expect(t, 200)
		if r.Body["deleted_count"] != float64(2) {
			t.Errorf("delete two tags: %s", r.Raw)
		}
		mtExpectStats(t, s, "bytag", mtCounts{1, 0, 1})
		mtGet(t, s, tok, m4)
	})
}

// ---------------------------------------------------------------------------
// POST /associate

func TestAssociate(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tok := mtTenant(t, s, "assoc")
	a := s.Store(tok, map[string]any{"content": "memory A about vim"})
	b := s.Store(tok, map[string]any{"content": "memory B about emacs"})
	c := s.Store(tok, map[string]any{"content": "memory C about nano"})
	missing := "33333333-3333-4333-8333-333333333333"

	t.Run("single defaults", func(t *testing.T) {
		r := s.As(tok, "POST", "/associate", map[string]any{"memory1_id": a, "memory2_id": b}).Expect(t, 201)
		mtJSON(t, "response", r.Body, fmt.Sprintf(`{"status":"success","message":"Association created between %s and %s","relation_type":"RELATES_TO","strength":0.5}`, a, b))
		mtExpectStats(t, s, "assoc", mtCounts{3, 1, 3})
	})

	t.Run("type-specific props echoed", func(t *testing.T) {
		for _, tc := range []struct {
			body map[string]any
			want string
		}{
			{map[string]any{"type": "prefers_over", "strength": 0.8, "context": "editors", "reason": "speed", "role": "not a PREFERS_OVER prop"},
				`"relation_type":"PREFERS_OVER","strength":0.8,"context":"editors","reason":"speed"`},
			{map[string]any{"type": "EXEMPLIFIES", "pattern_type": "habit", "confidence": 0.7},
				`"relation_type":"EXEMPLIFIES","strength":0.5,"pattern_type":"habit","confidence":0.7`},
			{map[string]any{"type": "INVALIDATED_BY", "reason": "moved", "timestamp": "2024-01-01T00:00:00Z"},
				`"relation_type":"INVALIDATED_BY","strength":0.5,"reason":"moved","timestamp":"2024-01-01T00:00:00Z"`},
			{map[string]any{"type": "PART_OF", "role": "chapter", "context": "book", "reason": "not a PART_OF prop"},
				`"relation_type":"PART_OF","strength":0.5,"role":"chapter","context":"book"`},
			{map[string]any{"type": "REINFORCES", "strength": 1, "observations": 3},
				`"relation_type":"REINFORCES","strength":1,"observations":3`},
		} {
			body := map[string]any{"memory1_id": b, "memory2_id": c}
			for k, v := range tc.body {
				body[k] = v
			}
			r := s.As(tok, "POST", "/associate", body).Expect(t, 201)
			mtJSON(t, fmt.Sprint(tc.body["type"]), r.Body,
				fmt.Sprintf(`{"status":"success","message":"Association created between %s and %s",%s}`, b, c, tc.want))
		}
		mtExpectStats(t, s, "assoc", mtCounts{3, 6, 3})
	})

	t.Run("re-associating updates", func(t *testing.T) {
		s.As(tok, "POST", "/associate", map[string]any{"memory1_id": a, "memory2_id": b, "type": "RELATES_TO", "strength": 0.9}).Expect(t, 201)
		mtExpectStats(t, s, "assoc", mtCounts{3, 6, 3})
		r := mtRecall(t, s, tok, "query", "memory A about vim", "limit", "1")
		rels := mtArr(t, mtRow(t, r, a)["relations"])
		if len(rels) != 1 {
			t.Fatalf("relations of A: %v", rels)
		}
		rel := mtObj(t, rels[0])
		if rel["type"] != "RELATES_TO" || rel["strength"] != 0.9 || mtObj(t, rel["memory"])["id"] != b {
			t.Errorf("relation after update: %v", rel)
		}
	})

	t.Run("unknown memory", func(t *testing.T) {
		s.As(tok, "POST", "/associate", map[string]any{"memory1_id": a, "memory2_id": missing}).ExpectError(t, 404, "One or both memories do not exist")
		mtExpectStats(t, s, "assoc", mtCounts{3, 6, 3})
	})

	t.Run("batch all succeed", func(t *testing.T) {
		r := s.As(tok, "POST", "/associate", map[string]any{"associations": []any{
			map[string]any{"memory1_id": a, "memory2_id": c, "type": "leads_to", "strength": 0.3},
			map[string]any{"memory1_id": c, "memory2_id": a},
		}}).Expect(t, 201)
		mtJSON(t, "batch", r.Body, fmt.Sprintf(`{"status":"success","created_count":2,"failed_count":0,
			"succeeded":[{"index":0,"memory1_id":%q,"memory2_id":%q,"relation_type":"LEADS_TO","strength":0.3},
			             {"index":1,"memory1_id":%q,"memory2_id":%q,"relation_type":"RELATES_TO","strength":0.5}],
			"failed":[],"summary":"2/2 associations created successfully"}`, a, c, c, a))
		mtExpectStats(t, s, "assoc", mtCounts{3, 8, 3})
	})

	t.Run("batch partial", func(t *testing.T) {
		r := s.As(tok, "POST", "/associate", map[string]any{"associations": []any{
			map[string]any{"memory1_id": a, "memory2_id": c, "type": "CONTRADICTS", "resolution": "none"},
			"not an object",
			map[string]any{"memory1_id": a},
			map[string]any{"memory1_id": "nope", "memory2_id": b},
			map[string]any{"memory1_id": a, "memory2_id": "nope"},
			map[string]any{"memory1_id": a, "memory2_id": a},
			map[string]any{"memory1_id": a, "memory2_id": b, "type": "LIKES"},
			map[string]any{"memory1_id": a, "memory2_id": missing},
			map[string]any{"memory1_id": b, "memory2_id": a, "type": "EVOLVED_INTO", "strength": 0.6},
		}}).Expect(t, 207)
		types := "['CONTRADICTS', 'DERIVED_FROM', 'EVOLVED_INTO', 'EXEMPLIFIES', 'INVALIDATED_BY', 'LEADS_TO', 'OCCURRED_BEFORE', 'PART_OF', 'PREFERS_OVER', 'REINFORCES', 'RELATES_TO']"
		mtJSON(t, "batch", r.Body, fmt.Sprintf(`{"status":"partial_success","created_count":2,"failed_count":7,
			"succeeded":[{"index":0,"memory1_id":%q,"memory2_id":%q,"relation_type":"CONTRADICTS","strength":0.5},
			             {"index":8,"memory1_id":%q,"memory2_id":%q,"relation_type":"EVOLVED_INTO","strength":0.6}],
			"failed":[{"index":1,"reason":"Association item must be an object"},
			          {"index":2,"reason":"'memory1_id' and 'memory2_id' are required"},
			          {"index":3,"reason":"'memory1_id' must be a valid UUID"},
			          {"index":4,"reason":"'memory2_id' must be a valid UUID"},
			          {"index":5,"reason":"Cannot associate a memory with itself"},
			          {"index":6,"reason":"Relation type must be one of %s"},
			          {"index":7,"reason":"One or both memories do not exist"}],
			"summary":"2/9 associations created successfully"}`, a, c, b, a, types))
		mtExpectStats(t, s, "assoc", mtCounts{3, 10, 3})
	})

	t.Run("batch all fail", func(t *testing.T) {
		r := s.As(tok, "POST", "/associate", map[string]any{"associations": []any{
			map[string]any{"memory1_id": a, "memory2_id": missing},
		}}).Expect(t, 207)
		mtJSON(t, "batch", r.Body, `{"status":"partial_success","created_count":0,"failed_count":1,"succeeded":[],
			"failed":[{"index":0,"reason":"One or both memories do not exist"}],"summary":"0/1 associations created successfully"}`)
		mtExpectStats(t, s, "assoc", mtCounts{3, 10, 3})
	})
}

// ---------------------------------------------------------------------------
// GET /memories/{id}/related

func TestRelated(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tok := mtTenant(t, s, "related")
	mem := func(content string, importance float64, ts string) string {
		return s.Store(tok, map[string]any{"content": content, "importance": importance, "timestamp": ts})
	}
	a := mem("node A", 0.5, "2024-01-01T00:00:00Z")
	b := mem("node B", 0.6, "2024-01-02T00:00:00Z")
	c := mem("node C", 0.9, "2024-01-03T00:00:00Z")
	d := mem("node D", 0.7, "2024-01-04T00:00:00Z")
	e := mem("node E", 0.8, "2024-01-05T00:00:00Z")
	f := mem("node F", 0.8, "2024-01-06T00:00:00Z")
	assoc := func(x, y, typ string) {
		s.As(tok, "POST", "/associate", map[string]any{"memory1_id": x, "memory2_id": y, "type": typ}).Expect(t, 201)
	}
	assoc(a, b, "RELATES_TO")
	assoc(a, e, "CONTRADICTS")
	assoc(a, f, "RELATES_TO")
	assoc(b, c, "LEADS_TO")
	assoc(d, c, "PART_OF")
	assoc(b, a, "REINFORCES") // a cycle: a must never be its own relative

	related := func(t *testing.T, id string, kv ...string) *Response {
		t.Helper()
		r := s.As(tok, "GET", "/memories/"+id+"/related"+Q(kv...), nil).Expect(t, 200)
		if r.Body["status"] != "success" || r.Body["memory_id"] != id {
			t.Fatalf("related: %s", r.Raw)
		}
		if n := len(mtArr(t, r.Body["related_memories"])); r.Body["count"] != float64(n) {
			t.Fatalf("count %v for %d", r.Body["count"], n)
		}
		return r
	}
	relIDs := func(r *Response) []string {
		if r.Body["related_memories"] == nil {
			return nil
		}
		return mtIDs(t, r.Body["related_memories"])
	}

	t.Run("depth 1 default", func(t *testing.T) {
		r := related(t, a)
		mtList(t, "depth 1", relIDs(r), f, e, b)
		if r.Body["max_depth"] != float64(1) || r.Body["limit"] != float64(5) {
			t.Errorf("defaults: %s", r.Raw)
		}
		if n := len(mtStrs(t, r.Body["relationship_types"])); n != 11 {
			t.Errorf("default relationship_types has %d types, want the 11 authorable: %v", n, r.Body["relationship_types"])
		}
		m := mtObj(t, mtArr(t, r.Body["related_memories"])[0])
		if m["importance"] != 0.8 || m["timestamp"] != "2024-01-06T00:00:00+00:00" {
			t.Errorf("related memory: %v", m)
		}
	})

	t.Run("max_depth", func(t *testing.T) {
		mtList(t, "depth 2", relIDs(related(t, a, "max_depth", "2")), c, f, e, b)
		mtList(t, "depth 3", relIDs(related(t, a, "max_depth", "3", "limit", "10")), c, f, e, d, b)
		r := related(t, a, "max_depth", "10", "limit", "10")
		mtList(t, "depth 10 clamps to 3", relIDs(r), c, f, e, d, b)
		if r.Body["max_depth"] != float64(3) {
			t.Errorf("max_depth echo: %v", r.Body["max_depth"])
		}
		r = related(t, a, "max_depth", "0")
		mtList(t, "depth 0 clamps to 1", relIDs(r), f, e, b)
	})

	t.Run("limit", func(t *testing.T) {
		r := related(t, a, "max_depth", "3", "limit", "2")
		mtList(t, "limit 2", relIDs(r), c, f)
		if r.Body["limit"] != float64(2) {
			t.Errorf("limit echo: %v", r.Body["limit"])
		}
	})

	t.Run("relationship_types", func(t *testing.T) {
		r := related(t, a, "max_depth", "3", "relationship_types", "RELATES_TO,leads_to")
		mtList(t, "RELATES_TO,LEADS_TO", relIDs(r), c, f, b)
		mtJSON(t, "relationship_types", r.Body["relationship_types"], `["RELATES_TO","LEADS_TO"]`)
		mtList(t, "unknown type falls back to default", relIDs(related(t, a, "relationship_types", "BOGUS")), f, e, b)
		mtList(t, "CONTRADICTS only", relIDs(related(t, a, "relationship_types", "CONTRADICTS")), e)
	})

	t.Run("undirected", func(t *testing.T) {
		mtList(t, "from C", relIDs(related(t, c)), d, b)
	})

	t.Run("unknown ids", func(t *testing.T) {
		mtList(t, "unknown uuid", relIDs(related(t, "44444444-4444-4444-8444-444444444444")))
		mtList(t, "not a uuid", relIDs(related(t, "not-a-uuid")))
	})
}

// ---------------------------------------------------------------------------
// GET /startup-recall and GET /analyze

func TestStartupRecall(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tok := mtTenant(t, s, "startup")
	l1 := s.Store(tok, map[string]any{"content": "never force-push main", "tags": []string{"critical"}, "importance": 0.95, "type": "Insight", "metadata": map[string]any{"why": "history"}})
	l2 := s.Store(tok, map[string]any{"content": "lesson two", "tags": []string{"lesson", "x"}, "importance": 0.6, "type": "Pattern"})
	l3 := s.Store(tok, map[string]any{"content": "assistant lesson", "tags": []string{"ai-assistant"}, "importance": 0.7, "type": "Context"})
	r1 := s.Store(tok, map[string]any{"content": "rule one", "tags": []string{"system"}})
	r2 := s.Store(tok, map[string]any{"content": "rule two", "tags": []string{"memory-recall"}})
	s.Store(tok, map[string]any{"content": "unrelated", "tags": []string{"other", "lessons"}, "importance": 1})

	r := s.As(tok, "GET", "/startup-recall", nil).Expect(t, 200)
	if r.Body["status"] != "success" || r.Body["lesson_count"] != float64(3) || r.Body["has_critical"] != true ||
		r.Body["summary"] != "Recalled 3 lesson(s) and 2 system rule(s)" {
		t.Errorf("startup-recall: %s", r.Raw)
	}
	lessons := mtArr(t, r.Body["critical_lessons"])
	mtList(t, "critical_lessons", mtIDs(t, lessons), l1, l3, l2)
	mtJSON(t, "first lesson", lessons[0], fmt.Sprintf(`{"id":%q,"content":"never force-push main","tags":["critical"],"importance":0.95,"type":"Insight","metadata":{"why":"history"}}`, l1))
	rules := mtArr(t, r.Body["system_rules"])
	mtSet(t, "system_rules", mtIDs(t, rules), r1, r2)
	for _, x := range rules {
		rule := mtObj(t, x)
		if rule["id"] == r1 {
			mtJSON(t, "rule", rule, fmt.Sprintf(`{"id":%q,"content":"rule one","tags":["system"]}`, r1))
		}
	}

	t.Run("empty and limits", func(t *testing.T) {
		tok2 := mtTenant(t, s, "startup2")
		r := s.As(tok2, "GET", "/startup-recall", nil).Expect(t, 200)
		mtJSON(t, "empty", r.Body, `{"status":"success","critical_lessons":[],"system_rules":[],"lesson_count":0,"has_critical":false,"summary":"Recalled 0 lesson(s) and 0 system rule(s)"}`)

		var items []map[string]any
		for i := 0; i < 12; i++ {
			items = append(items, map[string]any{"content": fmt.Sprintf("lesson %02d", i), "tags": []string{"lesson"}, "importance": float64(i) / 20})
		}
		for i := 0; i < 7; i++ {
			items = append(items, map[string]any{"content": fmt.Sprintf("rule %02d", i), "tags": []string{"system"}})
		}
		s.As(tok2, "POST", "/memory/batch", map[string]any{"memories": items}).Expect(t, 201)
		r = s.As(tok2, "GET", "/startup-recall", nil).Expect(t, 200)
		lessons := mtArr(t, r.Body["critical_lessons"])
		if len(lessons) != 10 || len(mtArr(t, r.Body["system_rules"])) != 5 || r.Body["lesson_count"] != float64(10) || r.Body["has_critical"] != false {
			t.Fatalf("limits: %s", r.Raw)
		}
		if mtObj(t, lessons[0])["content"] != "lesson 11" || mtObj(t, lessons[9])["content"] != "lesson 02" {
			t.Errorf("lessons not by importance desc: first %v last %v", mtObj(t, lessons[0])["content"], mtObj(t, lessons[9])["content"])
		}
		if r.Body["summary"] != "Recalled 10 lesson(s) and 5 system rule(s)" {
			t.Errorf("summary: %v", r.Body["summary"])
		}
	})
}

func TestAnalyze(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tok := mtTenant(t, s, "analyze")
	d1 := s.Store(tok, map[string]any{"content": "use postgres", "type": "Decision", "confidence": 0.9, "importance": 0.8, "timestamp": "2024-01-01T09:10:00Z"})
	d2 := s.Store(tok, map[string]any{"content": "use mysql", "type": "Decision", "confidence": 0.8, "importance": 0.4, "timestamp": "2024-01-02T09:20:00Z"})
	s.Store(tok, map[string]any{"content": "caches go stale", "type": "Insight", "confidence": 0.5, "importance": 0.5, "timestamp": "2024-01-03T14:00:00Z"})
	s.Store(tok, map[string]any{"content": "background", "type": "Context", "confidence": 0.2, "importance": 0.1, "timestamp": "2024-01-04T23:59:00Z",
		"metadata": map[string]any{"keywords": []string{"go", "sqlite"}, "topics": []string{"go"}}})
	s.As(tok, "POST", "/associate", map[string]any{"memory1_id": d1, "memory2_id": d2, "type": "PREFERS_OVER", "context": "databases", "strength": 0.8}).Expect(t, 201)
	s.As(tok, "POST", "/associate", map[string]any{"memory1_id": d2, "memory2_id": d1, "type": "RELATES_TO"}).Expect(t, 201)

	r := s.As(tok, "GET", "/analyze", nil).Expect(t, 200)
	if r.Body["status"] != "success" {
		t.Fatalf("analyze: %s", r.Raw)
	}
	mtNum(t, r.Body["elapsed_ms"])
	an := mtObj(t, r.Body["analytics"])
	mtJSON(t, "memory_types", an["memory_types"], `{"Decision":{"count":2,"average_confidence":0.85},"Insight":{"count":1,"average_confidence":0.5},"Context":{"count":1,"average_confidence":0.2}}`)
	mtJSON(t, "confidence_distribution", an["confidence_distribution"], `{"low":1,"medium":1,"high":2}`)
	mtJSON(t, "temporal_insights", an["temporal_insights"], `{"hour_09":{"count":2,"avg_importance":0.6},"hour_14":{"count":1,"avg_importance":0.5},"hour_23":{"count":1,"avg_importance":0.1}}`)
	mtJSON(t, "preferences", an["preferences"], `[{"prefers":"use postgres","over":"use mysql","context":"databases","strength":0.8}]`)
	mtJSON(t, "entity_frequency", an["entity_frequency"], `{"go":2,"sqlite":1}`)
	mtJSON(t, "patterns", an["patterns"], `[]`)
}

// ---------------------------------------------------------------------------
// GET /health

func TestHealth(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tokA := mtTenant(t, s, "health-a")
	tokB := mtTenant(t, s, "health-b")
	memIDs := make([]string, 3)
	for i := range memIDs {
		memIDs[i] = s.Store(tokA, map[string]any{"content": fmt.Sprintf("health memory %d", i)})
	}
	s.Store(tokB, map[string]any{"content": "b's only memory"})

	check := func(r *Response, mem, vec any) {
		t.Helper()
		r.Expect(t, 200)
		if r.Body["status"] != "healthy" {
			t.Errorf("status: %s", r.Raw)
		}
		if r.Body["memory_count"] != mem || r.Body["vector_count"] != vec {
			t.Errorf("memory_count %v vector_count %v, want %v %v: %s", r.Body["memory_count"], r.Body["vector_count"], mem, vec, r.Raw)
		}
		vd := mtObj(t, r.Body["vector_dimensions"])
		if vd["configured"] != float64(768) || vd["mismatch"] != false {
			t.Errorf("vector_dimensions: %v", vd)
		}
		for _, k := range []string{"falkordb", "qdrant", "sync_status", "enrichment", "timestamp", "graph"} {
			if _, ok := r.Body[k]; !ok {
				t.Errorf("health lacks %q", k)
			}
		}
		mtTime(t, r.Body["timestamp"])
	}

	t.Run("no key", func(t *testing.T) {
		r := s.Do("GET", "/health", nil)
		check(r, nil, nil)
		if _, ok := r.Body["tenant_id"]; ok || strings.Contains(string(r.Raw), "health-a") {
			t.Errorf("health without a key names a tenant: %s", r.Raw)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		r := s.As("not-a-real-token", "GET", "/health", nil)
		check(r, nil, nil)
		if strings.Contains(string(r.Raw), "health-") {
			t.Errorf("health with a wrong key names a tenant: %s", r.Raw)
		}
	})
	t.Run("tenant key", func(t *testing.T) {
		check(s.As(tokA, "GET", "/health", nil), float64(3), float64(3))
		check(s.Do("GET", "/health", nil, "X-API-Key", tokB), float64(1), float64(1))
		s.As(tokA, "DELETE", "/memory/"+memIDs[0], nil).Expect(t, 200)
		check(s.As(tokA, "GET", "/health", nil), float64(2), float64(2))
		check(s.As(tokB, "GET", "/health", nil), float64(1), float64(1))
	})
}

// ---------------------------------------------------------------------------
// GET /recall

func TestRecallResponse(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tok := mtTenant(t, s, "shape")
	id := s.Store(tok, map[string]any{"content": "The project database migration finished", "tags": []string{"db"}, "metadata": map[string]any{"m": "x"}})
	s.Store(tok, map[string]any{"content": "Completely different topic about birds"})

	r := mtRecall(t, s, tok, "query", "Project database migration", "limit", "1")
	b := r.Body
	for k, want := range map[string]any{"query": "Project database migration", "sort": "score", "state_mode": "current",
		"tag_mode": "any", "tag_match": "prefix", "count": float64(1)} {
		if b[k] != want {
			t.Errorf("%s = %#v, want %#v", k, b[k], want)
		}
	}
	mtNum(t, b["dedup_removed"])
	mtNum(t, b["query_time_ms"])
	mtJSON(t, "vector_search", b["vector_search"], `{"enabled":true,"matched":true}`)
	mtJSON(t, "keywords", b["keywords"], `["project","database","migration"]`)
	for _, k := range []string{"tags", "tag_scope", "time_window", "queries", "expansion"} {
		if _, ok := b[k]; ok {
			t.Errorf("unasked-for key %q present: %s", k, r.Raw)
		}
	}

	row := mtRows(t, r)[0]
	if row["id"] != id {
		t.Fatalf("top row: %s", r.Raw)
	}
	for _, k := range []string{"id", "score", "match_score", "match_type", "source", "memory", "relations", "final_score", "original_score", "score_components"} {
		if _, ok := row[k]; !ok {
			t.Errorf("row lacks %q", k)
		}
	}
	if row["score"] != row["final_score"] {
		t.Errorf("score %v != final_score %v", row["score"], row["final_score"])
	}
	switch row["match_type"] {
	case "vector", "keyword", "trending", "metadata", "tag", "relation", "entity_expansion", "priority_id", "state_replacement":
	default:
		t.Errorf("match_type %v", row["match_type"])
	}
	// AutoMem says "qdrant" for vector rows; mnemo has no Qdrant in embedded
	// mode and says "vector" (docs/compatibility.md).
	if src := row["source"]; src != "vector" {
		t.Errorf("source = %v, want vector for a vector-matched row", src)
	}
	m := mtObj(t, row["memory"])
	if m["id"] != id || m["content"] != "The project database migration finished" {
		t.Errorf("memory: %v", m)
	}
	mtJSON(t, "memory.metadata", m["metadata"], `{"m":"x"}`)
	mtJSON(t, "relations", row["relations"], `[]`)
	sc := mtObj(t, row["score_components"])
	for _, k := range []string{"vector", "keyword", "metadata", "relation", "tag", "importance", "confidence", "recency", "exact", "relevance", "context", "evidence", "relevance_gated"} {
		if _, ok := sc[k]; !ok {
			t.Errorf("score_components lacks %q", k)
		}
	}
	if sc["keyword"] != float64(1) || sc["importance"] != 0.5 {
		t.Errorf("score_components: %v", sc)
	}

	t.Run("tags echo", func(t *testing.T) {
		r := mtRecall(t, s, tok, "query", "database", "tags", " DB ")
		mtJSON(t, "tags", r.Body["tags"], `["db"]`)
		tagScope := mtObj(t, r.Body["tag_scope"])
		if tagScope["filtered"] != true {
			t.Errorf("tag_scope: %v", tagScope)
		}
		mtList(t, "scoped", ids(r), id)
	})
}

func TestRecallTags(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tok := mtTenant(t, s, "tags")
	mk := func(content string, tags ...string) string {
		return s.Store(tok, map[string]any{"content": content, "tags": tags})
	}
	a := mk("note a", "conversation_5")
	b := mk("note b", "conv")
	c := mk("note c", "project:x")
	d := mk("note d", "project")
	e := mk("note e", "Project/Y:z")
	f := mk("note f", "other")
	g := mk("note g", "conv", "project:x")

	// Query-less (trending) and with a query: a tag scope decides the set.
	set := func(t *testing.T, kv ...string) []string {
		t.Helper()
		return ids(mtRecall(t, s, tok, append([]string{"limit", "100", "adaptive_floor", "false"}, kv...)...))
	}
	for _, c := range []struct {
		name string
		kv   []string
		want []string
	}{
		{"prefix is segment-wise: conv", []string{"tags", "conv"}, []string{b, g}},
		{"prefix project", []string{"tags", "project"}, []string{c, d, e, g}},
		{"prefix project:x", []string{"tags", "project:x"}, []string{c, g}},
		{"slash canonicalised in stored tags", []string{"tags", "project:y"}, []string{e}},
		{"slash in a filter never matches", []string{"tags", "project/y"}, nil},
		{"case-insensitive", []string{"tags", "PROJECT:X"}, []string{c, g}},
		{"exact", []string{"tags", "project", "tag_match", "exact"}, []string{d}},
		{"exact full tag", []string{"tags", "project:x", "tag_match", "exact"}, []string{c, g}},
		{"exact conv", []string{"tags", "conv", "tag_match", "exact"}, []string{b, g}},
		{"any", []string{"tags", "conv", "tags", "project"}, []string{b, c, d, e, g}},
		{"all", []string{"tags", "conv", "tags", "project", "tag_mode", "all"}, []string{g}},
		{"all exact", []string{"tags", "conv", "tags", "project", "tag_mode", "all", "tag_match", "exact"}, nil},
		{"not comma-split", []string{"tags", "conv,other"}, nil},
		{"exclude startswith", []string{"exclude_tags", "conv"}, []string{c, d, e, f}},
		{"exclude prefix is raw", []string{"exclude_tags", "proj"}, []string{a, b, f}},
		{"exclude comma-split", []string{"exclude_tags", "conv,other"}, []string{c, d, e}},
		{"exclude repeated", []string{"exclude_tags", "conv", "exclude_tags", "OTHER"}, []string{c, d, e}},
		{"scope and exclude", []string{"tags", "project", "exclude_tags", "project:"}, []string{d, e}},
	} {
		t.Run(c.name, func(t *testing.T) {
			mtSet(t, "no query", set(t, c.kv...), c.want...)
			mtSet(t, "with query", set(t, append(c.kv, "query", "note")...), c.want...)
		})
	}

	t.Run("echo", func(t *testing.T) {
		r := mtRecall(t, s, tok, "tags", "conv", "tags", "project", "tag_mode", "ALL", "tag_match", "exact", "exclude_tags", "x,y")
		if r.Body["tag_mode"] != "all" || r.Body["tag_match"] != "exact" {
			t.Errorf("modes: %s", r.Raw)
		}
		mtJSON(t, "exclude_tags", r.Body["exclude_tags"], `["x","y"]`)
		r = mtRecall(t, s, tok, "tags", "conv", "tag_mode", "bogus", "tag_match", "bogus")
		if r.Body["tag_mode"] != "any" || r.Body["tag_match"] != "prefix" {
			t.Errorf("unknown modes must fall back to any/prefix: %s", r.Raw)
		}
	})
}

func TestRecallTime(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tok := mtTenant(t, s, "time")
	now := time.Now().UTC()
	today0 := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	at := func(content string, ts time.Time) string {
		return s.Store(tok, map[string]any{"content": content, "timestamp": ts.Format(time.RFC3339Nano)})
	}
	today := s.Store(tok, map[string]any{"content": "written just now"})
	yesterday := at("written yesterday noon", today0.Add(-12*time.Hour))
	threeDays := at("written three days ago", now.Add(-72*time.Hour))
	month := at("written a month ago", now.AddDate(0, 0, -30))

	t.Run("today", func(t *testing.T) {
		r := mtRecall(t, s, tok, "time_query", "today", "limit", "10")
		mtList(t, "today", ids(r), today)
		mtJSON(t, "time_window", r.Body["time_window"], fmt.Sprintf(`{"start":%q,"end":%q}`, mtISO(today0), mtISO(today0.AddDate(0, 0, 1))))
		if r.Body["sort"] != "time_desc" {
			t.Errorf("a window without a query must sort time_desc: %v", r.Body["sort"])
		}
	})
	t.Run("yesterday", func(t *testing.T) {
		r := mtRecall(t, s, tok, "time_query", "yesterday", "limit", "10")
		mtList(t, "yesterday", ids(r), yesterday)
		mtJSON(t, "time_window", r.Body["time_window"], fmt.Sprintf(`{"start":%q,"end":%q}`, mtISO(today0.AddDate(0, 0, -1)), mtISO(today0)))
	})
	t.Run("last 7 days", func(t *testing.T) {
		r := mtRecall(t, s, tok, "time_query", "last 7 days", "limit", "10")
		mtList(t, "last 7 days, newest first", ids(r), today, yesterday, threeDays)
		r = mtRecall(t, s, tok, "time", "Last 7 Days", "limit", "10", "sort", "time_asc")
		mtList(t, "alias time, time_asc", ids(r), threeDays, yesterday, today)
		if r.Body["sort"] != "time_asc" {
			t.Errorf("sort echo: %v", r.Body["sort"])
		}
	})
	t.Run("with a query", func(t *testing.T) {
		r := mtRecall(t, s, tok, "query", "written", "time_query", "last 7 days", "limit", "10", "adaptive_floor", "false")
		mtSet(t, "query within window", ids(r), today, yesterday, threeDays)
		if r.Body["sort"] != "score" {
			t.Errorf("with a query the sort stays score: %v", r.Body["sort"])
		}
	})
	t.Run("start overrides the phrase's start", func(t *testing.T) {
		r := mtRecall(t, s, tok, "time_query", "today", "start", now.AddDate(0, 0, -31).Format(time.RFC3339), "limit", "10")
		mtList(t, "start override", ids(r), today, yesterday, threeDays, month)
	})
}

func TestRecallStartEndSortLimit(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tok := mtTenant(t, s, "window")
	var m []string
	for _, day := range []string{"05", "10", "15", "20", "25"} {
		m = append(m, s.Store(tok, map[string]any{"content": "window note " + day, "timestamp": "2024-01-" + day + "T00:00:00Z"}))
	}

	t.Run("start and end inclusive", func(t *testing.T) {
		r := mtRecall(t, s, tok, "start", "2024-01-10T00:00:00Z", "end", "2024-01-20T00:00:00Z", "limit", "10")
		mtList(t, "window", ids(r), m[3], m[2], m[1])
		mtJSON(t, "time_window", r.Body["time_window"], `{"start":"2024-01-10T00:00:00+00:00","end":"2024-01-20T00:00:00+00:00"}`)
		mtList(t, "end only", ids(mtRecall(t, s, tok, "end", "2024-01-12", "limit", "10")), m[1], m[0])
		mtList(t, "start only", ids(mtRecall(t, s, tok, "start", "2024-01-20", "limit", "10")), m[4], m[3])
		r = mtRecall(t, s, tok, "query", "window note", "start", "2024-01-10", "end", "2024-01-20", "limit", "10", "adaptive_floor", "false")
		mtSet(t, "window with a query", ids(r), m[1], m[2], m[3])
		if r.Body["sort"] != "score" {
			t.Errorf("with a query the sort stays score: %v", r.Body["sort"])
		}
	})
	t.Run("sort", func(t *testing.T) {
		mtList(t, "time_asc", ids(mtRecall(t, s, tok, "sort", "time_asc", "limit", "3")), m[0], m[1], m[2])
		mtList(t, "time_desc", ids(mtRecall(t, s, tok, "sort", "time_desc", "limit", "3")), m[4], m[3], m[2])
		mtList(t, "order_by alias", ids(mtRecall(t, s, tok, "order_by", "time_asc", "limit", "2")), m[0], m[1])
		r := mtRecall(t, s, tok, "query", "window note", "sort", "time_asc", "limit", "10", "adaptive_floor", "false")
		mtList(t, "query time_asc", ids(r), m...)
		r = mtRecall(t, s, tok, "query", "window note", "sort", "time_desc", "limit", "10", "adaptive_floor", "false")
		mtList(t, "query time_desc", ids(r), m[4], m[3], m[2], m[1], m[0])
		if r.Body["sort"] != "time_desc" {
			t.Errorf("sort echo %v", r.Body["sort"])
		}
		r = mtRecall(t, s, tok, "sort", "sideways")
		if r.Body["sort"] != "score" {
			t.Errorf("unknown sort must fall back to score: %v", r.Body["sort"])
		}
	})
	t.Run("limit", func(t *testing.T) {
		for _, c := range []struct {
			limit string
			want  int
		}{{"2", 2}, {"0", 1}, {"-3", 1}, {"abc", 5}, {"", 5}, {"1000", 5}} {
			r := mtRecall(t, s, tok, "limit", c.limit, "sort", "time_asc")
			if got := len(ids(r)); got != c.want {
				t.Errorf("limit=%q gave %d results, want %d", c.limit, got, c.want)
			}
		}
	})
}

func TestRecallExpandRelations(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tok := mtTenant(t, s, "expand")
	long := "2020-01-01T00:00:00+00:00"
	seed := s.Store(tok, map[string]any{"content": "zebra crossing safety rules", "tags": []string{"seed"}, "last_accessed": long})
	rel := s.Store(tok, map[string]any{"content": "completely unrelated quantum topic", "tags": []string{"other"}, "last_accessed": long})
	s.Store(tok, map[string]any{"content": "noise memory about cooking", "tags": []string{"noise"}})
	s.As(tok, "POST", "/associate", map[string]any{"memory1_id": seed, "memory2_id": rel, "type": "RELATES_TO", "strength": 0.7}).Expect(t, 201)
	testStart := time.Now().UTC()

	t.Run("off by default", func(t *testing.T) {
		r := mtRecall(t, s, tok, "query", "zebra crossing safety rules", "tags", "seed")
		mtList(t, "no expansion", ids(r), seed)
		if _, ok := r.Body["expansion"]; ok {
			t.Errorf("expansion block without expand_relations: %s", r.Raw)
		}
	})

	t.Run("expanded", func(t *testing.T) {
		r := mtRecall(t, s, tok, "query", "zebra crossing safety rules", "tags", "seed", "expand_relations", "true")
		mtList(t, "seed then relation", ids(r), seed, rel)
		mtJSON(t, "expansion", r.Body["expansion"], `{"enabled":true,"seed_count":1,"expanded_count":1,"relation_limit":5,"expansion_limit":25,"respect_tags":false}`)
		seedRow, relRow := mtRow(t, r, seed), mtRow(t, r, rel)
		seedScore := mtNum(t, seedRow["final_score"])
		if relRow["match_type"] != "relation" || relRow["source"] != "graph" {
			t.Errorf("relation row: %v", relRow)
		}
		relatedTo := mtArr(t, relRow["related_to"])
		if len(relatedTo) != 1 {
			t.Fatalf("related_to: %v", relatedTo)
		}
		edge := mtObj(t, relatedTo[0])
		if edge["type"] != "RELATES_TO" || edge["strength"] != 0.7 || edge["from"] != seed {
			t.Errorf("related_to edge: %v", edge)
		}
		if !mtNear(mtNum(t, relRow["relation_score"]), 0.7+seedScore*0.25, 1e-9) {
			t.Errorf("relation_score %v, want 0.7 + %v*0.25", relRow["relation_score"], seedScore)
		}
		// Reference §4.2: a relation row carries the edge in relations too.
		found := false
		for _, x := range mtArr(t, relRow["relations"]) {
			if e := mtObj(t, x); e["type"] == "RELATES_TO" && e["from"] == seed {
				found = true
			}
		}
		if !found {
			t.Errorf("relation row's relations = %v, want the edge {type RELATES_TO, strength 0.7, from %s}", relRow["relations"], seed)
		}
		// The seed lists its outgoing relation.
		rels := mtArr(t, seedRow["relations"])
		if len(rels) != 1 || mtObj(t, rels[0])["type"] != "RELATES_TO" || mtObj(t, mtObj(t, rels[0])["memory"])["id"] != rel || mtObj(t, rels[0])["strength"] != 0.7 {
			t.Errorf("seed relations: %v", rels)
		}
	})

	t.Run("last_accessed bumped for seeds only", func(t *testing.T) {
		r := mtRecall(t, s, tok, "query", "zebra crossing safety rules", "tags", "seed", "expand", "1")
		mtWithin(t, "seed last_accessed", mtTime(t, mtObj(t, mtRow(t, r, seed)["memory"])["last_accessed"]), testStart, time.Now().UTC())
		if got := mtObj(t, mtRow(t, r, rel)["memory"])["last_accessed"]; got != long {
			t.Errorf("expanded memory's last_accessed = %v, want untouched %s", got, long)
		}
	})

	t.Run("respect tags and exclude", func(t *testing.T) {
		r := mtRecall(t, s, tok, "query", "zebra crossing safety rules", "tags", "seed", "expand_relations", "true", "expand_respect_tags", "true")
		mtList(t, "respect tags", ids(r), seed)
		if mtObj(t, r.Body["expansion"])["expanded_count"] != float64(0) || mtObj(t, r.Body["expansion"])["respect_tags"] != true {
			t.Errorf("expansion: %v", r.Body["expansion"])
		}
		r = mtRecall(t, s, tok, "query", "zebra crossing safety rules", "tags", "seed", "expand_associations", "yes", "exclude_tags", "oth")
		mtList(t, "exclude_tags applies to expansions", ids(r), seed)
	})

	t.Run("undirected", func(t *testing.T) {
		r := mtRecall(t, s, tok, "query", "completely unrelated quantum topic", "tags", "other", "expand_relations", "on")
		mtList(t, "from the target", ids(r), rel, seed)
		if mtRow(t, r, seed)["match_type"] != "relation" {
			t.Errorf("seed reached by incoming edge: %v", mtRow(t, r, seed))
		}
	})

	t.Run("expand_min_strength", func(t *testing.T) {
		r := mtRecall(t, s, tok, "query", "zebra crossing safety rules", "tags", "seed", "expand_relations", "true", "expand_min_strength", "0.8")
		mtList(t, "strength 0.7 < 0.8", ids(r), seed)
	})
}

func TestRecallCurrentState(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)

	t.Run("validity window", func(t *testing.T) {
		tok := mtTenant(t, s, "validity")
		expired := s.Store(tok, map[string]any{"content": "expired fact about the old printer", "timestamp": "2019-06-01T00:00:00Z", "t_invalid": "2020-01-01T00:00:00Z"})
		future := s.Store(tok, map[string]any{"content": "future fact about the new printer", "t_valid": "2999-01-01T00:00:00Z"})
		current := s.Store(tok, map[string]any{"content": "current fact about the printer"})

		for _, withQuery := range []bool{true, false} {
			kv := []string{"limit", "10", "adaptive_floor", "false"}
			if withQuery {
				kv = append(kv, "query", "printer fact")
			}
			r := mtRecall(t, s, tok, kv...)
			mtList(t, "current", ids(r), current)
			mtJSON(t, "state_filter", r.Body["state_filter"], `{"current_only":true,"suppressed_count":2,"replacement_count":0}`)

			r = mtRecall(t, s, tok, append(kv, "state_mode", "history")...)
			mtSet(t, "history", ids(r), current, expired, future)
			if r.Body["state_mode"] != "history" {
				t.Errorf("state_mode echo: %v", r.Body["state_mode"])
			}
			mtSet(t, "current_only=false", ids(mtRecall(t, s, tok, append(kv, "current_only", "false")...)), current, expired, future)
			mtList(t, "current_only wins over state_mode", ids(mtRecall(t, s, tok, append(kv, "current_only", "true", "state_mode", "history")...)), current)
		}

		r := mtRecall(t, s, tok, "query", "printer fact", "limit", "10", "adaptive_floor", "false", "state_debug", "true")
		sf := mtObj(t, r.Body["state_filter"])
		reasons := map[string]string{}
		for _, x := range mtArr(t, sf["suppressed"]) {
			e := mtObj(t, x)
			reasons[e["id"].(string)] = e["reason"].(string)
		}
		if !reflect.DeepEqual(reasons, map[string]string{expired: "expired", future: "not_yet_valid"}) {
			t.Errorf("suppressed reasons: %v", sf["suppressed"])
		}
		mtJSON(t, "replacements", sf["replacements"], `[]`)
	})

	t.Run("superseded memory is replaced", func(t *testing.T) {
		tok := mtTenant(t, s, "supersede")
		old := s.Store(tok, map[string]any{"content": "The team office is located in Berlin", "tags": []string{"loc"}})
		cur := s.Store(tok, map[string]any{"content": "Relocation completed: headquarters now Munich", "tags": []string{"loc"}})
		s.Store(tok, map[string]any{"content": "unrelated lunch menu"})
		s.As(tok, "POST", "/associate", map[string]any{"memory1_id": old, "memory2_id": cur, "type": "INVALIDATED_BY", "reason": "moved"}).Expect(t, 201)

		hist := mtRecall(t, s, tok, "query", "The team office is located in Berlin", "limit", "1", "state_mode", "history")
		mtList(t, "history shows the old memory", ids(hist), old)
		oldScore := mtNum(t, mtRows(t, hist)[0]["final_score"])

		r := mtRecall(t, s, tok, "query", "The team office is located in Berlin", "limit", "1", "state_debug", "true")
		mtList(t, "current shows the replacement", ids(r), cur)
		row := mtRows(t, r)[0]
		if row["match_type"] != "state_replacement" || row["source"] != "graph" || row["state_replaces"] != old {
			t.Errorf("replacement row: %v", row)
		}
		if !mtNear(mtNum(t, row["final_score"]), oldScore, 1e-6) {
			t.Errorf("replacement final_score %v, want the suppressed row's %v", row["final_score"], oldScore)
		}
		if mtObj(t, row["memory"])["id"] != cur {
			t.Errorf("replacement memory: %v", row["memory"])
		}
		// Reference §4.2 step 4: relations:[{type:<first-hop type>, strength, from:<old id>}].
		rels := mtArr(t, row["relations"])
		if len(rels) != 1 || mtObj(t, rels[0])["type"] != "INVALIDATED_BY" || mtObj(t, rels[0])["from"] != old || mtObj(t, rels[0])["strength"] != 0.5 {
			t.Errorf("replacement relations = %v, want [{type INVALIDATED_BY, strength 0.5, from %s}]", row["relations"], old)
		}
		mtJSON(t, "state_filter", r.Body["state_filter"], fmt.Sprintf(`{"current_only":true,"suppressed_count":1,"replacement_count":1,
			"suppressed":[{"id":%q,"reason":"superseded","replacement_id":%q,"relation_type":"INVALIDATED_BY"}],
			"replacements":[{"id":%q,"replaces_id":%q,"relation_type":"INVALIDATED_BY"}]}`, old, cur, cur, old))

		// When the head is already a result it is not added twice.
		r = mtRecall(t, s, tok, "query", "office Berlin headquarters Munich", "tags", "loc", "limit", "10", "adaptive_floor", "false")
		mtList(t, "no duplicate", ids(r), cur)
		mtJSON(t, "state_filter", r.Body["state_filter"], `{"current_only":true,"suppressed_count":1,"replacement_count":0}`)
		if mtRows(t, r)[0]["match_type"] == "state_replacement" {
			t.Errorf("a memory found directly is not a replacement")
		}
	})

	t.Run("chain to the head", func(t *testing.T) {
		tok := mtTenant(t, s, "chain")
		p1 := s.Store(tok, map[string]any{"content": "version one of the deployment checklist"})
		p2 := s.Store(tok, map[string]any{"content": "second revision with rollback steps"})
		p3 := s.Store(tok, map[string]any{"content": "final revision including canary stage"})
		s.As(tok, "POST", "/associate", map[string]any{"memory1_id": p1, "memory2_id": p2, "type": "EVOLVED_INTO"}).Expect(t, 201)
		s.As(tok, "POST", "/associate", map[string]any{"memory1_id": p2, "memory2_id": p3, "type": "INVALIDATED_BY"}).Expect(t, 201)
		r := mtRecall(t, s, tok, "query", "version one of the deployment checklist", "limit", "1", "state_debug", "1")
		mtList(t, "head of chain", ids(r), p3)
		if mtRows(t, r)[0]["state_replaces"] != p1 {
			t.Errorf("state_replaces: %v", mtRows(t, r)[0]["state_replaces"])
		}
		mtJSON(t, "replacements", mtObj(t, r.Body["state_filter"])["replacements"], fmt.Sprintf(`[{"id":%q,"replaces_id":%q,"relation_type":"EVOLVED_INTO"}]`, p3, p1))
	})

	t.Run("contradicts does not suppress", func(t *testing.T) {
		tok := mtTenant(t, s, "contra")
		x := s.Store(tok, map[string]any{"content": "tea is best in the morning"})
		y := s.Store(tok, map[string]any{"content": "coffee is best in the morning"})
		s.As(tok, "POST", "/associate", map[string]any{"memory1_id": x, "memory2_id": y, "type": "CONTRADICTS"}).Expect(t, 201)
		r := mtRecall(t, s, tok, "query", "best in the morning", "limit", "10", "adaptive_floor", "false")
		mtSet(t, "both visible", ids(r), x, y)
	})

	t.Run("replacement must pass the tag scope", func(t *testing.T) {
		tok := mtTenant(t, s, "scoped")
		old := s.Store(tok, map[string]any{"content": "server runs on port 8000", "tags": []string{"ops"}})
		cur := s.Store(tok, map[string]any{"content": "listener moved elsewhere", "tags": []string{"elsewhere"}})
		s.As(tok, "POST", "/associate", map[string]any{"memory1_id": old, "memory2_id": cur, "type": "INVALIDATED_BY"}).Expect(t, 201)
		r := mtRecall(t, s, tok, "query", "server runs on port 8000", "tags", "ops")
		mtList(t, "out-of-scope replacement not injected", ids(r))
		mtJSON(t, "state_filter", r.Body["state_filter"], `{"current_only":true,"suppressed_count":1,"replacement_count":0}`)
	})
}

func TestRecallMinScoreAndDedupe(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tok := mtTenant(t, s, "score")
	s.Store(tok, map[string]any{"content": "alpha beta gamma delta", "importance": 0.9})
	s.Store(tok, map[string]any{"content": "alpha beta", "importance": 0.5})
	s.Store(tok, map[string]any{"content": "unrelated words here", "importance": 0.1})

	base := mtRecall(t, s, tok, "query", "alpha beta gamma delta", "limit", "10", "adaptive_floor", "false")
	rows := mtRows(t, base)
	if len(rows) != 3 {
		t.Fatalf("baseline: %s", base.Raw)
	}
	if _, ok := base.Body["score_filter"]; ok {
		t.Errorf("score_filter without min_score or floor: %s", base.Raw)
	}
	s0, s1 := mtNum(t, rows[0]["final_score"]), mtNum(t, rows[1]["final_score"])
	if !(s0 > s1) {
		t.Fatalf("scores not descending: %s", base.Raw)
	}
	threshold := (s0 + s1) / 2
	r := mtRecall(t, s, tok, "query", "alpha beta gamma delta", "limit", "10", "adaptive_floor", "false", "min_score", strconv.FormatFloat(threshold, 'f', -1, 64))
	mtList(t, "min_score keeps the top row", ids(r), rows[0]["id"].(string))
	sf := mtObj(t, r.Body["score_filter"])
	if sf["min_score"] != threshold || sf["adaptive_floor"] != nil {
		t.Errorf("score_filter: %v", sf)
	}
	mtNum(t, sf["filtered_count"])

	r = mtRecall(t, s, tok, "query", "alpha beta gamma delta", "limit", "10", "adaptive_floor", "false", "min_score", "junk")
	if len(ids(r)) != 3 {
		t.Errorf("invalid min_score must be ignored: %s", r.Raw)
	}

	t.Run("identical content collapses", func(t *testing.T) {
		tok := mtTenant(t, s, "dedupe")
		x := s.Store(tok, map[string]any{"content": "Duplicate **content** here", "timestamp": "2024-01-01T00:00:00Z"})
		y := s.Store(tok, map[string]any{"content": "duplicate content here", "timestamp": "2024-01-02T00:00:00Z"})
		r := mtRecall(t, s, tok, "query", "duplicate content here", "limit", "10", "adaptive_floor", "false")
		got := ids(r)
		if len(got) != 1 {
			t.Fatalf("duplicates not collapsed: %s", r.Raw)
		}
		if got[0] != x && got[0] != y {
			t.Fatalf("winner %s is neither duplicate", got[0])
		}
		// As in AutoMem: every id of the group, the winner's included, sorted.
		group := []string{x, y}
		sort.Strings(group)
		mtJSON(t, "deduped_from", mtRows(t, r)[0]["deduped_from"], fmt.Sprintf(`[%q,%q]`, group[0], group[1]))
		if r.Body["dedup_removed"] != float64(1) {
			t.Errorf("dedup_removed = %v, want 1", r.Body["dedup_removed"])
		}
	})
}

// ---------------------------------------------------------------------------
// Persistence and durability

func TestPersistence(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tok := mtTenant(t, s, "persist")
	tok2 := mtTenant(t, s, "persist2")
	a := s.Store(tok, map[string]any{"content": "persistent memory about lighthouses", "tags": []string{"Keep:me"}, "importance": 0.8,
		"metadata": map[string]any{"k": []any{"v", 2.5}}, "timestamp": "2024-02-03T04:05:06.789Z", "t_invalid": "2999-01-01T00:00:00Z"})
	b := s.Store(tok, map[string]any{"content": "second persistent memory about harbours", "type": "Insight"})
	gone := s.Store(tok, map[string]any{"content": "deleted before restart"})
	s.As(tok, "DELETE", "/memory/"+gone, nil).Expect(t, 200)
	s.As(tok, "POST", "/associate", map[string]any{"memory1_id": a, "memory2_id": b, "type": "PART_OF", "role": "chapter"}).Expect(t, 201)
	s.As(tok, "PATCH", "/memory/"+b, map[string]any{"metadata": map[string]any{"patched": true}}).Expect(t, 200)
	s.Store(tok2, map[string]any{"content": "other tenant's memory"})

	snapshot := func(id string) map[string]any {
		m := mtGet(t, s, tok, id)
		delete(m, "last_accessed")
		return m
	}
	beforeA, beforeB := snapshot(a), snapshot(b)
	beforeStats := mtStats(t, s, "persist")

	s.Restart(false)

	if got := snapshot(a); !reflect.DeepEqual(got, beforeA) {
		t.Errorf("memory A after restart:\n got %v\nwant %v", got, beforeA)
	}
	if got := snapshot(b); !reflect.DeepEqual(got, beforeB) {
		t.Errorf("memory B after restart:\n got %v\nwant %v", got, beforeB)
	}
	s.As(tok, "GET", "/memory/"+gone, nil).ExpectError(t, 404, "Memory not found")
	mtExpectStats(t, s, "persist", beforeStats)
	mtExpectStats(t, s, "persist", mtCounts{2, 1, 2})
	mtExpectStats(t, s, "persist2", mtCounts{1, 0, 1})
	r := s.As(tok, "GET", "/memories/"+a+"/related", nil).Expect(t, 200)
	mtList(t, "related after restart", mtIDs(t, r.Body["related_memories"]), b)
	r = mtRecall(t, s, tok, "query", "persistent memory about lighthouses", "limit", "1")
	mtList(t, "recall after restart", ids(r), a)
	if v := mtNum(t, mtObj(t, mtRows(t, r)[0]["score_components"])["vector"]); !mtNear(v, 1, 1e-4) {
		t.Errorf("vector after restart: %v", v)
	}
	r = mtRecall(t, s, tok, "tags", "keep")
	mtList(t, "tag prefixes after restart", ids(r), a)
	h := s.As(tok, "GET", "/health", nil).Expect(t, 200)
	if h.Body["memory_count"] != float64(2) || h.Body["vector_count"] != float64(2) {
		t.Errorf("health after restart: %s", h.Raw)
	}
	r = s.Admin("GET", "/admin/tenants", nil).Expect(t, 200)
	if r.Body["total"] != float64(2) {
		t.Errorf("tenants after restart: %s", r.Raw)
	}
}

func TestDurabilityAfterKill(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tok := mtTenant(t, s, "durable")
	a := s.Store(tok, map[string]any{"content": "acknowledged before the kill", "tags": []string{"k"}})
	r := s.As(tok, "POST", "/memory/batch", map[string]any{"memories": []any{
		map[string]any{"content": "batch one"}, map[string]any{"content": "batch two"},
	}}).Expect(t, 201)
	batch := mtStrs(t, r.Body["memory_ids"])
	s.As(tok, "POST", "/associate", map[string]any{"memory1_id": a, "memory2_id": batch[0], "type": "LEADS_TO"}).Expect(t, 201)
	s.As(tok, "PATCH", "/memory/"+batch[1], map[string]any{"content": "batch two, edited"}).Expect(t, 200)
	s.As(tok, "DELETE", "/memory/"+batch[0], nil).Expect(t, 200)
	last := s.Store(tok, map[string]any{"content": "the very last write"})

	s.Restart(true)

	mtGet(t, s, tok, a)
	mtGet(t, s, tok, last)
	if m := mtGet(t, s, tok, batch[1]); m["content"] != "batch two, edited" {
		t.Errorf("patch lost: %v", m["content"])
	}
	s.As(tok, "GET", "/memory/"+batch[0], nil).ExpectError(t, 404, "Memory not found")
	mtExpectStats(t, s, "durable", mtCounts{3, 0, 3})
	mtList(t, "recall after kill", ids(mtRecall(t, s, tok, "query", "the very last write", "limit", "1")), last)

	// A tenant created just before a kill survives too.
	tok2 := mtTenant(t, s, "durable2")
	b := s.Store(tok2, map[string]any{"content": "fresh tenant memory"})
	s.Restart(true)
	mtGet(t, s, tok2, b)
	mtExpectStats(t, s, "durable2", mtCounts{1, 0, 1})
}
