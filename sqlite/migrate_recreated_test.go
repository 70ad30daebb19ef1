package sqlite

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

// An id deleted and created again before the upgrade to incarnations (a
// successful tenant.delete in the audit before the live tenant's
// created_at) is two customers: the rows up to the last such delete are a
// closed incarnation 1, the usage of that delete's day included, and the
// live tenant is incarnation 2, billed only for its own. An id never
// deleted keeps everything under 1.
func TestIncarnationMigrationSplitsRecreatedIds(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := func(n int) time.Time { return time.Date(2026, 1, n, 12, 0, 0, 0, time.UTC) }
	registryAtVersion(t, dir, 5, []seed{
		{`INSERT INTO tenants (id, name, status, created_at, updated_at) VALUES
			('acme', 'New Acme', 'active', ?, ?), ('beta', 'Beta', 'active', ?, ?)`, []any{micros(d(10)), micros(d(10)), micros(d(2)), micros(d(2))}},
		// acme lived from the 1st to the 3rd and from the 4th to the 5th
		// (noon), and again from the 10th; usage of the 5th is the old
		// one's, and can only stay whole.
		{`INSERT INTO usage (tenant_id, day, kind, count) VALUES
			('acme', '2025-12-31', 'recall', 3), ('acme', '2026-01-02', 'store', 500), ('acme', '2026-01-05', 'store', 7),
			('acme', '2026-01-10', 'store', 2), ('acme', '2026-01-11', 'store', 1), ('beta', '2026-01-03', 'store', 4)`, nil},
		{`INSERT INTO audit (at, actor, tenant_id, action, target, request_id, outcome) VALUES
			(?, 'admin', 'acme', 'tenant.create', 'acme', 'r1', 'success'),
			(?, 'admin', 'beta', 'tenant.create', 'beta', 'r2', 'success'),
			(?, 'admin', 'acme', 'tenant.delete', 'acme', 'r3', 'success'),
			(?, 'admin', 'acme', 'tenant.create', 'acme', 'r4', 'success'),
			(?, 'admin', 'acme', 'tenant.delete', 'acme', 'r5', 'success'),
			(?, 'admin', 'acme', 'tenant.create', 'acme', 'r6', 'success'),
			(?, 'k1', 'acme', 'key.create', 'k2', 'r7', 'success'),
			(?, 'admin', 'beta', 'tenant.delete', 'beta', 'r8', 'error: internal')`,
			[]any{micros(d(1)), micros(d(2)), micros(d(3)), micros(d(4)), micros(d(5)), micros(d(10)), micros(d(11)), micros(d(12))}},
	})
	r, err := OpenRegistry(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	for id, want := range map[string]int64{"acme": 2, "beta": 1} {
		if tn, err := r.Tenant(ctx, id); err != nil || tn.Incarnation != want {
			t.Fatalf("migrated tenant %s: %+v, %v; want incarnation %d", id, tn, err, want)
		}
	}
	var lives []string
	rows, err := r.db.reader.QueryContext(ctx, `SELECT tenant_id, incarnation, created_at, deleted_at FROM incarnations ORDER BY tenant_id, incarnation`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var inc, created int64
		var deleted *int64
		if err := rows.Scan(&id, &inc, &created, &deleted); err != nil {
			t.Fatal(err)
		}
		end := "live"
		if deleted != nil {
			end = mnemo.FormatTime(time.UnixMicro(*deleted))
		}
		lives = append(lives, fmt.Sprintf("%s@%d %s..%s", id, inc, mnemo.FormatTime(time.UnixMicro(created)), end))
	}
	rows.Close()
	// The closed one begins with its first record (usage of 2025-12-31)
	// and ends at the last delete before the live tenant's creation.
	wantLives := []string{
		"acme@1 2025-12-31T00:00:00+00:00..2026-01-05T12:00:00+00:00",
		"acme@2 2026-01-10T12:00:00+00:00..live",
		"beta@1 2026-01-02T12:00:00+00:00..live",
	}
	if !reflect.DeepEqual(lives, wantLives) {
		t.Fatalf("incarnations %q, want %q", lives, wantLives)
	}

	// The old acme's rows are listed as an earlier incarnation's.
	all, err := r.Usage(ctx, "", 0, "2025-12-01", "2026-01-31")
	wantUsage := []mnemo.Usage{
		{TenantID: "acme", Incarnation: 1, Day: "2025-12-31", Kind: "recall", Count: 3, Superseded: true},
		{TenantID: "acme", Incarnation: 1, Day: "2026-01-02", Kind: "store", Count: 500, Superseded: true},
		{TenantID: "acme", Incarnation: 1, Day: "2026-01-05", Kind: "store", Count: 7, Superseded: true},
		{TenantID: "acme", Incarnation: 2, Day: "2026-01-10", Kind: "store", Count: 2},
		{TenantID: "acme", Incarnation: 2, Day: "2026-01-11", Kind: "store", Count: 1},
		{TenantID: "beta", Incarnation: 1, Day: "2026-01-03", Kind: "store", Count: 4},
	}
	if err != nil || !reflect.DeepEqual(all, wantUsage) {
		t.Fatalf("migrated usage: %+v, %v\nwant %+v", all, err, wantUsage)
	}
	// What the current acme's bill reads: its own usage only.
	billed, err := r.Usage(ctx, "acme", 0, "2025-12-01", "2026-01-31")
	if err != nil || !reflect.DeepEqual(billed, wantUsage[3:5]) {
		t.Fatalf("the current acme's usage: %+v, %v; want only its own %+v", billed, err, wantUsage[3:5])
	}

	var events []string
	rows, err = r.db.reader.QueryContext(ctx, `SELECT request_id, incarnation FROM audit ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var req string
		var inc int64
		if err := rows.Scan(&req, &inc); err != nil {
			t.Fatal(err)
		}
		events = append(events, fmt.Sprintf("%s@%d", req, inc))
	}
	rows.Close()
	if want := []string{"r1@1", "r2@1", "r3@1", "r4@1", "r5@1", "r6@2", "r7@2", "r8@1"}; !reflect.DeepEqual(events, want) {
		t.Fatalf("migrated audit %q, want %q", events, want)
	}

	// acme deleted and created again after the upgrade is its third.
	if err := r.DeleteTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	a := &mnemo.Tenant{ID: "acme", Name: "Third Acme", Status: mnemo.TenantActive, CreatedAt: d(20), UpdatedAt: d(20)}
	k := &mnemo.Key{ID: "k3", TenantID: "acme", Label: "initial", Prefix: "acme", Scopes: []string{mnemo.ScopeRead}, CreatedAt: d(20)}
	if err := r.CreateTenant(ctx, a, k, mnemo.HashToken("third-acme-token")); err != nil {
		t.Fatal(err)
	}
	if a.Incarnation != 3 {
		t.Fatalf("acme created again after the upgrade: incarnation %d, want 3", a.Incarnation)
	}
}
