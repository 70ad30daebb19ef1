package e2e

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// The abuse suite's input bounds (issue 9): every size a client controls
// is bounded once, in the application, so each attack below gets its 400
// (413 for a body) with the field and the limit, through every path that
// takes the field: POST /memory, POST /memory/batch, PATCH /memory/{id},
// the MCP tools, and an import. Nothing is stored, the server stays up,
// and its memory and disk stay bounded.

// A refused attack may cost the server some garbage and the registry a
// few rows (usage, audit): nothing near what the attacks cost before (the
// 200,000-segment tag ran the process out of memory; a 12 KB request wrote
// 215 MB).
const (
	abMaxRSS  = 32 << 20
	abMaxDisk = 256 << 10
)

// abTarget is a server with a tenant "abuse" holding two memories: the
// one the attacks update, and another (the other end of a relation).
type abTarget struct {
	s               *Server
	tok             string
	existing, other string
}

func abServer(t *testing.T, env map[string]string) abTarget {
	t.Helper()
	s := Start(t, env)
	tok := mtTenant(t, s, "abuse")
	return abTarget{s: s, tok: tok,
		existing: s.Store(tok, map[string]any{"content": "already here", "tags": []string{"keep"}, "metadata": map[string]any{"k": "v"}}),
		other:    s.Store(tok, map[string]any{"content": "the other end"})}
}

// abStats is everything the tenant stores, as its stats report it.
func abStats(t *testing.T, s *Server) string {
	t.Helper()
	r := s.Admin("GET", "/admin/tenants/abuse/stats", nil).Expect(t, 200)
	return fmt.Sprintf("memories %v, relations %v, vectors %v, bytes %v",
		r.Body["memory_count"], r.Body["graph_relationships"], r.Body["vector_points"], r.Body["stored_bytes"])
}

// abNothingStored runs attack and fails if it changed what the tenant
// stores, or the memory that was there.
func abNothingStored(t *testing.T, s *Server, tok, existing string, attack func()) {
	t.Helper()
	before, memory := abStats(t, s), badSnapshot(t, s, tok, existing)
	attack()
	if after := abStats(t, s); after != before {
		t.Errorf("a refused attack changed what is stored: %s -> %s", before, after)
	}
	if after := badSnapshot(t, s, tok, existing); !reflect.DeepEqual(after, memory) {
		t.Errorf("a refused attack changed the memory:\n got %v\nwant %v", after, memory)
	}
}

// abPaths say which ways a field arrives by.
type abPaths struct {
	batch, update bool // the field is one a batch item and an update take
	// importWant is the import's message, after "line 3: ", when it words
	// it otherwise.
	importWant string
}

var abAllPaths = abPaths{batch: true, update: true}

// abImportFile is an export with a good memory (line 2) and bad (line 3).
func abImportFile(t *testing.T, bad map[string]any) string {
	t.Helper()
	line := map[string]any{"kind": "memory", "id": "33333333-3333-4333-8333-333333333333", "content": "abuse by import"}
	for k, v := range bad {
		line[k] = v
	}
	raw, err := json.Marshal(line)
	if err != nil {
		t.Fatal(err)
	}
	return `{"format":"mnemo-export","version":1,"tenant_id":"x","memories":2,"relations":0}` + "\n" +
		`{"kind":"memory","id":"44444444-4444-4444-8444-444444444444","content":"a good line"}` + "\n" + string(raw) + "\n"
}

// abEveryWritePath sends fields through each path that takes them, and
// expects want (with the path's prefix) from each; nothing may be stored.
func abEveryWritePath(t *testing.T, s *Server, tok, existing string, fields map[string]any, want string, p abPaths) {
	t.Helper()
	item := map[string]any{"content": "abuse"}
	for k, v := range fields {
		item[k] = v
	}
	{
		s.As(tok, "POST", "/memory", item).ExpectError(t, 400, want)
		if p.batch {
			s.As(tok, "POST", "/memory/batch", map[string]any{"memories": []any{map[string]any{"content": "fine"}, item}}).
				ExpectError(t, 400, "Memory at index 1: "+want)
		}
		if p.update {
			s.As(tok, "PATCH", "/memory/"+existing, fields).ExpectError(t, 400, want)
		}
		importWant := want
		if p.importWant != "" {
			importWant = p.importWant
		}
		s.Admin("POST", "/admin/tenants/abuse/import", abImportFile(t, fields)).ExpectError(t, 400, "line 3: "+importWant)

		steps := []map[string]any{{"op": "call", "tool": "store_memory", "args": item}}
		if p.batch {
			steps = append(steps, map[string]any{"op": "call", "tool": "store_memory",
				"args": map[string]any{"memories": []any{map[string]any{"content": "fine"}, item}}})
		}
		if p.update {
			args := map[string]any{"memory_id": existing}
			for k, v := range fields {
				args[k] = v
			}
			steps = append(steps, map[string]any{"op": "call", "tool": "update_memory", "args": args})
		}
		out := runMCPClient(t, "http", s, tok, steps)
		mcpToolError(t, out, 0, "400: "+want)
		if p.batch {
			mcpToolError(t, out, 1, "400: Memory at index 1: "+want)
		}
		if p.update {
			mcpToolError(t, out, len(steps)-1, "400: "+want)
		}
	}
}

