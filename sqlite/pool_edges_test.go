package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/mnemohq/mnemo"
)

// A store whose vector index alone is beyond the budget is closed after
// its use; the other tenants' idle stores stay open.
func TestStoresVectorBudgetClosesTheStoreAloneBeyondIt(t *testing.T) {
	ctx := context.Background()
	p, _ := newStores(t, t.TempDir())
	fill := func(id string, n int) {
		mustCreateStore(t, p, id)
		st, release := mustOpen(t, p, id)
		var mems []*mnemo.Memory
		for i := range n {
			mems = append(mems, withVec(mem(fmt.Sprintf("%s%d", id, i), "v", hours(i)), testModel, 1, float32(i), 0, 0))
		}
		if err := create(ctx, st, mems); err != nil {
			t.Fatal(err)
		}
		release()
	}
	load := func(id string) {
		st, release := mustOpen(t, p, id)
		defer release()
		st.Nearest(ctx, []float32{1, 0, 0, 0}, mnemo.Filter{}, 5)
	}
	for _, id := range []string{"a", "b", "c"} {
		fill(id, 10)
	}
	fill("big", 2000)
	p.Close()
	for _, id := range []string{"a", "b", "c"} {
		load(id)
	}
	p.VectorBudget = p.Pool().VectorBytes * 2 // a, b, c fit with room to spare
	load("big")                               // alone larger than the budget
	if got := pooled(p); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Fatalf("after one request of the big tenant, open = %v (evictions %d): the small tenants' idle stores were closed for it", got, p.Pool().Evictions)
	}
}

// SQLite's "cannot open" for a missing directory or a permission slip is
// not the process running out of files: it evicts nobody.
func TestStoresCantOpenIsNotOutOfFiles(t *testing.T) {
	p, _ := newStores(t, t.TempDir())
	mustCreateStore(t, p, "victim")
	p.Close()
	use(t, p, "victim") // idle in the pool

	db, _ := sql.Open("sqlite", "file:/nonexistent-dir/x.db")
	defer db.Close()
	cantOpen := db.Ping()
	if sqliteCode(cantOpen) != sqliteCantOpen {
		t.Fatalf("want a CANTOPEN, got %v", cantOpen)
	}
	err := p.openFailed(cantOpen)
	t.Logf("openFailed(%v) = %v", cantOpen, err)
	if got := pooled(p); !reflect.DeepEqual(got, []string{"victim"}) {
		t.Fatalf("a CANTOPEN that is not fd exhaustion evicted another tenant's idle store: pool = %v", got)
	}
}

// A deletion that lands while a request is opening the tenant's store
// removes the data when that request lets go of it.
func TestStoresDropDuringOpenRemovesTheData(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	p, reg := newStores(t, dataDir)
	mustCreateStore(t, p, "gone")
	p.Close()

	// openTenant, step by step, with the deletion between acquire and openStore.
	e, _, err := p.acquire(ctx, "gone")
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.DeleteTenant(ctx, "gone"); err != nil { // the service deletes the registry row first
		t.Fatal(err)
	}
	if err := p.Drop(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	_, err = p.openStore(ctx, e, false)
	e.mu.Unlock()
	if err == nil {
		t.Fatal("openStore of a dropped tenant succeeded")
	}
	p.abandon(e)

	entries, _ := os.ReadDir(p.dir)
	for _, de := range entries {
		if strings.HasPrefix(de.Name(), trashPrefix) {
			t.Fatalf("the deleted tenant's data is still on disk as %s after its last reference went", de.Name())
		}
	}
}
