package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"iter"

	"github.com/mnemohq/mnemo"
)

var _ mnemo.RegistryArchiver = (*Registry)(nil)

// archivePage is how many audit events or usage rows one read of a dump
// takes: each page is a short read of its own, so a dump streamed to a
// slow client never holds a read transaction open long (a long one would
// keep the write-ahead log from being checkpointed).
const archivePage = 1000

// DumpRegistry yields every record; see mnemo.RegistryArchiver.
// Incarnations, tenants, keys and OAuth state are read in one read
// transaction (the registry without its logs is small: it is held in
// memory); then what is buffered is flushed, and the audit and usage logs
// are read in pages, keeping the rows of the dumped incarnations.
func (r *Registry) DumpRegistry(ctx context.Context) iter.Seq2[mnemo.RegistryRecord, error] {
	return func(yield func(mnemo.RegistryRecord, error) bool) {
		st, err := r.readArchiveState(ctx)
		if err != nil {
			yield(mnemo.RegistryRecord{}, fmt.Errorf("dump registry: %w", err))
			return
		}
		// Usage counted up to the read above is in the buffer or on disk:
		// flushed, the pages below see it.
		if err := r.Flush(ctx); err != nil {
			yield(mnemo.RegistryRecord{}, fmt.Errorf("dump registry: %w", err))
			return
		}
		known := map[usageKey]bool{}
		for _, in := range st.Incarnations {
			known[usageKey{tenant: in.TenantID, incarnation: in.Incarnation}] = true
		}
		if !st.Yield(yield) || !r.dumpAudit(ctx, known, yield) {
			return
		}
		r.dumpUsage(ctx, known, yield)
	}
}

func (r *Registry) readArchiveState(ctx context.Context) (*mnemo.RegistryState, error) {
	tx, err := r.db.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	st := &mnemo.RegistryState{}
	err = eachRow(ctx, tx, `SELECT tenant_id, incarnation, created_at, deleted_at FROM incarnations ORDER BY tenant_id, incarnation`, func(rows *sql.Rows) error {
		var in mnemo.IncarnationRecord
		var created int64
		var deleted sql.NullInt64
		if err := rows.Scan(&in.TenantID, &in.Incarnation, &created, &deleted); err != nil {
			return err
		}
		in.CreatedAt, in.DeletedAt = fromMicros(created), fromNullMicros(deleted)
		st.Incarnations = append(st.Incarnations, in)
		return nil
	})
	if err == nil {
		err = eachRow(ctx, tx, `SELECT `+tenantColumns+` FROM tenants t ORDER BY t.created_at, t.id`, func(rows *sql.Rows) error {
			t, err := r.scanTenant(rows)
			if err != nil {
				return err
			}
			t.Stats = mnemo.TenantStats{} // the stores' counters, not a record
			st.Tenants = append(st.Tenants, t)
			return nil
		})
	}
	if err == nil {
		err = eachRow(ctx, tx, `SELECT `+keyColumns+` FROM keys k ORDER BY k.tenant_id, k.created_at, k.id`, func(rows *sql.Rows) error {
			var kr keyRow
			if err := rows.Scan(kr.dest()...); err != nil {
				return err
			}
			k, err := r.key(&kr)
			if err != nil {
				return err
			}
			st.Keys = append(st.Keys, mnemo.KeyRecord{Key: *k, Hash: kr.hash})
			return nil
		})
	}
	if err == nil {
		err = eachRow(ctx, tx, `SELECT id, name, redirect_uris, created_at, used_at, active_at FROM oauth_clients ORDER BY created_at, id`, func(rows *sql.Rows) error {
			var c mnemo.OAuthClientRecord
			var uris string
			var created int64
			var used, active sql.NullInt64
			if err := rows.Scan(&c.Client.ID, &c.Client.Name, &uris, &created, &used, &active); err != nil {
				return err
			}
			c.Client.CreatedAt, c.Client.UsedAt, c.ActiveAt = fromMicros(created), fromNullMicros(used), fromNullMicros(active)
			if err := json.Unmarshal([]byte(uris), &c.Client.RedirectURIs); err != nil {
				return fmt.Errorf("client %s redirect URIs: %w", c.Client.ID, err)
			}
			st.Clients = append(st.Clients, c)
			return nil
		})
	}
	if err == nil {
		err = eachRow(ctx, tx, `SELECT hash, `+grantColumns+`, used FROM oauth_grants ORDER BY hash`, func(rows *sql.Rows) error {
			var g mnemo.OAuthGrantRecord
			var scopes string
			var expires int64
			if err := rows.Scan(&g.Grant.Hash, &g.Grant.Kind, &g.Grant.ClientID, &g.Grant.KeyID, &scopes, &g.Grant.RedirectURI,
				&g.Grant.CodeChallenge, &expires, &g.Grant.Family, &g.Used); err != nil {
				return err
			}
			g.Grant.ExpiresAt = fromMicros(expires)
			if err := json.Unmarshal([]byte(scopes), &g.Grant.Scopes); err != nil {
				return fmt.Errorf("grant scopes: %w", err)
			}
			st.Grants = append(st.Grants, g)
			return nil
		})
	}
	return st, err
}

