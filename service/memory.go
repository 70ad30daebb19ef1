package service

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mnemohq/mnemo"
)

// embed computes the vectors of mems that have none, in one call. A
// failure leaves them without one: the memory is still stored, and the
// backfill retries; a made-up vector is never stored.
func (s *Service) embed(ctx context.Context, req *request, mems []*mnemo.Memory) (embedded int, err error) {
	var todo []*mnemo.Memory
	var texts []string
	for _, m := range mems {
		if m.Embedding != nil {
			m.EmbeddingModel = s.embedder.Model()
			continue
		}
		todo = append(todo, m)
		texts = append(texts, m.Content)
	}
	if len(todo) == 0 {
		return 0, nil
	}
	vecs, err := s.embedder.Embed(ctx, texts)
	if err == nil && len(vecs) != len(todo) {
		err = fmt.Errorf("embedder returned %d vectors for %d texts", len(vecs), len(todo))
	}
	if err != nil {
		s.logger.Warn("embedding failed; vectors queued for retry", "request_id", mnemo.RequestIDFromContext(ctx), "count", len(todo), "err", err)
		return 0, err
	}
	req.embedded()
	for i, m := range todo {
		m.Embedding, m.EmbeddingModel = vecs[i], s.embedder.Model()
	}
	return len(todo), nil
}

// write applies w to the request's store under the tenant's quotas, and
// notes what it stored for usage.
func (s *Service) write(ctx context.Context, req *request, w mnemo.Write) error {
	if len(w.Create)+len(w.Update)+len(w.Relate) <= smallWrite {
		req.leave() // its commit mostly waits: the tenant's other requests may run meanwhile
	}
	added, err := req.store.Write(ctx, w, req.caller.Tenant.Quotas)
	if err != nil {
		s.countQuota(err)
		return err
	}
	req.stored(int64(len(w.Create)), added)
	return nil
}

// smallWrite is the most rows a write may hold and still give its turn
// back while it commits. A small write's commit is mostly waiting for the
// disk, and group commit needs a tenant's writes to wait together; a
// batch's commit is CPU work in proportion to its size, which the tenant's
// turn must cover so that it does not take CPU from the other tenants.
const smallWrite = 16

// StoreMemory validates, embeds and stores one memory.
func (s *Service) StoreMemory(ctx context.Context, fields map[string]any) (*mnemo.StoreResult, error) {
	m, res, err := s.prepareStore(ctx, fields)
	if err != nil {
		return nil, err
	}
	req, _ := s.request(ctx, mnemo.ScopeWrite)
	if err := s.write(ctx, req, mnemo.Write{Create: []*mnemo.Memory{m}}); err != nil {
		return nil, err
	}
	return res(), nil
}

// prepareStore validates and embeds a memory to store, and returns the
// answer to give once it is stored.
func (s *Service) prepareStore(ctx context.Context, fields map[string]any) (*mnemo.Memory, func() *mnemo.StoreResult, error) {
	began := time.Now()
	req, err := s.request(ctx, mnemo.ScopeWrite)
	if err != nil {
		return nil, nil, err
	}
	m, err := mnemo.NewMemory(fields, s.now(), s.cfg.Limits, s.embedder.Dim())
	if err != nil {
		return nil, nil, err
	}
	provided := m.Embedding != nil
	_, embedErr := s.embed(ctx, req, []*mnemo.Memory{m})
	return m, func() *mnemo.StoreResult {
		vectorStatus, embeddingStatus := "stored", "generated"
		switch {
		case provided:
			embeddingStatus = "provided"
		case embedErr != nil:
			vectorStatus, embeddingStatus = "queued", "queued"
		}
		return &mnemo.StoreResult{Status: "success", MemoryID: m.ID, StoredAt: mnemo.FormatTime(s.now()),
			Type: m.Type, Confidence: m.Confidence, Qdrant: vectorStatus, EmbeddingStatus: embeddingStatus,
			Enrichment: "disabled", Metadata: m.Metadata, Timestamp: mnemo.FormatTime(m.Timestamp),
			UpdatedAt: mnemo.FormatTime(m.UpdatedAt), LastAccessed: mnemo.FormatTime(m.LastAccessed),
			QueryTimeMS: elapsedMS(began)}
	}, nil
}

