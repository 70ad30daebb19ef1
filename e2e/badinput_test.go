package e2e

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// badTenantRule is the tenant id rule every rejection must show.
const badTenantRule = "^[a-z0-9][a-z0-9_-]{0,62}$"

// badRelationTypes is AutoMem's sorted list of authorable relation types.
const badRelationTypes = "['CONTRADICTS', 'DERIVED_FROM', 'EVOLVED_INTO', 'EXEMPLIFIES', 'INVALIDATED_BY', 'LEADS_TO', 'OCCURRED_BEFORE', 'PART_OF', 'PREFERS_OVER', 'REINFORCES', 'RELATES_TO']"

// badUnchanged runs do and fails if the tenant's counters moved.
func badUnchanged(t *testing.T, s *Server, tenantID string, do func()) {
	t.Helper()
	before := mtStats(t, s, tenantID)
	do()
	if after := mtStats(t, s, tenantID); after != before {
		t.Errorf("bad input changed stored data: stats %+v -> %+v", before, after)
	}
}

// badSnapshot is a memory as GET returns it, without last_accessed (which
// every GET bumps).
func badSnapshot(t *testing.T, s *Server, tok, id string) map[string]any {
	t.Helper()
	m := mtGet(t, s, tok, id)
	delete(m, "last_accessed")
	return m
}

func badTenantTotal(t *testing.T, s *Server) float64 {
	t.Helper()
	return mtNum(t, s.Admin("GET", "/admin/tenants", nil).Expect(t, 200).Body["total"])
}

