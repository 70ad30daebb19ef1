package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"sync"
	"sync/atomic"
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
	// Version 5: OAuth an operator can trust. Clients record their first
	// token, so that those never used expire; grants record the
	// authorization they come from (their family), so that a reused code
	// or refresh token revokes it whole. A grant from before has a family
	// of its own, and a client holding tokens from before counts as used
	// (since its registration): it is a connector in service, not one to
	// expire.
	execAll(
		`ALTER TABLE oauth_clients ADD COLUMN used_at INTEGER`,
		`UPDATE oauth_clients SET used_at = created_at
			WHERE id IN (SELECT client_id FROM oauth_grants WHERE kind IN ('access', 'refresh'))`,
		`CREATE INDEX oauth_clients_unused ON oauth_clients(created_at) WHERE used_at IS NULL`,
		`ALTER TABLE oauth_grants ADD COLUMN family TEXT NOT NULL DEFAULT ''`,
		`UPDATE oauth_grants SET family = lower(hex(hash))`,
		`CREATE INDEX oauth_grants_family ON oauth_grants(family)`,
		`CREATE INDEX oauth_grants_client ON oauth_grants(client_id)`,
		`CREATE INDEX oauth_grants_expires ON oauth_grants(expires_at)`,
	),
	// Version 6: records with a lifetime. A tenant id may be deleted and
	// created again: each life of it is an incarnation, and usage and audit
	// rows carry theirs, so the new tenant starts clean while the old one's
	// usage stays readable for its last bill. What exists now is
	// incarnation 1; a deleted tenant known only by its records gets an
	// incarnation 1 spanning them, so its id created again is number 2.
	// Usage gains an index by day and audit one by incarnation, for the
	// pruner and the readers; a client records its last activity, so an
	// idle one can expire.
	//
	// An id that exists now and was deleted before it was created (a
	// successful tenant.delete in the audit before its created_at) is
	// another customer than the one its older rows are about: those rows,
	// up to the last such delete, are a closed incarnation 1 ending at that
	// delete, and the tenant is incarnation 2. Usage is per day, so the day
	// of that delete goes whole to incarnation 1 (docs/operations.md,
	// Retention): the new customer is never billed for the old one.
	// Earlier deletes of the id are not told apart: its older lives are all
	// in incarnation 1.
	execAll(
		`ALTER TABLE tenants ADD COLUMN incarnation INTEGER NOT NULL DEFAULT 1`,
		`CREATE TABLE incarnations (
			tenant_id   TEXT NOT NULL,
			incarnation INTEGER NOT NULL,
			created_at  INTEGER NOT NULL,
			deleted_at  INTEGER,
			PRIMARY KEY (tenant_id, incarnation)
		) WITHOUT ROWID`,
		`CREATE INDEX incarnations_deleted ON incarnations(deleted_at) WHERE deleted_at IS NOT NULL`,
		`CREATE TEMP TABLE recreated AS
			SELECT t.id AS tenant_id, max(a.at) AS deleted_at, date(max(a.at) / 1000000, 'unixepoch') AS deleted_day
			FROM tenants t JOIN audit a ON a.tenant_id = t.id
			WHERE a.action = 'tenant.delete' AND a.outcome = 'success' AND a.at < t.created_at
			GROUP BY t.id`,
		`UPDATE tenants SET incarnation = 2 WHERE id IN (SELECT tenant_id FROM recreated)`,
		`INSERT INTO incarnations (tenant_id, incarnation, created_at) SELECT id, incarnation, created_at FROM tenants`,
		`INSERT INTO incarnations (tenant_id, incarnation, created_at, deleted_at)
			SELECT r.tenant_id, 1, min(
				(SELECT min(at) FROM audit WHERE tenant_id = r.tenant_id AND at <= r.deleted_at),
				coalesce((SELECT unixepoch(min(day)) * 1000000 FROM usage WHERE tenant_id = r.tenant_id AND day <= r.deleted_day), r.deleted_at)),
				r.deleted_at
			FROM recreated r`,
		`INSERT OR IGNORE INTO incarnations (tenant_id, incarnation, created_at, deleted_at)
			SELECT tenant_id, 1, min(at), max(at) FROM audit
			WHERE tenant_id != '' AND tenant_id NOT IN (SELECT id FROM tenants) GROUP BY tenant_id`,
		`INSERT OR IGNORE INTO incarnations (tenant_id, incarnation, created_at, deleted_at)
			SELECT tenant_id, 1, unixepoch(min(day)) * 1000000, unixepoch(max(day), '+1 day') * 1000000 FROM usage
			WHERE tenant_id NOT IN (SELECT id FROM tenants) GROUP BY tenant_id`,
		`ALTER TABLE audit ADD COLUMN incarnation INTEGER NOT NULL DEFAULT 1`,
		`UPDATE audit SET incarnation = 0 WHERE tenant_id = ''`,
		`UPDATE audit SET incarnation = 2 WHERE at > (SELECT deleted_at FROM recreated WHERE tenant_id = audit.tenant_id)`,
		`DROP INDEX audit_tenant`,
		`CREATE INDEX audit_tenant ON audit(tenant_id, incarnation, id)`,
		`CREATE TABLE usage_v6 (
			tenant_id   TEXT NOT NULL,
			incarnation INTEGER NOT NULL,
			day         TEXT NOT NULL,
			kind        TEXT NOT NULL,
			count       INTEGER NOT NULL,
			PRIMARY KEY (tenant_id, incarnation, day, kind)
		) WITHOUT ROWID`,
		`INSERT INTO usage_v6 (tenant_id, incarnation, day, kind, count)
			SELECT u.tenant_id, CASE WHEN u.day > r.deleted_day THEN 2 ELSE 1 END, u.day, u.kind, u.count
			FROM usage u LEFT JOIN recreated r ON r.tenant_id = u.tenant_id`,
		`DROP TABLE usage`,
		`ALTER TABLE usage_v6 RENAME TO usage`,
		`CREATE INDEX usage_day ON usage(day)`,
		`ALTER TABLE oauth_clients ADD COLUMN active_at INTEGER`,
		`UPDATE oauth_clients SET active_at = used_at`,
		`DROP TABLE temp.recreated`,
	),
}

