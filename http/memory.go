package http

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mnemohq/mnemo"
)

func elapsedMS(began time.Time) float64 {
	return math.Round(float64(time.Since(began).Microseconds())/10) / 100
}

// embed computes the vectors of mems that have none. A failure leaves them
// without one: the memory is still stored, and the background backfill
// retries; a made-up vector is never stored.
func (s *Server) embed(ctx context.Context, mems []*mnemo.Memory) (embedded int, err error) {
	var todo []*mnemo.Memory
	var texts []string
	for _, m := range mems {
		if m.Embedding != nil {
			m.EmbeddingModel = s.Embedder.Model()
			continue
		}
		todo = append(todo, m)
		texts = append(texts, m.Content)
	}
	if len(todo) == 0 {
		return 0, nil
	}
	vecs, err := s.Embedder.Embed(ctx, texts)
	if err != nil {
		s.Logger.Warn("embedding failed; vectors queued for retry", "request_id", requestID(ctx), "count", len(todo), "err", err)
		return 0, err
	}
	for i, m := range todo {
		m.Embedding, m.EmbeddingModel = vecs[i], s.Embedder.Model()
	}
	return len(todo), nil
}

func (s *Server) handleStore(w http.ResponseWriter, r *http.Request, tr *tenantRequest) {
	began := time.Now()
	body, err := s.readJSONObject(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	m, err := mnemo.NewMemory(body, s.Now(), s.Limits, s.Embedder.Dim())
	if err != nil {
		writeError(w, err)
		return
	}
	provided := m.Embedding != nil
	n, embedErr := s.embed(r.Context(), []*mnemo.Memory{m})
	tr.embeddingCalls += int64(min(n, 1))
	if err := s.write(r.Context(), tr, 1, memoryBytes(m, s.Embedder.Dim()), func() error {
		return tr.Store.Create(r.Context(), []*mnemo.Memory{m})
	}); err != nil {
		writeError(w, err)
		return
	}
	vectorStatus, embeddingStatus := "stored", "generated"
	switch {
	case provided:
		embeddingStatus = "provided"
	case embedErr != nil:
		vectorStatus, embeddingStatus = "queued", "queued"
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"status": "success", "memory_id": m.ID, "stored_at": mnemo.FormatTime(s.Now()),
		"type": m.Type, "confidence": m.Confidence, "qdrant": vectorStatus, "embedding_status": embeddingStatus,
		"enrichment": "disabled", "metadata": m.Metadata, "timestamp": mnemo.FormatTime(m.Timestamp),
		"updated_at": mnemo.FormatTime(m.UpdatedAt), "last_accessed": mnemo.FormatTime(m.LastAccessed),
		"query_time_ms": elapsedMS(began),
	})
}

func (s *Server) handleStoreBatch(w http.ResponseWriter, r *http.Request, tr *tenantRequest) {
	began := time.Now()
	body, err := s.requireJSONObject(w, r, "JSON body with 'memories' array required")
	if err != nil {
		writeError(w, err)
		return
	}
	items, ok := body["memories"].([]any)
	if !ok || len(items) == 0 {
		writeError(w, mnemo.Errorf(mnemo.EINVALID, "'memories' must be a non-empty array"))
		return
	}
	if len(items) > s.Limits.BatchLimit {
		writeError(w, mnemo.Errorf(mnemo.EINVALID, "Batch size limit is %d memories per request", s.Limits.BatchLimit))
		return
	}
	now := s.Now()
	mems := make([]*mnemo.Memory, len(items))
	for i, it := range items {
		if mems[i], err = mnemo.NewBatchMemory(it, i, now, s.Limits); err != nil {
			writeError(w, err)
			return
		}
	}
	n, _ := s.embed(r.Context(), mems)
	tr.embeddingCalls += int64(min(n, 1))
	var bytes int64
	for _, m := range mems {
		bytes += memoryBytes(m, s.Embedder.Dim())
	}
	// All or nothing: a batch that would cross a quota stores nothing.
	if err := s.write(r.Context(), tr, int64(len(mems)), bytes, func() error { return tr.Store.Create(r.Context(), mems) }); err != nil {
		writeError(w, err)
		return
	}
	ids := make([]string, len(mems))
	for i, m := range mems {
		ids[i] = m.ID
	}
	vectorStatus := fmt.Sprintf("stored (%d)", n)
	if n < len(mems) {
		vectorStatus = fmt.Sprintf("stored (%d), queued (%d)", n, len(mems)-n)
	}
	writeJSON(w, http.StatusCreated, map[string]any{"status": "success", "stored": len(mems), "memory_ids": ids,
		"qdrant": vectorStatus, "enrichment": "disabled", "query_time_ms": elapsedMS(began)})
}

