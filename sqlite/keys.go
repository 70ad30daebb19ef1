package sqlite

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mnemohq/mnemo"
)

// UpdateTenant writes a tenant's name, status, reason, rate limit and
// quotas.
func (r *Registry) UpdateTenant(ctx context.Context, t *mnemo.Tenant) error {
	return r.db.write(ctx, func(tx *txn) error {
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

// AddKey adds a key to an existing tenant; a token already in use is a 409.
func (r *Registry) AddKey(ctx context.Context, key *mnemo.Key, keyHash []byte) error {
	if err := r.db.disk.Load().refuse(); err != nil { // new data: the reserve is for deletes and usage
		return err
	}
	return r.db.write(ctx, func(tx *txn) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM keys WHERE hash = ?`, keyHash).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return mnemo.Errorf(mnemo.ECONFLICT, "'api_token' is already in use; choose another token")
		}
		scopes, _ := json.Marshal(key.Scopes)
		res, err := tx.ExecContext(ctx, `INSERT INTO keys (id, tenant_id, hash, prefix, label, scopes, created_at, expires_at)
			SELECT ?, id, ?, ?, ?, ?, ?, ? FROM tenants WHERE id = ?`,
			key.ID, keyHash, key.Prefix, key.Label, string(scopes), micros(key.CreatedAt), nullMicros(key.ExpiresAt), key.TenantID)
		if err != nil {
			return fmt.Errorf("insert key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return mnemo.Errorf(mnemo.ENOTFOUND, "Tenant '%s' not found", key.TenantID)
		}
		return nil
	})
}

const keyColumns = `k.id, k.tenant_id, k.hash, k.prefix, k.label, k.scopes, k.created_at, k.expires_at, k.last_used_at, k.revoked_at`

// keyRow receives keyColumns.
type keyRow struct {
	k                      mnemo.Key
	hash                   []byte
	scopes                 string
	created                int64
	expires, used, revoked sql.NullInt64
}

func (kr *keyRow) dest() []any {
	return []any{&kr.k.ID, &kr.k.TenantID, &kr.hash, &kr.k.Prefix, &kr.k.Label, &kr.scopes, &kr.created, &kr.expires, &kr.used, &kr.revoked}
}

// key finishes a scanned key, with its last use not yet flushed.
func (r *Registry) key(kr *keyRow) (*mnemo.Key, error) {
	k := kr.k
	if err := json.Unmarshal([]byte(kr.scopes), &k.Scopes); err != nil {
		return nil, fmt.Errorf("key %s scopes: %w", k.ID, err)
	}
	k.CreatedAt = fromMicros(kr.created)
	k.ExpiresAt, k.LastUsedAt, k.RevokedAt = fromNullMicros(kr.expires), fromNullMicros(kr.used), fromNullMicros(kr.revoked)
	r.mu.Lock()
	if at, ok := r.touches[k.ID]; ok && (k.LastUsedAt == nil || at.After(*k.LastUsedAt)) {
		k.LastUsedAt = &at
	}
	r.mu.Unlock()
	return &k, nil
}

// Keys lists a tenant's keys, revoked ones included, oldest first.
func (r *Registry) Keys(ctx context.Context, tenantID string) ([]*mnemo.Key, error) {
	rows, err := r.db.reader.QueryContext(ctx, `SELECT `+keyColumns+` FROM keys k WHERE k.tenant_id = ? ORDER BY k.created_at, k.id`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*mnemo.Key{}
	for rows.Next() {
		var kr keyRow
		if err := rows.Scan(kr.dest()...); err != nil {
			return nil, err
		}
		k, err := r.key(&kr)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// KeyByHash finds the unrevoked key whose token hashes to keyHash, by an
// index on the hash; the stored hash is then compared in constant time.
func (r *Registry) KeyByHash(ctx context.Context, keyHash []byte) (*mnemo.Key, *mnemo.Tenant, error) {
	k, t, stored, err := r.keyWhere(ctx, `k.hash = ? AND k.revoked_at IS NULL`, keyHash)
	if err == nil && subtle.ConstantTimeCompare(stored, keyHash) != 1 {
		err = sql.ErrNoRows
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, mnemo.Errorf(mnemo.EUNAUTHORIZED, "Unauthorized")
	}
	return k, t, err
}

// KeyByID returns a key, revoked or not, with its tenant.
func (r *Registry) KeyByID(ctx context.Context, id string) (*mnemo.Key, *mnemo.Tenant, error) {
	k, t, _, err := r.keyWhere(ctx, `k.id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, mnemo.Errorf(mnemo.ENOTFOUND, "Key '%s' not found", id)
	}
	return k, t, err
}

func (r *Registry) keyWhere(ctx context.Context, where string, arg any) (*mnemo.Key, *mnemo.Tenant, []byte, error) {
	var kr keyRow
	t, err := r.scanTenant(r.db.reader.QueryRowContext(ctx, `SELECT `+tenantColumns+`, `+keyColumns+`
		FROM keys k JOIN tenants t ON t.id = k.tenant_id WHERE `+where, arg), kr.dest()...)
	if err != nil {
		return nil, nil, nil, err
	}
	k, err := r.key(&kr)
	if err != nil {
		return nil, nil, nil, err
	}
	return k, t, kr.hash, nil
}

// RevokeKey revokes one key of a tenant; it stops working with this commit.
// Revoking a revoked key is a 404, as is a key of another tenant.
func (r *Registry) RevokeKey(ctx context.Context, tenantID, keyID string, at time.Time) error {
	return r.db.write(ctx, func(tx *txn) error {
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

// TouchKey records when a key was last used. It is buffered: see Registry.
func (r *Registry) TouchKey(ctx context.Context, keyID string, at time.Time) error {
	r.mu.Lock()
	if cur, ok := r.touches[keyID]; !ok || at.After(cur) {
		r.touches[keyID] = at
	}
	r.mu.Unlock()
	return nil
}
