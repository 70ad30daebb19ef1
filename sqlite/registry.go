package sqlite

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/mnemohq/mnemo"
)

var registryMigrations = []migration{
	execAll(
		`CREATE TABLE tenants (
			id            TEXT PRIMARY KEY,
			name          TEXT NOT NULL,
			status        TEXT NOT NULL,
			created_at    INTEGER NOT NULL,
			updated_at    INTEGER NOT NULL,
			memories      INTEGER NOT NULL DEFAULT 0,
			relations     INTEGER NOT NULL DEFAULT 0,
			vectors       INTEGER NOT NULL DEFAULT 0,
			storage_bytes INTEGER NOT NULL DEFAULT 0
		)`,
		`CREATE TABLE keys (
			id           TEXT PRIMARY KEY,
			tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
			hash         BLOB NOT NULL UNIQUE,
			prefix       TEXT NOT NULL,
			label        TEXT NOT NULL,
			scopes       TEXT NOT NULL,
			created_at   INTEGER NOT NULL,
			expires_at   INTEGER,
			last_used_at INTEGER
		)`,
		`CREATE INDEX keys_tenant ON keys(tenant_id)`,
	),
	// Version 2: key revocation, tenant limits and status reasons, the
	// audit log and usage counters.
	execAll(
		`ALTER TABLE keys ADD COLUMN revoked_at INTEGER`,
		`ALTER TABLE tenants ADD COLUMN status_reason TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE tenants ADD COLUMN rate_rps REAL`,
		`ALTER TABLE tenants ADD COLUMN rate_burst INTEGER`,
		`ALTER TABLE tenants ADD COLUMN max_memories INTEGER`,
		`ALTER TABLE tenants ADD COLUMN max_storage_mb REAL`,
		`ALTER TABLE tenants ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0`,
		// The audit log and usage are not tied to the tenant row: they
		// outlive its deletion.
		`CREATE TABLE audit (
			id         INTEGER PRIMARY KEY,
			at         INTEGER NOT NULL,
			actor      TEXT NOT NULL,
			tenant_id  TEXT NOT NULL,
			action     TEXT NOT NULL,
			target     TEXT NOT NULL,
			request_id TEXT NOT NULL,
			outcome    TEXT NOT NULL
		)`,
		`CREATE INDEX audit_tenant ON audit(tenant_id, id)`,
		`CREATE INDEX audit_action ON audit(action, id)`,
		`CREATE INDEX audit_at ON audit(at)`,
		`CREATE TABLE usage (
			tenant_id TEXT NOT NULL,
			day       TEXT NOT NULL,
			kind      TEXT NOT NULL,
			count     INTEGER NOT NULL,
			PRIMARY KEY (tenant_id, day, kind)
		) WITHOUT ROWID`,
	),
	// Version 3: answers kept for Idempotency-Key retries.
	execAll(
		`CREATE TABLE idempotency (
			tenant_id   TEXT NOT NULL,
			key         TEXT NOT NULL,
			fingerprint BLOB NOT NULL,
			status      INTEGER NOT NULL,
			body        BLOB,
			created_at  INTEGER NOT NULL,
			PRIMARY KEY (tenant_id, key)
		) WITHOUT ROWID`,
		`CREATE INDEX idempotency_created ON idempotency(created_at)`,
	),
	// Version 4: OAuth 2.1 for MCP connectors. Codes and tokens are kept
	// only as hashes and are bound to the tenant key the customer entered.
	execAll(
		`CREATE TABLE oauth_clients (
			id            TEXT PRIMARY KEY,
			name          TEXT NOT NULL,
			redirect_uris TEXT NOT NULL,
			created_at    INTEGER NOT NULL
		)`,
		`CREATE TABLE oauth_grants (
			hash           BLOB PRIMARY KEY,
			kind           TEXT NOT NULL,
			client_id      TEXT NOT NULL,
			key_id         TEXT NOT NULL REFERENCES keys(id) ON DELETE CASCADE,
			scopes         TEXT NOT NULL,
			redirect_uri   TEXT NOT NULL DEFAULT '',
			code_challenge TEXT NOT NULL DEFAULT '',
			expires_at     INTEGER NOT NULL,
			used           INTEGER NOT NULL DEFAULT 0
		)`,
		`CREATE INDEX oauth_grants_key ON oauth_grants(key_id)`,
	),
}

