// Package mnemotest builds the embedded backend for tests of the packages
// above it (service, http), so each does not repeat the wiring.
package mnemotest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/local"
	"github.com/mnemohq/mnemo/service"
	"github.com/mnemohq/mnemo/sqlite"
)

// Embedded opens the embedded backend in a temporary directory, for vectors
// of e's model, and closes it when the test ends. It returns the registry
// and the stores too, for tests that reach past the service.
func Embedded(t testing.TB, e mnemo.Embedder, logger *slog.Logger) (service.Backend, *sqlite.Registry, *sqlite.Stores) {
	t.Helper()
	reg, stores := OpenDir(t, t.TempDir(), e.Model(), e.Dim(), logger)
	lim := &local.Limits{}
	return service.Backend{Tenants: reg, Keys: reg, Audit: reg, Usage: reg, Idempotency: reg, OAuth: reg, Backup: reg,
		Stores: stores, Rate: lim, Concurrency: lim, Throttle: lim, Registrations: &local.Registrations{}}, reg, stores
}

// OpenDir opens the embedded registry and stores of data directory dir,
// for vectors of model and dim, and closes them when the test ends (an
// earlier Close is harmless).
func OpenDir(t testing.TB, dir, model string, dim int, logger *slog.Logger) (*sqlite.Registry, *sqlite.Stores) {
	t.Helper()
	ctx := context.Background()
	reg, err := sqlite.OpenRegistry(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	stores, err := sqlite.NewStores(ctx, dir, model, dim, reg, logger)
	if err != nil {
		reg.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stores.Close()
		reg.Close()
	})
	return reg, stores
}
