package sqlite_test

import (
	"context"
	"testing"

	"github.com/mnemohq/mnemo/internal/registrytest"
	"github.com/mnemohq/mnemo/sqlite"
)

// The embedded registry is held to the contract every registry shares.

func newContractRegistry(t *testing.T) registrytest.Registry {
	r, err := sqlite.OpenRegistry(context.Background(), t.TempDir())
	if err != nil {
		t.Fatalf("OpenRegistry: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestTenantRegistryContract(t *testing.T) { registrytest.TestTenants(t, newContractRegistry) }
func TestKeyRegistryContract(t *testing.T)    { registrytest.TestKeys(t, newContractRegistry) }
func TestAuditLogContract(t *testing.T)       { registrytest.TestAudit(t, newContractRegistry) }
func TestUsageLogContract(t *testing.T)       { registrytest.TestUsage(t, newContractRegistry) }
func TestPruneContract(t *testing.T)          { registrytest.TestPrune(t, newContractRegistry) }
func TestCleanOrphansContract(t *testing.T)   { registrytest.TestCleanOrphans(t, newContractRegistry) }
