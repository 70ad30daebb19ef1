package e2e

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // to plant old records in a stopped server's registry
)

// waitLog waits until the server has logged a line with msg for which
// match holds, and returns it; the deadline fails the test.
func waitLog(t *testing.T, s *Server, msg string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, line := range strings.Split(s.Logs(), "\n") {
			var e map[string]any
			if json.Unmarshal([]byte(line), &e) == nil && e["msg"] == msg && match(e) {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line %q as expected:\n%s", msg, s.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLogSum waits until the field of the server's log lines with msg adds
// up to at least want, and fails the test unless it is exactly want.
func waitLogSum(t *testing.T, s *Server, msg, field string, want float64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var sum float64
		for _, line := range strings.Split(s.Logs(), "\n") {
			var e map[string]any
			if json.Unmarshal([]byte(line), &e) == nil && e["msg"] == msg {
				n, _ := e[field].(float64)
				sum += n
			}
		}
		if sum == want {
			return
		}
		if sum > want || time.Now().After(deadline) {
			t.Fatalf("%q %s adds up to %v, want %v:\n%s", msg, field, sum, want, s.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// plant writes rows into a stopped server's registry, as an older server
// or a long run would have left them (without foreign keys: an orphan is
// what they would have stopped).
func plant(t *testing.T, s *Server, stmts ...string) {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+filepath.Join(s.DataDir, "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, q := range stmts {
		if _, err := d.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// auditActions lists the actions of the events a GET of path answers,
// newest first.
func auditActions(t *testing.T, s *Server, path string) []string {
	t.Helper()
	var out []string
	for _, it := range s.Admin("GET", path, nil).Expect(t, 200).Body["events"].([]any) {
		out = append(out, it.(map[string]any)["action"].(string))
	}
	return out
}

// TestRetentionPrunes: records past their retention are removed by the
// pruner, which says what it removed, and what is within it stays;
// orphaned records are removed at start; an Idempotency-Key whose answer
// has expired runs again.
func TestRetentionPrunes(t *testing.T) {
	t.Parallel()
	embeddedOnly(t, "it ages records by writing registry.db directly")
	const token = "acme-retention-token-0123456789"
	s := Start(t, map[string]string{"MNEMO_PRUNE_INTERVAL": "50ms"})
	s.CreateTenant("acme", token)
	first := s.Do("POST", "/memory", map[string]any{"content": "kept once"}, "Authorization", "Bearer "+token, "Idempotency-Key", "k1").Expect(t, 201)
	s.Stop()

	// A year and a half ago: usage and an audit event, past the default
	// retentions (400 and 365 days); and a key of a tenant that is gone.
	old := time.Now().UTC().AddDate(0, 0, -500)
	oldDay := old.Format("2006-01-02")
	plant(t, s,
		`INSERT INTO usage (tenant_id, incarnation, day, kind, count) VALUES ('acme', 1, '`+oldDay+`', 'store', 7)`,
		`INSERT INTO audit (at, actor, tenant_id, action, target, request_id, outcome, incarnation)
			VALUES (`+strconv.FormatInt(old.UnixMicro(), 10)+`, 'admin', 'acme', 'tenant.update', 'acme', 'r-old', 'success', 1)`,
		`INSERT INTO keys (id, tenant_id, hash, prefix, label, scopes, created_at) VALUES ('key_orphan', 'ghost', x'0102', 'g', '', '["read"]', 0)`)
	s.start()
	waitLog(t, s, "removed orphaned registry records", func(e map[string]any) bool { return e["keys"] == 1.0 })
	waitLog(t, s, "pruned records past their retention", func(e map[string]any) bool { return e["usage"] == 1.0 && e["audit"] == 1.0 })
	r := s.Admin("GET", "/admin/tenants/acme/usage"+Q("from", oldDay, "to", oldDay), nil).Expect(t, 200)
	if totals := r.Body["totals"].(map[string]any); len(totals) != 0 {
		t.Fatalf("usage of %s after pruning: %v, want none", oldDay, totals)
	}
	today := time.Now().UTC()
	r = s.Admin("GET", "/admin/tenants/acme/usage"+Q("from", today.AddDate(0, 0, -1).Format("2006-01-02"), "to", today.AddDate(0, 0, 1).Format("2006-01-02")), nil).Expect(t, 200)
	if got := r.Body["totals"].(map[string]any)["store"]; got != 1.0 {
		t.Fatalf("this week's store count: %v, want 1 (kept)", got)
	}
	if got, want := auditActions(t, s, "/admin/tenants/acme/audit"), []string{"key.create", "tenant.create"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("audit after pruning: %v, want %v", got, want)
	}
	metrics := string(s.Admin("GET", "/metrics", nil).Expect(t, 200).Raw)
	for _, line := range []string{`mnemo_records_pruned_total{kind="usage"} 1`, `mnemo_records_pruned_total{kind="audit"} 1`, `mnemo_records_pruned_total{kind="keys"} 1`} {
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}

	// With a retention of a second, the audit and the kept answer go, and
	// the same Idempotency-Key runs again.
	s.Stop()
	s.Env["MNEMO_AUDIT_RETENTION"], s.Env["MNEMO_IDEMPOTENCY_RETENTION"] = "1s", "1s"
	s.start()
	// (A pass may take the two creation events one at a time.)
	waitLogSum(t, s, "pruned records past their retention", "audit", 2)
	waitLogSum(t, s, "pruned records past their retention", "idempotency", 1)
	if got := auditActions(t, s, "/admin/audit"); len(got) != 0 {
		t.Fatalf("audit with a retention of 1s: %v, want none", got)
	}
	again := s.Do("POST", "/memory", map[string]any{"content": "kept once"}, "Authorization", "Bearer "+token, "Idempotency-Key", "k1").Expect(t, 201)
	if again.Body["memory_id"] == first.Body["memory_id"] {
		t.Fatal("an expired Idempotency-Key replayed its old answer")
	}
}

// TestNoAuditForNotFound: deletes of what does not exist (a loop of them
// once wrote hundreds of audit rows a second) and a delete by tag that
// matched nothing leave no audit row; a delete that deleted does.
func TestNoAuditForNotFound(t *testing.T) {
	t.Parallel()
	const token = "acme-notfound-token-0123456789"
	s := Start(t, nil)
	s.CreateTenant("acme", token)
	id := s.Store(token, map[string]any{"content": "to delete"})
	for i := range 50 {
		s.As(token, "DELETE", fmt.Sprintf("/memory/00000000-0000-4000-8000-%012d", i), nil).Expect(t, 404)
	}
	s.As(token, "DELETE", "/memory/by-tag"+Q("tags", "no-such-tag"), nil).Expect(t, 200)
	s.Admin("DELETE", "/admin/tenants/ghost", nil).Expect(t, 404)
	s.Admin("DELETE", "/admin/tenants/acme/keys/key_nosuchkey", nil).Expect(t, 404)
	if got, want := auditActions(t, s, "/admin/audit"), []string{"key.create", "tenant.create"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("audit after 53 404s and an empty delete: %v, want %v", got, want)
	}
	s.As(token, "DELETE", "/memory/"+id, nil).Expect(t, 200)
	if got, want := auditActions(t, s, "/admin/audit"), []string{"memory.delete", "key.create", "tenant.create"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("audit after a delete: %v, want %v", got, want)
	}
}

// TestRecreatedTenantStartsClean: a tenant id deleted and created again is
// a new incarnation. Its usage and audit start empty; the old tenant's are
// read with ?incarnation=1 and listed apart in /admin/usage, across a
// restart.
func TestRecreatedTenantStartsClean(t *testing.T) {
	t.Parallel()
	const oldToken, newToken = "acme-old-token-0123456789", "acme-new-token-0123456789"
	s := Start(t, nil)
	s.CreateTenant("acme", oldToken)
	s.Store(oldToken, map[string]any{"content": "old customer one"})
	gone := s.Store(oldToken, map[string]any{"content": "old customer two"})
	s.As(oldToken, "DELETE", "/memory/"+gone, nil).Expect(t, 200)
	s.Admin("DELETE", "/admin/tenants/acme", nil).Expect(t, 200)
	r := s.Admin("POST", "/admin/tenants", map[string]any{"tenant_id": "acme", "api_token": newToken}).Expect(t, 201)
	if got := r.Body["tenant"].(map[string]any)["incarnation"]; got != 2.0 {
		t.Fatalf("the id created again: incarnation %v, want 2", got)
	}
	s.Store(newToken, map[string]any{"content": "new customer"})
	s.As(oldToken, "GET", "/memory/"+gone, nil).Expect(t, 401)

	now := time.Now().UTC()
	rng := []string{"from", now.AddDate(0, 0, -1).Format("2006-01-02"), "to", now.AddDate(0, 0, 1).Format("2006-01-02")}
	usage := func(extra ...string) map[string]any {
		t.Helper()
		r := s.Admin("GET", "/admin/tenants/acme/usage"+Q(append(rng, extra...)...), nil).Expect(t, 200)
		totals := r.Body["totals"].(map[string]any)
		delete(totals, "bytes_stored")
		totals["incarnation"] = r.Body["incarnation"]
		return totals
	}
	check := func(what string, admin float64) {
		t.Helper()
		// Each read of the tenant's usage or audit is admin work on it,
		// counted first; reading an earlier incarnation's is not the new
		// tenant's work.
		if got, want := usage(), map[string]any{"store": 1.0, "memories_stored": 1.0, "embedding_calls": 1.0, "admin": admin, "incarnation": 2.0}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the new tenant's usage %v, want %v", what, got, want)
		}
		// The old one's: its stores, its delete and the admin delete of it.
		if got, want := usage("incarnation", "1"), map[string]any{"store": 2.0, "memories_stored": 2.0, "embedding_calls": 2.0, "delete": 1.0, "admin": 1.0, "incarnation": 1.0}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the old tenant's usage %v, want %v", what, got, want)
		}
		if got, want := auditActions(t, s, "/admin/tenants/acme/audit"), []string{"key.create", "tenant.create"}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the new tenant's audit %v, want %v", what, got, want)
		}
		if got, want := auditActions(t, s, "/admin/tenants/acme/audit?incarnation=1"), []string{"tenant.delete", "memory.delete", "key.create", "tenant.create"}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the old tenant's audit %v, want %v", what, got, want)
		}
		all := s.Admin("GET", "/admin/usage"+Q(rng...), nil).Expect(t, 200).Body["tenants"].(map[string]any)
		if len(all) != 2 || all["acme"].(map[string]any)["incarnation"] != 2.0 || all["acme@1"].(map[string]any)["incarnation"] != 1.0 ||
			all["acme@1"].(map[string]any)["totals"].(map[string]any)["store"] != 2.0 {
			t.Errorf("%s: /admin/usage tenants %v, want acme (incarnation 2) and acme@1", what, all)
		}
		// The CSV too: a script that sums by tenant_id bills the new
		// customer only for its own.
		csv := string(s.Admin("GET", "/admin/usage"+Q(append(rng, "format", "csv")...), nil).Expect(t, 200).Raw)
		stores := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(csv), "\n")[1:] {
			if f := strings.Split(strings.TrimSpace(line), ","); f[2] == "store" {
				stores[f[0]] = f[3] + " in incarnation " + f[4]
			}
		}
		if want := map[string]string{"acme": "1 in incarnation 2", "acme@1": "2 in incarnation 1"}; !reflect.DeepEqual(stores, want) {
			t.Errorf("%s: /admin/usage CSV stores %v, want %v:\n%s", what, stores, want, csv)
		}
	}
	check("running", 1)
	s.Restart(false)
	// The reads of the new tenant's usage and audit counted; the old one's
	// did not.
	check("after a restart", 3)

	s.Admin("GET", "/admin/tenants/acme/usage?incarnation=0", nil).ExpectError(t, 400, "'incarnation'")
	s.Admin("GET", "/admin/tenants/acme/audit?incarnation=two", nil).ExpectError(t, 400, "'incarnation'")
	s.Admin("GET", "/admin/usage?incarnation=1", nil).ExpectError(t, 400, "'incarnation'")
	s.Admin("GET", "/admin/audit?incarnation=1", nil).ExpectError(t, 400, "'incarnation'")
	if got, want := auditActions(t, s, "/admin/audit?tenant_id=acme&incarnation=1"), []string{"tenant.delete", "memory.delete", "key.create", "tenant.create"}; !reflect.DeepEqual(got, want) {
		t.Errorf("/admin/audit?tenant_id=acme&incarnation=1: %v, want %v", got, want)
	}
}
