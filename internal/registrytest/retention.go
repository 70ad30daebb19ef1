package registrytest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

// TestPrune is the contract of mnemo.RecordPruner.Prune for audit, usage
// and incarnations (OAuth and idempotency have their own): exactly what is
// past its cutoff goes, whatever the batch, counted by kind; a zero cutoff
// keeps its kind forever; an incarnation goes only once it is closed
// before its cutoff and nothing refers to it.
func TestPrune(t *testing.T, newReg New) {
	t.Run("Audit", func(t *testing.T) { testPruneAudit(t, newReg(t)) })
	t.Run("Usage", func(t *testing.T) { testPruneUsage(t, newReg(t)) })
	t.Run("ZeroCutoffsKeepEverything", func(t *testing.T) { testPruneZero(t, newReg(t)) })
	t.Run("BatchBelowOne", func(t *testing.T) { testPruneBatchBelowOne(t, newReg(t)) })
	t.Run("Incarnations", func(t *testing.T) { testPruneIncarnations(t, newReg(t)) })
	t.Run("IncarnationsBehindKeptOnes", func(t *testing.T) { testPruneIncarnationsBehindKept(t, newReg(t)) })
}

// TestCleanOrphans is the part of mnemo.RecordPruner.CleanOrphans that
// can be seen through the interfaces: a registry that only the interfaces
// wrote has no orphans, so nothing is removed or closed, and everything
// still works. (Backends plant orphans in their own tests.)
func TestCleanOrphans(t *testing.T, newReg New) {
	t.Run("NothingToClean", func(t *testing.T) { testCleanNothing(t, newReg(t)) })
}

func mustPrune(t *testing.T, r Registry, c mnemo.PruneCutoffs, batch int) map[string]int64 {
	t.Helper()
	removed, err := r.Prune(context.Background(), c, batch)
	if err != nil {
		t.Fatalf("Prune(%+v, %d): %v", c, batch, err)
	}
	return removed
}

