package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSingleTenantMigrationPath: with AUTOMEM_API_TOKEN set, an AutoMem
// client keeps working with its old token, bound to the tenant "default",
// across restarts.
func TestSingleTenantMigrationPath(t *testing.T) {
	t.Parallel()
	s := Start(t, map[string]string{"AUTOMEM_API_TOKEN": "legacy-automem-token"})
	id := s.Store("legacy-automem-token", map[string]any{"content": "kept from the single-tenant days"})
	r := s.Admin("GET", "/admin/tenants/default/stats", nil).Expect(t, 200)
	if r.Body["memory_count"] != float64(1) {
		t.Fatalf("default tenant stats: %s", r.Raw)
	}
	s.Restart(false)
	r = s.As("legacy-automem-token", "GET", "/memory/"+id, nil).Expect(t, 200)
	if r.Body["memory"].(map[string]any)["content"] != "kept from the single-tenant days" {
		t.Fatalf("after restart: %s", r.Raw)
	}
	r = s.Admin("GET", "/admin/tenants", nil).Expect(t, 200)
	if r.Body["total"] != float64(1) {
		t.Fatalf("restart must not create a second default tenant: %s", r.Raw)
	}
	// X-API-Key and ?api_key= work as in AutoMem.
	s.Do("GET", "/memory/"+id, nil, "X-API-Key", "legacy-automem-token").Expect(t, 200)
	s.Do("GET", "/memory/"+id+"?api_key=legacy-automem-token", nil).Expect(t, 200)
	// A wrong Bearer is not rescued by a right X-API-Key (AutoMem's rule).
	s.Do("GET", "/memory/"+id, nil, "Authorization", "Bearer wrong-token", "X-API-Key", "legacy-automem-token").
		ExpectError(t, 401, "Unauthorized")
}

// TestGeneratedTokens: without api_token, the server generates one
// (mnemo_ + 43 base64url characters) and shows it once.
func TestGeneratedTokens(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	r := s.Admin("POST", "/admin/tenants", map[string]any{"tenant_id": "gen", "name": "Generated"}).Expect(t, 201)
	token, _ := r.Body["api_token"].(string)
	if !regexp.MustCompile(`^mnemo_[A-Za-z0-9_-]{43}$`).MatchString(token) {
		t.Fatalf("generated token %q", token)
	}
	s.Store(token, map[string]any{"content": "works with a generated token"})
	for _, path := range []string{"/admin/tenants/gen", "/admin/tenants?include_stats=true"} {
		r = s.Admin("GET", path, nil).Expect(t, 200)
		if strings.Contains(string(r.Raw), token) || strings.Contains(string(r.Raw), token[6:14]) {
			t.Fatalf("%s shows the token: %s", path, r.Raw)
		}
	}
	r = s.Admin("GET", "/admin/tenants/gen", nil).Expect(t, 200)
	tenant := r.Body["tenant"].(map[string]any)
	if tenant["name"] != "Generated" || tenant["stats"].(map[string]any)["memory_count"] != float64(1) {
		t.Fatalf("tenant: %s", r.Raw)
	}
}

// TestLogsCarryNoSecrets: the access log has request id, tenant, route,
// status and latency, but never a token or memory content.
func TestLogsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	s.CreateTenant("logged", "very-secret-tenant-token")
	s.Store("very-secret-tenant-token", map[string]any{"content": "confidential memory content"})
	s.Do("GET", "/recall?query=confidential&api_key=very-secret-tenant-token", nil).Expect(t, 200)
	s.Do("GET", "/recall", nil, "Authorization", "Bearer wrong-but-secret-token").Expect(t, 401)
	s.Stop()
	logs := s.Logs()
	for _, secret := range []string{"very-secret-tenant-token", "wrong-but-secret-token", adminToken, "confidential memory content"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	for _, want := range []string{`"route":"GET /recall"`, `"tenant":"logged"`, `"status":200`, `"status":401`, `"request_id":`, `"latency_ms":`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
}

// openTenantFiles counts the tenant databases the server process holds open.
func openTenantFiles(t *testing.T, s *Server) int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", s.cmd.Process.Pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(dir, fd.Name()))
		if err == nil && strings.HasSuffix(target, "/memories.db") {
			n++
		}
	}
	return n
}

// TestListingManyTenantsOpensNoDatabase: tenant stats come from counters in
// the registry, so listing tenants with stats opens no tenant database, and
// idle tenant databases are closed.
func TestListingManyTenantsOpensNoDatabase(t *testing.T) {
	t.Parallel()
	s := Start(t, map[string]string{"MNEMO_STORE_IDLE_TIMEOUT": "50ms"})
	const n = 120
	for i := 0; i < n; i++ {
		s.CreateTenant(fmt.Sprintf("t%03d", i), fmt.Sprintf("token-for-tenant-%03d", i))
	}
	s.Store("token-for-tenant-007", map[string]any{"content": "one memory"})
	deadline := time.Now().Add(5 * time.Second)
	for openTenantFiles(t, s) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := openTenantFiles(t, s); got != 0 {
		t.Fatalf("%d tenant databases still open after the idle timeout", got)
	}
	total := 0
	for offset := 0; offset < n; offset += 50 {
		r := s.Admin("GET", fmt.Sprintf("/admin/tenants?include_stats=true&limit=50&offset=%d", offset), nil).Expect(t, 200)
		for _, item := range r.Body["tenants"].([]any) {
			tn := item.(map[string]any)
			want := float64(0)
			if tn["tenant_id"] == "t007" {
				want = 1
			}
			if got := tn["stats"].(map[string]any)["memory_count"]; got != want {
				t.Errorf("%v memory_count %v, want %v", tn["tenant_id"], got, want)
			}
			total++
		}
		if r.Body["total"] != float64(n) {
			t.Fatalf("total %v", r.Body["total"])
		}
	}
	if total != n {
		t.Fatalf("paged through %d tenants, want %d", total, n)
	}
	if got := openTenantFiles(t, s); got != 0 {
		t.Fatalf("listing opened %d tenant databases", got)
	}
}