// memoryID reads and validates the {id} path value.
func memoryID(r *http.Request) (string, error) {
	return mnemo.ValidateMemoryID(r.PathValue("id"))
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, tr *tenantRequest) {
	id, err := memoryID(r)
	if err != nil {
		writeError(w, err)
		return
	}
	m, err := tr.Store.Memory(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	m.LastAccessed = s.Now()
	if err := tr.Store.Touch(r.Context(), []string{id}, m.LastAccessed); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "memory": m})
}

func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request, tr *tenantRequest) {
	id, err := memoryID(r)
	if err != nil {
		writeError(w, err)
		return
	}
	body, err := s.requireJSONObject(w, r, "JSON body is required")
	if err != nil {
		writeError(w, err)
		return
	}
	m, err := tr.Store.Memory(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	before := memoryBytes(m, 0)
	changed, err := mnemo.ApplyPatch(m, body, s.Limits)
	if err != nil {
		writeError(w, err)
		return
	}
	if changed {
		n, err := s.embed(r.Context(), []*mnemo.Memory{m})
		tr.embeddingCalls += int64(min(n, 1))
		if err != nil {
			m.Embedding = []float32{} // the old vector describes the old content
		}
	}
	if err := s.write(r.Context(), tr, 0, memoryBytes(m, 0)-before, func() error { return tr.Store.Update(r.Context(), m) }); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "memory_id": id, "message": "Memory updated"})
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, tr *tenantRequest) {
	id, err := memoryID(r)
	if err != nil {
		writeError(w, err)
		return
	}
	err = tr.Store.Delete(r.Context(), id)
	s.audit(r, "memory.delete", tr.Tenant.ID, id, err)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "memory_id": id})
}

// tagsParam reads the repeated ?tags= parameter; a value is not comma-split.
func tagsParam(r *http.Request) ([]string, error) {
	var tags []string
	for _, t := range r.URL.Query()["tags"] {
		if t = strings.TrimSpace(t); t != "" {
			tags = append(tags, t)
		}
	}
	if len(tags) == 0 {
		return nil, mnemo.Errorf(mnemo.EINVALID, "'tags' query parameter is required")
	}
	return tags, nil
}

func intParam(r *http.Request, name string, def, lo, hi int) int {
	n, err := strconv.Atoi(strings.TrimSpace(r.URL.Query().Get(name)))
	if err != nil {
		return def
	}
	return min(max(n, lo), hi)
}

func (s *Server) handleByTag(w http.ResponseWriter, r *http.Request, tr *tenantRequest) {
	tags, err := tagsParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	limit := intParam(r, "limit", 20, 1, 200)
	offset := max(intParam(r, "offset", 0, 0, math.MaxInt32), 0)
	f := mnemo.Filter{Tags: tags, TagMode: "any", TagMatch: "exact"}
	mems, err := tr.Store.List(r.Context(), f, mnemo.OrderImportance, limit+1, offset)
	if err != nil {
		writeError(w, err)
		return
	}
	hasMore := len(mems) > limit
	if hasMore {
		mems = mems[:limit]
	}
	ids := make([]string, len(mems))
	now := s.Now()
	for i, m := range mems {
		ids[i] = m.ID
		m.LastAccessed = now
	}
	if err := tr.Store.Touch(r.Context(), ids, now); err != nil {
		writeError(w, err)
		return
	}
	if mems == nil {
		mems = []*mnemo.Memory{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "tags": tags, "count": len(mems),
		"limit": limit, "offset": offset, "has_more": hasMore, "memories": mems})
}

func (s *Server) handleDeleteByTag(w http.ResponseWriter, r *http.Request, tr *tenantRequest) {
	tags, err := tagsParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	n, err := tr.Store.DeleteMatching(r.Context(), mnemo.Filter{Tags: tags, TagMode: "any", TagMatch: "exact"})
	s.audit(r, "memory.delete_by_tag", tr.Tenant.ID, "tags="+strings.Join(tags, ","), err)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "tags": tags, "deleted_count": n})
}
