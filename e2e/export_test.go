package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// adminGetRaw sends an admin GET and returns the answer undecoded: the
// harness decodes bodies that start with '{', and an NDJSON export does.
func adminGetRaw(t *testing.T, s *Server, path string) *Response {
	t.Helper()
	req, err := http.NewRequest("GET", s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", path, err)
	}
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if resp.StatusCode != 200 {
		json.Unmarshal(raw, &out.Body)
	}
	return out
}

// exportLines splits an NDJSON export into decoded lines, checking each is
// one JSON object.
func exportLines(t *testing.T, raw []byte) ([]string, []map[string]any) {
	t.Helper()
	text := string(raw)
	if !strings.HasSuffix(text, "\n") {
		t.Fatalf("export does not end with a newline: %.300q", text)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	objs := make([]map[string]any, len(lines))
	for i, l := range lines {
		if err := json.Unmarshal([]byte(l), &objs[i]); err != nil {
			t.Fatalf("export line %d is not JSON: %v: %.200s", i+1, err, l)
		}
	}
	return lines, objs
}

// seedExportTenant stores memories that use every field, and relations, in
// a new tenant; it returns the memory ids in store order.
func seedExportTenant(t *testing.T, s *Server, id, token string) []string {
	t.Helper()
	s.CreateTenant(id, token)
	specs := []map[string]any{
		{"content": "Decided to use PostgreSQL for the billing service", "tags": []string{"project:billing", "decision"}, "importance": 0.9, "type": "Decision", "timestamp": "2024-01-10T09:00:00Z"},
		{"content": "The billing service runs on Kubernetes in eu-west-1", "tags": []string{"project:billing", "infra"}, "importance": 0.6, "timestamp": "2024-01-11T10:00:00Z", "metadata": map[string]any{"region": "eu-west-1", "replicas": 3}},
		{"content": "Alice prefers tea over coffee in the morning", "tags": []string{"person/alice"}, "importance": 0.4, "type": "Preference", "confidence": 0.7, "timestamp": "2024-02-01T08:30:00Z"},
		{"content": "Migrated billing from MySQL to PostgreSQL last week", "tags": []string{"project:billing"}, "importance": 0.7, "timestamp": "2024-02-15T16:45:00Z", "t_valid": "2024-02-08T00:00:00Z"},
		{"content": "Quarterly planning happens in the first week of April", "tags": []string{"planning"}, "importance": 0.5, "timestamp": "2024-03-01T12:00:00Z", "t_invalid": "2024-06-30T00:00:00Z"},
		{"content": "Bob reviews all database schema changes", "tags": []string{"person/bob", "process"}, "importance": 0.8, "timestamp": "2024-03-05T11:00:00Z"},
		{"content": "Use feature flags for risky billing releases", "tags": []string{"project:billing", "process"}, "importance": 0.75, "type": "Pattern", "timestamp": "2024-03-20T14:00:00Z"},
		{"content": "The staging database is refreshed every Sunday night", "tags": []string{"infra"}, "importance": 0.3, "timestamp": "2024-04-02T22:00:00Z", "metadata": map[string]any{"owner": "ops", "nested": map[string]any{"cron": "0 22 * * 0"}}},
		{"content": "Alice owns the invoicing PDF generator", "tags": []string{"person/alice", "project:billing"}, "importance": 0.55, "timestamp": "2024-04-10T09:15:00Z"},
		{"content": "Postmortem: billing outage caused by connection pool exhaustion", "tags": []string{"incident", "project:billing"}, "importance": 0.95, "type": "Insight", "timestamp": "2024-05-01T07:00:00Z"},
		{"content": "Connection pool size raised from 20 to 50 after the outage", "tags": []string{"incident", "infra"}, "importance": 0.65, "timestamp": "2024-05-02T07:30:00Z"},
		{"content": "Weekly sync with the payments team on Thursdays", "tags": []string{"meeting"}, "importance": 0.35, "timestamp": "2024-05-09T15:00:00Z"},
	}
	var ids []string
	for _, m := range specs {
		ids = append(ids, s.Store(token, m))
	}
	for _, a := range []map[string]any{
		{"memory1_id": ids[3], "memory2_id": ids[0], "type": "DERIVED_FROM", "strength": 0.8, "transformation": "migration"},
		{"memory1_id": ids[9], "memory2_id": ids[10], "type": "LEADS_TO", "strength": 0.9},
		{"memory1_id": ids[0], "memory2_id": ids[1], "type": "RELATES_TO"},
		{"memory1_id": ids[2], "memory2_id": ids[8], "type": "RELATES_TO", "strength": 0.3},
		{"memory1_id": ids[4], "memory2_id": ids[11], "type": "EVOLVED_INTO", "reason": "new cadence", "confidence": 0.6},
	} {
		s.As(token, "POST", "/associate", a).Expect(t, 201)
	}
	return ids
}

var recallQueries = []string{
	"billing database PostgreSQL",
	"who prefers tea",
	"connection pool outage",
	"infra staging refresh",
	"meeting payments",
	"Alice",
}

func recallResults(t *testing.T, s *Server, token, query string) ([]string, []string) {
	t.Helper()
	r := s.As(token, "GET", "/recall"+Q("query", query, "limit", "5"), nil).Expect(t, 200)
	var contents []string
	for _, row := range r.Body["results"].([]any) {
		contents = append(contents, row.(map[string]any)["memory"].(map[string]any)["content"].(string))
	}
	return ids(r), contents
}

// TestExportImportRoundTrip: an export imported into a new tenant recalls
// the same memories in the same order as the original; ids are kept; a
// second import creates nothing; the export holds nothing of another tenant.
func TestExportImportRoundTrip(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	srcIDs := seedExportTenant(t, s, "alpha", "alpha-token-1")
	s.CreateTenant("other", "other-token-1")
	otherID := s.Store("other-token-1", map[string]any{"content": "OTHER-TENANT-SECRET billing database PostgreSQL", "tags": []string{"project:billing"}})

	r := adminGetRaw(t, s, "/admin/tenants/alpha/export").Expect(t, 200)
	if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Fatalf("Content-Type %q", ct)
	}
	if cd := r.Header.Get("Content-Disposition"); !regexp.MustCompile(`^attachment; filename="mnemo-export-alpha-\d{8}_\d{6}\.ndjson"$`).MatchString(cd) {
		t.Fatalf("Content-Disposition %q", cd)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q", cc)
	}
	export := r.Raw
	lines, objs := exportLines(t, export)
	if len(lines) != 1+12+5 {
		t.Fatalf("export has %d lines, want 18", len(lines))
	}
	h := objs[0]
	model := s.Do("GET", "/health", nil).Body["embedding"].(map[string]any)["model"]
	if h["format"] != "mnemo-export" || h["version"] != float64(1) || h["tenant_id"] != "alpha" || h["memories"] != float64(12) ||
		h["relations"] != float64(5) || h["vectors"] != true || h["embedding_model"] != model {
		t.Fatalf("header %s", lines[0])
	}
	for i, o := range objs[1:13] {
		if o["kind"] != "memory" || o["id"] != srcIDs[i] || len(o["embedding"].([]any)) != 768 || o["embedding_model"] != model {
			t.Fatalf("memory line %d: %.300s", i+2, lines[i+1])
		}
	}
	if objs[2]["metadata"].(map[string]any)["replicas"] != float64(3) || objs[5]["t_invalid"] != "2024-06-30T00:00:00+00:00" ||
		objs[4]["t_valid"] != "2024-02-08T00:00:00+00:00" || objs[3]["confidence"] != 0.7 {
		t.Fatal("an exported memory lost a field")
	}
	for _, o := range objs[13:] {
		if o["kind"] != "relation" {
			t.Fatalf("relation line: %v", o)
		}
	}
	if strings.Contains(string(export), "OTHER-TENANT-SECRET") || strings.Contains(string(export), otherID) {
		t.Fatal("the export of alpha holds another tenant's data")
	}

	// Import into a new tenant.
	s.CreateTenant("beta", "beta-token-1")
	r = s.Admin("POST", "/admin/tenants/beta/import", export).Expect(t, 200)
	want := map[string]any{"status": "success", "tenant_id": "beta", "source_tenant_id": "alpha", "memories_created": float64(12),
		"memories_skipped": float64(0), "relations_created": float64(5), "vectors_imported": float64(12), "vectors_embedded": float64(0),
		"vectors_queued": float64(0)}
	if !reflect.DeepEqual(r.Body, want) {
		t.Fatalf("import: %s", r.Raw)
	}
	// The copy exports to the same lines, but for its header.
	r = adminGetRaw(t, s, "/admin/tenants/beta/export").Expect(t, 200)
	copyLines, copyObjs := exportLines(t, r.Raw)
	if !reflect.DeepEqual(copyLines[1:], lines[1:]) {
		t.Fatalf("the imported tenant exports differently:\n%s\nwant:\n%s", strings.Join(copyLines[1:], "\n"), strings.Join(lines[1:], "\n"))
	}
	if copyObjs[0]["tenant_id"] != "beta" {
		t.Fatalf("copy header %s", copyLines[0])
	}

	// The same recall query on both: same ids, same order, same content.
	for _, q := range recallQueries {
		aIDs, aContent := recallResults(t, s, "alpha-token-1", q)
		bIDs, bContent := recallResults(t, s, "beta-token-1", q)
		if len(aIDs) == 0 || !reflect.DeepEqual(aIDs, bIDs) || !reflect.DeepEqual(aContent, bContent) {
			t.Fatalf("recall %q: alpha %v %q, beta %v %q", q, aIDs, aContent, bIDs, bContent)
		}
	}
	// Relations came across.
	for _, id := range []string{srcIDs[0], srcIDs[3], srcIDs[4]} {
		a := s.As("alpha-token-1", "GET", "/memories/"+id+"/related", nil).Expect(t, 200)
		b := s.As("beta-token-1", "GET", "/memories/"+id+"/related", nil).Expect(t, 200)
		if a.Body["count"].(float64) < 1 || !reflect.DeepEqual(a.Body["related_memories"], b.Body["related_memories"]) {
			t.Fatalf("related of %s: alpha %s, beta %s", id, a.Raw, b.Raw)
		}
	}
	// /health agrees: every memory has its vector.
	hb := s.As("beta-token-1", "GET", "/health", nil).Expect(t, 200)
	if hb.Body["memory_count"] != float64(12) || hb.Body["vector_count"] != float64(12) {
		t.Fatalf("health of beta: %s", hb.Raw)
	}

	// A second import creates nothing and changes nothing.
	before := s.Admin("GET", "/admin/tenants/beta/stats", nil).Expect(t, 200)
	r = s.Admin("POST", "/admin/tenants/beta/import", export).Expect(t, 200)
	want["memories_created"], want["memories_skipped"], want["relations_created"], want["vectors_imported"] = float64(0), float64(12), float64(0), float64(0)
	if !reflect.DeepEqual(r.Body, want) {
		t.Fatalf("second import: %s", r.Raw)
	}
	after := s.Admin("GET", "/admin/tenants/beta/stats", nil).Expect(t, 200)
	for _, k := range []string{"memory_count", "graph_relationships", "vector_points", "stored_bytes"} {
		if before.Body[k] != after.Body[k] {
			t.Fatalf("second import changed %s: %v -> %v", k, before.Body[k], after.Body[k])
		}
	}
	if after.Body["memory_count"] != float64(12) || after.Body["graph_relationships"] != float64(5) || after.Body["vector_points"] != float64(12) {
		t.Fatalf("stats of beta: %s", after.Raw)
	}

	// The other tenant still has only its own memory.
	ho := s.As("other-token-1", "GET", "/health", nil).Expect(t, 200)
	if ho.Body["memory_count"] != float64(1) {
		t.Fatalf("other tenant: %s", ho.Raw)
	}

	// Audit: both actions are recorded against their tenants.
	for action, tenant := range map[string]string{"tenant.export": "alpha", "tenant.import": "beta"} {
		r := s.Admin("GET", "/admin/audit"+Q("action", action, "tenant_id", tenant), nil).Expect(t, 200)
		events := r.Body["events"].([]any)
		if len(events) == 0 {
			t.Fatalf("no %s event for %s: %s", action, tenant, r.Raw)
		}
		e := events[len(events)-1].(map[string]any)
		if e["actor"] != "admin" || e["outcome"] != "success" || e["target"] != tenant {
			t.Fatalf("%s event: %v", action, e)
		}
	}
}

