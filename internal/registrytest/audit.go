package registrytest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

// TestAudit is the contract of mnemo.AuditLog: events numbered in
// increasing order, read back whole, newest first, by tenant (one
// incarnation of it), action and time, up to a limit.
func TestAudit(t *testing.T, newReg New) {
	t.Run("AppendAndRead", func(t *testing.T) { testAuditAppend(t, newReg(t)) })
	t.Run("NewestFirst", func(t *testing.T) { testAuditOrder(t, newReg(t)) })
	t.Run("Filters", func(t *testing.T) { testAuditFilters(t, newReg(t)) })
	t.Run("Incarnations", func(t *testing.T) { testAuditIncarnations(t, newReg(t)) })
}

func mustAudit(t *testing.T, r Registry, tenantID, action string, at time.Time) *mnemo.AuditEvent {
	t.Helper()
	e := &mnemo.AuditEvent{At: at, Actor: "admin", TenantID: tenantID, Action: action, Target: tenantID, RequestID: "req-" + action, Outcome: "success"}
	if err := r.AppendAudit(context.Background(), e); err != nil {
		t.Fatalf("AppendAudit(%s, %s): %v", tenantID, action, err)
	}
	return e
}

func auditActions(t *testing.T, r Registry, f mnemo.AuditFilter) []string {
	t.Helper()
	events, err := r.Audit(context.Background(), f)
	if err != nil {
		t.Fatalf("Audit(%+v): %v", f, err)
	}
	out := []string{}
	for _, e := range events {
		out = append(out, e.Action)
	}
	return out
}

