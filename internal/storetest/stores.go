package storetest

import (
	"slices"
	"sync"
	"testing"

	"github.com/mnemohq/mnemo"
)

// StoresBackend is a pool of tenant stores under test, with what the
// registry does around it: the service registers a tenant before it
// creates the tenant's store, and removes the registration before it
// drops the store (service/tenants.go). A backend whose pool does not
// consult the registry may leave Register and Unregister nil.
type StoresBackend struct {
	Stores               mnemo.Stores
	Register, Unregister func(t *testing.T, tenantID string)
}

// TestStores runs the contract of mnemo.Stores. open must return a new,
// empty pool whose stores are opened for Model of dimension Dim, and
// close it when t ends.
func TestStores(t *testing.T, open func(t *testing.T) StoresBackend) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T, open func(t *testing.T) StoresBackend)
	}{
		{"CreateOpenRelease", testStoresCreateOpenRelease},
		{"OpenMissing", testStoresOpenMissing},
		{"InvalidTenantIDs", testStoresInvalidIDs},
		{"Isolation", testStoresIsolation},
		{"Drop", testStoresDrop},
		{"CreateRemovesLeftovers", testStoresCreateRemovesLeftovers},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, open) })
	}
}

func (b StoresBackend) create(t *testing.T, tenantID string) {
	t.Helper()
	if b.Register != nil {
		b.Register(t, tenantID)
	}
	if err := b.Stores.Create(ctx, tenantID); err != nil {
		t.Fatalf("Stores.Create(%s): %v", tenantID, err)
	}
}

func (b StoresBackend) drop(t *testing.T, tenantID string) {
	t.Helper()
	if b.Unregister != nil {
		b.Unregister(t, tenantID)
	}
	if err := b.Stores.Drop(ctx, tenantID); err != nil {
		t.Fatalf("Stores.Drop(%s): %v", tenantID, err)
	}
}

func (b StoresBackend) open(t *testing.T, tenantID string) (mnemo.MemoryStore, func()) {
	t.Helper()
	st, release, err := b.Stores.Open(ctx, tenantID)
	if err != nil {
		t.Fatalf("Stores.Open(%s): %v", tenantID, err)
	}
	if st == nil || release == nil {
		t.Fatalf("Stores.Open(%s) returned a nil store or release", tenantID)
	}
	// Released when the test ends, unless the test released it first.
	var once sync.Once
	done := func() { once.Do(release) }
	t.Cleanup(done)
	return st, done
}

// A created store is empty; holders at once share one store; what is
// written survives release and a later Open.
func testStoresCreateOpenRelease(t *testing.T, open func(t *testing.T) StoresBackend) {
	b := open(t)
	b.create(t, "acme")
	st, release := b.open(t, "acme")
	wantCounts(t, st, 0, 0, 0)
	a := withVec(mem("a", "hello tenant", hours(1)), Model, 1, 0, 0, 0)
	mustCreate(t, st, a)
	st2, release2 := b.open(t, "acme")
	wantMemory(t, st2, a)
	release2()
	release()
	st3, _ := b.open(t, "acme")
	wantMemory(t, st3, a)
	if got := hitNames(nearest(t, st3, []float32{1, 0, 0, 0}, mnemo.Filter{}, 1)); !slices.Equal(got, []string{"a"}) {
		t.Errorf("Nearest after re-opening = %v, want [a]", got)
	}
}

// Opening a tenant that was never created is ENOTFOUND with no store,
// and makes nothing: the tenant can be created afterwards.
func testStoresOpenMissing(t *testing.T, open func(t *testing.T) StoresBackend) {
	b := open(t)
	for range 2 {
		st, release, err := b.Stores.Open(ctx, "ghost")
		wantCode(t, "Open(ghost)", err, mnemo.ENOTFOUND)
		if st != nil || release != nil {
			t.Fatalf("a failed Open returned a store %v or a release", st)
		}
	}
	b.create(t, "ghost")
	st, _ := b.open(t, "ghost")
	wantCounts(t, st, 0, 0, 0)
}

