package falkordb_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/falkordb"
	"github.com/mnemohq/mnemo/internal/falkortest"
	"github.com/mnemohq/mnemo/internal/storetest"
)

// The FalkorDB store is held to the storage contract every backend
// shares. One server serves the whole run; each store the contract opens
// is a tenant of its own (its own graph), as in production.
func TestMemoryStoreContract(t *testing.T) {
	srv := falkortest.Start(t)
	c := falkordb.New(srv.Client())
	var n atomic.Int64
	storetest.TestMemoryStore(t, func(t *testing.T) mnemo.MemoryStore {
		tenant := fmt.Sprintf("contract%04d", n.Add(1))
		s, err := falkordb.OpenStore(context.Background(), c, tenant, storetest.Model, storetest.Dim)
		if err != nil {
			t.Fatalf("OpenStore(%s): %v", tenant, err)
		}
		t.Cleanup(func() { s.Graph().Delete(context.Background()) })
		return s
	})
}

// The pool of tenant stores passes the contract of mnemo.Stores. Each
// subtest gets its own server: tenant ids repeat across subtests.
func TestStoresContract(t *testing.T) {
	storetest.TestStores(t, func(t *testing.T) storetest.StoresBackend {
		srv := falkortest.Start(t)
		return storetest.StoresBackend{Stores: falkordb.NewStores(falkordb.New(srv.Client()), storetest.Model, storetest.Dim)}
	})
}
