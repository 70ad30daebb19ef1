package service

import (
	"context"
	"fmt"
	"io"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/export"
)

// Export writes one tenant as NDJSON from one read transaction: a
// consistent snapshot, taken while the tenant keeps writing.
func (s *Service) Export(ctx context.Context, tenantID string, withVectors bool, w io.Writer, begin func(filename string)) error {
	s.adminWork(ctx, tenantID)
	err := s.export(ctx, tenantID, withVectors, w, begin)
	if mnemo.ValidateTenantID(tenantID) == nil {
		s.audit(ctx, admin, "tenant.export", tenantID, tenantID, err)
	}
	return err
}

func (s *Service) export(ctx context.Context, tenantID string, withVectors bool, w io.Writer, begin func(string)) error {
	t, err := s.tenant(ctx, tenantID)
	if err != nil {
		return err
	}
	store, release, err := s.b.Stores.Open(ctx, t.ID)
	if err != nil {
		return err
	}
	defer release()
	sn, err := store.Snapshot(ctx, withVectors)
	if err != nil {
		return err
	}
	defer sn.Close()
	now := s.now()
	begin(fmt.Sprintf("mnemo-export-%s-%s.ndjson", t.ID, now.UTC().Format("20060102_150405")))
	return export.Write(w, sn, export.Header{TenantID: t.ID, ExportedAt: now, WithVectors: withVectors, EmbeddingModel: s.embedder.Model()})
}

// MaxImportBytes bounds an import body. It is larger than an ordinary
// request's limit: an import is a whole tenant. The body is held in memory
// while it is validated, since nothing may be written until every line has
// passed.
const MaxImportBytes = 256 << 20

// importEmbedBatch is how many texts one embedding call gets on import.
const importEmbedBatch = 64

// Import loads an export into a tenant; see mnemo.PortabilityService. A
// vector in the file is used when its model and dimension are this
// server's; other new memories are embedded now, in batches, and what the
// embedder cannot do now is left to the background backfill.
func (s *Service) Import(ctx context.Context, tenantID string, r io.Reader) (*mnemo.ImportResult, error) {
	s.adminWork(ctx, tenantID)
	out, err := s.importTenant(ctx, tenantID, r)
	if mnemo.ValidateTenantID(tenantID) == nil {
		s.audit(ctx, admin, "tenant.import", tenantID, tenantID, err)
	}
	return out, err
}