func allZero(m map[string]int64) bool {
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

// Events before the cutoff go, in batches smaller than their number; one
// at the cutoff stays; the filters still find what is left; a second pass
// removes nothing.
func testPruneAudit(t *testing.T, r Registry) {
	mustCreateTenant(t, r, newTenant("acme", regBase), "acme-token")
	cutoff := regHours(100)
	for i := range 5 {
		mustAudit(t, r, "acme", "old", cutoff.Add(-time.Duration(i+1)*time.Minute))
	}
	mustAudit(t, r, "acme", "at-cutoff", cutoff)
	mustAudit(t, r, "acme", "old", cutoff.Add(-time.Microsecond))
	prev := mustAudit(t, r, "", "backup", cutoff.Add(time.Hour))
	removed := mustPrune(t, r, mnemo.PruneCutoffs{Audit: cutoff}, 2)
	if want := map[string]int64{"audit": 6}; !reflect.DeepEqual(removed, want) {
		t.Fatalf("Prune removed %v, want %v", removed, want)
	}
	if got := auditActions(t, r, mnemo.AuditFilter{Limit: 100}); !reflect.DeepEqual(got, []string{"backup", "at-cutoff"}) {
		t.Fatalf("audit after pruning = %v", got)
	}
	for _, tc := range []struct {
		f    mnemo.AuditFilter
		want []string
	}{
		{mnemo.AuditFilter{TenantID: "acme", Limit: 100}, []string{"at-cutoff"}},
		{mnemo.AuditFilter{Action: "old", Limit: 100}, []string{}},
		{mnemo.AuditFilter{Since: regBase, Limit: 100}, []string{"backup", "at-cutoff"}},
	} {
		if got := auditActions(t, r, tc.f); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("after pruning, Audit(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
	if removed := mustPrune(t, r, mnemo.PruneCutoffs{Audit: cutoff}, 2); !reflect.DeepEqual(removed, map[string]int64{"audit": 0}) {
		t.Fatalf("a second pass removed %v, want audit 0", removed)
	}
	// Numbering goes on after the pruned ids.
	last := mustAudit(t, r, "", "later", cutoff.Add(2*time.Hour))
	events, err := r.Audit(context.Background(), mnemo.AuditFilter{Limit: 1})
	if err != nil || len(events) != 1 || events[0].ID != last.ID || last.ID <= prev.ID {
		t.Fatalf("an event after pruning: %+v, %v (appended id %d after %d)", events, err, last.ID, prev.ID)
	}
}

// Counters of days before the cutoff day go, a row (tenant, incarnation,
// day, kind) at a time however they are batched, for every tenant; the
// cutoff day stays.
func testPruneUsage(t *testing.T, r Registry) {
	mustCreateTenant(t, r, newTenant("acme", regBase), "acme-token")
	mustCreateTenant(t, r, newTenant("beta", regBase), "beta-token")
	var rows []mnemo.Usage
	for _, d := range []string{"2025-01-01", "2025-01-02", "2025-01-31", "2025-02-01", "2025-03-01"} {
		rows = append(rows, mnemo.Usage{TenantID: "acme", Day: d, Kind: "store", Count: 2})
	}
	rows = append(rows, mnemo.Usage{TenantID: "acme", Day: "2025-01-02", Kind: "recall", Count: 1},
		mnemo.Usage{TenantID: "beta", Day: "2025-01-01", Kind: "store", Count: 1},
		mnemo.Usage{TenantID: "beta", Day: "2025-02-01", Kind: "store", Count: 1})
	mustAddUsage(t, r, rows...)
	removed := mustPrune(t, r, mnemo.PruneCutoffs{UsageDay: "2025-02-01"}, 2)
	if want := map[string]int64{"usage": 5}; !reflect.DeepEqual(removed, want) {
		t.Fatalf("Prune removed %v, want %v", removed, want)
	}
	u := func(id, day string) mnemo.Usage {
		return mnemo.Usage{TenantID: id, Incarnation: 1, Day: day, Kind: "store", Count: map[string]int64{"acme": 2, "beta": 1}[id]}
	}
	wantUsage(t, "usage after pruning", mustUsage(t, r, "", 0, "2000-01-01", "2100-01-01"),
		[]mnemo.Usage{u("acme", "2025-02-01"), u("acme", "2025-03-01"), u("beta", "2025-02-01")})
	wantUsage(t, "acme's usage after pruning", mustUsage(t, r, "acme", 0, "2000-01-01", "2100-01-01"),
		[]mnemo.Usage{u("acme", "2025-02-01"), u("acme", "2025-03-01")})
	// Counting again on a pruned day starts from zero.
	mustAddUsage(t, r, mnemo.Usage{TenantID: "acme", Day: "2025-01-01", Kind: "store", Count: 3})
	wantUsage(t, "a pruned day counted again", mustUsage(t, r, "acme", 0, "2025-01-01", "2025-01-01"),
		[]mnemo.Usage{{TenantID: "acme", Incarnation: 1, Day: "2025-01-01", Kind: "store", Count: 3}})
}

// Zero cutoffs remove nothing, however old the records.
func testPruneZero(t *testing.T, r Registry) {
	mustCreateTenant(t, r, newTenant("acme", regBase), "acme-token")
	mustAudit(t, r, "acme", "old", regBase)
	mustAddUsage(t, r, mnemo.Usage{TenantID: "acme", Day: "1999-01-01", Kind: "store", Count: 1})
	mustDeleteTenant(t, r, "acme")
	if removed := mustPrune(t, r, mnemo.PruneCutoffs{}, 1); !allZero(removed) {
		t.Fatalf("zero cutoffs removed %v", removed)
	}
	if got := auditActions(t, r, mnemo.AuditFilter{Limit: 10}); len(got) != 1 {
		t.Fatalf("audit after zero cutoffs = %v", got)
	}
	if got := mustUsage(t, r, "acme", 1, "1990-01-01", "2100-01-01"); len(got) != 1 {
		t.Fatalf("usage after zero cutoffs = %v", got)
	}
	mustCreateTenant(t, r, newTenant("acme", regBase), "acme-token")
	if got := mustTenant(t, r, "acme"); got.Incarnation != 2 {
		t.Fatalf("re-created after zero cutoffs: incarnation %d, want 2", got.Incarnation)
	}
}

// A batch below one is a batch of one: everything still goes.
func testPruneBatchBelowOne(t *testing.T, r Registry) {
	for i := range 3 {
		mustAudit(t, r, "", "old", regHours(i))
	}
	mustAddUsage(t, r, mnemo.Usage{TenantID: "x", Day: "2025-01-01", Kind: "a", Count: 1},
		mnemo.Usage{TenantID: "x", Day: "2025-01-01", Kind: "b", Count: 1})
	removed := mustPrune(t, r, mnemo.PruneCutoffs{Audit: regHours(10), UsageDay: "2026-01-01"}, 0)
	if want := map[string]int64{"audit": 3, "usage": 2}; !reflect.DeepEqual(removed, want) {
		t.Fatalf("Prune with batch 0 removed %v, want %v", removed, want)
	}
}

// A deleted tenant's incarnation goes once closed before the cutoff and no
// audit or usage refers to it; a live tenant's never. What is left numbers
// the next creation: an id whose every record went starts again at 1.
func testPruneIncarnations(t *testing.T, r Registry) {
	ctx := context.Background()
	mustCreateTenant(t, r, newTenant("acme", regBase), "acme-token")
	mustAudit(t, r, "acme", "tenant.create", regBase)
	mustDeleteTenant(t, r, "acme")
	mustCreateTenant(t, r, newTenant("beta", regBase), "beta-token")
	mustAddUsage(t, r, mnemo.Usage{TenantID: "beta", Day: "2025-01-01", Kind: "store", Count: 1})
	mustDeleteTenant(t, r, "beta")
	mustCreateTenant(t, r, newTenant("live", regBase), "live-token") // no records at all
	mustCreateTenant(t, r, newTenant("bare", regBase), "bare-token")
	mustDeleteTenant(t, r, "bare") // no records either

	// DeleteTenant stamps the system's clock.
	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	if removed := mustPrune(t, r, mnemo.PruneCutoffs{Incarnations: past}, 10); !reflect.DeepEqual(removed, map[string]int64{"incarnations": 0}) {
		t.Fatalf("a cutoff before the deletes removed %v", removed)
	}
	// Only bare's goes: acme's has audit, beta's usage, live's is open.
	if removed := mustPrune(t, r, mnemo.PruneCutoffs{Incarnations: future}, 10); !reflect.DeepEqual(removed, map[string]int64{"incarnations": 1}) {
		t.Fatalf("Prune removed %v, want bare's incarnation only", removed)
	}
	removed := mustPrune(t, r, mnemo.PruneCutoffs{Audit: regBase.Add(time.Second), UsageDay: "2026-01-01", Incarnations: future}, 1)
	if want := map[string]int64{"audit": 1, "usage": 1, "incarnations": 2}; !reflect.DeepEqual(removed, want) {
		t.Fatalf("Prune removed %v, want %v", removed, want)
	}
	for _, tc := range []struct {
		id   string
		want int64
	}{{"acme", 1}, {"beta", 1}, {"bare", 1}} {
		tn := newTenant(tc.id, regHours(1))
		mustCreateTenant(t, r, tn, tc.id+"-token-2")
		if tn.Incarnation != tc.want {
			t.Errorf("%s re-created after its records went: incarnation %d, want %d", tc.id, tn.Incarnation, tc.want)
		}
	}
	// The live tenant's record stayed: deleted and created again, it is 2.
	mustDeleteTenant(t, r, "live")
	tn := newTenant("live", regHours(1))
	if err := r.CreateTenant(ctx, tn, newKey("key_live2", "live", "live-token", nil), mnemo.HashToken("live-token")); err != nil {
		t.Fatal(err)
	}
	if tn.Incarnation != 2 {
		t.Fatalf("the live tenant re-created: incarnation %d, want 2", tn.Incarnation)
	}
}

// Incarnations still referred to do not hide the ones behind them, however
// small the batch.
func testPruneIncarnationsBehindKept(t *testing.T, r Registry) {
	for i := range 4 {
		id := []string{"a", "b", "c", "d"}[i]
		mustCreateTenant(t, r, newTenant(id, regBase), id+"-token")
		mustDeleteTenant(t, r, id)
		if i < 2 { // the first two deleted are kept by their audit
			mustAudit(t, r, id, "tenant.delete", regBase)
		}
	}
	removed := mustPrune(t, r, mnemo.PruneCutoffs{Incarnations: time.Now().Add(time.Hour)}, 1)
	if want := map[string]int64{"incarnations": 2}; !reflect.DeepEqual(removed, want) {
		t.Fatalf("Prune removed %v, want %v", removed, want)
	}
	for id, want := range map[string]int64{"a": 2, "b": 2, "c": 1, "d": 1} {
		tn := newTenant(id, regHours(1))
		mustCreateTenant(t, r, tn, id+"-token")
		if tn.Incarnation != want {
			t.Errorf("%s re-created: incarnation %d, want %d", id, tn.Incarnation, want)
		}
	}
}

// A registry written through the interfaces has nothing to clean: every
// count is zero, twice, and keys, usage, audit and incarnations are as
// they were.
func testCleanNothing(t *testing.T, r Registry) {
	ctx := context.Background()
	mustCreateTenant(t, r, newTenant("acme", regBase), "acme-token")
	mustAddKey(t, r, newKey("second", "acme", "acme-second", nil), "acme-second")
	if err := r.RevokeKey(ctx, "acme", "second", regHours(1)); err != nil {
		t.Fatal(err)
	}
	mustCreateTenant(t, r, newTenant("gone", regBase), "gone-token")
	mustAudit(t, r, "gone", "tenant.create", regBase)
	mustAddUsage(t, r, mnemo.Usage{TenantID: "gone", Day: "2026-01-05", Kind: "store", Count: 1})
	mustDeleteTenant(t, r, "gone")
	mustCreateTenant(t, r, newTenant("idle", regBase), "idle-token")

	for pass := 1; pass <= 2; pass++ {
		removed, err := r.CleanOrphans(ctx, time.Now())
		if err != nil || !allZero(removed) {
			t.Fatalf("CleanOrphans pass %d: %v, %v; want nothing", pass, removed, err)
		}
	}
	if _, tn, err := r.KeyByHash(ctx, mnemo.HashToken("acme-token")); err != nil || tn.ID != "acme" {
		t.Fatalf("acme's key after CleanOrphans: %+v, %v", tn, err)
	}
	if keys, err := r.Keys(ctx, "acme"); err != nil || len(keys) != 2 {
		t.Fatalf("acme's keys after CleanOrphans: %v, %v", keys, err)
	}
	_, _, err := r.KeyByHash(ctx, mnemo.HashToken("acme-second"))
	wantErrCode(t, "the revoked key after CleanOrphans", err, mnemo.EUNAUTHORIZED)
	if got := mustUsage(t, r, "gone", 1, "2026-01-01", "2026-01-31"); len(got) != 1 {
		t.Fatalf("the deleted tenant's usage after CleanOrphans: %+v", got)
	}
	if got := auditActions(t, r, mnemo.AuditFilter{TenantID: "gone", Limit: 10}); len(got) != 1 {
		t.Fatalf("the deleted tenant's audit after CleanOrphans: %v", got)
	}
	// The live tenants' incarnations are still open: pruning takes none.
	if removed := mustPrune(t, r, mnemo.PruneCutoffs{Incarnations: time.Now().Add(time.Hour)}, 10); !reflect.DeepEqual(removed, map[string]int64{"incarnations": 0}) {
		t.Fatalf("Prune after CleanOrphans removed %v; want no incarnation", removed)
	}
}