func TestBadMemoryInput(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tok := mtTenant(t, s, "bad")
	existing := s.Store(tok, map[string]any{"content": "already here", "tags": []string{"keep"}})

	with := func(k string, v any) map[string]any { return map[string]any{"content": "valid content", k: v} }
	for _, c := range []struct {
		name string
		body any
		want string
	}{
		{"missing content", map[string]any{"tags": []string{"x"}}, "'content' is required"},
		{"empty content", map[string]any{"content": ""}, "'content' is required"},
		{"blank content", map[string]any{"content": " \n\t "}, "'content' is required"},
		{"null content", map[string]any{"content": nil}, "'content' is required"},
		{"numeric content", map[string]any{"content": 42}, "'content' is required"},
		{"content over 2000 characters", map[string]any{"content": strings.Repeat("a", 2001)},
			"Content exceeds maximum length of 2000 characters (2001 provided)"},
		{"multibyte content over 2000 characters", map[string]any{"content": strings.Repeat("é", 2001)},
			"Content exceeds maximum length of 2000 characters (2001 provided)"},
		{"tags number", with("tags", 5), "'tags' must be a list of strings or a single string"},
		{"tags object", with("tags", map[string]any{"a": 1}), "'tags' must be a list of strings or a single string"},
		{"tags list with a number", with("tags", []any{"ok", 1}), "'tags' must be a list of strings or a single string"},
		{"tags list with null", with("tags", []any{"ok", nil}), "'tags' must be a list of strings or a single string"},
		{"importance string", with("importance", "high"), "'importance' must be a number"},
		{"importance list", with("importance", []any{0.5}), "'importance' must be a number"},
		{"importance above 1", with("importance", 1.5), "'importance' must be between 0 and 1"},
		{"importance below 0", with("importance", -0.01), "'importance' must be between 0 and 1"},
		{"metadata string", with("metadata", "x"), "'metadata' must be an object"},
		{"metadata list", with("metadata", []any{1}), "'metadata' must be an object"},
		{"metadata number", with("metadata", 3), "'metadata' must be an object"},
		{"timestamp number", with("timestamp", 1700000000), "Timestamp must be a non-empty ISO formatted string"},
		{"timestamp empty", with("timestamp", ""), "Timestamp must be a non-empty ISO formatted string"},
		{"timestamp words", with("timestamp", "next tuesday"), "Invalid ISO timestamp"},
		{"timestamp impossible date", with("timestamp", "2024-13-45T00:00:00Z"), "Invalid ISO timestamp"},
		{"t_valid garbage", with("t_valid", "soon"), "Invalid t_valid"},
		{"t_invalid number", with("t_invalid", 5), "Invalid t_invalid"},
		{"updated_at garbage", with("updated_at", "later"), "Invalid updated_at"},
		{"last_accessed garbage", with("last_accessed", "never"), "Invalid last_accessed"},
		{"type number", with("type", 5), "'type'"},
		{"confidence out of range with a type", map[string]any{"content": "x", "type": "Decision", "confidence": 2}, "'confidence' must be between 0 and 1"},
		{"confidence string with a type", map[string]any{"content": "x", "type": "Decision", "confidence": "sure"}, "'confidence' must be a number"},
		{"embedding wrong dimension", with("embedding", []float64{0.1, 0.2, 0.3}), "Embedding must contain exactly 768 values"},
		{"embedding csv wrong dimension", with("embedding", "0.1,0.2"), "Embedding must contain exactly 768 values"},
		{"embedding non-numeric", with("embedding", []any{"a", "b"}), "Embedding must contain numeric values"},
		{"embedding object", with("embedding", map[string]any{}), "Embedding must be a list of floats or a comma-separated string"},
		{"JSON array body", []any{map[string]any{"content": "x"}}, "JSON body is required"},
		{"JSON string body", "\"just a string\"", "JSON body is required"},
		{"JSON null body", "null", "JSON body is required"},
		{"empty body", "", "JSON body is required"},
		{"broken JSON", `{"content": "x"`, "JSON"},
		{"trailing garbage", `{"content": "x"} {"content": "y"}`, "JSON"},
	} {
		t.Run("POST /memory "+c.name, func(t *testing.T) {
			badUnchanged(t, s, "bad", func() {
				var body any = c.body
				if str, ok := c.body.(string); ok && str == "" {
					body = []byte{}
				}
				s.As(tok, "POST", "/memory", body).ExpectError(t, 400, c.want)
			})
		})
	}

	t.Run("body over 8 MiB", func(t *testing.T) {
		big := []byte(`{"content":"` + strings.Repeat("a", 9<<20) + `"}`)
		badUnchanged(t, s, "bad", func() {
			s.As(tok, "POST", "/memory", big).ExpectError(t, 413, "8388608")
			s.As(tok, "POST", "/memory/batch", big).ExpectError(t, 413, "8388608")
			s.As(tok, "PATCH", "/memory/"+existing, big).ExpectError(t, 413, "8388608")
		})
	})

	batch := func(items ...any) map[string]any { return map[string]any{"memories": items} }
	ok := map[string]any{"content": "a fine item"}
	for _, c := range []struct {
		name string
		body any
		want []string
	}{
		{"missing content", batch(ok, ok, map[string]any{"tags": "x"}), []string{"Memory at index 2 missing 'content'"}},
		{"blank content", batch(map[string]any{"content": "  "}), []string{"Memory at index 0 missing 'content'"}},
		{"item not an object", batch(ok, "str"), []string{"Memory at index 1 must be an object"}},
		{"content too long", batch(ok, map[string]any{"content": strings.Repeat("b", 2001)}), []string{"Memory at index 1 exceeds content limit (2001/2000)"}},
		{"bad tags", batch(ok, map[string]any{"content": "x", "tags": 5}), []string{"Memory at index 1", "'tags' must be a list of strings or a single string"}},
		{"importance out of range", batch(map[string]any{"content": "x", "importance": 2}), []string{"Memory at index 0", "'importance' must be between 0 and 1"}},
		{"importance not a number", batch(map[string]any{"content": "x", "importance": "hi"}), []string{"Memory at index 0", "'importance' must be a number"}},
		{"empty array", batch(), []string{"'memories' must be a non-empty array"}},
		{"memories not a list", map[string]any{"memories": "x"}, []string{"'memories' must be a non-empty array"}},
		{"memories missing", map[string]any{}, []string{"'memories' must be a non-empty array"}},
		{"array body", []any{ok}, []string{"JSON body with 'memories' array required"}},
		{"broken JSON", `{"memories": [`, []string{"JSON"}},
		{"over 500 items", map[string]any{"memories": func() []any {
			items := make([]any, 501)
			for i := range items {
				items[i] = ok
			}
			return items
		}()}, []string{"Batch size limit is 500 memories per request"}},
	} {
		t.Run("POST /memory/batch "+c.name, func(t *testing.T) {
			badUnchanged(t, s, "bad", func() {
				r := s.As(tok, "POST", "/memory/batch", c.body)
				for _, w := range c.want {
					r.ExpectError(t, 400, w)
				}
			})
		})
	}

	t.Run("memory ids must be UUIDs", func(t *testing.T) {
		for _, bad := range []string{"not-a-uuid", "123", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", existing + "0"} {
			badUnchanged(t, s, "bad", func() {
				s.As(tok, "GET", "/memory/"+bad, nil).ExpectError(t, 400, "memory_id must be a valid UUID")
				s.As(tok, "PATCH", "/memory/"+bad, map[string]any{"importance": 0.1}).ExpectError(t, 400, "memory_id must be a valid UUID")
				s.As(tok, "DELETE", "/memory/"+bad, nil).ExpectError(t, 400, "memory_id must be a valid UUID")
			})
		}
	})

	t.Run("PATCH bad fields change nothing", func(t *testing.T) {
		before := badSnapshot(t, s, tok, existing)
		for _, c := range []struct {
			name string
			body any
			want string
		}{
			{"importance above 1", map[string]any{"importance": 5}, "'importance' must be between 0 and 1"},
			{"importance string", map[string]any{"importance": "high"}, "'importance' must be a number"},
			{"metadata string", map[string]any{"metadata": "x"}, "'metadata' must be an object"},
			{"timestamp garbage", map[string]any{"timestamp": "garbage"}, "Invalid timestamp"},
			{"t_invalid garbage", map[string]any{"t_invalid": "garbage"}, "Invalid t_invalid"},
			{"updated_at number", map[string]any{"updated_at": 7}, "Invalid updated_at"},
			{"empty content", map[string]any{"content": ""}, "'content' is required"},
			{"content too long", map[string]any{"content": strings.Repeat("c", 2001)}, "Content exceeds maximum length of 2000 characters (2001 provided)"},
			{"confidence out of range", map[string]any{"confidence": 2}, "'confidence' must be between 0 and 1"},
			{"valid fields with one bad field", map[string]any{"content": "new valid content", "tags": "new", "importance": 5}, "'importance' must be between 0 and 1"},
			{"array body", []any{map[string]any{"importance": 0.1}}, "JSON body is required"},
			{"broken JSON", `{"importance": `, "JSON"},
		} {
			badUnchanged(t, s, "bad", func() {
				s.As(tok, "PATCH", "/memory/"+existing, c.body).ExpectError(t, 400, c.want)
			})
			if after := badSnapshot(t, s, tok, existing); !reflect.DeepEqual(after, before) {
				t.Errorf("PATCH %s changed the memory:\n got %v\nwant %v", c.name, after, before)
			}
		}
	})

	t.Run("by-tag needs tags", func(t *testing.T) {
		badUnchanged(t, s, "bad", func() {
			s.As(tok, "GET", "/memory/by-tag", nil).ExpectError(t, 400, "'tags' query parameter is required")
			s.As(tok, "GET", "/memory/by-tag"+Q("tags", " "), nil).ExpectError(t, 400, "'tags' query parameter is required")
			s.As(tok, "DELETE", "/memory/by-tag", nil).ExpectError(t, 400, "'tags' query parameter is required")
		})
	})

	t.Run("recall parameters", func(t *testing.T) {
		for _, c := range []struct {
			kv   []string
			want string
		}{
			{[]string{"state_mode", "bogus"}, "'state_mode' must be 'current' or 'history'"},
			{[]string{"state_mode", "bogus", "current_only", "true"}, "'state_mode' must be 'current' or 'history'"},
			{[]string{"start", "yesterday-ish"}, "Invalid start time"},
			{[]string{"end", "2024-99-99"}, "Invalid end time"},
			{[]string{"query", "x", "start", "soon"}, "Invalid start time"},
			{[]string{"embedding", "1,2,3"}, "Embedding must contain exactly 768 values"},
			{[]string{"embedding", "a,b"}, "Embedding must contain numeric values"},
		} {
			s.As(tok, "GET", "/recall"+Q(c.kv...), nil).ExpectError(t, 400, c.want)
		}
	})
}

