package http

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/embed"
	"github.com/mnemohq/mnemo/internal/mnemotest"
	"github.com/mnemohq/mnemo/recall"
	"github.com/mnemohq/mnemo/service"
)

const testAdminToken = "test-admin-token-for-http"

// newTestServer returns a server over the real service and embedded
// backend in a temporary directory; edit may replace services with fakes.
func newTestServer(t testing.TB, logger *slog.Logger, edit func(*Services)) (*Server, *service.Service) {
	t.Helper()
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e := embed.NewHash(64)
	b, _, _ := mnemotest.Embedded(t, e, logger)
	svc, err := service.New(b, e,
		service.Config{Recall: recall.DefaultConfig, AdminToken: testAdminToken, TenantConcurrency: 16, Backend: "sqlite"}, logger)
	if err != nil {
		t.Fatal(err)
	}
	svcs := Services{Auth: svc, Gate: svc, Memories: svc, Recall: svc, Health: svc, Tenants: svc, Keys: svc, Reports: svc,
		Portability: svc, OAuth: svc}
	if edit != nil {
		edit(&svcs)
	}
	s, err := NewServer(svcs, Config{}, logger)
	if err != nil {
		t.Fatal(err)
	}
	return s, svc
}

// fakeTenants pages through len(memories) tenants holding memories[i]
// memories each, or fails.
type fakeTenants struct {
	mnemo.TenantService
	memories []int64
	err      error
	calls    int
}

func (f *fakeTenants) Tenants(_ context.Context, limit, offset int) ([]*mnemo.Tenant, int, error) {
	f.calls++
	if f.err != nil {
		return nil, 0, f.err
	}
	out := []*mnemo.Tenant{}
	for i := offset; i < len(f.memories) && i < offset+limit; i++ {
		out = append(out, &mnemo.Tenant{ID: "t", Stats: mnemo.TenantStats{Memories: f.memories[i]}})
	}
	return out, len(f.memories), nil
}

// fakeRefusals reports set refusal counts.
type fakeRefusals struct {
	mnemo.HealthService
	counts map[string]int64
}

func (f *fakeRefusals) Refusals() map[string]int64 { return f.counts }
