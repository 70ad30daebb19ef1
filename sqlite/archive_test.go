package sqlite_test

import (
	"testing"

	"github.com/mnemohq/mnemo/internal/registrytest"
)

// The embedded registry dumps and loads as every backend's must.
func TestRegistryArchiveContract(t *testing.T) {
	registrytest.TestArchive(t, func(t *testing.T) registrytest.Registry { return openRegistry(t, t.TempDir()) })
}
