package http

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/mnemohq/mnemo"
)

// parseAssociation validates one association item; it returns a
// client-facing reason on failure. An out-of-range strength is returned as
// fatal, because AutoMem aborts the whole request for it.
func parseAssociation(item any, now func() mnemo.Relation) (rel mnemo.Relation, reason string, fatal error) {
	body, ok := item.(map[string]any)
	if !ok {
		return rel, "Association item must be an object", nil
	}
	a, _ := body["memory1_id"].(string)
	b, _ := body["memory2_id"].(string)
	if strings.TrimSpace(a) == "" || strings.TrimSpace(b) == "" {
		return rel, "'memory1_id' and 'memory2_id' are required", nil
	}
	idA, err := mnemo.ValidateMemoryID(a)
	if err != nil {
		return rel, "'memory1_id' must be a valid UUID", nil
	}
	idB, err := mnemo.ValidateMemoryID(b)
	if err != nil {
		return rel, "'memory2_id' must be a valid UUID", nil
	}
	if idA == idB {
		return rel, "Cannot associate a memory with itself", nil
	}
	typ := mnemo.RelationType("RELATES_TO")
	if v, ok := body["type"]; ok && v != nil {
		s, _ := v.(string)
		typ = mnemo.RelationType(strings.ToUpper(strings.TrimSpace(s)))
	}
	if !typ.IsAuthorable() {
		return rel, "Relation type must be one of " + mnemo.AuthorableTypeList(), nil
	}
	rel = now()
	rel.From, rel.To, rel.Type, rel.Strength = idA, idB, typ, 0.5
	if v, ok := body["strength"]; ok && v != nil {
		f, isNum := v.(float64)
		if !isNum {
			return rel, "", mnemo.Errorf(mnemo.EINVALID, "'strength' must be a number")
		}
		if f < 0 || f > 1 {
			return rel, "", mnemo.Errorf(mnemo.EINVALID, "'strength' must be between 0 and 1")
		}
		rel.Strength = f
	}
	rel.Props = map[string]any{}
	for _, p := range mnemo.RelationProps(typ) {
		if v, ok := body[p]; ok && p != "strength" {
			rel.Props[p] = v
		}
	}
	return rel, "", nil
}

func (s *Server) handleAssociate(w http.ResponseWriter, r *http.Request, tr *tenantRequest) {
	body, err := s.requireJSONObject(w, r, "JSON body is required")
	if err != nil {
		writeError(w, err)
		return
	}
	newRel := func() mnemo.Relation { return mnemo.Relation{UpdatedAt: s.Now()} }
	if list, isBatch := body["associations"].([]any); isBatch {
		s.associateBatch(w, r, tr, list, newRel)
		return
	}
	rel, reason, fatal := parseAssociation(body, newRel)
	if fatal != nil {
		writeError(w, fatal)
		return
	}
	if reason != "" {
		if strings.HasSuffix(reason, "must be a valid UUID") {
			reason = "memory_id must be a valid UUID"
		}
		writeError(w, mnemo.Errorf(mnemo.EINVALID, "%s", reason))
		return
	}
	if err := s.write(r.Context(), tr, 0, relationBytes(rel), func() error { return tr.Store.Associate(r.Context(), []mnemo.Relation{rel}) }); err != nil {
		writeError(w, err)
		return
	}
	out := map[string]any{"status": "success", "message": fmt.Sprintf("Association created between %s and %s", rel.From, rel.To),
		"relation_type": rel.Type, "strength": rel.Strength}
	for k, v := range rel.Props {
		out[k] = v
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) associateBatch(w http.ResponseWriter, r *http.Request, tr *tenantRequest, list []any, newRel func() mnemo.Relation) {
	if len(list) == 0 {
		writeError(w, mnemo.Errorf(mnemo.EINVALID, "'associations' must be a non-empty array"))
		return
	}
	if len(list) > s.Limits.BatchLimit {
		writeError(w, mnemo.Errorf(mnemo.EINVALID, "Batch size limit is %d associations per request", s.Limits.BatchLimit))
		return
	}
	type failure struct {
		Index  int    `json:"index"`
		Reason string `json:"reason"`
	}
	var failed []failure
	var rels []mnemo.Relation
	var idx []int
	var ids []string
	for i, it := range list {
		rel, reason, fatal := parseAssociation(it, newRel)
		if fatal != nil {
			writeError(w, mnemo.Errorf(mnemo.EINVALID, "Association at index %d: %s", i, mnemo.ErrorMessage(fatal)))
			return
		}
		if reason != "" {
			failed = append(failed, failure{i, reason})
			continue
		}
		rels, idx = append(rels, rel), append(idx, i)
		ids = append(ids, rel.From, rel.To)
	}
	found, err := tr.Store.Memories(r.Context(), ids)
	if err != nil {
		writeError(w, err)
		return
	}
	var ok []mnemo.Relation
	succeeded := []map[string]any{}
	for j, rel := range rels {
		if found[rel.From] == nil || found[rel.To] == nil {
			failed = append(failed, failure{idx[j], "One or both memories do not exist"})
			continue
		}
		ok = append(ok, rel)
		succeeded = append(succeeded, map[string]any{"index": idx[j], "memory1_id": rel.From, "memory2_id": rel.To,
			"relation_type": rel.Type, "strength": rel.Strength})
	}
	if len(ok) > 0 {
		var bytes int64
		for _, rel := range ok {
			bytes += relationBytes(rel)
		}
		if err := s.write(r.Context(), tr, 0, bytes, func() error { return tr.Store.Associate(r.Context(), ok) }); err != nil {
			writeError(w, err)
			return
		}
	}
	sort.Slice(failed, func(i, j int) bool { return failed[i].Index < failed[j].Index })
	if failed == nil {
		failed = []failure{}
	}
	status, code := "success", http.StatusCreated
	if len(failed) > 0 {
		status, code = "partial_success", mnemo.EMULTISTATUS
	}
	writeJSON(w, code, map[string]any{"status": status, "created_count": len(ok), "failed_count": len(failed),
		"succeeded": succeeded, "failed": failed,
		"summary": fmt.Sprintf("%d/%d associations created successfully", len(ok), len(list))})
}

// relationBytes is what a relation adds to the stored bytes, counted as the
// store counts it (an update of an existing one adds less).
func relationBytes(rel mnemo.Relation) int64 {
	props, _ := json.Marshal(rel.Props)
	return 16 + int64(len(rel.Type)+len(props))
}