// TestExportWithoutVectors: ?vectors=false leaves embeddings out, and an
// import of it computes them, so the copy still recalls the same.
func TestExportWithoutVectors(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	seedExportTenant(t, s, "alpha", "alpha-token-1")
	r := adminGetRaw(t, s, "/admin/tenants/alpha/export?vectors=false").Expect(t, 200)
	lines, objs := exportLines(t, r.Raw)
	if objs[0]["vectors"] != false || len(lines) != 18 {
		t.Fatalf("header %s (%d lines)", lines[0], len(lines))
	}
	if strings.Contains(string(r.Raw), `"embedding":`) {
		t.Fatal("an export without vectors holds an embedding")
	}
	s.CreateTenant("gamma", "gamma-token-1")
	imp := s.Admin("POST", "/admin/tenants/gamma/import", r.Raw).Expect(t, 200)
	if imp.Body["memories_created"] != float64(12) || imp.Body["vectors_imported"] != float64(0) ||
		imp.Body["vectors_embedded"] != float64(12) || imp.Body["vectors_queued"] != float64(0) {
		t.Fatalf("import: %s", imp.Raw)
	}
	for _, q := range recallQueries {
		aIDs, aContent := recallResults(t, s, "alpha-token-1", q)
		gIDs, gContent := recallResults(t, s, "gamma-token-1", q)
		if len(aIDs) == 0 || !reflect.DeepEqual(aIDs, gIDs) || !reflect.DeepEqual(aContent, gContent) {
			t.Fatalf("recall %q: alpha %v, gamma %v", q, aIDs, gIDs)
		}
	}
	s.Admin("GET", "/admin/tenants/alpha/export?vectors=maybe", nil).ExpectError(t, 400, "'vectors' must be true or false")
	s.Admin("GET", "/admin/tenants/nobody/export", nil).ExpectError(t, 404, "Tenant 'nobody' not found")
	s.Admin("GET", "/admin/tenants/Bad.Id/export", nil).ExpectError(t, 400, "'tenant_id' must match")
}