func TestBadAssociateInput(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tok := mtTenant(t, s, "badassoc")
	a := s.Store(tok, map[string]any{"content": "a"})
	b := s.Store(tok, map[string]any{"content": "b"})
	s.As(tok, "POST", "/associate", map[string]any{"memory1_id": a, "memory2_id": b}).Expect(t, 201)
	missing := "55555555-5555-4555-8555-555555555555"

	for _, c := range []struct {
		name   string
		body   any
		status int
		want   string
	}{
		{"empty object", map[string]any{}, 400, "'memory1_id' and 'memory2_id' are required"},
		{"one id", map[string]any{"memory1_id": a}, 400, "'memory1_id' and 'memory2_id' are required"},
		{"non-string id", map[string]any{"memory1_id": a, "memory2_id": 7}, 400, "'memory1_id' and 'memory2_id' are required"},
		{"non-UUID id", map[string]any{"memory1_id": a, "memory2_id": "not-a-uuid"}, 400, "memory_id must be a valid UUID"},
		{"self-association", map[string]any{"memory1_id": a, "memory2_id": a}, 400, "Cannot associate a memory with itself"},
		{"self-association wins over bad strength", map[string]any{"memory1_id": a, "memory2_id": a, "strength": 9}, 400, "Cannot associate a memory with itself"},
		{"unknown relation type", map[string]any{"memory1_id": a, "memory2_id": b, "type": "LIKES"}, 400, "Relation type must be one of " + badRelationTypes},
		{"system relation type", map[string]any{"memory1_id": a, "memory2_id": b, "type": "SIMILAR_TO"}, 400, "Relation type must be one of " + badRelationTypes},
		{"numeric relation type", map[string]any{"memory1_id": a, "memory2_id": b, "type": 5}, 400, "Relation type must be one of " + badRelationTypes},
		{"strength above 1", map[string]any{"memory1_id": a, "memory2_id": b, "strength": 1.5}, 400, "'strength' must be between 0 and 1"},
		{"strength below 0", map[string]any{"memory1_id": a, "memory2_id": b, "strength": -0.5}, 400, "'strength' must be between 0 and 1"},
		{"strength string", map[string]any{"memory1_id": a, "memory2_id": b, "strength": "strong"}, 400, "'strength' must be a number"},
		{"unknown memory", map[string]any{"memory1_id": a, "memory2_id": missing}, 404, "One or both memories do not exist"},
		{"array body", []any{map[string]any{"memory1_id": a, "memory2_id": b}}, 400, "JSON body is required"},
		{"broken JSON", `{"memory1_id": `, 400, "JSON"},
		{"empty batch", map[string]any{"associations": []any{}}, 400, "'associations' must be a non-empty array"},
		{"batch over 500", map[string]any{"associations": func() []any {
			items := make([]any, 501)
			for i := range items {
				items[i] = map[string]any{"memory1_id": b, "memory2_id": a}
			}
			return items
		}()}, 400, "Batch size limit is 500 associations per request"},
		{"batch with one bad strength", map[string]any{"associations": []any{
			map[string]any{"memory1_id": b, "memory2_id": a, "type": "LEADS_TO"},
			map[string]any{"memory1_id": a, "memory2_id": b, "type": "REINFORCES", "strength": 2},
		}}, 400, "'strength' must be between 0 and 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			badUnchanged(t, s, "badassoc", func() {
				s.As(tok, "POST", "/associate", c.body).ExpectError(t, c.status, c.want)
			})
		})
	}
	mtExpectStats(t, s, "badassoc", mtCounts{2, 1, 2})
}

