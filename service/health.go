package service

import (
	"context"
	"time"

	"github.com/mnemohq/mnemo"
)

// Health is AutoMem's /health. Without a caller it names no tenant: the
// embedding backlog it shows is the service's. With one it adds that
// tenant's counts, and says "degraded" while its vectors lag.
func (s *Service) Health(ctx context.Context, c *mnemo.Caller) *mnemo.HealthResult {
	h := s.health(ctx, c)
	h.FalkorDBError = ""
	return h
}

func (s *Service) health(ctx context.Context, c *mnemo.Caller) *mnemo.HealthResult {
	var backlog int64
	if s.cfg.Backlog != nil {
		backlog = s.cfg.Backlog()
	}
	dim := s.embedder.Dim()
	h := &mnemo.HealthResult{Status: "healthy", Backend: s.cfg.Backend, Version: s.cfg.Version,
		FalkorDB: "not_configured", Qdrant: "not_configured", SyncStatus: "unknown",
		VectorDimensions: map[string]any{"configured": dim, "effective": dim, "collection": nil, "mismatch": false},
		Embedding:        map[string]any{"model": s.embedder.Model(), "backlog": backlog},
		Enrichment:       map[string]any{"status": "stopped", "queue_depth": 0, "pending": 0, "inflight": 0, "processed": 0, "failed": 0},
		Timestamp:        mnemo.FormatTime(s.now()), Disk: "ok"}
	defer func() {
		// Last: a full disk degrades every answer, whatever the tenant's.
		if s.cfg.DiskFull != nil && s.cfg.DiskFull() {
			h.Status, h.Disk = "degraded", "full"
		}
	}()
	s.pingHealth(ctx, h)
	if c == nil {
		s.storesHealth(h, "", false)
		return h
	}
	t := c.Tenant
	// Authentication may not read the counters (a shared registry keeps
	// them in the tenant's graph): read them now.
	if fresh, err := s.b.Tenants.Tenant(ctx, t.ID); err == nil {
		t = fresh
	}
	graph := "memories_" + t.ID
	memories, vectors := t.Stats.Memories, t.Stats.Vectors
	h.TenantID, h.Graph, h.MemoryCount, h.VectorCount = t.ID, &graph, &memories, &vectors
	lag := max(memories-vectors, 0)
	h.Embedding = map[string]any{"model": s.embedder.Model(), "backlog": lag}
	if lag > 0 {
		h.Status, h.SyncStatus = "degraded", "drift_detected"
	} else {
		h.SyncStatus = "synced"
	}
	s.storesHealth(h, t.ID, false)
	return h
}

// AdminHealth is the operator's /health: the service's, naming the damaged
// tenants.
func (s *Service) AdminHealth(ctx context.Context) *mnemo.HealthResult {
	h := s.health(ctx, nil)
	s.storesHealth(h, "", true)
	return h
}

// pingTimeout bounds /health's wait for the backend's server.
const pingTimeout = 2 * time.Second

// pingHealth reports the backend's server: a FalkorDB that does not
// answer makes the service degraded, as in AutoMem.
func (s *Service) pingHealth(ctx context.Context, h *mnemo.HealthResult) {
	if s.cfg.Ping == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pingTimeout)
	defer cancel()
	if err := s.cfg.Ping(ctx); err != nil {
		h.FalkorDBError = err.Error()
		h.Status, h.FalkorDB = "degraded", "disconnected"
		return
	}
	h.FalkorDB = "connected"
}

// storePool is a backend's store pool that reports its state.
type storePool interface{ Pool() mnemo.StorePool }

// StorePool reports the backend's pool of open tenant stores.
func (s *Service) StorePool() mnemo.StorePool {
	if p, ok := s.b.Stores.(storePool); ok {
		return p.Pool()
	}
	return mnemo.StorePool{}
}

// storesHealth adds the store pool to h. A damaged tenant makes the
// service degraded; the operator's view (named) lists every damaged
// tenant, a tenant's view (tenant set) only itself, the anonymous view
// only how many.
func (s *Service) storesHealth(h *mnemo.HealthResult, tenant string, named bool) {
	pool := s.StorePool()
	if tenant != "" {
		for _, d := range pool.Damaged {
			if d.TenantID == tenant {
				h.Status = "degraded"
				h.Stores = &mnemo.StoresHealth{Damaged: 1, DamagedTenants: []mnemo.DamagedStore{d}}
			}
		}
		return
	}
	h.Stores = &mnemo.StoresHealth{Open: pool.Open, MaxOpen: pool.MaxOpen, Damaged: len(pool.Damaged)}
	if len(pool.Damaged) > 0 {
		h.Status = "degraded"
		if named {
			h.Stores.DamagedTenants = pool.Damaged
		}
	}
}
