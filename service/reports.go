package service

import (
	"context"

	"github.com/mnemohq/mnemo"
)

// Audit returns the events f selects, newest first.
func (s *Service) Audit(ctx context.Context, f mnemo.AuditFilter) ([]*mnemo.AuditEvent, error) {
	if f.Incarnation != 0 && f.TenantID == "" {
		return nil, errIncarnationAlone
	}
	return s.b.Audit.Audit(ctx, f)
}

// errIncarnationAlone: an incarnation is one life of a tenant id, so it
// means nothing without the id.
var errIncarnationAlone = mnemo.Errorf(mnemo.EINVALID, "'incarnation' selects one life of a tenant id: give 'tenant_id' too, or use /admin/tenants/{id}/...")

// TenantAudit returns one tenant's events that f selects, of one
// incarnation of its id (f.Incarnation; 0: the latest); a deleted tenant's
// stay for the audit retention. It is admin work on the tenant.
func (s *Service) TenantAudit(ctx context.Context, tenantID string, f mnemo.AuditFilter) ([]*mnemo.AuditEvent, error) {
	if err := mnemo.ValidateTenantID(tenantID); err != nil {
		return nil, err
	}
	if f.Incarnation < 0 {
		return nil, mnemo.Errorf(mnemo.EINVALID, "'incarnation' must be a positive integer")
	}
	s.adminWorkOn(ctx, tenantID, f.Incarnation)
	f.TenantID = tenantID
	return s.b.Audit.Audit(ctx, f)
}

// Usage returns the usage counters of one incarnation of a tenant id (0:
// the latest, the current one while it exists), or of all. Reading one
// tenant's is admin work on it, counted before the read, so it counts
// itself.
func (s *Service) Usage(ctx context.Context, tenantID string, incarnation int64, from, to string) ([]mnemo.Usage, error) {
	if tenantID == "" && incarnation != 0 {
		return nil, errIncarnationAlone
	}
	if tenantID != "" {
		if err := mnemo.ValidateTenantID(tenantID); err != nil {
			return nil, err
		}
		if incarnation < 0 {
			return nil, mnemo.Errorf(mnemo.EINVALID, "'incarnation' must be a positive integer")
		}
		s.adminWorkOn(ctx, tenantID, incarnation)
	}
	return s.b.Usage.Usage(ctx, tenantID, incarnation, from, to)
}

// adminWorkOn counts admin work on the tenant, unless it reads an earlier
// incarnation's records: the operator reading the old customer's bill is
// not work for the new one.
func (s *Service) adminWorkOn(ctx context.Context, tenantID string, incarnation int64) {
	if incarnation != 0 {
		if t, err := s.b.Tenants.Tenant(ctx, tenantID); err != nil || t.Incarnation != incarnation {
			return
		}
	}
	s.adminWork(ctx, tenantID)
}