// Registry keeps tenants and keys in registry.db.
type Registry struct {
	db *db
}

var _ mnemo.Registry = (*Registry)(nil)

// OpenRegistry opens (creating and migrating) dataDir/registry.db.
func OpenRegistry(ctx context.Context, dataDir string) (*Registry, error) {
	d, err := openDB(ctx, filepath.Join(dataDir, "registry.db"), 4, registryMigrations)
	if err != nil {
		return nil, err
	}
	return &Registry{db: d}, nil
}

// Close closes the registry database.
func (r *Registry) Close() error { return r.db.close() }

func micros(t time.Time) int64 { return t.UTC().UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return micros(*t)
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// CreateTenant inserts t and its first key in one transaction, so a tenant
// never exists without a way in. A taken id or token is a 409.
func (r *Registry) CreateTenant(ctx context.Context, t *mnemo.Tenant, key *mnemo.Key, keyHash []byte) error {
	return r.db.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM tenants WHERE id = ?`, t.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return mnemo.Errorf(mnemo.ECONFLICT, "Tenant '%s' already exists", t.ID)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM keys WHERE hash = ?`, keyHash).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return mnemo.Errorf(mnemo.ECONFLICT, "'api_token' is already in use; choose another token")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, status, status_reason, rate_rps, rate_burst, max_memories, max_storage_mb, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			append(append([]any{t.ID, t.Name, t.Status, t.StatusReason}, tenantLimitArgs(t)...), micros(t.CreatedAt), micros(t.UpdatedAt))...); err != nil {
			return fmt.Errorf("insert tenant: %w", err)
		}
		scopes, _ := json.Marshal(key.Scopes)
		if _, err := tx.ExecContext(ctx, `INSERT INTO keys (id, tenant_id, hash, prefix, label, scopes, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			key.ID, t.ID, keyHash, key.Prefix, key.Label, string(scopes), micros(key.CreatedAt), nullMicros(key.ExpiresAt)); err != nil {
			return fmt.Errorf("insert key: %w", err)
		}
		return nil
	})
}

const tenantColumns = `t.id, t.name, t.status, t.status_reason, t.rate_rps, t.rate_burst, t.max_memories, t.max_storage_mb,
	t.created_at, t.updated_at, t.memories, t.relations, t.vectors, t.storage_bytes, t.stored_bytes`

func scanTenant(row interface{ Scan(...any) error }, extra ...any) (*mnemo.Tenant, error) {
	var t mnemo.Tenant
	var created, updated int64
	var rps, maxMB sql.NullFloat64
	var burst, maxMem sql.NullInt64
	dest := append([]any{&t.ID, &t.Name, &t.Status, &t.StatusReason, &rps, &burst, &maxMem, &maxMB, &created, &updated,
		&t.Stats.Memories, &t.Stats.Relations, &t.Stats.Vectors, &t.Stats.StorageBytes, &t.Stats.StoredBytes}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	t.CreatedAt, t.UpdatedAt = fromMicros(created), fromMicros(updated)
	if rps.Valid {
		t.RateLimit = &mnemo.RateLimit{RequestsPerSecond: rps.Float64, Burst: int(burst.Int64)}
	}
	if maxMem.Valid {
		t.Quotas.MaxMemories = &maxMem.Int64
	}
	if maxMB.Valid {
		t.Quotas.MaxStorageMB = &maxMB.Float64
	}
	return &t, nil
}

func tenantLimitArgs(t *mnemo.Tenant) []any {
	var rps, burst, maxMem, maxMB any
	if t.RateLimit != nil {
		rps, burst = t.RateLimit.RequestsPerSecond, t.RateLimit.Burst
	}
	if t.Quotas.MaxMemories != nil {
		maxMem = *t.Quotas.MaxMemories
	}
	if t.Quotas.MaxStorageMB != nil {
		maxMB = *t.Quotas.MaxStorageMB
	}
	return []any{rps, burst, maxMem, maxMB}
}

// Tenant returns one tenant or ENOTFOUND.
func (r *Registry) Tenant(ctx context.Context, id string) (*mnemo.Tenant, error) {
	t, err := scanTenant(r.db.reader.QueryRowContext(ctx, `SELECT `+tenantColumns+` FROM tenants t WHERE t.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, mnemo.Errorf(mnemo.ENOTFOUND, "Tenant '%s' not found", id)
	}
	return t, err
}

