package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/sqlite"
)

// rawRegistry opens registry.db beside the service, without foreign keys,
// to plant what only a crash, an older version or a hand edit leaves.
func rawRegistry(t *testing.T, dir string) *sql.DB {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "registry.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func mustExec(t *testing.T, d *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := d.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func count(t *testing.T, d *sql.DB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := d.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func audit(t *testing.T, r *sqlite.Registry, tenantID, action string, at time.Time) {
	t.Helper()
	if err := r.AppendAudit(context.Background(), &mnemo.AuditEvent{At: at, Actor: "admin", TenantID: tenantID, Action: action, Target: tenantID, Outcome: "success"}); err != nil {
		t.Fatal(err)
	}
}

// Prune removes exactly what is past each cutoff, in batches smaller than
// what there is to remove, and keeps everything else; a zero cutoff keeps
// its kind forever.
func TestPruneRemovesWhatIsPastItsRetention(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := openRegistry(t, dir)
	now := base.Add(400 * 24 * time.Hour)
	k := mustCreateTenant(t, r, tenant("acme", base), "acme-token")

	// Audit: five events before the cutoff, two after.
	for i := range 5 {
		audit(t, r, "acme", "old", now.Add(-48*time.Hour-time.Duration(i)*time.Minute))
	}
	audit(t, r, "acme", "new", now.Add(-time.Hour))
	audit(t, r, "", "backup", now.Add(-time.Hour))
	// Usage: three days before the cutoff day, one on it, one after.
	for _, d := range []string{"2025-01-01", "2025-01-02", "2025-01-03", "2025-02-01", "2025-03-01"} {
		if err := r.AddUsage(ctx, []mnemo.Usage{{TenantID: "acme", Incarnation: 1, Day: d, Kind: "store", Count: 2}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Idempotency: one answer kept two days ago, one an hour ago.
	for i, at := range []time.Time{now.Add(-48 * time.Hour), now.Add(-time.Hour)} {
		if _, _, err := r.ReserveIdempotency(ctx, "acme", []string{"k-old", "k-new"}[i], []byte("fp"), at, 24*time.Hour, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	// OAuth: an unused client registered long ago (with a code), an idle
	// one whose grants are gone, an idle one still holding a grant, a
	// fresh unused one.
	for _, c := range []struct {
		id string
		at time.Time
	}{{"unused-old", now.Add(-72 * time.Hour)}, {"idle", now.Add(-200 * 24 * time.Hour)}, {"holding", now.Add(-200 * 24 * time.Hour)}, {"unused-new", now.Add(-time.Hour)}} {
		if err := registerAt(t, r, c.id, c.at, time.Time{}, 0); err != nil {
			t.Fatal(err)
		}
	}
	g := grant(mnemo.GrantCode, "code-unused-old", "f-unused", k.ID, now.Add(time.Hour))
	g.ClientID = "unused-old"
	if err := r.SaveOAuthGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ client, token string }{{"idle", "idle"}, {"holding", "holding"}} {
		code := grant(mnemo.GrantCode, "code-"+c.token, "f-"+c.token, k.ID, now.Add(-199*24*time.Hour))
		code.ClientID = c.client
		if err := r.SaveOAuthGrant(ctx, code); err != nil {
			t.Fatal(err)
		}
		at := grant(mnemo.GrantAccess, "at-"+c.token, "f-"+c.token, k.ID, now.Add(-199*24*time.Hour))
		rt := grant(mnemo.GrantRefresh, "rt-"+c.token, "f-"+c.token, k.ID, now.Add(-199*24*time.Hour))
		at.ClientID, rt.ClientID = c.client, c.client
		if c.client == "holding" {
			rt.ExpiresAt = now.Add(24 * time.Hour) // a long-lived refresh token
		}
		if err := r.IssueOAuthTokens(ctx, at, rt, now.Add(-200*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}

	cutoffs := mnemo.PruneCutoffs{Audit: now.Add(-24 * time.Hour), UsageDay: "2025-02-01", Idempotency: now.Add(-24 * time.Hour),
		OAuthGrants: now.Add(-24 * time.Hour), UnusedOAuthClients: now.Add(-24 * time.Hour), IdleOAuthClients: now.Add(-90 * 24 * time.Hour)}
	removed, err := r.Prune(ctx, cutoffs, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Grants: idle's code, access and refresh, holding's code and access,
	// unused-old's code. Clients: unused-old and idle.
	want := map[string]int64{"audit": 5, "usage": 3, "idempotency": 1, "oauth_grants": 6, "oauth_clients": 2}
	if !reflect.DeepEqual(removed, want) {
		t.Fatalf("Prune removed %v, want %v", removed, want)
	}
	events, err := r.Audit(ctx, mnemo.AuditFilter{Limit: 100})
	if err != nil || len(events) != 2 || events[0].Action != "backup" || events[1].Action != "new" {
		t.Fatalf("audit after pruning: %v, %v; want the two recent events", events, err)
	}
	rows, err := r.Usage(ctx, "acme", 0, "2000-01-01", "2100-01-01")
	if err != nil || len(rows) != 2 || rows[0].Day != "2025-02-01" || rows[1].Day != "2025-03-01" {
		t.Fatalf("usage after pruning: %+v, %v; want the cutoff day and after", rows, err)
	}
	raw := rawRegistry(t, dir)
	if n := count(t, raw, `SELECT count(*) FROM idempotency WHERE key = 'k-new'`); n != 1 {
		t.Fatalf("the recent idempotency answer: %d rows", n)
	}
	for id, kept := range map[string]bool{"unused-old": false, "idle": false, "holding": true, "unused-new": true} {
		if clientExists(t, r, id) != kept {
			t.Errorf("client %s: kept %v, want %v", id, !kept, kept)
		}
	}
	if _, err := r.OAuthToken(ctx, mnemo.HashToken("rt-holding")); err != nil {
		t.Fatalf("an unexpired refresh token was pruned: %v", err)
	}

	// A second pass finds nothing; zero cutoffs prune nothing.
	if removed, err := r.Prune(ctx, cutoffs, 2); err != nil || len(removed) != 0 && !allZero(removed) {
		t.Fatalf("second pass: %v, %v", removed, err)
	}
	if removed, err := r.Prune(ctx, mnemo.PruneCutoffs{}, 1); err != nil || !allZero(removed) {
		t.Fatalf("zero cutoffs: %v, %v", removed, err)
	}
	if n := count(t, raw, `SELECT count(*) FROM audit`); n != 2 {
		t.Fatalf("audit rows after zero cutoffs: %d", n)
	}
}

func allZero(m map[string]int64) bool {
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

// An expired idempotency answer is as good as none before the pruner runs:
// the key reserves afresh, even with another request's fingerprint, and
// nothing of the old answer is replayed.
func TestIdempotencyExpiredIsInvisible(t *testing.T) {
	ctx := context.Background()
	r := openRegistry(t, t.TempDir())
	const ttl = 24 * time.Hour
	if ok, _, err := r.ReserveIdempotency(ctx, "acme", "k", []byte("first"), base, ttl, time.Minute); err != nil || !ok {
		t.Fatalf("reserve: %v, %v", ok, err)
	}
	if err := r.CompleteIdempotency(ctx, "acme", "k", mnemo.IdempotentAnswer{Status: 201, Body: []byte(`{"old":true}`)}); err != nil {
		t.Fatal(err)
	}
	// Within the TTL: the answer, and another request is refused.
	if ok, a, err := r.ReserveIdempotency(ctx, "acme", "k", []byte("first"), base.Add(ttl-time.Second), ttl, time.Minute); err != nil || ok || a == nil || a.Status != 201 {
		t.Fatalf("within the TTL: %v, %+v, %v", ok, a, err)
	}
	if _, _, err := r.ReserveIdempotency(ctx, "acme", "k", []byte("second"), base.Add(ttl-time.Second), ttl, time.Minute); mnemo.ErrorCode(err) != mnemo.EUNPROCESSABLE {
		t.Fatalf("another request within the TTL: %v", err)
	}
	// Past it: reserved anew for the new request, whose retry waits for
	// its own answer.
	later := base.Add(ttl + time.Second)
	if ok, a, err := r.ReserveIdempotency(ctx, "acme", "k", []byte("second"), later, ttl, time.Minute); err != nil || !ok || a != nil {
		t.Fatalf("past the TTL: %v, %+v, %v; want reserved afresh", ok, a, err)
	}
	if ok, a, err := r.ReserveIdempotency(ctx, "acme", "k", []byte("second"), later, ttl, time.Minute); err != nil || ok || a != nil {
		t.Fatalf("the new request's retry: %v, %+v, %v; want it in flight", ok, a, err)
	}
}

// However short the retention, a request still running (reserved, not
// answered) is never run again by a retry: neither a read nor the pruner
// treats its reservation as expired until it is abandoned.
func TestIdempotencyRunningIsNotExpired(t *testing.T) {
	ctx := context.Background()
	r := openRegistry(t, t.TempDir())
	const ttl = time.Second
	if ok, _, err := r.ReserveIdempotency(ctx, "acme", "k", []byte("fp"), base, ttl, time.Minute); err != nil || !ok {
		t.Fatalf("reserve: %v, %v", ok, err)
	}
	at := base.Add(10 * time.Second)
	if ok, a, err := r.ReserveIdempotency(ctx, "acme", "k", []byte("fp"), at, ttl, time.Minute); err != nil || ok || a != nil {
		t.Fatalf("a retry past the TTL while the request runs: %v, %+v, %v; want it in flight", ok, a, err)
	}
	if removed, err := r.Prune(ctx, mnemo.PruneCutoffs{Idempotency: at.Add(-ttl)}, 10); err != nil || removed["idempotency"] != 0 {
		t.Fatalf("pruning a running request's reservation: %v, %v; want kept", removed, err)
	}
	if removed, err := r.Prune(ctx, mnemo.PruneCutoffs{Idempotency: base.Add(time.Hour + time.Second)}, 10); err != nil || removed["idempotency"] != 1 {
		t.Fatalf("pruning a reservation abandoned an hour past the retention: %v, %v; want removed", removed, err)
	}
}

// A tenant id deleted and created again is a new incarnation: it starts
// with no usage and no audit, while the old incarnation's stay readable by
// number, buffered or flushed, and across a restart.
func TestIncarnationsSeparateARecreatedTenant(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r, err := sqlite.OpenRegistry(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	r.SetFlushInterval(time.Hour)
	first := tenant("acme", base)
	mustCreateTenant(t, r, first, "acme-token")
	if first.Incarnation != 1 {
		t.Fatalf("first incarnation: %d", first.Incarnation)
	}
	add := func(inc, n int64) {
		t.Helper()
		if err := r.AddUsage(ctx, []mnemo.Usage{{TenantID: "acme", Incarnation: inc, Day: "2026-01-05", Kind: "store", Count: n}}); err != nil {
			t.Fatal(err)
		}
	}
	add(1, 5)
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	add(1, 2) // buffered when the tenant is deleted
	audit(t, r, "acme", "memory.delete", base.Add(time.Hour))
	if err := r.DeleteTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	audit(t, r, "acme", "tenant.delete", base.Add(2*time.Hour)) // written after the delete, as the service does

	second := tenant("acme", base.Add(24*time.Hour))
	mustCreateTenant(t, r, second, "acme-token-2")
	if second.Incarnation != 2 {
		t.Fatalf("second incarnation: %d", second.Incarnation)
	}
	if got, err := r.Tenant(ctx, "acme"); err != nil || got.Incarnation != 2 {
		t.Fatalf("Tenant(acme): %+v, %v", got, err)
	}
	audit(t, r, "acme", "tenant.create", base.Add(24*time.Hour))
	add(2, 1)

	check := func(what string, r *sqlite.Registry) {
		t.Helper()
		usage := func(inc int64) []mnemo.Usage {
			rows, err := r.Usage(ctx, "acme", inc, "2026-01-01", "2026-01-31")
			if err != nil {
				t.Fatal(err)
			}
			return rows
		}
		if got, want := usage(0), []mnemo.Usage{{TenantID: "acme", Incarnation: 2, Day: "2026-01-05", Kind: "store", Count: 1}}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: current usage %+v, want %+v", what, got, want)
		}
		if got, want := usage(1), []mnemo.Usage{{TenantID: "acme", Incarnation: 1, Day: "2026-01-05", Kind: "store", Count: 7, Superseded: false}}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: first incarnation's usage %+v, want %+v", what, got, want)
		}
		all, err := r.Usage(ctx, "", 0, "2026-01-01", "2026-01-31")
		want := []mnemo.Usage{{TenantID: "acme", Incarnation: 1, Day: "2026-01-05", Kind: "store", Count: 7, Superseded: true},
			{TenantID: "acme", Incarnation: 2, Day: "2026-01-05", Kind: "store", Count: 1}}
		if err != nil || !reflect.DeepEqual(all, want) {
			t.Errorf("%s: all usage %+v, %v; want %+v", what, all, err, want)
		}
		actions := func(inc int64) []string {
			events, err := r.Audit(ctx, mnemo.AuditFilter{TenantID: "acme", Incarnation: inc, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range events {
				out = append(out, e.Action)
			}
			return out
		}
		if got := actions(0); !reflect.DeepEqual(got, []string{"tenant.create"}) {
			t.Errorf("%s: current audit %v", what, got)
		}
		if got := actions(1); !reflect.DeepEqual(got, []string{"tenant.delete", "memory.delete"}) {
			t.Errorf("%s: first incarnation's audit %v", what, got)
		}
	}
	check("buffered", r)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r = openRegistry(t, dir)
	check("after a restart", r)

	// Usage of a superseded incarnation read by itself is not marked: it
	// is what was asked for. (Superseded only names rows in a listing of
	// all.) An id no tenant ever had has nothing.
	if rows, err := r.Usage(ctx, "nobody", 0, "2026-01-01", "2026-01-31"); err != nil || len(rows) != 0 {
		t.Fatalf("usage of an id never used: %+v, %v", rows, err)
	}
}

// An incarnation's record goes once it ended before the cutoff and no
// usage or audit row refers to it; the id created again is then numbered
// from what is left, which no record can confuse.
func TestPruneIncarnations(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := openRegistry(t, dir)
	mustCreateTenant(t, r, tenant("acme", base), "acme-token")
	audit(t, r, "acme", "tenant.create", base)
	if err := r.DeleteTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour) // DeleteTenant stamps the system's time
	removed, err := r.Prune(ctx, mnemo.PruneCutoffs{Incarnations: future}, 10)
	if err != nil || removed["incarnations"] != 0 {
		t.Fatalf("an incarnation with audit rows: %v, %v; want kept", removed, err)
	}
	removed, err = r.Prune(ctx, mnemo.PruneCutoffs{Audit: base.Add(time.Second), Incarnations: future}, 10)
	if err != nil || removed["audit"] != 1 || removed["incarnations"] != 1 {
		t.Fatalf("an incarnation whose records are gone: %v, %v; want removed", removed, err)
	}
	raw := rawRegistry(t, dir)
	if n := count(t, raw, `SELECT count(*) FROM incarnations`); n != 0 {
		t.Fatalf("incarnations left: %d", n)
	}
}

// At start, keys, grants and kept answers that point at nothing are
// removed, an incarnation whose tenant is gone is closed, and a tenant
// without its incarnation's record gets one; usage and audit of deleted
// tenants are not orphans and stay.
func TestCleanOrphans(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := openRegistry(t, dir)
	k := mustCreateTenant(t, r, tenant("acme", base), "acme-token")
	registerAt(t, r, "c1", base, time.Time{}, 0)
	if err := r.SaveOAuthGrant(ctx, grant(mnemo.GrantCode, "live-code", "f1", k.ID, base.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if err := r.AddUsage(ctx, []mnemo.Usage{{TenantID: "gone", Incarnation: 1, Day: "2026-01-05", Kind: "store", Count: 1}}); err != nil {
		t.Fatal(err)
	}
	raw := rawRegistry(t, dir)
	// What a hand edit or an older version could leave (no foreign keys).
	mustExec(t, raw, `INSERT INTO keys (id, tenant_id, hash, prefix, label, scopes, created_at) VALUES ('k-ghost', 'ghost', x'02', 'g', '', '[]', 0)`)
	mustExec(t, raw, `INSERT INTO oauth_grants (hash, kind, client_id, key_id, scopes, expires_at, family) VALUES (x'03', 'code', 'c1', 'k-ghost', '[]', 0, 'f2')`)
	mustExec(t, raw, `INSERT INTO oauth_grants (hash, kind, client_id, key_id, scopes, expires_at, family) VALUES (x'04', 'code', 'no-client', ?, '[]', 0, 'f3')`, k.ID)
	mustExec(t, raw, `INSERT INTO idempotency (tenant_id, key, fingerprint, status, created_at) VALUES ('ghost', 'k', x'00', 201, 0)`)
	mustExec(t, raw, `INSERT INTO incarnations (tenant_id, incarnation, created_at) VALUES ('ghost', 1, 0)`)
	mustExec(t, raw, `INSERT INTO tenants (id, name, status, created_at, updated_at, incarnation) VALUES ('handmade', 'h', 'active', 5, 5, 1)`)

	now := base.Add(time.Hour)
	removed, err := r.CleanOrphans(ctx, now)
	// The ghost key's grant goes with it, by cascade; the grant of a
	// client that does not exist, by its own step.
	want := map[string]int64{"keys": 1, "oauth_grants": 1, "idempotency": 1, "incarnations": 2}
	if err != nil || !reflect.DeepEqual(removed, want) {
		t.Fatalf("CleanOrphans: %v, %v; want %v", removed, err, want)
	}
	if n := count(t, raw, `SELECT count(*) FROM incarnations WHERE tenant_id = 'ghost' AND deleted_at = ?`, now.UnixMicro()); n != 1 {
		t.Fatal("the ghost's incarnation was not closed")
	}
	if n := count(t, raw, `SELECT count(*) FROM incarnations WHERE tenant_id = 'handmade' AND incarnation = 1 AND deleted_at IS NULL`); n != 1 {
		t.Fatal("the handmade tenant got no incarnation")
	}
	if _, err := r.OAuthToken(ctx, mnemo.HashToken("live-code")); mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
		// OAuthToken reads tokens only: the live code is checked by count.
		t.Fatalf("OAuthToken of a code: %v", err)
	}
	if n := count(t, raw, `SELECT count(*) FROM oauth_grants`); n != 1 {
		t.Fatalf("grants left: %d, want the live code", n)
	}
	if rows, err := r.Usage(ctx, "gone", 1, "2026-01-01", "2026-01-31"); err != nil || len(rows) != 1 {
		t.Fatalf("a deleted tenant's usage: %+v, %v; want kept", rows, err)
	}
	// Nothing is left for a second run.
	if removed, err := r.CleanOrphans(ctx, now); err != nil || !allZero(removed) {
		t.Fatalf("second CleanOrphans: %v, %v", removed, err)
	}
}
