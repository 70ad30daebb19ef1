package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mnemohq/mnemo"
)

// exporter is what GET /admin/tenants/{id}/export needs of a tenant store;
// *sqlite.Store has it. It is not part of mnemo.MemoryStore so that a
// backend without it still serves everything else (export answers 501).
type exporter interface {
	Export(ctx context.Context, w io.Writer, tenantID string, withVectors bool, at time.Time) error
}

// importer is what POST /admin/tenants/{id}/import needs of a tenant store:
// one transaction that skips existing memory ids and merges relations.
type importer interface {
	Import(ctx context.Context, mems []*mnemo.Memory, rels []mnemo.Relation) (created []string, relationsCreated int, err error)
}

// maxImportBytes bounds an import body. It is larger than MaxBodyBytes:
// an import is a whole tenant. The body is held in memory while it is
// validated, since nothing may be written until every line has passed.
const maxImportBytes = 256 << 20

// exportVersion is the export format this server writes and reads.
const exportVersion = 1

// importEmbedBatch is how many texts one embedding call gets on import.
const importEmbedBatch = 64

// boolParam reads an optional true/false query parameter.
func boolParam(r *http.Request, name string, def bool) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(r.URL.Query().Get(name))) {
	case "":
		return def, nil
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no":
		return false, nil
	}
	return false, mnemo.Errorf(mnemo.EINVALID, "'%s' must be true or false", name)
}

// startedWriter records whether anything reached the client, so that an
// error can still be answered with the error envelope until then.
type startedWriter struct {
	w       http.ResponseWriter
	started bool
}

func (s *startedWriter) Write(p []byte) (int, error) {
	s.started = true
	return s.w.Write(p)
}

// abortStream ends a response that has already started streaming: the
// connection is cut, so the client sees a failed download rather than a
// file that merely looks complete.
func (s *Server) abortStream(r *http.Request, what string, err error) {
	s.Logger.Error(what+" failed mid-stream", "request_id", requestID(r.Context()), "err", err)
	panic(http.ErrAbortHandler)
}