// The tenant id names files and graphs, so every method refuses an
// invalid one (EINVALID) before touching anything.
func testStoresInvalidIDs(t *testing.T, open func(t *testing.T) StoresBackend) {
	b := open(t)
	for _, bad := range []string{"", "../escape", "a/b", "UPPER", "-lead", "dot.ted", "with space", "x\x00y", string(make([]byte, 64))} {
		if err := b.Stores.Create(ctx, bad); mnemo.ErrorCode(err) != mnemo.EINVALID {
			t.Errorf("Create(%q) = %v, want EINVALID", bad, err)
		}
		if _, _, err := b.Stores.Open(ctx, bad); mnemo.ErrorCode(err) != mnemo.EINVALID {
			t.Errorf("Open(%q) = %v, want EINVALID", bad, err)
		}
		if err := b.Stores.Drop(ctx, bad); mnemo.ErrorCode(err) != mnemo.EINVALID {
			t.Errorf("Drop(%q) = %v, want EINVALID", bad, err)
		}
	}
}

// A store sees only its tenant's data, by every method; the same memory
// id in two tenants is two memories.
func testStoresIsolation(t *testing.T, open func(t *testing.T) StoresBackend) {
	b := open(t)
	b.create(t, "alpha")
	b.create(t, "beta")
	a, _ := b.open(t, "alpha")
	bt, _ := b.open(t, "beta")
	m1 := withVec(mem("m1", "alpha secret launch codes", hours(1), "secret"), Model, 1, 0, 0, 0)
	mustCreate(t, a, m1, withVec(mem("m2", "alpha second secret", hours(2), "secret"), Model, 0, 1, 0, 0))
	mustRelate(t, a, rel("m1", "m2", "RELATES_TO", 0.5, hours(3)))

	_, err := bt.Memory(ctx, id("m1"))
	wantCode(t, "beta Memory(m1)", err, mnemo.ENOTFOUND)
	if got, err := bt.Memories(ctx, ids("m1", "m2")); err != nil || len(got) != 0 {
		t.Errorf("beta Memories = %v, %v", got, err)
	}
	if got := hitNames(keyword(t, bt, []string{"secret"}, mnemo.Filter{}, 10)); len(got) != 0 {
		t.Errorf("beta Keyword = %v", got)
	}
	if got := hitNames(nearest(t, bt, []float32{1, 0, 0, 0}, mnemo.Filter{}, 10)); len(got) != 0 {
		t.Errorf("beta Nearest = %v", got)
	}
	if got := list(t, bt, mnemo.Filter{}); len(got) != 0 {
		t.Errorf("beta List = %v", got)
	}
	if rels, err := bt.Relations(ctx, nil, 10); err != nil || len(rels) != 0 {
		t.Errorf("beta Relations = %v, %v", relStrings(rels), err)
	}
	if nbs, err := bt.Neighbors(ctx, id("m1"), nil, false, 10); err != nil || len(nbs) != 0 {
		t.Errorf("beta Neighbors(m1) = %v, %v", nbs, err)
	}
	if un, err := bt.Unembedded(ctx, 10); err != nil || len(un) != 0 {
		t.Errorf("beta Unembedded = %v, %v", memNames(un), err)
	}
	if _, _, err := bt.Adjacent(ctx, id("m1"), mnemo.Filter{}); mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
		t.Errorf("beta Adjacent(m1) = %v, want ENOTFOUND", err)
	}
	if _, err := bt.Write(ctx, mnemo.Write{Relate: []mnemo.Relation{rel("m1", "m2", "LEADS_TO", 0.5, hours(4))}}, mnemo.Quotas{}); mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
		t.Errorf("beta relating alpha's memories = %v, want ENOTFOUND", err)
	}
	if _, err := bt.Write(ctx, mnemo.Write{Update: []*mnemo.Memory{mem("m1", "overwritten", hours(1))}}, mnemo.Quotas{}); mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
		t.Errorf("beta updating alpha's memory = %v, want ENOTFOUND", err)
	}
	if err := bt.SetEmbedding(ctx, id("m1"), []float32{0, 0, 0, 1}, Model); mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
		t.Errorf("beta SetEmbedding(m1) = %v, want ENOTFOUND", err)
	}
	if err := bt.Delete(ctx, id("m1")); mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
		t.Errorf("beta Delete(m1) = %v, want ENOTFOUND", err)
	}
	if n, err := bt.DeleteMatching(ctx, mnemo.Filter{}); err != nil || n != 0 {
		t.Errorf("beta DeleteMatching = %d, %v", n, err)
	}
	if err := bt.Touch(ctx, ids("m1"), hours(50)); err != nil {
		t.Errorf("beta Touch(m1): %v", err)
	}
	if mems, rels, _, _ := snapshotOf(t, bt, true); len(mems) != 0 || len(rels) != 0 {
		t.Errorf("beta Snapshot = %d memories, %d relations", len(mems), len(rels))
	}
	wantCounts(t, bt, 0, 0, 0)

	// The same id in beta is beta's own.
	own := mem("m1", "beta's own m1", hours(5))
	mustCreate(t, bt, own)
	wantMemory(t, bt, own)
	wantMemory(t, a, m1)
	wantCounts(t, a, 2, 1, 2)
	wantCounts(t, bt, 1, 0, 0)
}

