package sqlite

import (
	"context"
	"time"

	"github.com/mnemohq/mnemo"
)

var _ mnemo.RecordPruner = (*Registry)(nil)

// pruneStep removes up to batch rows past a cutoff: a DELETE whose
// subquery picks the rows by an index.
type pruneStep struct {
	kind  string
	query string // DELETE ... LIMIT ?: the cutoff's arguments, then the batch
	args  func(c mnemo.PruneCutoffs) []any
	on    func(c mnemo.PruneCutoffs) bool
}

var pruneSteps = []pruneStep{
	{"audit", `DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < ? ORDER BY at LIMIT ?)`,
		func(c mnemo.PruneCutoffs) []any { return []any{micros(c.Audit)} },
		func(c mnemo.PruneCutoffs) bool { return !c.Audit.IsZero() }},
	{"usage", `DELETE FROM usage WHERE (tenant_id, incarnation, day, kind) IN
		(SELECT tenant_id, incarnation, day, kind FROM usage WHERE day < ? ORDER BY day LIMIT ?)`,
		func(c mnemo.PruneCutoffs) []any { return []any{c.UsageDay} },
		func(c mnemo.PruneCutoffs) bool { return c.UsageDay != "" }},
	// A reservation whose request has not answered is kept an hour more:
	// however short the retention, a request still running is never run
	// twice by a retry (its process died: the reservation is taken over).
	{"idempotency", `DELETE FROM idempotency WHERE (tenant_id, key) IN
		(SELECT tenant_id, key FROM idempotency WHERE created_at < ? AND (status != 0 OR created_at < ?) ORDER BY created_at LIMIT ?)`,
		func(c mnemo.PruneCutoffs) []any {
			return []any{micros(c.Idempotency), micros(c.Idempotency.Add(-time.Hour))}
		},
		func(c mnemo.PruneCutoffs) bool { return !c.Idempotency.IsZero() }},
	{"oauth_grants", `DELETE FROM oauth_grants WHERE hash IN (SELECT hash FROM oauth_grants WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`,
		func(c mnemo.PruneCutoffs) []any { return []any{micros(c.OAuthGrants)} },
		func(c mnemo.PruneCutoffs) bool { return !c.OAuthGrants.IsZero() }},
	// A client goes after its grants: one never used holds codes at most,
	// and an idle one has none left.
	{"oauth_grants", `DELETE FROM oauth_grants WHERE hash IN (SELECT g.hash FROM oauth_grants g JOIN oauth_clients c ON c.id = g.client_id
		WHERE c.used_at IS NULL AND c.created_at < ? LIMIT ?)`,
		func(c mnemo.PruneCutoffs) []any { return []any{micros(c.UnusedOAuthClients)} },
		func(c mnemo.PruneCutoffs) bool { return !c.UnusedOAuthClients.IsZero() }},
	{"oauth_clients", `DELETE FROM oauth_clients WHERE id IN (SELECT id FROM oauth_clients WHERE used_at IS NULL AND created_at < ?
		AND NOT EXISTS (SELECT 1 FROM oauth_grants g WHERE g.client_id = oauth_clients.id) LIMIT ?)`,
		func(c mnemo.PruneCutoffs) []any { return []any{micros(c.UnusedOAuthClients)} },
		func(c mnemo.PruneCutoffs) bool { return !c.UnusedOAuthClients.IsZero() }},
	{"oauth_clients", `DELETE FROM oauth_clients WHERE id IN (SELECT id FROM oauth_clients WHERE used_at IS NOT NULL
		AND coalesce(active_at, used_at) < ? AND NOT EXISTS (SELECT 1 FROM oauth_grants g WHERE g.client_id = oauth_clients.id) LIMIT ?)`,
		func(c mnemo.PruneCutoffs) []any { return []any{micros(c.IdleOAuthClients)} },
		func(c mnemo.PruneCutoffs) bool { return !c.IdleOAuthClients.IsZero() }},
	{"incarnations", `DELETE FROM incarnations WHERE (tenant_id, incarnation) IN (SELECT i.tenant_id, i.incarnation FROM incarnations i
		WHERE i.deleted_at IS NOT NULL AND i.deleted_at < ?
		AND NOT EXISTS (SELECT 1 FROM usage u WHERE u.tenant_id = i.tenant_id AND u.incarnation = i.incarnation)
		AND NOT EXISTS (SELECT 1 FROM audit a WHERE a.tenant_id = i.tenant_id AND a.incarnation = i.incarnation)
		LIMIT ?)`,
		func(c mnemo.PruneCutoffs) []any { return []any{micros(c.Incarnations)} },
		func(c mnemo.PruneCutoffs) bool { return !c.Incarnations.IsZero() }},
}

