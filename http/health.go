package http

import (
	"net/http"

	"github.com/mnemohq/mnemo"
)

// handleHealth is AutoMem's /health: always 200, no auth. With a valid
// tenant key it adds that tenant's counts; without one it tells nothing
// about any tenant.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{
		"status": "healthy", "backend": s.Backend, "version": s.Version,
		"falkordb": "not_configured", "qdrant": "not_configured",
		"memory_count": nil, "vector_count": nil, "sync_status": "unknown",
		"vector_dimensions": map[string]any{"configured": s.Embedder.Dim(), "effective": s.Embedder.Dim(), "collection": nil, "mismatch": false},
		"embedding":         map[string]any{"model": s.Embedder.Model(), "backlog": s.backlog()},
		"enrichment":        map[string]any{"status": "stopped", "queue_depth": 0, "pending": 0, "inflight": 0, "processed": 0, "failed": 0},
		"timestamp":         mnemo.FormatTime(s.Now()),
		"graph":             nil,
	}
	// A key on /health is checked like anywhere else: a throttled address
	// learns nothing, and a wrong key counts as a failed authentication, so
	// /health cannot be used to test keys.
	now, addr := s.Now(), s.clientAddr(r)
	if blocked, _ := s.limits.throttled(addr, s.AuthFailuresPerMinute, now); s.tenantToken(r) != "" && !blocked {
		_, t, err := s.authenticate(r)
		if err != nil && mnemo.ErrorCode(err) == mnemo.EUNAUTHORIZED {
			s.limits.failed(addr, now)
		}
		if err == nil {
			backlog := t.Stats.Memories - t.Stats.Vectors
			out["tenant_id"], out["graph"] = t.ID, "memories_"+t.ID
			out["memory_count"], out["vector_count"] = t.Stats.Memories, t.Stats.Vectors
			out["embedding"] = map[string]any{"model": s.Embedder.Model(), "backlog": max(backlog, 0)}
			if backlog > 0 {
				out["status"], out["sync_status"] = "degraded", "drift_detected"
			} else {
				out["sync_status"] = "synced"
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// backlog is the service-wide count of memories waiting for a vector, as
// the embedding backfill last saw it; it names no tenant.
func (s *Server) backlog() int64 {
	if s.Backlog == nil {
		return 0
	}
	return s.Backlog()
}