// TestImportValidation: a file with any bad line is refused with a 400
// naming the line and the field, and nothing of it is written, not even
// the good lines before the bad one.
func TestImportValidation(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	s.CreateTenant("delta", "delta-token-1")
	existing := s.Store("delta-token-1", map[string]any{"content": "already in delta"})
	stats := func() string {
		r := s.Admin("GET", "/admin/tenants/delta/stats", nil).Expect(t, 200)
		return fmt.Sprintf("%v/%v/%v/%v", r.Body["memory_count"], r.Body["graph_relationships"], r.Body["vector_points"], r.Body["stored_bytes"])
	}
	initial := stats()

	const (
		idA = "11111111-1111-4111-8111-111111111111"
		idB = "22222222-2222-4222-8222-222222222222"
	)
	header := `{"format":"mnemo-export","version":1,"tenant_id":"x","memories":2,"relations":1}`
	memA := `{"kind":"memory","id":"` + idA + `","content":"first good memory","tags":["a"],"importance":0.5,"timestamp":"2024-01-01T00:00:00Z"}`
	memB := `{"kind":"memory","id":"` + idB + `","content":"second good memory","timestamp":"2024-01-02T00:00:00Z"}`
	rel := `{"kind":"relation","memory1_id":"` + idA + `","memory2_id":"` + idB + `","type":"RELATES_TO","strength":0.5}`
	file := func(lines ...string) string { return strings.Join(lines, "\n") + "\n" }
	replace := func(line, old, new string) string {
		if !strings.Contains(line, old) {
			t.Fatalf("%q not in %s", old, line)
		}
		return strings.Replace(line, old, new, 1)
	}

	cases := []struct {
		name, body, want string
	}{
		{"broken JSON", file(header, memA, `{"kind":"memory","id":`, rel), "line 3: not a JSON object"},
		{"no header", file(memA, memB, rel), `line 1: the first line must be the export header with 'format' "mnemo-export"`},
		{"future version", file(replace(header, `"version":1`, `"version":2`), memA, memB, rel), "line 1: 'version' 2 is not supported (this server reads version 1)"},
		{"bad id", file(header, memA, replace(memB, idB, "not-a-uuid"), rel), "line 3: 'id' must be a UUID"},
		{"empty content", file(header, memA, replace(memB, "second good memory", "   "), rel), "line 3: 'content' is required"},
		{"content too long", file(header, memA, replace(memB, "second good memory", strings.Repeat("x", 2001)), rel), "line 3: 'content' exceeds the maximum length of 2000 characters (2001)"},
		{"importance out of range", file(header, replace(memA, `"importance":0.5`, `"importance":1.5`), memB, rel), "line 2: 'importance' must be between 0 and 1"},
		{"confidence not a number", file(header, memA, replace(memB, `"content"`, `"confidence":"high","content"`), rel), "line 3: 'confidence' must be a number"},
		{"bad timestamp", file(header, memA, replace(memB, "2024-01-02T00:00:00Z", "yesterday"), rel), `line 3: 'timestamp' is not an ISO 8601 timestamp: "yesterday"`},
		{"bad tags", file(header, replace(memA, `["a"]`, `[1,2]`), memB, rel), "line 2: 'tags' must be a list of strings"},
		{"bad metadata", file(header, memA, replace(memB, `"content"`, `"metadata":[1],"content"`), rel), "line 3: 'metadata' must be an object"},
		{"bad embedding", file(header, memA, replace(memB, `"content"`, `"embedding":["x"],"content"`), rel), "line 3: 'embedding' must be a non-empty list of numbers"},
		{"duplicate id", file(replace(header, `"memories":2`, `"memories":3`), memA, memB, memA, rel), "line 4: 'id' " + idA + " repeats the memory of line 2"},
		{"unknown kind", file(header, memA, memB, replace(rel, `"kind":"relation"`, `"kind":"edge"`)), `line 4: 'kind' must be "memory" or "relation"`},
		{"relation type not authorable", file(header, memA, memB, replace(rel, "RELATES_TO", "SUMMARIZES")), "line 4: 'type' must be one of ['CONTRADICTS'"},
		{"relation strength", file(header, memA, memB, replace(rel, `"strength":0.5`, `"strength":-1`)), "line 4: 'strength' must be between 0 and 1"},
		{"relation to itself", file(header, memA, memB, replace(rel, idB, idA)), "line 4: a relation cannot join a memory to itself"},
		{"relation end nowhere", file(header, memA, memB, replace(rel, idB, "33333333-3333-4333-8333-333333333333")), "line 4: relation end 33333333-3333-4333-8333-333333333333 is neither a memory of the file nor of tenant 'delta'"},
		{"truncated", file(header, memA, memB), "line 1: the header counts 1 relations but the file has 0 (is it truncated?)"},
		{"empty body", "", "The import body is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s.Admin("POST", "/admin/tenants/delta/import", c.body).ExpectError(t, 400, c.want)
			if got := stats(); got != initial {
				t.Fatalf("stats changed: %s -> %s", initial, got)
			}
			s.As("delta-token-1", "GET", "/memory/"+idA, nil).Expect(t, 404)
		})
	}

	// A relation may point at a memory already in the tenant; then it all
	// goes in, and repeating it is a no-op.
	good := file(replace(header, `"memories":2,"relations":1`, `"memories":2,"relations":2`), memA, memB, rel,
		`{"kind":"relation","memory1_id":"`+idB+`","memory2_id":"`+existing+`","type":"LEADS_TO"}`)
	r := s.Admin("POST", "/admin/tenants/delta/import", good).Expect(t, 200)
	if r.Body["memories_created"] != float64(2) || r.Body["relations_created"] != float64(2) || r.Body["vectors_embedded"] != float64(2) {
		t.Fatalf("import: %s", r.Raw)
	}
	m := s.As("delta-token-1", "GET", "/memory/"+idA, nil).Expect(t, 200).Body["memory"].(map[string]any)
	if m["content"] != "first good memory" || m["timestamp"] != "2024-01-01T00:00:00+00:00" || !reflect.DeepEqual(m["tags"], []any{"a"}) {
		t.Fatalf("imported memory: %v", m)
	}
	s.Admin("POST", "/admin/tenants/nobody/import", good).ExpectError(t, 404, "Tenant 'nobody' not found")

	// A failed import is audited as an error.
	ev := s.Admin("GET", "/admin/audit"+Q("action", "tenant.import", "tenant_id", "delta", "limit", "1000"), nil).Expect(t, 200).Body["events"].([]any)
	var errors400, ok int
	for _, e := range ev {
		switch e.(map[string]any)["outcome"] {
		case "error: 400":
			errors400++
		case "success":
			ok++
		}
	}
	if errors400 != len(cases) || ok != 1 {
		t.Fatalf("audit: %d failed and %d successful imports, want %d and 1", errors400, ok, len(cases))
	}
}

// TestExportImportAreAdminOnly: a tenant key, even of the tenant named,
// cannot export or import.
func TestExportImportAreAdminOnly(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	s.CreateTenant("alpha", "alpha-token-1")
	s.CreateTenant("beta", "beta-token-1")
	s.Store("alpha-token-1", map[string]any{"content": "alpha's private memory"})
	body := `{"format":"mnemo-export","version":1,"memories":0,"relations":0}` + "\n"
	for _, token := range []string{"beta-token-1", "alpha-token-1"} {
		for _, h := range [][]string{{"Authorization", "Bearer " + token}, {"X-API-Key", token}, {"X-Admin-Token", token}} {
			s.Do("GET", "/admin/tenants/alpha/export", nil, h...).ExpectError(t, 401, "Admin authorization required")
			s.Do("POST", "/admin/tenants/alpha/import", body, h...).ExpectError(t, 401, "Admin authorization required")
			s.Do("GET", "/backup", nil, h...).ExpectError(t, 401, "Admin authorization required")
		}
	}
	if r := s.Admin("GET", "/admin/tenants/alpha/stats", nil).Expect(t, 200); r.Body["memory_count"] != float64(1) {
		t.Fatalf("stats: %s", r.Raw)
	}
}
