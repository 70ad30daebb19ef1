package service

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/mnemohq/mnemo"
)

// Associate creates or updates one relation.
func (s *Service) Associate(ctx context.Context, fields map[string]any) (*mnemo.AssociateResult, error) {
	req, err := s.request(ctx, mnemo.ScopeWrite)
	if err != nil {
		return nil, err
	}
	if fields == nil {
		return nil, mnemo.Errorf(mnemo.EINVALID, "JSON body is required")
	}
	rel, reason, fatal := mnemo.ParseAssociation(fields, s.cfg.Limits, s.now())
	if fatal != nil {
		return nil, fatal
	}
	if reason != "" {
		if strings.HasSuffix(reason, "must be a valid UUID") {
			reason = "memory_id must be a valid UUID" // AutoMem's wording for one association
		}
		return nil, mnemo.Errorf(mnemo.EINVALID, "%s", reason)
	}
	if err := s.write(ctx, req, mnemo.Write{Relate: []mnemo.Relation{rel}}); err != nil {
		return nil, err
	}
	return &mnemo.AssociateResult{Status: "success", Message: fmt.Sprintf("Association created between %s and %s", rel.From, rel.To),
		RelationType: rel.Type, Strength: rel.Strength, Props: rel.Props}, nil
}

// AssociateMany creates the valid relations of a batch, in one write, and
// reports the others per item.
func (s *Service) AssociateMany(ctx context.Context, items []any) (*mnemo.AssociateManyResult, error) {
	req, err := s.request(ctx, mnemo.ScopeWrite)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, mnemo.Errorf(mnemo.EINVALID, "'associations' must be a non-empty array")
	}
	if len(items) > s.cfg.Limits.BatchLimit {
		return nil, mnemo.Errorf(mnemo.EINVALID, "Batch size limit is %d associations per request", s.cfg.Limits.BatchLimit)
	}
	s.weigh(ctx, req, batchWeight(len(items)))
	now := s.now()
	failed := []mnemo.AssociationFailure{}
	var rels []mnemo.Relation
	var idx []int
	var ids []string
	for i, it := range items {
		rel, reason, fatal := mnemo.ParseAssociation(it, s.cfg.Limits, now)
		if fatal != nil {
			return nil, mnemo.Errorf(mnemo.EINVALID, "Association at index %d: %s", i, mnemo.ErrorMessage(fatal))
		}
		if reason != "" {
			failed = append(failed, mnemo.AssociationFailure{Index: i, Reason: reason})
			continue
		}
		rels, idx = append(rels, rel), append(idx, i)
		ids = append(ids, rel.From, rel.To)
	}
	found, err := req.store.Memories(ctx, ids)
	if err != nil {
		return nil, err
	}
	var ok []mnemo.Relation
	succeeded := []mnemo.AssociationDone{}
	for j, rel := range rels {
		if found[rel.From] == nil || found[rel.To] == nil {
			failed = append(failed, mnemo.AssociationFailure{Index: idx[j], Reason: "One or both memories do not exist"})
			continue
		}
		ok = append(ok, rel)
		succeeded = append(succeeded, mnemo.AssociationDone{Index: idx[j], Memory1ID: rel.From, Memory2ID: rel.To,
			RelationType: rel.Type, Strength: rel.Strength})
	}
	if len(ok) > 0 {
		if err := s.write(ctx, req, mnemo.Write{Relate: ok}); err != nil {
			return nil, err
		}
	}
	sort.Slice(failed, func(i, j int) bool { return failed[i].Index < failed[j].Index })
	res := &mnemo.AssociateManyResult{Status: "success", CreatedCount: len(ok), FailedCount: len(failed),
		Succeeded: succeeded, Failed: failed, Summary: fmt.Sprintf("%d/%d associations created successfully", len(ok), len(items))}
	if len(failed) > 0 {
		res.Status, res.Partial = "partial_success", true
	}
	return res, nil
}
