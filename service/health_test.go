package service_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/service"
)

// reportingStores is a backend's store pool that reports a set state.
type reportingStores struct {
	mnemo.Stores
	pool *mnemo.StorePool
}

func (r reportingStores) Pool() mnemo.StorePool { return *r.pool }

// /health names a damaged tenant only to the operator and to that tenant;
// anyone else learns how many there are, and that the service is degraded.
func TestHealthDamagedTenants(t *testing.T) {
	pool := &mnemo.StorePool{Open: 3, MaxOpen: 11}
	f := newFixture(t, func(b *service.Backend, _ *service.Config) { b.Stores = reportingStores{b.Stores, pool} })
	zero, other := f.tenant("zero"), f.tenant("other")

	if h := f.svc.Health(f.ctx, nil); h.Status != "healthy" || !reflect.DeepEqual(h.Stores, &mnemo.StoresHealth{Open: 3, MaxOpen: 11}) {
		t.Fatalf("Health without damage = %s %+v", h.Status, h.Stores)
	}
	damaged := mnemo.DamagedStore{TenantID: "zero", Reason: "its database file is empty (0 bytes), but it held data", Since: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	pool.Damaged = []mnemo.DamagedStore{damaged}

	if h := f.svc.Health(f.ctx, nil); h.Status != "degraded" || !reflect.DeepEqual(h.Stores, &mnemo.StoresHealth{Open: 3, MaxOpen: 11, Damaged: 1}) {
		t.Fatalf("anonymous Health = %s %+v", h.Status, h.Stores)
	}
	want := &mnemo.StoresHealth{Open: 3, MaxOpen: 11, Damaged: 1, DamagedTenants: []mnemo.DamagedStore{damaged}}
	if h := f.svc.AdminHealth(f.ctx); h.Status != "degraded" || !reflect.DeepEqual(h.Stores, want) {
		t.Fatalf("AdminHealth = %s %+v", h.Status, h.Stores)
	}
	if h := f.svc.Health(f.ctx, zero); h.Status != "degraded" || !reflect.DeepEqual(h.Stores, &mnemo.StoresHealth{Damaged: 1, DamagedTenants: []mnemo.DamagedStore{damaged}}) {
		t.Fatalf("the damaged tenant's Health = %s %+v", h.Status, h.Stores)
	}
	if h := f.svc.Health(f.ctx, other); h.Status != "healthy" || h.Stores != nil {
		t.Fatalf("another tenant's Health = %s %+v", h.Status, h.Stores)
	}
	if got := f.svc.StorePool(); !reflect.DeepEqual(got, *pool) {
		t.Fatalf("StorePool = %+v", got)
	}
}