// StoreMemories stores a batch, all or nothing: a batch that would cross a
// quota stores nothing.
func (s *Service) StoreMemories(ctx context.Context, items []any) (*mnemo.BatchResult, error) {
	began := time.Now()
	req, err := s.request(ctx, mnemo.ScopeWrite)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, mnemo.Errorf(mnemo.EINVALID, "'memories' must be a non-empty array")
	}
	if len(items) > s.cfg.Limits.BatchLimit {
		return nil, mnemo.Errorf(mnemo.EINVALID, "Batch size limit is %d memories per request", s.cfg.Limits.BatchLimit)
	}
	s.weigh(ctx, req, batchWeight(len(items)))
	now := s.now()
	mems := make([]*mnemo.Memory, len(items))
	for i, it := range items {
		if mems[i], err = mnemo.NewBatchMemory(it, i, now, s.cfg.Limits, s.embedder.Dim()); err != nil {
			return nil, err
		}
	}
	n, _ := s.embed(ctx, req, mems)
	if err := s.write(ctx, req, mnemo.Write{Create: mems}); err != nil {
		return nil, err
	}
	ids := make([]string, len(mems))
	for i, m := range mems {
		ids[i] = m.ID
	}
	vectorStatus := fmt.Sprintf("stored (%d)", n)
	if n < len(mems) {
		vectorStatus = fmt.Sprintf("stored (%d), queued (%d)", n, len(mems)-n)
	}
	return &mnemo.BatchResult{Status: "success", Stored: len(mems), MemoryIDs: ids, Qdrant: vectorStatus,
		Enrichment: "disabled", QueryTimeMS: elapsedMS(began)}, nil
}

// Supersede stores a memory that replaces old, in one write.
func (s *Service) Supersede(ctx context.Context, fields map[string]any, old string, relation mnemo.RelationType, reason string) (*mnemo.StoreResult, error) {
	req, err := s.request(ctx, mnemo.ScopeWrite)
	if err != nil {
		return nil, err
	}
	if relation == "" {
		relation = "INVALIDATED_BY"
	}
	if !relation.Supersedes() {
		return nil, mnemo.Errorf(mnemo.EINVALID, "'supersede_relation' must be INVALIDATED_BY or EVOLVED_INTO")
	}
	oldID, err := mnemo.ValidateMemoryID(old)
	if err != nil {
		return nil, mnemo.Errorf(mnemo.EINVALID, "'supersedes_memory_id' must be a valid UUID")
	}
	prev, err := req.store.Memory(ctx, oldID)
	if err != nil {
		return nil, err
	}
	m, result, err := s.prepareStore(ctx, fields)
	if err != nil {
		return nil, err
	}
	now := s.now()
	meta := make(map[string]any, len(prev.Metadata)+4)
	for k, v := range prev.Metadata {
		meta[k] = v
	}
	meta["deprecated"], meta["superseded_by"], meta["supersede_relation"] = true, m.ID, string(relation)
	if reason != "" {
		meta["supersede_reason"] = reason
	}
	prev.Metadata, prev.TInvalid = meta, &now
	rel := mnemo.Relation{From: prev.ID, To: m.ID, Type: relation, Strength: 0.9, UpdatedAt: now}
	rel.Props = relation.KeepProps(map[string]any{"reason": reason})
	if reason == "" {
		rel.Props = map[string]any{}
	}
	// The reason goes into both; the old metadata grows by it.
	if err := s.cfg.Limits.CheckObject("'supersede_reason'", rel.Props); err != nil {
		return nil, err
	}
	if err := s.cfg.Limits.CheckObject("The superseded memory's 'metadata'", meta); err != nil {
		return nil, err
	}
	if err := s.write(ctx, req, mnemo.Write{Create: []*mnemo.Memory{m}, Update: []*mnemo.Memory{prev}, Relate: []mnemo.Relation{rel}}); err != nil {
		return nil, err
	}
	res := result()
	res.SupersedesMemoryID, res.SupersedeRelation = prev.ID, relation
	return res, nil
}

// Memory returns one memory and records the access.
func (s *Service) Memory(ctx context.Context, id string) (*mnemo.MemoryResult, error) {
	req, err := s.request(ctx, mnemo.ScopeRead)
	if err != nil {
		return nil, err
	}
	if id, err = mnemo.ValidateMemoryID(id); err != nil {
		return nil, err
	}
	m, err := req.store.Memory(ctx, id)
	if err != nil {
		return nil, err
	}
	m.LastAccessed = s.now()
	if err := req.store.Touch(ctx, []string{id}, m.LastAccessed); err != nil {
		return nil, err
	}
	return &mnemo.MemoryResult{Status: "success", Memory: m}, nil
}

