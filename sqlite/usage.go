package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"

	"github.com/mnemohq/mnemo"
)

// AddUsage adds counts. They are buffered and flushed with the other
// frequent writes (see Registry); Usage shows them at once. A row without
// an incarnation counts for the id's latest.
func (r *Registry) AddUsage(ctx context.Context, rows []mnemo.Usage) error {
	for i, u := range rows {
		if u.Incarnation == 0 {
			inc, err := r.latestIncarnation(ctx, u.TenantID)
			if err != nil {
				return err
			}
			rows[i].Incarnation = inc
		}
	}
	r.mu.Lock()
	for _, u := range rows {
		r.usage[usageKey{u.TenantID, u.Incarnation, u.Day, u.Kind}] += u.Count
	}
	r.mu.Unlock()
	return nil
}

// latestIncarnation is the id's current incarnation, or its last one when
// it is deleted; 0 when no tenant ever had the id.
func (r *Registry) latestIncarnation(ctx context.Context, tenantID string) (int64, error) {
	var inc sql.NullInt64
	err := r.db.reader.QueryRowContext(ctx, `SELECT max(incarnation) FROM incarnations WHERE tenant_id = ?`, tenantID).Scan(&inc)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	return inc.Int64, nil
}

// Usage returns the counters from day from to day to (inclusive), of one
// incarnation of a tenant id (0: its latest) or, with an empty tenantID, of
// all, ordered by tenant, incarnation, day, kind: what is on disk plus what
// is buffered. A row of an incarnation that a later one replaced says so.
func (r *Registry) Usage(ctx context.Context, tenantID string, incarnation int64, from, to string) ([]mnemo.Usage, error) {
	if tenantID != "" && incarnation == 0 {
		var err error
		if incarnation, err = r.latestIncarnation(ctx, tenantID); err != nil {
			return nil, err
		}
	}
	r.flushMu.RLock()
	defer r.flushMu.RUnlock()
	q := `SELECT tenant_id, incarnation, day, kind, count FROM usage WHERE day >= ? AND day <= ?`
	args := []any{from, to}
	if tenantID != "" {
		q += ` AND tenant_id = ? AND incarnation = ?`
		args = append(args, tenantID, incarnation)
	}
	rows, err := r.db.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counts := map[usageKey]int64{}
	for rows.Next() {
		var k usageKey
		var n int64
		if err := rows.Scan(&k.tenant, &k.incarnation, &k.day, &k.kind, &n); err != nil {
			return nil, err
		}
		counts[k] += n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	for k, n := range r.usage {
		if k.day >= from && k.day <= to && (tenantID == "" || (k.tenant == tenantID && k.incarnation == incarnation)) {
			counts[k] += n
		}
	}
	r.mu.Unlock()
	latest := map[string]int64{}
	for k := range counts {
		latest[k.tenant] = max(latest[k.tenant], k.incarnation)
	}
	if tenantID == "" && len(latest) > 0 {
		// Usage can end before its incarnation does: ask which are latest.
		if err := r.latestIncarnations(ctx, latest); err != nil {
			return nil, err
		}
	}
	out := make([]mnemo.Usage, 0, len(counts))
	for k, n := range counts {
		out = append(out, mnemo.Usage{TenantID: k.tenant, Incarnation: k.incarnation, Day: k.day, Kind: k.kind, Count: n,
			Superseded: k.incarnation < latest[k.tenant]})
	}
	slices.SortFunc(out, mnemo.CompareUsage)
	return out, nil
}

// latestIncarnations raises each id's entry in latest to its latest
// incarnation in the registry.
func (r *Registry) latestIncarnations(ctx context.Context, latest map[string]int64) error {
	rows, err := r.db.reader.QueryContext(ctx, `SELECT tenant_id, max(incarnation) FROM incarnations GROUP BY tenant_id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var inc int64
		if err := rows.Scan(&id, &inc); err != nil {
			return err
		}
		if cur, ok := latest[id]; ok && inc > cur {
			latest[id] = inc
		}
	}
	return rows.Err()
}
