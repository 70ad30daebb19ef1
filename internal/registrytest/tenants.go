package registrytest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

// TestTenants is the contract of mnemo.TenantRegistry: a tenant created
// with its first key in one step (a taken id or token creates nothing),
// read back exactly, paged oldest first, updated, deleted with its keys,
// and its incarnations across a delete and a re-creation. Stats are the
// backend's to fill and are left out of every comparison here.
func TestTenants(t *testing.T, newReg New) {
	t.Run("CreateAndRead", func(t *testing.T) { testCreateAndRead(t, newReg(t)) })
	t.Run("CreateConflicts", func(t *testing.T) { testCreateConflicts(t, newReg(t)) })
	t.Run("Paging", func(t *testing.T) { testPaging(t, newReg(t)) })
	t.Run("Update", func(t *testing.T) { testUpdate(t, newReg(t)) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, newReg(t)) })
	t.Run("Incarnations", func(t *testing.T) { testIncarnations(t, newReg(t)) })
}

var regBase = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func regHours(n int) time.Time { return regBase.Add(time.Duration(n) * time.Hour) }

func newTenant(id string, created time.Time) *mnemo.Tenant {
	return &mnemo.Tenant{ID: id, Name: "Tenant " + id, Status: mnemo.TenantActive, CreatedAt: created, UpdatedAt: created.Add(time.Minute)}
}

func newKey(id, tenantID, token string, expires *time.Time) *mnemo.Key {
	return &mnemo.Key{ID: id, TenantID: tenantID, Label: "label " + id, Prefix: mnemo.DisplayPrefix(token, false),
		Scopes: []string{mnemo.ScopeRead, mnemo.ScopeWrite}, CreatedAt: regBase.Add(time.Second), ExpiresAt: expires}
}

// mustCreateTenant creates tn with a key "key_<id>" for token.
func mustCreateTenant(t *testing.T, r Registry, tn *mnemo.Tenant, token string) *mnemo.Key {
	t.Helper()
	k := newKey("key_"+tn.ID, tn.ID, token, nil)
	if err := r.CreateTenant(context.Background(), tn, k, mnemo.HashToken(token)); err != nil {
		t.Fatalf("CreateTenant(%s): %v", tn.ID, err)
	}
	return k
}

func mustDeleteTenant(t *testing.T, r Registry, id string) {
	t.Helper()
	if err := r.DeleteTenant(context.Background(), id); err != nil {
		t.Fatalf("DeleteTenant(%s): %v", id, err)
	}
}

func wantErrCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := mnemo.ErrorCode(err); err == nil || got != code {
		t.Fatalf("%s: err = %v (code %q), want code %q", what, err, got, code)
	}
}

// noStats is a copy of tn without its stats, which the contract leaves to
// each backend.
func noStats(tn *mnemo.Tenant) *mnemo.Tenant {
	if tn == nil {
		return nil
	}
	c := *tn
	c.Stats = mnemo.TenantStats{}
	return &c
}

// mustTenant reads a tenant, without its stats.
func mustTenant(t *testing.T, r Registry, id string) *mnemo.Tenant {
	t.Helper()
	got, err := r.Tenant(context.Background(), id)
	if err != nil {
		t.Fatalf("Tenant(%s): %v", id, err)
	}
	return noStats(got)
}

func ptrInt64(v int64) *int64        { return &v }
func ptrFloat(v float64) *float64    { return &v }
func ptrTime(v time.Time) *time.Time { return &v }

// Every field comes back as written, times to the microsecond, limits and
// quotas as set or absent; the incarnation of a new id is 1, and
// CreateTenant says so in t.
func testCreateAndRead(t *testing.T, r Registry) {
	ctx := context.Background()
	full := newTenant("acme", regBase.Add(123456*time.Microsecond))
	full.Status, full.StatusReason = mnemo.TenantSuspended, "unpaid invoice \"7\"\n"
	full.RateLimit = &mnemo.RateLimit{RequestsPerSecond: 0.1 + 0.2, Burst: 7}
	full.Quotas = mnemo.Quotas{MaxMemories: ptrInt64(1 << 40), MaxStorageMB: ptrFloat(1.0 / 3)}
	full.UpdatedAt = regBase.Add(789 * time.Microsecond)
	mustCreateTenant(t, r, full, "acme-token")
	plain := newTenant("plain", regHours(1))
	mustCreateTenant(t, r, plain, "plain-token")
	for _, want := range []*mnemo.Tenant{full, plain} {
		if want.Incarnation != 1 {
			t.Errorf("CreateTenant(%s) set incarnation %d, want 1", want.ID, want.Incarnation)
		}
		if got := mustTenant(t, r, want.ID); !reflect.DeepEqual(got, want) {
			t.Errorf("Tenant(%s) = %+v, want %+v", want.ID, got, want)
		}
	}
	_, err := r.Tenant(ctx, "nobody")
	wantErrCode(t, "Tenant(nobody)", err, mnemo.ENOTFOUND)
}