// abAttack starts a server (with env), runs attack on it, and fails if
// the attack stored anything or the server's memory or disk grew beyond
// the bounds. It returns the target, for checks at the limit.
func abAttack(t *testing.T, env map[string]string, attack func(a abTarget)) abTarget {
	t.Helper()
	a := abServer(t, env)
	before := a.s.Footprint(t)
	abNothingStored(t, a.s, a.tok, a.existing, func() { attack(a) })
	a.s.ExpectBounded(t, before, abMaxRSS, abMaxDisk)
	return a
}

// abAttackEveryPath is one attack on a memory's fields through every
// path.
func abAttackEveryPath(t *testing.T, fields map[string]any, want string, p abPaths) {
	t.Helper()
	abAttack(t, nil, func(a abTarget) { abEveryWritePath(t, a.s, a.tok, a.existing, fields, want, p) })
}

// abList is n distinct words.
func abList(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("x%d", i)
	}
	return out
}

// abSegments is a tag of n ':'-separated segments.
func abSegments(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("s%d", i)
	}
	return strings.Join(parts, ":")
}

func abNested(n int) map[string]any {
	obj := map[string]any{"leaf": true}
	for range n - 1 {
		obj = map[string]any{"a": obj}
	}
	return obj
}

// TestAbuseBoundsTagOf200000Segments: a tag of 200,000 ':'-separated
// segments (a 400 KB body) ran the process out of memory, since each
// segment's prefix is stored and rebuilt.
func TestAbuseBoundsTagOf200000Segments(t *testing.T) {
	t.Parallel()
	abAttackEveryPath(t, map[string]any{"tags": []any{strings.Repeat("a:", 200000)}},
		"'tags' item at index 0 must be at most 256 bytes (got 400000)", abAllPaths)
}

// TestAbuseBoundsTagAmplification: a 12 KB request wrote 215 MB (each
// prefix of each tag is a stored row). Now the largest memory the limits
// allow costs a bounded amount of disk, and its read is well under 1 MiB.
func TestAbuseBoundsTagAmplification(t *testing.T) {
	t.Parallel()
	// 12 KB of one tag, 6,000 segments: refused.
	a := abAttack(t, nil, func(a abTarget) {
		a.s.As(a.tok, "POST", "/memory", map[string]any{"content": "x", "tags": []any{strings.Repeat("ab", 6000)}}).
			ExpectError(t, 400, "'tags' item at index 0 must be at most 256 bytes (got 12000)")
	})
	// The most the limits allow: 50 distinct tags of 10 segments and 254
	// bytes, 64 KB of metadata, a 64-character type, 2,000 characters.
	seg := strings.Repeat("z", 27)
	tags := make([]string, 50)
	for i := range tags {
		tags[i] = fmt.Sprintf("%02d", i) + strings.Repeat(":"+seg, 9)
	}
	big := map[string]any{"content": strings.Repeat("c", 2000), "tags": tags, "type": strings.Repeat("t", 64),
		"metadata": map[string]any{"k": strings.Repeat("m", 65536-8)}}
	before := a.s.Footprint(t)
	id := a.s.Store(a.tok, big)
	a.s.ExpectBounded(t, before, abMaxRSS, 1<<20)
	r := a.s.As(a.tok, "GET", "/memory/"+id, nil).Expect(t, 200)
	if len(r.Raw) > 1<<20 {
		t.Errorf("reading the largest memory returned %d bytes, over 1 MiB", len(r.Raw))
	}
	if got := len(mtArr(t, mtObj(t, r.Body["memory"])["tag_prefixes"])); got != 500 {
		t.Errorf("%d tag prefixes, want 500", got)
	}
	out := runMCPClient(t, "http", a.s, a.tok, []map[string]any{{"op": "call", "tool": "recall_memory", "args": map[string]any{"memory_id": id}}})
	if raw, _ := json.Marshal(mcpOK(t, out, 0)); len(raw) > 1<<20 {
		t.Errorf("reading it over MCP returned %d bytes, over 1 MiB", len(raw))
	}
}

