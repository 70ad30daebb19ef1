package registrytest

import (
	"context"
	"reflect"
	"testing"

	"github.com/mnemohq/mnemo"
)

// TestUsage is the contract of mnemo.UsageLog: counters that add up per
// tenant, incarnation, day and kind, visible when AddUsage returns, read
// by day range for one incarnation of a tenant or for all, in order.
func TestUsage(t *testing.T, newReg New) {
	t.Run("AddAndRead", func(t *testing.T) { testUsageAddAndRead(t, newReg(t)) })
	t.Run("All", func(t *testing.T) { testUsageAll(t, newReg(t)) })
	t.Run("LatestIncarnation", func(t *testing.T) { testUsageLatest(t, newReg(t)) })
	t.Run("Incarnations", func(t *testing.T) { testUsageIncarnations(t, newReg(t)) })
}

func mustAddUsage(t *testing.T, r Registry, rows ...mnemo.Usage) {
	t.Helper()
	if err := r.AddUsage(context.Background(), rows); err != nil {
		t.Fatalf("AddUsage: %v", err)
	}
}

func mustUsage(t *testing.T, r Registry, tenantID string, inc int64, from, to string) []mnemo.Usage {
	t.Helper()
	rows, err := r.Usage(context.Background(), tenantID, inc, from, to)
	if err != nil {
		t.Fatalf("Usage(%q, %d, %s, %s): %v", tenantID, inc, from, to, err)
	}
	return rows
}

func wantUsage(t *testing.T, what string, got, want []mnemo.Usage) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

// Counts of one key add up, across rows of one call and across calls;
// rows come ordered by day and kind; the day range is inclusive.
func testUsageAddAndRead(t *testing.T, r Registry) {
	mustCreateTenant(t, r, newTenant("acme", regBase), "acme-token")
	mustCreateTenant(t, r, newTenant("beta", regBase), "beta-token")
	mustAddUsage(t, r,
		mnemo.Usage{TenantID: "acme", Day: "2026-01-05", Kind: "store", Count: 2},
		mnemo.Usage{TenantID: "acme", Day: "2026-01-05", Kind: "store", Count: 3},
		mnemo.Usage{TenantID: "acme", Day: "2026-01-05", Kind: "recall", Count: 1},
		mnemo.Usage{TenantID: "beta", Day: "2026-01-05", Kind: "store", Count: 100},
	)
	mustAddUsage(t, r,
		mnemo.Usage{TenantID: "acme", Day: "2026-01-04", Kind: "store", Count: 4},
		mnemo.Usage{TenantID: "acme", Day: "2026-01-06", Kind: "admin", Count: 1},
		mnemo.Usage{TenantID: "acme", Day: "2026-01-05", Kind: "store", Count: 10},
	)
	row := func(day, kind string, n int64) mnemo.Usage {
		return mnemo.Usage{TenantID: "acme", Incarnation: 1, Day: day, Kind: kind, Count: n}
	}
	all := []mnemo.Usage{row("2026-01-04", "store", 4), row("2026-01-05", "recall", 1), row("2026-01-05", "store", 15), row("2026-01-06", "admin", 1)}
	for _, tc := range []struct {
		from, to string
		want     []mnemo.Usage
	}{
		{"2026-01-01", "2026-01-31", all},
		{"2026-01-04", "2026-01-06", all},
		{"2026-01-05", "2026-01-05", all[1:3]},
		{"2026-01-05", "2026-01-06", all[1:]},
		{"2026-01-07", "2026-01-31", nil},
		{"2026-01-06", "2026-01-04", nil},
	} {
		wantUsage(t, "Usage(acme, "+tc.from+", "+tc.to+")", mustUsage(t, r, "acme", 0, tc.from, tc.to), tc.want)
		wantUsage(t, "Usage(acme, 1, "+tc.from+", "+tc.to+")", mustUsage(t, r, "acme", 1, tc.from, tc.to), tc.want)
	}
	wantUsage(t, "Usage of an id never used", mustUsage(t, r, "nobody", 0, "2026-01-01", "2026-01-31"), nil)
	wantUsage(t, "Usage of an incarnation that never was", mustUsage(t, r, "acme", 2, "2026-01-01", "2026-01-31"), nil)
}

