package service

import (
	"context"
	"fmt"
	"strings"

	"github.com/mnemohq/mnemo"
)

// audit appends an event for an action on tenantID by actor ("admin" or a
// key id), with its outcome: "success", or "error: <code>". It is written
// before the answer, so it is readable as soon as the request has
// answered; an audit write that fails is logged, and the request still
// answers.
//
// What is audited: what changed something, and what was refused for a
// reason an operator acts on (a conflict, bad input to an admin action, a
// failure). A 404 is not: it changed nothing and says nothing about the
// caller that the access log does not, and a client looping over deletes
// of unknown ids would otherwise fill the log.
func (s *Service) audit(ctx context.Context, actor, action, tenantID, target string, err error) {
	s.auditOf(ctx, actor, action, tenantID, 0, target, err)
}

// auditOf is audit for an incarnation of the tenant known to the caller
// (0: the id's latest).
func (s *Service) auditOf(ctx context.Context, actor, action, tenantID string, incarnation int64, target string, err error) {
	outcome := "success"
	if err != nil {
		if mnemo.ErrorCode(err) == mnemo.ENOTFOUND {
			return
		}
		outcome = "error: " + mnemo.ErrorCode(err)
	}
	e := &mnemo.AuditEvent{At: s.now(), Actor: actor, TenantID: tenantID, Action: action, Target: target,
		RequestID: mnemo.RequestIDFromContext(ctx), Outcome: outcome, Incarnation: incarnation}
	if werr := s.b.Audit.AppendAudit(context.WithoutCancel(ctx), e); werr != nil {
		s.logger.Error("audit", "request_id", e.RequestID, "action", action, "tenant", tenantID, "err", werr)
	}
}

const admin = "admin"

// CreateTenant creates a tenant with its first key, then its empty store;
// when the store cannot be made the tenant is removed again, so a tenant
// never exists without its data. A crash between the two steps leaves a
// tenant without a store, which the store pool makes at its next start.
func (s *Service) CreateTenant(ctx context.Context, fields map[string]any) (*mnemo.CreatedTenant, error) {
	if fields == nil {
		return nil, mnemo.Errorf(mnemo.EINVALID, "JSON body with 'tenant_id' is required")
	}
	id, _ := fields["tenant_id"].(string)
	if err := mnemo.ValidateTenantID(id); err != nil {
		return nil, err
	}
	name := id
	if v, ok := fields["name"]; ok && v != nil {
		n, isString := v.(string)
		if !isString || len(n) > 200 {
			return nil, mnemo.Errorf(mnemo.EINVALID, "'name' must be a string of at most 200 characters")
		}
		if n = strings.TrimSpace(n); n != "" {
			name = n
		}
	}
	token, generated, warning := "", false, ""
	if v, ok := fields["api_token"]; ok && v != nil {
		least := max(mnemo.MinClientTokenLength, s.cfg.MinClientTokenLength)
		t, isString := v.(string)
		if !isString || len(t) < least || len(t) > 512 || strings.TrimSpace(t) != t {
			return nil, mnemo.Errorf(mnemo.EINVALID, "'api_token' must be a string of %d to 512 characters without surrounding spaces", least)
		}
		if len(t) < mnemo.StrongTokenLength {
			warning = fmt.Sprintf("'api_token' is shorter than %d characters: it could be guessed, and from an address that keeps failing "+
				"authentication it is refused (429) for the rest of the minute. Omit api_token for a generated key.", mnemo.StrongTokenLength)
		}
		token = t
	} else {
		token, generated = mnemo.GenerateToken(), true
	}
	now := s.now()
	t := &mnemo.Tenant{ID: id, Name: name, Status: mnemo.TenantActive, CreatedAt: now, UpdatedAt: now,
		RateLimit: s.cfg.DefaultRateLimit, Quotas: s.cfg.DefaultQuotas}
	key := &mnemo.Key{ID: mnemo.NewKeyID(), TenantID: id, Label: "initial", Prefix: mnemo.DisplayPrefix(token, generated),
		Scopes: []string{mnemo.ScopeRead, mnemo.ScopeWrite}, CreatedAt: now}
	if err := s.b.Tenants.CreateTenant(ctx, t, key, mnemo.HashToken(token)); err != nil {
		s.audit(ctx, admin, "tenant.create", id, id, err)
		return nil, err
	}
	if err := s.b.Stores.Create(ctx, id); err != nil {
		if derr := s.b.Tenants.DeleteTenant(context.WithoutCancel(ctx), id); derr != nil {
			s.logger.Error("undo a tenant whose store could not be made", "tenant", id, "err", derr)
		}
		s.audit(ctx, admin, "tenant.create", id, id, err)
		return nil, err
	}
	s.auditOf(ctx, admin, "tenant.create", id, t.Incarnation, id, nil)
	s.auditOf(ctx, admin, "key.create", id, t.Incarnation, key.ID, nil)
	return &mnemo.CreatedTenant{Tenant: t, Key: key, Token: token, Warning: warning}, nil
}