// TestAbuseBoundsTagCount: at most 50 tags per memory.
func TestAbuseBoundsTagCount(t *testing.T) {
	t.Parallel()
	abAttackEveryPath(t, map[string]any{"tags": abList(51)},
		"'tags' may hold at most 50 tags per memory (got 51)", abAllPaths)
}

// TestAbuseBoundsTagBytes: at most 256 bytes per tag.
func TestAbuseBoundsTagBytes(t *testing.T) {
	t.Parallel()
	abAttackEveryPath(t, map[string]any{"tags": []any{"fine", strings.Repeat("é", 128) + "x"}},
		"'tags' item at index 1 must be at most 256 bytes (got 257)", abAllPaths)
}

// TestAbuseBoundsTagSegments: at most 10 segments per tag.
func TestAbuseBoundsTagSegments(t *testing.T) {
	t.Parallel()
	abAttackEveryPath(t, map[string]any{"tags": []any{abSegments(11)}},
		"'tags' item at index 0 must have at most 10 segments separated by ':' or '/' (got 11)", abAllPaths)
}

// TestAbuseBoundsMetadataBytes: metadata at most 64 KB as JSON.
func TestAbuseBoundsMetadataBytes(t *testing.T) {
	t.Parallel()
	abAttackEveryPath(t, map[string]any{"metadata": map[string]any{"k": strings.Repeat("m", 65537-8)}},
		"'metadata' must be at most 65536 bytes as JSON (got 65537)", abAllPaths)
}

// TestAbuseBoundsMetadataDepth: metadata at most 32 levels deep.
func TestAbuseBoundsMetadataDepth(t *testing.T) {
	t.Parallel()
	abAttackEveryPath(t, map[string]any{"metadata": abNested(33)}, "'metadata' must nest at most 32 levels deep", abAllPaths)
}

// TestAbuseBoundsTypeLength: a type at most 64 characters.
func TestAbuseBoundsTypeLength(t *testing.T) {
	t.Parallel()
	abAttackEveryPath(t, map[string]any{"type": strings.Repeat("ж", 65)}, "'type' must be at most 64 characters (got 65)", abAllPaths)
}

// TestAbuseBoundsEmbeddingBeyondFloat32: a value beyond float32's range
// was stored as +Inf, and every recall and export of the tenant then
// answered 500. A store and an import take an embedding; so does recall.
func TestAbuseBoundsEmbeddingBeyondFloat32(t *testing.T) {
	t.Parallel()
	vec := make([]float64, 768)
	vec[5] = 1e39
	const limit = "finite 32-bit floats (at most 3.4028234663852886e+38 in magnitude); the value at index 5 is 1e+39"
	a := abAttack(t, nil, func(a abTarget) {
		abEveryWritePath(t, a.s, a.tok, a.existing, map[string]any{"embedding": vec}, "Embedding values must be "+limit,
			abPaths{importWant: "'embedding' values must be " + limit})
		a.s.As(a.tok, "GET", "/recall"+Q("embedding", mtCSV(vec)), nil).ExpectError(t, 400, "Embedding values must be "+limit)
		out := runMCPClient(t, "http", a.s, a.tok, []map[string]any{{"op": "call", "tool": "recall_memory", "args": map[string]any{"embedding": vec}}})
		mcpToolError(t, out, 0, "400: Embedding values must be "+limit)
	})
	// The tenant's recall and export still work.
	a.s.As(a.tok, "GET", "/recall"+Q("query", "already here"), nil).Expect(t, 200)
	export := adminGetRaw(t, a.s, "/admin/tenants/abuse/export").Expect(t, 200)
	if lines := strings.Split(strings.TrimSpace(string(export.Raw)), "\n"); len(lines) != 3 || !json.Valid([]byte(lines[2])) {
		t.Errorf("export: %d lines, want the header and the two memories: %.300s", len(lines), export.Raw)
	}
}