// A taken id or token is ECONFLICT and creates nothing: no tenant, no key,
// the existing tenant unchanged.
func testCreateConflicts(t *testing.T, r Registry) {
	ctx := context.Background()
	acme := newTenant("acme", regBase)
	k := mustCreateTenant(t, r, acme, "acme-token")
	for _, tc := range []struct{ name, id, token string }{
		{"duplicate id", "acme", "fresh-token-1"},
		{"token in use", "other", "acme-token"},
		{"both taken", "acme", "acme-token"},
	} {
		tn := newTenant(tc.id, regHours(1))
		tn.Name = "replacement"
		err := r.CreateTenant(ctx, tn, newKey("key_new", tc.id, tc.token, nil), mnemo.HashToken(tc.token))
		wantErrCode(t, "CreateTenant "+tc.name, err, mnemo.ECONFLICT)
		if got := mustTenant(t, r, "acme"); !reflect.DeepEqual(got, acme) {
			t.Fatalf("%s: acme = %+v, want %+v", tc.name, got, acme)
		}
		_, err = r.Tenant(ctx, "other")
		wantErrCode(t, tc.name+": Tenant(other)", err, mnemo.ENOTFOUND)
		if list, total, err := r.Tenants(ctx, 10, 0); err != nil || total != 1 || len(list) != 1 {
			t.Fatalf("%s: Tenants = %d listed, total %d, %v; want 1", tc.name, len(list), total, err)
		}
		_, _, err = r.KeyByID(ctx, "key_new")
		wantErrCode(t, tc.name+": KeyByID(key_new)", err, mnemo.ENOTFOUND)
		gk, gt, err := r.KeyByHash(ctx, mnemo.HashToken(tc.token))
		if tc.token == "acme-token" {
			if err != nil || gt.ID != "acme" || gk.ID != k.ID {
				t.Fatalf("%s: acme's token = %+v, %+v, %v", tc.name, gk, gt, err)
			}
		} else {
			wantErrCode(t, tc.name+": KeyByHash(new token)", err, mnemo.EUNAUTHORIZED)
		}
	}
}

// Tenants pages oldest first, ties by id, with the total; an empty page
// is an empty slice, not nil.
func testPaging(t *testing.T, r Registry) {
	ctx := context.Background()
	list, total, err := r.Tenants(ctx, 10, 0)
	if err != nil || total != 0 || list == nil || len(list) != 0 {
		t.Fatalf("empty registry: Tenants = %v, %d, %v; want an empty slice and 0", list, total, err)
	}
	// Created out of order; two share a creation time, so the id breaks
	// the tie.
	for _, tc := range []struct {
		id string
		h  int
	}{{"t3", 3}, {"t1", 1}, {"t2b", 2}, {"t2a", 2}, {"t0", 0}} {
		mustCreateTenant(t, r, newTenant(tc.id, regHours(tc.h)), "token-"+tc.id)
	}
	all := []string{"t0", "t1", "t2a", "t2b", "t3"}
	for _, tc := range []struct {
		limit, offset int
		want          []string
	}{
		{10, 0, all},
		{2, 0, all[0:2]},
		{2, 2, all[2:4]},
		{2, 4, all[4:5]},
		{2, 5, []string{}},
		{1, 100, []string{}},
		{0, 0, []string{}},
		{0, 3, []string{}},
	} {
		list, total, err := r.Tenants(ctx, tc.limit, tc.offset)
		if err != nil {
			t.Fatalf("Tenants(%d, %d): %v", tc.limit, tc.offset, err)
		}
		if total != 5 {
			t.Errorf("Tenants(%d, %d) total = %d, want 5", tc.limit, tc.offset, total)
		}
		if list == nil {
			t.Errorf("Tenants(%d, %d) = nil, want an empty slice", tc.limit, tc.offset)
		}
		got := []string{}
		for _, tn := range list {
			got = append(got, tn.ID)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Tenants(%d, %d) = %v, want %v", tc.limit, tc.offset, got, tc.want)
		}
	}
	// A listed tenant is whole.
	want := newTenant("t1", regHours(1))
	want.Incarnation = 1
	list, _, err = r.Tenants(ctx, 1, 1)
	if err != nil || len(list) != 1 || !reflect.DeepEqual(noStats(list[0]), want) {
		t.Errorf("Tenants(1, 1) = %+v, %v; want %+v", list, err, want)
	}
}