// Prune removes the records past their cutoffs, each kind in transactions
// of at most batch rows: between two, the registry's other writes go
// ahead, so pruning a year of audit never stalls a request for long.
func (r *Registry) Prune(ctx context.Context, c mnemo.PruneCutoffs, batch int) (map[string]int64, error) {
	batch = max(batch, 1)
	removed := map[string]int64{}
	// Usage still buffered is usage too: flushed first, it is pruned with
	// the rest, and it keeps its incarnation from being pruned under it
	// (a pruned incarnation's number would be given again). Best effort:
	// what a failed flush keeps is pruned by the next pass.
	_ = r.Flush(ctx)
	for _, st := range pruneSteps {
		if !st.on(c) {
			continue
		}
		for {
			n, err := r.execCount(ctx, st.query, append(st.args(c), batch)...)
			if err != nil {
				return removed, err
			}
			removed[st.kind] += n
			if n < int64(batch) {
				break
			}
		}
	}
	return removed, nil
}

// execCount runs one statement in a write of its own and returns the rows
// it changed.
func (r *Registry) execCount(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := r.db.write(ctx, func(tx *txn) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// orphanSteps remove what a crash, an older version or a change made
// outside the service left pointing at nothing. Each is bounded by what
// exists, and runs once at start. (Usage and audit of deleted tenants are
// not orphans: they stay for their retention, for the last bill.)
var orphanSteps = []struct {
	kind, query string
	now         bool // the query takes the time as its argument
}{
	{"keys", `DELETE FROM keys WHERE tenant_id NOT IN (SELECT id FROM tenants)`, false},
	{"oauth_grants", `DELETE FROM oauth_grants WHERE key_id NOT IN (SELECT id FROM keys) OR client_id NOT IN (SELECT id FROM oauth_clients)`, false},
	{"idempotency", `DELETE FROM idempotency WHERE tenant_id NOT IN (SELECT id FROM tenants)`, false},
	// An incarnation whose tenant is gone (deleted outside the service) is
	// closed now; a tenant without its incarnation's record gets one.
	{"incarnations", `UPDATE incarnations SET deleted_at = ? WHERE deleted_at IS NULL
		AND NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = incarnations.tenant_id AND t.incarnation = incarnations.incarnation)`, true},
	{"incarnations", `INSERT OR IGNORE INTO incarnations (tenant_id, incarnation, created_at) SELECT id, incarnation, created_at FROM tenants t
		WHERE NOT EXISTS (SELECT 1 FROM incarnations i WHERE i.tenant_id = t.id AND i.incarnation = t.incarnation)`, false},
}

// CleanOrphans removes (or, for incarnations, closes or adds) the records
// that refer to what no longer exists; see mnemo.RecordPruner.
func (r *Registry) CleanOrphans(ctx context.Context, now time.Time) (map[string]int64, error) {
	removed := map[string]int64{}
	for _, st := range orphanSteps {
		var args []any
		if st.now {
			args = []any{micros(now)}
		}
		n, err := r.execCount(ctx, st.query, args...)
		if err != nil {
			return removed, err
		}
		removed[st.kind] += n
	}
	return removed, nil
}