func TestBadTenantInput(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	s.CreateTenant("taken", "taken-token-123")

	t.Run("tenant id rule", func(t *testing.T) {
		for _, id := range []any{"Upper", strings.Repeat("a", 64), "../x", "", "-lead", "_lead", "a.b", "a b", "a/b", "é", "x\x01", 42, nil} {
			before := badTenantTotal(t, s)
			body := map[string]any{"api_token": "some-fresh-token"}
			if id != nil {
				body["tenant_id"] = id
			}
			s.Admin("POST", "/admin/tenants", body).ExpectError(t, 400, badTenantRule)
			if after := badTenantTotal(t, s); after != before {
				t.Errorf("tenant id %q: tenant count %v -> %v", id, before, after)
			}
		}
		s.As("some-fresh-token", "GET", "/recall", nil).ExpectError(t, 401, "Unauthorized")
		// The longest valid id is accepted.
		s.Admin("POST", "/admin/tenants", map[string]any{"tenant_id": strings.Repeat("a", 63)}).Expect(t, 201)
	})

	t.Run("bad tenant ids in paths", func(t *testing.T) {
		for _, id := range []string{"Upper", "a.b", "-x", strings.Repeat("b", 64)} {
			s.Admin("GET", "/admin/tenants/"+id+"/stats", nil).ExpectError(t, 400, badTenantRule)
			s.Admin("DELETE", "/admin/tenants/"+id, nil).ExpectError(t, 400, badTenantRule)
		}
		s.Admin("GET", "/admin/tenants/nobody/stats", nil).ExpectError(t, 404, "nobody")
	})

	t.Run("duplicate tenant id", func(t *testing.T) {
		before := badTenantTotal(t, s)
		s.Admin("POST", "/admin/tenants", map[string]any{"tenant_id": "taken", "api_token": "another-token-456"}).ExpectError(t, 409, "already exists")
		if after := badTenantTotal(t, s); after != before {
			t.Errorf("tenant count %v -> %v", before, after)
		}
		s.As("another-token-456", "GET", "/recall", nil).ExpectError(t, 401, "Unauthorized")
		s.As("taken-token-123", "GET", "/recall", nil).Expect(t, 200)
	})

	t.Run("token already in use", func(t *testing.T) {
		before := badTenantTotal(t, s)
		s.Admin("POST", "/admin/tenants", map[string]any{"tenant_id": "fresh", "api_token": "taken-token-123"}).ExpectError(t, 409, "api_token")
		if after := badTenantTotal(t, s); after != before {
			t.Errorf("tenant count %v -> %v", before, after)
		}
		s.Admin("GET", "/admin/tenants/fresh", nil).ExpectError(t, 404, "fresh")
		r := s.As("taken-token-123", "GET", "/health", nil).Expect(t, 200)
		if r.Body["tenant_id"] != "taken" {
			t.Errorf("the token now resolves to %v", r.Body["tenant_id"])
		}
	})

	t.Run("client token too short", func(t *testing.T) {
		before := badTenantTotal(t, s)
		for _, tok := range []any{"1234567", "", " padded-token ", 12345678} {
			s.Admin("POST", "/admin/tenants", map[string]any{"tenant_id": "shorty", "api_token": tok}).ExpectError(t, 400, "'api_token'")
		}
		r := s.Admin("POST", "/admin/tenants", map[string]any{"tenant_id": "shorty", "api_token": "1234567"})
		r.ExpectError(t, 400, "8")
		if after := badTenantTotal(t, s); after != before {
			t.Errorf("tenant count %v -> %v", before, after)
		}
		s.Admin("POST", "/admin/tenants", map[string]any{"tenant_id": "shorty", "api_token": "12345678"}).Expect(t, 201)
		s.As("12345678", "GET", "/recall", nil).Expect(t, 200)
	})

	t.Run("bad bodies", func(t *testing.T) {
		before := badTenantTotal(t, s)
		s.Admin("POST", "/admin/tenants", nil).ExpectError(t, 400, "tenant_id")
		s.Admin("POST", "/admin/tenants", `{"tenant_id": "x"`).ExpectError(t, 400, "JSON")
		s.Admin("POST", "/admin/tenants", []any{map[string]any{"tenant_id": "x"}}).ExpectError(t, 400, "tenant_id")
		s.Admin("POST", "/admin/tenants", map[string]any{"tenant_id": "named", "name": 5}).ExpectError(t, 400, "'name'")
		if after := badTenantTotal(t, s); after != before {
			t.Errorf("tenant count %v -> %v", before, after)
		}
	})
}