// tenant loads the tenant id names, validating the id first.
func (s *Service) tenant(ctx context.Context, id string) (*mnemo.Tenant, error) {
	if err := mnemo.ValidateTenantID(id); err != nil {
		return nil, err
	}
	return s.b.Tenants.Tenant(ctx, id)
}

// Tenant returns one tenant with its stats.
func (s *Service) Tenant(ctx context.Context, id string) (*mnemo.Tenant, error) {
	s.adminWork(ctx, id)
	return s.tenant(ctx, id)
}

// Tenants returns a page of tenants, oldest first, and the total.
func (s *Service) Tenants(ctx context.Context, limit, offset int) ([]*mnemo.Tenant, int, error) {
	return s.b.Tenants.Tenants(ctx, limit, offset)
}

// DeleteTenant removes the tenant from the registry first, so its keys
// stop working at once, then drops its data. A crash between the two
// leaves data without a tenant, which the store pool removes at its next
// start.
func (s *Service) DeleteTenant(ctx context.Context, id string) error {
	s.adminWork(ctx, id)
	t, err := s.tenant(ctx, id)
	if err != nil {
		s.audit(ctx, admin, "tenant.delete", id, id, err)
		return err
	}
	if err := s.b.Tenants.DeleteTenant(ctx, t.ID); err != nil {
		s.audit(ctx, admin, "tenant.delete", t.ID, t.ID, err)
		return err
	}
	// A tenant created again with this id starts with a full bucket.
	if err := s.b.Rate.ResetRate(ctx, t.ID); err != nil {
		s.logger.Error("reset the rate limit of a deleted tenant", "tenant", t.ID, "err", err)
	}
	err = s.b.Stores.Drop(ctx, t.ID)
	s.auditOf(ctx, admin, "tenant.delete", t.ID, t.Incarnation, t.ID, err)
	return err
}

// UpdateTenant changes a tenant's name, status (with a reason), rate limit
// and quotas. A field left out is unchanged; null removes a limit.
// Everything is validated before anything changes.
func (s *Service) UpdateTenant(ctx context.Context, id string, fields map[string]any) (*mnemo.Tenant, error) {
	s.adminWork(ctx, id)
	t, err := s.tenant(ctx, id)
	if err == nil && fields == nil {
		err = mnemo.Errorf(mnemo.EINVALID, "JSON body is required")
	}
	if err == nil {
		err = applyTenantPatch(t, fields)
	}
	if err != nil {
		s.audit(ctx, admin, "tenant.update", id, id, err)
		return nil, err
	}
	t.UpdatedAt = s.now()
	err = s.b.Tenants.UpdateTenant(ctx, t)
	s.audit(ctx, admin, "tenant.update", t.ID, t.ID, err)
	if err != nil {
		return nil, err
	}
	// The next request builds its bucket from the new settings.
	if err := s.b.Rate.ResetRate(ctx, t.ID); err != nil {
		s.logger.Error("reset the rate limit of an updated tenant", "tenant", t.ID, "err", err)
	}
	return t, nil
}

