package sqlite

import (
	"context"
	"sort"

	"github.com/mnemohq/mnemo"
)

// AddUsage adds counts. They are buffered and flushed with the other
// frequent writes (see Registry); Usage shows them at once.
func (r *Registry) AddUsage(ctx context.Context, rows []mnemo.Usage) error {
	r.mu.Lock()
	for _, u := range rows {
		r.usage[usageKey{u.TenantID, u.Day, u.Kind}] += u.Count
	}
	r.mu.Unlock()
	return nil
}

// Usage returns the counters from day from to day to (inclusive), for one
// tenant or, with an empty tenantID, for all, ordered by tenant, day, kind:
// what is on disk plus what is buffered.
func (r *Registry) Usage(ctx context.Context, tenantID, from, to string) ([]mnemo.Usage, error) {
	r.flushMu.RLock()
	defer r.flushMu.RUnlock()
	q := `SELECT tenant_id, day, kind, count FROM usage WHERE day >= ? AND day <= ?`
	args := []any{from, to}
	if tenantID != "" {
		q += ` AND tenant_id = ?`
		args = append(args, tenantID)
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
		if err := rows.Scan(&k.tenant, &k.day, &k.kind, &n); err != nil {
			return nil, err
		}
		counts[k] += n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	for k, n := range r.usage {
		if k.day >= from && k.day <= to && (tenantID == "" || k.tenant == tenantID) {
			counts[k] += n
		}
	}
	r.mu.Unlock()
	out := make([]mnemo.Usage, 0, len(counts))
	for k, n := range counts {
		out = append(out, mnemo.Usage{TenantID: k.tenant, Day: k.day, Kind: k.kind, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.TenantID != b.TenantID {
			return a.TenantID < b.TenantID
		}
		if a.Day != b.Day {
			return a.Day < b.Day
		}
		return a.Kind < b.Kind
	})
	return out, nil
}
