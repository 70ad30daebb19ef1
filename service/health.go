package service

import (
	"context"

	"github.com/mnemohq/mnemo"
)

// Health is AutoMem's /health. Without a caller it names no tenant: the
// embedding backlog it shows is the service's. With one it adds that
// tenant's counts, and says "degraded" while its vectors lag.
func (s *Service) Health(ctx context.Context, c *mnemo.Caller) *mnemo.HealthResult {
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
	if c == nil {
		return h
	}
	t := c.Tenant
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
	return h
}
