package sqlite_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/internal/storetest"
	"github.com/mnemohq/mnemo/sqlite"
)

// The embedded backend passes the storage contract every backend shares.

func TestMemoryStoreContract(t *testing.T) {
	storetest.TestMemoryStore(t, openContractStore)
}

func TestStoresContract(t *testing.T) {
	storetest.TestStores(t, func(t *testing.T) storetest.StoresBackend {
		dir := t.TempDir()
		reg := openRegistry(t, dir)
		p, err := sqlite.NewStores(context.Background(), dir, storetest.Model, storetest.Dim, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatalf("NewStores: %v", err)
		}
		t.Cleanup(func() { p.Close() })
		return storetest.StoresBackend{
			Stores: p,
			Register: func(t *testing.T, id string) {
				mustCreateTenant(t, reg, tenant(id, base), "token-of-"+id)
			},
			Unregister: func(t *testing.T, id string) {
				if err := reg.DeleteTenant(context.Background(), id); err != nil {
					t.Fatalf("DeleteTenant(%s): %v", id, err)
				}
			},
		}
	})
}

func openContractStore(t *testing.T) mnemo.MemoryStore {
	s, err := sqlite.OpenStore(context.Background(), filepath.Join(t.TempDir(), "memories.db"), storetest.Model, storetest.Dim)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// brokenStores are the store with one fault each, and the contract
// subtest that must catch it.
var brokenStores = map[string]struct {
	subtest string
	wrap    func(mnemo.MemoryStore) mnemo.MemoryStore
}{
	"ignores quotas":             {"Write/Quotas", func(s mnemo.MemoryStore) mnemo.MemoryStore { return ignoresQuotas{s} }},
	"commits a write in parts":   {"Write/Supersede", func(s mnemo.MemoryStore) mnemo.MemoryStore { return writesInParts{s} }},
	"lists without exclude_tags": {"List/FilterMatches", func(s mnemo.MemoryStore) mnemo.MemoryStore { return listsWithoutExclude{s} }},
	"filters after searching":    {"Nearest/ScopeNeverMisses", func(s mnemo.MemoryStore) mnemo.MemoryStore { return filtersAfterSearch{s} }},
	"returns one neighbor fewer": {"Neighbors", func(s mnemo.MemoryStore) mnemo.MemoryStore { return oneNeighborFewer{s} }},
	"forgets touches":            {"Touch", func(s mnemo.MemoryStore) mnemo.MemoryStore { return forgetsTouches{s} }},
}

type ignoresQuotas struct{ mnemo.MemoryStore }

func (s ignoresQuotas) Write(ctx context.Context, w mnemo.Write, _ mnemo.Quotas) (mnemo.TenantStats, error) {
	return s.MemoryStore.Write(ctx, w, mnemo.Quotas{})
}

type writesInParts struct{ mnemo.MemoryStore }

func (s writesInParts) Write(ctx context.Context, w mnemo.Write, q mnemo.Quotas) (mnemo.TenantStats, error) {
	var sum mnemo.TenantStats
	for _, part := range []mnemo.Write{{Create: w.Create}, {Update: w.Update}, {Relate: w.Relate}} {
		added, err := s.MemoryStore.Write(ctx, part, q)
		if err != nil {
			return sum, err
		}
		sum.Memories, sum.Relations, sum.Vectors, sum.StoredBytes = sum.Memories+added.Memories, sum.Relations+added.Relations,
			sum.Vectors+added.Vectors, sum.StoredBytes+added.StoredBytes
	}
	return sum, nil
}

type listsWithoutExclude struct{ mnemo.MemoryStore }

func (s listsWithoutExclude) List(ctx context.Context, f mnemo.Filter, order string, limit, offset int) ([]*mnemo.Memory, error) {
	f.ExcludeTags = nil
	return s.MemoryStore.List(ctx, f, order, limit, offset)
}

// filtersAfterSearch is what an approximate index filtered after the
// fact does: the top limit of all, then only those in scope.
type filtersAfterSearch struct{ mnemo.MemoryStore }

func (s filtersAfterSearch) Nearest(ctx context.Context, vec []float32, f mnemo.Filter, limit int) ([]mnemo.Hit, error) {
	hits, err := s.MemoryStore.Nearest(ctx, vec, mnemo.Filter{}, limit)
	var out []mnemo.Hit
	for _, h := range hits {
		if f.Matches(h.Memory) {
			out = append(out, h)
		}
	}
	return out, err
}

type oneNeighborFewer struct{ mnemo.MemoryStore }

func (s oneNeighborFewer) Neighbors(ctx context.Context, id string, types []mnemo.RelationType, outgoingOnly bool, limit int) ([]mnemo.Neighbor, error) {
	nbs, err := s.MemoryStore.Neighbors(ctx, id, types, outgoingOnly, limit)
	if len(nbs) > 1 {
		nbs = nbs[:len(nbs)-1]
	}
	return nbs, err
}

type forgetsTouches struct{ mnemo.MemoryStore }

func (forgetsTouches) Touch(context.Context, []string, time.Time) error { return nil }

// TestBrokenStoreContract runs the contract against the broken store named
// by $STORETEST_BROKEN; TestContractCatchesBrokenStores runs it.
func TestBrokenStoreContract(t *testing.T) {
	b, ok := brokenStores[os.Getenv("STORETEST_BROKEN")]
	if !ok {
		t.Skip("run by TestContractCatchesBrokenStores")
	}
	storetest.TestMemoryStore(t, func(t *testing.T) mnemo.MemoryStore { return b.wrap(openContractStore(t)) })
}

// The contract bites: each broken store fails the subtest meant to catch
// its fault. Each runs in a child process of this test binary, since a
// failing subtest would fail this test too.
func TestContractCatchesBrokenStores(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process per broken store")
	}
	for fault, b := range brokenStores {
		t.Run(fault, func(t *testing.T) {
			t.Parallel()
			pattern := "^TestBrokenStoreContract$"
			for _, part := range strings.Split(b.subtest, "/") {
				pattern += "/^" + part + "$"
			}
			cmd := exec.Command(os.Args[0], "-test.run", pattern, "-test.count=1")
			cmd.Env = append(os.Environ(), "STORETEST_BROKEN="+fault)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the contract passes a store that %s:\n%s", fault, out)
			}
			if want := "--- FAIL: TestBrokenStoreContract/" + b.subtest; !strings.Contains(string(out), want) {
				t.Fatalf("a store that %s: no %q in\n%s", fault, want, out)
			}
		})
	}
}