// eachRow runs query in tx and calls fn on every row.
func eachRow(ctx context.Context, tx *sql.Tx, query string, fn func(*sql.Rows) error, args ...any) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// dumpAudit yields the audit log by id, a page per read; false when the
// sequence ended.
func (r *Registry) dumpAudit(ctx context.Context, known map[usageKey]bool, yield func(mnemo.RegistryRecord, error) bool) bool {
	after := int64(0)
	for {
		events, err := r.auditEvents(ctx, `SELECT `+auditColumns+` FROM audit WHERE id > ? ORDER BY id LIMIT ?`, after, archivePage)
		if err != nil {
			yield(mnemo.RegistryRecord{}, fmt.Errorf("dump audit: %w", err))
			return false
		}
		for _, e := range events {
			after = e.ID
			if e.TenantID != "" && e.Incarnation > 0 && !known[usageKey{tenant: e.TenantID, incarnation: e.Incarnation}] {
				continue // of a tenant created after the consistent read
			}
			if !yield(mnemo.RegistryRecord{Audit: e}, nil) {
				return false
			}
		}
		if len(events) < archivePage {
			return true
		}
	}
}

// dumpUsage yields the usage rows by tenant, incarnation, day and kind, a
// page per read.
func (r *Registry) dumpUsage(ctx context.Context, known map[usageKey]bool, yield func(mnemo.RegistryRecord, error) bool) {
	var after mnemo.Usage
	for {
		rows, err := r.db.reader.QueryContext(ctx, `SELECT tenant_id, incarnation, day, kind, count FROM usage
			WHERE (tenant_id, incarnation, day, kind) > (?, ?, ?, ?) ORDER BY tenant_id, incarnation, day, kind LIMIT ?`,
			after.TenantID, after.Incarnation, after.Day, after.Kind, archivePage)
		if err != nil {
			yield(mnemo.RegistryRecord{}, fmt.Errorf("dump usage: %w", err))
			return
		}
		var page []mnemo.Usage
		for rows.Next() {
			var u mnemo.Usage
			if err := rows.Scan(&u.TenantID, &u.Incarnation, &u.Day, &u.Kind, &u.Count); err != nil {
				rows.Close()
				yield(mnemo.RegistryRecord{}, fmt.Errorf("dump usage: %w", err))
				return
			}
			page = append(page, u)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			yield(mnemo.RegistryRecord{}, fmt.Errorf("dump usage: %w", err))
			return
		}
		for i := range page {
			after = page[i]
			if !known[usageKey{tenant: page[i].TenantID, incarnation: page[i].Incarnation}] {
				continue // of a tenant created after the consistent read
			}
			if !yield(mnemo.RegistryRecord{Usage: &page[i]}, nil) {
				return
			}
		}
		if len(page) < archivePage {
			return
		}
	}
}

// loadBatch is how many records one transaction of a load writes.
const loadBatch = 500

// LoadRegistry writes a dump into this registry, which must be empty; see
// mnemo.RegistryArchiver. Records are checked (mnemo.RegistryRecordCheck)
// as they come and written in transactions of loadBatch.
func (r *Registry) LoadRegistry(ctx context.Context, records iter.Seq2[mnemo.RegistryRecord, error]) error {
	if err := r.refuseNonEmpty(ctx, r.db.reader); err != nil {
		return err
	}
	next, stop := iter.Pull2(records)
	defer stop()
	var check mnemo.RegistryRecordCheck
	for first := true; ; first = false {
		batch := make([]mnemo.RegistryRecord, 0, loadBatch)
		end := false
		for len(batch) < loadBatch {
			rec, err, ok := next()
			if !ok {
				end = true
				break
			}
			if err != nil {
				return err
			}
			if err := check.Check(rec); err != nil {
				return err
			}
			batch = append(batch, rec)
		}
		err := r.db.write(ctx, func(tx *txn) error {
			if first {
				// Checked again where it counts: nothing else wrote since.
				if err := r.refuseNonEmpty(ctx, tx); err != nil {
					return err
				}
			}
			for _, rec := range batch {
				if err := loadRecord(ctx, tx, rec); err != nil {
					return fmt.Errorf("load registry %s record: %w", rec.Kind(), err)
				}
			}
			return nil
		})
		if err != nil || end {
			return err
		}
	}
}