// TestAbuseBoundsRelationProperties: a relation's properties are bounded
// as metadata is, on every path that writes one.
func TestAbuseBoundsRelationProperties(t *testing.T) {
	t.Parallel()
	reason := strings.Repeat("r", 65537-len(`{"reason":""}`))
	const wantBig, wantDeep = "Relation properties must be at most 65536 bytes as JSON (got 65537)", "Relation properties must nest at most 32 levels deep"
	abAttack(t, nil, func(a abTarget) {
		big := map[string]any{"memory1_id": a.existing, "memory2_id": a.other, "type": "CONTRADICTS", "reason": reason}
		deep := map[string]any{"memory1_id": a.existing, "memory2_id": a.other, "type": "PART_OF", "role": abNested(33)}
		a.s.As(a.tok, "POST", "/associate", big).ExpectError(t, 400, wantBig)
		a.s.As(a.tok, "POST", "/associate", deep).ExpectError(t, 400, wantDeep)
		a.s.As(a.tok, "POST", "/associate", map[string]any{"associations": []any{
			map[string]any{"memory1_id": a.existing, "memory2_id": a.other}, big}}).ExpectError(t, 400, "Association at index 1: "+wantBig)
		line := func(props map[string]any) string {
			raw, _ := json.Marshal(map[string]any{"kind": "relation", "memory1_id": a.existing, "memory2_id": a.other, "type": "CONTRADICTS", "properties": props})
			return `{"format":"mnemo-export","version":1,"tenant_id":"x","memories":0,"relations":1}` + "\n" + string(raw) + "\n"
		}
		a.s.Admin("POST", "/admin/tenants/abuse/import", line(map[string]any{"reason": reason})).
			ExpectError(t, 400, "line 2: 'properties' must be at most 65536 bytes as JSON (got 65537)")
		a.s.Admin("POST", "/admin/tenants/abuse/import", line(map[string]any{"resolution": abNested(33)})).
			ExpectError(t, 400, "line 2: 'properties' must nest at most 32 levels deep")
		out := runMCPClient(t, "http", a.s, a.tok, []map[string]any{
			{"op": "call", "tool": "associate_memories", "args": big},
			{"op": "call", "tool": "associate_memories", "args": map[string]any{"associations": []any{deep}}},
			{"op": "call", "tool": "store_memory", "args": map[string]any{"content": "a successor", "supersedes_memory_id": a.existing, "supersede_reason": reason}},
		})
		mcpToolError(t, out, 0, "400: "+wantBig)
		mcpToolError(t, out, 1, "400: Association at index 0: "+wantDeep)
		mcpToolError(t, out, 2, "400: 'supersede_reason' must be at most 65536 bytes as JSON (got 65537)")
	})
}

// abTerms is a query of n distinct search terms joined by OR.
func abTerms(n int) string { return strings.Join(abList(n), " OR ") }

// TestAbuseBoundsQueryLength: a 39 KB recall query of 5,000 OR terms
// starved other tenants; a query, and each of queries, is at most 2,000
// characters.
func TestAbuseBoundsQueryLength(t *testing.T) {
	t.Parallel()
	huge := abTerms(5000)
	a := abAttack(t, nil, func(a abTarget) {
		a.s.As(a.tok, "GET", "/recall"+Q("query", huge), nil).ExpectError(t, 400, "'query' must be at most 2000 characters (got 43886)")
		a.s.As(a.tok, "GET", "/recall"+Q("queries", "fine", "queries", huge), nil).
			ExpectError(t, 400, "'queries' item at index 1 must be at most 2000 characters (got 43886)")
		out := runMCPClient(t, "http", a.s, a.tok, []map[string]any{
			{"op": "call", "tool": "recall_memory", "args": map[string]any{"query": huge}},
			{"op": "call", "tool": "recall_memory", "args": map[string]any{"queries": []any{huge}}},
		})
		mcpToolError(t, out, 0, "400: 'query' must be at most 2000 characters (got 43886)")
		mcpToolError(t, out, 1, "400: 'queries' item at index 0 must be at most 2000 characters (got 43886)")
	})
	// At the limit, recall works.
	a.s.As(a.tok, "GET", "/recall"+Q("query", strings.Repeat("é", 2000)), nil).Expect(t, 200)
}