func TestBadAuth(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tok := mtTenant(t, s, "auth")
	id := s.Store(tok, map[string]any{"content": "guarded"})

	t.Run("admin token", func(t *testing.T) {
		before := badTenantTotal(t, s)
		for _, h := range [][]string{
			nil,
			{"Authorization", "Bearer wrong-admin-token"},
			{"X-Admin-Token", "wrong-admin-token"},
			{"X-Admin-Token", "wrong-admin-token", "Authorization", "Bearer " + adminToken},
			{"Authorization", "Bearer " + tok},
			{"Authorization", adminToken},
		} {
			s.Do("GET", "/admin/tenants", nil, h...).ExpectError(t, 401, "Admin authorization required")
			s.Do("POST", "/admin/tenants", map[string]any{"tenant_id": "intruder", "api_token": "intruder-token"}, h...).ExpectError(t, 401, "Admin authorization required")
			s.Do("DELETE", "/admin/tenants/auth", nil, h...).ExpectError(t, 401, "Admin authorization required")
		}
		if after := badTenantTotal(t, s); after != before {
			t.Errorf("tenant count %v -> %v", before, after)
		}
		s.Do("GET", "/admin/tenants", nil, "X-Admin-Token", adminToken).Expect(t, 200)
		mtGet(t, s, tok, id)
	})

	t.Run("tenant key", func(t *testing.T) {
		badUnchanged(t, s, "auth", func() {
			for _, h := range [][]string{
				nil,
				{"Authorization", "Bearer wrong-token-123"},
				{"X-API-Key", "wrong-token-123"},
				{"Authorization", "Bearer " + adminToken},
				// A wrong Bearer is not rescued by a right X-API-Key.
				{"Authorization", "Bearer wrong-token-123", "X-API-Key", tok},
			} {
				s.Do("POST", "/memory", map[string]any{"content": "sneaky"}, h...).ExpectError(t, 401, "Unauthorized")
				s.Do("POST", "/memory/batch", map[string]any{"memories": []any{map[string]any{"content": "sneaky"}}}, h...).ExpectError(t, 401, "Unauthorized")
				s.Do("GET", "/recall", nil, h...).ExpectError(t, 401, "Unauthorized")
				s.Do("GET", "/memory/"+id, nil, h...).ExpectError(t, 401, "Unauthorized")
				s.Do("PATCH", "/memory/"+id, map[string]any{"content": "changed"}, h...).ExpectError(t, 401, "Unauthorized")
				s.Do("DELETE", "/memory/"+id, nil, h...).ExpectError(t, 401, "Unauthorized")
				s.Do("DELETE", "/memory/by-tag"+Q("tags", "x"), nil, h...).ExpectError(t, 401, "Unauthorized")
				s.Do("POST", "/associate", map[string]any{"memory1_id": id, "memory2_id": id}, h...).ExpectError(t, 401, "Unauthorized")
				s.Do("GET", "/startup-recall", nil, h...).ExpectError(t, 401, "Unauthorized")
				s.Do("GET", "/analyze", nil, h...).ExpectError(t, 401, "Unauthorized")
				s.Do("GET", "/memories/"+id+"/related", nil, h...).ExpectError(t, 401, "Unauthorized")
			}
			s.Do("GET", "/recall"+Q("api_key", "wrong-token-123"), nil).ExpectError(t, 401, "Unauthorized")
		})
		if m := mtGet(t, s, tok, id); m["content"] != "guarded" {
			t.Errorf("content changed: %v", m["content"])
		}
		// The three credential forms that are right.
		s.Do("GET", "/memory/"+id, nil, "X-API-Key", tok).Expect(t, 200)
		s.Do("GET", "/memory/"+id+Q("api_key", tok), nil).Expect(t, 200)
		s.Do("GET", "/memory/"+id, nil, "Authorization", "bearer "+tok).Expect(t, 200)
	})

	t.Run("unknown route", func(t *testing.T) {
		for _, p := range []string{"/nope", "/memory/" + id + "/extra", "/memories/" + id, "/admin/nothing"} {
			s.As(tok, "GET", p, nil).ExpectError(t, 404, "not found")
		}
	})

	t.Run("wrong method", func(t *testing.T) {
		for _, c := range []struct{ method, path, allow string }{
			{"PUT", "/memory/" + id, "PATCH"},
			{"GET", "/memory", "POST"},
			{"DELETE", "/recall", "GET"},
			{"POST", "/health", "GET"},
			{"GET", "/associate", "POST"},
			{"PUT", "/admin/tenants", "POST"},
		} {
			r := s.As(tok, c.method, c.path, nil)
			r.ExpectError(t, 405, c.method)
			if !strings.Contains(r.Header.Get("Allow"), c.allow) {
				t.Errorf("%s %s: Allow %q lacks %s", c.method, c.path, r.Header.Get("Allow"), c.allow)
			}
		}
		mtGet(t, s, tok, id)
	})
}