func (s *Service) importTenant(ctx context.Context, tenantID string, r io.Reader) (*mnemo.ImportResult, error) {
	t, err := s.tenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(r, MaxImportBytes+1))
	if err != nil {
		return nil, mnemo.Errorf(mnemo.EINVALID, "Could not read the request body: %v", err)
	}
	if len(raw) > MaxImportBytes {
		return nil, mnemo.Errorf(mnemo.ETOOLARGE, "Import body exceeds the limit of %d bytes", int64(MaxImportBytes))
	}
	file, err := export.Read(raw, s.cfg.Limits, s.now())
	if err != nil {
		return nil, err
	}
	store, release, err := s.b.Stores.Open(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	defer release()

	// Relation ends outside the file must already be in the tenant.
	foreign := make([]string, 0, len(file.Foreign))
	for id := range file.Foreign {
		foreign = append(foreign, id)
	}
	found, err := memoriesIn(ctx, store, foreign)
	if err != nil {
		return nil, err
	}
	missing, first := 0, ""
	for _, id := range foreign {
		if !found[id] {
			missing++
			if first == "" || file.Foreign[id] < file.Foreign[first] {
				first = id
			}
		}
	}
	if missing > 0 {
		return nil, export.LineError(file.Foreign[first], "relation end %s is neither a memory of the file nor of tenant '%s'", first, t.ID)
	}

	// Which memories are new: only those are embedded.
	ids := make([]string, len(file.Memories))
	for i, m := range file.Memories {
		ids[i] = m.ID
	}
	existing, err := memoriesIn(ctx, store, ids)
	if err != nil {
		return nil, err
	}
	fromFile := map[string]bool{}
	var toEmbed []*mnemo.Memory
	for _, m := range file.Memories {
		if m.Embedding != nil && m.EmbeddingModel == s.embedder.Model() && len(m.Embedding) == s.embedder.Dim() {
			fromFile[m.ID] = true
			continue
		}
		m.Embedding, m.EmbeddingModel = nil, ""
		if !existing[m.ID] {
			toEmbed = append(toEmbed, m)
		}
	}
	embedded := map[string]bool{}
	for start := 0; start < len(toEmbed); start += importEmbedBatch {
		batch := toEmbed[start:min(start+importEmbedBatch, len(toEmbed))]
		texts := make([]string, len(batch))
		for i, m := range batch {
			texts[i] = m.Content
		}
		vecs, err := s.embedder.Embed(ctx, texts)
		if err == nil && len(vecs) != len(batch) {
			err = fmt.Errorf("embedder returned %d vectors for %d texts", len(vecs), len(batch))
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			// The rest is left to the backfill; never a made-up vector.
			s.logger.Warn("import: embedding failed; the backfill will retry", "request_id", mnemo.RequestIDFromContext(ctx),
				"tenant", t.ID, "left", len(toEmbed)-start, "err", err)
			break
		}
		for i, m := range batch {
			m.Embedding, m.EmbeddingModel = vecs[i], s.embedder.Model()
			embedded[m.ID] = true
		}
	}

	created, relsCreated, err := store.Import(ctx, file.Memories, file.Relations, t.Quotas)
	if err != nil {
		s.countQuota(err)
		if mnemo.ErrorCode(err) == mnemo.ENOTFOUND {
			// A relation end was deleted between the check and the write.
			return nil, mnemo.Errorf(mnemo.ECONFLICT, "%s (deleted during the import); nothing was written", mnemo.ErrorMessage(err))
		}
		return nil, err
	}
	res := &mnemo.ImportResult{Status: "success", TenantID: t.ID, SourceTenantID: file.SourceTenant,
		MemoriesCreated: len(created), MemoriesSkipped: len(file.Memories) - len(created), RelationsCreated: relsCreated}
	for _, id := range created {
		switch {
		case fromFile[id]:
			res.VectorsImported++
		case embedded[id]:
			res.VectorsEmbedded++
		default:
			res.VectorsQueued++
		}
	}
	return res, nil
}

// memoriesIn reports which of ids the store holds, asking in pages.
func memoriesIn(ctx context.Context, store mnemo.MemoryStore, ids []string) (map[string]bool, error) {
	out := make(map[string]bool, len(ids))
	for start := 0; start < len(ids); start += 500 {
		got, err := store.Memories(ctx, ids[start:min(start+500, len(ids))])
		if err != nil {
			return nil, err
		}
		for id := range got {
			out[id] = true
		}
	}
	return out, nil
}

// Backup writes an archive of everything the service stores, audited.
func (s *Service) Backup(ctx context.Context, w io.Writer, begin func(filename string)) (mnemo.BackupResult, error) {
	now := s.now()
	name := fmt.Sprintf("mnemo-backup-%s.tar.gz", now.UTC().Format("20060102_150405"))
	begin(name)
	res, err := s.b.Backup.Backup(ctx, w, now)
	s.audit(ctx, admin, "backup", "", name, err)
	if err == nil {
		s.logger.Info("backup", "request_id", mnemo.RequestIDFromContext(ctx), "file", name, "tenants", res.Tenants, "deleted_during_backup", res.Vanished)
	}
	for _, d := range res.Skipped {
		s.logger.Error("backup skipped a damaged tenant; restore it (docs/operations.md, Faults)", "request_id", mnemo.RequestIDFromContext(ctx),
			"file", name, "tenant", d.TenantID, "reason", d.Reason)
	}
	return res, err
}