// UpdateTenant writes name, status, reason, rate limit, quotas and
// updated_at; it keeps the creation time and the incarnation, removes a
// limit set to nil, and is ENOTFOUND for a tenant that does not exist.
func testUpdate(t *testing.T, r Registry) {
	ctx := context.Background()
	orig := newTenant("acme", regBase)
	orig.RateLimit = &mnemo.RateLimit{RequestsPerSecond: 5, Burst: 10}
	orig.Quotas = mnemo.Quotas{MaxMemories: ptrInt64(100), MaxStorageMB: ptrFloat(2.5)}
	mustCreateTenant(t, r, orig, "acme-token")

	up := *orig
	up.Name, up.Status, up.StatusReason = "Renamed", mnemo.TenantReadOnly, "migration"
	up.RateLimit = &mnemo.RateLimit{RequestsPerSecond: 0.5, Burst: 1}
	up.Quotas = mnemo.Quotas{MaxMemories: ptrInt64(7)}
	up.UpdatedAt = regHours(5).Add(time.Microsecond)
	up.CreatedAt = regHours(9) // not written
	if err := r.UpdateTenant(ctx, &up); err != nil {
		t.Fatal(err)
	}
	want := up
	want.CreatedAt = orig.CreatedAt
	if got := mustTenant(t, r, "acme"); !reflect.DeepEqual(got, &want) {
		t.Fatalf("after update: %+v, want %+v", got, &want)
	}

	up.RateLimit, up.Quotas, up.Status, up.StatusReason = nil, mnemo.Quotas{}, mnemo.TenantActive, ""
	if err := r.UpdateTenant(ctx, &up); err != nil {
		t.Fatal(err)
	}
	want = up
	want.CreatedAt = orig.CreatedAt
	if got := mustTenant(t, r, "acme"); !reflect.DeepEqual(got, &want) {
		t.Fatalf("after removing the limits: %+v, want %+v", got, &want)
	}
	// The key still works and carries the updated tenant.
	if _, tn, err := r.KeyByHash(ctx, mnemo.HashToken("acme-token")); err != nil || !reflect.DeepEqual(noStats(tn), &want) {
		t.Fatalf("KeyByHash after update: %+v, %v", tn, err)
	}

	ghost := newTenant("ghost", regBase)
	wantErrCode(t, "UpdateTenant(ghost)", r.UpdateTenant(ctx, ghost), mnemo.ENOTFOUND)
	_, err := r.Tenant(ctx, "ghost")
	wantErrCode(t, "Tenant(ghost) after a failed update", err, mnemo.ENOTFOUND)
}