// With no tenant, every tenant's counters come, ordered by tenant,
// incarnation, day and kind.
func testUsageAll(t *testing.T, r Registry) {
	for _, id := range []string{"zeta", "acme", "mid"} {
		mustCreateTenant(t, r, newTenant(id, regBase), id+"-token")
	}
	mustAddUsage(t, r,
		mnemo.Usage{TenantID: "zeta", Day: "2026-01-01", Kind: "store", Count: 1},
		mnemo.Usage{TenantID: "mid", Day: "2026-01-02", Kind: "store", Count: 2},
		mnemo.Usage{TenantID: "acme", Day: "2026-01-02", Kind: "store", Count: 3},
		mnemo.Usage{TenantID: "acme", Day: "2026-01-01", Kind: "store", Count: 4},
		mnemo.Usage{TenantID: "acme", Day: "2026-01-02", Kind: "admin", Count: 5},
		mnemo.Usage{TenantID: "mid", Day: "2026-02-01", Kind: "store", Count: 6},
	)
	u := func(id, day, kind string, n int64) mnemo.Usage {
		return mnemo.Usage{TenantID: id, Incarnation: 1, Day: day, Kind: kind, Count: n}
	}
	wantUsage(t, "Usage of all in January", mustUsage(t, r, "", 0, "2026-01-01", "2026-01-31"), []mnemo.Usage{
		u("acme", "2026-01-01", "store", 4), u("acme", "2026-01-02", "admin", 5), u("acme", "2026-01-02", "store", 3),
		u("mid", "2026-01-02", "store", 2), u("zeta", "2026-01-01", "store", 1),
	})
	wantUsage(t, "Usage of all on one day", mustUsage(t, r, "", 0, "2026-02-01", "2026-02-01"), []mnemo.Usage{u("mid", "2026-02-01", "store", 6)})
	wantUsage(t, "Usage of all, no day", mustUsage(t, r, "", 0, "2026-03-01", "2026-03-31"), nil)
}

// A row without an incarnation counts for the id's latest: the current
// tenant's, a deleted tenant's last one, 0 for an id no tenant ever had.
func testUsageLatest(t *testing.T, r Registry) {
	mustCreateTenant(t, r, newTenant("acme", regBase), "acme-token")
	mustDeleteTenant(t, r, "acme")
	// After the delete, before a re-creation: the deleted one's.
	mustAddUsage(t, r, mnemo.Usage{TenantID: "acme", Day: "2026-01-05", Kind: "store", Count: 1},
		mnemo.Usage{TenantID: "ghost", Day: "2026-01-05", Kind: "store", Count: 9})
	mustCreateTenant(t, r, newTenant("acme", regHours(1)), "acme-token")
	mustAddUsage(t, r, mnemo.Usage{TenantID: "acme", Day: "2026-01-05", Kind: "store", Count: 2})
	wantUsage(t, "Usage of all", mustUsage(t, r, "", 0, "2026-01-01", "2026-01-31"), []mnemo.Usage{
		{TenantID: "acme", Incarnation: 1, Day: "2026-01-05", Kind: "store", Count: 1, Superseded: true},
		{TenantID: "acme", Incarnation: 2, Day: "2026-01-05", Kind: "store", Count: 2},
		{TenantID: "ghost", Incarnation: 0, Day: "2026-01-05", Kind: "store", Count: 9},
	})
	wantUsage(t, "Usage(ghost)", mustUsage(t, r, "ghost", 0, "2026-01-01", "2026-01-31"), []mnemo.Usage{
		{TenantID: "ghost", Incarnation: 0, Day: "2026-01-05", Kind: "store", Count: 9},
	})
}

// A re-created tenant starts with no usage; the old incarnation's stays
// readable by number (not marked superseded: it is what was asked for), and
// the listing of all marks it.
func testUsageIncarnations(t *testing.T, r Registry) {
	mustCreateTenant(t, r, newTenant("acme", regBase), "acme-token")
	mustAddUsage(t, r, mnemo.Usage{TenantID: "acme", Incarnation: 1, Day: "2026-01-05", Kind: "store", Count: 5})
	mustDeleteTenant(t, r, "acme")
	mustAddUsage(t, r, mnemo.Usage{TenantID: "acme", Incarnation: 1, Day: "2026-01-05", Kind: "store", Count: 2})
	mustCreateTenant(t, r, newTenant("acme", regHours(24)), "acme-token-2")
	wantUsage(t, "the new tenant's usage", mustUsage(t, r, "acme", 0, "2026-01-01", "2026-01-31"), nil)
	mustAddUsage(t, r, mnemo.Usage{TenantID: "acme", Incarnation: 2, Day: "2026-01-05", Kind: "store", Count: 1})
	// A later incarnation's row for an old one (written late) stays the old one's.
	mustAddUsage(t, r, mnemo.Usage{TenantID: "acme", Incarnation: 1, Day: "2026-01-06", Kind: "store", Count: 3})

	wantUsage(t, "current usage", mustUsage(t, r, "acme", 0, "2026-01-01", "2026-01-31"),
		[]mnemo.Usage{{TenantID: "acme", Incarnation: 2, Day: "2026-01-05", Kind: "store", Count: 1}})
	wantUsage(t, "the first incarnation's usage", mustUsage(t, r, "acme", 1, "2026-01-01", "2026-01-31"), []mnemo.Usage{
		{TenantID: "acme", Incarnation: 1, Day: "2026-01-05", Kind: "store", Count: 7},
		{TenantID: "acme", Incarnation: 1, Day: "2026-01-06", Kind: "store", Count: 3},
	})
	wantUsage(t, "all usage", mustUsage(t, r, "", 0, "2026-01-01", "2026-01-31"), []mnemo.Usage{
		{TenantID: "acme", Incarnation: 1, Day: "2026-01-05", Kind: "store", Count: 7, Superseded: true},
		{TenantID: "acme", Incarnation: 1, Day: "2026-01-06", Kind: "store", Count: 3, Superseded: true},
		{TenantID: "acme", Incarnation: 2, Day: "2026-01-05", Kind: "store", Count: 1},
	})
}
