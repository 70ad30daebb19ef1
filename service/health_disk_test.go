package service_test

import (
	"testing"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/service"
)

// TestHealthDiskFull: a full disk degrades /health with and without a
// tenant, names itself, and clears when the disk reports space.
func TestHealthDiskFull(t *testing.T) {
	full := false
	f := newFixture(t, func(_ *service.Backend, c *service.Config) { c.DiskFull = func() bool { return full } })
	callers := map[string]*mnemo.Caller{"service": nil, "tenant": f.tenant("acme")}
	for _, want := range []struct {
		full         bool
		status, disk string
	}{{false, "healthy", "ok"}, {true, "degraded", "full"}, {false, "healthy", "ok"}} {
		full = want.full
		for who, c := range callers {
			if h := f.svc.Health(f.ctx, c); h.Status != want.status || h.Disk != want.disk {
				t.Fatalf("full=%v, %s health: status %q disk %q, want %q %q", full, who, h.Status, h.Disk, want.status, want.disk)
			}
		}
	}
}