// DeleteTenant removes the tenant and its keys at once: their tokens stop
// working and are free again; other tenants are untouched; a second
// delete, or one of an id never created, is ENOTFOUND.
func testDelete(t *testing.T, r Registry) {
	ctx := context.Background()
	mustCreateTenant(t, r, newTenant("acme", regHours(1)), "acme-token")
	other := newTenant("other", regHours(2))
	mustCreateTenant(t, r, other, "other-token")
	if err := r.AddKey(ctx, newKey("second", "acme", "acme-second", nil), mnemo.HashToken("acme-second")); err != nil {
		t.Fatal(err)
	}
	if err := r.RevokeKey(ctx, "acme", "second", regHours(3)); err != nil {
		t.Fatal(err)
	}

	mustDeleteTenant(t, r, "acme")
	for _, tok := range []string{"acme-token", "acme-second"} {
		_, _, err := r.KeyByHash(ctx, mnemo.HashToken(tok))
		wantErrCode(t, "KeyByHash("+tok+") after delete", err, mnemo.EUNAUTHORIZED)
	}
	for _, id := range []string{"key_acme", "second"} {
		_, _, err := r.KeyByID(ctx, id)
		wantErrCode(t, "KeyByID("+id+") after delete", err, mnemo.ENOTFOUND)
	}
	if keys, err := r.Keys(ctx, "acme"); err != nil || len(keys) != 0 {
		t.Fatalf("Keys(acme) after delete = %v, %v; want none", keys, err)
	}
	_, err := r.Tenant(ctx, "acme")
	wantErrCode(t, "Tenant(acme) after delete", err, mnemo.ENOTFOUND)
	list, total, err := r.Tenants(ctx, 10, 0)
	if err != nil || total != 1 || len(list) != 1 || list[0].ID != "other" {
		t.Fatalf("Tenants after delete = %v, %d, %v; want only other", list, total, err)
	}
	if _, tn, err := r.KeyByHash(ctx, mnemo.HashToken("other-token")); err != nil || !reflect.DeepEqual(noStats(tn), other) {
		t.Fatalf("other's key after deleting acme: %+v, %v", tn, err)
	}
	wantErrCode(t, "DeleteTenant(acme) twice", r.DeleteTenant(ctx, "acme"), mnemo.ENOTFOUND)
	wantErrCode(t, "DeleteTenant(never)", r.DeleteTenant(ctx, "never"), mnemo.ENOTFOUND)

	// The tokens are free again, the revoked one too; the id created again
	// has only its new key.
	mustCreateTenant(t, r, newTenant("acme", regHours(4)), "acme-second")
	if _, _, err := r.KeyByHash(ctx, mnemo.HashToken("acme-token")); mnemo.ErrorCode(err) != mnemo.EUNAUTHORIZED {
		t.Fatalf("old token of a re-created tenant: %v, want EUNAUTHORIZED", err)
	}
	if keys, err := r.Keys(ctx, "acme"); err != nil || len(keys) != 1 || keys[0].ID != "key_acme" || keys[0].RevokedAt != nil {
		t.Fatalf("Keys of the re-created tenant = %+v, %v; want its one new key", keys, err)
	}
	if err := r.AddKey(ctx, newKey("again", "acme", "acme-token", nil), mnemo.HashToken("acme-token")); err != nil {
		t.Fatalf("the deleted tenant's token should be free: %v", err)
	}
}

// An id deleted and created again is its next incarnation; a creation
// that fails takes no number; another id starts at 1.
func testIncarnations(t *testing.T, r Registry) {
	ctx := context.Background()
	mustCreateTenant(t, r, newTenant("taken", regBase), "taken-token")
	for i, want := range []int64{1, 2, 3} {
		if i > 0 {
			mustDeleteTenant(t, r, "acme")
			// A conflict on the token creates nothing, and takes no number.
			err := r.CreateTenant(ctx, newTenant("acme", regHours(i)), newKey("k-fail", "acme", "taken-token", nil), mnemo.HashToken("taken-token"))
			wantErrCode(t, "CreateTenant with a taken token", err, mnemo.ECONFLICT)
		}
		tn := newTenant("acme", regHours(i))
		k := newKey("key_acme", "acme", "acme-token", nil)
		if err := r.CreateTenant(ctx, tn, k, mnemo.HashToken("acme-token")); err != nil {
			t.Fatal(err)
		}
		if tn.Incarnation != want {
			t.Fatalf("creation %d: CreateTenant set incarnation %d, want %d", i+1, tn.Incarnation, want)
		}
		if got := mustTenant(t, r, "acme"); got.Incarnation != want {
			t.Fatalf("creation %d: Tenant(acme).Incarnation = %d, want %d", i+1, got.Incarnation, want)
		}
		if _, tn, err := r.KeyByHash(ctx, mnemo.HashToken("acme-token")); err != nil || tn.Incarnation != want {
			t.Fatalf("creation %d: KeyByHash's tenant = %+v, %v; want incarnation %d", i+1, tn, err, want)
		}
	}
	other := newTenant("other", regBase)
	mustCreateTenant(t, r, other, "other-token")
	if other.Incarnation != 1 {
		t.Fatalf("another id's first incarnation = %d, want 1", other.Incarnation)
	}
}
