package sqlite

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

// seed is a statement that plants a row in a registry of an older version.
type seed struct {
	sql  string
	args []any
}

// registryAtVersion makes dir/registry.db at schema version with the rows
// seeds plant, as an older mnemo left it.
func registryAtVersion(t *testing.T, dir string, version int, seeds []seed) {
	t.Helper()
	ctx := context.Background()
	d, err := openDB(ctx, filepath.Join(dir, "registry.db"), 1, 0, registryMigrations[:version])
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	for _, q := range seeds {
		if _, err := d.writer.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
}

// A registry of version 5 keeps every usage and audit row through the
// upgrade to incarnations: what exists is incarnation 1, and so is a
// deleted tenant known only by its records, so that its id created again
// is number 2 and starts clean while the old rows stay readable.
func TestIncarnationMigrationKeepsRows(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	day := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	registryAtVersion(t, dir, 5, []seed{
		{`INSERT INTO tenants (id, name, status, created_at, updated_at) VALUES ('acme', 'Acme', 'active', 0, 0)`, nil},
		{`INSERT INTO usage (tenant_id, day, kind, count) VALUES ('acme', '2026-01-05', 'store', 3), ('acme', '2026-01-06', 'recall', 4),
			('gone', '2026-01-04', 'store', 9)`, nil},
		{`INSERT INTO audit (at, actor, tenant_id, action, target, request_id, outcome) VALUES
			(?, 'admin', 'acme', 'tenant.create', 'acme', 'r1', 'success'),
			(?, 'admin', 'gone', 'tenant.delete', 'gone', 'r2', 'success'),
			(?, 'admin', '', 'backup', 'b', 'r3', 'success')`, []any{micros(day), micros(day.Add(time.Hour)), micros(day.Add(2 * time.Hour))}},
		{`INSERT INTO oauth_clients (id, name, redirect_uris, created_at, used_at) VALUES ('c1', 'Claude', '[]', 0, 7)`, nil},
	})

	r, err := OpenRegistry(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if tn, err := r.Tenant(ctx, "acme"); err != nil || tn.Incarnation != 1 {
		t.Fatalf("migrated tenant: %+v, %v", tn, err)
	}
	all, err := r.Usage(ctx, "", 0, "2026-01-01", "2026-01-31")
	want := []mnemo.Usage{
		{TenantID: "acme", Incarnation: 1, Day: "2026-01-05", Kind: "store", Count: 3},
		{TenantID: "acme", Incarnation: 1, Day: "2026-01-06", Kind: "recall", Count: 4},
		{TenantID: "gone", Incarnation: 1, Day: "2026-01-04", Kind: "store", Count: 9},
	}
	if err != nil || !reflect.DeepEqual(all, want) {
		t.Fatalf("migrated usage: %+v, %v; want %+v", all, err, want)
	}
	events, err := r.Audit(ctx, mnemo.AuditFilter{Limit: 10})
	if err != nil || len(events) != 3 || events[0].Incarnation != 0 || events[1].Incarnation != 1 || events[2].Incarnation != 1 {
		t.Fatalf("migrated audit: %+v, %v; want the backup's at 0, the tenants' at 1", events, err)
	}
	var active int64
	if err := r.db.reader.QueryRowContext(ctx, `SELECT active_at FROM oauth_clients WHERE id = 'c1'`).Scan(&active); err != nil || active != 7 {
		t.Fatalf("migrated client's last activity: %d, %v; want its first use", active, err)
	}
	// The deleted tenant's incarnation spans its records and is closed.
	var created, deleted int64
	if err := r.db.reader.QueryRowContext(ctx, `SELECT created_at, deleted_at FROM incarnations WHERE tenant_id = 'gone'`).Scan(&created, &deleted); err != nil ||
		created != micros(day.Add(time.Hour)) || deleted != micros(day.Add(time.Hour)) {
		t.Fatalf("gone's incarnation: %d-%d, %v", created, deleted, err)
	}

	// "gone" created again is its second incarnation, with nothing of the
	// first's.
	g := &mnemo.Tenant{ID: "gone", Name: "Gone again", Status: mnemo.TenantActive, CreatedAt: day, UpdatedAt: day}
	k := &mnemo.Key{ID: "k2", TenantID: "gone", Label: "initial", Prefix: "gone", Scopes: []string{mnemo.ScopeRead}, CreatedAt: day}
	if err := r.CreateTenant(ctx, g, k, mnemo.HashToken("gone-again-token")); err != nil {
		t.Fatal(err)
	}
	if g.Incarnation != 2 {
		t.Fatalf("gone created again: incarnation %d, want 2", g.Incarnation)
	}
	if rows, err := r.Usage(ctx, "gone", 0, "2026-01-01", "2026-01-31"); err != nil || len(rows) != 0 {
		t.Fatalf("the new gone's usage: %+v, %v; want none", rows, err)
	}
	if events, err := r.Audit(ctx, mnemo.AuditFilter{TenantID: "gone", Limit: 10}); err != nil || len(events) != 0 {
		t.Fatalf("the new gone's audit: %+v, %v; want none", events, err)
	}
	if rows, err := r.Usage(ctx, "gone", 1, "2026-01-01", "2026-01-31"); err != nil || len(rows) != 1 || rows[0].Count != 9 {
		t.Fatalf("the old gone's usage: %+v, %v; want kept", rows, err)
	}
}
