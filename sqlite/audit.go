package sqlite

import (
	"context"

	"github.com/mnemohq/mnemo"
)

// AppendAudit records an audit event; it is on disk when this returns.
func (r *Registry) AppendAudit(ctx context.Context, e *mnemo.AuditEvent) error {
	return r.db.write(ctx, func(tx *txn) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO audit (at, actor, tenant_id, action, target, request_id, outcome) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			micros(e.At), e.Actor, e.TenantID, e.Action, e.Target, e.RequestID, e.Outcome)
		if err != nil {
			return err
		}
		e.ID, _ = res.LastInsertId()
		return nil
	})
}

// Audit returns events matching f, newest first.
func (r *Registry) Audit(ctx context.Context, f mnemo.AuditFilter) ([]*mnemo.AuditEvent, error) {
	q := `SELECT id, at, actor, tenant_id, action, target, request_id, outcome FROM audit WHERE 1`
	var args []any
	if f.TenantID != "" {
		q += ` AND tenant_id = ?`
		args = append(args, f.TenantID)
	}
	if f.Action != "" {
		q += ` AND action = ?`
		args = append(args, f.Action)
	}
	if !f.Since.IsZero() {
		q += ` AND at >= ?`
		args = append(args, micros(f.Since))
	}
	rows, err := r.db.reader.QueryContext(ctx, q+` ORDER BY id DESC LIMIT ?`, append(args, f.Limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*mnemo.AuditEvent{}
	for rows.Next() {
		var e mnemo.AuditEvent
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.TenantID, &e.Action, &e.Target, &e.RequestID, &e.Outcome); err != nil {
			return nil, err
		}
		e.At = fromMicros(at)
		out = append(out, &e)
	}
	return out, rows.Err()
}