// Tenants returns a page of tenants, oldest first, and the total count.
func (r *Registry) Tenants(ctx context.Context, limit, offset int) ([]*mnemo.Tenant, int, error) {
	var total int
	if err := r.db.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM tenants`).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := r.db.reader.QueryContext(ctx, `SELECT `+tenantColumns+` FROM tenants t ORDER BY t.created_at, t.id LIMIT ? OFFSET ?`, limit, offset)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []*mnemo.Tenant{}
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, t)
	}
	return out, total, rows.Err()
}

// DeleteTenant removes a tenant and, by cascade, its keys: its tokens stop
// working with this commit.
func (r *Registry) DeleteTenant(ctx context.Context, id string) error {
	return r.db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM tenants WHERE id = ?`, id)
		if err != nil {
			return err
		}
		// Kept answers hold the tenant's data: they go with it, so a new
		// tenant of the same id can never be replayed the old one's.
		if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency WHERE tenant_id = ?`, id); err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return mnemo.Errorf(mnemo.ENOTFOUND, "Tenant '%s' not found", id)
		}
		return nil
	})
}

// Authenticate finds the key whose token hashes to keyHash. The lookup is by
// an index on the hash; the stored hash is then compared in constant time.
func (r *Registry) Authenticate(ctx context.Context, keyHash []byte) (*mnemo.Key, *mnemo.Tenant, error) {
	var k mnemo.Key
	var stored []byte
	var scopes string
	var created int64
	var expires, lastUsed sql.NullInt64
	t, err := scanTenant(r.db.reader.QueryRowContext(ctx, `SELECT `+tenantColumns+`,
			k.id, k.hash, k.prefix, k.label, k.scopes, k.created_at, k.expires_at, k.last_used_at
		FROM keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.hash = ? AND k.revoked_at IS NULL`, keyHash),
		&k.ID, &stored, &k.Prefix, &k.Label, &scopes, &created, &expires, &lastUsed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, mnemo.Errorf(mnemo.EUNAUTHORIZED, "Unauthorized")
	}
	if err != nil {
		return nil, nil, err
	}
	if subtle.ConstantTimeCompare(stored, keyHash) != 1 {
		return nil, nil, mnemo.Errorf(mnemo.EUNAUTHORIZED, "Unauthorized")
	}
	k.TenantID = t.ID
	k.CreatedAt = fromMicros(created)
	k.ExpiresAt, k.LastUsedAt = fromNullMicros(expires), fromNullMicros(lastUsed)
	if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
		return nil, nil, fmt.Errorf("key %s scopes: %w", k.ID, err)
	}
	if k.ExpiresAt != nil && !time.Now().Before(*k.ExpiresAt) {
		return nil, nil, mnemo.Errorf(mnemo.EUNAUTHORIZED, "Unauthorized")
	}
	return &k, t, nil
}

// SetTenantStats mirrors a tenant store's counters into the registry.
func (r *Registry) SetTenantStats(ctx context.Context, id string, s mnemo.TenantStats) error {
	return r.db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE tenants SET memories = ?, relations = ?, vectors = ?, storage_bytes = ?, stored_bytes = ? WHERE id = ?`,
			s.Memories, s.Relations, s.Vectors, s.StorageBytes, s.StoredBytes, id)
		return err
	})
}

// AddKey adds a key to an existing tenant; a token already in use is a 409.
func (r *Registry) AddKey(ctx context.Context, key *mnemo.Key, keyHash []byte) error {
	return r.db.write(ctx, func(tx *sql.Tx) error {
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