func applyTenantPatch(t *mnemo.Tenant, body map[string]any) error {
	known := map[string]bool{"name": true, "status": true, "status_reason": true, "rate_limit": true, "quotas": true}
	for k := range body {
		if !known[k] {
			return mnemo.Errorf(mnemo.EINVALID, "unknown field '%s': expected name, status, status_reason, rate_limit or quotas", k)
		}
	}
	if v, ok := body["name"]; ok {
		n, isString := v.(string)
		if !isString || strings.TrimSpace(n) == "" || len(n) > 200 {
			return mnemo.Errorf(mnemo.EINVALID, "'name' must be a non-empty string of at most 200 characters")
		}
		t.Name = strings.TrimSpace(n)
	}
	if v, ok := body["status"]; ok {
		st, _ := v.(string)
		switch st {
		case mnemo.TenantActive, mnemo.TenantSuspended, mnemo.TenantReadOnly:
			t.Status = st
		default:
			return mnemo.Errorf(mnemo.EINVALID, "'status' must be one of active, suspended, read_only")
		}
		if st == mnemo.TenantActive {
			t.StatusReason = ""
		}
	}
	if v, ok := body["status_reason"]; ok {
		if v == nil {
			t.StatusReason = ""
		} else if reason, isString := v.(string); !isString || len(reason) > 500 {
			return mnemo.Errorf(mnemo.EINVALID, "'status_reason' must be a string of at most 500 characters")
		} else {
			t.StatusReason = strings.TrimSpace(reason)
		}
	}
	if v, ok := body["rate_limit"]; ok {
		if v == nil {
			t.RateLimit = nil
		} else {
			obj, isObject := v.(map[string]any)
			rps, rpsOK := obj["requests_per_second"].(float64)
			burst, burstOK := obj["burst"].(float64)
			if !isObject || !rpsOK || rps <= 0 || rps > 1e6 {
				return mnemo.Errorf(mnemo.EINVALID, "'rate_limit.requests_per_second' must be a number above 0 (at most 1000000)")
			}
			if !burstOK || burst < 1 || burst > 1e6 || burst != float64(int(burst)) {
				return mnemo.Errorf(mnemo.EINVALID, "'rate_limit.burst' must be an integer from 1 to 1000000")
			}
			t.RateLimit = &mnemo.RateLimit{RequestsPerSecond: rps, Burst: int(burst)}
		}
	}
	if v, ok := body["quotas"]; ok {
		if v == nil {
			t.Quotas = mnemo.Quotas{}
		} else {
			obj, isObject := v.(map[string]any)
			if !isObject {
				return mnemo.Errorf(mnemo.EINVALID, "'quotas' must be an object with max_memories and/or max_storage_mb")
			}
			if q, ok := obj["max_memories"]; ok {
				if q == nil {
					t.Quotas.MaxMemories = nil
				} else if n, isNum := q.(float64); !isNum || n < 0 || n != float64(int64(n)) {
					return mnemo.Errorf(mnemo.EINVALID, "'quotas.max_memories' must be a non-negative integer or null")
				} else {
					m := int64(n)
					t.Quotas.MaxMemories = &m
				}
			}
			if q, ok := obj["max_storage_mb"]; ok {
				if q == nil {
					t.Quotas.MaxStorageMB = nil
				} else if n, isNum := q.(float64); !isNum || n <= 0 {
					return mnemo.Errorf(mnemo.EINVALID, "'quotas.max_storage_mb' must be a number above 0 or null")
				} else {
					t.Quotas.MaxStorageMB = &n
				}
			}
		}
	}
	return nil
}
