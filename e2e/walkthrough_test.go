package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// curl sends a request the way the seed's `curl -d` does: the JSON body
// with Content-Type application/x-www-form-urlencoded.
func curl(t *testing.T, s *Server, method, path, token, body string) *Response {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return s.doRequest(req)
}

// TestSeedWalkthrough runs the seed document's "Testing Locally" and
// "Usage Examples" sections verbatim.
func TestSeedWalkthrough(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)

	r := curl(t, s, "POST", "/admin/tenants", adminToken, `{"tenant_id":"test","api_token":"test-token"}`).Expect(t, 201)
	if r.Body["status"] != "success" || r.Body["api_token"] != "test-token" {
		t.Fatalf("create: %s", r.Raw)
	}
	tenant := r.Body["tenant"].(map[string]any)
	if tenant["tenant_id"] != "test" || tenant["status"] != "active" {
		t.Fatalf("tenant: %v", tenant)
	}
	r = curl(t, s, "POST", "/memory", "test-token", `{"content":"test memory"}`).Expect(t, 201)
	if r.Body["status"] != "success" || len(r.Body["memory_id"].(string)) != 36 {
		t.Fatalf("store: %s", r.Raw)
	}
	r = curl(t, s, "GET", "/admin/tenants/test/stats", adminToken, "").Expect(t, 200)
	for key, want := range map[string]float64{"memory_count": 1, "graph_nodes": 1, "graph_relationships": 0, "vector_points": 1} {
		if r.Body[key] != want {
			t.Errorf("stats %s = %v, want %v", key, r.Body[key], want)
		}
	}
	if r.Body["tenant_id"] != "test" || r.Body["storage_mb"].(float64) <= 0 {
		t.Errorf("stats: %s", r.Raw)
	}

	// Usage examples: two customers, each isolated.
	curl(t, s, "POST", "/admin/tenants", adminToken, `{
    "tenant_id": "fernando",
    "name": "Fernando Client",
    "api_token": "fernando_unique_secure_token_here"
  }`).Expect(t, 201)
	curl(t, s, "POST", "/admin/tenants", adminToken, `{
    "tenant_id": "claudio",
    "name": "Claudio Client",
    "api_token": "claudio_unique_secure_token_here"
  }`).Expect(t, 201)
	curl(t, s, "POST", "/memory", "fernando_unique_secure_token_here", `{"content": "My project uses PostgreSQL"}`).Expect(t, 201)
	curl(t, s, "POST", "/memory", "claudio_unique_secure_token_here", `{"content": "My project uses MongoDB"}`).Expect(t, 201)

	r = curl(t, s, "GET", "/recall?query=project+database&limit=10", "fernando_unique_secure_token_here", "").Expect(t, 200)
	if r.Body["count"] != float64(1) || !strings.Contains(string(r.Raw), "PostgreSQL") || strings.Contains(string(r.Raw), "MongoDB") {
		t.Fatalf("fernando sees: %s", r.Raw)
	}
	r = curl(t, s, "GET", "/recall?query=project&limit=10", "claudio_unique_secure_token_here", "").Expect(t, 200)
	if r.Body["count"] != float64(1) || !strings.Contains(string(r.Raw), "MongoDB") || strings.Contains(string(r.Raw), "PostgreSQL") {
		t.Fatalf("claudio sees: %s", r.Raw)
	}

	r = curl(t, s, "GET", "/admin/tenants?include_stats=true", adminToken, "").Expect(t, 200)
	if r.Body["count"] != float64(3) {
		t.Fatalf("list: %s", r.Raw)
	}
	for _, item := range r.Body["tenants"].([]any) {
		ten := item.(map[string]any)
		stats := ten["stats"].(map[string]any)
		if stats["memory_count"] != float64(1) {
			t.Errorf("tenant %v stats %v", ten["tenant_id"], stats)
		}
	}
	r = curl(t, s, "GET", "/admin/tenants/fernando/stats", adminToken, "").Expect(t, 200)
	if r.Body["memory_count"] != float64(1) || r.Body["tenant_id"] != "fernando" {
		t.Fatalf("fernando stats: %s", r.Raw)
	}
}