// Registry keeps the service's shared state in registry.db: tenants and
// keys, audit, usage, idempotency records and OAuth state.
//
// Three kinds of write are frequent and need not be durable at once: usage
// counters, the mirror of each tenant store's counters, and key touches.
// They are kept in memory, shown by every read at once, and written in one
// transaction every flush interval and at Close, so a request costs the
// registry no fsync. A crash loses at most the last interval of them: the
// tenant counters are corrected when the tenant's store next opens; usage
// and touches of that interval are lost (the README says so).
type Registry struct {
	db *db

	// flushMu is held by a flush while it writes, and by Usage while it
	// reads, so a usage read sees each count once: buffered or on disk.
	flushMu sync.RWMutex
	mu      sync.Mutex
	usage   map[usageKey]int64
	stats   map[string]mnemo.TenantStats
	touches map[string]time.Time
	every   atomic.Int64 // flush interval, ns
	logger  *slog.Logger

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

type usageKey struct {
	tenant      string
	incarnation int64
	day, kind   string
}

var (
	_ mnemo.TenantRegistry   = (*Registry)(nil)
	_ mnemo.KeyRegistry      = (*Registry)(nil)
	_ mnemo.AuditLog         = (*Registry)(nil)
	_ mnemo.UsageLog         = (*Registry)(nil)
	_ mnemo.IdempotencyStore = (*Registry)(nil)
	_ mnemo.OAuthStore       = (*Registry)(nil)
	_ mnemo.Backuper         = (*Registry)(nil)
)

// DefaultFlushInterval is how often buffered registry writes reach disk.
const DefaultFlushInterval = time.Second

// OpenRegistry opens (creating and migrating) dataDir/registry.db and
// starts writing buffered counters every DefaultFlushInterval; Close stops
// that and writes what is left.
func OpenRegistry(ctx context.Context, dataDir string) (*Registry, error) {
	d, err := openDB(ctx, filepath.Join(dataDir, "registry.db"), 4, 0, registryMigrations)
	if err != nil {
		return nil, err
	}
	r := &Registry{db: d, usage: map[usageKey]int64{}, stats: map[string]mnemo.TenantStats{}, touches: map[string]time.Time{},
		logger: slog.New(slog.DiscardHandler), stop: make(chan struct{}), done: make(chan struct{})}
	r.every.Store(int64(DefaultFlushInterval))
	go r.run()
	return r, nil
}

// SetFlushInterval sets how often buffered writes reach disk (at most one
// interval of them is lost in a crash), from the next flush on.
func (r *Registry) SetFlushInterval(d time.Duration) { r.every.Store(int64(max(d, time.Millisecond))) }

// SetDisk sets the data directory's disk, which the registry's writes and
// those of tenant stores opened from now on report a full disk to, and
// which refuses new data while it is full. Call it before NewStores.
func (r *Registry) SetDisk(d *Disk) { r.db.disk.Store(d) }

// SetLogger sets where failed flushes are reported.
func (r *Registry) SetLogger(l *slog.Logger) { r.logger = l }

func (r *Registry) run() {
	defer close(r.done)
	t := time.NewTimer(time.Duration(r.every.Load()))
	defer t.Stop()
	failing := false // a failure is logged when it starts and ends, not every interval
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			err := r.Flush(context.Background())
			if err != nil && !failing {
				level := slog.LevelError
				if mnemo.ErrorCode(err) == mnemo.EFULL {
					level = slog.LevelWarn // the disk logs that it is full, once
				}
				r.logger.Log(context.Background(), level, "flush registry counters; kept for the next flush", "err", err)
			} else if err == nil && failing {
				r.logger.Info("registry counters flushed again")
			}
			failing = err != nil
			t.Reset(time.Duration(r.every.Load()))
		}
	}
}