// UpdateMemory applies an update; changed content is embedded again.
func (s *Service) UpdateMemory(ctx context.Context, id string, fields map[string]any) (*mnemo.UpdateResult, error) {
	req, err := s.request(ctx, mnemo.ScopeWrite)
	if err != nil {
		return nil, err
	}
	if id, err = mnemo.ValidateMemoryID(id); err != nil {
		return nil, err
	}
	if fields == nil {
		return nil, mnemo.Errorf(mnemo.EINVALID, "JSON body is required")
	}
	m, err := req.store.Memory(ctx, id)
	if err != nil {
		return nil, err
	}
	changed, err := mnemo.ApplyPatch(m, fields, s.cfg.Limits, s.embedder.Dim())
	if err != nil {
		return nil, err
	}
	if changed || m.Embedding != nil {
		if _, err := s.embed(ctx, req, []*mnemo.Memory{m}); err != nil {
			m.Embedding = []float32{} // the old vector describes the old content
		}
	}
	if err := s.write(ctx, req, mnemo.Write{Update: []*mnemo.Memory{m}}); err != nil {
		return nil, err
	}
	return &mnemo.UpdateResult{Status: "success", MemoryID: id, Message: "Memory updated"}, nil
}

// DeleteMemory deletes one memory, audited.
func (s *Service) DeleteMemory(ctx context.Context, id string) (*mnemo.DeleteResult, error) {
	req, err := s.request(ctx, mnemo.ScopeWrite)
	if err != nil {
		return nil, err
	}
	if id, err = mnemo.ValidateMemoryID(id); err != nil {
		return nil, err
	}
	err = req.store.Delete(ctx, id)
	// A memory that does not exist is a 404, not audited (see audit).
	s.auditOf(ctx, req.caller.Key.ID, "memory.delete", req.caller.Tenant.ID, req.caller.Tenant.Incarnation, id, err)
	if err != nil {
		return nil, err
	}
	return &mnemo.DeleteResult{Status: "success", MemoryID: id}, nil
}

// cleanTags drops blank tags; a tag list may not end up empty, nor hold
// more than the list bound.
func (s *Service) cleanTags(tags []string) ([]string, error) {
	var out []string
	for _, t := range tags {
		if err := mnemo.CheckText("'tags'", t); err != nil {
			return nil, err
		}
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, mnemo.Errorf(mnemo.EINVALID, "'tags' query parameter is required")
	}
	if err := s.cfg.Limits.CheckList("tags", len(out)); err != nil {
		return nil, err
	}
	return out, nil
}

// MemoriesByTag lists memories with any of tags, most important first.
func (s *Service) MemoriesByTag(ctx context.Context, tags []string, limit, offset int) (*mnemo.TagResult, error) {
	req, err := s.request(ctx, mnemo.ScopeRead)
	if err != nil {
		return nil, err
	}
	if tags, err = s.cleanTags(tags); err != nil {
		return nil, err
	}
	limit, offset = min(max(limit, 1), 200), max(offset, 0)
	f := mnemo.Filter{Tags: tags, TagMode: "any", TagMatch: "exact"}
	mems, err := req.store.List(ctx, f, mnemo.OrderImportance, limit+1, offset)
	if err != nil {
		return nil, err
	}
	hasMore := len(mems) > limit
	if hasMore {
		mems = mems[:limit]
	}
	ids := make([]string, len(mems))
	now := s.now()
	for i, m := range mems {
		ids[i] = m.ID
		m.LastAccessed = now
	}
	if err := req.store.Touch(ctx, ids, now); err != nil {
		return nil, err
	}
	if mems == nil {
		mems = []*mnemo.Memory{}
	}
	return &mnemo.TagResult{Status: "success", Tags: tags, Count: len(mems), Limit: limit, Offset: offset, HasMore: hasMore, Memories: mems}, nil
}

// DeleteByTag deletes every memory with any of tags, audited.
func (s *Service) DeleteByTag(ctx context.Context, tags []string) (*mnemo.DeleteByTagResult, error) {
	req, err := s.request(ctx, mnemo.ScopeWrite)
	if err != nil {
		return nil, err
	}
	if tags, err = s.cleanTags(tags); err != nil {
		return nil, err
	}
	n, err := req.store.DeleteMatching(ctx, mnemo.Filter{Tags: tags, TagMode: "any", TagMatch: "exact"})
	if n > 0 || err != nil {
		// Deleting nothing changed nothing: not audited, like a 404.
		s.auditOf(ctx, req.caller.Key.ID, "memory.delete_by_tag", req.caller.Tenant.ID, req.caller.Tenant.Incarnation, "tags="+strings.Join(tags, ","), err)
	}
	if err != nil {
		return nil, err
	}
	return &mnemo.DeleteByTagResult{Status: "success", Tags: tags, DeletedCount: n}, nil
}