func TestBadAdminNotConfigured(t *testing.T) {
	t.Parallel()
	s := Start(t, map[string]string{"ADMIN_API_TOKEN": ""})
	for _, h := range [][]string{
		nil,
		{"Authorization", "Bearer " + adminToken},
		{"X-Admin-Token", adminToken},
		{"Authorization", "Bearer "},
	} {
		s.Do("GET", "/admin/tenants", nil, h...).ExpectError(t, 403, "Admin token not configured")
		s.Do("POST", "/admin/tenants", map[string]any{"tenant_id": "t", "api_token": "t-token-123"}, h...).ExpectError(t, 403, "ADMIN_API_TOKEN")
		s.Do("GET", "/admin/tenants/t/stats", nil, h...).ExpectError(t, 403, "Admin token not configured")
		s.Do("DELETE", "/admin/tenants/t", nil, h...).ExpectError(t, 403, "Admin token not configured")
	}
	// Nothing was created: the token opens nothing, and the server is healthy.
	s.As("t-token-123", "GET", "/recall", nil).ExpectError(t, 401, "Unauthorized")
	if r := s.Do("GET", "/health", nil).Expect(t, 200); r.Body["status"] != "healthy" {
		t.Errorf("health: %s", r.Raw)
	}
}

func TestBadDeletedTenant(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	tok := mtTenant(t, s, "gone")
	other := mtTenant(t, s, "stays")
	a := s.Store(tok, map[string]any{"content": "soon deleted", "tags": []string{"t"}})
	b := s.Store(tok, map[string]any{"content": "also deleted", "tags": []string{"t"}})
	s.As(tok, "POST", "/associate", map[string]any{"memory1_id": a, "memory2_id": b}).Expect(t, 201)
	kept := s.Store(other, map[string]any{"content": "other tenant keeps this"})

	r := s.Admin("DELETE", "/admin/tenants/gone", nil).Expect(t, 200)
	if r.Body["status"] != "success" || r.Body["tenant_id"] != "gone" {
		t.Errorf("delete tenant: %s", r.Raw)
	}

	t.Run("token answers 401 at once", func(t *testing.T) {
		s.As(tok, "GET", "/recall", nil).ExpectError(t, 401, "Unauthorized")
		s.As(tok, "GET", "/memory/"+a, nil).ExpectError(t, 401, "Unauthorized")
		s.As(tok, "POST", "/memory", map[string]any{"content": "ghost write"}).ExpectError(t, 401, "Unauthorized")
		s.Do("GET", "/recall", nil, "X-API-Key", tok).ExpectError(t, 401, "Unauthorized")
		h := s.As(tok, "GET", "/health", nil).Expect(t, 200)
		if h.Body["memory_count"] != nil || h.Body["tenant_id"] != nil {
			t.Errorf("health with a deleted tenant's token: %s", h.Raw)
		}
		s.Admin("GET", "/admin/tenants/gone", nil).ExpectError(t, 404, "gone")
		s.Admin("GET", "/admin/tenants/gone/stats", nil).ExpectError(t, 404, "gone")
		s.Admin("DELETE", "/admin/tenants/gone", nil).ExpectError(t, 404, "gone")
	})

	t.Run("other tenant untouched", func(t *testing.T) {
		mtGet(t, s, other, kept)
		mtExpectStats(t, s, "stays", mtCounts{1, 0, 1})
	})

	t.Run("re-created id starts empty", func(t *testing.T) {
		s.CreateTenant("gone", "brand-new-token-789")
		newTok := "brand-new-token-789"
		mtExpectStats(t, s, "gone", mtCounts{0, 0, 0})
		s.As(tok, "GET", "/recall", nil).ExpectError(t, 401, "Unauthorized")
		s.As(newTok, "GET", "/memory/"+a, nil).ExpectError(t, 404, "Memory not found")
		r := mtRecall(t, s, newTok, "query", "soon deleted")
		if r.Body["count"] != float64(0) {
			t.Errorf("recall in the re-created tenant: %s", r.Raw)
		}
		r = s.As(newTok, "GET", "/memory/by-tag"+Q("tags", "t"), nil).Expect(t, 200)
		if r.Body["count"] != float64(0) {
			t.Errorf("by-tag in the re-created tenant: %s", r.Raw)
		}
		r = s.As(newTok, "GET", "/memories/"+a+"/related", nil).Expect(t, 200)
		if r.Body["count"] != float64(0) {
			t.Errorf("related in the re-created tenant: %s", r.Raw)
		}
		if h := s.As(newTok, "GET", "/health", nil).Expect(t, 200); h.Body["memory_count"] != float64(0) {
			t.Errorf("health of the re-created tenant: %s", h.Raw)
		}
		// The old token may even be reused, and still sees nothing old.
		s.Admin("DELETE", "/admin/tenants/gone", nil).Expect(t, 200)
		s.CreateTenant("gone", tok)
		mtExpectStats(t, s, "gone", mtCounts{0, 0, 0})
		s.As(tok, "GET", "/memory/"+b, nil).ExpectError(t, 404, "Memory not found")
		fresh := s.Store(tok, map[string]any{"content": fmt.Sprintf("first memory of the new %s", "gone")})
		mtExpectStats(t, s, "gone", mtCounts{1, 0, 1})
		mtGet(t, s, tok, fresh)
	})
}
