package sqlite

import (
	"context"

	"github.com/mnemohq/mnemo"
)

// AppendAudit records an audit event; it is on disk when this returns. An
// event about a tenant without an incarnation gets the id's latest.
func (r *Registry) AppendAudit(ctx context.Context, e *mnemo.AuditEvent) error {
	return r.db.write(ctx, func(tx *txn) error {
		return tx.QueryRowContext(ctx, `INSERT INTO audit (at, actor, tenant_id, action, target, request_id, outcome, incarnation)
			VALUES (?, ?, ?, ?, ?, ?, ?, coalesce(nullif(?, 0), (SELECT max(incarnation) FROM incarnations WHERE tenant_id = ?), 0))
			RETURNING id, incarnation`,
			micros(e.At), e.Actor, e.TenantID, e.Action, e.Target, e.RequestID, e.Outcome, e.Incarnation, e.TenantID).Scan(&e.ID, &e.Incarnation)
	})
}

// Audit returns events matching f, newest first. With a tenant and no
// incarnation, the tenant id's latest incarnation is read.
func (r *Registry) Audit(ctx context.Context, f mnemo.AuditFilter) ([]*mnemo.AuditEvent, error) {
	q := `SELECT ` + auditColumns + ` FROM audit WHERE 1`
	var args []any
	if f.TenantID != "" {
		inc := f.Incarnation
		if inc == 0 {
			var err error
			if inc, err = r.latestIncarnation(ctx, f.TenantID); err != nil {
				return nil, err
			}
		}
		q += ` AND tenant_id = ? AND incarnation = ?`
		args = append(args, f.TenantID, inc)
	}
	if f.Action != "" {
		q += ` AND action = ?`
		args = append(args, f.Action)
	}
	if !f.Since.IsZero() {
		q += ` AND at >= ?`
		args = append(args, micros(f.Since))
	}
	return r.auditEvents(ctx, q+` ORDER BY id DESC LIMIT ?`, append(args, f.Limit)...)
}

// auditColumns are what auditEvents reads.
const auditColumns = `id, at, actor, tenant_id, action, target, request_id, outcome, incarnation`

// auditEvents runs a query of auditColumns.
func (r *Registry) auditEvents(ctx context.Context, query string, args ...any) ([]*mnemo.AuditEvent, error) {
	rows, err := r.db.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*mnemo.AuditEvent{}
	for rows.Next() {
		var e mnemo.AuditEvent
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.TenantID, &e.Action, &e.Target, &e.RequestID, &e.Outcome, &e.Incarnation); err != nil {
			return nil, err
		}
		e.At = fromMicros(at)
		out = append(out, &e)
	}
	return out, rows.Err()
}