// Drop removes a tenant's data: requests in flight finish on the old
// data, a new Open is ENOTFOUND, and the id can be created again at once,
// empty, whatever the old holders do after.
func testStoresDrop(t *testing.T, open func(t *testing.T) StoresBackend) {
	b := open(t)
	b.create(t, "x")
	b.create(t, "keep")
	held, release := b.open(t, "x")
	mustCreate(t, held, mem("old", "old data", hours(1)))
	k, _ := b.open(t, "keep")
	mustCreate(t, k, mem("k", "kept", hours(1)))

	b.drop(t, "x")
	wantMemory(t, held, mem("old", "old data", hours(1)))
	_, _, err := b.Stores.Open(ctx, "x")
	wantCode(t, "Open after Drop", err, mnemo.ENOTFOUND)

	b.create(t, "x")
	fresh, releaseFresh := b.open(t, "x")
	wantCounts(t, fresh, 0, 0, 0)
	wantGone(t, fresh, "old")
	neu := mem("new", "new data", hours(2))
	mustCreate(t, fresh, neu)
	releaseFresh()
	release() // the old holder leaves last: the new data stays
	again, _ := b.open(t, "x")
	wantMemory(t, again, neu)
	wantCounts(t, again, 1, 0, 0)
	wantMemory(t, k, mem("k", "kept", hours(1)))

	// Dropping an idle store, then one never opened since creation.
	b.drop(t, "x")
	_, _, err = b.Stores.Open(ctx, "x")
	wantCode(t, "Open after the second Drop", err, mnemo.ENOTFOUND)
	b.create(t, "y")
	b.drop(t, "y")
	_, _, err = b.Stores.Open(ctx, "y")
	wantCode(t, "Open of a dropped, never-opened tenant", err, mnemo.ENOTFOUND)
}

// Create removes what an earlier tenant of the same id left: its data
// was not dropped (a crash between the registry's delete and Drop).
func testStoresCreateRemovesLeftovers(t *testing.T, open func(t *testing.T) StoresBackend) {
	b := open(t)
	b.create(t, "x")
	st, release := b.open(t, "x")
	mustCreate(t, st, withVec(mem("old", "old data", hours(1)), Model, 1, 0, 0, 0), mem("older", "older", hours(0)))
	mustRelate(t, st, rel("old", "older", "RELATES_TO", 0.5, hours(1)))
	release()
	if b.Unregister != nil {
		b.Unregister(t, "x")
	}
	b.create(t, "x")
	fresh, _ := b.open(t, "x")
	wantCounts(t, fresh, 0, 0, 0)
	wantGone(t, fresh, "old")
	if got := hitNames(nearest(t, fresh, []float32{1, 0, 0, 0}, mnemo.Filter{}, 10)); len(got) != 0 {
		t.Errorf("Nearest in the re-created store = %v", got)
	}
}