// registryTables are the tables a registry keeps its records in.
var registryTables = []string{"tenants", "keys", "incarnations", "audit", "usage", "idempotency", "oauth_clients", "oauth_grants"}

// refuseNonEmpty is ECONFLICT when the registry holds any record, on disk
// or buffered.
func (r *Registry) refuseNonEmpty(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}) error {
	r.mu.Lock()
	buffered := len(r.usage) > 0
	r.mu.Unlock()
	for _, table := range registryTables {
		var n int
		if err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+`)`).Scan(&n); err != nil {
			return err
		}
		if n > 0 || (buffered && table == "usage") {
			return mnemo.Errorf(mnemo.ECONFLICT, "The registry is not empty (it holds %s); a dump loads only into an empty registry", table)
		}
	}
	return nil
}

func loadRecord(ctx context.Context, tx *txn, rec mnemo.RegistryRecord) error {
	var err error
	switch {
	case rec.Incarnation != nil:
		in := rec.Incarnation
		_, err = tx.ExecContext(ctx, `INSERT INTO incarnations (tenant_id, incarnation, created_at, deleted_at) VALUES (?, ?, ?, ?)`,
			in.TenantID, in.Incarnation, micros(in.CreatedAt), nullMicros(in.DeletedAt))
	case rec.Tenant != nil:
		t := rec.Tenant
		_, err = tx.ExecContext(ctx, `INSERT INTO tenants (id, name, status, status_reason, rate_rps, rate_burst, max_memories, max_storage_mb, created_at, updated_at, incarnation)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			append(append([]any{t.ID, t.Name, t.Status, t.StatusReason}, tenantLimitArgs(t)...), micros(t.CreatedAt), micros(t.UpdatedAt), t.Incarnation)...)
	case rec.Key != nil:
		k := rec.Key.Key
		scopes, _ := json.Marshal(k.Scopes)
		_, err = tx.ExecContext(ctx, `INSERT INTO keys (id, tenant_id, hash, prefix, label, scopes, created_at, expires_at, last_used_at, revoked_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.TenantID, rec.Key.Hash, k.Prefix, k.Label, string(scopes), micros(k.CreatedAt), nullMicros(k.ExpiresAt), nullMicros(k.LastUsedAt), nullMicros(k.RevokedAt))
	case rec.OAuthClient != nil:
		c := rec.OAuthClient.Client
		uris, _ := json.Marshal(c.RedirectURIs)
		_, err = tx.ExecContext(ctx, `INSERT INTO oauth_clients (id, name, redirect_uris, created_at, used_at, active_at) VALUES (?, ?, ?, ?, ?, ?)`,
			c.ID, c.Name, string(uris), micros(c.CreatedAt), nullMicros(c.UsedAt), nullMicros(rec.OAuthClient.ActiveAt))
	case rec.OAuthGrant != nil:
		g := rec.OAuthGrant.Grant
		scopes, _ := json.Marshal(g.Scopes)
		_, err = tx.ExecContext(ctx, `INSERT INTO oauth_grants (hash, kind, client_id, key_id, scopes, redirect_uri, code_challenge, expires_at, used, family)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			g.Hash, g.Kind, g.ClientID, g.KeyID, string(scopes), g.RedirectURI, g.CodeChallenge, micros(g.ExpiresAt), rec.OAuthGrant.Used, g.Family)
	case rec.Audit != nil:
		e := rec.Audit
		_, err = tx.ExecContext(ctx, `INSERT INTO audit (id, at, actor, tenant_id, action, target, request_id, outcome, incarnation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, micros(e.At), e.Actor, e.TenantID, e.Action, e.Target, e.RequestID, e.Outcome, e.Incarnation)
	case rec.Usage != nil:
		u := rec.Usage
		_, err = tx.ExecContext(ctx, `INSERT INTO usage (tenant_id, incarnation, day, kind, count) VALUES (?, ?, ?, ?, ?)`,
			u.TenantID, u.Incarnation, u.Day, u.Kind, u.Count)
	}
	if sqliteCode(err) == sqliteConstraint {
		// The check lets no such record through; a constraint says so anyway.
		return mnemo.Errorf(mnemo.EINVALID, "%v", err)
	}
	return err
}

// sqliteConstraint is SQLite's primary result code for a broken constraint.
const sqliteConstraint = 19