// handleExport streams one tenant as NDJSON: a header line, every memory
// with all its fields (and its vector unless ?vectors=false), then every
// relation. It is one read transaction: a consistent snapshot, taken while
// the tenant keeps writing. See docs/operations.md.
func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	t, err := s.pathTenant(r)
	if err != nil {
		if mnemo.ValidateTenantID(id) == nil {
			s.audit(r, "tenant.export", id, id, err)
		}
		writeError(w, err)
		return
	}
	vectors, err := boolParam(r, "vectors", true)
	if err != nil {
		writeError(w, err)
		return
	}
	store, release, err := s.Stores.Open(r.Context(), t.ID)
	if err != nil {
		s.audit(r, "tenant.export", t.ID, t.ID, err)
		writeError(w, err)
		return
	}
	defer release()
	ex, ok := store.(exporter)
	if !ok {
		writeError(w, mnemo.Errorf(501, "This storage backend cannot export"))
		return
	}
	now := s.Now()
	// A large tenant takes longer than the server's write timeout.
	http.NewResponseController(w).SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="mnemo-export-%s-%s.ndjson"`, t.ID, now.UTC().Format("20060102_150405")))
	w.Header().Set("Cache-Control", "no-store")
	sw := &startedWriter{w: w}
	err = ex.Export(r.Context(), sw, t.ID, vectors, now)
	s.audit(r, "tenant.export", t.ID, t.ID, err)
	if err != nil {
		if !sw.started {
			w.Header().Del("Content-Disposition")
			writeError(w, err)
			return
		}
		s.abortStream(r, "export", err)
	}
}

// importFile is a validated import: its memories and relations, with the
// line of each relation for error messages.
type importFile struct {
	sourceTenant string
	mems         []*mnemo.Memory
	rels         []mnemo.Relation
	relLines     []int
	// foreign are relation ends not in the file, each with the first line
	// that names it: they must already be in the tenant.
	foreign map[string]int
}

// lineError is a 400 naming the line and the field.
func lineError(line int, format string, args ...any) error {
	return mnemo.Errorf(mnemo.EINVALID, "line %d: %s", line, fmt.Sprintf(format, args...))
}

// parseImport validates a whole export before anything is written: the
// header, then every memory and relation line. now fills timestamps a hand-
// written file leaves out.
func parseImport(raw []byte, lim mnemo.Limits, now time.Time) (*importFile, error) {
	f := &importFile{foreign: map[string]int{}}
	seen := map[string]int{} // memory id -> line
	var header map[string]any
	wantMems, wantRels := int64(-1), int64(-1)
	lineNo := 0
	for len(raw) > 0 {
		lineNo++
		var line []byte
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			line, raw = raw, nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber() // metadata numbers keep their exact digits
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil || obj == nil {
			msg := "not a JSON object"
			if err != nil {
				msg += ": " + jsonProblem(err)
			}
			return nil, lineError(lineNo, "%s", msg)
		}
		if dec.More() {
			return nil, lineError(lineNo, "unexpected data after the JSON object (one object per line)")
		}
		if header == nil {
			header = obj
			var err error
			if f.sourceTenant, wantMems, wantRels, err = parseHeader(obj, lineNo); err != nil {
				return nil, err
			}
			continue
		}
		switch kind, _ := obj["kind"].(string); kind {
		case "memory":
			m, err := parseImportMemory(obj, lineNo, lim, now)
			if err != nil {
				return nil, err
			}
			if first, dup := seen[m.ID]; dup {
				return nil, lineError(lineNo, "'id' %s repeats the memory of line %d", m.ID, first)
			}
			seen[m.ID] = lineNo
			f.mems = append(f.mems, m)
		case "relation":
			rel, err := parseImportRelation(obj, lineNo, now)
			if err != nil {
				return nil, err
			}
			f.rels = append(f.rels, rel)
			f.relLines = append(f.relLines, lineNo)
		default:
			return nil, lineError(lineNo, `'kind' must be "memory" or "relation"`)
		}
	}
	if header == nil {
		return nil, mnemo.Errorf(mnemo.EINVALID, "The import body is empty: send a mnemo export (NDJSON) as the body")
	}
	if wantMems >= 0 && int64(len(f.mems)) != wantMems {
		return nil, lineError(1, "the header counts %d memories but the file has %d (is it truncated?)", wantMems, len(f.mems))
	}
	if wantRels >= 0 && int64(len(f.rels)) != wantRels {
		return nil, lineError(1, "the header counts %d relations but the file has %d (is it truncated?)", wantRels, len(f.rels))
	}
	for i, rel := range f.rels {
		for _, end := range []string{rel.From, rel.To} {
			if _, inFile := seen[end]; !inFile {
				if _, ok := f.foreign[end]; !ok {
					f.foreign[end] = f.relLines[i]
				}
			}
		}
	}
	return f, nil
}

func parseHeader(obj map[string]any, line int) (tenant string, memories, relations int64, err error) {
	if format, _ := obj["format"].(string); format != "mnemo-export" {
		return "", 0, 0, lineError(line, `the first line must be the export header with 'format' "mnemo-export"`)
	}
	v, ok := number(obj["version"])
	if !ok {
		return "", 0, 0, lineError(line, "'version' must be a number")
	}
	if v != exportVersion {
		return "", 0, 0, lineError(line, "'version' %s is not supported (this server reads version %d)", strconv.FormatFloat(v, 'f', -1, 64), exportVersion)
	}
	tenant, _ = obj["tenant_id"].(string)
	memories, relations = -1, -1
	for _, c := range []struct {
		name string
		dst  *int64
	}{{"memories", &memories}, {"relations", &relations}} {
		raw, present := obj[c.name]
		if !present || raw == nil {
			continue
		}
		n, ok := number(raw)
		if !ok || n < 0 || n != math.Trunc(n) {
			return "", 0, 0, lineError(line, "'%s' must be a non-negative integer", c.name)
		}
		*c.dst = int64(n)
	}
	return tenant, memories, relations, nil
}

// number reads a JSON number decoded with UseNumber.
func number(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func unitField(obj map[string]any, name string, def float64, line int) (float64, error) {
	v, ok := obj[name]
	if !ok || v == nil {
		return def, nil
	}
	f, isNum := number(v)
	if !isNum {
		return 0, lineError(line, "'%s' must be a number", name)
	}
	if f < 0 || f > 1 {
		return 0, lineError(line, "'%s' must be between 0 and 1", name)
	}
	return f, nil
}

func timeField(obj map[string]any, name string, def time.Time, line int) (time.Time, error) {
	v, ok := obj[name]
	if !ok || v == nil {
		return def, nil
	}
	s, isString := v.(string)
	if !isString {
		return time.Time{}, lineError(line, "'%s' must be an ISO 8601 string", name)
	}
	t, err := mnemo.ParseTime(s)
	if err != nil {
		return time.Time{}, lineError(line, "'%s' is not an ISO 8601 timestamp: %q", name, s)
	}
	return t, nil
}

func parseImportMemory(obj map[string]any, line int, lim mnemo.Limits, now time.Time) (*mnemo.Memory, error) {
	rawID, _ := obj["id"].(string)
	id, err := mnemo.ValidateMemoryID(rawID)
	if err != nil {
		return nil, lineError(line, "'id' must be a UUID")
	}
	m := &mnemo.Memory{ID: id, Tags: []string{}, Metadata: map[string]any{}}
	content, _ := obj["content"].(string)
	if m.Content = strings.TrimSpace(content); m.Content == "" {
		return nil, lineError(line, "'content' is required (a non-empty string)")
	}
	if n := utf8.RuneCountInString(m.Content); n > lim.ContentHardLimit {
		return nil, lineError(line, "'content' exceeds the maximum length of %d characters (%d)", lim.ContentHardLimit, n)
	}
	if v, ok := obj["tags"]; ok && v != nil {
		list, isList := v.([]any)
		if !isList {
			return nil, lineError(line, "'tags' must be a list of strings")
		}
		for _, it := range list {
			s, isString := it.(string)
			if !isString {
				return nil, lineError(line, "'tags' must be a list of strings")
			}
			m.Tags = append(m.Tags, s)
		}
	}
	if m.Importance, err = unitField(obj, "importance", 0.5, line); err != nil {
		return nil, err
	}
	if v, ok := obj["type"]; ok && v != nil {
		s, isString := v.(string)
		if !isString || strings.TrimSpace(s) == "" {
			return nil, lineError(line, "'type' must be a non-empty string")
		}
		m.Type, m.Confidence = strings.TrimSpace(s), 0.9
	} else {
		m.Type, m.Confidence = mnemo.Classify(m.Content)
	}
	if m.Confidence, err = unitField(obj, "confidence", m.Confidence, line); err != nil {
		return nil, err
	}
	if v, ok := obj["metadata"]; ok && v != nil {
		meta, isObject := v.(map[string]any)
		if !isObject {
			return nil, lineError(line, "'metadata' must be an object")
		}
		m.Metadata = meta // json.Numbers: stored with the file's exact digits
	}
	if v, ok := obj["archived"]; ok && v != nil {
		b, isBool := v.(bool)
		if !isBool {
			return nil, lineError(line, "'archived' must be true or false")
		}
		m.Archived = b
	}
	if m.Timestamp, err = timeField(obj, "timestamp", now, line); err != nil {
		return nil, err
	}
	if m.TValid, err = timeField(obj, "t_valid", m.Timestamp, line); err != nil {
		return nil, err
	}
	if v, ok := obj["t_invalid"]; ok && v != nil {
		t, err := timeField(obj, "t_invalid", time.Time{}, line)
		if err != nil {
			return nil, err
		}
		m.TInvalid = &t
	}
	if m.UpdatedAt, err = timeField(obj, "updated_at", m.Timestamp, line); err != nil {
		return nil, err
	}
	if m.LastAccessed, err = timeField(obj, "last_accessed", m.UpdatedAt, line); err != nil {
		return nil, err
	}
	if v, ok := obj["embedding"]; ok && v != nil {
		list, isList := v.([]any)
		if !isList || len(list) == 0 {
			return nil, lineError(line, "'embedding' must be a non-empty list of numbers")
		}
		m.Embedding = make([]float32, len(list))
		for i, it := range list {
			n, isNum := it.(json.Number)
			f, err := strconv.ParseFloat(string(n), 32)
			if !isNum || err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, lineError(line, "'embedding' must be a non-empty list of numbers")
			}
			m.Embedding[i] = float32(f)
		}
		if v, ok := obj["embedding_model"]; ok && v != nil {
			s, isString := v.(string)
			if !isString {
				return nil, lineError(line, "'embedding_model' must be a string")
			}
			m.EmbeddingModel = s
		}
	}
	return m, nil
}

func parseImportRelation(obj map[string]any, line int, now time.Time) (mnemo.Relation, error) {
	var rel mnemo.Relation
	for _, end := range []struct {
		name string
		dst  *string
	}{{"memory1_id", &rel.From}, {"memory2_id", &rel.To}} {
		s, _ := obj[end.name].(string)
		id, err := mnemo.ValidateMemoryID(s)
		if err != nil {
			return rel, lineError(line, "'%s' must be a UUID", end.name)
		}
		*end.dst = id
	}
	if rel.From == rel.To {
		return rel, lineError(line, "a relation cannot join a memory to itself ('memory1_id' equals 'memory2_id')")
	}
	typ, _ := obj["type"].(string)
	rel.Type = mnemo.RelationType(strings.ToUpper(strings.TrimSpace(typ)))
	if !rel.Type.IsAuthorable() {
		return rel, lineError(line, "'type' must be one of %s", mnemo.AuthorableTypeList())
	}
	var err error
	if rel.Strength, err = unitField(obj, "strength", 0.5, line); err != nil {
		return rel, err
	}
	rel.Props = map[string]any{}
	if v, ok := obj["properties"]; ok && v != nil {
		props, isObject := v.(map[string]any)
		if !isObject {
			return rel, lineError(line, "'properties' must be an object")
		}
		rel.Props = props
	}
	if rel.UpdatedAt, err = timeField(obj, "updated_at", now, line); err != nil {
		return rel, err
	}
	return rel, nil
}

// handleImport loads an export into a tenant. The whole body is parsed and
// validated first; any problem is a 400 naming the line and the field, and
// nothing is written. Then one transaction writes it: a memory whose id is
// already there is skipped (so an import can be repeated), relations merge.
// A vector in the file is used when its model and dimension are this
// server's; other memories are embedded now, in batches, and whatever the
// embedder cannot do now is left to the background backfill.
func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	t, err := s.pathTenant(r)
	if err != nil {
		if mnemo.ValidateTenantID(id) == nil {
			s.audit(r, "tenant.import", id, id, err)
		}
		writeError(w, err)
		return
	}
	out, err := s.importTenant(w, r, t)
	s.audit(r, "tenant.import", t.ID, t.ID, err)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) importTenant(w http.ResponseWriter, r *http.Request, t *mnemo.Tenant) (map[string]any, error) {
	ctx := r.Context()
	// A whole tenant may take longer to upload, and to embed, than the
	// server's timeouts for ordinary requests.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(30 * time.Minute))
	rc.SetWriteDeadline(time.Time{})
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxImportBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, mnemo.Errorf(mnemo.ETOOLARGE, "Import body exceeds the limit of %d bytes", int64(maxImportBytes))
	}
	if err != nil {
		return nil, mnemo.Errorf(mnemo.EINVALID, "Could not read the request body: %v", err)
	}
	file, err := parseImport(raw, s.Limits, s.Now())
	if err != nil {
		return nil, err
	}

	store, release, err := s.Stores.Open(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	defer release()
	imp, ok := store.(importer)
	if !ok {
		return nil, mnemo.Errorf(501, "This storage backend cannot import")
	}
	// Relation ends outside the file must already be in the tenant.
	foreign := make([]string, 0, len(file.foreign))
	for id := range file.foreign {
		foreign = append(foreign, id)
	}
	found, err := memoriesIn(ctx, store, foreign)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, id := range foreign {
		if !found[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		first := missing[0]
		for _, id := range missing {
			if file.foreign[id] < file.foreign[first] {
				first = id
			}
		}
		return nil, lineError(file.foreign[first], "relation end %s is neither a memory of the file nor of tenant '%s'", first, t.ID)
	}

	// Which memories are new: only those are embedded (and counted).
	ids := make([]string, len(file.mems))
	for i, m := range file.mems {
		ids[i] = m.ID
	}
	existing, err := memoriesIn(ctx, store, ids)
	if err != nil {
		return nil, err
	}
	fromFile := map[string]bool{}
	var toEmbed []*mnemo.Memory
	for _, m := range file.mems {
		if m.Embedding != nil && m.EmbeddingModel == s.Embedder.Model() && len(m.Embedding) == s.Embedder.Dim() {
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
		vecs, err := s.Embedder.Embed(ctx, texts)
		if err == nil && len(vecs) != len(batch) {
			err = fmt.Errorf("embedder returned %d vectors for %d texts", len(vecs), len(batch))
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			// The rest is left to the backfill; never a made-up vector.
			s.Logger.Warn("import: embedding failed; the backfill will retry", "request_id", requestID(ctx), "tenant", t.ID,
				"left", len(toEmbed)-start, "err", err)
			break
		}
		for i, m := range batch {
			m.Embedding, m.EmbeddingModel = vecs[i], s.Embedder.Model()
			embedded[m.ID] = true
		}
	}

	// Quotas hold for imports too: the new memories must fit, checked and
	// written under the tenant's write lock like any write.
	var newMems, newBytes int64
	for _, m := range file.mems {
		if !existing[m.ID] {
			newMems++
			newBytes += memoryBytes(m, len(m.Embedding))
		}
	}
	if t.Quotas.MaxMemories != nil || t.Quotas.MaxStorageMB != nil {
		mu := s.limits.writeLock(t.ID)
		mu.Lock()
		defer mu.Unlock()
		st, err := store.Stats(ctx)
		if err != nil {
			return nil, err
		}
		if err := checkQuota(t, st, newMems, newBytes); err != nil {
			s.countRefusal("quota")
			return nil, err
		}
	}
	created, relsCreated, err := imp.Import(ctx, file.mems, file.rels)
	if err != nil {
		if mnemo.ErrorCode(err) == mnemo.ENOTFOUND {
			// A relation end was deleted between the check and the write.
			return nil, mnemo.Errorf(mnemo.ECONFLICT, "%s (deleted during the import); nothing was written", mnemo.ErrorMessage(err))
		}
		return nil, err
	}
	var vecImported, vecEmbedded, vecQueued int
	for _, id := range created {
		switch {
		case fromFile[id]:
			vecImported++
		case embedded[id]:
			vecEmbedded++
		default:
			vecQueued++
		}
	}
	return map[string]any{"status": "success", "tenant_id": t.ID, "source_tenant_id": file.sourceTenant,
		"memories_created": len(created), "memories_skipped": len(file.mems) - len(created),
		"relations_created": relsCreated, "vectors_imported": vecImported, "vectors_embedded": vecEmbedded,
		"vectors_queued": vecQueued}, nil
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
