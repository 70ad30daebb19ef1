package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mnemohq/mnemo"
)

// UpdateTenant writes a tenant's name, status, reason, rate limit and
// quotas.
func (r *Registry) UpdateTenant(ctx context.Context, t *mnemo.Tenant) error {
	return r.db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tenants SET name = ?, status = ?, status_reason = ?,
			rate_rps = ?, rate_burst = ?, max_memories = ?, max_storage_mb = ?, updated_at = ? WHERE id = ?`,
			append(append([]any{t.Name, t.Status, t.StatusReason}, tenantLimitArgs(t)...), micros(t.UpdatedAt), t.ID)...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return mnemo.Errorf(mnemo.ENOTFOUND, "Tenant '%s' not found", t.ID)
		}
		return nil
	})
}

// Keys lists a tenant's keys, revoked ones included, oldest first.
func (r *Registry) Keys(ctx context.Context, tenantID string) ([]*mnemo.Key, error) {
	rows, err := r.db.reader.QueryContext(ctx, `SELECT id, tenant_id, prefix, label, scopes, created_at, expires_at, last_used_at, revoked_at
		FROM keys WHERE tenant_id = ? ORDER BY created_at, id`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*mnemo.Key{}
	for rows.Next() {
		var k mnemo.Key
		var scopes string
		var created int64
		var expires, used, revoked sql.NullInt64
		if err := rows.Scan(&k.ID, &k.TenantID, &k.Prefix, &k.Label, &scopes, &created, &expires, &used, &revoked); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
			return nil, fmt.Errorf("key %s scopes: %w", k.ID, err)
		}
		k.CreatedAt = fromMicros(created)
		k.ExpiresAt, k.LastUsedAt, k.RevokedAt = fromNullMicros(expires), fromNullMicros(used), fromNullMicros(revoked)
		out = append(out, &k)
	}
	return out, rows.Err()
}

// RevokeKey revokes one key of a tenant; it stops working with this commit.
// Revoking a revoked key is a 404, as is a key of another tenant.
func (r *Registry) RevokeKey(ctx context.Context, tenantID, keyID string, at time.Time) error {
	return r.db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE keys SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL`,
			micros(at), keyID, tenantID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return mnemo.Errorf(mnemo.ENOTFOUND, "Key '%s' not found for tenant '%s' (or already revoked)", keyID, tenantID)
		}
		return nil
	})
}

// TouchKey records when a key was last used.
func (r *Registry) TouchKey(ctx context.Context, keyID string, at time.Time) error {
	return r.db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE keys SET last_used_at = ? WHERE id = ?`, micros(at), keyID)
		return err
	})
}

// AppendAudit records an audit event.
func (r *Registry) AppendAudit(ctx context.Context, e *mnemo.AuditEvent) error {
	return r.db.write(ctx, func(tx *sql.Tx) error {
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

// AddUsage adds counts, in one transaction.
func (r *Registry) AddUsage(ctx context.Context, rows []mnemo.Usage) error {
	if len(rows) == 0 {
		return nil
	}
	return r.db.write(ctx, func(tx *sql.Tx) error {
		for _, u := range rows {
			if _, err := tx.ExecContext(ctx, `INSERT INTO usage (tenant_id, day, kind, count) VALUES (?, ?, ?, ?)
				ON CONFLICT (tenant_id, day, kind) DO UPDATE SET count = count + excluded.count`, u.TenantID, u.Day, u.Kind, u.Count); err != nil {
				return err
			}
		}
		return nil
	})
}

// Usage returns the counters from day from to day to (inclusive), for one
// tenant or, with an empty tenantID, for all, ordered by tenant, day, kind.
func (r *Registry) Usage(ctx context.Context, tenantID, from, to string) ([]mnemo.Usage, error) {
	q := `SELECT tenant_id, day, kind, count FROM usage WHERE day >= ? AND day <= ?`
	args := []any{from, to}
	if tenantID != "" {
		q += ` AND tenant_id = ?`
		args = append(args, tenantID)
	}
	rows, err := r.db.reader.QueryContext(ctx, q+` ORDER BY tenant_id, day, kind`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []mnemo.Usage
	for rows.Next() {
		var u mnemo.Usage
		if err := rows.Scan(&u.TenantID, &u.Day, &u.Kind, &u.Count); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