// TestAbuseBoundsQueryTerms: at most 64 search terms per query, each one
// an OR in the full-text search.
func TestAbuseBoundsQueryTerms(t *testing.T) {
	t.Parallel()
	a := abAttack(t, nil, func(a abTarget) {
		a.s.As(a.tok, "GET", "/recall"+Q("query", abTerms(65)), nil).ExpectError(t, 400, "'query' may hold at most 64 search terms (got 65)")
		a.s.As(a.tok, "GET", "/recall"+Q("queries", abTerms(65)), nil).ExpectError(t, 400, "'queries' item at index 0 may hold at most 64 search terms (got 65)")
		out := runMCPClient(t, "http", a.s, a.tok, []map[string]any{{"op": "call", "tool": "recall_memory", "args": map[string]any{"query": abTerms(65)}}})
		mcpToolError(t, out, 0, "400: 'query' may hold at most 64 search terms (got 65)")
	})
	a.s.As(a.tok, "GET", "/recall"+Q("query", abTerms(64)), nil).Expect(t, 200)
}

// abRepeat is a query string with name repeated for each value.
func abRepeat(name string, vals []string, kv ...string) string {
	for _, v := range vals {
		kv = append(kv, name, v)
	}
	return Q(kv...)
}

// TestAbuseBoundsListParams: 1,000 exclude_tags answered 500; every list
// parameter holds at most 100 entries.
func TestAbuseBoundsListParams(t *testing.T) {
	t.Parallel()
	joined := func(n int) string { return strings.Join(abList(n), ",") }
	a := abAttack(t, nil, func(a abTarget) {
		for _, c := range []struct{ path, want string }{
			{"/recall" + Q("query", "x", "exclude_tags", joined(1000)), "'exclude_tags' may hold at most 100 entries (got 1000)"},
			{"/recall" + abRepeat("exclude_tags", abList(101), "query", "x"), "'exclude_tags' may hold at most 100 entries (got 101)"},
			{"/recall" + abRepeat("tags", abList(101), "query", "x"), "'tags' may hold at most 100 entries (got 101)"},
			{"/recall" + Q("query", "x", "context_tags", joined(101)), "'context_tags' may hold at most 100 entries (got 101)"},
			{"/recall" + Q("query", "x", "context_types", joined(101)), "'context_types' may hold at most 100 entries (got 101)"},
			{"/recall" + Q("query", "x", "priority_ids", joined(101)), "'priority_ids' may hold at most 100 entries (got 101)"},
			{"/memory/by-tag" + abRepeat("tags", abList(101)), "'tags' may hold at most 100 entries (got 101)"},
			{"/memories/" + a.existing + "/related" + Q("relationship_types", joined(101)), "'relationship_types' may hold at most 100 entries (got 101)"},
		} {
			a.s.As(a.tok, "GET", c.path, nil).ExpectError(t, 400, c.want)
		}
		// A delete by 101 tags deletes nothing, even the memory one names.
		a.s.As(a.tok, "DELETE", "/memory/by-tag"+abRepeat("tags", append(abList(100), "keep")), nil).
			ExpectError(t, 400, "'tags' may hold at most 100 entries (got 101)")
		out := runMCPClient(t, "http", a.s, a.tok, []map[string]any{
			{"op": "call", "tool": "recall_memory", "args": map[string]any{"query": "x", "exclude_tags": abList(1000)}},
			{"op": "call", "tool": "recall_memory", "args": map[string]any{"tags": abList(101), "exhaustive": true}},
			{"op": "call", "tool": "delete_memory", "args": map[string]any{"tags": append(abList(100), "keep")}},
		})
		mcpToolError(t, out, 0, "400: 'exclude_tags' may hold at most 100 entries (got 1000)")
		mcpToolError(t, out, 1, "400: 'tags' may hold at most 100 entries (got 101)")
		mcpToolError(t, out, 2, "400: 'tags' may hold at most 100 entries (got 101)")
	})
	// At the limit, each works.
	a.s.As(a.tok, "GET", "/recall"+Q("query", "already", "exclude_tags", joined(100)), nil).Expect(t, 200)
	a.s.As(a.tok, "GET", "/recall"+abRepeat("tags", abList(100), "query", "already"), nil).Expect(t, 200)
	a.s.As(a.tok, "GET", "/memory/by-tag"+abRepeat("tags", abList(100)), nil).Expect(t, 200)
}