// Close writes what is buffered and closes the registry database. Calls
// after the first return its result.
func (r *Registry) Close() error {
	r.closeOnce.Do(func() {
		close(r.stop)
		<-r.done
		r.closeErr = r.Flush(context.Background())
		if mnemo.ErrorCode(r.closeErr) == mnemo.EFULL {
			// Finding the disk full released the reserve: the flush has
			// room now, and what it holds is lost if it fails here.
			r.closeErr = r.Flush(context.Background())
		}
		if e := r.db.close(); r.closeErr == nil {
			r.closeErr = e
		}
	})
	return r.closeErr
}

// Flush writes the buffered usage, tenant counters and key touches in one
// transaction. What it cannot write stays buffered for the next flush.
// Counters and touches stay readable from memory until they are on disk.
func (r *Registry) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	usage := r.usage
	r.usage = map[usageKey]int64{}
	stats, touches := maps.Clone(r.stats), maps.Clone(r.touches)
	r.mu.Unlock()
	if len(usage) == 0 && len(stats) == 0 && len(touches) == 0 {
		return nil
	}
	err := r.db.write(ctx, func(tx *txn) error {
		for k, n := range usage {
			if _, err := tx.ExecContext(ctx, `INSERT INTO usage (tenant_id, incarnation, day, kind, count) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (tenant_id, incarnation, day, kind) DO UPDATE SET count = count + excluded.count`, k.tenant, k.incarnation, k.day, k.kind, n); err != nil {
				return err
			}
		}
		for id, s := range stats {
			if _, err := tx.ExecContext(ctx, `UPDATE tenants SET memories = ?, relations = ?, vectors = ?, storage_bytes = ?, stored_bytes = ? WHERE id = ?`,
				s.Memories, s.Relations, s.Vectors, s.StorageBytes, s.StoredBytes, id); err != nil {
				return err
			}
		}
		for id, at := range touches {
			if _, err := tx.ExecContext(ctx, `UPDATE keys SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?`, micros(at), id); err != nil {
				return err
			}
		}
		return nil
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		for k, n := range usage {
			r.usage[k] += n
		}
		return err
	}
	// What changed while the flush wrote stays for the next one.
	for id, s := range stats {
		if r.stats[id] == s {
			delete(r.stats, id)
		}
	}
	for id, at := range touches {
		if r.touches[id].Equal(at) {
			delete(r.touches, id)
		}
	}
	return nil
}

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
	if err := r.db.disk.Load().refuse(); err != nil {
		return err
	}
	return r.db.write(ctx, func(tx *txn) error {
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
		// The id's next incarnation: its records of earlier ones stay theirs.
		var inc int64
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(incarnation), 0) + 1 FROM incarnations WHERE tenant_id = ?`, t.ID).Scan(&inc); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, status, status_reason, rate_rps, rate_burst, max_memories, max_storage_mb, created_at, updated_at, incarnation)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			append(append([]any{t.ID, t.Name, t.Status, t.StatusReason}, tenantLimitArgs(t)...), micros(t.CreatedAt), micros(t.UpdatedAt), inc)...); err != nil {
			return fmt.Errorf("insert tenant: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO incarnations (tenant_id, incarnation, created_at) VALUES (?, ?, ?)`, t.ID, inc, micros(t.CreatedAt)); err != nil {
			return fmt.Errorf("insert incarnation: %w", err)
		}
		t.Incarnation = inc
		scopes, _ := json.Marshal(key.Scopes)
		if _, err := tx.ExecContext(ctx, `INSERT INTO keys (id, tenant_id, hash, prefix, label, scopes, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			key.ID, t.ID, keyHash, key.Prefix, key.Label, string(scopes), micros(key.CreatedAt), nullMicros(key.ExpiresAt)); err != nil {
			return fmt.Errorf("insert key: %w", err)
		}
		return nil
	})
}

const tenantColumns = `t.id, t.name, t.status, t.status_reason, t.rate_rps, t.rate_burst, t.max_memories, t.max_storage_mb,
	t.created_at, t.updated_at, t.memories, t.relations, t.vectors, t.storage_bytes, t.stored_bytes, t.incarnation`

func (r *Registry) scanTenant(row interface{ Scan(...any) error }, extra ...any) (*mnemo.Tenant, error) {
	var t mnemo.Tenant
	var created, updated int64
	var rps, maxMB sql.NullFloat64
	var burst, maxMem sql.NullInt64
	dest := append([]any{&t.ID, &t.Name, &t.Status, &t.StatusReason, &rps, &burst, &maxMem, &maxMB, &created, &updated,
		&t.Stats.Memories, &t.Stats.Relations, &t.Stats.Vectors, &t.Stats.StorageBytes, &t.Stats.StoredBytes, &t.Incarnation}, extra...)
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
	r.mu.Lock()
	if s, ok := r.stats[t.ID]; ok {
		t.Stats = s // newer than the row: not flushed yet
	}
	r.mu.Unlock()
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
	t, err := r.scanTenant(r.db.reader.QueryRowContext(ctx, `SELECT `+tenantColumns+` FROM tenants t WHERE t.id = ?`, id))
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
		t, err := r.scanTenant(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, t)
	}
	return out, total, rows.Err()
}

// tenantIndex returns every tenant's id with its mirrored counts of
// memories and relations.
func (r *Registry) tenantIndex(ctx context.Context) (map[string]mnemo.TenantStats, error) {
	rows, err := r.db.reader.QueryContext(ctx, `SELECT id, memories, relations FROM tenants`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]mnemo.TenantStats{}
	for rows.Next() {
		var id string
		var s mnemo.TenantStats
		if err := rows.Scan(&id, &s.Memories, &s.Relations); err != nil {
			return nil, err
		}
		out[id] = s
	}
	return out, rows.Err()
}

// DeleteTenant removes a tenant and, by cascade, its keys and their OAuth
// grants, and its kept idempotent answers: its tokens stop working with
// this commit. Its incarnation is closed, not removed: its usage and audit
// stay readable under it.
func (r *Registry) DeleteTenant(ctx context.Context, id string) error {
	err := r.db.write(ctx, func(tx *txn) error {
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
		// The incarnation ends; its usage and audit stay for their retention.
		_, err = tx.ExecContext(ctx, `UPDATE incarnations SET deleted_at = ? WHERE tenant_id = ? AND deleted_at IS NULL`, micros(time.Now()), id)
		return err
	})
	if err == nil {
		r.mu.Lock()
		delete(r.stats, id) // a tenant created again with this id starts at zero
		r.mu.Unlock()
	}
	return err
}

// SetTenantStats mirrors a tenant store's counters into the registry, so
// that listing tenants opens no store. It is buffered: see Registry.
func (r *Registry) SetTenantStats(id string, s mnemo.TenantStats) {
	r.mu.Lock()
	r.stats[id] = s
	r.mu.Unlock()
}