// AppendAudit sets an increasing id and, for a tenant's event without an
// incarnation, the tenant id's latest (0 for an id no tenant ever had, and
// for an event about no tenant); an explicit incarnation is kept. Every
// field comes back exactly, the time to the microsecond.
func testAuditAppend(t *testing.T, r Registry) {
	ctx := context.Background()
	mustCreateTenant(t, r, newTenant("acme", regBase), "acme-token")
	events := []*mnemo.AuditEvent{
		{At: regHours(1).Add(123457 * time.Microsecond), Actor: "admin", TenantID: "acme", Action: "tenant.create", Target: "acme",
			RequestID: "req-1", Outcome: "success"},
		{At: regHours(2), Actor: "key_acme", TenantID: "acme", Action: "memory.delete", Target: "tags: a,b \"c\"\n",
			RequestID: "", Outcome: "error: not_found"},
		{At: regHours(3), Actor: "admin", TenantID: "", Action: "backup", Outcome: "success"},
		{At: regHours(4), Actor: "admin", TenantID: "ghost", Action: "tenant.delete", Target: "ghost", Outcome: "error: not_found"},
		{At: regHours(5), Actor: "admin", TenantID: "acme", Action: "usage.read", Outcome: "success", Incarnation: 7},
	}
	wantInc := []int64{1, 1, 0, 0, 7}
	var last int64
	for i, e := range events {
		if err := r.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
		if e.ID <= last {
			t.Fatalf("event %d: id %d after %d, want increasing", i, e.ID, last)
		}
		last = e.ID
		if e.Incarnation != wantInc[i] {
			t.Errorf("event %d (%s of %q): incarnation %d, want %d", i, e.Action, e.TenantID, e.Incarnation, wantInc[i])
		}
	}
	got, err := r.Audit(ctx, mnemo.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	want := []*mnemo.AuditEvent{events[4], events[3], events[2], events[1], events[0]}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Audit = %+v, want %+v", got, want)
	}
	for _, tc := range []struct {
		f    mnemo.AuditFilter
		want []string
	}{
		{mnemo.AuditFilter{TenantID: "ghost", Limit: 10}, []string{"tenant.delete"}},
		{mnemo.AuditFilter{TenantID: "acme", Incarnation: 7, Limit: 10}, []string{"usage.read"}},
		{mnemo.AuditFilter{TenantID: "acme", Limit: 10}, []string{"memory.delete", "tenant.create"}},
	} {
		if got := auditActions(t, r, tc.f); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Audit(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
}

// Events come newest first by id, whatever their times, and Limit keeps
// the newest.
func testAuditOrder(t *testing.T, r Registry) {
	// Times run backwards: the order is the order of appending.
	for i, a := range []string{"a", "b", "c", "d", "e"} {
		mustAudit(t, r, "", a, regHours(10-i))
	}
	for _, tc := range []struct {
		limit int
		want  []string
	}{
		{100, []string{"e", "d", "c", "b", "a"}},
		{5, []string{"e", "d", "c", "b", "a"}},
		{2, []string{"e", "d"}},
		{1, []string{"e"}},
	} {
		if got := auditActions(t, r, mnemo.AuditFilter{Limit: tc.limit}); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Audit(limit %d) = %v, want %v", tc.limit, got, tc.want)
		}
	}
}

// Each filter field, alone and together, selects exactly its events; Since
// is inclusive; the limit applies after the filters.
func testAuditFilters(t *testing.T, r Registry) {
	mustCreateTenant(t, r, newTenant("acme", regBase), "acme-token")
	mustCreateTenant(t, r, newTenant("beta", regBase), "beta-token")
	// name: tenant, action, hour.
	type ev struct {
		name, tenant, action string
		h                    int
	}
	evs := []ev{
		{"a1", "acme", "memory.store", 1}, {"b1", "beta", "memory.store", 2}, {"a2", "acme", "memory.delete", 3},
		{"x1", "", "backup", 4}, {"a3", "acme", "memory.store", 5}, {"b2", "beta", "memory.delete", 6},
		{"a4", "acme", "memory.store", 7},
	}
	names := map[int64]string{}
	for _, e := range evs {
		names[mustAudit(t, r, e.tenant, e.action, regHours(e.h)).ID] = e.name
	}
	for _, tc := range []struct {
		name string
		f    mnemo.AuditFilter
		want []string
	}{
		{"all", mnemo.AuditFilter{Limit: 100}, []string{"a4", "b2", "a3", "x1", "a2", "b1", "a1"}},
		{"tenant", mnemo.AuditFilter{TenantID: "acme", Limit: 100}, []string{"a4", "a3", "a2", "a1"}},
		{"tenant, limited", mnemo.AuditFilter{TenantID: "acme", Limit: 3}, []string{"a4", "a3", "a2"}},
		{"action", mnemo.AuditFilter{Action: "memory.delete", Limit: 100}, []string{"b2", "a2"}},
		{"since, inclusive", mnemo.AuditFilter{Since: regHours(5), Limit: 100}, []string{"a4", "b2", "a3"}},
		{"since, between events", mnemo.AuditFilter{Since: regHours(5).Add(time.Microsecond), Limit: 100}, []string{"a4", "b2"}},
		{"since, after all", mnemo.AuditFilter{Since: regHours(8), Limit: 100}, []string{}},
		{"tenant and action", mnemo.AuditFilter{TenantID: "acme", Action: "memory.store", Limit: 100}, []string{"a4", "a3", "a1"}},
		{"tenant, action, since", mnemo.AuditFilter{TenantID: "acme", Action: "memory.store", Since: regHours(2), Limit: 100}, []string{"a4", "a3"}},
		{"tenant, action, since, limited", mnemo.AuditFilter{TenantID: "acme", Action: "memory.store", Since: regHours(2), Limit: 1}, []string{"a4"}},
		{"action and since", mnemo.AuditFilter{Action: "memory.store", Since: regHours(2), Limit: 100}, []string{"a4", "a3", "b1"}},
		{"tenant and since", mnemo.AuditFilter{TenantID: "beta", Since: regHours(3), Limit: 100}, []string{"b2"}},
		{"another incarnation", mnemo.AuditFilter{TenantID: "acme", Incarnation: 2, Limit: 100}, []string{}},
		{"unknown action", mnemo.AuditFilter{Action: "nothing", Limit: 100}, []string{}},
		{"unknown tenant", mnemo.AuditFilter{TenantID: "nobody", Limit: 100}, []string{}},
	} {
		events, err := r.Audit(context.Background(), tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := []string{}
		for _, e := range events {
			got = append(got, names[e.ID])
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Audit(%+v) = %v, want %v", tc.name, tc.f, got, tc.want)
		}
	}
}

// A re-created tenant starts with no audit; the old incarnation's events,
// those written after its deletion included, stay readable by number.
func testAuditIncarnations(t *testing.T, r Registry) {
	mustCreateTenant(t, r, newTenant("acme", regBase), "acme-token")
	mustAudit(t, r, "acme", "memory.delete", regHours(1))
	mustDeleteTenant(t, r, "acme")
	// Written after the delete, as the service does: still the first's.
	if e := mustAudit(t, r, "acme", "tenant.delete", regHours(2)); e.Incarnation != 1 {
		t.Fatalf("an event after the delete: incarnation %d, want 1", e.Incarnation)
	}
	if got := auditActions(t, r, mnemo.AuditFilter{TenantID: "acme", Limit: 10}); !reflect.DeepEqual(got, []string{"tenant.delete", "memory.delete"}) {
		t.Fatalf("the deleted tenant's audit = %v", got)
	}
	mustCreateTenant(t, r, newTenant("acme", regHours(24)), "acme-token-2")
	if e := mustAudit(t, r, "acme", "tenant.create", regHours(24)); e.Incarnation != 2 {
		t.Fatalf("an event of the re-created tenant: incarnation %d, want 2", e.Incarnation)
	}
	for _, tc := range []struct {
		inc  int64
		want []string
	}{
		{0, []string{"tenant.create"}},
		{2, []string{"tenant.create"}},
		{1, []string{"tenant.delete", "memory.delete"}},
	} {
		if got := auditActions(t, r, mnemo.AuditFilter{TenantID: "acme", Incarnation: tc.inc, Limit: 10}); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Audit(acme, incarnation %d) = %v, want %v", tc.inc, got, tc.want)
		}
	}
	if got := auditActions(t, r, mnemo.AuditFilter{Limit: 10}); len(got) != 3 {
		t.Errorf("Audit of all = %v, want the three events", got)
	}
}