// TestAbuseBoundsNonFiniteParams: min_score=NaN answered 500; no numeric
// parameter takes a number that is not finite. (JSON has no NaN, so the
// MCP tools cannot send one.)
func TestAbuseBoundsNonFiniteParams(t *testing.T) {
	t.Parallel()
	a := abAttack(t, nil, func(a abTarget) {
		for _, name := range []string{"min_score", "limit", "per_query_limit", "relation_limit", "expansion_limit", "context_window",
			"expand_min_importance", "expand_min_strength"} {
			for _, bad := range []string{"NaN", "Infinity", "-inf", "1e999"} {
				a.s.As(a.tok, "GET", "/recall"+Q("query", "already", name, bad), nil).ExpectError(t, 400, "'"+name+"' must be a finite number")
			}
		}
		a.s.As(a.tok, "GET", "/memory/by-tag"+Q("tags", "keep", "limit", "NaN"), nil).ExpectError(t, 400, "'limit' must be a finite number")
		a.s.As(a.tok, "GET", "/memory/by-tag"+Q("tags", "keep", "offset", "Inf"), nil).ExpectError(t, 400, "'offset' must be a finite number")
		a.s.As(a.tok, "GET", "/memories/"+a.existing+"/related"+Q("limit", "NaN"), nil).ExpectError(t, 400, "'limit' must be a finite number")
		a.s.As(a.tok, "GET", "/memories/"+a.existing+"/related"+Q("max_depth", "inf"), nil).ExpectError(t, 400, "'max_depth' must be a finite number")
	})
	// recency_bias is a word (on, off, auto): anything else is the default.
	a.s.As(a.tok, "GET", "/recall"+Q("query", "already", "recency_bias", "NaN"), nil).Expect(t, 200)
}

// TestAbuseBoundsBodySize: a body over MNEMO_MAX_BODY_BYTES is a 413 on
// every route that reads one, before it is parsed.
func TestAbuseBoundsBodySize(t *testing.T) {
	t.Parallel()
	body := []byte(`{"content":"` + strings.Repeat("a", 70000) + `"}`)
	abAttack(t, map[string]string{"MNEMO_MAX_BODY_BYTES": "65536"}, func(a abTarget) {
		for _, r := range []struct{ method, path string }{{"POST", "/memory"}, {"POST", "/memory/batch"}, {"PATCH", "/memory/" + a.existing}, {"POST", "/associate"}} {
			a.s.As(a.tok, r.method, r.path, body).ExpectError(t, 413, "Request body exceeds the limit of 65536 bytes")
		}
	})
}

// TestAbuseBoundsAreSettings: each bound is the server's setting.
func TestAbuseBoundsAreSettings(t *testing.T) {
	t.Parallel()
	abAttack(t, map[string]string{"MNEMO_MAX_TAGS": "2", "MNEMO_MAX_TAG_BYTES": "8", "MNEMO_MAX_TAG_SEGMENTS": "2",
		"MNEMO_MAX_METADATA_BYTES": "20", "MNEMO_MAX_METADATA_DEPTH": "2", "MNEMO_MAX_TYPE_LENGTH": "3", "MNEMO_MAX_QUERY_LENGTH": "10",
		"MNEMO_MAX_QUERY_TERMS": "2", "MNEMO_MAX_LIST_ENTRIES": "2"}, func(a abTarget) {
		for _, c := range []struct {
			body map[string]any
			want string
		}{
			{map[string]any{"tags": []any{"a", "b", "c"}}, "'tags' may hold at most 2 tags per memory (got 3)"},
			{map[string]any{"tags": []any{"abcdefghi"}}, "'tags' item at index 0 must be at most 8 bytes (got 9)"},
			{map[string]any{"tags": []any{"a:b:c"}}, "'tags' item at index 0 must have at most 2 segments separated by ':' or '/' (got 3)"},
			{map[string]any{"metadata": map[string]any{"k": "0123456789abc"}}, "'metadata' must be at most 20 bytes as JSON (got 21)"},
			{map[string]any{"metadata": map[string]any{"k": map[string]any{"j": map[string]any{}}}}, "'metadata' must nest at most 2 levels deep"},
			{map[string]any{"type": "Long"}, "'type' must be at most 3 characters (got 4)"},
		} {
			c.body["content"] = "x"
			a.s.As(a.tok, "POST", "/memory", c.body).ExpectError(t, 400, c.want)
		}
		a.s.As(a.tok, "GET", "/recall"+Q("query", "abcdefghijk"), nil).ExpectError(t, 400, "'query' must be at most 10 characters (got 11)")
		a.s.As(a.tok, "GET", "/recall"+Q("query", "ab cd ef"), nil).ExpectError(t, 400, "'query' may hold at most 2 search terms (got 3)")
		a.s.As(a.tok, "GET", "/recall"+Q("exclude_tags", "a,b,c"), nil).ExpectError(t, 400, "'exclude_tags' may hold at most 2 entries (got 3)")
	})
}
